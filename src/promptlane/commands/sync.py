"""``promptlane sync``: the fixer. Hash, bump, demote, snapshot, changelog, audit.

For each prompt touched: when its payload hash differs from the card's, the prompt gets the
version already issued for that hash or a new one bumped above every version ever issued,
goes back to the first environment, and the card, lock, snapshot, changelog and audit log are
updated in one transaction. A consistent prompt is left byte-for-byte alone, unless its
`environment:` was raised by hand: then the promotion gates run (operations/promotion.py)
and, if they pass, the promotion is recorded exactly as `promptlane promote` records it.
A managed field edited by hand (a version never issued or issued for another hash, a hash or
author the lock did not issue, an environment skipped or below what serves the version, the
whole block set to another issued version's while the texts are a served version's) is
refused with the value to put back, as `promptlane check` reports it (core/managed.py), and
nothing of that prompt is written or logged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from promptlane.commands.arguments import ids_from, open_repo
from promptlane.commands.output import report
from promptlane.core import semver
from promptlane.core.card import Card
from promptlane.core.events import Event
from promptlane.core.layout import AUDIT_LOG, CHANGELOG
from promptlane.core.managed import MANAGED, managed_findings
from promptlane.core.problems import EXIT_FAILED, EXIT_OK, Problem
from promptlane.core.registry import Lock, LockError, snapshot_json
from promptlane.store.cards import read_card
from promptlane.store.cardwrite import update_card
from promptlane.store.context import actor, now
from promptlane.store.fsio import Transaction, recover
from promptlane.store.logs import record
from promptlane.store.registry import read_lock, read_snapshot
from promptlane.store.repo import Repo

FIRST_VERSION = "1.0.0"


@dataclass
class SyncResult:
    changed: list[str] = field(default_factory=list)      # one line per prompt changed
    files: list[str] = field(default_factory=list)        # files written
    problems: list[Problem] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)     # files put back from an interrupted run


def sync(repo: Repo, prompt_ids: list[str]) -> SyncResult:
    result = SyncResult(restored=recover(repo.root))
    txn = Transaction(repo.root)
    pending: list[Event] = []
    notifications: list = []  # promotions whose policy notify runs once the files are written
    for prompt_id in prompt_ids:
        card = read_card(repo, prompt_id)
        if not card.ok:
            result.problems.extend(card.problems)
            continue
        try:
            lock = read_lock(repo, prompt_id) or Lock(prompt_id)
        except LockError as exc:
            result.problems.append(exc.problem)
            continue
        if lock.retired is not None:  # never versioned or served again (operations/retirement.py)
            from promptlane.operations.retirement import retired_problem

            result.problems.append(retired_problem(repo, lock, card.rel))
            continue
        refused = _hand_edits(repo, card, lock)
        if refused:  # nothing of this prompt is written or logged (core.managed says why)
            result.problems.extend(refused)
            continue
        plan = _plan(repo, card, lock)
        if plan is None:
            _promote_by_hand(repo, txn, card, lock, pending, result, notifications)
            continue
        summary, new_events, registry_changed = plan
        _stage(repo, txn, card, lock, registry_changed)
        pending.extend(new_events)
        result.changed.append(summary)
    record(txn, repo.root, pending, CHANGELOG, AUDIT_LOG)
    txn.commit()
    result.files = txn.paths
    for rule, event, env in notifications:
        from promptlane.operations.promotion import run_notify

        result.changed.extend(f"{event.prompt}: {line}" for line in run_notify(repo, rule, event, env))
    return result


def _promote_by_hand(repo: Repo, txn: Transaction, card: Card, lock: Lock, pending: list, result: SyncResult,
                     notifications: list) -> None:
    """Hash unchanged but `environment:` raised by hand: the same gates and records as
    `promptlane promote`, in this transaction, so both paths end in the same state."""
    from promptlane.operations.promotion import hand_promotion

    outcome = hand_promotion(repo, txn, card, lock)
    if outcome is None:
        return
    result.problems.extend(outcome.problems)
    if outcome.event is not None:
        pending.append(outcome.event)
        result.changed.append(outcome.summary)
        notifications.append((outcome.rule, outcome.event, card.environment))


def _hand_edits(repo: Repo, card: Card, lock: Lock) -> list[Problem]:
    """The managed fields edited by hand, as check reports them: sync refuses them rather
    than "return" the prompt to its own version and log a demotion that never happened."""
    if any(key not in card.data for key in MANAGED):
        return []  # not versioned yet: sync writes the block
    findings = managed_findings(card.data, card.sound_hash, lock, repo.environments)
    return [card.problem(f.code, f.message, f.key) for f in findings if f.by_hand]


def _is_consistent(card: Card, lock: Lock) -> bool:
    entry = lock.entry(str(card.version))
    return card.data.get("hash") == card.hash and entry is not None and entry["hash"] == card.hash


def _plan(repo: Repo, card: Card, lock: Lock):
    """Decide the new managed block; mutate ``card.data``/``lock`` in memory only."""
    if _is_consistent(card, lock):
        risk_event = _risk_event(repo, card, lock)
        if risk_event is not None:
            card.data.pop("bump", None)
            return f"{card.prompt_id}: {risk_event.reason} (recorded in the changelog and audit log)", [risk_event], True
        if "bump" not in card.data:
            return None
        card.data.pop("bump")  # an override with nothing to apply to: drop it
        return f"{card.prompt_id}: removed unused bump: (hash unchanged)", [], False
    who = actor(repo.root)
    time = now()
    dev = repo.first_environment
    previous_env = card.environment
    payload_hash = card.sound_hash  # sync plans sound cards only (card.ok): read_card set the hash
    known = lock.version_of(payload_hash)
    if known is not None:
        version, kind = known, None
        reason = f"payload returned to {known}"
    else:
        if lock.versions:
            kind = card.data.get("bump") or _auto_bump(repo, card, lock)
            version = semver.next_version(lock.issued(), kind)
        else:
            kind, version = "initial", FIRST_VERSION
        lock.versions.append({"version": version, "hash": payload_hash, "author": who, "created": time, "bump": kind})
        reason = "first version" if kind == "initial" else f"{kind} change"
    for env in repo.environments:
        lock.environments.setdefault(env, None)
    lock.environments[dev] = version
    card.data.update({"version": version, "hash": payload_hash, "author": who if known is None else _author(lock, version), "environment": dev})
    card.data.pop("bump", None)
    serving = {env: ver for env, ver in lock.environments.items() if ver}
    new_events = [Event("version", time, who, card.prompt_id, version, payload_hash, serving, reason, kind)]
    if isinstance(previous_env, str) and previous_env != dev and previous_env in repo.environments:
        new_events.append(Event("demote", time, who, card.prompt_id, version, payload_hash, serving,
                                       f"hash changed: back in {dev} from {previous_env}"))
    risk_event = _risk_event(repo, card, lock)
    if risk_event is not None:
        new_events.append(risk_event)
    bump_text = {None: "returned ", "initial": "new prompt "}.get(kind, f"{kind} ")
    summary = f"{card.prompt_id}: {bump_text}-> {version} ({payload_hash[:19]}), environment {dev}"
    return summary, new_events, True


def _risk_event(repo: Repo, card: Card, lock: Lock) -> Event | None:
    """A change of the card's risk tier since the lock last recorded it, as a "risk" event
    (the lock records it from then on). Lowering it also needs a Governance approval (PL412)."""
    from promptlane.core.gates import DEFAULT_RISK

    risk = str(card.data.get("risk", DEFAULT_RISK))
    previous = lock.risk or _snapshot_risk(repo, card, lock)
    if previous is None or previous == risk:
        if lock.risk is not None:
            lock.risk = risk
        return None  # unchanged (a lock from before risks were recorded keeps none until it changes)
    lock.risk = risk
    version = str(card.data.get("version"))
    serving = {env: ver for env, ver in lock.environments.items() if ver}
    return Event("risk", now(), actor(repo.root), card.prompt_id, version, card.sound_hash, serving,
                 f"risk {previous} -> {risk}")


def _snapshot_risk(repo: Repo, card: Card, lock: Lock) -> str | None:
    """The risk recorded with the version the card was at (its snapshot keeps the card's risk)."""
    from promptlane.core.gates import DEFAULT_RISK

    version = card.data.get("version")
    snapshot = read_snapshot(repo, card.prompt_id, str(version)) if lock.entry(str(version)) else None
    card_then = snapshot.get("card") if snapshot else None
    return str(card_then.get("risk", DEFAULT_RISK)) if isinstance(card_then, dict) else None


def _author(lock: Lock, version: str) -> str:
    entry = lock.entry(version) or {}
    return entry.get("author", "unknown")


def _auto_bump(repo: Repo, card: Card, lock: Lock) -> str:
    """Compare with the version the card was at (else the newest issued) to pick the bump."""
    base = card.version if lock.entry(str(card.version)) else lock.versions[-1]["version"]
    snapshot = read_snapshot(repo, card.prompt_id, base)
    if snapshot is None:
        return "minor"  # no baseline to compare with: assume behaviour changed
    return semver.classify_change(snapshot["payload"], cast(dict, card.payload)) or "patch"  # a sound card's


def _stage(repo: Repo, txn: Transaction, card: Card, lock: Lock, registry_changed: bool) -> None:
    values = {key: card.data[key] for key in ("version", "hash", "author", "environment")}
    txn.write(card.rel, update_card(card.text, values, remove=("bump",)))
    if not registry_changed:
        return
    txn.write(repo.lock_rel(card.prompt_id), lock.to_json())
    version = card.data["version"]
    snapshot = repo.snapshot_rel(card.prompt_id, version)
    if not (repo.root / snapshot).exists():
        # sync stages sound cards only (card.ok): read_card set their hash and payload.
        txn.write(snapshot, snapshot_json(card.prompt_id, version, card.sound_hash, card.data, cast(dict, card.payload)))


def cmd_sync(args, repo: Repo | None = None) -> int:
    """``repo``: already opened (``promptlane hook`` opens it once for its parts)."""
    repo = repo or open_repo(args)
    result = sync(repo, ids_from(repo, args.files, args.all))
    if result.restored:
        print(f"Put back {len(result.restored)} file(s) left by an interrupted run: {', '.join(result.restored)}")
    for line in result.changed:
        print(f"promptlane sync: {line}")
    for path in result.files:
        print(f"Fixing {path}")
    count = report(result.problems)
    if result.changed:
        print("Files changed: review them and `git add` them, then commit again.")
    return EXIT_FAILED if (result.changed or count or result.restored) else EXIT_OK
