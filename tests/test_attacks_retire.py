"""Attacks on retirement by someone who can push but may not decide (tests/test_attacks.py's style).

mallory@example.com has write access, reviews nothing, and her key is on no list. On the
protected main, support-reply 1.0.1 was released to staging and prod by five reviewers. Each
test scripts one attack on a pull request (``release/feature``): taking the prompt out of
production without the retire rule's signed approvals, or bringing a retired prompt back.
Whatever a command refuses (changing no file) she then does by hand. The attack fails when CI
(`promptlane check --all --base main` and `promptlane audit verify --full --base main`)
refuses her branch, and the case's codes were reported by a refused command or by CI.

EXPECTED is the one place that says which code each case must produce ("A|B": either).
"""
from __future__ import annotations

import json
import re
import shutil

import pytest

from conftest import git, snapshot_tree
from governed import LOCK, PID, commit
from signing import (BASE, MALLORY, REVIEWER_OF, Attack, Keys, changed_files, edit_policy, open_branch, released_base,
                     run, scratch_copy)
from test_retire import RETIRE_AT

EXPECTED = {
    "served-prompt-deleted-by-hand": ("PL124",),
    "step-file-deleted": ("PL130",),
    "retired-without-approval": ("PL650",),
    "retirement-forged-under-own-policy": ("PL651",),
    "retired-by-hand-editing-the-lock": ("PL215|PL651",),
    "revived-by-hand-editing-the-lock": ("PL652",),
    "revived-by-restoring-the-folder": ("PL125",),
    "retirement-approved-by-mallory": ("PL505|PL650",),
}
FOLDER = f"prompts/{PID}"
GOVERNANCE = REVIEWER_OF["Governance"]


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> Keys:
    return Keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def base(gov, keys, capsys, monkeypatch):
    """The honest main: 1.0.1 served in dev, staging and prod (five reviewers' signed approvals)."""
    released_base(gov, keys, capsys)
    return gov


@pytest.fixture
def attack(base, monkeypatch, capsys, keys) -> Attack:
    return Attack(open_branch(base, monkeypatch, RETIRE_AT), capsys, keys)


def stopped(attack: Attack, case: str) -> None:
    code, out = attack.verdict()
    assert code != 0, f"{case}: CI passed the attack\n{out}"
    for wanted in EXPECTED[case]:
        assert re.search(rf"\b(?:{wanted})\b", out), f"{case}: no {wanted} reported\n{out}"


def forge_retirement(root, capsys) -> None:
    """What `promptlane retire` writes, made in a scratch copy whose committed policy lets
    mallory's own approval count (she lists herself as Governance with her key there), then
    taken back: lock, logs and the folder's removal (her approval form stays behind)."""
    scratch = scratch_copy(root)
    text = (scratch / "reviews/reviewers.yml").read_text(encoding="utf-8")
    (scratch / "reviews/reviewers.yml").write_text(text.replace('"Governance":\n', f'"Governance":\n  - {MALLORY}\n'), encoding="utf-8")
    keys = Keys()
    with open(scratch / "reviews/allowed_signers", "a", encoding="utf-8") as handle:
        handle.write(f'{MALLORY} namespaces="promptlane" {keys.public(MALLORY)}\n')
    commit(scratch, "mallory governs")
    code, out = run(scratch, capsys, "approve", PID, "--retire", "--role", "Governance", "--key", str(keys.private(MALLORY)),
                    actor=MALLORY)
    assert code == 0, out
    before = snapshot_tree(scratch)
    code, out = run(scratch, capsys, "retire", PID, "--reason", "mallory says so", actor=MALLORY)
    assert code == 0, f"the forgery itself failed:\n{out}"
    after = snapshot_tree(scratch)
    for rel in changed_files(before, after):
        target = root / rel
        if rel in after:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(after[rel])
        elif target.exists():
            target.unlink()
    shutil.rmtree(scratch)


def retire_honestly(root, capsys, keys: Keys) -> None:
    code, out = run(root, capsys, "approve", PID, "--retire", "--role", "Governance", "--key", str(keys.private(GOVERNANCE)),
                    actor=GOVERNANCE)
    assert code == 0, out
    code, out = run(root, capsys, "retire", PID, "--reason", "replaced")
    assert code == 0, out


def test_the_honest_retirement_passes_ci(attack, keys, capsys):
    retire_honestly(attack.root, capsys, keys)
    code, out = attack.verdict()
    assert code == 0, out


def test_a_served_prompt_deleted_by_hand(attack):
    git(attack.root, "rm", "-r", "-q", FOLDER)
    (attack.root / "prompts").mkdir(exist_ok=True)
    (attack.root / "prompts/.gitkeep").write_text("")  # prompts/ kept, as a repository with other prompts has it
    stopped(attack, "served-prompt-deleted-by-hand")


def test_a_step_file_deleted(attack):
    git(attack.root, "rm", "-q", f"{FOLDER}/user.md")
    stopped(attack, "step-file-deleted")


def test_retired_without_approval(attack):
    assert not attack.attempt("retire", PID, "--reason", "mallory says so")
    forge_retirement(attack.root, attack.capsys)
    stopped(attack, "retired-without-approval")


def test_a_retirement_forged_under_her_own_rules(attack):
    forge_retirement(attack.root, attack.capsys)
    stopped(attack, "retirement-forged-under-own-policy")


def test_retired_by_hand_editing_the_lock(attack):
    doc = json.loads((attack.root / LOCK).read_text(encoding="utf-8"))
    doc["environments"] = {env: None for env in doc["environments"]}
    doc["retired"] = {"time": RETIRE_AT, "actor": MALLORY, "reason": "quietly"}
    (attack.root / LOCK).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(attack.root / FOLDER)
    (attack.root / "prompts/.gitkeep").write_text("")
    stopped(attack, "retired-by-hand-editing-the-lock")


def _retired_on_main(base, capsys, keys, monkeypatch) -> Attack:
    """main retired support-reply honestly; mallory's branch starts from there."""
    monkeypatch.setenv("PROMPTLANE_NOW", RETIRE_AT)
    retire_honestly(base, capsys, keys)
    commit(base, "retired support-reply")
    return Attack(open_branch(base, monkeypatch, "2026-12-01T13:00:00Z"), capsys, keys)


def test_revived_by_hand_editing_the_lock(base, capsys, keys, monkeypatch):
    attack = _retired_on_main(base, capsys, keys, monkeypatch)
    doc = json.loads((attack.root / LOCK).read_text(encoding="utf-8"))
    doc.pop("retired")
    doc["environments"] = {"dev": "1.0.1", "staging": "1.0.1", "prod": "1.0.1"}
    (attack.root / LOCK).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    git(attack.root, "checkout", "HEAD~1", "--", FOLDER)
    stopped(attack, "revived-by-hand-editing-the-lock")


def test_revived_by_restoring_the_folder(base, capsys, keys, monkeypatch):
    attack = _retired_on_main(base, capsys, keys, monkeypatch)
    git(attack.root, "checkout", "HEAD~1", "--", FOLDER)
    for args in (("sync",), ("promote", PID, "--to", "staging")):
        assert not attack.attempt(*args)
    stopped(attack, "revived-by-restoring-the-folder")


def test_a_retirement_approved_by_mallory(attack, keys):
    attack.attempt("approve", PID, "--retire", "--role", "Governance", "--key", str(keys.private(MALLORY)))
    edit_policy(attack.root, lambda doc: None)  # the policy unchanged (rewritten): her approval is all she has
    assert not attack.attempt("retire", PID, "--reason", "mallory says so")
    forge_retirement(attack.root, attack.capsys)
    stopped(attack, "retirement-approved-by-mallory")


def test_ci_refuses_against_the_base_not_only_the_working_tree(attack, capsys):
    """The forged retirement passes a check judged under the branch's own files (her reviewers),
    and fails under the base's: rules come from the base."""
    forge_retirement(attack.root, capsys)
    commit(attack.root, "forged")
    code, out = run(attack.root, capsys, "check", "--all", "--base", BASE)
    assert code == 1 and "PL651" in out, out
