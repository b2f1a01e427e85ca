"""``promptlane status``: what each environment serves per prompt, and what each prompt still
lacks for its next promotion (the same gates ``promptlane promote`` evaluates).

Plain text table (stable, greppable, fine in CI logs) or ``--json`` for machines.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from promptlane.core.problems import UsageError

if TYPE_CHECKING:
    from promptlane.store.repo import Repo


def _row(repo: "Repo", prompt_id: str, policy) -> dict:
    from promptlane.store.cards import read_card
    from promptlane.operations.gating import evaluate, first_unserved, raised
    from promptlane.store.registry import LockError, read_lock

    card = read_card(repo, prompt_id)
    row = {"prompt": prompt_id, "version": card.data.get("version"), "hash": card.data.get("hash"),
           "environment": card.data.get("environment"), "serves": {env: None for env in repo.environments},
           "next": None, "lacks": []}
    try:
        lock = read_lock(repo, prompt_id)
    except LockError as exc:
        row["lacks"] = [f"{exc.problem}"]
        return row
    if lock:
        row["serves"].update({env: lock.environments.get(env) for env in repo.environments})
    if not card.ok:
        row["lacks"] = [f"the card has {len(card.problems)} problem(s): run `promptlane check`"]
        return row
    entry = lock.entry(str(card.version)) if lock else None
    if card.data.get("hash") != card.hash or entry is None or entry["hash"] != card.hash:
        row["lacks"] = ["changed since its last version: run `promptlane sync`"]
        return row
    row["next"] = card.environment if raised(repo, card, lock) else first_unserved(repo, card, lock)
    if row["next"] and policy is not None:
        result = evaluate(repo, card, lock, row["next"], policy)
        row["lacks"] = [f"{p.code} {p.message}" if p.path == card.rel else str(p) for p in result.problems]
    return row


def status_rows(repo: "Repo") -> list[dict]:
    from promptlane.store.policyfile import read_rules

    policy, problems = read_rules(repo)
    rows = [_row(repo, prompt_id, policy) for prompt_id in repo.prompt_ids()]
    if policy is None:
        for row in rows:
            row["lacks"].append(f"the policy is invalid: {problems[0] if problems else 'see promptlane check'}")
    return rows


def render_table(rows: list[dict], environments: tuple[str, ...]) -> str:
    head = ["prompt", "version", *environments, "next"]
    body = [[r["prompt"], str(r["version"] or "-"), *[r["serves"].get(e) or "-" for e in environments],
             r["next"] or ("(top)" if not r["lacks"] else "-")] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    for row, cells in zip(rows, body):
        lines.append(fmt.format(*cells).rstrip())
        if row["next"] and not row["lacks"]:
            lines.append(f"    ready for {row['next']}: `promptlane promote {row['prompt']} --to {row['next']}`")
        lines += [f"    lacks: {item}" for item in row["lacks"]]
    return "\n".join(lines)


def status(repo: "Repo", as_json: bool = False) -> str:
    if not repo.prompt_ids():
        raise UsageError("no prompts yet; add one with `promptlane new ID`")
    rows = status_rows(repo)
    if as_json:
        return json.dumps({"environments": list(repo.environments), "prompts": rows}, indent=2, ensure_ascii=False)
    return render_table(rows, repo.environments)
