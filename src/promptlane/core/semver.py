"""Semantic versions and the bump rules (pure).

A changed payload gets a new version: major when the variable set changes, minor when the
model, its parameters or the chain's steps (count, names, roles) change, patch when only
text changes. A version never goes down and is never reused: the next version is bumped
from the highest ever issued, not from the current one.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping

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


def classify_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """The bump a payload change calls for, or None when the payloads are the same."""
    if set(old["variables"]) != set(new["variables"]):
        return "major"
    shape: Callable[[Mapping[str, Any]], list[tuple[Any, Any]]] = lambda p: [(s["name"], s["role"]) for s in p["steps"]]  # noqa: E731
    if old["model"] != new["model"] or shape(old) != shape(new):
        return "minor"
    if [s["text"] for s in old["steps"]] != [s["text"] for s in new["steps"]]:
        return "patch"
    return None


def next_version(issued: Iterable[str], kind: str, first: str = "0.1.0") -> str:
    """Bump the highest version ever issued; the first version of a prompt is ``first``."""
    versions = [parse(v) for v in issued]
    if not versions:
        return first
    return render(bump(max(versions), kind))
