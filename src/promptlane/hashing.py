"""The payload hash: what changes a prompt's behaviour, and nothing else.

Canonical form (docs/hashing.md, vectors in tests/vectors/payload-hash.json):

    {"format": "promptlane-payload/1",
     "model": {"provider": str, "name": str, "params": {...}},
     "steps": [{"name": str, "role": str, "text": str}, ...],   # in chain order
     "variables": [str, ...]}                                    # sorted, unique

serialised with RFC 8785 (JSON Canonicalization Scheme) and hashed with SHA-256.
Texts: a leading BOM is dropped, CRLF and CR become LF, trailing newlines are removed.
Card metadata (title, owner, tags, risk, budget, file names) is not part of it.
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterable, Mapping, Sequence

import rfc8785

PAYLOAD_FORMAT = "promptlane-payload/1"
HASH_PREFIX = "sha256:"


def normalise_text(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def build_payload(
    model: Mapping[str, Any],
    steps: Sequence[Mapping[str, str]],
    texts: Sequence[str],
    variables: Iterable[str],
) -> dict:
    """The canonical payload of a card whose step texts have been read, in step order."""
    return {
        "format": PAYLOAD_FORMAT,
        "model": {
            "provider": model["provider"],
            "name": model["name"],
            "params": dict(model.get("params") or {}),
        },
        "steps": [
            {"name": step["name"], "role": step["role"], "text": normalise_text(text)}
            for step, text in zip(steps, texts)
        ],
        "variables": sorted(set(variables)),
    }


def canonical_bytes(payload: Mapping[str, Any]) -> bytes:
    return rfc8785.dumps(payload)


def payload_hash(payload: Mapping[str, Any]) -> str:
    return HASH_PREFIX + hashlib.sha256(canonical_bytes(payload)).hexdigest()
