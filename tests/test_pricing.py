"""Prices and context windows from genai-prices (core/pricing.py): the same numbers genai-prices
gives, its context windows, and no import of it where no budget needs a price."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest
from genai_prices import Usage, calc_price
from genai_prices.data import providers

from conftest import CARD, write_prompt
from promptlane.store.pricecache import data_identity
from promptlane.core.pricing import WINDOW_FLOORS, CallTokens, Price, Unpriced, context_window, genai_price

DAY = date(2026, 12, 1)
NOON = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize("provider,model,tokens", [
    ("openai", "gpt-4o-mini", CallTokens(1_000, 400)),
    ("openai", "gpt-4o-mini-2024-07-18", CallTokens(5_000, 0, cached=2_000)),
    ("azure", "gpt-4o", CallTokens(3_000, 1_000, cached=1_024)),
    ("anthropic", "claude-3-5-sonnet-20241022", CallTokens(12_000, 800, cached=10_000)),
    ("google", "gemini-2.5-pro", CallTokens(250_000, 2_000)),  # over its 200k tier: the dearer rates
    ("gemini", "gemini-2.5-flash", CallTokens(1_500, 300)),
    ("mistral", "mistral-large-latest", CallTokens(700, 700)),
])
def test_a_call_costs_what_genai_prices_calc_price_says(provider, model, tokens):
    price = genai_price(provider, model, DAY)
    assert isinstance(price, Price), price
    usage = Usage(input_tokens=tokens.input, output_tokens=tokens.output, cache_read_tokens=tokens.cached)
    judge = calc_price(usage, model, provider_id=provider, genai_request_timestamp=NOON)
    assert price.cost(tokens, DAY) == judge.total_price > 0
    assert price.source == f"genai-prices {genai_prices.__version__}"


def test_the_flat_rate_arithmetic_is_calc_price_for_every_model_it_prices():
    tokens = CallTokens(12_345, 678, cached=2_345)
    usage = Usage(input_tokens=tokens.input, output_tokens=tokens.output, cache_read_tokens=tokens.cached)
    flat = 0
    for provider in providers:
        for model in provider.models:
            price = genai_price(provider.id, model.id, DAY)
            if isinstance(price, Price) and price.flat:
                flat += 1
                judge = calc_price(usage, model.id, provider_id=provider.id, genai_request_timestamp=NOON)
                assert price.cost(tokens, DAY) == judge.total_price, (provider.id, model.id)
    assert flat > 1500  # most models: the arithmetic is what check runs


def test_an_embedding_model_is_priced_by_its_input_alone():
    price = genai_price("openai", "text-embedding-3-small", DAY)
    assert isinstance(price, Price) and price.output_per_1m == 0
    judge = calc_price(Usage(input_tokens=5_000), "text-embedding-3-small", provider_id="openai", genai_request_timestamp=NOON)
    assert price.cost(CallTokens(5_000), DAY) == judge.total_price > 0


def test_the_rates_shown_are_genai_prices_own():
    price = genai_price("OpenAI", "gpt-4o-mini-2024-07-18", DAY)
    assert price == Price("openai gpt-4o-mini", f"genai-prices {genai_prices.__version__}", Decimal("0.15"),
                          Decimal("0.6"), Decimal("0.075"), ref=("openai", "gpt-4o-mini"), flat=True)
    tiered = genai_price("google", "gemini-2.5-pro", DAY)
    assert isinstance(tiered, Price) and tiered.tiered and tiered.input_per_1m == Decimal("1.25")


def test_a_declared_price_counts_cached_tokens_at_its_cached_rate():
    price = Price("ollama llama3", "the card's budget.price", Decimal(2), Decimal(8), Decimal("0.5"))
    assert price.cost(CallTokens(1_000_000, 500_000, cached=400_000), DAY) == Decimal("1.2") + Decimal("0.2") + 4
    no_cache = Price("ollama llama3", "the card's budget.price", Decimal(2), Decimal(8), None)
    assert no_cache.cost(CallTokens(1_000_000, 0, cached=400_000), DAY) == 2


@pytest.mark.parametrize("provider,model,code,key,phrase", [
    ("openai", "gpt-4o-mnii", "PL172", "name", "does not know openai model 'gpt-4o-mnii' (did you mean 'gpt-4o-mini'?)"),
    ("openai", "my-fine-tune", "PL172", "name", "does not know openai model 'my-fine-tune'; declare"),
    ("ollama", "llama3.1:8b", "PL173", "provider", "has no prices for provider 'ollama'; declare"),
    ("opneai", "gpt-4o", "PL173", "provider", "provider 'opneai' (did you mean 'openai'?)"),
    ("openai", "whisper-1", "PL175", "name", "has no per-token input price for openai whisper-1; declare"),
])
def test_no_price_says_why_and_how_to_declare_one(provider, model, code, key, phrase):
    found = genai_price(provider, model, DAY)
    assert isinstance(found, Unpriced) and (found.code, found.key) == (code, key)
    assert phrase in found.message
    assert found.message.endswith("declare the price on the card: budget: {price: {input_per_1m_usd: 0.5, "
                                  "output_per_1m_usd: 1.5}} (USD per 1M tokens; 0 for a free local model)")


def test_context_windows_are_genai_prices_own():
    assert context_window("openai", "gpt-4o-mini", 128_001) == (128_000, "openai gpt-4o-mini")
    assert context_window("openai", "gpt-4o-mini", 128_000) is None
    assert context_window("anthropic", "claude-3-5-sonnet-20241022", 300_000) == (200_000, "anthropic claude-3-5-sonnet")
    assert context_window("google", "gemini-2.5-pro", 10_000_000) is None  # genai-prices knows no window for it
    assert context_window("ollama", "llama3.1:8b", 10_000_000) is None


def test_window_floors_are_the_smallest_windows_genai_prices_knows():
    by_id = {p.id: p for p in providers}

    def floor(provider_id: str) -> int:
        provider = by_id[provider_id]
        served = [provider, *(by_id[f] for f in provider.fallback_model_providers or ())]
        return min(m.context_window for p in served for m in p.models if m.context_window)

    assert WINDOW_FLOORS == {provider_id: floor(provider_id) for provider_id in WINDOW_FLOORS}


CHECK_AND_REPORT_IMPORT = """
import json, sys
from promptlane.cli import main
code = main(["-C", sys.argv[1], "check", "--all"])
print(json.dumps({"code": code, "imported": "genai_prices" in sys.modules}))
"""


@pytest.mark.parametrize("budget,imported", [
    ("", False),
    ("budget: {max_input_tokens: 1200}", False),  # within every openai model's window: nothing to look up
    ("budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.01, price: {input_per_1m_usd: 1, output_per_1m_usd: 2}}", False),
    ("budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.002}", True),  # the control: a price is needed
])
def test_check_imports_genai_prices_only_when_a_budget_needs_it(tmp_path, budget, imported):
    (tmp_path / "prompts").mkdir()
    write_prompt(tmp_path, card=CARD.replace("budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.002}", budget))
    run = subprocess.run([sys.executable, "-c", CHECK_AND_REPORT_IMPORT, str(tmp_path)],
                         capture_output=True, text=True, check=True)
    result = json.loads(run.stdout.splitlines()[-1])
    assert result == {"code": 1, "imported": imported}  # 1: the card is not synced yet (PL153), budgets checked


@pytest.mark.parametrize("pinned,day", [("2027-03-04T05:06:07Z", date(2027, 3, 4)), ("not a time", None)])
def test_prices_are_of_the_day_promptlane_now_pins(monkeypatch, pinned, day):
    from promptlane.commands.check import price_day

    monkeypatch.setenv("PROMPTLANE_NOW", pinned)
    assert price_day() == (day or datetime.now(timezone.utc).date())


CHECK_OUTPUT_AND_IMPORT = """
import contextlib, io, json, sys
from promptlane.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(["-C", sys.argv[1], "check", "--all"])
print(json.dumps({"code": code, "imported": "genai_prices" in sys.modules, "out": out.getvalue()}))
"""


def _check_in_own_process(root) -> dict:
    run = subprocess.run([sys.executable, "-c", CHECK_OUTPUT_AND_IMPORT, str(root)], capture_output=True, text=True, check=True)
    return json.loads(run.stdout.splitlines()[-1])


def _over_budget_card(root):
    (root / "prompts").mkdir()
    card = CARD.replace("budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.002}",
                        "budget: {max_input_tokens: 200000, max_cost_per_call_usd: 0.0001}")
    write_prompt(root, card=card)


def test_the_next_check_prices_from_the_cache_without_importing_genai_prices(tmp_path):
    _over_budget_card(tmp_path)
    first = _check_in_own_process(tmp_path)
    assert first["imported"] and "PL302" in first["out"] and "PL174" in first["out"]
    cache = json.loads((tmp_path / ".promptlane/cache/prices.json").read_text())
    data = Path(genai_prices.__file__).with_name("data.py")
    assert cache["format"] == "promptlane-prices-cache/1"
    assert cache["data"] == f"{data}:{data.stat().st_size}:{data.stat().st_mtime_ns}" == data_identity()
    second = _check_in_own_process(tmp_path)
    assert second == {**first, "imported": False}  # the same problems, word for word


@pytest.mark.parametrize("damage", [
    lambda cache: {**cache, "data": "/elsewhere/genai_prices/data.py:1:2"},  # another genai-prices install
    lambda cache: {**cache, "entries": {key: {"model": 3} for key in cache["entries"]}},  # entries it cannot read
    lambda cache: "not a cache",
])
def test_a_cache_of_other_data_or_damaged_is_not_used(tmp_path, damage):
    _over_budget_card(tmp_path)
    first = _check_in_own_process(tmp_path)
    path = tmp_path / ".promptlane/cache/prices.json"
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    assert _check_in_own_process(tmp_path) == first  # looked up again: imported, the same problems
    assert json.loads(path.read_text())["format"] == "promptlane-prices-cache/1"  # and cached again
