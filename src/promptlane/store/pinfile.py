"""``requirements.txt`` on disk: the promptlane version this repository pins (core/pin.py).

Every command reads it before anything else, so reading it must never hang or be slow: only
a regular file is read (a FIFO would block the open until a writer came; a device or folder
is not a requirements file), and only its first ``LIMIT`` bytes. A pin further down a file
that long is ignored; the rule in core/pin.py is linear in what it is given.
"""
from __future__ import annotations

import os
import stat

from promptlane import __version__
from promptlane.core.layout import REQUIREMENTS
from promptlane.core.pin import pin_problem
from promptlane.core.problems import Problem, UsageError
from promptlane.store.repo import Repo

LIMIT = 64 * 1024  # bytes of requirements.txt read; a pin after them is not seen


def _unreadable(reason: str) -> Problem:
    return Problem(REQUIREMENTS, 1, 1, "PL700", f"{reason}; make it a readable file or restore it from git")


def read_requirements(repo: Repo) -> str | Problem | None:
    """The text of requirements.txt's first ``LIMIT`` bytes (cut after its last whole line
    when the file is longer); None when there is no such file; a PL700 problem when it is not
    a regular file, cannot be read or is not UTF-8."""
    path = repo.root / REQUIREMENTS
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # stat first: opening a FIFO would block
            return _unreadable("is not a regular file")
        # O_NONBLOCK: were it swapped for a FIFO since the stat, the open returns at once and
        # the fstat below refuses it. No effect on a regular file.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:  # a dangling link, a permission, a loop of links
        return _unreadable(f"cannot be read ({exc.strerror or exc})")
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return _unreadable("is not a regular file")
            data = handle.read(LIMIT + 1)
    except OSError as exc:
        return _unreadable(f"cannot be read ({exc.strerror or exc})")
    if len(data) > LIMIT:  # longer than the limit: keep whole lines only, no half a version
        data = data[:LIMIT]
        data = data[:data.rfind(b"\n") + 1]
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Problem(REQUIREMENTS, 1, 1, "PL700", "is not valid UTF-8; save it as UTF-8")


def pin_problems(repo: Repo, running: str = __version__) -> list[Problem]:
    """`promptlane check`'s view of requirements.txt: unreadable (PL700) or pinning a newer
    promptlane (PL706)."""
    text = read_requirements(repo)
    if text is None or isinstance(text, Problem):
        return [] if text is None else [text]
    found = pin_problem(text, running)
    return [found] if found else []


def refuse_older_promptlane(repo: Repo, running: str = __version__) -> None:
    """Before a command judges or writes the repository: UsageError (exit 2) with PL706 when the
    running promptlane is older than the pin, so an out-of-date install never decides on files
    newer rules wrote. A requirements.txt that cannot be read is `promptlane check`'s to report."""
    text = read_requirements(repo)
    if not isinstance(text, str):
        return
    found = pin_problem(text, running)
    if found:
        raise UsageError(f"promptlane {running} is older than the version {REQUIREMENTS} pins; nothing was checked "
                         "or changed", [found])
