"""Retiring a prompt, asked of a repository: gather what the retire rule reads (the policy's
``retire:`` in force, reviewers, signers, the approvals in reviews/policy/, the branch) and let
core/retire.py decide; stage the retirement on a transaction. ``promptlane retire`` and
``promptlane check`` (a retirement new since the base, judged again) both ask ``judge``.

A retirement sets every environment pointer of the lock to null and records ``retired`` (time,
actor, reason) in it, removes the prompt's folder (its texts stay in the store, at every
version), and appends a ``retire`` event: versions, snapshots, withdrawals, review forms and
logs are kept, never deleted.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from promptlane.core.layout import PROMPTS, is_prompt_id
from promptlane.core.problems import Problem, PromptlaneError

KEEP = f"{PROMPTS}/.gitkeep"

if TYPE_CHECKING:
    from promptlane.core.events import Event
    from promptlane.core.registry import Lock
    from promptlane.core.retire import RetireVerdict
    from promptlane.store.fsio import Transaction
    from promptlane.store.repo import Repo


def retired_problem(repo: "Repo", lock: "Lock", rel: str | None = None) -> Problem:
    """PL125: the prompt was retired; it is never served again under this id."""
    mark = lock.retired or {}
    return Problem(rel or repo.lock_rel(lock.prompt_id), 1, 1, "PL125",
                   f"{lock.prompt_id} was retired on {mark.get('time')} by {mark.get('actor')} ({mark.get('reason')}): a "
                   f"retired prompt is never served again; its texts are in registry/store/{lock.prompt_id}/. To bring "
                   f"one back, make a new prompt with a new id (`promptlane new {lock.prompt_id}-v2`) from a snapshot")


def orphan_problems(repo: "Repo", prompt_ids: list[str]) -> list[Problem]:
    """PL124: a prompt whose folder (or card) is gone while its lock still has it, not retired: a
    deletion by hand, which would leave the registry serving what nobody can see or check."""
    from promptlane.core.registry import LockError
    from promptlane.store.registry import read_lock

    found = []
    for prompt_id in prompt_ids:
        if not is_prompt_id(prompt_id) or repo.card_path(prompt_id).is_file():
            continue
        try:
            lock = read_lock(repo, prompt_id)
        except LockError as exc:
            found.append(exc.problem)
            continue
        if lock is None or lock.retired is not None or not lock.versions:
            continue
        served = ", ".join(f"{env} {ver}" for env, ver in lock.environments.items() if ver) or "nothing now"
        what = "folder" if not repo.prompt_dir(prompt_id).exists() else "card"
        found.append(Problem(repo.lock_rel(prompt_id), 1, 1, "PL124",
                             f"prompts/{prompt_id}/{'card.yml' if what == 'card' else ''} was deleted but the registry still has "
                             f"{prompt_id} (serving: {served}): restore it (`git checkout HEAD -- prompts/{prompt_id}`), or "
                             f"retire the prompt (`promptlane retire {prompt_id} --reason ...`, with its approvals)"))
    return found


def judge(repo: "Repo", prompt_id: str, lock: "Lock", branch_known: bool = True) -> RetireVerdict:
    """Whether the retire rule in force lets ``prompt_id`` be retired now, as ``lock`` stands.
    (The retire rule's modules are imported here: check asks this module only about orphans.)"""
    from promptlane.core import retire
    from promptlane.core.decisions import Panel
    from promptlane.core.events import parse_time
    from promptlane.store import context, rules
    from promptlane.store.reviews import governance_forms

    policy = rules.policy(repo)
    rule = policy.retire_rule()
    panel = Panel(rules.reviewers(repo), rules.signers(repo), rule.require_signatures, rules.source(repo))
    branch = context.branch(repo) if branch_known else None
    serving = retire.serving_text(lock, policy.environments)
    return retire.judge(prompt_id, serving, rule, panel, governance_forms(repo), branch,
                        parse_time(context.now()), repo.lock_rel(prompt_id), branch_known)


def folder_files(repo: "Repo", prompt_id: str) -> list[str]:
    """Every file under prompts/<id>/, by path; PromptlaneError for anything that is not a
    regular file or folder (a link: removing it could not be undone from a backup)."""
    top = repo.prompt_dir(prompt_id)
    if top.is_symlink():
        raise PromptlaneError("cannot retire", [Problem(f"{PROMPTS}/{prompt_id}", 1, 1, "PL131",
                              "is a symbolic link; replace it with the folder it points to, or remove it, and run again")])
    found = []
    for folder, dirs, files in os.walk(top):
        for name in sorted(dirs + files):
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, repo.root).replace(os.sep, "/")
            if os.path.islink(path) or not (os.path.isfile(path) or os.path.isdir(path)):
                raise PromptlaneError("cannot retire", [Problem(rel, 1, 1, "PL131", "is not a regular file or folder; "
                                      "move it out of the prompt's folder and run again (nothing was changed)")])
            if os.path.isfile(path):
                found.append(rel)
    return sorted(found)


def stage_retirement(repo: "Repo", txn: "Transaction", lock: "Lock", reason: str, who: str, time: str,
                     evidence: list[str]) -> Event:
    """Queue the lock (retired, served nowhere) and the folder's removal; the ``retire`` event."""
    from promptlane.core.events import Event

    envs = repo.environments
    served = [(env, lock.environments[env]) for env in envs if lock.environments.get(env)]
    served += [(env, ver) for env, ver in sorted(lock.environments.items()) if ver and env not in envs]
    last = served[-1][1] if served else lock.versions[-1]["version"]
    entry = lock.entry(str(last)) or lock.versions[-1]
    for env in list(lock.environments) + [e for e in envs if e not in lock.environments]:
        lock.environments[env] = None
    lock.retired = {"time": time, "actor": who, "reason": reason}
    txn.write(repo.lock_rel(lock.prompt_id), lock.to_json())
    for rel in folder_files(repo, lock.prompt_id):
        txn.delete(rel)
    if not [i for i in repo.prompt_ids() if i != lock.prompt_id] and not (repo.root / KEEP).exists():
        txn.write(KEEP, "")  # git keeps no empty folder: without prompts/ a clone is no governed repository
    was = ", ".join(f"{env} {ver}" for env, ver in served) or "nothing"
    detail = f"retired (served: {was}): {reason} [gates: {'; '.join(evidence)}]"
    return Event("retire", time, who, lock.prompt_id, str(entry["version"]), str(entry["hash"]), {}, detail)
