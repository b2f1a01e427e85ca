"""store/git.py's memo: within ``memoized()`` a git command runs once; check runs inside it.

Real git throughout: a shim on PATH logs each invocation, then runs the real git.
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from conftest import committed_scaffold, git

from promptlane.cli import main as cli_main
from promptlane.store import git as store_git


def _commit(root: Path, message: str) -> str:
    (root / "note.txt").write_text(message, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").stdout.strip()


def test_within_memoized_an_answer_is_kept_and_outside_it_is_asked_again(tmp_path):
    """The contract check relies on, and why only a run that writes nothing may use it: a
    commit made inside the block is not seen there, and is seen once the block ends."""
    git(tmp_path, "init", "-q", "-b", "main")
    first = _commit(tmp_path, "one")
    with store_git.memoized():
        assert store_git.resolve(tmp_path, "HEAD") == first
        second = _commit(tmp_path, "two")
        assert store_git.resolve(tmp_path, "HEAD") == first  # the kept answer
        with store_git.memoized():  # nested: the same answers, and leaving it keeps them
            assert store_git.resolve(tmp_path, "HEAD") == first
        assert store_git.resolve(tmp_path, "HEAD") == first
    assert store_git.resolve(tmp_path, "HEAD") == second != first


def _git_shim(folder: Path, log: Path) -> Path:
    """A ``git`` that appends its arguments (one line, NUL-separated) to ``log``, then runs git."""
    real = shutil.which("git")
    assert real is not None
    folder.mkdir()
    shim = folder / "git"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\0" "$@" >> "{log}"\necho >> "{log}"\nexec "{real}" "$@"\n',
                    encoding="utf-8")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return folder


def test_check_all_asks_each_git_question_once(scaffold, tmp_path, monkeypatch, capsys):
    """HEAD's commit and the policy at HEAD are wanted by several of check's parts: git is run
    once for each distinct question (before, some ran two or three times)."""
    root = committed_scaffold(scaffold, tmp_path / "governed")
    log = tmp_path / "git.log"
    monkeypatch.setenv("PATH", f"{_git_shim(tmp_path / 'bin', log)}{os.pathsep}{os.environ['PATH']}")
    assert cli_main(["-C", str(root), "check", "--all"]) == 0, capsys.readouterr().out
    asked = [line for line in log.read_text(encoding="utf-8").splitlines() if line]
    assert asked, "check --all asked git nothing: the shim was not used"
    assert len(asked) == len(set(asked)), sorted(a.replace("\0", " ") for a in asked if asked.count(a) > 1)
