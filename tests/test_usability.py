"""The usability catalogue: what a command says when a person gets something a little wrong.

test_bad_inputs.py has each bad input's problem line and that nothing changed (its did-you-mean
cases among them); here are the hints that depend on who asks, and the runtime's answers:

* a hint never names the author of a version as a reviewer of it (they cannot approve their
  own version), nor a reviewer whose approval already counts for another role;
* the runtime answers a misspelt prompt id or environment with the closest one.
"""
from __future__ import annotations

import json
import re

import pytest

from governed import PID, approve_as, commit, new_version, pl, write_results
from promptlane import runtime
from promptlane.core.hashing import build_payload, payload_hash
from signing import add_reviewer

AUTHOR = "dana@example.com"  # conftest's git identity: the author of every version the tests sync


def _named_in(line: str) -> set[str]:
    return set(re.findall(r"[\w.+-]+@example\.com", line))


@pytest.fixture
def author_is_a_pm(gov, capsys):
    """dana, who writes 1.0.1, is also listed under PM (teams are small)."""
    add_reviewer(gov, "PM", AUTHOR)
    commit(gov, "dana reviews too")
    new_version(gov, capsys)
    commit(gov, "1.0.1")
    write_results(gov, "2026-12-01T09:00:00Z")
    return gov


def test_the_gate_never_asks_the_author_to_approve_her_own_version(author_is_a_pm, capsys):
    code, out = pl(author_is_a_pm, capsys, "promote", PID, "--to", "staging")
    needs = [line for line in out.splitlines() if "PL608" in line and "approval by PM" in line]
    assert code == 1 and needs, out
    assert _named_in(needs[0]) == {"pm@example.com"}, needs[0]

    code, out = pl(author_is_a_pm, capsys, "status")
    lacks = [line for line in out.splitlines() if "PL608" in line and "PM" in line and PID in line]
    assert lacks and all(AUTHOR not in line for line in lacks), out


def test_when_only_the_author_holds_the_role_the_hint_says_to_add_someone(author_is_a_pm, capsys):
    reviewers = author_is_a_pm / "reviews/reviewers.yml"
    reviewers.write_text(reviewers.read_text(encoding="utf-8").replace("  - pm@example.com\n", ""), encoding="utf-8")
    code, out = pl(author_is_a_pm, capsys, "promote", PID, "--to", "staging")
    assert code == 1 and AUTHOR not in out.split("PL608", 1)[1].splitlines()[0], out
    assert "nobody else is listed under PM: add another PM reviewer to reviews/reviewers.yml" in out


def test_a_reviewer_already_filling_a_role_is_not_offered_for_another(author_is_a_pm, capsys, monkeypatch):
    """qa@ is also listed under Tech Lead and has approved as QA for prod: one person fills one
    role, so the Tech Lead hint names tech-lead@ alone."""
    root = author_is_a_pm
    add_reviewer(root, "Tech Lead", "qa@example.com")
    for role in ("PM", "QA"):
        code, out = approve_as(root, capsys, monkeypatch, role)
        assert code == 0, out
    code, out = pl(root, capsys, "promote", PID, "--to", "staging")
    assert code == 0, out
    code, out = pl(root, capsys, "status")
    lacks = [line for line in out.splitlines() if "PL608" in line and "approval by Tech Lead" in line]
    assert lacks and all(_named_in(line) == {"tech-lead@example.com"} for line in lacks), out


def test_a_reviewer_outside_the_role_is_pointed_at_others_never_the_author(author_is_a_pm, capsys, monkeypatch):
    code, out = approve_as(author_is_a_pm, capsys, monkeypatch, "PM", "security@example.com")
    assert code == 1 and "PL505" in out, out
    hint = next(line for line in out.splitlines() if "PL505" in line)
    assert hint.endswith("ask one of: pm@example.com"), hint


# ---------------------------------------------------------------- the runtime


def _bundle(tmp_path) -> runtime.Registry:
    body = build_payload({"provider": "openai", "name": "m"}, [{"name": "s", "role": "system", "file": "s.md"}],
                         ["Hello {{ name }}"], ["name"])
    doc = {"format": "promptlane-bundle/1", "prompts": {PID: {
        "environments": {"dev": "1.0.0", "staging": "1.0.0", "prod": "1.0.0"},
        "versions": {"1.0.0": {"hash": payload_hash(body), "payload": body}}}}}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return runtime.load(str(path))


def test_the_runtime_answers_a_misspelt_prompt_or_environment_with_the_closest(tmp_path):
    registry = _bundle(tmp_path)
    with pytest.raises(runtime.UnknownPromptError, match=r"no prompt 'supprt-reply' \(did you mean 'support-reply'\?\)"):
        registry.get("supprt-reply", "prod")
    with pytest.raises(runtime.NotServedError, match=r"'prd' serves no version of support-reply \(did you mean 'prod'\?\)"):
        registry.get(PID, "prd")
    assert registry.get(PID, "prod").version == "1.0.0"
