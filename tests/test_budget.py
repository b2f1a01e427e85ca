"""Offline budgets: tokenizer choice, price lookup, PL301/PL302 messages and locations."""
from __future__ import annotations

import pytest

from conftest import CARD, run_cli, write_prompt
from promptlane.core.budget import budget_problems, count_tokens, encoding_name, input_price, price_table
from promptlane.store.cards import read_card
from promptlane.store.repo import Repo


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


@pytest.mark.parametrize("provider,model,expected", [
    ("openai", "gpt-4o-mini", (0.15, "gpt-4o-mini")),
    ("openai", "gpt-4o-mini-2024-07-18", (0.15, "gpt-4o-mini")),  # the longest entry wins over gpt-4o
    ("openai", "gpt-4o-2024-08-06", (2.5, "gpt-4o")),
    ("azure", "gpt-4o", (2.5, "gpt-4o")),
    ("anthropic", "claude-3-5-sonnet-20241022", (3.0, "claude-3-5-sonnet")),
    ("OpenAI", "GPT-4o", (2.5, "gpt-4o")),
    ("openai", "gpt-4omni", None),  # a prefix only counts up to a "-"
    ("openai", "my-fine-tune", None),
    ("acme", "gpt-4o", None),
])
def test_input_price(provider, model, expected):
    assert input_price(provider, model) == expected


def test_price_table_is_documented_and_positive():
    table = price_table()
    assert table["unit"] == "USD per 1M input tokens" and table["as_of"]
    for provider, models in table["models"].items():
        assert models and all(isinstance(p, (int, float)) and p > 0 for p in models.values()), provider


def _card(root, budget: str, model: str = "gpt-4o-mini", provider: str = "openai", system: str | None = None):
    card = CARD.replace("budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.002}", budget)
    card = card.replace("name: gpt-4o-mini", f"name: {model}").replace("provider: openai", f"provider: {provider}")
    texts = {"system.md": system or "You are a polite support agent. Cite the help centre.\n",
             "user.md": "Customer {{ customer_name }} asks: {{ question }}\n"}
    write_prompt(root, card=card, texts=texts)
    loaded = read_card(Repo(root), "support-reply")
    assert loaded.ok, loaded.problems
    return loaded


def test_within_budget_reports_nothing(tmp_path):
    (tmp_path / "prompts").mkdir()
    assert budget_problems(_card(tmp_path, "budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.002}")) == []


def test_no_budget_reports_nothing(tmp_path):
    (tmp_path / "prompts").mkdir()
    assert budget_problems(_card(tmp_path, "")) == []


def test_pl301_names_each_step_and_points_at_the_limit(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_input_tokens: 20}", system="word " * 40)
    system = count_tokens(card.payload["steps"][0]["text"], "gpt-4o-mini")
    user = count_tokens(card.payload["steps"][1]["text"], "gpt-4o-mini")
    (problem,) = budget_problems(card)
    assert (problem.path, problem.line, problem.code) == ("prompts/support-reply/card.yml", 16, "PL301")
    assert problem.message == (f"budget.max_input_tokens: steps use {system + user} tokens "
                               f"(system {system} + user {user}), over 20")


def test_pl301_formats_thousands(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_input_tokens: 1000}", system="alpha beta " * 700)
    (problem,) = budget_problems(card)
    assert "steps use 1,4" in problem.message and "over 1,000" in problem.message


def test_placeholders_count_as_their_literal_text(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_input_tokens: 1200}")
    user = card.payload["steps"][1]["text"]
    assert "{{ question }}" in user
    assert count_tokens(user, "gpt-4o-mini") == count_tokens("Customer {{ customer_name }} asks: {{ question }}", "gpt-4o-mini")


def test_pl302_prices_the_input_tokens(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_cost_per_call_usd: 0.0001}", model="gpt-4", system="word " * 400)
    (problem,) = budget_problems(card)
    assert problem.code == "PL302" and problem.line == 16
    assert problem.message.startswith("budget.max_cost_per_call_usd: the input alone costs $0.01")
    assert "at $30 per 1M for openai gpt-4), over $0.0001" in problem.message


def test_unknown_model_gets_no_cost_check_but_a_token_check(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_input_tokens: 5, max_cost_per_call_usd: 0.0000001}",
                 model="house-model-7b", provider="acme")
    assert [p.code for p in budget_problems(card)] == ["PL301"]


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
    assert budget_problems(card) == []


def test_texts_over_the_byte_bound_but_within_the_token_budget_pass(tmp_path):
    (tmp_path / "prompts").mkdir()
    card = _card(tmp_path, "budget: {max_input_tokens: 60}", system="word " * 40)  # 200 bytes, ~52 tokens
    assert budget_problems(card) == []
