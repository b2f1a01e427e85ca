"""CI on a pull request that changes a chain (the template's triage-reply: extract, then draft).

The template's CI never trusts committed eval results (docs/evals.md "CI re-derives, never
trusts"): ``eval plan --base`` owes every promoted version again, the eval job runs ``eval run ID
--force --results-dir`` (here: the real promptfoo, the real chain provider chain.mjs, the
template's offline stand-in model), and the gate judges the promotion on CI's own results
(``PROMPTLANE_CI_RESULTS``), with ``check --all --base`` and ``audit verify --full --base``.
test_attacks_results.ci_rederive is that sequence, run in-process (the cheaper of the two ways
the suite runs CI: tests/test_workflows.py runs the same commands through the workflow file,
with pip and npm installs on top).

A pull request edits the draft call's text, commits the results ``eval run`` made, and promotes
the new version to staging with the PM's signed approval (staging's rule for a high-risk prompt).
Honest, the gate passes. With the chain's committed results tampered, it is refused:

- a failing row flipped to pass in the results file;
- the previous version's (passing) results renamed to the new hash;
- promptfoo's own results.json, whose recorded per-call outputs were edited into passing ones,
  imported with ``eval import --current-inputs``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import git
from governed import commit, write_results
from keys import key_for
from signing import BASE, BRANCH, PR_TIME, REVIEWER_OF, ci_check, run
from test_attacks_results import ci_rederive

CHAIN = "triage-reply"
DRAFT_SYSTEM = f"prompts/{CHAIN}/draft-system.md"
TESTS = f"evals/tests/{CHAIN}.yml"
PM = REVIEWER_OF["PM"]
ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("promptfoo")]  # the real promptfoo (conftest)


@pytest.fixture
def pr(gov, capsys, monkeypatch) -> Path:
    """main: the scaffold, triage-reply 1.0.0 in dev, and support-reply's results (as after a first
    pull request: CI owes evals for what this one changes alone); the pull request's branch, an hour on."""
    write_results(gov, "2026-12-01T08:00:00Z")
    commit(gov, "support-reply evaluated")
    git(gov, "switch", "-q", "-c", BRANCH)
    monkeypatch.setenv("PROMPTLANE_NOW", PR_TIME)
    return gov


def _hash(root: Path) -> str:
    from promptlane.store.cards import read_card
    from promptlane.store.repo import Repo

    return str(read_card(Repo(root), CHAIN).hash)


def _results_path(root: Path, payload_hash: str) -> Path:
    return root / "evals/results" / CHAIN / f"{payload_hash.split(':')[1][:16]}.json"


def _edit_draft(root: Path, capsys, broken: bool) -> str:
    """The pull request's change to the draft call's text, synced as the hook does; the new version.
    ``broken``: the draft text names the help centre's address, so the stand-in answers it as a
    support prompt without notes and the accuracy tests fail (the notes are never read)."""
    path = root / DRAFT_SYSTEM
    extra = "- Links start with https://help.example.com/.\n" if broken else "- Sign with the support team's name.\n"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    code, out = run(root, capsys, "sync")
    assert code == 1, out
    return out


def _eval_run(root: Path, capsys, *extra: str) -> tuple[int, str]:
    code, out = run(root, capsys, "eval", "run", CHAIN, *extra)
    assert code in (0, 1) and "Traceback" not in out, out
    return code, out


def _promote_to_staging(root: Path, capsys) -> None:
    """The PM signs (with their own key, checklist answered) and dana promotes: staging's rule."""
    code, out = run(root, capsys, "approve", CHAIN, "--role", "PM", "--key", str(key_for(PM)), "--all-confirmed", actor=PM)
    assert code == 0, out
    code, out = run(root, capsys, "promote", CHAIN, "--to", "staging")
    assert code == 0, out


def _ci_refuses(root: Path, capsys, *codes: str) -> None:
    """Judged on the committed results alone (`check --all --base`, `audit verify --full --base`)
    the tampered pull request passes; CI, which evaluates the chain again, refuses it."""
    code, out = ci_check(root, capsys)
    assert code == 0, out
    _refused(*ci_rederive(root, capsys), *codes)


def _refused(code: int, out: str, *codes: str) -> None:
    assert code != 0, f"CI passed the tampered pull request\n{out}"
    for wanted in codes:
        assert re.search(rf"\b{wanted}\b", out), f"no {wanted} reported\n{out}"


def _ci_results(root: Path, payload_hash: str) -> dict:
    return json.loads((root.parent / "ci-results" / CHAIN / _results_path(root, payload_hash).name).read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the honest pull request


def test_an_honest_chain_change_passes_ci_on_cis_own_run_of_the_chain(pr, capsys):
    root = pr
    old = _hash(root)
    _edit_draft(root, capsys, broken=False)
    new = _hash(root)
    assert new != old
    code, out = _eval_run(root, capsys)
    assert code == 0 and "5/5 passed" in out, out
    _promote_to_staging(root, capsys)
    commit(root, "triage-reply: signed replies, to staging")
    committed = json.loads(_results_path(root, new).read_text(encoding="utf-8"))

    code, out = ci_rederive(root, capsys)
    assert code == 0, out
    plan = json.loads(out.split(f"$ promptlane eval plan --base {BASE}  -> 0\n", 1)[1].splitlines()[0])
    assert plan["include"] == [{"prompt": CHAIN, "hash": new}], plan  # owed again although its results are committed
    ours = _ci_results(root, new)
    # CI ran the whole chain again: every test, on the chain's hash, through the run's provider
    assert (ours["hash"], ours["tests"], ours["passed"]) == (new, 5, 5)
    assert ours["inputs"] == committed["inputs"] and ours["inputs"]["bound"] == "eval run"
    assert ours["tokens"]["total"] > 0 and ours["cost_usd"] > 0
    assert git(root, "status", "--porcelain", "--", "evals/results").stdout == ""  # the committed file untouched


# ---------------------------------------------------------------- the tampered pull requests


def test_a_failing_chain_row_flipped_to_pass_is_refused_by_ci(pr, capsys):
    root = pr
    _edit_draft(root, capsys, broken=True)
    new = _hash(root)
    code, out = _eval_run(root, capsys)
    assert code == 1 and "3/5 passed" in out, out  # the real chain fails the accuracy tests
    path = _results_path(root, new)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc.update(passed=doc["tests"], failed=0, errors=0, pass_rate=1.0, failures=[])
    for category in doc["categories"].values():
        category.update(passed=category["tests"], pass_rate=1.0)
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    _promote_to_staging(root, capsys)  # the committed file alone lets it through
    commit(root, "triage-reply: links, to staging")
    _ci_refuses(root, capsys, "PL640", "PL630")
    assert _ci_results(root, new)["passed"] == 3


def test_the_previous_versions_chain_results_renamed_to_the_new_hash_are_refused_by_ci(pr, capsys):
    root = pr
    old = _hash(root)
    code, out = _eval_run(root, capsys)  # 1.0.0, really evaluated: it passes
    assert code == 0, out
    previous = json.loads(_results_path(root, old).read_text(encoding="utf-8"))
    _edit_draft(root, capsys, broken=True)
    new = _hash(root)
    _results_path(root, old).unlink()
    version = str(yaml.safe_load((root / f"prompts/{CHAIN}/card.yml").read_text(encoding="utf-8"))["version"])
    _results_path(root, new).write_text(json.dumps({**previous, "hash": new, "version": version}, indent=2), encoding="utf-8")
    assert json.loads(run(root, capsys, "eval", "plan")[1].splitlines()[0])["include"] == []  # counts, on its face
    _promote_to_staging(root, capsys)
    commit(root, "triage-reply: links, to staging")
    _ci_refuses(root, capsys, "PL640", "PL630")


def test_chain_results_whose_recorded_call_outputs_were_edited_are_refused_by_ci(pr, capsys, tmp_path):
    """mallory runs the chain with promptfoo herself (the config `eval run` builds), edits the
    results.json: each failing row's recorded outputs (metadata.outputs.draft, the response's
    output) replaced by the reply a passing run gives, the row marked a success; then imports it,
    stating it was produced with the current inputs. The import re-derives every call's prompt
    (unchanged: they are the real ones) and accepts; CI's own run of the chain does not."""
    from promptlane.evals import config as eval_config
    from promptlane.evals.runner import promptfoo_env
    from promptlane.store.cards import read_card
    from promptlane.store.repo import Repo

    root = pr
    _edit_draft(root, capsys, broken=True)
    new = _hash(root)
    work = tmp_path / "mallory"
    work.mkdir()
    built = eval_config.build(Repo(root), read_card(Repo(root), CHAIN), work)
    done = subprocess.run([os.environ["PROMPTLANE_PROMPTFOO"], "eval", "-c", str(built), "-o", str(work / "results.json"),
                           "--no-cache", "--no-share", "--no-progress-bar", "--no-table"], cwd=work,
                          env=promptfoo_env(work, CHAIN), capture_output=True, text=True, timeout=300)
    assert done.returncode == 100, done.stderr[-2000:]  # some tests failed
    doc = json.loads((work / "results.json").read_text(encoding="utf-8"))
    rows = doc["results"]["results"]
    failing = [row for row in rows if not row["success"]]
    assert len(failing) == 2
    for row in failing:
        name = row["vars"]["customer_name"]
        good = (f"Hi {name},\n\nThank you for getting in touch. To reset your password, choose \"Forgot password\" ... "
                "You can ask for a refund within 30 days. We have marked your request as urgent.\n\n"
                "More help: https://help.example.com/articles/reset-password")
        row["response"]["output"] = good
        row["response"]["metadata"]["outputs"]["draft"] = good
        row.update(success=True, score=1, failureReason=0, error=None)
        row["gradingResult"].update({"pass": True, "score": 1, "reason": "All assertions passed"})
        for component in row["gradingResult"].get("componentResults") or []:
            component.update({"pass": True, "score": 1, "reason": "Assertion passed"})
    doc["results"]["stats"].update(successes=len(rows), failures=0)
    (work / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    code, out = run(root, capsys, "eval", "import", str(work / "results.json"), "--prompt", CHAIN, "--current-inputs")
    assert code == 0, out  # accepted: the texts are the chain's; the outputs cannot be checked
    imported = json.loads(_results_path(root, new).read_text(encoding="utf-8"))
    assert (imported["passed"], imported["inputs"]["bound"]) == (5, "eval import --current-inputs")
    _promote_to_staging(root, capsys)
    commit(root, "triage-reply: links, to staging")
    _ci_refuses(root, capsys, "PL640", "PL630")
