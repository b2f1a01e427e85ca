"""Budgets of a chain (issue 19 item 5): tokens and cost summed over its calls, each call
priced by its own model and bounded by its own max_tokens, judged as genai-prices prices the
same usage. Real cards in tmp dirs, real tokenizer, genai-prices' bundled data."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price
from test_chains import CHAIN_CARD, CHAIN_FILE, write_chain

from promptlane.core.budget import budget_problems, count_tokens
from promptlane.core.calls import calls_of
from promptlane.store.cards import read_card
from promptlane.store.repo import Repo

DAY = date(2026, 6, 1)
NOON = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


def _chain(root, budget: str, card: str = CHAIN_CARD, files: dict | None = None):
    write_chain(root, card + budget + "\n", files)
    loaded = read_card(Repo(root), "support-chain")
    assert loaded.ok, loaded.problems
    return loaded


def _counts(card) -> list[int]:
    """Each call's own texts, counted with its own model's tokenizer."""
    return [sum(count_tokens(text, call.model["name"]) for text in call.texts) for call in calls_of(card.payload)]


def _judge(model: str, input_tokens: int, output_tokens: int) -> Decimal:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    return calc_price(usage, model, provider_id="openai", genai_request_timestamp=NOON).total_price


def test_a_chain_within_its_budget_reports_nothing(tmp_path):
    card = _chain(tmp_path, "budget: {max_input_tokens: 5000, max_cost_per_call_usd: 1}")
    assert budget_problems(card, DAY) == []


def test_pl301_sums_every_call_and_the_earlier_output_each_one_reads(tmp_path):
    card = _chain(tmp_path, "budget: {max_input_tokens: 100}")
    extract, draft = _counts(card)
    fed = 300  # draft inserts {{ extract.output }} once: up to extract's max_tokens (the card's 300)
    (problem,) = budget_problems(card, DAY)
    assert (problem.path, problem.code) == (CHAIN_FILE, "PL301")
    assert problem.message == (f"budget.max_input_tokens: the chain's calls take up to {extract + draft + fed} input "
                               f"tokens (extract {extract} + draft {draft + fed}, {fed} of them earlier outputs), over 100")


def test_pl302_prices_a_run_of_the_chain_call_by_call_with_each_calls_model(tmp_path):
    card = _chain(tmp_path, "budget: {max_cost_per_call_usd: 0.0001}")
    extract, draft = _counts(card)
    first = _judge("gpt-4o-mini", extract, 300)          # the card's model, its max_tokens
    second = _judge("gpt-4o", draft + 300, 500)           # the call's own model and max_tokens
    (problem,) = budget_problems(card, DAY)
    assert problem.code == "PL302"
    assert problem.message.startswith(f"budget.max_cost_per_call_usd: a run of the chain costs up to "
                                      f"${first + second:.6g}, over $0.0001: extract ${first:.6g} "
                                      f"({extract} in, up to 300 out, openai gpt-4o-mini"), problem.message
    assert f"draft ${second:.6g} ({draft + 300} in, up to 500 out, openai gpt-4o" in problem.message


def test_a_declared_price_is_the_card_models_and_other_calls_keep_genai_prices(tmp_path):
    free = "budget: {max_cost_per_call_usd: 0.0001, price: {input_per_1m_usd: 0, output_per_1m_usd: 0}}"
    (problem,) = budget_problems(_chain(tmp_path, free), DAY)
    assert "extract $0 (" in problem.message and "the card's budget.price" in problem.message
    assert "draft $0 (" not in problem.message  # gpt-4o is not the card's model: genai-prices prices it
    same_model = CHAIN_CARD.replace("    model: {name: gpt-4o}\n", "")
    assert budget_problems(_chain(tmp_path, free, same_model), DAY) == []


def test_an_output_fed_forward_without_max_tokens_cannot_be_budgeted(tmp_path):
    unbounded = CHAIN_CARD.replace("params: {temperature: 0.2, max_tokens: 300}", "params: {temperature: 0.2}")
    (problem,) = budget_problems(_chain(tmp_path, "budget: {max_input_tokens: 5000}", unbounded), DAY)
    assert (problem.code, problem.line) == ("PL304", 12)  # at calls[0], extract
    assert "calls[0] (extract): its output feeds a later call ({{ extract.output }})" in problem.message
    assert "set params: {max_tokens: N} on this call" in problem.message


def test_a_call_on_a_model_genai_prices_does_not_know_points_at_that_calls_model(tmp_path):
    card = CHAIN_CARD.replace("model: {name: gpt-4o}", "model: {name: gpt-4o-mnii}")
    (problem,) = budget_problems(_chain(tmp_path, "budget: {max_cost_per_call_usd: 1}", card), DAY)
    assert (problem.code, problem.line) == ("PL172", 17)
    assert problem.message.startswith("calls[1] (draft): ") and "did you mean 'gpt-4o-mini'?" in problem.message


def test_a_call_whose_input_is_over_its_models_window_is_pl174_at_that_call(tmp_path):
    card = CHAIN_CARD.replace("max_tokens: 300}", "max_tokens: 9000}").replace(
        "model: {name: gpt-4o}", "model: {name: gpt-4}").replace("params: {max_tokens: 500}", "params: {max_tokens: 10}")
    problems = [p for p in budget_problems(_chain(tmp_path, "budget: {max_cost_per_call_usd: 100}", card), DAY)
                if p.code == "PL174"]
    assert [p.line for p in problems] == [16], problems  # draft: gpt-4 (8,192 tokens) reads 9,000 of extract's
    assert problems[0].message.startswith("calls[1] (draft): takes up to ")
    assert "9,000 of them earlier outputs, more than openai gpt-4 takes: its context window is 8,192" in problems[0].message


def test_check_judges_a_chains_budget(tmp_path, capsys):
    from conftest import run_cli

    write_chain(tmp_path, CHAIN_CARD + "budget: {max_input_tokens: 100}\n")
    code, out = run_cli(tmp_path, "check", capsys=capsys)
    assert code == 1
    assert f"{CHAIN_FILE}:22:" in out and "PL301 budget.max_input_tokens: the chain's calls take up to" in out, out
    write_chain(tmp_path, CHAIN_CARD + "budget: {max_input_tokens: 5000, max_cost_per_call_usd: 1}\n")
    code, out = run_cli(tmp_path, "check", capsys=capsys)
    assert "PL30" not in out, out


@pytest.mark.parametrize("budget", ["budget: {max_input_tokens: 100000}", "budget: {max_cost_per_call_usd: 10}"])
def test_texts_whose_bytes_fit_never_load_the_tokenizer(tmp_path, monkeypatch, budget):
    import promptlane.core.budget as module

    card = _chain(tmp_path, budget)
    monkeypatch.setattr(module, "count_tokens", lambda *args: pytest.fail("the byte bound was enough"))
    assert budget_problems(card, DAY) == []
