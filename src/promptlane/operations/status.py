"""What each environment serves per prompt, and what each prompt still lacks for its next
promotion (the same gates ``promptlane promote`` evaluates): the rows of ``promptlane status``
and of the report's gate column. ``withdrawn`` maps each served version a rollback withdrew
elsewhere to its mark ``{env, time, reason}``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from promptlane.store.repo import Repo


def _row(repo: "Repo", prompt_id: str, policy) -> dict:
    from promptlane.core.gates import first_unserved, raised
    from promptlane.core.registry import LockError
    from promptlane.operations.gating import evaluate
    from promptlane.store.cards import read_card
    from promptlane.store.registry import read_lock

    card = read_card(repo, prompt_id)
    row: dict[str, Any] = {"prompt": prompt_id, "version": card.data.get("version"), "hash": card.data.get("hash"),
           "environment": card.data.get("environment"), "serves": {env: None for env in repo.environments},
           "withdrawn": {}, "next": None, "lacks": []}
    try:
        lock = read_lock(repo, prompt_id)
    except LockError as exc:
        row["lacks"] = [f"{exc.problem}"]
        return row
    if lock:
        row["serves"].update({env: lock.environments.get(env) for env in repo.environments})
        served = set(row["serves"].values())
        row["withdrawn"] = {v: mark for v, mark in lock.withdrawals_in_force().items() if v in served}
    if not card.ok:
        row["lacks"] = [f"the card has {len(card.problems)} problem(s): run `promptlane check`"]
        return row
    entry = lock.entry(str(card.version)) if lock else None
    # No lock means no entry: ``lock is None`` only says so to the type checker.
    if card.data.get("hash") != card.hash or lock is None or entry is None or entry["hash"] != card.hash:
        row["lacks"] = ["changed since its last version: run `promptlane sync`"]
        return row
    row["next"] = card.environment if raised(repo.environments, card, lock) else first_unserved(repo.environments, card, lock)
    if row["next"] and policy is not None:
        result = evaluate(repo, card, lock, row["next"], policy)
        row["lacks"] = [f"{p.code} {p.message}" if p.path == card.rel else str(p) for p in result.problems]
    return row


def status_rows(repo: "Repo") -> list[dict]:
    from promptlane.store.policyfile import read_rules

    policy, problems = read_rules(repo.root)
    rows = [_row(repo, prompt_id, policy) for prompt_id in repo.prompt_ids()]
    if policy is None:
        for row in rows:
            row["lacks"].append(f"the policy is invalid: {problems[0] if problems else 'see promptlane check'}")
    return rows


