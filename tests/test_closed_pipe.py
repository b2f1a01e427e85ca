"""A closed pipe ends every command quietly (``promptlane approve ... | head -1``).

Each command of the command line runs twice on two copies of the same repository, in its own
process: once with its output read in full, once with stdout (or stdout and stderr) a pipe
whose reader is already gone. The second run must end with exit 141, as a process killed by
SIGPIPE does, print no traceback, and leave exactly the files the first run left: a command
that writes (approve, sync, promote ...) finishes its work before its output meets the pipe.
test_everyday.py has the reader that goes away part-way (``status | head -1``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from conftest import BIN, snapshot_tree
from governed import PID, commit, new_version, pl, write_results
from signing import Keys, release, run, setup_base

EXIT_PIPE = 141
Setup = Callable[[Path, object], None]


def nothing(root: Path, capsys) -> None:
    """The scaffold as rendered and committed."""


def edited(root: Path, capsys) -> None:
    (root / f"prompts/{PID}/system.md").open("a", encoding="utf-8").write("Keep replies short.\n")


def released(root: Path, capsys) -> None:
    """1.0.1 in staging and prod, signed by each role's reviewer, committed; then 1.0.2 in staging."""
    keys = Keys()
    setup_base(root, keys, capsys)
    release(root, capsys, keys)
    commit(root, "released 1.0.1")
    new_version(root, capsys, "Answer in the customer's language.")
    write_results(root, "2026-12-01T09:00:00Z")
    release(root, capsys, keys, envs=("staging",))
    commit(root, "1.0.2 in staging")


def ready_for_staging(root: Path, capsys) -> None:
    keys = Keys()
    setup_base(root, keys, capsys)
    code, out = run(root, capsys, "approve", PID, "--role", "PM", "--key", str(keys.private("pm@example.com")),
                    "--all-confirmed", actor="pm@example.com")
    assert code == 0, out
    commit(root, "approved")


def retire_approved(root: Path, capsys) -> None:
    released(root, capsys)
    keys = Keys()
    code, out = run(root, capsys, "approve", PID, "--retire", "--role", "Governance",
                    "--key", str(keys.private("governance@example.com")), actor="governance@example.com")
    assert code == 0, out


def a_prompty_file(root: Path, capsys) -> None:
    (root / "reply.prompty").write_text("---\nmodel: {id: gpt-4o-mini, provider: openai}\ninputs: {q: {kind: string}}\n"
                                        "---\nsystem:\nBe brief.\n\nuser:\n{{q}}\n", encoding="utf-8")


def trace_log(root: Path, capsys) -> None:
    (root / "trace.jsonl").write_text('{"trace_id": "a",}\n', encoding="utf-8")




COMMANDS: list[tuple[str, Setup, tuple[str, ...]]] = [
    ("check-a-problem", edited, ("check", f"prompts/{PID}/card.yml")),
    ("sync", edited, ("sync",)),
    ("hook", edited, ("hook", "--deleted", f"prompts/{PID}/system.md")),
    ("new", nothing, ("new", "welcome-mail", "--title", "Welcome mail")),
    ("audit-verify", released, ("audit", "verify", "--full")),
    ("audit-seal", released, ("audit", "seal")),
    ("eval-plan", edited, ("eval", "plan")),
    ("approve", released, ("approve", PID, "--role", "PM", "--key", "{key:pm@example.com}", "--all-confirmed")),
    ("approve-refused", nothing, ("approve", PID, "--role", "PM")),
    ("promote", ready_for_staging, ("promote", PID, "--to", "staging")),
    ("rollback", released, ("rollback", PID, "--env", "staging", "--reason", "a bad week")),
    ("retire", retire_approved, ("retire", PID, "--reason", "replaced by support-reply-v2")),
    ("status", released, ("status",)),
    ("status-json", released, ("status", "--json")),
    ("registry-export", released, ("registry", "export", "json", "bundle.json")),
    ("report", released, ("report", "--html", "report.html")),
    ("report-markdown", released, ("report", "--markdown")),
    ("diff", released, ("diff", PID)),
    ("log-validate", trace_log, ("log", "validate", "trace.jsonl")),
    ("import", a_prompty_file, ("import", "reply.prompty")),
    ("export", released, ("export", PID, "--format", "prompty")),
    ("unknown-command", nothing, ("statuss",)),
    ("help", nothing, ("--help",)),
]


ARGPARSE_SPEAKS = {"help", "unknown-command"}
STDERR_ONLY = {"approve-refused", "unknown-command"}  # a refusal says why on stderr: only closing both meets it
CASES = [pytest.param(name, setup, args, closed, id=f"{name}-{closed}")
         for name, setup, args in COMMANDS for closed in ("stdout", "both")
         if not (closed == "stdout" and name in STDERR_ONLY)]


def _argv(args: tuple[str, ...]) -> list[str]:
    from keys import key_for

    return [str(key_for(a[5:-1])) if a.startswith("{key:") else a for a in args]


def _env(args: tuple[str, ...]) -> dict[str, str]:
    env = dict(os.environ)
    if args[:1] == ("approve",) and "--role" in args:
        env["PROMPTLANE_ACTOR"] = "pm@example.com"
    return env


def _run(root: Path, args: tuple[str, ...], closed: str) -> subprocess.CompletedProcess:
    """The command in its own process; ``closed``: '' (read in full), 'stdout' or 'both'."""
    argv = [str(BIN / "promptlane"), *_argv(args)]
    if not closed:
        return subprocess.run(argv, cwd=root, env=_env(args), capture_output=True, text=True, timeout=120)
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(argv, cwd=root, env=_env(args), stdout=write, text=True, timeout=120,
                              stderr=write if closed == "both" else subprocess.PIPE)
    finally:
        os.close(write)


def _tree(root: Path) -> dict[str, bytes]:
    return {rel: data for rel, data in snapshot_tree(root).items() if not rel.startswith(".promptlane/cache")}


@pytest.mark.parametrize("name,setup,args,closed", CASES)
def test_a_closed_pipe_ends_the_command_quietly_with_its_work_done(gov, capsys, tmp_path, name, setup, args, closed):
    setup(gov, capsys)
    capsys.readouterr()
    twin = tmp_path / "twin" / gov.name  # the same folder name: the report names it
    shutil.copytree(gov, twin, symlinks=True)

    full = _run(gov, args, closed="")
    assert full.stdout or name in STDERR_ONLY, f"{name} printed nothing: the pipe is never met\n{full.stderr}"
    cut = _run(twin, args, closed=closed)

    # argparse's own messages (--help, a misspelt command) swallow the error and keep their code.
    assert cut.returncode == (full.returncode if name in ARGPARSE_SPEAKS else EXIT_PIPE), (cut.returncode, cut.stderr)
    if closed == "stdout":
        for noise in ("Traceback", "BrokenPipeError", "Exception ignored"):
            assert noise not in cut.stderr, cut.stderr
    assert _tree(twin) == _tree(gov), f"{name}: the run into a closed pipe left other files than the full run"


def test_every_command_of_the_command_line_is_in_the_table():
    from promptlane.cli import build_parser

    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # argparse keeps them only here
    tried = {args[0] for _, _, args in COMMANDS}
    assert commands - tried == {"init", "merge-driver"}, commands - tried  # each has its own test below


def test_init_into_a_closed_pipe_renders_the_whole_repository(tmp_path):
    for where in ("full", "cut"):
        (tmp_path / where).mkdir()
    full = subprocess.run([str(BIN / "promptlane"), "init", "prompts", "--no-input"], cwd=tmp_path / "full",
                          capture_output=True, text=True, timeout=120)
    assert full.returncode == 0 and full.stdout, full.stdout + full.stderr
    read, write = os.pipe()
    os.close(read)
    try:
        cut = subprocess.run([str(BIN / "promptlane"), "init", "prompts", "--no-input"], cwd=tmp_path / "cut",
                             stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert cut.returncode == EXIT_PIPE and "Traceback" not in cut.stderr, cut.stderr
    assert snapshot_tree(tmp_path / "cut" / "prompts") == snapshot_tree(tmp_path / "full" / "prompts")


def test_the_merge_driver_prints_nothing_on_stdout(gov, capsys):
    """git runs the merge driver itself and reads only its exit code and the files: there is no
    stdout for a reader to close (so it has no row in the table above)."""
    for name in ("base", "ours", "theirs"):
        shutil.copy(gov / "audit/artifact-audit-log.md", gov / name)
    code, out = pl(gov, capsys, "merge-driver", "audit", *(str(gov / name) for name in ("base", "ours", "theirs")))
    assert code == 0 and not out.strip(), out
