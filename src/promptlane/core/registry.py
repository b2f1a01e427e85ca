"""The registry's formats (pure): a lock (``registry/<id>.lock.json``: every version ever issued,
what each environment serves, what was withdrawn) and a snapshot (the full payload of one
version, so a rollback needs no git history). Reading them is store/registry.py."""
from __future__ import annotations

import json
from typing import Any

from promptlane.core import semver
from promptlane.core.problems import Problem
from promptlane.core.record import field, record

LOCK_FORMAT = "promptlane-lock/1"
SNAPSHOT_FORMAT = "promptlane-snapshot/1"
RETIRED_KEYS = ("time", "actor", "reason")


@record
class Lock:
    prompt_id: str
    versions: list[dict[str, Any]] = field(default_factory=list)   # in issue order
    environments: dict[str, str | None] = field(default_factory=dict)
    withdrawn: dict[str, dict[str, Any]] = field(default_factory=dict)  # version -> {env, time, reason, actor?}
    risk: str | None = None  # the card's risk tier as last recorded (a change is a logged "risk" event)
    retired: dict[str, str] | None = None  # {time, actor, reason}: served nowhere, for good (a logged "retire" event)

    def entry(self, version: str) -> dict[str, Any] | None:
        for item in self.versions:
            if item["version"] == version:
                return item
        return None

    def version_of(self, payload_hash: str) -> str | None:
        for item in self.versions:
            if item["hash"] == payload_hash:
                version: str = item["version"]
                return version
        return None

    def issued(self) -> list[str]:
        return [item["version"] for item in self.versions]

    def highest(self) -> str | None:
        issued = self.issued()
        return max(issued, key=semver.parse) if issued else None

    def withdrawals_in_force(self) -> dict[str, dict[str, Any]]:
        return withdrawals_in_force(self.withdrawn, self.environments)

    def to_json(self) -> str:
        doc = {
            "format": LOCK_FORMAT,
            "id": self.prompt_id,
            "environments": self.environments,
            "versions": self.versions,
            "withdrawn": self.withdrawn,
        }
        if self.risk is not None:
            doc["risk"] = self.risk
        if self.retired is not None:
            doc["retired"] = self.retired
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def withdrawals_in_force(withdrawn: Any, environments: Any) -> dict[str, dict[str, Any]]:
    """Version -> its withdrawal mark ``{env, time, reason}``, for each mark that still stands.

    The lock keeps every mark for good, but a version promoted back to the environment it was
    withdrawn from passed that environment's gates again, with eval results newer than the
    withdrawal (PL607): that lifts the mark. Anywhere else it is still served, it is served
    withdrawn, and every view of a served version says so."""
    if not isinstance(withdrawn, dict) or not isinstance(environments, dict):
        return {}
    return {version: dict(mark) for version, mark in withdrawn.items()
            if isinstance(mark, dict) and environments.get(mark.get("env")) != version}


def withdrawal_text(mark: dict[str, Any]) -> str:
    """One mark for people: 'withdrawn from prod on 2026-12-03T08:00:00Z by ana@example.com (INC-1: ...)'
    (marks written before rollbacks recorded their actor say no 'by')."""
    by = f" by {mark['actor']}" if mark.get("actor") else ""
    return f"withdrawn from {mark.get('env')} on {mark.get('time')}{by} ({mark.get('reason')})"


class LockError(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def lock_shape_problem(doc: Any, prompt_id: str) -> str | None:
    if not isinstance(doc, dict) or doc.get("format") != LOCK_FORMAT:
        return f"is not a {LOCK_FORMAT} file"
    if doc.get("id") != prompt_id:
        return f"belongs to '{doc.get('id')}', not '{prompt_id}'"
    versions = doc.get("versions")
    if not isinstance(versions, list) or not all(
        isinstance(v, dict) and semver.is_version(v.get("version")) and isinstance(v.get("hash"), str) for v in versions
    ):
        return "has a malformed versions list"
    if len({v["version"] for v in versions}) != len(versions) or len({v["hash"] for v in versions}) != len(versions):
        return "lists a version or a hash twice"
    if not isinstance(doc.get("environments"), dict) or not isinstance(doc.get("withdrawn", {}), dict):
        return "has a malformed environments or withdrawn map"
    if not all(isinstance(env, str) and (v is None or semver.is_version(v)) for env, v in doc["environments"].items()):
        return "has an environment pointer that is not a version (or null)"
    if not all(semver.is_version(v) and isinstance(w, dict) for v, w in doc.get("withdrawn", {}).items()):
        return "has a withdrawn entry that is not a version with its details"
    if doc.get("risk") not in (None, "low", "medium", "high"):
        return "has a risk that is not low, medium or high"
    retired = doc.get("retired")
    if retired is not None:
        if not isinstance(retired, dict) or not all(isinstance(retired.get(k), str) for k in RETIRED_KEYS) or set(retired) != set(RETIRED_KEYS):
            return f"has a retired mark that is not {{{', '.join(RETIRED_KEYS)}}} as text"
        if any(v is not None for v in doc["environments"].values()):
            return "is marked retired but an environment still serves a version (a retired prompt is served nowhere)"
    text_fields = ("author", "created", "bump")
    if not all(v.get(f) is None or isinstance(v.get(f), str) for v in versions for f in text_fields):
        return "has a version whose author, created or bump is not text"
    return None


def snapshot_json(prompt_id: str, version: str, payload_hash: str, card: dict[str, Any], payload: dict[str, Any]) -> str:
    doc = {
        "format": SNAPSHOT_FORMAT,
        "id": prompt_id,
        "version": version,
        "hash": payload_hash,
        "card": {key: card[key] for key in ("title", "risk", "model", "variables", "steps", "calls", "budget") if key in card},
        "payload": payload,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def snapshot_mismatch(doc: Any, expected_hash: str) -> str | None:
    """Why a snapshot does not hold the version the lock issued for ``expected_hash``: its
    recorded hash differs, or its payload no longer hashes to it (the stored text was edited
    with the hash kept); None when it does."""
    from promptlane.core.hashing import payload_hash

    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), dict):
        return "is not a snapshot (no payload)"
    if doc.get("hash") != expected_hash:
        return f"records {str(doc.get('hash'))[:19]}..., not {expected_hash[:19]}... as the lock does"
    try:
        actual = payload_hash(doc["payload"])
    except Exception:  # noqa: BLE001 - a payload canonical JSON cannot encode is a bad snapshot, not a crash
        return "has a payload that cannot be hashed"
    if actual != expected_hash:
        return (f"has a payload that hashes to {actual[:19]}..., not the recorded {expected_hash[:19]}...: "
                "its text was changed after the version was issued")
    return None
