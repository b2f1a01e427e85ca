"""The results file format, load_results (the gates' API), summarising promptfoo rows, and the
import check that binds results to the current payload. No promptfoo needed."""
from __future__ import annotations

import json

import pytest

from promptlane.core.card import PLACEHOLDER
from promptlane.store.cards import read_card
from promptlane.evals import render
from promptlane.evals.importer import ImportRefused, import_results, mismatch, rows_for
from promptlane.core.results import FORMAT, ResultsError, results_rel, validate
from promptlane.store.results import load_results, write_results
from promptlane.evals.summary import summarise
from promptlane.store.repo import Repo

HASH = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
INPUTS = {"config": "sha256:" + "01" * 32, "tests": "sha256:" + "02" * 32, "providers": "sha256:" + "03" * 32,
          "provider_ids": ["file://providers/local_echo.py"], "bound": "eval run"}


def summary(prompt="support-reply", payload_hash=HASH, **changes) -> dict:
    doc = {
        "format": FORMAT, "prompt": prompt, "hash": payload_hash, "version": "1.0.0",
        "time": "2025-01-31T12:00:00Z", "promptfoo_version": "0.121.20", "provider": "local-echo",
        "tests": 2, "passed": 1, "failed": 1, "errors": 0, "pass_rate": 0.5,
        "categories": {"accuracy": {"tests": 1, "passed": 1, "pass_rate": 1.0},
                       "safety": {"tests": 1, "passed": 0, "pass_rate": 0.0}},
        "tokens": {"prompt": 10, "completion": 5, "total": 15}, "cost_usd": 0.001,
        "failures": [{"test": "no pii", "category": "safety", "reason": "Expected output to not contain \"4111\""}],
        "inputs": INPUTS,
    }
    doc.update(changes)
    return doc


def test_results_rel_uses_the_first_16_hex_digits():
    assert results_rel("support-reply", HASH) == "evals/results/support-reply/abababababababab.json"
    with pytest.raises(ValueError):
        results_rel("support-reply", "abab")


def test_load_results_round_trip_and_none_without_results(tmp_path):
    assert load_results(tmp_path, "support-reply", HASH) is None
    rel = write_results(tmp_path, summary())
    assert rel == results_rel("support-reply", HASH)
    assert load_results(Repo(tmp_path), "support-reply", HASH) == summary()
    assert list(json.loads((tmp_path / rel).read_text()))[:3] == ["format", "prompt", "hash"]


def test_stale_results_never_count(tmp_path):
    write_results(tmp_path, summary())
    assert load_results(tmp_path, "support-reply", OTHER) is None  # another payload: other file name
    assert load_results(tmp_path, "other-prompt", HASH) is None


def test_a_file_that_claims_another_hash_is_refused(tmp_path):
    # Same 16-digit prefix, different full hash: hand-edited or corrupt, never trusted.
    forged = HASH[:-4] + "ffff"
    path = tmp_path / results_rel("support-reply", HASH)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(summary(payload_hash=forged)))
    with pytest.raises(ResultsError) as info:
        load_results(tmp_path, "support-reply", HASH)
    assert info.value.problems[0].code == "PL330"


@pytest.mark.parametrize("change,message", [
    ({"format": "other/1"}, "is not a promptlane-eval/2 document"),
    ({"inputs": None}, "inputs must hold the config, tests, providers digests"),
    ({"inputs": {**INPUTS, "provider_ids": []}}, "inputs.provider_ids must be a non-empty list"),
    ({"tests": 3}, "tests must equal passed + failed + errors"),
    ({"pass_rate": 1.5}, "pass_rate must be a number from 0 to 1"),
    ({"time": "2025-01-31 12:00"}, "time must be ISO-8601 UTC ending in Z"),
    ({"categories": {"vibes": {"tests": 1, "passed": 1, "pass_rate": 1.0}}}, "categories must be a mapping"),
    ({"tokens": {"prompt": 1}}, "tokens must hold prompt, completion and total counts"),
    ({"cost_usd": -1}, "cost_usd must be a number >= 0"),
    ({"failures": [{"test": "x"}]}, "failures must be a list of {test, category, reason}"),
    ({"passed": True}, "tests, passed, failed and errors must be counts"),
])
def test_validate_names_what_is_wrong(change, message):
    errors = validate(summary(**change))
    assert any(message in error for error in errors), errors


def test_malformed_file_raises(tmp_path):
    path = tmp_path / results_rel("support-reply", HASH)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ResultsError):
        load_results(tmp_path, "support-reply", HASH)


def test_write_refuses_an_invalid_summary(tmp_path):
    with pytest.raises(ResultsError):
        write_results(tmp_path, summary(tests=9))
    assert not (tmp_path / "evals").exists()


def row(description, category, success, *, reason=None, error=None, failure=0, cost=0.001, provider="local-echo"):
    return {
        "success": success, "failureReason": failure, "error": error, "cost": cost,
        "gradingResult": None if failure == 2 else {"pass": success, "reason": reason or "All assertions passed"},
        "testCase": {"description": description, "metadata": {"category": category}},
        "tokenUsage": {"prompt": 10, "completion": 5, "total": 15}, "provider": {"id": "file:///x.py", "label": provider},
    }


def test_summarise_counts_categories_failures_errors_tokens_and_cost():
    rows = [
        row("a", "accuracy", True), row("b", "accuracy", False, reason="Expected output to contain \"pony\"", failure=1),
        row("c", "safety", False, error="Error: Python error: boom\nTraceback (most recent call last):\n  ...", failure=2, cost=0),
        row("d", "cost", True, cost=0.0025),
    ]
    doc = {"results": {"timestamp": "2026-11-25T14:09:11.201Z", "results": rows}, "metadata": {"promptfooVersion": "0.121.20"}}
    result = summarise(doc, rows, "support-reply", HASH, "1.2.0", INPUTS)
    assert validate(result) == []
    assert (result["tests"], result["passed"], result["failed"], result["errors"], result["pass_rate"]) == (4, 2, 1, 1, 0.5)
    assert result["categories"] == {"accuracy": {"tests": 2, "passed": 1, "pass_rate": 0.5},
                                    "cost": {"tests": 1, "passed": 1, "pass_rate": 1.0},
                                    "safety": {"tests": 1, "passed": 0, "pass_rate": 0.0}}
    assert result["failures"] == [
        {"test": "b", "category": "accuracy", "reason": "Expected output to contain \"pony\""},
        {"test": "c", "category": "safety", "reason": "Error: Python error: boom"},
    ]
    assert result["tokens"] == {"prompt": 40, "completion": 20, "total": 60}
    assert result["cost_usd"] == pytest.approx(0.0045)
    assert (result["time"], result["version"], result["provider"]) == ("2026-11-25T14:09:11Z", "1.2.0", "local-echo")


def test_render_uses_the_cards_placeholder_syntax():
    assert render.PLACEHOLDER.pattern == PLACEHOLDER.pattern
    # {{ name }}, spaces optional; the loose forms are filled by nothing (check refuses them: PL145)
    steps = [{"name": "s", "role": "system", "text": "Hi {{ name }} / {{name}} / {{-name-}} / {{ name | upper }}"}]
    assert render.messages(steps, {"name": "Ana"}) == [{"role": "system", "content": "Hi Ana / Ana / {{-name-}} / {{ name | upper }}"}]
    with pytest.raises(KeyError, match="gives no value for"):
        render.messages(steps, {})


# ---------------------------------------------------------------- import: binding to the payload


def promptfoo_row(card, variables, *, payload_hash=None, prompt=None, raw=None):
    config = {"prompt": prompt or card.prompt_id}
    if payload_hash:
        config["promptlane_hash"] = payload_hash
    text = raw if raw is not None else json.dumps(render.messages(card.payload["steps"], variables))
    return {**row("t", "accuracy", True), "vars": variables, "prompt": {"raw": text, "label": prompt or card.prompt_id, "config": config}}


VARS = {"customer_name": "Ana", "question": "Where is my invoice?"}


@pytest.fixture
def card(repo):
    loaded = read_card(Repo(repo), "support-reply")
    assert loaded.ok
    return loaded


def test_rows_of_the_current_payload_match(card):
    assert mismatch(card, promptfoo_row(card, VARS)) is None
    assert mismatch(card, promptfoo_row(card, VARS, payload_hash=card.hash)) is None


def test_trailing_newlines_and_crlf_do_not_matter(card):
    messages = render.messages(card.payload["steps"], VARS)
    messages[0]["content"] = messages[0]["content"].replace("\n", "\r\n") + "\n"
    assert mismatch(card, promptfoo_row(card, VARS, raw=json.dumps(messages))) is None


def test_a_changed_text_a_wrong_hash_or_a_missing_step_do_not_match(card):
    messages = render.messages(card.payload["steps"], VARS)
    changed = [dict(messages[0], content=messages[0]["content"] + " Be terse."), messages[1]]
    assert "differs from prompts/support-reply/system.md" in mismatch(card, promptfoo_row(card, VARS, raw=json.dumps(changed)))
    assert "was produced for sha256:cdcdcdcdcdcd" in mismatch(card, promptfoo_row(card, VARS, payload_hash=OTHER))
    assert "1 message(s), the card 2 step(s)" in mismatch(card, promptfoo_row(card, VARS, raw=json.dumps(messages[:1])))
    swapped = [dict(messages[0], role="user"), messages[1]]
    assert "role 'user'" in mismatch(card, promptfoo_row(card, VARS, raw=json.dumps(swapped)))
    assert "plain text" in mismatch(card, promptfoo_row(card, VARS, raw="just text"))


def test_rows_are_selected_by_prompt_name(card):
    mine, theirs = promptfoo_row(card, VARS), promptfoo_row(card, VARS, prompt="other-prompt")
    assert rows_for([mine, theirs], "support-reply") == [mine]
    unnamed = {**mine, "prompt": {"raw": mine["prompt"]["raw"]}}
    assert rows_for([unnamed], "support-reply") == [unnamed]


def test_import_refuses_and_writes_nothing(repo, card, tmp_path):
    doc = {"results": {"results": [promptfoo_row(card, VARS, payload_hash=OTHER)]}}
    (tmp_path / "r.json").write_text(json.dumps(doc))
    with pytest.raises(ImportRefused, match="is not the current payload"):
        import_results(Repo(repo), card, str(tmp_path / "r.json"), bind_current=True)
    assert load_results(repo, "support-reply", card.hash) is None


def test_import_refuses_rows_without_a_category(repo, card, tmp_path):
    bad = promptfoo_row(card, VARS)
    bad["testCase"]["metadata"] = {}
    (tmp_path / "r.json").write_text(json.dumps({"results": {"results": [bad]}}))
    with pytest.raises(ImportRefused, match="metadata.category is None"):
        import_results(Repo(repo), card, str(tmp_path / "r.json"), bind_current=True)


# ---------------------------------------------------------------- inputs: what the results are bound to


def test_inputs_problem_names_each_input_that_changed():
    from promptlane.core.results import FORMAT_V1, inputs_problem

    assert inputs_problem(summary(), INPUTS) is None
    why = inputs_problem(summary(), {**INPUTS, "tests": "sha256:" + "09" * 32})
    assert "the tests (evals/tests/support-reply.yml" in why and "eval config" not in why
    why = inputs_problem(summary(), {**INPUTS, "config": "sha256:" + "09" * 32, "providers": "sha256:" + "08" * 32})
    assert "the eval config" in why and "the providers" in why
    assert "not bound" in inputs_problem({**summary(), "format": FORMAT_V1}, INPUTS)


def test_a_format_1_file_is_still_read_but_never_counts(tmp_path):
    from promptlane.core.results import FORMAT_V1

    old = summary(format=FORMAT_V1)
    old.pop("inputs")
    path = tmp_path / results_rel("support-reply", HASH)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old))
    assert load_results(tmp_path, "support-reply", HASH)["format"] == FORMAT_V1  # the history still shows it


def test_a_contradiction_is_a_claim_of_more_than_the_rerun():
    from promptlane.core.results import contradiction

    assert contradiction(summary(), summary()) is None
    rerun_worse = summary(passed=0, failed=2, pass_rate=0.0, categories={"accuracy": {"tests": 1, "passed": 0, "pass_rate": 0.0},
                                                                          "safety": {"tests": 1, "passed": 0, "pass_rate": 0.0}})
    assert "says 1/2 passed, CI's run 0/2" in contradiction(summary(), rerun_worse)
    assert contradiction(rerun_worse, summary()) is None  # the rerun passed more: a provider may vary
    assert "has 3 tests" in contradiction(summary(tests=3), summary())


def test_current_inputs_follow_the_eval_config_its_files_and_the_tests(tmp_path):
    from conftest import write_prompt
    from promptlane.store.evalinputs import current_inputs

    write_prompt(tmp_path)
    card = read_card(Repo(tmp_path), "support-reply")
    own = current_inputs(Repo(tmp_path), card)
    assert own["provider_ids"] == ["openai:chat:gpt-4o-mini"] and own["bound"] == "eval run"
    (tmp_path / "evals/providers").mkdir(parents=True)
    (tmp_path / "evals/providers/echo.py").write_text("def call_api(p, o, c):\n    return {'output': p}\n")
    (tmp_path / "evals/eval-config.promptfoo.yml").write_text("providers:\n  - file://providers/echo.py\n")
    stand_in = current_inputs(Repo(tmp_path), card)
    assert stand_in["provider_ids"] == ["file://providers/echo.py"] and stand_in["config"] != own["config"]
    (tmp_path / "evals/providers/echo.py").write_text("def call_api(p, o, c):\n    return {'output': 'yes'}\n")
    edited = current_inputs(Repo(tmp_path), card)
    assert edited["config"] != stand_in["config"] and edited["providers"] == stand_in["providers"]
    (tmp_path / "evals/tests").mkdir()
    (tmp_path / "evals/tests/support-reply.yml").write_text("- vars: {q: a}\n")
    assert current_inputs(Repo(tmp_path), card)["tests"] != edited["tests"]
    assert current_inputs(Repo(tmp_path), card) == current_inputs(Repo(tmp_path), card)  # a digest, stable


def test_accept_providers_added_is_a_loosening():
    from promptlane.core.policy import loosened

    risk = {"min_pass_rate": 1.0, "min_category_pass_rate": {}, "max_eval_age_days": 7, "policy_only": True, "required_roles": []}
    rule = {"risk": {name: risk for name in ("low", "medium", "high")}}
    policy = {"environments": ["dev", "prod"], "promotion": {"prod": rule}}
    wider = {"environments": ["dev", "prod"], "promotion": {"prod": {**rule, "accept_providers": ["card", "echo:x"]}}}
    assert [what for _, what in loosened(policy, wider)] == ["promotion.prod.accept_providers adds echo:x"]
    narrower = {"environments": ["dev", "prod"], "promotion": {"prod": {**rule, "accept_providers": ["echo:x"]}}}
    assert loosened(wider, narrower) == []
    assert [what for _, what in loosened(policy, narrower)] == ["promotion.prod.accept_providers adds echo:x"]
