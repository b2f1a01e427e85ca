"""The promptlane version a governed repository pins, judged (pure).

A rendered repository's ``requirements.txt`` is the one place that says which promptlane it
runs: its pre-commit hooks call the installed promptlane, and CI installs exactly that file.
A promptlane older than the pin must not judge the repository: its rules may be older than
the files it reads. Every command asks (store/pinfile.py), so the usual file, a plain
``promptlane==X``, is judged here without importing packaging; anything else goes to the full
reading of core/requirements.py.
"""
from __future__ import annotations

import re

from promptlane.core.layout import REQUIREMENTS
from promptlane.core.problems import Problem

# Bounded numbers (int() refuses very long digit strings): anything longer takes the full rule.
_SIMPLE_PIN = re.compile(r"[ \t]*promptlane[ \t]*==[ \t]*([0-9]{1,9}(?:\.[0-9]{1,9}){0,9})[ \t]*(?:#.*)?\Z",
                         re.IGNORECASE)
_RELEASE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9}){0,9}\Z")


def _plainly_new_enough(text: str, running: str) -> bool:
    """The fast path of every command: True when the one requirement line that names
    promptlane is a plain ``promptlane==X`` (the template's) and ``running`` is X or newer, both
    plain release numbers. Then ``pinned`` could only agree, and packaging is not imported.
    False means "ask the full rule", never "refuse"."""
    lines = text.splitlines()
    naming = [i for i, line in enumerate(lines) if "promptlane" in line.lower() and not line.lstrip().startswith("#")]
    if not naming:
        return True  # nothing names promptlane: no pin
    if len(naming) > 1 or not _RELEASE.match(running) or (naming[0] and lines[naming[0] - 1].endswith("\\")):
        return False
    found = _SIMPLE_PIN.match(lines[naming[0]])
    if found is None:
        return False
    pinned_numbers, current = [int(n) for n in found[1].split(".")], [int(n) for n in running.split(".")]
    width = max(len(pinned_numbers), len(current))
    return current + [0] * (width - len(current)) >= pinned_numbers + [0] * (width - len(pinned_numbers))


def pin_problem(text: str, running: str) -> Problem | None:
    """PL706 when ``running`` is older than the lowest version ``requirements.txt`` allows
    (or not newer, for ``>``). A newer promptlane is always fine."""
    if _plainly_new_enough(text, running):
        return None
    from packaging.version import Version

    from promptlane.core.requirements import pinned

    pin = pinned(text)
    if pin is None:
        return None
    try:
        current = Version(running)
    except ValueError:  # not a PEP 440 version: nothing to compare
        return None
    if current > pin.floor or (current == pin.floor and not pin.strict):
        return None
    wanted = f">{pin.version}" if pin.strict else pin.version  # ">0.1.0": 0.1.0 itself is too old
    return Problem(REQUIREMENTS, pin.line, pin.col, "PL706",
                   f"pins promptlane {wanted}, but promptlane {running} is running: an older promptlane "
                   f"must not judge this repository; run `python -m pip install -r {REQUIREMENTS}`")
