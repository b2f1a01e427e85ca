"""Lock pointers that moved since a commit: which version each environment serves now that it
did not serve there. ``eval plan --base`` evaluates those prompts again in CI, and the gates
judge their promotions on CI's own results (operations/rejudge.py judges them again, from the
same ``changed_locks``)."""
from __future__ import annotations

import json
from typing import Any

from promptlane.core.layout import REGISTRY
from promptlane.core.registry import LockError
from promptlane.store import git


def changed_locks(repo: Any, commit: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(path, prompt id, the lock's document at ``commit`` or None) of every lock changed since
    ``commit``; one git process reads all the old ones."""
    changed = [rel for rel in git.changed_paths(repo.root, commit, REGISTRY)
               if rel.count("/") == 1 and rel.endswith(".lock.json")]
    before = git.show_many(repo.root, commit, changed)
    return [(rel, rel[len(REGISTRY) + 1:-len(".lock.json")], lock_doc(before.get(rel))) for rel in changed]


def lock_doc(raw: bytes | None) -> dict[str, Any] | None:
    """A lock's JSON document as git had it (None: absent, or not a JSON object)."""
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def moved_since(repo: Any, commit: str) -> dict[str, list[tuple[str, str]]]:
    """prompt id -> [(environment, version)] for every pointer after the first environment that
    serves another version than at ``commit`` (a new lock counts whole)."""
    from promptlane.store.registry import read_lock

    moved: dict[str, list[tuple[str, str]]] = {}
    for _, prompt_id, doc in changed_locks(repo, commit):
        try:
            lock = read_lock(repo, prompt_id)
        except LockError:
            continue  # check reports a corrupt lock
        if lock is None:
            continue
        envs = doc.get("environments") if doc else None
        old: dict[str, Any] = envs if isinstance(envs, dict) else {}
        for env in repo.environments[1:]:
            version = lock.environments.get(env)
            if version and version != old.get(env):
                moved.setdefault(prompt_id, []).append((env, version))
    return moved
