"""Serving a version in an environment, shared by ``promptlane promote`` and ``promptlane sync``.

``stage_promotion`` queues the card, the registry lock (and snapshot) on a transaction, so
they change together with the changelog and audit log or not at all. ``hand_promotion`` is
the same promotion for a card whose ``environment:`` was raised by hand, run by ``promptlane
sync``, so committing a hand-edited card and running ``promptlane promote`` end in the same
state. The policy's ``notify`` command runs after the transaction (``run_notify``); its failure
is reported and undoes nothing.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from promptlane.core.events import Event
from promptlane.core.problems import Problem
from promptlane.store.context import now

if TYPE_CHECKING:
    from promptlane.core.card import Card
    from promptlane.core.policy import EnvRule
    from promptlane.core.registry import Lock
    from promptlane.store.fsio import Transaction
    from promptlane.store.repo import Repo

_PLACEHOLDER = re.compile(r"\$(?:\{(PROMPTLANE_[A-Z_]+)\}|(PROMPTLANE_[A-Z_]+))")


# ---------------------------------------------------------------- shared steps


def serving(lock: "Lock") -> dict:
    return {env: ver for env, ver in lock.environments.items() if ver}


def stage_promotion(repo: "Repo", txn: "Transaction", card: "Card", lock: "Lock", env: str,
                    reason: str, who: str, time: str) -> Event:
    """Queue card, lock, snapshot and the evidence blobs for serving the card's version in
    ``env`` (its gates passed); the event, which names its evidence by digest."""
    from promptlane.core.registry import snapshot_json
    from promptlane.operations.gating import collect
    from promptlane.store.cardwrite import update_card
    from promptlane.store.evidence import stage_blobs

    version = str(card.version)
    payload_hash = card.sound_hash  # a synced card (synced_card, or sync's sound one): hash set
    for name in repo.environments:
        lock.environments.setdefault(name, None)
    lock.environments[env] = version
    if card.environment != env:
        txn.write(card.rel, update_card(card.text, {"environment": env}))
    txn.write(repo.lock_rel(card.prompt_id), lock.to_json())
    snapshot = repo.snapshot_rel(card.prompt_id, version)
    if not (repo.root / snapshot).exists():
        txn.write(snapshot, snapshot_json(card.prompt_id, version, payload_hash, card.data, cast(dict, card.payload)))
    evidence = collect(repo, card, env)
    stage_blobs(txn, repo.root, evidence)
    return Event("promote", time, who, card.prompt_id, version, payload_hash, serving(lock), reason, evidence=evidence.mapping)


def notify_argv(command: str, values: dict[str, str]) -> list[str]:
    """Split like a shell would, then substitute $PROMPTLANE_* per argument: no shell ever
    sees the values, so a prompt id or reason cannot inject a command."""
    return [_PLACEHOLDER.sub(lambda m: values.get(m[1] or m[2], m[0]), arg) for arg in shlex.split(command)]


def run_notify(repo: "Repo", rule: "EnvRule | None", event: Event, env: str) -> list[str]:
    """Run the environment's notify command; report, never raise (the change stands)."""
    if rule is None or not rule.notify:
        return []
    values = {"PROMPTLANE_PROMPT": event.prompt, "PROMPTLANE_VERSION": event.version, "PROMPTLANE_HASH": event.hash,
              "PROMPTLANE_ENV": env, "PROMPTLANE_EVENT": event.event, "PROMPTLANE_REASON": event.reason}
    try:
        argv = notify_argv(rule.notify, values)
        # The policy's own command, split like a shell would but run without one (notify_argv).
        done = subprocess.run(argv, cwd=repo.root, env={**os.environ, **values}, capture_output=True, text=True,  # noqa: S603
                              timeout=rule.notify_timeout)
    except (ValueError, OSError, subprocess.TimeoutExpired) as exc:
        return [f"notify failed ({exc}); the {event.event} stands: tell the stakeholders yourself"]
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        return [f"notify exited {done.returncode} ({tail[0]}); the {event.event} stands: tell the stakeholders yourself"]
    return [f"notify: {line}" for line in done.stdout.strip().splitlines()]


# ---------------------------------------------------------------- promote


@dataclass
class HandPromotion:
    summary: str = ""
    event: Event | None = None
    rule: "EnvRule | None" = None
    problems: list[Problem] = field(default_factory=list)


def hand_promotion(repo: "Repo", txn: "Transaction", card: "Card", lock: "Lock") -> HandPromotion | None:
    """For sync: a consistent card whose environment was raised by hand. None when it was not;
    else the gate problems, or the promotion queued on ``txn`` exactly as ``promote`` does it."""
    from promptlane.core.gates import raised
    from promptlane.core.managed import skip_finding
    from promptlane.operations.gating import evaluate
    from promptlane.store import rules
    from promptlane.store.context import actor

    if not raised(repo.environments, card, lock):
        return None
    env = card.environment
    skipped = skip_finding(card.data, lock, rules.policy(repo))  # the rule check reports (PL163)
    if skipped is not None:
        return HandPromotion(problems=[card.problem(skipped.code, skipped.message, skipped.key)])
    result = evaluate(repo, card, lock, env)
    if not result.ok:
        return HandPromotion(problems=result.problems)
    why = f"environment raised on the card [gates: {'; '.join(result.evidence)}]"
    event = stage_promotion(repo, txn, card, lock, env, why, actor(repo.root), now())
    return HandPromotion(f"{card.prompt_id}: promoted {card.version} to {env} (environment raised on the card; gates pass)",
                         event, result.rule)


# ---------------------------------------------------------------- rollback


