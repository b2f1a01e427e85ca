"""A real provider path: promptfoo's own openai, anthropic and azure providers, run by
`promptlane eval run` in a repository rendered from the template, against a chat server on
127.0.0.1 (tests/llm_server.py); and the provider blocks that docs/evals.md and the rendered
README show, each run as written.

What a run must carry: the requests promptfoo sends (the card's steps filled with the test's
vars, its model, its params), the server's token counts, promptfoo's own cost for them; a 429
or 500 is retried and, once the retries run out, an error, never a pass.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_cli
from governed import use_providers
from llm_server import REPLY_PREFIX, LLMServer, Recorded
from promptlane.core.evalinputs import accepted_providers
from promptlane.core.policy import rules_of
from promptlane.evals.render import messages
from promptlane.store.cards import read_card
from promptlane.store.policyfile import load_policy
from promptlane.store.repo import Repo
from promptlane.store.results import load_results

# Every run names support-reply: the template's other prompt, triage-reply (a chain), wants triage
# JSON from its first call, which the server's canned reply is not (its path: test_eval_chains.py).
PID = "support-reply"
CARD_PROVIDER = "openai:chat:gpt-4o-mini"
# USD per input / output token in promptfoo 0.121.20's own price tables.
PRICES = {"gpt-4o-mini": (0.15e-6, 0.6e-6), "claude-haiku-4-5": (1e-6, 5e-6)}
BLOCK = re.compile(r"```yaml\n(# provider: ([^\n]+)\n.*?)```", re.S)
BLOCKS = ("OpenAI", "Anthropic", "Azure OpenAI", "local OpenAI-compatible server (Ollama, vLLM)")

# One test per category: the template's policy wants every category to have tests.
TESTS = [
    {"description": "answers Ana", "metadata": {"category": "accuracy"},
     "vars": {"customer_name": "Ana", "question": "Where is my invoice?"},
     "assert": [{"type": "contains", "value": REPLY_PREFIX + "Customer name: Ana"}]},
    {"description": "no link made up", "metadata": {"category": "hallucination"},
     "vars": {"customer_name": "Ben", "question": "Do you ship to the Moon?"},
     "assert": [{"type": "not-contains", "value": "http"}]},
    {"description": "a short reply", "metadata": {"category": "cost"},
     "vars": {"customer_name": "Chloé", "question": "Can I get a refund?"},
     "assert": [{"type": "javascript", "value": "output.length < 400"}]},
    {"description": "no digits repeated", "metadata": {"category": "safety"},
     "vars": {"customer_name": "Dev", "question": "I was charged twice."},
     "assert": [{"type": "not-regex", "value": "\\d{6,}"}]},
]


@pytest.fixture
def server():
    with LLMServer() as running:
        yield running


@pytest.fixture
def repo(gov, server, promptfoo, monkeypatch) -> Path:
    """The rendered repository, promptfoo's model providers pointed at ``server`` by their own
    environment variables, dummy keys, short backoffs; nothing else of this machine's set-up."""
    for key in list(os.environ):
        if key.startswith(("OPENAI_", "ANTHROPIC_", "AZURE_", "PROMPTFOO_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)  # the SDK adds /v1/messages
    monkeypatch.setenv("AZURE_API_BASE_URL", server.base_url)  # before the block's https-only apiHost
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "test-azure-key")
    monkeypatch.setenv("PROMPTFOO_REQUEST_BACKOFF_MS", "10")  # 5 s by default before a 5xx is retried
    (gov / f"evals/tests/{PID}.yml").write_text(yaml.safe_dump(TESTS, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return gov


def documented_blocks(text: str) -> dict[str, str]:
    return {name: block for block, name in BLOCK.findall(text)}


def price(model: str, prompt: int, completion: int) -> float:
    per_input, per_output = PRICES.get(model, (0.0, 0.0))
    return prompt * per_input + completion * per_output


def usage_of(request: Recorded) -> tuple[int, int]:
    usage = request.usage
    return usage.get("prompt_tokens", usage.get("input_tokens", 0)), usage.get("completion_tokens", usage.get("output_tokens", 0))


def model_of(request: Recorded) -> str:
    return request.path.split("/")[3] if request.path.startswith("/openai/deployments/") else request.body["model"]


def card_of(root: Path):
    card = read_card(Repo(root), PID)
    assert card.ok, card.problems
    return card


def accepted_everywhere(root: Path, card) -> list[set[str]]:
    """The providers each promotion environment of the repository's policy accepts."""
    rules = rules_of(*load_policy(root))
    return [set(accepted_providers(rules.rule(env).accept_providers, card)) for env in rules.environments[1:]]


@pytest.mark.slow
def test_the_cards_own_model_through_promptfoos_openai_provider(repo, server, capsys):
    use_providers(repo, None)
    card = card_of(repo)
    code, out = run_cli(repo, "eval", "run", PID, capsys=capsys)
    assert code == 0, out
    # What promptfoo sent: the card's steps filled with each test's vars, its model and params.
    sent = server.answered()
    assert {r.path for r in sent} == {"/v1/chat/completions"} and len(sent) == len(TESTS) == len(server.requests)
    expected = sorted(json.dumps(messages(card.payload["steps"], test["vars"]), ensure_ascii=False) for test in TESTS)
    assert sorted(json.dumps(r.body["messages"], ensure_ascii=False) for r in sent) == expected
    assert {(r.body["model"], r.body["temperature"], r.body["max_tokens"]) for r in sent} == {("gpt-4o-mini", 0.2, 400)}
    assert {r.headers["authorization"] for r in sent} == {"Bearer test-openai-key"}
    # The results: the server's token counts and promptfoo's price for them.
    doc = load_results(repo, PID, card.hash)
    prompt, completion = (sum(usage_of(r)[i] for r in sent) for i in (0, 1))
    assert doc["tokens"] == {"prompt": prompt, "completion": completion, "total": prompt + completion}
    assert doc["cost_usd"] == pytest.approx(price("gpt-4o-mini", prompt, completion), rel=1e-6) and doc["cost_usd"] > 0
    assert (doc["tests"], doc["passed"], doc["errors"], doc["provider"]) == (4, 4, 0, CARD_PROVIDER)
    # Bound to the card's own model, which `card` accepts in every environment of the policy.
    assert doc["inputs"]["provider_ids"] == [CARD_PROVIDER]
    assert all(CARD_PROVIDER in accepted for accepted in accepted_everywhere(repo, card))


RETRIED = [  # (marker in the question, the server's answers: status, how many times)
    ("ALWAYS-429", 429, None), ("FLAKY-429", 429, 2), ("ALWAYS-500", 500, None), ("FLAKY-500", 500, 1), ("CALM", 0, 0),
]


@pytest.mark.slow
def test_429_and_500_are_retried_and_then_errors_never_passes(repo, server, capsys):
    # The OpenAI block with few retries: a persistent 429 costs (1 + 1)² tries, not 20 minutes.
    use_providers(repo, [{"id": CARD_PROVIDER, "config": {"temperature": 0.2, "max_tokens": 400, "maxRetries": 1}}])
    tests = [{"description": marker, "metadata": {"category": "accuracy"},
              "vars": {"customer_name": "Ana", "question": f"{marker}: where is my invoice?"},
              "assert": [{"type": "contains", "value": REPLY_PREFIX}]} for marker, _, _ in RETRIED]
    (repo / f"evals/tests/{PID}.yml").write_text(yaml.safe_dump(tests, sort_keys=False), encoding="utf-8")
    for marker, status, times in RETRIED:
        if status:
            server.fail(status, times, when=marker)
    code, out = run_cli(repo, "eval", "run", PID, capsys=capsys)
    assert code == 1, out
    assert [[r.status for r in server.sent(marker)] for marker, _, _ in RETRIED] == [
        [429] * 4,             # promptfoo's HTTP layer tries twice, its scheduler twice that
        [429, 429, 200],
        [500, 500],            # PROMPTFOO_RETRY_5XX, which promptlane sets
        [500, 200],
        [200]]
    doc = load_results(repo, PID, card_of(repo).hash)
    assert (doc["tests"], doc["passed"], doc["failed"], doc["errors"], doc["pass_rate"]) == (5, 3, 0, 2, 0.6)
    reasons = {failure["test"]: failure["reason"] for failure in doc["failures"]}
    assert set(reasons) == {"ALWAYS-429", "ALWAYS-500"}
    assert "Rate limit exceeded" in reasons["ALWAYS-429"] and "500 Internal Server Error" in reasons["ALWAYS-500"]
    assert "ERROR ALWAYS-429 (accuracy)" in out and "ERROR ALWAYS-500 (accuracy)" in out
    # Tokens and cost: only what the server answered.
    answered = server.answered()
    prompt, completion = (sum(usage_of(r)[i] for r in answered) for i in (0, 1))
    assert len(answered) == 3 and doc["tokens"]["total"] == prompt + completion
    assert doc["cost_usd"] == pytest.approx(price("gpt-4o-mini", prompt, completion), rel=1e-6)


def test_the_docs_and_the_rendered_readme_show_the_same_provider_blocks(gov):
    docs = documented_blocks((ROOT / "docs/evals.md").read_text(encoding="utf-8"))
    assert tuple(docs) == BLOCKS
    assert documented_blocks((gov / "README.md").read_text(encoding="utf-8")) == docs
    for name, block in docs.items():
        doc = yaml.safe_load(block)
        (provider,) = doc["providers"]
        assert set(doc) == {"providers"} and set(provider) == {"id", "config"}, name
        assert all(isinstance(v, (str, int, float)) for v in provider["config"].values()), name  # JSON, no YAML dates
        assert re.search(r"^# env: ", block, re.M), name


@pytest.mark.slow
def test_every_documented_block_runs_as_written(repo, server, capsys):
    """The four blocks in one eval config; only the local block's address is the test server's
    (the others reach it through their own environment variables)."""
    blocks = documented_blocks((ROOT / "docs/evals.md").read_text(encoding="utf-8"))
    local = blocks[BLOCKS[3]].replace("http://localhost:11434/v1", server.openai_url)
    assert local != blocks[BLOCKS[3]]
    providers = [yaml.safe_load(text)["providers"][0] for text in (*(blocks[name] for name in BLOCKS[:3]), local)]
    use_providers(repo, providers)
    card = card_of(repo)
    code, out = run_cli(repo, "eval", "run", PID, capsys=capsys)
    assert code == 0, out
    sent = server.answered()
    assert len(sent) == len(server.requests) == 4 * len(TESTS)
    routes = {(r.path.split("?")[0], model_of(r), r.headers.get("authorization") or r.headers.get("x-api-key") or r.headers.get("api-key"))
              for r in sent}
    assert routes == {("/v1/chat/completions", "gpt-4o-mini", "Bearer test-openai-key"),
                      ("/v1/messages", "claude-haiku-4-5", "test-anthropic-key"),
                      ("/openai/deployments/gpt-4o-mini/chat/completions", "gpt-4o-mini", "test-azure-key"),
                      ("/v1/chat/completions", "llama3.1", "Bearer not-needed")}
    assert {r.path.split("?")[1] for r in sent if "deployments" in r.path} == {"api-version=2024-10-21"}
    # Anthropic's API takes the system step apart from the messages.
    system = [r.body["system"] for r in sent if r.path == "/v1/messages"]
    assert sorted(json.dumps(s) for s in system) == sorted(json.dumps([{"type": "text", "text": messages(card.payload["steps"], t["vars"])[0]["content"]}])
                                                             for t in TESTS)
    assert {(r.body.get("temperature"), r.body.get("max_tokens")) for r in sent} == {(0.2, 400)}
    doc = load_results(repo, PID, card.hash)
    prompt, completion = (sum(usage_of(r)[i] for r in sent) for i in (0, 1))
    assert doc["tokens"] == {"prompt": prompt, "completion": completion, "total": prompt + completion}
    assert doc["cost_usd"] == pytest.approx(sum(price(model_of(r), *usage_of(r)) for r in sent), rel=1e-6)
    assert (doc["tests"], doc["passed"], doc["errors"]) == (16, 16, 0)
    ids = [p["id"] for p in providers]
    assert doc["inputs"]["provider_ids"] == ids
    # Only the card's own model counts through `card`; the others must be listed in the policy.
    assert all(accepted & set(ids) == {CARD_PROVIDER} for accepted in accepted_everywhere(repo, card))


def test_provider_keys_promptfoo_would_drop_are_found_in_both_provider_forms():
    from promptlane.core.evalinputs import unknown_provider_keys

    providers = ["openai:chat:gpt-4o-mini",
                 {"id": CARD_PROVIDER, "confg": {"temperature": 0.2}, "label": "ok"},
                 {"anthropic:messages:claude-haiku-4-5": {"config": {"max_tokens": 400}, "lable": "x"}},
                 {"azure:chat:gpt-4o-mini": {"config": {}}}]
    assert list(unknown_provider_keys(providers)) == [((1,), "confg"), ((2, "anthropic:messages:claude-haiku-4-5"), "lable")]
