"""Where the append-only logs live: sealed segments, then the current one.

The audit log and the changelog only grow. Every commit appends to them, and pre-commit diffs
each file a hook modified before and after every hook, so a log of 100,000 rows would make every
commit pay for the whole history. ``promptlane audit seal`` moves both current files, byte for
byte, into the next numbered folder and starts them again from their headers:

    audit/archive/0001/artifact-audit-log.md   rows 1..n       (sealed: never written again)
    audit/archive/0001/prompt-change-log.yml   the same events
    audit/archive/0002/...
    audit/artifact-audit-log.md                the current segment: the chain continues here
    schemas/prompt-change-log.yml

Read in order, the segments are one log: the first row of a segment carries the hash of the last
row of the one before it. This module lists segments (in the working tree or at a git commit)
and reports folders that break the numbering; it reads nothing else.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from promptlane.core.layout import AUDIT_LOG, CHANGELOG
from promptlane.core.problems import Problem

ARCHIVE = "audit/archive"
AUDIT_NAME = AUDIT_LOG.rsplit("/", 1)[1]
CHANGELOG_NAME = CHANGELOG.rsplit("/", 1)[1]
_NUMBER = re.compile(r"^[0-9]{4,}\Z")


@dataclass(frozen=True)
class Segment:
    label: str            # "0001", "0002", ... or "current"
    audit_rel: str
    changelog_rel: str

    @property
    def sealed(self) -> bool:
        return self.label != "current"


CURRENT = Segment("current", AUDIT_LOG, CHANGELOG)


def folder(number: int) -> str:
    return f"{ARCHIVE}/{number:04d}"


def sealed_segment(number: int) -> Segment:
    return Segment(f"{number:04d}", f"{folder(number)}/{AUDIT_NAME}", f"{folder(number)}/{CHANGELOG_NAME}")


def _arrange(entries: Mapping[str, set[str] | None]) -> tuple[list[Segment], list[Problem]]:
    """Sealed segments in order from {entry name in audit/archive: names inside it, or None for
    an entry that is not a real folder (a file, a symlink)}."""
    problems: list[Problem] = []
    numbered = []
    for name, inside in sorted(entries.items()):
        if inside is None or not _NUMBER.match(name) or name != f"{int(name):04d}":
            problems.append(Problem(f"{ARCHIVE}/{name}", 1, 1, "PL216",
                                    "is not a sealed segment (folders 0001, 0002, ... only); move it out of audit/archive/"))
            continue
        numbered.append(int(name))
        for wanted in (AUDIT_NAME, CHANGELOG_NAME):
            if wanted not in inside:
                problems.append(Problem(f"{folder(int(name))}/{wanted}", 1, 1, "PL218",
                                        "is missing from its sealed segment; restore it from git"))
        for extra in sorted(inside - {AUDIT_NAME, CHANGELOG_NAME}):
            what = ("is not a plain file (a symlink or a folder); a sealed segment holds its two logs as files: restore it from git"
                    if extra.endswith("/") else "is not part of a sealed segment (it holds the two logs only); move it out of audit/archive/")
            problems.append(Problem(f"{folder(int(name))}/{extra.rstrip('/')}", 1, 1, "PL216", what))
    numbered.sort()
    for expected, number in enumerate(numbered, start=1):
        if number != expected:
            problems.append(Problem(folder(expected), 1, 1, "PL217",
                                    f"sealed segment {expected:04d} is missing (segments run 0001, 0002, ... without gaps); "
                                    "restore it from git"))
            break
    return [sealed_segment(n) for n in numbered], problems


def _regular_files(folder: str) -> set[str]:
    """Names in a segment folder; anything but a plain file (a symlink, a folder) is marked with a
    trailing "/" so it is reported, never read through."""
    with os.scandir(folder) as found:
        return {entry.name if entry.is_file(follow_symlinks=False) else entry.name + "/" for entry in found}


def sealed_segments(root: Path) -> tuple[list[Segment], list[Problem]]:
    """The working tree's sealed segments, oldest first, and what is wrong with the folder."""
    entries: dict[str, set[str] | None] = {}
    try:
        with os.scandir(root / ARCHIVE) as found:
            for entry in found:
                entries[entry.name] = _regular_files(entry.path) if entry.is_dir(follow_symlinks=False) else None
    except FileNotFoundError:
        return [], []
    except NotADirectoryError:
        return [], [Problem(ARCHIVE, 1, 1, "PL216", "is not a folder; it holds the sealed segments only: move the file away")]
    return _arrange(entries)


def all_segments(root: Path) -> tuple[list[Segment], list[Problem]]:
    sealed, problems = sealed_segments(root)
    return sealed + [CURRENT], problems


def segments_at(root: Path, commit: str) -> list[Segment]:
    """The segments of a git commit (sealed ones listed by ``git ls-tree``), oldest first."""
    from promptlane.store.git import files_at

    entries: dict[str, set[str]] = {}
    for path in files_at(root, commit, ARCHIVE + "/"):
        parts = path[len(ARCHIVE) + 1:].split("/")
        entries.setdefault(parts[0], set()).update(parts[1:2])
    sealed, _ = _arrange(entries)
    return sealed + [CURRENT]
