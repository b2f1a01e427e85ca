"""Promotions new since the base, judged again under the rules in force (PL630), and the
registry's history only grown (PL631).

A contributor can run ``promptlane promote`` under rules of their own making (their reviewers,
their policy) and commit the result. So ``check`` takes every lock pointer that moved since
the base (or, without one, since HEAD) and asks the gates again, under the base's policy,
reviewers and signers, at this run's clock (a backdated record must not make old evidence
young); the changelog entry that records the promotion says what every environment served
just after it (for the order gate). The branch gate is not asked again: which branch a commit
was made on is not in the clone (branch protection decides who may push where). A rollback
counts only to a version that environment served before the new entries. Versions the base's
lock issued, and their snapshots, are never rewritten.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from promptlane.core.changelog import parse_changelog
from promptlane.core.layout import CHANGELOG
from promptlane.core.problems import Problem, UsageError
from promptlane.core.record import replace as replace_record
from promptlane.core.registry import Lock, LockError
from promptlane.store import git, rules

if TYPE_CHECKING:
    from promptlane.core.card import Card
    from promptlane.store.repo import Repo


def promotion_problems(repo: "Repo") -> list[Problem]:
    """PL630 for each environment whose pointer moved since the base to a version whose
    promotion does not pass its gates under the rules in force."""
    from promptlane.store.promoted import changed_locks

    compare = rules.compared_with(repo)
    changed = changed_locks(repo, compare)
    if not changed:
        return _store_problems(repo, compare)
    entries = _new_entries(repo, compare)
    served = _ServedBefore(repo, len(entries))
    found: list[Problem] = []
    for rel, prompt_id, old_doc in changed:
        found += _lock_problems(repo, compare, rel, prompt_id, entries, served, old_doc)
    return found + _store_problems(repo, compare)


class _ServedBefore:
    """(prompt, environment, version) for every state the record shows before the new entries:
    what a rollback may return to. Read only when a rollback is met (it reads every segment)."""

    def __init__(self, repo: "Repo", new: int):
        self.repo, self.new = repo, new
        self.states: set[tuple[str, str, str]] | None = None

    def __contains__(self, item: tuple[str, str, str]) -> bool:
        if self.states is None:
            self.states = _served_before(self.repo, self.new)
        return item in self.states


def _served_before(repo: "Repo", new: int) -> set[tuple[str, str, str]]:
    from promptlane.core.changelog import ChangelogError
    from promptlane.store.logs import read_all_changelogs

    try:
        entries = read_all_changelogs(repo.root)
    except ChangelogError:
        return set()
    old = entries[:len(entries) - new] if new else entries
    return {(str(e.get("prompt")), env, str(version)) for e in old if isinstance(e, dict)
            and isinstance(e.get("environments"), dict) for env, version in e["environments"].items() if version}


def _store_problems(repo: "Repo", compare: str) -> list[Problem]:
    """PL631: a snapshot the base holds changed or removed (a version's text is fixed forever)."""
    from promptlane.core.layout import STORE

    return [Problem(rel, 1, 1, "PL631", f"changed or removed since {rules.compared_name(repo)}: a version's snapshot is "
                    f"never rewritten (`git checkout {compare[:12]} -- {rel}` restores it); a new text is a new version")
            for rel in git.changed_since(repo.root, compare, STORE)]


def _new_entries(repo: "Repo", compare: str) -> list[dict[str, Any]]:
    """Changelog entries appended since ``compare`` (audit verify --base proves it only grew)."""
    path = repo.root / CHANGELOG
    now = path.read_text(encoding="utf-8") if path.is_file() else ""
    before = git.show(repo.root, compare, CHANGELOG) or ""
    added = now[len(before):] if now.startswith(before) else now
    try:
        return [e for e in parse_changelog(added) if isinstance(e, dict)]
    except Exception:  # a changelog that cannot be read is check's and audit verify's to report
        return []


def _lock_problems(repo: "Repo", compare: str, rel: str, prompt_id: str, entries: list[dict[str, Any]],
                   served: "_ServedBefore", old_doc: dict[str, Any] | None) -> list[Problem]:
    from promptlane.store.registry import read_lock

    try:
        lock = read_lock(repo, prompt_id)
    except LockError:
        return []  # reported by check's registry problems
    if lock is None:  # deleted (with its prompt, say): the base's lock is never removed
        return [Problem(rel, 1, 1, "PL631", f"{prompt_id}'s lock was removed since {rules.compared_name(repo)}: a "
                        f"lock is never deleted (`git checkout {compare[:12]} -- {rel}` restores it); a prompt leaves "
                        f"with `promptlane retire {prompt_id} --reason ...`")] if old_doc else []
    found = _issued_problems(repo, compare, rel, old_doc, lock) + _retire_problems(repo, rel, lock, old_doc, entries)
    old = old_doc.get("environments") if old_doc else None
    old = old if isinstance(old, dict) else None
    policy = rules.policy(repo)
    for env in policy.environments[1:]:
        version = lock.environments.get(env)
        if not version or version == (old.get(env) if old else None):
            continue
        entry = _event_for(entries, prompt_id, env, version)
        withdrawn_then = old_doc.get("withdrawn") if old_doc else None
        base_withdrawn: dict[str, Any] = withdrawn_then if isinstance(withdrawn_then, dict) else {}
        if entry is not None and entry.get("event") == "rollback":
            if version in base_withdrawn:  # `promptlane rollback` never returns to a withdrawn version
                found.append(Problem(rel, 1, 1, "PL630", f"{env} serves {version} since {rules.compared_name(repo)} by a "
                                     f"rollback, but {version} was withdrawn ({base_withdrawn[version].get('time')}); it comes "
                                     f"back only by promotion, with eval results newer than its withdrawal"))
                continue
            if (prompt_id, env, version) in served:
                continue  # back to what env served before: the audit trail proves it (audit verify)
            found.append(Problem(rel, 1, 1, "PL630", f"{env} serves {version} since {rules.compared_name(repo)} by a "
                                 f"rollback, but {env} never served {version} before; a version comes to {env} "
                                 f"by promotion (`promptlane promote {prompt_id} --to {env}`)"))
            continue
        why, own = _why_not(repo, prompt_id, lock, env, version, entry, base_withdrawn)
        found += [p for p in own if p not in found]  # CI's own results contradict or lack it: their own lines
        if why:
            found.append(Problem(rel, 1, 1, "PL630", f"{env} serves {version} since {rules.compared_name(repo)}, but "
                                 f"{why} under {rules.source(repo)}"))
    return found


def _retire_problems(repo: "Repo", rel: str, lock: Lock, old_doc: dict[str, Any] | None,
                     entries: list[dict[str, Any]]) -> list[Problem]:
    """PL652: a retirement the base's lock holds undone or rewritten; PL651: a retirement new
    since the base without its logged ``retire`` event, or whose retire rule fails under the
    rules in force (its approvals judged as of what the prompt served just before)."""
    from promptlane.operations.retirement import judge

    then = old_doc.get("retired") if old_doc else None
    since = rules.compared_name(repo)
    if then is not None:
        if lock.retired != then:
            return [Problem(rel, 1, 1, "PL652", f"{lock.prompt_id} was retired ({since}: {then}), and the lock no longer "
                            "says so: a retirement is never undone; a prompt comes back only under a new id")]
        return []
    if lock.retired is None:
        return []
    mine = [e for e in entries if e.get("prompt") == lock.prompt_id]
    at = next((i for i in range(len(mine) - 1, -1, -1) if mine[i].get("event") == "retire"), None)
    if at is None:
        return [Problem(rel, 1, 1, "PL651", f"{lock.prompt_id} is marked retired since {since}, but no retire event is "
                        f"logged since then: retire it with `promptlane retire {lock.prompt_id} --reason ...` (with its approvals)")]
    before = mine[at - 1].get("environments") if at else (old_doc or {}).get("environments")
    as_then = Lock(lock.prompt_id, lock.versions, dict(before) if isinstance(before, dict) else {})
    try:
        verdict = judge(repo, lock.prompt_id, as_then, branch_known=False)
    except UsageError as exc:
        return [Problem(rel, 1, 1, "PL651", f"{lock.prompt_id}'s retirement cannot be judged ({exc})")]
    if verdict.ok:
        return []
    return [Problem(rel, 1, 1, "PL651", f"{lock.prompt_id} was retired since {since}, but its retire rule fails under "
                    f"{rules.source(repo)}: " + "; ".join(f"{p.code} {p.message}" for p in verdict.problems[:4]))]


def _issued_problems(repo: "Repo", compare: str, rel: str, old: dict[str, Any] | None, lock: Lock) -> list[Problem]:
    """PL631: every version the base's lock issued is still issued, for the same hash, author and time."""
    versions = old.get("versions") if old else None
    found = []
    for entry in versions if isinstance(versions, list) else []:
        if not isinstance(entry, dict):
            continue
        now = lock.entry(str(entry.get("version")))
        kept = now is not None and all(now.get(key) == entry.get(key) for key in ("hash", "author", "created"))
        if not kept:
            found.append(Problem(rel, 1, 1, "PL631", f"version {entry.get('version')} was issued for "
                                 f"{str(entry.get('hash'))[:19]}... by {entry.get('author')} ({rules.compared_name(repo)}), "
                                 "and the lock no longer says so: issued versions are never rewritten; a new text "
                                 "gets a new version (`promptlane sync`)"))
    withdrawn = old.get("withdrawn") if old else None
    for version, mark in (withdrawn.items() if isinstance(withdrawn, dict) else []):
        if lock.withdrawn.get(version) != mark:
            found.append(Problem(rel, 1, 1, "PL631", f"version {version} was withdrawn from {mark.get('env') if isinstance(mark, dict) else '?'} "
                                 f"({rules.compared_name(repo)}), and the lock no longer says so: a withdrawal is never "
                                 f"removed; {version} comes back only with eval results newer than it (PL607)"))
    return found


def _event_for(entries: list[dict[str, Any]], prompt_id: str, env: str, version: str) -> dict[str, Any] | None:
    """The latest new entry that left ``env`` serving ``version``."""
    for entry in reversed(entries):
        served = entry.get("environments")
        if entry.get("prompt") == prompt_id and isinstance(served, dict) and served.get(env) == version:
            return entry
    return None


def _why_not(repo: "Repo", prompt_id: str, lock: Lock, env: str, version: str, entry: dict[str, Any] | None,
             base_withdrawn: dict[str, Any]) -> tuple[str | None, list[Problem]]:
    """Why the promotion of ``version`` to ``env`` does not pass (None when it does), and the
    problems with CI's own results of it (PL640, PL641) to report on their own lines. With CI's
    results (``repo.ci_results``) the promotion is judged on them alone: CI re-derives."""
    from promptlane.core import gates
    from promptlane.operations.gating import gather

    if entry is None or entry.get("event") != "promote" or not isinstance(entry.get("time"), str):
        return "no changelog entry appended since then records its promotion", []
    card = _card_at(repo, prompt_id, lock, version)
    if card is None:
        return f"{version} is not a version of {prompt_id} in its lock", []
    as_then = Lock(lock.prompt_id, lock.versions, dict(entry["environments"]), {**base_withdrawn, **lock.withdrawn})
    policy = rules.policy(repo)
    try:
        # Judged at this clock, not the entry's time: a backdated entry must not make old evidence young.
        evidence = gather(repo, card, env, policy, branch="(not judged again)", ci_required=repo.ci_results is not None)
    except UsageError as exc:
        return f"it cannot be judged ({exc})", []
    result = gates.evaluate(card, as_then, env, policy, replace(evidence, branch=None, branch_known=False))
    own = [p for p in result.problems if p.code in ("PL640", "PL641")]
    if result.ok:
        return None, own
    return "its gates fail: " + "; ".join(f"{p.code} {p.message}" for p in result.problems[:4]) + \
        (f"; and {len(result.problems) - 4} more" if len(result.problems) > 4 else ""), own


def _card_at(repo: "Repo", prompt_id: str, lock: Lock, version: str) -> "Card | None":
    """The card as it was at ``version``: today's card (its risk and layout) with that version's hash."""
    from promptlane.store.cards import read_card

    entry = lock.entry(version)
    if entry is None:
        return None
    card = read_card(repo, prompt_id)
    data = {**card.data, "version": version, "hash": entry["hash"], "risk": _risk(repo, prompt_id, card.data.get("risk"))}
    return replace_record(card, data=data, hash=entry["hash"])


def _risk(repo: "Repo", prompt_id: str, now: Any) -> str:
    """The stricter of the card's risk now and at the base: a lowered risk counts only once
    approved and merged (PL412 says so meanwhile)."""
    from promptlane.core.gates import DEFAULT_RISK
    from promptlane.core.governance import RISK_ORDER, card_rel
    from promptlane.core.yamltext import load

    compare = rules.compared_with(repo)
    text = git.show(repo.root, compare, card_rel(prompt_id))
    then = load(text, card_rel(prompt_id)).data if text else None
    candidates = [str(now if now is not None else DEFAULT_RISK)]
    if isinstance(then, dict) and not git.is_link_at(repo.root, compare, card_rel(prompt_id)):
        candidates.append(str(then.get("risk", DEFAULT_RISK)))
    elif text is not None:
        candidates.append(DEFAULT_RISK)  # a base card that is no mapping (a link's target): fail closed
    known = [risk for risk in candidates if risk in RISK_ORDER] or [DEFAULT_RISK]
    return max(known, key=RISK_ORDER.__getitem__)

