"""Offline budgets: tokenizer choice, PL301/PL302 messages and locations (prices: test_pricing.py)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import genai_prices
import pytest
from genai_prices import Usage, calc_price

from conftest import CARD, run_cli, write_prompt
from promptlane.core.budget import budget_problems, count_tokens, encoding_name
from promptlane.store.cards import read_card
from promptlane.store.repo import Repo

DAY = date(2026, 12, 1)
NOON = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize("model,encoding", [
    ("gpt-4o", "o200k_base"), ("gpt-4o-mini", "o200k_base"), ("gpt-4o-2024-08-06", "o200k_base"),
    ("gpt-4.1-nano", "o200k_base"), ("o1", "o200k_base"), ("o3-mini", "o200k_base"), ("GPT-4o", "o200k_base"),
    ("gpt-4", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"), ("claude-3-5-sonnet", "cl100k_base"),
    ("o100-custom", "cl100k_base"), ("llama3", "cl100k_base"),
])
def test_encoding_by_model(model, encoding):
    assert encoding_name(model) == encoding


def test_token_counts_match_tiktoken_reference_values():
    # tiktoken: cl100k "hello world" -> [15339, 1917]; o200k "hello world" -> 2 tokens.
    assert count_tokens("hello world", "gpt-4") == 2
    assert count_tokens("hello world", "gpt-4o") == 2
    assert count_tokens("", "gpt-4o") == 0
    # Special-token text is counted as ordinary text, never rejected.
    assert count_tokens("<|endoftext|>", "gpt-4o") > 1


def _card(root, budget: str, model: str = "gpt-4o-mini", provider: str = "openai", system: str | None = None,
          params: str = "{temperature: 0.2, max_tokens: 400}"):
    card = CARD.replace("budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.002}", budget)
    card = card.replace("params: {temperature: 0.2, max_tokens: 400}", f"params: {params}")
    card = card.replace("name: gpt-4o-mini", f"name: {model}").replace("provider: openai", f"provider: {provider}")
    texts = {"system.md": system or "You are a polite support agent. Cite the help centre.\n",
             "user.md": "Customer {{ customer_name }} asks: {{ question }}\n"}
    write_prompt(root, card=card, texts=texts)
    loaded = read_card(Repo(root), "support-reply")
    assert loaded.ok, loaded.problems
    return loaded


def test_within_budget_reports_nothing(tmp_path):
    (tmp_path / "prompts").mkdir()
    assert budget_problems(_card(tmp_path, "budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.002}"), DAY) == []


def test_no_budget_reports_nothing(tmp_path):
    (tmp_path / "prompts").mkdir()
    assert budget_problems(_card(tmp_path, ""), DAY) == []


def test_pl301_names_each_step_and_points_at_the_limit(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_input_tokens: 20}", system="word " * 40)
    system = count_tokens(card.payload["steps"][0]["text"], "gpt-4o-mini")
    user = count_tokens(card.payload["steps"][1]["text"], "gpt-4o-mini")
    (problem,) = budget_problems(card, DAY)
    assert (problem.path, problem.line, problem.code) == ("prompts/support-reply/card.yml", 16, "PL301")
    assert problem.message == (f"budget.max_input_tokens: steps use {system + user} tokens "
                               f"(system {system} + user {user}), over 20")


def test_pl301_formats_thousands(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_input_tokens: 1000}", system="alpha beta " * 700)
    (problem,) = budget_problems(card, DAY)
    assert "steps use 1,4" in problem.message and "over 1,000" in problem.message


def test_placeholders_count_as_their_literal_text(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_input_tokens: 1200}")
    user = card.payload["steps"][1]["text"]
    assert "{{ question }}" in user
    assert count_tokens(user, "gpt-4o-mini") == count_tokens("Customer {{ customer_name }} asks: {{ question }}", "gpt-4o-mini")


def _judge(model: str, provider: str, input_tokens: int, output_tokens: int, cached: int = 0) -> Decimal:
    """genai-prices' own price of the same usage, on the same day at noon UTC."""
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached)
    return calc_price(usage, model, provider_id=provider, genai_request_timestamp=NOON).total_price


def _tokens(card) -> list[int]:
    return [count_tokens(step["text"], card.payload["model"]["name"]) for step in card.payload["steps"]]


def test_pl302_prices_input_and_max_tokens_output_as_genai_prices_does(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_cost_per_call_usd: 0.0001}", model="gpt-4", system="word " * 400)
    total = sum(_tokens(card))
    (problem,) = budget_problems(card, DAY)
    assert (problem.code, problem.line) == ("PL302", 16)
    cost = _judge("gpt-4", "openai", total, 400)  # max_tokens: 400 in the card's model.params
    assert problem.message == (
        f"budget.max_cost_per_call_usd: a call costs up to ${cost:.6g}, over $0.0001: {total} input tokens at $30 "
        f"and up to 400 output tokens (model.params.max_tokens) at $60 per 1M, prices of openai gpt-4 in "
        f"genai-prices {genai_prices.__version__}")


def test_pl302_without_max_tokens_prices_the_input_alone(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_cost_per_call_usd: 0.0001}", model="gpt-4", system="word " * 400,
                 params="{temperature: 0.2}")
    total = sum(_tokens(card))
    (problem,) = budget_problems(card, DAY)
    assert problem.message.startswith(
        f"budget.max_cost_per_call_usd: the input alone costs ${_judge('gpt-4', 'openai', total, 0):.6g} per call")
    assert problem.message.endswith("(set model.params.max_tokens to price the output too)")


def test_pl302_reports_the_cost_with_the_system_prompt_cached(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_cost_per_call_usd: 0.001}", model="claude-3-5-sonnet-20241022",
                 provider="anthropic", system="word " * 2000)
    system, user = _tokens(card)
    (problem,) = budget_problems(card, DAY)
    full = _judge("claude-3-5-sonnet-20241022", "anthropic", system + user, 400)
    cached = _judge("claude-3-5-sonnet-20241022", "anthropic", system + user, 400, cached=system)
    assert cached < full
    assert f"a call costs up to ${full:.6g}, over $0.001" in problem.message
    assert problem.message.endswith(f"; with the system prompt's {system:,} tokens read from cache ($0.3 per 1M) "
                                    f"${cached:.6g}")


def test_a_declared_price_is_used_instead_of_genai_prices(tmp_path):
    (tmp_path / "prompts").mkdir()
    budget = "budget: {max_cost_per_call_usd: 0.0001, price: {input_per_1m_usd: 100, output_per_1m_usd: 200}}"
    card = _card(tmp_path, budget, model="llama3.1:8b", provider="ollama", system="word " * 400)
    total = sum(_tokens(card))
    (problem,) = budget_problems(card, DAY)
    cost = (Decimal(total) * 100 + 400 * 200) / 1_000_000
    assert problem.message == (
        f"budget.max_cost_per_call_usd: a call costs up to ${cost:.6g}, over $0.0001: {total} input tokens at $100 "
        "and up to 400 output tokens (model.params.max_tokens) at $200 per 1M, prices of the card's budget.price")


def test_a_free_local_model_passes_its_cost_budget(tmp_path):
    (tmp_path / "prompts").mkdir()
    budget = "budget: {max_cost_per_call_usd: 0.0001, price: {input_per_1m_usd: 0, output_per_1m_usd: 0}}"
    assert budget_problems(_card(tmp_path, budget, model="llama3.1:8b", provider="ollama"), DAY) == []


def test_unknown_model_with_a_cost_budget_says_how_to_declare_its_price(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_cost_per_call_usd: 0.002}", model="gpt-4o-mnii")
    (problem,) = budget_problems(card, DAY)
    assert (problem.code, problem.line, problem.col) == ("PL172", 10, 9)
    assert problem.message.startswith(f"genai-prices {genai_prices.__version__} does not know openai model "
                                      "'gpt-4o-mnii' (did you mean 'gpt-4o-mini'?); declare the price on the card: "
                                      "budget: {price: {input_per_1m_usd: ")


def test_unknown_provider_with_a_cost_budget_points_at_the_provider(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_cost_per_call_usd: 0.002}", model="claude-3-5-haiku", provider="antropic")
    (problem,) = budget_problems(card, DAY)
    assert (problem.code, problem.line) == ("PL173", 9)
    assert "has no prices for provider 'antropic' (did you mean 'anthropic'?); declare the price" in problem.message


def test_unknown_model_with_a_token_budget_only_needs_no_price(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_input_tokens: 5}", model="house-model-7b", provider="acme")
    assert [p.code for p in budget_problems(card, DAY)] == ["PL301"]


@pytest.mark.parametrize("model,window", [("gpt-4", 8192), ("gpt-4o-mini", 128_000)])
def test_pl174_max_input_tokens_over_the_context_window(tmp_path, model, window):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_input_tokens: 200000}", model=model)
    (problem,) = budget_problems(card, DAY)
    assert (problem.code, problem.line) == ("PL174", 16)
    assert problem.message == (f"budget.max_input_tokens: 200,000 is more than openai {model} takes: its context "
                               f"window is {window:,} tokens (genai-prices {genai_prices.__version__}); "
                               f"lower it to {window:,} or less")


def test_max_input_tokens_within_the_context_window_passes(tmp_path):
    (tmp_path / "prompts").mkdir()
    assert budget_problems(_card(tmp_path, "budget: {max_input_tokens: 128000}"), DAY) == []


def test_check_runs_budgets(repo, capsys):
    card = (repo / "prompts/support-reply/card.yml").read_text(encoding="utf-8")
    (repo / "prompts/support-reply/card.yml").write_text(card.replace("max_input_tokens: 1200", "max_input_tokens: 3"), encoding="utf-8")
    code, out = run_cli(repo, "check", capsys=capsys)
    assert code == 1
    assert "prompts/support-reply/card.yml:16:28: PL301 budget.max_input_tokens: steps use" in out


def test_texts_whose_bytes_fit_the_budget_never_load_the_tokenizer(tmp_path, monkeypatch):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.002}")

    def refuse(*args):
        raise AssertionError("the tokenizer was loaded")

    monkeypatch.setattr("promptlane.core.budget.count_tokens", refuse)
    assert budget_problems(card, DAY) == []


def test_texts_over_the_byte_bound_but_within_the_token_budget_pass(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_input_tokens: 60}", system="word " * 40)  # 200 bytes, ~52 tokens
    assert budget_problems(card, DAY) == []


def test_a_declared_price_is_not_part_of_the_hash(tmp_path):
    (tmp_path / "prompts").mkdir()
    plain = _card(tmp_path, "budget: {max_cost_per_call_usd: 0.002}").hash
    priced = _card(tmp_path, "budget: {max_cost_per_call_usd: 0.002, price: {input_per_1m_usd: 1, output_per_1m_usd: 2}}")
    assert priced.hash == plain and priced.data["budget"]["price"] == {"input_per_1m_usd": 1, "output_per_1m_usd": 2}


@pytest.mark.parametrize("price,phrase", [
    ("{inptu_per_1m_usd: 1, output_per_1m_usd: 2}", "budget.price: unknown key 'inptu_per_1m_usd'"),
    ("{input_per_1m_usd: -1, output_per_1m_usd: 2}", "budget.price.input_per_1m_usd: -1 is less than the minimum of 0"),
    ("{input_per_1m_usd: 1}", "budget.price: missing required key 'output_per_1m_usd'"),
])
def test_a_malformed_declared_price_is_a_card_problem(tmp_path, price, phrase):
    (tmp_path / "prompts").mkdir()
    card = CARD.replace("budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.002}",
                        f"budget: {{max_cost_per_call_usd: 0.002, price: {price}}}")
    write_prompt(tmp_path, card=card)
    loaded = read_card(Repo(tmp_path), "support-reply")
    assert not loaded.ok
    assert any(p.line == 16 and phrase in p.message for p in loaded.problems), loaded.problems
