"""The SDK registry: ``registry/<id>.lock.json`` (every version ever issued, what each
environment serves, what was withdrawn) and ``registry/store/<id>/<version>.json`` (the full
payload of a version, so a rollback needs no git history).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from promptlane.core import semver
from promptlane.core.problems import Problem
from promptlane.store.repo import Repo

LOCK_FORMAT = "promptlane-lock/1"
SNAPSHOT_FORMAT = "promptlane-snapshot/1"


@dataclass
class Lock:
    prompt_id: str
    versions: list[dict] = field(default_factory=list)   # in issue order
    environments: dict[str, str | None] = field(default_factory=dict)
    withdrawn: dict[str, dict] = field(default_factory=dict)  # version -> {env, time, reason}

    def entry(self, version: str) -> dict | None:
        for item in self.versions:
            if item["version"] == version:
                return item
        return None

    def version_of(self, payload_hash: str) -> str | None:
        for item in self.versions:
            if item["hash"] == payload_hash:
                return item["version"]
        return None

    def issued(self) -> list[str]:
        return [item["version"] for item in self.versions]

    def highest(self) -> str | None:
        issued = self.issued()
        return max(issued, key=semver.parse) if issued else None

    def to_json(self) -> str:
        doc = {
            "format": LOCK_FORMAT,
            "id": self.prompt_id,
            "environments": self.environments,
            "versions": self.versions,
            "withdrawn": self.withdrawn,
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


class LockError(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def read_lock(repo: Repo, prompt_id: str) -> Lock | None:
    """The lock, None when the prompt has never been synced; LockError when it is corrupt."""
    rel = repo.lock_rel(prompt_id)
    try:
        raw = (repo.root / rel).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:  # a folder where the lock belongs, registry/ a file, a permission
        raise LockError(Problem(rel, 1, 1, "PL156", f"cannot be read ({exc.strerror or exc}); restore it from git (`git checkout -- {rel}`)"))
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise LockError(Problem(rel, 1, 1, "PL156", f"is not UTF-8; restore it from git (`git checkout -- {rel}`)"))
    except json.JSONDecodeError as exc:
        raise LockError(Problem(rel, exc.lineno, exc.colno, "PL156", f"is not valid JSON ({exc.msg}); restore it from git (`git checkout -- {rel}`)"))
    except RecursionError:
        raise LockError(Problem(rel, 1, 1, "PL156", f"is nested too deeply to be a lock; restore it from git (`git checkout -- {rel}`)"))
    problem = _shape_problem(doc, prompt_id)
    if problem:
        raise LockError(Problem(rel, 1, 1, "PL156", f"{problem}; restore it from git (`git checkout -- {rel}`)"))
    return Lock(prompt_id, doc["versions"], doc["environments"], doc.get("withdrawn", {}))


def _shape_problem(doc: Any, prompt_id: str) -> str | None:
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
    text_fields = ("author", "created", "bump")
    if not all(v.get(f) is None or isinstance(v.get(f), str) for v in versions for f in text_fields):
        return "has a version whose author, created or bump is not text"
    return None


def snapshot_json(prompt_id: str, version: str, payload_hash: str, card: dict, payload: dict) -> str:
    doc = {
        "format": SNAPSHOT_FORMAT,
        "id": prompt_id,
        "version": version,
        "hash": payload_hash,
        "card": {key: card[key] for key in ("title", "risk", "model", "variables", "steps", "budget") if key in card},
        "payload": payload,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def read_snapshot(repo: Repo, prompt_id: str, version: str) -> dict | None:
    """The snapshot, or None when it is missing or not a snapshot at all (callers report PL157)."""
    try:
        doc = json.loads((repo.root / repo.snapshot_rel(prompt_id, version)).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # missing, a folder, not UTF-8 JSON, absurdly nested
        return None
    return doc if isinstance(doc, dict) else None
