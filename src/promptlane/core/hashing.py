"""The payload hash: what changes a prompt's behaviour, and nothing else.

Canonical form (docs/hashing.md, vectors in tests/vectors/payload-hash.json), one model call:

    {"format": "promptlane-payload/1",
     "model": {"provider": str, "name": str, "params": {...}},
     "steps": [{"name": str, "role": str, "text": str}, ...],   # in order
     "variables": [str, ...]}                                    # sorted, unique

or a chain of calls (tests/vectors/chain-hash.json), each call's model resolved:

    {"format": "promptlane-chain/1",
     "calls": [{"name": str, "model": {...}, "steps": [...]}, ...],   # in the order they run
     "variables": [str, ...]}

serialised with RFC 8785 (JSON Canonicalization Scheme) and hashed with SHA-256.
Texts: a leading BOM is dropped, CRLF and CR become LF, trailing newlines are removed.
Card metadata (title, owner, tags, risk, budget, file names) is not part of it.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    from hashlib import sha256
else:
    try:  # CPython's own SHA-256 (named _sha2 since 3.12): hashlib's loads OpenSSL, ~5 ms of each start
        from _sha256 import sha256
    except ImportError:
        try:
            from _sha2 import sha256
        except ImportError:  # another interpreter
            from hashlib import sha256

PAYLOAD_FORMAT = "promptlane-payload/1"
CHAIN_FORMAT = "promptlane-chain/1"
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
) -> dict[str, Any]:
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
            for step, text in zip(steps, texts, strict=False)
        ],
        "variables": sorted(set(variables)),
    }


def resolve_model(card_model: Mapping[str, Any], call: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A call's model: provider and name from the call's ``model`` or else the card's; params
    are the card's ``model.params`` updated key by key with the call's ``params``."""
    own = (call or {}).get("model") or {}
    return {
        "provider": own.get("provider", card_model["provider"]),
        "name": own.get("name", card_model["name"]),
        "params": {**(card_model.get("params") or {}), **((call or {}).get("params") or {})},
    }


def build_chain_payload(
    card_model: Mapping[str, Any],
    calls: Sequence[Mapping[str, Any]],
    texts_per_call: Sequence[Sequence[str]],
    variables: Iterable[str],
) -> dict[str, Any]:
    """The canonical payload of a chain card (``calls:``) whose texts have been read: one list
    of texts per call, in step order."""
    return {
        "format": CHAIN_FORMAT,
        "calls": [
            {
                "name": call["name"],
                "model": resolve_model(card_model, call),
                "steps": [
                    {"name": step["name"], "role": step["role"], "text": normalise_text(text)}
                    for step, text in zip(call["steps"], texts, strict=False)
                ],
            }
            for call, texts in zip(calls, texts_per_call, strict=False)
        ],
        "variables": sorted(set(variables)),
    }


def _plain(value: Any) -> bool:
    """True when json.dumps writes ``value`` exactly as RFC 8785 does.

    That holds for strings, booleans, null, integers within 2**53, floats that both write
    without an exponent or a trailing ".0" (JavaScript and Python agree on those digits),
    and objects whose keys are in the Basic Multilingual Plane (UTF-16 order = code points).
    """
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**53) < value < 2**53
    if isinstance(value, float):
        text = repr(value)
        return "e" not in text and "n" not in text and not value.is_integer()
    if isinstance(value, dict):
        return all(isinstance(k, str) and all(ord(c) < 0xD800 for c in k) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return False


def _is_call(value: Any) -> bool:
    """A model and steps as build_payload writes them: only model params can hold numbers or
    arbitrary keys."""
    return (isinstance(value.get("model"), dict) and isinstance(value["model"].get("params"), dict)
            and all(isinstance(v, str) for k, v in value["model"].items() if k != "params")
            and isinstance(value.get("steps"), list)
            and all(isinstance(step, dict) and all(isinstance(x, str) for x in step.values()) for step in value["steps"]))


def _is_payload(value: Any) -> bool:
    """Built by build_payload or build_chain_payload, so only params need a closer look."""
    if not isinstance(value, dict) or not isinstance(value.get("variables"), list) \
            or not all(isinstance(v, str) for v in value["variables"]):
        return False
    if value.get("format") == PAYLOAD_FORMAT:
        return set(value) == {"format", "model", "steps", "variables"} and _is_call(value)
    return (value.get("format") == CHAIN_FORMAT and set(value) == {"format", "calls", "variables"}
            and isinstance(value["calls"], list)
            and all(isinstance(call, dict) and set(call) == {"name", "model", "steps"} and isinstance(call["name"], str)
                    and _is_call(call) for call in value["calls"]))


def _params_of(payload: Mapping[str, Any]) -> list[Any]:
    calls = payload["calls"] if payload["format"] == CHAIN_FORMAT else [payload]
    return [call["model"]["params"] for call in calls]


def canonical_bytes(payload: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes. Typical payloads take the C json encoder (10x faster than the pure
    Python rfc8785 package); anything where the two could differ goes to rfc8785."""
    import json

    if _plain(_params_of(payload) if _is_payload(payload) else payload):
        try:
            return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let rfc8785 refuse it with its own error
    import rfc8785  # only for what the C encoder cannot write exactly as RFC 8785 does

    return rfc8785.dumps(payload)


def payload_hash(payload: Mapping[str, Any]) -> str:
    return HASH_PREFIX + sha256(canonical_bytes(payload)).hexdigest()


def digest_of(raw: bytes) -> str:
    """``sha256:<hex>`` of exact bytes: files kept or named by content (evidence, results inputs)."""
    return HASH_PREFIX + sha256(raw).hexdigest()


def json_digest(value: Any) -> str:
    """``sha256:<hex>`` of ``value`` as compact JSON with sorted keys (not the payload's RFC 8785
    form: for promptlane's own records, whose values are plain JSON)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return digest_of(canonical.encode("utf-8"))


def is_digest(value: Any) -> bool:
    """A ``sha256:`` followed by 64 lowercase hex digits."""
    return isinstance(value, str) and value.startswith(HASH_PREFIX) and len(value) == len(HASH_PREFIX) + 64 and \
        all(c in "0123456789abcdef" for c in value[len(HASH_PREFIX):])
