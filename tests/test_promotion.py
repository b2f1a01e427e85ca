"""Promotion and rollback, end to end, in a repository rendered from the template, real git.

Shared helpers are in governed.py, the `gov` fixture in conftest.py. Eval result files are
written directly: they are the gate's input (the eval runner is tested elsewhere).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git, snapshot_tree
from governed import (AUDIT, CARD, PID, card, changelog,
                      clock, commit, edit_text, lock, new_version, pl, ready_for, write_results)
from promptlane.core.chain import verify_text

# ---------------------------------------------------------------- the whole life of a prompt


def test_edit_approve_promote_demote_rollback(gov, capsys, monkeypatch):
    root = gov
    assert pl(root, capsys, "check")[0] == 0  # a fresh scaffold is consistent
    assert new_version(root, capsys) == "1.0.1"
    commit(root, "edit")

    before = snapshot_tree(root)
    code, out = pl(root, capsys, "promote", PID, "--to", "staging")
    assert code == 1
    assert "PL603" in out and "promptlane eval run support-reply" in out
    assert "PL608" in out and "promptlane approve support-reply --role PM" in out
    assert snapshot_tree(root) == before  # a refusal changes nothing

    clock(monkeypatch, "2026-12-01T10:00:00Z")
    ready_for(root, capsys, monkeypatch, "staging", "2026-12-01T09:30:00Z")
    form = (root / f"reviews/{PID}/1.0.1/pm-pm.md").read_text()
    assert 'reviewer: "pm@example.com"' in form and card(root)["hash"] in form
    assert "| accuracy | 4 | 4 | 100.0% |" in form and "## Checklist: PM" in form and "## Checklist: QA" not in form

    code, out = pl(root, capsys, "promote", PID, "--to", "staging", "--reason", "ready for QA")
    assert code == 0, out
    assert "notify: promptlane: support-reply 1.0.1" in out and "now served in staging" in out
    assert card(root)["environment"] == "staging"
    assert lock(root)["environments"] == {"dev": "1.0.1", "staging": "1.0.1", "prod": None}
    last = changelog(root)[-1]
    assert (last["event"], last["version"], last["environments"]) == ("promote", "1.0.1", {"dev": "1.0.1", "staging": "1.0.1"})
    assert last["reason"].startswith("ready for QA [gates:") and "PM: pm@example.com" in last["reason"]
    assert pl(root, capsys, "check")[0] == 0
    commit(root, "staging")

    code, out = pl(root, capsys, "promote", PID, "--to", "prod")
    assert code == 1 and out.count("PL608") == 4  # PM approved already; four roles missing
    clock(monkeypatch, "2026-12-01T11:00:00Z")
    ready_for(root, capsys, monkeypatch, "prod", "2026-12-01T10:30:00Z")
    code, out = pl(root, capsys, "promote", PID, "--to", "prod")
    assert code == 0, out
    assert lock(root)["environments"]["prod"] == "1.0.1" and card(root)["environment"] == "prod"
    commit(root, "prod")

    # A change demotes: the new hash is back in dev; prod keeps serving 1.0.1.
    clock(monkeypatch, "2026-12-02T09:00:00Z")
    assert new_version(root, capsys, "Never promise refunds.") == "1.0.2"
    assert card(root)["environment"] == "dev"
    assert lock(root)["environments"] == {"dev": "1.0.2", "staging": "1.0.1", "prod": "1.0.1"}
    assert [e["event"] for e in changelog(root)[-2:]] == ["version", "demote"]
    # ... and the approvals of 1.0.1 do not carry over.
    write_results(root, "2026-12-02T09:10:00Z")
    code, out = pl(root, capsys, "promote", PID, "--to", "staging")
    assert code == 1 and "PL608" in out
    clock(monkeypatch, "2026-12-02T10:00:00Z")
    ready_for(root, capsys, monkeypatch, "staging", "2026-12-02T09:30:00Z")
    assert pl(root, capsys, "promote", PID, "--to", "staging")[0] == 0
    ready_for(root, capsys, monkeypatch, "prod", "2026-12-02T09:40:00Z")
    assert pl(root, capsys, "promote", PID, "--to", "prod")[0] == 0
    commit(root, "1.0.2 in prod")
    bad_text = (root / f"prompts/{PID}/system.md").read_text()

    # Roll prod back: 1.0.1 again, its texts and card restored from the store.
    clock(monkeypatch, "2026-12-03T08:00:00Z")
    code, out = pl(root, capsys, "rollback", PID, "--env", "prod", "--reason", "INC-1: cites a retired article")
    assert code == 0, out
    assert "Stakeholder notice" in out and "INC-1" in out and "notify: promptlane: support-reply 1.0.1" in out
    data = lock(root)
    assert data["environments"]["prod"] == "1.0.1"
    assert data["withdrawn"] == {"1.0.2": {"env": "prod", "time": "2026-12-03T08:00:00Z", "reason": "INC-1: cites a retired article",
                                           "actor": "dana@example.com"}}
    now = card(root)
    assert (now["version"], now["environment"]) == ("1.0.1", "prod")
    assert now["hash"] == data["versions"][1]["hash"]
    assert "Never promise refunds." not in (root / f"prompts/{PID}/system.md").read_text()
    last = changelog(root)[-1]
    assert (last["event"], last["version"]) == ("rollback", "1.0.1") and "1.0.2 withdrawn" in last["reason"]
    assert verify_text((root / AUDIT).read_text()) == []
    code, out = pl(root, capsys, "check")
    assert code == 0, out
    assert pl(root, capsys, "sync")[0] == 0  # consistent: sync changes nothing
    commit(root, "rollback")

    # The withdrawn text comes back: same hash, same version, but the gate refuses it...
    (root / f"prompts/{PID}/system.md").write_text(bad_text)
    pl(root, capsys, "sync")
    assert card(root)["version"] == "1.0.2"
    code, out = pl(root, capsys, "promote", PID, "--to", "staging")
    assert code == 1 and "PL607" in out and "withdrawn from prod" in out
    # ... until eval results newer than the withdrawal exist.
    write_results(root, "2026-12-03T09:00:00Z")
    clock(monkeypatch, "2026-12-03T09:30:00Z")
    code, out = pl(root, capsys, "promote", PID, "--to", "staging")
    assert code == 0, out

    # Versions never go down: the next edit is numbered above every version ever issued.
    assert new_version(root, capsys, "A new idea.") == "1.0.3"


# ---------------------------------------------------------------- hand edit + sync == promote


def _staging_ready(gov, capsys, monkeypatch) -> Path:
    new_version(gov, capsys)
    ready_for(gov, capsys, monkeypatch, "staging", "2026-12-01T08:30:00Z")
    commit(gov, "ready")
    return gov


def test_hand_raised_environment_through_sync_agrees_with_promote(gov, capsys, monkeypatch, tmp_path):
    root = _staging_ready(gov, capsys, monkeypatch)
    twin = tmp_path / "twin"
    shutil.copytree(root, twin, symlinks=True)

    assert pl(root, capsys, "promote", PID, "--to", "staging")[0] == 0

    path = twin / CARD
    path.write_text(path.read_text().replace("environment: dev", "environment: staging"))
    code, out = pl(twin, capsys, "check")
    assert code == 1 and "PL160" in out and "every gate passes" in out
    code, out = pl(twin, capsys, "sync", str(twin / CARD))
    assert code == 1 and "promoted 1.0.1 to staging" in out and "notify: promptlane" in out
    assert pl(twin, capsys, "sync")[0] == 0  # idempotent
    assert pl(twin, capsys, "check")[0] == 0

    assert lock(twin) == lock(root)
    assert (twin / CARD).read_bytes() == (root / CARD).read_bytes()
    strip = [{k: v for k, v in e.items() if k != "reason"} for e in changelog(root)]
    assert [{k: v for k, v in e.items() if k != "reason"} for e in changelog(twin)] == strip
    assert verify_text((twin / AUDIT).read_text()) == []


def test_hand_raised_environment_without_gates_is_refused_by_sync_and_check(gov, capsys, monkeypatch):
    root = gov
    new_version(root, capsys)
    commit(root, "edit")
    path = root / CARD
    path.write_text(path.read_text().replace("environment: dev", "environment: staging"))
    before = snapshot_tree(root)
    for command in ("sync", "check"):
        code, out = pl(root, capsys, command)
        assert code == 1
        assert "PL603" in out and "PL608" in out
        assert ("PL160" in out) == (command == "check")  # check heads the list with the card-level finding
    assert snapshot_tree(root) == before
    # Two steps at once by hand: prod needs staging first (allow_skip: false); sync and check
    # say so in one line, with the environment to put back, and change nothing.
    path.write_text(path.read_text().replace("environment: staging", "environment: prod"))
    before = snapshot_tree(root)
    for command in ("sync", "check"):
        code, out = pl(root, capsys, command)
        assert code == 1 and out.startswith(f"{CARD}:23:14: PL163 environment: prod skips staging"), out
        assert "set it back to environment: dev" in out and "promptlane promote support-reply --to staging" in out
    assert snapshot_tree(root) == before


# ---------------------------------------------------------------- refusals and edge cases


@pytest.mark.parametrize("args,code,needle", [
    (["promote", PID, "--to", "qa"], 2, "not an environment"),
    (["promote", PID, "--to", "dev"], 0, "already serves"),
    (["promote", "nope", "--to", "staging"], 2, "no prompt 'nope'"),
    (["rollback", PID, "--env", "prod", "--reason", "x"], 2, "serves no version"),
    (["rollback", PID, "--env", "dev", "--reason", "x"], 2, "no earlier version"),
    (["rollback", PID, "--env", "dev", "--to", "9.9.9", "--reason", "x"], 2, "never served dev"),
    (["rollback", PID, "--env", "dev", "--reason", " "], 2, "--reason is required"),
])
def test_usage_refusals(gov, capsys, args, code, needle):
    before = snapshot_tree(gov)
    got, out = pl(gov, capsys, *args)
    assert (got, needle in out) == (code, True), out
    assert snapshot_tree(gov) == before


def test_unsynced_card_cannot_be_promoted(gov, capsys):
    edit_text(gov)
    code, out = pl(gov, capsys, "promote", PID, "--to", "staging")
    assert code == 1 and "PL153" in out and "promptlane sync" in out


def test_branch_gate(gov, capsys, monkeypatch):
    root = _staging_ready(gov, capsys, monkeypatch)
    git(root, "switch", "-q", "-c", "feature/x")
    assert pl(root, capsys, "promote", PID, "--to", "staging")[0] == 0  # staging: any branch
    ready_for(root, capsys, monkeypatch, "prod", "2026-12-01T08:40:00Z")
    code, out = pl(root, capsys, "promote", PID, "--to", "prod")
    assert code == 1 and "PL602" in out and "branch 'feature/x'" in out and "main, release/*" in out
    git(root, "switch", "-q", "-c", "release/2026-12")
    assert pl(root, capsys, "promote", PID, "--to", "prod")[0] == 0


def test_rollback_picks_the_last_version_served_that_was_not_withdrawn(gov, capsys, monkeypatch):
    root = gov
    hours = iter(range(10, 24))
    for text in ("one", "two"):
        new_version(root, capsys, text)
        clock(monkeypatch, f"2026-12-01T{next(hours)}:00:00Z")
        ready_for(root, capsys, monkeypatch, "staging", f"2026-12-01T{next(hours)}:00:00Z")
        assert pl(root, capsys, "promote", PID, "--to", "staging")[0] == 0
    assert lock(root)["environments"]["staging"] == "1.0.2"
    assert pl(root, capsys, "rollback", PID, "--env", "staging", "--reason", "bad")[0] == 0
    assert lock(root)["environments"]["staging"] == "1.0.1"
    # 1.0.2 is withdrawn and 1.0.0 never served staging: nothing earlier to go to, so the
    # next rollback is refused rather than guessed; naming the withdrawn version is refused too.
    code, out = pl(root, capsys, "rollback", PID, "--env", "staging", "--reason", "also bad")
    assert code == 2 and "no earlier version" in out
    code, out = pl(root, capsys, "rollback", PID, "--env", "staging", "--to", "1.0.2", "--reason", "x")
    assert code == 2 and "withdrawn" in out


def test_rollback_refused_while_a_higher_environment_serves_the_version(gov, capsys, monkeypatch):
    root = _staging_ready(gov, capsys, monkeypatch)
    assert pl(root, capsys, "promote", PID, "--to", "staging")[0] == 0
    ready_for(root, capsys, monkeypatch, "prod", "2026-12-01T08:40:00Z")
    assert pl(root, capsys, "promote", PID, "--to", "prod")[0] == 0
    code, out = pl(root, capsys, "rollback", PID, "--env", "staging", "--reason", "x")
    assert code == 2 and "prod also serve(s) 1.0.1" in out


def test_rollback_leaves_work_in_progress_alone(gov, capsys, monkeypatch):
    root = _staging_ready(gov, capsys, monkeypatch)
    assert pl(root, capsys, "promote", PID, "--to", "staging")[0] == 0
    new_version(root, capsys, "work in progress")
    wip = (root / CARD).read_bytes()
    code, out = pl(root, capsys, "rollback", PID, "--env", "staging", "--to", "1.0.0", "--reason", "x")
    assert code == 2  # 1.0.0 never served staging
    assert (root / CARD).read_bytes() == wip


def test_notify_failure_is_reported_and_undoes_nothing(gov, capsys, monkeypatch):
    root = _staging_ready(gov, capsys, monkeypatch)
    policy = root / "workflows/policy-as-code-example.yml"
    policy.write_text(policy.read_text().replace("notify: 'echo", "notify: 'no-such-notifier-binary", 1))
    code, out = pl(root, capsys, "promote", PID, "--to", "staging")
    assert code == 0 and "notify failed" in out and "the promote stands" in out
    assert lock(root)["environments"]["staging"] == "1.0.1"


def test_notify_arguments_are_never_shell_interpreted():
    from promptlane.operations.promotion import notify_argv as _argv

    values = {"PROMPTLANE_PROMPT": "p; rm -rf /", "PROMPTLANE_ENV": "prod"}
    assert _argv('notify-send "to ${PROMPTLANE_ENV}" $PROMPTLANE_PROMPT $HOME', values) == [
        "notify-send", "to prod", "p; rm -rf /", "$HOME"]


@pytest.mark.slow
def test_a_promotion_killed_midway_is_put_back_by_the_next_run(gov, capsys, monkeypatch):
    root = _staging_ready(gov, capsys, monkeypatch)
    before = snapshot_tree(root)
    env = {**os.environ, "PROMPTLANE_FAULT_AT": f"rename:{CARD}"}
    done = subprocess.run([sys.executable, "-m", "promptlane.cli", "-C", str(root), "promote", PID, "--to", "staging"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 70  # killed after the card was replaced, before the lock
    assert pl(root, capsys, "check")[0] == 1  # the journal is reported
    code, out = pl(root, capsys, "sync")
    assert "Put back" in out
    assert snapshot_tree(root) == before  # every file as it was, no backup left behind
