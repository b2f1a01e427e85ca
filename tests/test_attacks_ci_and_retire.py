"""Sixth attack round: eval inputs, CI's re-run, retirement (mallory: write access, no key).

A hole is a test that asserts what SHOULD happen, marked xfail(strict=True) until fixed; an
attack already refused is a normal test asserting its code.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import git
from governed import LOCK, PID, card, commit, write_results
from signing import (BASE, MALLORY, REVIEWER_OF, Attack, Keys, ci_check, edit_policy, open_branch, refused, released_base,
                     run)
from test_attacks_results import STAND_IN, eval_run, new_version, promote
from test_attacks import base, keys  # the honest main and its reviewers' keys
from test_retire import RETIRE_AT

FOLDER = f"prompts/{PID}"
GOVERNANCE = REVIEWER_OF["Governance"]

pytestmark = pytest.mark.usefixtures("promptfoo")  # the real promptfoo (conftest)


@pytest.fixture
def attack(base, monkeypatch, capsys, keys) -> Attack:
    return Attack(open_branch(base, monkeypatch), capsys, keys)


def workflow_ci(root: Path, capsys, ci_results: Path) -> tuple[int, str]:
    """The rendered workflow on a pull request, with ci-results/ where the workflow has it
    (relative to the checkout when ``ci_results`` is inside ``root``)."""
    code, out = run(root, capsys, "eval", "plan", "--base", BASE)
    outputs = [f"$ eval plan -> {code}\n{out}"]
    matrix = json.loads(out.splitlines()[0])
    for entry in matrix["include"]:
        code, out = run(root, capsys, "eval", "run", entry["prompt"], "--force", "--results-dir", str(ci_results))
        assert code in (0, 1), out
        outputs.append(f"$ eval run {entry['prompt']} --force --results-dir {ci_results} -> {code}\n{out}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTLANE_CI_RESULTS", str(ci_results))
        code, out = ci_check(root, capsys)
    return code, "\n".join([*outputs, out])


# ---------------------------------------------------------------- B: CI's own results


@pytest.mark.parametrize("committed", [False])
def test_a_promoted_version_that_is_not_the_cards_current_one_gets_pl641(attack, keys, capsys, committed):
    """1.0.2 (fails its real evals) is promoted on forged results; then 1.0.3 (honest) becomes the
    card's current version, so CI's eval job evaluates 1.0.3, never 1.0.2. Without a committed
    ci-results/ the gate says PL641; with one, the forged file is read as CI's own."""
    root = attack.root
    broken = new_version(root, capsys, honest=False)
    forged = write_results(root, "2026-12-01T09:45:00Z")  # passes; bound to the current inputs
    broken_hash = card(root)["hash"]
    folder = root / FOLDER
    at_broken = {p.name: p.read_bytes() for p in folder.iterdir()}
    path = folder / "system.md"
    path.write_text(path.read_text(encoding="utf-8") + "Sign with the team's name.\n", encoding="utf-8")
    assert run(root, capsys, "sync", actor=MALLORY)[0] == 1  # 1.0.3, honest, the card's current version
    at_honest = {p.name: p.read_bytes() for p in folder.iterdir()}
    for name, raw in at_broken.items():  # the card put back to 1.0.2 (synced: its lock entry exists)
        (folder / name).write_bytes(raw)
    doc = json.loads((root / LOCK).read_text())  # dev pointed back at 1.0.2 by hand
    doc["environments"]["dev"] = broken
    (root / LOCK).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    promote(attack, keys)  # approvals of 1.0.2 on her results, promotions recorded last
    assert not attack.refusals, attack.refusals  # every promotion by the command itself
    assert json.loads((root / LOCK).read_text())["environments"]["prod"] == broken
    for name, raw in at_honest.items():  # and the card back to 1.0.3
        (folder / name).write_bytes(raw)
    assert card(root)["hash"] != broken_hash
    ci_results = root / "ci-results"
    if committed:  # mallory commits the same forged file where the workflow's eval job writes
        target = ci_results / PID / forged.name
        target.parent.mkdir(parents=True)
        shutil.copyfile(forged, target)
    commit(root, "mallory's change")
    if not committed:
        ci_results = root.parent / "ci-results"
    code, out = workflow_ci(root, capsys, ci_results)
    assert code != 0, f"CI passed prod serving {broken}, which CI never evaluated:\n{out}"
    assert "PL641" in out, out


# ---------------------------------------------------------------- A: inputs not covered


def test_dotenv_in_the_checkout_swaps_the_accepted_stand_in_for_a_yes_man(attack, keys, capsys):
    """Was a hole: promptfoo ran with cwd = the repository and loaded its .env (dotenv), which is
    no eval input; here it sets PYTHONPATH to a folder whose sitecustomize.py redirects the
    unchanged, accepted file://providers/local_echo.py to a yes-man. promptfoo now runs in its
    temp folder: the committed .env is never read and the real evals still fail."""
    from promptlane.store.cards import read_card
    from promptlane.store.evalinputs import current_inputs
    from promptlane.store.repo import Repo

    root = attack.root
    new_version(root, capsys, honest=False)
    assert eval_run(root, capsys, "--force")[0] == 1  # the real evals fail
    honest_inputs = current_inputs(Repo(root), read_card(Repo(root), PID))
    shadow = root / "tools/shadow"
    shadow.mkdir(parents=True)
    (shadow / "yes_man.py").write_text(
        (root / STAND_IN).read_text(encoding="utf-8").replace('if "help.example.com" in prompt:', "if True:"), encoding="utf-8")
    (shadow / "sitecustomize.py").write_text(
        "import importlib.util as u\n"
        "_spec = u.spec_from_file_location\n"
        f"YES = {str(shadow / 'yes_man.py')!r}\n"
        "def spec(name, location=None, *a, **k):\n"
        "    if location is not None and str(location).endswith('local_echo.py'):\n"
        "        location = YES\n"
        "    return _spec(name, location, *a, **k)\n"
        "u.spec_from_file_location = spec\n", encoding="utf-8")
    (root / ".env").write_text(f"PYTHONPATH={shadow}\n", encoding="utf-8")
    assert current_inputs(Repo(root), read_card(Repo(root), PID)) == honest_inputs
    code, out = eval_run(root, capsys, "--force")
    assert code == 1, f"the .env swapped the stand-in: the broken version passed\n{out}"


def test_card_model_naming_a_code_runner_is_accepted_as_the_cards_own_model(base):
    """Was a hole: `card` in accept_providers accepted any provider the card names, promptfoo's
    code runners (exec:, python:, file://) included; it now accepts none of those."""
    from promptlane.core.evalinputs import accepted_providers, card_provider
    from promptlane.store.cards import read_card
    from promptlane.store.repo import Repo

    path = base / f"{FOLDER}/card.yml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(\s+provider:).*$", r"\1 exec", text, count=1)
    text = re.sub(r"(?m)^(\s+name:).*$", r"\1 python3 tools/yes.py", text, count=1)
    path.write_text(text, encoding="utf-8")
    pcard = read_card(Repo(base), PID)
    assert pcard.payload["model"]["provider"] == "exec", pcard.problems
    assert card_provider(pcard)["id"] == "exec:python3 tools/yes.py"
    assert pcard.ok, pcard.problems  # the schema takes any provider name
    assert "exec:python3 tools/yes.py" not in accepted_providers(("card",), pcard)


# ---------------------------------------------------------------- C: deleting / reviving


@pytest.fixture
def released(gov, keys, capsys, monkeypatch):
    released_base(gov, keys, capsys)
    return Attack(open_branch(gov, monkeypatch, RETIRE_AT), capsys, keys)



def test_served_prompt_folder_and_its_lock_deleted(released, capsys):
    """Was a hole: `git rm -r prompts/ID registry/ID.lock.json` took a prompt served in prod out of
    the repository without retirement. CI refuses the removed lock (PL631); the clone's audit
    alone refuses a served prompt without its lock (PL215)."""
    root = released.root
    git(root, "rm", "-r", "-q", FOLDER, LOCK)
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts/.gitkeep").write_text("")
    refused(released, "PL631", "PL215")
    code, out = run(root, capsys, "audit", "verify", "--full")
    assert code == 1 and "PL215" in out, out


def test_served_prompt_folder_lock_and_snapshots_deleted(released):
    root = released.root
    git(root, "rm", "-r", "-q", FOLDER, LOCK, f"registry/store/{PID}")
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts/.gitkeep").write_text("")
    print(refused(released))


def test_only_the_card_deleted(released):
    git(released.root, "rm", "-q", f"{FOLDER}/card.yml")
    print(refused(released))


def test_served_prompt_folder_renamed(released):
    root = released.root
    git(root, "mv", FOLDER, "prompts/support-reply-v2")
    path = root / "prompts/support-reply-v2/card.yml"
    path.write_text(path.read_text(encoding="utf-8").replace(f"id: {PID}", "id: support-reply-v2"), encoding="utf-8")
    print(refused(released, "PL124"))


def test_a_step_file_replaced_by_a_symlink_to_the_same_text_elsewhere(released):
    root = released.root
    step = root / f"{FOLDER}/user.md"
    outside = root / "docs-user.md"
    outside.write_bytes(step.read_bytes())
    step.unlink()
    step.symlink_to("../../docs-user.md")
    print(refused(released, "PL131"))


def test_retired_prompt_revived_by_deleting_its_lock_and_syncing_again(gov, keys, capsys, monkeypatch):
    released_base(gov, keys, capsys)
    open_branch(gov, monkeypatch, RETIRE_AT)
    git(gov, "switch", "-q", "main")
    code, out = run(gov, capsys, "approve", PID, "--retire", "--role", "Governance", "--key", str(keys.private(GOVERNANCE)),
                    actor=GOVERNANCE)
    assert code == 0, out
    code, out = run(gov, capsys, "retire", PID, "--reason", "replaced")
    assert code == 0, out
    commit(gov, "retired")
    git(gov, "branch", "-q", "-D", "release/feature")
    git(gov, "switch", "-q", "-c", "release/feature")
    git(gov, "checkout", "HEAD~1", "--", FOLDER)
    git(gov, "rm", "-q", LOCK)
    attack = Attack(gov, capsys, keys)
    run(gov, capsys, "sync", actor=MALLORY)  # a fresh lock: support-reply 1.0.0 in dev
    assert "retired" not in json.loads((gov / LOCK).read_text())
    print(refused(attack, "PL125|PL652"))


def test_committed_ci_results_stand_when_cis_run_of_the_promoted_version_writes_nothing(attack, keys, capsys, monkeypatch):
    """Was a hole: a committed ci-results/ was read as CI's own results when CI's run ended
    without any. CI's folder is now the runner's temp folder, outside the checkout, and a
    folder inside the repository is refused (exit 2) for both --results-dir and
    PROMPTLANE_CI_RESULTS: the committed copy is never read, and PL641 says CI has no results."""
    root = attack.root
    tests = root / f"evals/tests/{PID}.yml"
    text = tests.read_text(encoding="utf-8")
    # one assertion that ends promptfoo without results: `eval run` exits 1 (EvalRunError)
    tests.write_text(text.replace("    - type: icontains\n      value: forgot password\n",
                                  "    - type: icontains\n      value: forgot password\n"
                                  "    - type: javascript\n      value: 'process.exit(7)'\n", 1), encoding="utf-8")
    broken = new_version(root, capsys, honest=False)
    forged = write_results(root, "2026-12-01T09:45:00Z")  # bound to the (new) current inputs
    target = root / "ci-results" / PID / forged.name
    target.parent.mkdir(parents=True)
    shutil.copyfile(forged, target)
    promote(attack, keys)
    assert not attack.refusals, attack.refusals
    commit(root, "mallory's change")
    inside = run(root, capsys, "eval", "run", PID, "--force", "--results-dir", str(root / "ci-results"))
    assert inside[0] == 2 and "inside the repository" in inside[1], inside
    monkeypatch.setenv("PROMPTLANE_CI_RESULTS", str(root / "ci-results"))
    inside = run(root, capsys, "check", "--all", "--base", BASE)
    assert inside[0] == 2 and "inside the repository" in inside[1], inside
    monkeypatch.delenv("PROMPTLANE_CI_RESULTS")
    code, out = workflow_ci(root, capsys, root.parent / "runner-temp" / "ci-results")  # $RUNNER_TEMP/ci-results
    assert f"{PID} ... error" in out, out  # CI's run produced nothing
    assert json.loads((root / LOCK).read_text())["environments"]["prod"] == broken
    assert code != 0, f"CI passed prod serving {broken} on the committed 'CI results':\n{out}"
