"""The promptlane version a governed repository pins (pure).

A rendered repository's ``requirements.txt`` is the one place that says which promptlane it
runs: its pre-commit hooks call the installed promptlane, and CI installs exactly that file.
A promptlane older than the pin must not judge the repository: its rules may be older than
the files it reads.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from promptlane.core.layout import REQUIREMENTS
from promptlane.core.problems import Problem

# promptlane==0.2.0, promptlane>=0.2, promptlane[extra] ~= 0.2.0 ; a comment may follow
_PIN = re.compile(r"^\s*promptlane\s*(?:\[[^\]]*\])?\s*(==|>=|~=|===)\s*([0-9]+(?:\.[0-9]+)*)")
_RELEASE = re.compile(r"^([0-9]+(?:\.[0-9]+)*)")


@dataclass(frozen=True)
class Pin:
    version: str
    line: int
    col: int


def pinned(text: str) -> Pin | None:
    """The first ``promptlane`` requirement with a version, or None (no pin, or a URL)."""
    for number, line in enumerate(text.splitlines(), start=1):
        found = _PIN.match(line)
        if found:
            return Pin(found[2], number, found.start(2) + 1)
    return None


def release(version: str) -> tuple[int, ...]:
    """The release numbers of a version (``0.2.0rc1`` -> (0, 2, 0)), trailing zeros dropped."""
    found = _RELEASE.match(version)
    numbers = [int(part) for part in found[1].split(".")] if found else [0]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def pin_problem(text: str, running: str) -> Problem | None:
    """PL706 when ``running`` is older than the version ``requirements.txt`` pins."""
    pin = pinned(text)
    if pin is None or release(running) >= release(pin.version):
        return None
    return Problem(REQUIREMENTS, pin.line, pin.col, "PL706",
                   f"pins promptlane {pin.version}, but promptlane {running} is running: an older promptlane "
                   f"must not judge this repository; run `python -m pip install -r {REQUIREMENTS}`")
