"""The uniform view of a payload as model calls (pure): every consumer goes through it.

A prompt is one model call (``promptlane-payload/1``: a card with ``steps:``) or a chain of
them (``promptlane-chain/1``: a card with ``calls:``). Runtime, evals, budget, diff, report and
formats read ``calls_of(payload)`` instead of ``payload["steps"]``, so a single call and a
chain are the same loop:

    for call in calls_of(payload):       # a single-call payload is one Call with name None
        call.name, call.model, call.steps  # model resolved: {"provider", "name", "params"}

In a chain, a call's text may use the output of an EARLIER call as ``{{ <call>.output }}``
(spaces optional, as for a variable; no ``{{-``/``-}}`` or ``| filter``: core/card.LOOSE);
``references`` finds them.
Nothing here reads a file: the payloads are built by core/hashing.py (docs/hashing.md).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from promptlane.core.hashing import CHAIN_FORMAT, PAYLOAD_FORMAT
from promptlane.core.record import record

# ``{{ extract.output }}``: the form of core/card.PLACEHOLDER with ``.output`` after the name.
REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.output\s*\}\}")
# Any ``{{ a.b }}``: what card.py judges when ``b`` is not ``output`` (only .output exists).
DOTTED = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
CALL_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


@record(frozen=True)
class Call:
    """One model call: its name in the chain (None for a single-call prompt), its resolved
    model ``{"provider", "name", "params"}`` and its steps ``[{"name", "role", "text"}]``."""

    name: str | None
    model: dict[str, Any]
    steps: list[dict[str, Any]]

    @property
    def texts(self) -> list[str]:
        return [step["text"] for step in self.steps]


def is_chain(payload: Mapping[str, Any]) -> bool:
    """Whether ``payload`` is a chain (``promptlane-chain/1``) rather than one call."""
    return payload.get("format") == CHAIN_FORMAT


def calls_of(payload: Mapping[str, Any]) -> list[Call]:
    """The calls of a payload, in the order they run. Raises ValueError for a value that is
    neither payload format (a programming error: payloads come from hashing or the store)."""
    fmt = payload.get("format")
    if fmt == CHAIN_FORMAT:
        return [Call(call["name"], call["model"], call["steps"]) for call in payload["calls"]]
    if fmt == PAYLOAD_FORMAT:
        return [Call(None, payload["model"], payload["steps"])]
    raise ValueError(f"not a promptlane payload (format {fmt!r}); expected {PAYLOAD_FORMAT} or {CHAIN_FORMAT}")


def first_matches(pattern: re.Pattern[str], text: str, groups: int = 1) -> dict[str, tuple[int, int]]:
    """Group 1 of each match of ``pattern`` (groups 1 to ``groups`` joined by ".") ->
    (line, column) of its first match; the column counts characters from 1, as an editor
    does. Linear in the text."""
    found: dict[str, tuple[int, int]] = {}
    line, counted, line_start = 1, 0, 0
    for match in pattern.finditer(text):
        newlines = text.count("\n", counted, match.start())
        if newlines:
            line += newlines
            line_start = text.rindex("\n", counted, match.start()) + 1
        counted = match.start()
        found.setdefault(".".join(match.groups()[:groups]), (line, match.start() - line_start + 1))
    return found


def references(text: str) -> dict[str, tuple[int, int]]:
    """Call name -> (line, column) of the first ``{{ name.output }}`` in ``text``."""
    return first_matches(REFERENCE, text)
