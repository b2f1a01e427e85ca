"""Lock pointers that moved since a commit: which version each environment serves now that it
did not serve there. ``eval plan --base`` evaluates those prompts again in CI, and the gates
judge their promotions on CI's own results (operations/rejudge.py judges them again)."""
from __future__ import annotations

import json
from typing import Any

from promptlane.core.layout import REGISTRY
from promptlane.core.registry import LockError
from promptlane.store import git


def moved_since(repo: Any, commit: str) -> dict[str, list[tuple[str, str]]]:
    """prompt id -> [(environment, version)] for every pointer after the first environment that
    serves another version than at ``commit`` (a new lock counts whole)."""
    from promptlane.store.registry import read_lock

    changed = [rel for rel in git.changed_paths(repo.root, commit, REGISTRY)
               if rel.count("/") == 1 and rel.endswith(".lock.json")]
    before = git.show_many(repo.root, commit, changed)
    moved: dict[str, list[tuple[str, str]]] = {}
    for rel in changed:
        prompt_id = rel[len(REGISTRY) + 1:-len(".lock.json")]
        try:
            lock = read_lock(repo, prompt_id)
        except LockError:
            continue  # check reports a corrupt lock
        if lock is None:
            continue
        old = _environments(before.get(rel))
        for env in repo.environments[1:]:
            version = lock.environments.get(env)
            if version and version != old.get(env):
                moved.setdefault(prompt_id, []).append((env, version))
    return moved


def _environments(raw: bytes | None) -> dict[str, Any]:
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        return {}
    envs = doc.get("environments") if isinstance(doc, dict) else None
    return envs if isinstance(envs, dict) else {}
