"""``promptlane promote`` and ``promptlane rollback``: move what an environment serves.

Promote checks every gate for the current hash (operations/gating.py), rollback serves a
version the environment served before and withdraws the current one; each is one transaction
over card, lock, changelog and audit log. Refusals come back as ``PromptlaneError`` with
problems, which ``cli.main`` prints and maps to 1 (a gate failed) or 2 (bad usage).
"""
from __future__ import annotations

from promptlane.commands.arguments import open_repo
from promptlane.core import hashing
from promptlane.core.calls import calls_of, is_chain
from promptlane.core.card import Card
from promptlane.core.changelog import ChangelogError
from promptlane.core.events import Event
from promptlane.core.layout import AUDIT_LOG, CHANGELOG, is_prompt_id
from promptlane.core.problems import EXIT_OK, Problem, PromptlaneError, UsageError
from promptlane.core.registry import Lock, LockError
from promptlane.core.suggest import did_you_mean
from promptlane.operations.gating import evaluate, synced_card
from promptlane.operations.promotion import run_notify, serving, stage_promotion
from promptlane.store.cards import read_card
from promptlane.store.cardwrite import update_card
from promptlane.store.context import actor, now
from promptlane.store.fsio import Transaction, recover
from promptlane.store import rules
from promptlane.store.logs import read_all_changelogs, record
from promptlane.store.policyfile import read_rules
from promptlane.store.registry import read_lock, read_snapshot
from promptlane.store.repo import Repo


def cmd_promote(args) -> int:
    print("\n".join(promote(open_repo(args), args.id, args.to, args.reason)))
    return EXIT_OK


def cmd_rollback(args) -> int:
    print("\n".join(rollback(open_repo(args), args.id, args.env, args.reason, args.to)))
    return EXIT_OK


def promote(repo: "Repo", prompt_id: str, env: str, reason: str | None = None) -> list[str]:
    """Gates for the current hash, then one transaction; the lines to print."""
    recover(repo.root)
    envs = repo.environments
    if env not in envs:
        raise UsageError(f"'{env}' is not an environment{did_you_mean(env, envs)}; environments: {', '.join(envs)}")
    card, lock = synced_card(repo, prompt_id)
    if lock.retired is not None:
        from promptlane.operations.retirement import retired_problem

        raise PromptlaneError(f"{prompt_id} is retired; nothing was changed", [retired_problem(repo, lock)])
    if lock.environments.get(env) == card.version and card.environment == env:
        return [f"{prompt_id}: {env} already serves {card.version}; nothing to do"]
    if card.environment in envs and envs.index(env) < envs.index(card.environment) and lock.environments.get(card.environment) == card.version:
        raise UsageError(f"{prompt_id} {card.version} is already in {card.environment}, above {env}; "
                         f"to serve an earlier version use `promptlane rollback {prompt_id} --env {env}`")
    result = evaluate(repo, card, lock, env)
    judged = f"judged under {rules.source(repo)}"
    if not result.ok:
        raise PromptlaneError(f"promotion of {prompt_id} {card.version} to {env} refused: "
                              f"{len(result.problems)} gate(s) unmet ({judged}); nothing was changed", result.problems)
    txn = Transaction(repo.root)
    why = f"{reason or f'promoted to {env}'} [gates: {'; '.join(result.evidence)}]"
    event = stage_promotion(repo, txn, card, lock, env, why, actor(repo.root), now())
    record(txn, repo.root, [event], CHANGELOG, AUDIT_LOG)
    txn.commit()
    lines = [f"Promoted {prompt_id} {card.version} ({card.sound_hash[:19]}...) to {env}; gates {judged}."]  # synced: hash set
    lines += [f"Fixing {path}" for path in txn.paths]
    lines += run_notify(repo, result.rule, event, env)
    lines.append("Review the changes, `git add` them and commit.")
    return lines


def served_history(repo: "Repo", prompt_id: str, env: str, lock: "Lock") -> list[str]:
    """Versions ``env`` has served, oldest first, from the changelog (and the lock's current)."""
    try:
        entries = read_all_changelogs(repo.root)
    except ChangelogError as exc:
        raise PromptlaneError("the changelog cannot be read", [Problem(
            exc.rel, exc.line, exc.col, "PL620", f"cannot be read ({exc.what}); restore it from git")]) from None
    history: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("prompt") == prompt_id and isinstance(entry.get("environments"), dict):
            served = entry["environments"].get(env)
            if isinstance(served, str) and (not history or history[-1] != served):
                history.append(served)
    current = lock.environments.get(env)
    if current and (not history or history[-1] != current):
        history.append(current)
    return history


def pick_target(lock: "Lock", history: list[str], current: str, env: str, prompt_id: str, to: str | None) -> str:
    if to is not None:
        if to == current:
            raise UsageError(f"{env} already serves {to}")
        if to not in history:
            raise UsageError(f"{prompt_id} {to} never served {env} (it served: {', '.join(history) or 'nothing'}); "
                             "roll back only to a version that passed the gates there")
        if to in lock.withdrawn:
            w = lock.withdrawn[to]
            raise UsageError(f"{to} was withdrawn from {w.get('env')} on {w.get('time')} ({w.get('reason')}); "
                             "it cannot be served again without new evals and a promotion")
        return to
    for version in reversed(history):
        if version != current and version not in lock.withdrawn:
            return version
    raise UsageError(f"{env} has served no earlier version of {prompt_id} that was not withdrawn; "
                     f"name one with --to VERSION or fix forward")


def _restore_card(repo: "Repo", txn: "Transaction", card: "Card", snapshot: dict, target: str, author: str, env: str) -> None:
    """Texts and card model/variables/steps (a chain's calls) of ``target`` from its snapshot (no git history)."""
    saved, payload = snapshot["card"], snapshot["payload"]
    chain = is_chain(payload)
    texts = [call.texts for call in calls_of(payload)]
    if chain:
        rebuilt = hashing.payload_hash(hashing.build_chain_payload(saved["model"], saved["calls"], texts, saved["variables"]))
        steps = [step for call in saved["calls"] for step in call["steps"]]
    else:
        rebuilt = hashing.payload_hash(hashing.build_payload(saved["model"], saved["steps"], texts[0], saved["variables"]))
        steps = saved["steps"]
    if rebuilt != snapshot["hash"]:
        raise PromptlaneError("corrupt snapshot", [Problem(repo.snapshot_rel(card.prompt_id, target), 1, 1, "PL621",
                              f"does not rebuild to its hash {snapshot['hash'][:19]}...; restore it from git")])
    for step, text in zip(steps, [text for call in texts for text in call], strict=False):
        name = step["file"]
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/"):
            raise PromptlaneError("unsafe snapshot", [Problem(repo.snapshot_rel(card.prompt_id, target), 1, 1, "PL621",
                                  f"step file '{name}' points outside prompts/{card.prompt_id}/")])
        txn.write(f"prompts/{card.prompt_id}/{name}", text + "\n")
    form = "calls" if chain else "steps"  # a card has one or the other: the restored version's
    values = {"model": saved["model"], "variables": saved["variables"], form: saved[form],
              "version": target, "hash": snapshot["hash"], "author": author, "environment": env}
    other = "steps" if chain else "calls"
    txn.write(card.rel, update_card(card.text, values, remove=(other,), instead={form: other}))


def _rollback_plan(repo: "Repo", prompt_id: str, env: str, to: str | None):
    if not is_prompt_id(prompt_id):  # never build a registry path from an arbitrary argument
        raise UsageError(f"{prompt_id!r} is not a prompt id ([a-z0-9][a-z0-9-]*)")
    if env not in repo.environments:
        raise UsageError(f"'{env}' is not an environment{did_you_mean(env, repo.environments)}; "
                         f"environments: {', '.join(repo.environments)}")
    try:
        lock = read_lock(repo, prompt_id)
    except LockError as exc:
        raise PromptlaneError("the registry lock is unreadable", [exc.problem]) from None
    if lock is not None and lock.retired is not None:
        from promptlane.operations.retirement import retired_problem

        raise PromptlaneError(f"{prompt_id} is retired; nothing was changed", [retired_problem(repo, lock)])
    if lock is None and prompt_id not in repo.prompt_ids():
        raise UsageError(f"no prompt {prompt_id!r} (prompts/{prompt_id}/card.yml){did_you_mean(prompt_id, repo.prompt_ids())}")
    current = lock.environments.get(env) if lock else None
    if lock is None or not current:  # no lock serves nothing: ``lock is None`` is for the type checker
        raise UsageError(f"{env} serves no version of '{prompt_id}'; nothing to roll back")
    if lock.entry(current) is None:  # a hand-edited pointer: refuse before writing anything
        raise PromptlaneError("the registry lock is inconsistent", [Problem(repo.lock_rel(prompt_id), 1, 1, "PL213",
                              f"{env} serves {current!r}, which was never issued; restore the lock from git")])
    envs = repo.environments
    above = [e for e in envs[envs.index(env) + 1:] if lock.environments.get(e) == current]
    if above:
        raise UsageError(f"{', '.join(above)} also serve(s) {current}; roll back the highest first: "
                         f"`promptlane rollback {prompt_id} --env {above[-1]} --reason ...`")
    target = pick_target(lock, served_history(repo, prompt_id, env, lock), current, env, prompt_id, to)
    snapshot = read_snapshot(repo, prompt_id, target)
    entry = lock.entry(target)
    if snapshot is None or entry is None or snapshot.get("hash") != entry["hash"]:
        raise PromptlaneError("no snapshot", [Problem(repo.snapshot_rel(prompt_id, target), 1, 1, "PL157",
                              f"snapshot of {prompt_id} {target} is missing or does not match the lock; restore it from git")])
    return read_card(repo, prompt_id), lock, current, target, snapshot, entry


def rollback(repo: "Repo", prompt_id: str, env: str, reason: str, to: str | None = None) -> list[str]:
    """Serve an earlier version in ``env``, withdraw the current one; the lines to print."""
    recover(repo.root)
    if not reason or not reason.strip():
        raise UsageError("--reason is required: the audit trail must say why")
    card, lock, current, target, snapshot, entry = _rollback_plan(repo, prompt_id, env, to)
    who, time = actor(repo.root), now()
    txn = Transaction(repo.root)
    # Restore the card only when it is exactly the withdrawn version: unsynced edits or a
    # newer version in progress are work that a rollback of a pointer must not throw away.
    restore = card.ok and card.data.get("hash") == card.hash and str(card.version) == current
    if restore:
        _restore_card(repo, txn, card, snapshot, target, entry.get("author", "unknown"), env)
    lock.environments[env] = target
    lock.withdrawn[current] = {"env": env, "time": time, "reason": reason, "actor": who}
    txn.write(repo.lock_rel(prompt_id), lock.to_json())
    event = Event("rollback", time, who, prompt_id, target, snapshot["hash"], serving(lock),
                         f"{env}: {current} -> {target}, {current} withdrawn: {reason}")
    record(txn, repo.root, [event], CHANGELOG, AUDIT_LOG)
    txn.commit()
    lines = [f"Fixing {path}" for path in txn.paths]
    if not restore:
        lines.append(f"The card stays as it is ({card.version or 'unreadable'}, not the withdrawn version "
                     f"or with unsynced edits); only what {env} serves changed.")
    lines += notice(prompt_id, env, current, lock.entry(current)["hash"], target, snapshot["hash"], reason, who, time)
    policy, _ = read_rules(repo.root)
    lines += run_notify(repo, policy.rule(env) if policy else None, event, env)
    lines.append("Review the changes, `git add` them and commit.")
    return lines


def notice(prompt_id: str, env: str, old: str, old_hash: str, new: str, new_hash: str, reason: str, who: str, time: str) -> list[str]:
    """The stakeholder notice a rollback prints (paste it into the incident channel)."""
    return [
        "",
        f"==== Stakeholder notice: rollback of {prompt_id} in {env} ====",
        f"What:      {env} now serves {prompt_id} {new} ({new_hash[:19]}...)",
        f"Withdrawn: {old} ({old_hash[:19]}...); it cannot be promoted again without new eval results",
        f"Why:       {reason}",
        f"Who/when:  {who}, {time}",
        f"Next:      fix forward: edit the prompt; its next version is numbered above {old}",
        "",
    ]
