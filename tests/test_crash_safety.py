"""Fault injection: sync, promote, rollback and audit seal killed at every step of their transaction.

``promptlane.store.fsio`` dies with ``os._exit(70)`` where ``PROMPTLANE_FAULT_AT`` names a step:
``temp`` (the first new content written beside its target), ``journal`` (the undo journal
written, nothing applied yet), ``append:<rel>`` (after appending to one file), ``rename:<rel>``
(after replacing one file). For each command the steps are discovered by running it once,
uninterrupted, with the fault hook recording instead of killing (that run is also the
reference result); the parametrised step lists below must match what was discovered.

For every step, the killed run must be recoverable:

1. ``promptlane check`` reports the pending journal (PL190) and changes nothing;
2. the next ``promptlane sync`` puts every file back byte-for-byte as it was before the killed
   run (a sync limited to a non-prompt file only recovers; a plain sync recovers and then does
   its own work) and leaves no ``*.promptlane-tmp`` / ``*.promptlane-bak`` behind;
3. running the original command again succeeds and ends exactly where an uninterrupted run ends.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import snapshot_tree
from governed import PID, approve_as, clock, commit, new_version, pl, write_results

pytestmark = pytest.mark.slow  # one python process per step: ~20 s in all

RUN_AT = "2026-12-01T12:00:00Z"  # the clock of the command under test (reference and killed runs)
CARD = f"prompts/{PID}/card.yml"
AUDIT = "append:audit/artifact-audit-log.md"
CHANGELOG = "append:schemas/prompt-change-log.yml"
LOCK = f"rename:registry/{PID}.lock.json"

COMMANDS = {
    "sync": ["sync"],
    "promote": ["promote", PID, "--to", "staging", "--reason", "ready for QA"],
    "rollback": ["rollback", PID, "--env", "staging", "--reason", "INC-7: cites a retired article"],
    "seal": ["audit", "seal"],
}
STEPS = {
    "sync": ["journal", "temp", AUDIT, CHANGELOG, f"rename:{CARD}", f"rename:registry/store/{PID}/1.0.1.json", LOCK],
    # EVIDENCE: the blobs of the promotion's evidence (audit/evidence/<digest>), named by content
    "promote": ["journal", "temp", AUDIT, CHANGELOG, "EVIDENCE", f"rename:{CARD}", LOCK],
    "rollback": ["journal", "temp", AUDIT, CHANGELOG, f"rename:{CARD}", f"rename:prompts/{PID}/system.md",
                 f"rename:prompts/{PID}/user.md", LOCK],
    "seal": ["journal", "temp", "rename:audit/archive/0001/artifact-audit-log.md", "rename:audit/archive/0001/prompt-change-log.yml",
             "rename:audit/artifact-audit-log.md", "rename:schemas/prompt-change-log.yml"],
}


# ---------------------------------------------------------------- preparing each command


def _ready_for_staging(root: Path, capsys, monkeypatch, when: str) -> None:
    write_results(root, when)
    code, out = approve_as(root, capsys, monkeypatch, "PM")
    assert code == 0, out


def prepare(command: str, root: Path, capsys, monkeypatch) -> None:
    """The repository just before ``command``: it has real work to do."""
    if command == "sync":
        path = root / f"prompts/{PID}/system.md"
        path.write_text(path.read_text(encoding="utf-8") + "Keep replies short.\n", encoding="utf-8")
        return
    if command == "seal":
        new_version(root, capsys)  # two rows to seal
        return
    _ready_for_staging(root, capsys, monkeypatch, "2026-12-01T08:30:00Z")
    if command == "promote":
        return
    assert pl(root, capsys, *COMMANDS["promote"])[0] == 0  # staging serves 1.0.0 ...
    new_version(root, capsys)
    clock(monkeypatch, "2026-12-01T10:00:00Z")
    _ready_for_staging(root, capsys, monkeypatch, "2026-12-01T09:30:00Z")
    assert pl(root, capsys, *COMMANDS["promote"])[0] == 0  # ... then 1.0.1: rollback has an earlier version


@dataclass
class Prepared:
    base: Path                    # the prepared repository (copied for each test)
    before: dict[str, bytes]      # its files
    after: dict[str, bytes]       # the files after an uninterrupted run
    steps: list[str]              # fault points the uninterrupted run passed, in order


@pytest.fixture(scope="module")
def prepared_cache() -> dict:
    return {}


def prepared(command: str, cache: dict, gov: Path, capsys, monkeypatch, tmp_path_factory) -> Prepared:
    if command in cache:
        return cache[command]
    prepare(command, gov, capsys, monkeypatch)
    commit(gov, f"ready to {command}")
    base = tmp_path_factory.mktemp(f"crash-{command}") / "repo"
    shutil.copytree(gov, base, symlinks=True)
    reference = base.parent / "reference"
    shutil.copytree(base, reference, symlinks=True)
    steps: list[str] = []
    with monkeypatch.context() as mp:
        mp.setattr("promptlane.store.fsio._fault_point", lambda step: steps.append(step) if step not in steps else None)
        clock(mp, RUN_AT)
        code, out = pl(reference, capsys, *COMMANDS[command])
    assert code == (1 if command == "sync" else 0), out
    cache[command] = Prepared(base, snapshot_tree(base), snapshot_tree(reference), steps)
    return cache[command]


def leftovers(tree: dict) -> list[str]:
    return [path for path in tree if path.endswith((".promptlane-tmp", ".promptlane-bak"))]


def without_leftovers(tree: dict) -> dict:
    return {path: data for path, data in tree.items() if path not in leftovers(tree)}


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_step_lists_are_every_step_the_commands_pass(command, prepared_cache, gov, capsys, monkeypatch, tmp_path_factory):
    prep = prepared(command, prepared_cache, gov, capsys, monkeypatch, tmp_path_factory)
    blobs = [step for step in prep.steps if step.startswith("rename:audit/evidence/")]
    steps = [step for step in prep.steps if step not in blobs[1:]]
    assert [("EVIDENCE" if step in blobs else step) for step in steps] == STEPS[command]
    assert len(blobs) >= 2 if command == "promote" else not blobs  # the results and the policy at least
    assert prep.after != prep.before


CASES = [pytest.param(command, step, id=f"{command}@{step}") for command in sorted(COMMANDS) for step in STEPS[command]]


@pytest.mark.parametrize("command,step", CASES)
def test_a_run_killed_at_any_step_is_reported_and_put_back(command, step, prepared_cache, gov, capsys, monkeypatch,
                                                          tmp_path, tmp_path_factory):
    prep = prepared(command, prepared_cache, gov, capsys, monkeypatch, tmp_path_factory)
    if step == "EVIDENCE":  # the first blob: its name is its digest, known once the command ran
        step = next(s for s in prep.steps if s.startswith("rename:audit/evidence/"))
    root = tmp_path / "killed"
    shutil.copytree(prep.base, root, symlinks=True)
    clock(monkeypatch, RUN_AT)

    env = {**os.environ, "PROMPTLANE_FAULT_AT": step}
    done = subprocess.run([sys.executable, "-m", "promptlane.cli", "-C", str(root), *COMMANDS[command]],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 70, done.stdout + done.stderr  # killed right there
    killed = snapshot_tree(root)
    if step in ("journal", "temp"):
        # Nothing applied yet: only the journal, backups and temp files were written.
        assert {k: v for k, v in without_leftovers(killed).items() if k != ".promptlane/journal.json"} == prep.before
    if step not in ("temp", "journal"):
        assert without_leftovers(killed) != prep.before  # the kill left a half-applied change behind

    # 1. check reports the interrupted run and touches nothing.
    code, out = pl(root, capsys, "check")
    assert snapshot_tree(root) == killed
    assert code == 1 and ".promptlane/journal.json:1:1: PL190 an earlier promptlane run was interrupted" in out, out

    # 2a. A sync that touches no prompt only recovers: every file back byte-for-byte, nothing left over.
    recovered = tmp_path / "recovered"
    shutil.copytree(root, recovered, symlinks=True)
    code, out = pl(recovered, capsys, "sync", str(recovered / "README.md"))
    assert code == 1 and "Put back " in out, out
    assert snapshot_tree(recovered) == prep.before

    # 2b. The next plain sync recovers too (and, for sync, then does the interrupted work).
    code, out = pl(root, capsys, "sync")
    assert "Put back " in out, out
    expected = prep.after if command == "sync" else prep.before
    assert snapshot_tree(root) == expected
    assert not leftovers(snapshot_tree(root))

    # 3. The original command, run again, succeeds and ends where an uninterrupted run ends.
    code, out = pl(root, capsys, *COMMANDS[command])
    assert code == 0, out
    assert snapshot_tree(root) == prep.after
    assert pl(root, capsys, "check")[0] == 0
    assert pl(root, capsys, "audit", "verify")[0] == 0
