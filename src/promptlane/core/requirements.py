"""requirements.txt read as pip reads it (pure), to find the promptlane it pins.

A line ending in ``\\`` continues on the next, a ``#`` at the start of a line or after whitespace
starts a comment, a line starting with ``-`` is an option (``-r``, ``-e``, ``--index-url``) and a
token starting with ``-`` ends a requirement (``--hash=...``). The first requirement whose name
is promptlane (PEP 503: ``PromptLane`` counts, ``prompt-lane`` is another project) is the pin; a
line that does not parse as a requirement is skipped, and a URL requirement (``promptlane @
git+...``) pins nothing. Its environment marker is not evaluated: the pin is the same on every
machine. Only the lower bounds of its specifiers count (``==``, ``===``, ``>=``, ``~=``,
``==X.*``, ``>``); upper bounds and ``!=`` never refuse a newer promptlane.

Everything here is linear in the length of the text (store/pinfile.py also caps it): no pattern
with nested or adjacent unbounded repeats. packaging (~80 ms to import) is imported here only;
core/pin.py imports this module only for a pin its fast path cannot judge.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier
from packaging.utils import canonicalize_name
from packaging.version import Version

NAME = "promptlane"
_NAME_START = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a project name, at a line's start
# An operator and the version written after it, to give the version's column.
_SPEC_AT = re.compile(r"(===|~=|==|!=|<=|>=|<|>)[ \t]*([^\s,;()]+)")
_LOWER = ("==", "===", ">=", "~=", ">")


@dataclass(frozen=True)
class Pin:
    """The lowest version a pin allows: ``floor`` (or anything above it, when ``strict``),
    written as ``version`` at ``line``:``col`` of requirements.txt."""
    version: str
    line: int
    col: int
    floor: Version
    strict: bool = False


def _logical_lines(text: str) -> list[tuple[str, list[tuple[int, int, int]]]]:
    """pip's logical lines: a line ending in ``\\`` joined with the next (a comment line never
    continues). Each comes with (offset, line, column) for the start of every physical piece,
    to map an offset in it back to where it was written."""
    joined: list[tuple[str, list[tuple[int, int, int]]]] = []
    parts: list[str] = []
    places: list[tuple[int, int, int]] = []
    size = 0
    for number, line in enumerate(text.splitlines(), start=1):
        comment = line.lstrip().startswith("#")
        continued = line.endswith("\\") and not comment
        if continued:  # pip strips the backslashes at both ends of a continued line
            piece, col = line.strip("\\"), 1 + len(line) - len(line.lstrip("\\"))
        elif comment:  # pip's " " before it: it stays a comment inside a joined line
            piece, col = " " + line, 0
        else:
            piece, col = line, 1
        parts.append(piece)
        places.append((size, number, col))
        size += len(piece)
        if not continued:
            joined.append(("".join(parts), places))
            parts, places, size = [], [], 0
    if parts:
        joined.append(("".join(parts), places))
    return joined


def _where(places: list[tuple[int, int, int]], offset: int) -> tuple[int, int]:
    """The line and column of ``offset`` in a logical line."""
    start, line, col = next(place for place in reversed(places) if place[0] <= offset)
    return line, col + offset - start


def _without_comment(line: str) -> str:
    """The line up to its comment: a ``#`` at the start or after whitespace (linear)."""
    at = line.find("#")
    while at > 0 and not line[at - 1].isspace():
        at = line.find("#", at + 1)
    return line if at < 0 else line[:at]


def _requirement_part(line: str) -> str:
    """The line up to its first option token (``--hash=...``): pip's break_args_options."""
    at = line.find("-")
    while at > 0 and not line[at - 1].isspace():
        at = line.find("-", at + 1)
    return line if at < 0 else line[:at]


def _bound(spec: Specifier) -> tuple[Version, bool] | None:
    """The lowest version one specifier allows, and whether it is excluded (``>``)."""
    if spec.operator not in _LOWER:
        return None
    written = spec.version
    try:
        if written.endswith(".*"):  # ==0.2.* allows 0.2.dev0, the first version of 0.2
            return Version(written[:-2] + ".dev0"), False
        return Version(written), spec.operator == ">"
    except ValueError:  # === with text that is no version; a number too long for int()
        return None


def pinned(text: str) -> Pin | None:
    """The first ``promptlane`` requirement's lowest allowed version, or None (no pin, no
    lower bound, a URL requirement)."""
    for line, places in _logical_lines(text):
        body = _requirement_part(_without_comment(line))
        indent = len(body) - len(body.lstrip())
        name = _NAME_START.match(body, indent)
        if name is None or canonicalize_name(name[0]) != NAME:
            continue  # another project, an option line, a blank or comment line
        try:
            requirement = Requirement(body.strip())
        except InvalidRequirement:
            continue  # not a requirement (pip would refuse it): no pin
        if requirement.url:
            return None
        written: dict[tuple[str, str], int] = {}
        for found in _SPEC_AT.finditer(body.split(";", 1)[0], name.end()):
            written.setdefault((found[1], found[2]), found.start(2))
        bounds: list[tuple[tuple[Version, bool], int, str]] = []
        for spec in requirement.specifier:
            bound = _bound(spec)
            if bound is not None:  # the highest bound wins; of equal ones, the first written
                offset = written.get((spec.operator, spec.version), name.start())
                bounds.append((bound, -offset, spec.version))
        if not bounds:
            return None
        (floor, strict), offset, version = max(bounds)
        number, col = _where(places, -offset)
        return Pin(version, number, col, floor, strict)
    return None
