"""Attacks on eval results by someone who can push but may not decide (issue 16, items 4 and 5).

mallory@example.com has write access and reviews nothing. The reviewers are honest but read
the eval results her branch commits. Each test scripts one way of making results say more
than the prompt earns, on a pull request (``release/feature`` from the protected ``main``,
tests/signing.py) in a repository rendered from the template, with the real promptfoo and its
offline stand-in provider. CI stops her: ``promptlane check --all --base main`` judges the
committed results against the repository's current eval inputs and the base's
``accept_providers``, and what the rendered workflow adds on a pull request (``ci_rederive``:
every promoted version evaluated again by CI, judged on CI's own results) catches results
that were simply made up.

EXPECTED is the one place that says which code each case must produce ("A|B": either).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from governed import PID, card, commit, write_results
from signing import BASE, MALLORY, Attack, Keys, ci_check, edit_policy, open_branch, release, run
from test_attacks import base, keys  # the honest main and its reviewers' keys

EXPECTED = {
    "results-written-by-hand": ("PL640", "PL630"),
    "tests-weakened-for-the-run": ("PL332",),
    "stand-in-results-gate-prod": ("PL612",),
    "results-of-format-1": ("PL331",),
    "eval-config-edited-after-the-run": ("PL332",),
    "provider-swapped-for-a-yes-man": ("PL612",),
}
TESTS = f"evals/tests/{PID}.yml"
STAND_IN = "evals/providers/local_echo.py"
SYSTEM = f"prompts/{PID}/system.md"


pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("promptfoo")]  # the real promptfoo (conftest)


@pytest.fixture
def attack(base, monkeypatch, capsys, keys) -> Attack:
    return Attack(open_branch(base, monkeypatch), capsys, keys)


def ci_rederive(root: Path, capsys) -> tuple[int, str]:
    """What the rendered workflow does on a pull request: `eval plan --base` (every promoted
    version owed again), `eval run ID --force --results-dir` for each (the eval job's
    artifact), then the check with PROMPTLANE_CI_RESULTS naming that folder (the gate job)."""
    code, out = run(root, capsys, "eval", "plan", "--base", BASE)
    outputs = [f"$ promptlane eval plan --base {BASE}  -> {code}\n{out}"]
    matrix = json.loads(out.splitlines()[0])
    ci_results = root.parent / "ci-results"
    for entry in matrix["include"]:
        code, out = run(root, capsys, "eval", "run", entry["prompt"], "--force", "--results-dir", str(ci_results))
        assert code in (0, 1), out
        outputs.append(f"$ promptlane eval run {entry['prompt']} --force --results-dir ...  -> {code}\n{out}")
    code, out = run_ci(root, capsys, ci_results)
    return code, "\n".join([*outputs, out])


def run_ci(root: Path, capsys, ci_results: Path) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTLANE_CI_RESULTS", str(ci_results))
        return ci_check(root, capsys)


def stopped(code: int, out: str, case: str) -> None:
    assert code != 0, f"{case}: CI passed the attack\n{out}"
    for wanted in EXPECTED[case]:
        assert re.search(rf"\b(?:{wanted})\b", out), f"{case}: no {wanted} reported\n{out}"


def break_prompt(root: Path) -> None:
    """A change the real evals fail: without the help centre, the stand-in restates the question."""
    path = root / SYSTEM
    path.write_text(path.read_text(encoding="utf-8").replace("https://help.example.com/", "our knowledge"), encoding="utf-8")


def new_version(root: Path, capsys, honest: bool) -> str:
    if honest:
        path = root / SYSTEM
        path.write_text(path.read_text(encoding="utf-8") + "Sign with the team's name.\n", encoding="utf-8")
    else:
        break_prompt(root)
    code, out = run(root, capsys, "sync", actor=MALLORY)
    assert code == 1, out
    return card(root)["version"]


def plan(root: Path, capsys) -> list[dict]:
    """What `eval plan` says is owed: its matrix's entries."""
    code, out = run(root, capsys, "eval", "plan")
    assert code == 0, out
    return json.loads(out.splitlines()[0])["include"]


def eval_run(root: Path, capsys, *extra: str) -> tuple[int, str]:
    return run(root, capsys, "eval", "run", PID, *extra)


def promote(attack: Attack, keys: Keys) -> None:
    """The honest reviewers approve what her results show, and she promotes (by hand where refused)."""
    from signing import REVIEWER_OF, approve

    for role, reviewer in REVIEWER_OF.items():
        code, out = approve(attack.root, attack.capsys, role, reviewer, keys.private(reviewer))
        assert code == 0, out
    attack.promote("staging", "prod")


# ---------------------------------------------------------------- the honest path


def test_an_honest_pull_request_passes_ci_on_cis_own_results(attack, keys, capsys):
    root = attack.root
    assert new_version(root, capsys, honest=True) == "1.0.2"
    assert eval_run(root, capsys)[0] == 0
    release(root, capsys, keys)
    commit(root, "1.0.2 to prod")
    code, out = ci_rederive(root, capsys)
    assert code == 0, out
    assert '"prompt": "support-reply"' in out  # evaluated again although its results were committed


# ---------------------------------------------------------------- the attacks


def test_results_written_by_hand(attack, keys, capsys):
    """She writes a passing results file for a prompt whose real evals fail, bound (she can
    compute them) to the current inputs: `eval plan` owes nothing for it; only CI's own run shows it."""
    root = attack.root
    owed_before = plan(root, capsys)  # what main already owes (the template's triage-reply has no committed results)
    assert PID not in {entry["prompt"] for entry in owed_before}
    new_version(root, capsys, honest=False)
    assert PID in {entry["prompt"] for entry in plan(root, capsys)}
    write_results(root, "2026-12-01T09:45:00Z")
    assert plan(root, capsys) == owed_before  # her forgery pays what the new version owed: nothing more is owed
    promote(attack, keys)
    code, out = attack.verdict()
    assert code == 0, out  # judged on the committed results alone, the forgery would pass ...
    code, out = ci_rederive(root, capsys)  # ... which is why CI re-derives them
    stopped(code, out, "results-written-by-hand")


def test_tests_weakened_for_the_run_and_restored_before_the_commit(attack, keys, capsys):
    root = attack.root
    new_version(root, capsys, honest=False)
    assert eval_run(root, capsys)[0] == 1  # the real tests fail
    tests = root / TESTS
    honest = tests.read_text(encoding="utf-8")
    tests.write_text(re.sub(r"(?m)^  assert:\n(    .*\n)+", "", honest), encoding="utf-8")  # no assertions: all pass
    assert eval_run(root, capsys, "--force")[0] == 0
    tests.write_text(honest, encoding="utf-8")
    promote(attack, keys)
    code, out = attack.verdict()
    stopped(code, out, "tests-weakened-for-the-run")


def test_stand_in_results_gating_prod_for_a_card_that_declares_another_model(base, keys, capsys, monkeypatch):
    """The team removed the stand-in from prod's accepted providers (a tightening, on main);
    its results still gate staging, never prod."""
    def prod_accepts_the_cards_model_only(doc):
        doc["promotion"]["prod"]["accept_providers"] = ["card"]

    edit_policy(base, prod_accepts_the_cards_model_only)
    commit(base, "prod accepts only each card's own model")
    attack = Attack(open_branch(base, monkeypatch), capsys, keys)
    assert eval_run(base, capsys, "--force")[0] == 0  # real results, of the stand-in
    promote(attack, keys)
    assert any("PL612" in refusal for refusal in attack.refusals), attack.refusals
    code, out = attack.verdict()
    stopped(code, out, "stand-in-results-gate-prod")


def test_results_of_format_1(attack, keys, capsys):
    root = attack.root
    new_version(root, capsys, honest=True)
    path = write_results(root, "2026-12-01T09:45:00Z")
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc.pop("inputs")
    path.write_text(json.dumps({**doc, "format": "promptlane-eval/1"}, indent=2), encoding="utf-8")
    assert json.loads(run(root, capsys, "eval", "plan")[1].splitlines()[0])["include"], "a /1 file is owed again"
    promote(attack, keys)
    code, out = attack.verdict()
    stopped(code, out, "results-of-format-1")


def test_eval_config_edited_after_the_run(attack, keys, capsys):
    """The stand-in (a file the eval config names) made to answer everything for the run, then restored."""
    root = attack.root
    new_version(root, capsys, honest=False)
    stand_in = root / STAND_IN
    honest = stand_in.read_text(encoding="utf-8")
    stand_in.write_text(honest.replace('if "help.example.com" in prompt:', "if True:"), encoding="utf-8")
    assert eval_run(root, capsys)[0] == 0
    stand_in.write_text(honest, encoding="utf-8")
    promote(attack, keys)
    code, out = attack.verdict()
    stopped(code, out, "eval-config-edited-after-the-run")
    assert "the eval config" in out


def test_the_eval_config_pointed_at_a_provider_that_says_yes(attack, keys, capsys):
    """Committed openly, the run honest: but the provider is hers, and no rule accepts it."""
    root = attack.root
    new_version(root, capsys, honest=False)
    (root / "evals/providers/yes_man.py").write_text(
        (root / STAND_IN).read_text(encoding="utf-8").replace('if "help.example.com" in prompt:', "if True:"), encoding="utf-8")
    config = root / "evals/eval-config.promptfoo.yml"
    config.write_text(config.read_text(encoding="utf-8").replace("file://providers/local_echo.py", "file://providers/yes_man.py"),
                      encoding="utf-8")
    assert eval_run(root, capsys)[0] == 0
    promote(attack, keys)
    code, out = attack.verdict()
    stopped(code, out, "provider-swapped-for-a-yes-man")
