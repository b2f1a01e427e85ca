"""Attacks through `.promptlane/`, a clone's own local state (tried while measuring issue 20).

.gitignore keeps `.promptlane/` out of commits, but `git add -f` does not care. mallory, who can
push, commits an audit record (`.promptlane/cache/audit.json`, the record `audit verify` keeps
of what it proved) that describes her forged audit log as already verified: the CRC-32 of a
file anyone can read is no proof. The record holds the size and mtime (ns) of every lock as this
clone wrote it: in any other clone, CI's fresh checkout too, they differ, so the record proves
nothing there and the log is verified in full; `audit verify --base` never reads the record.
"""
from __future__ import annotations

import json
import subprocess
import zlib
from pathlib import Path

from conftest import committed_scaffold, git
from promptlane.cli import main as cli_main

LOG = "audit/artifact-audit-log.md"
RECORD = ".promptlane/cache/audit.json"


def _run(root: Path, capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli_main(["-C", str(root), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _main(scaffold: Path, tmp_path: Path, capsys) -> Path:
    """An honest main: the scaffold and one synced edit, committed and verified."""
    work = committed_scaffold(scaffold, tmp_path / "work")
    system = work / "prompts/support-reply/system.md"
    system.write_text(system.read_text(encoding="utf-8") + "Keep replies short.\n", encoding="utf-8")
    assert _run(work, capsys, "sync")[0] == 1
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "1.0.1")
    assert _run(work, capsys, "audit", "verify") == (0, "audit log: chain intact, registry consistent\n")
    return work


def _forge_a_row(work: Path) -> None:
    """A row appended by hand: the next seq, chained to the last row, with a made-up row hash."""
    path = work / LOG
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = [cell.strip() for cell in lines[-1].strip("|").split("|")]
    cells[0] = str(int(cells[0]) + 1)
    cells[7] = "forged by hand"
    cells[8], cells[9] = cells[9], "f" * 64
    path.write_text("\n".join(lines + ["| " + " | ".join(cells) + " |"]) + "\n", encoding="utf-8")


def _record_claiming_the_log(work: Path) -> None:
    """The record rewritten to say the whole current log was verified: its size and CRC-32, and
    its last row as the chain's head."""
    record = json.loads((work / RECORD).read_text(encoding="utf-8"))
    raw = (work / LOG).read_bytes()
    last = [cell.strip() for cell in raw.decode("utf-8").splitlines()[-1].strip("|").split("|")]
    record["audit"].update(size=len(raw), crc32=zlib.crc32(raw), seq=int(last[0]), head=last[9])
    (work / RECORD).write_text(json.dumps(record), encoding="utf-8")


def test_a_committed_audit_record_vouches_for_a_forged_row(scaffold, tmp_path, capsys):
    work = _main(scaffold, tmp_path, capsys)
    git(work, "checkout", "-q", "-b", "mallory")
    _forge_a_row(work)
    assert _run(work, capsys, "audit", "verify", "--full")[0] == 1  # what the row is
    _record_claiming_the_log(work)
    git(work, "add", "-A")
    git(work, "add", "-f", RECORD)
    git(work, "commit", "-q", "-m", "tidy the log")
    ci = tmp_path / "ci"
    subprocess.run(["git", "clone", "-q", "-b", "mallory", str(work), str(ci)], check=True)
    git(ci, "fetch", "-q", "origin", "main:main")
    for args in (("audit", "verify"), ("audit", "verify", "--base", "main")):  # the hook's run, CI's step
        code, out = _run(ci, capsys, *args)
        assert code == 1 and "row 4" in out, f"promptlane {' '.join(args)} -> {code}\n{out}"
