"""The SDK registry: ``registry/<id>.lock.json`` (every version ever issued, what each
environment serves, what was withdrawn) and ``registry/store/<id>/<version>.json`` (the full
payload of a version, so a rollback needs no git history).
"""
from __future__ import annotations

import json

from promptlane.core.layout import REGISTRY
from promptlane.core.problems import Problem
from promptlane.core.registry import Lock, LockError, lock_shape_problem
from promptlane.store.repo import Repo


def read_lock(repo: Repo, prompt_id: str) -> Lock | None:
    """The lock, None when the prompt has never been synced; LockError when it is corrupt."""
    rel = repo.lock_rel(prompt_id)
    try:
        raw = (repo.root / rel).read_bytes()
    except FileNotFoundError:
        if (repo.root / rel).is_symlink():  # a link to nothing is a broken lock, not a prompt never synced
            raise LockError(Problem(rel, 1, 1, "PL156", f"is a link to nothing; restore it from git (`git checkout -- {rel}`)")) from None
        return None
    except OSError as exc:  # a folder where the lock belongs, registry/ a file, a permission
        raise LockError(Problem(rel, 1, 1, "PL156", f"cannot be read ({exc.strerror or exc}); restore it from git (`git checkout -- {rel}`)")) from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise LockError(Problem(rel, 1, 1, "PL156", f"is not UTF-8; restore it from git (`git checkout -- {rel}`)")) from None
    except json.JSONDecodeError as exc:
        raise LockError(Problem(rel, exc.lineno, exc.colno, "PL156", f"is not valid JSON ({exc.msg}); restore it from git (`git checkout -- {rel}`)")) from None
    except RecursionError:
        raise LockError(Problem(rel, 1, 1, "PL156", f"is nested too deeply to be a lock; restore it from git (`git checkout -- {rel}`)")) from None
    problem = lock_shape_problem(doc, prompt_id)
    if problem:
        raise LockError(Problem(rel, 1, 1, "PL156", f"{problem}; restore it from git (`git checkout -- {rel}`)"))
    return Lock(prompt_id, doc["versions"], doc["environments"], doc.get("withdrawn", {}), doc.get("risk"), doc.get("retired"))


def read_snapshot(repo: Repo, prompt_id: str, version: str) -> dict | None:
    """The snapshot, or None when it is missing or not a snapshot at all (callers report PL157)."""
    try:
        doc = json.loads((repo.root / repo.snapshot_rel(prompt_id, version)).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # missing, a folder, not UTF-8 JSON, absurdly nested
        return None
    return doc if isinstance(doc, dict) else None


def lock_ids(repo: Repo) -> list[str]:
    """The prompt ids of every ``registry/*.lock.json``, sorted (valid ids or not)."""
    folder = repo.root / REGISTRY
    return sorted(p.name[: -len(".lock.json")] for p in folder.glob("*.lock.json")) if folder.is_dir() else []


def read_locks(repo: Repo, prompt_ids: list[str]) -> tuple[list[Lock], list[Problem]]:
    """The locks of ``prompt_ids``, and a problem for each that cannot be read (a lock removed
    since its folder was listed is skipped: there is nothing to check)."""
    locks, problems = [], []
    for prompt_id in prompt_ids:
        try:
            lock = read_lock(repo, prompt_id)
        except LockError as exc:
            problems.append(exc.problem)
            continue
        if lock is not None:
            locks.append(lock)
    return locks, problems
