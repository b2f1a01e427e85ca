"""Semantic versions and the bump rules (pure).

A changed payload gets a new version: major when the variable set changes, minor when the
model, its parameters or the shape (a call's steps: count, names, roles; a chain's calls:
count, names, order, each one's model) change, patch when only text changes. A version never goes down and is never reused: the next version is bumped
from the highest ever issued, not from the current one.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from promptlane.core.calls import Call, calls_of
from promptlane.core.hashing import CHAIN_FORMAT, PAYLOAD_FORMAT

BUMPS = ("patch", "minor", "major")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)\Z")  # \Z: "$" would accept "1.0.0\n"

Version = tuple[int, int, int]


def parse(text: str) -> Version:
    match = _SEMVER.match(text)
    if not match:
        raise ValueError(f"not a version MAJOR.MINOR.PATCH: {text!r}")
    return int(match[1]), int(match[2]), int(match[3])


def is_version(text: object) -> bool:
    return isinstance(text, str) and bool(_SEMVER.match(text))


def render(version: Version) -> str:
    return "{}.{}.{}".format(*version)


def bump(version: Version, kind: str) -> Version:
    major, minor, patch = version
    if kind == "major":
        return major + 1, 0, 0
    if kind == "minor":
        return major, minor + 1, 0
    if kind == "patch":
        return major, minor, patch + 1
    raise ValueError(f"unknown bump {kind!r}; use one of {', '.join(BUMPS)}")


def _calls(payload: Mapping[str, Any]) -> list[Call]:
    if payload.get("format") in (PAYLOAD_FORMAT, CHAIN_FORMAT):
        return calls_of(payload)
    return [Call(None, payload["model"], payload["steps"])]  # a payload stored without its format


def _shape(payload: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """What a minor bump covers: each call's name and resolved model, its steps' names and roles."""
    return [(call.name, call.model, [(step["name"], step["role"]) for step in call.steps]) for call in _calls(payload)]


def classify_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """The bump a payload change calls for, or None when the payloads are the same.

    The same rules for one call and for a chain (docs/hashing.md#bumps): the variable set (the
    inputs) is major; the model or params of a call, its steps' names, order or roles, the
    chain's calls (added, removed, renamed, re-ordered) and a card going between ``steps:`` and
    ``calls:`` are minor; only texts are patch."""
    if set(old["variables"]) != set(new["variables"]):
        return "major"
    if old.get("format") != new.get("format") or _shape(old) != _shape(new):
        return "minor"
    if [call.texts for call in _calls(old)] != [call.texts for call in _calls(new)]:
        return "patch"
    return None


def next_version(issued: Iterable[str], kind: str, first: str = "0.1.0") -> str:
    """Bump the highest version ever issued; the first version of a prompt is ``first``."""
    versions = [parse(v) for v in issued]
    if not versions:
        return first
    return render(bump(max(versions), kind))
