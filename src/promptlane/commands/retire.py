"""``promptlane retire ID --reason TEXT``: withdraw a prompt from every environment, for good.

The policy's retire rule (``retire:``, else one signed Governance approval) must be met by
signed approvals of this retirement (``promptlane approve ID --retire --role ROLE``); then one
transaction sets every pointer of the lock to null and marks it ``retired``, removes
prompts/ID/ (its texts stay in the store at every version), and appends a ``retire`` event
to the changelog and the audit log. Nothing else is deleted: versions, snapshots,
withdrawals, review forms, eval results and logs stay. The policy's notify runs afterwards.
A retired id is never served again: sync, check, promote and rollback refuse it (PL125).
"""
from __future__ import annotations

from promptlane.commands.arguments import open_repo
from promptlane.core.layout import AUDIT_LOG, CHANGELOG, is_prompt_id
from promptlane.core.policy import EnvRule
from promptlane.core.problems import EXIT_OK, PromptlaneError, UsageError
from promptlane.core.registry import LockError
from promptlane.core.suggest import did_you_mean
from promptlane.operations.promotion import run_notify
from promptlane.operations.retirement import judge, retired_problem, stage_retirement
from promptlane.store import rules
from promptlane.store.context import actor, now
from promptlane.store.fsio import Transaction, recover
from promptlane.store.logs import record
from promptlane.store.registry import lock_ids, read_lock
from promptlane.store.repo import Repo


def cmd_retire(args) -> int:
    print("\n".join(retire(open_repo(args), args.id, args.reason)))
    return EXIT_OK


def retire(repo: Repo, prompt_id: str, reason: str | None) -> list[str]:
    """The retire gate, then one transaction; the lines to print."""
    recover(repo.root)
    if not reason or not reason.strip():
        raise UsageError("--reason is required: the audit trail must say why the prompt is retired")
    if not is_prompt_id(prompt_id):
        raise UsageError(f"{prompt_id!r} is not a prompt id ([a-z0-9][a-z0-9-]*)")
    try:
        lock = read_lock(repo, prompt_id)
    except LockError as exc:
        raise PromptlaneError("the registry lock is unreadable; nothing was changed", [exc.problem]) from None
    if lock is None or not lock.versions:
        ids = [i for i in lock_ids(repo) if is_prompt_id(i)]
        raise UsageError(f"no prompt {prompt_id!r} in the registry (registry/{prompt_id}.lock.json)"
                         f"{did_you_mean(prompt_id, ids)}; known: {', '.join(ids) or 'none'}")
    if lock.retired is not None:
        raise PromptlaneError(f"{prompt_id} is already retired; nothing was changed", [retired_problem(repo, lock)])
    verdict = judge(repo, prompt_id, lock)
    judged = f"judged under {rules.source(repo)}"
    if not verdict.ok:
        raise PromptlaneError(f"retirement of {prompt_id} refused: {len(verdict.problems)} gate(s) unmet ({judged}); "
                              "nothing was changed", verdict.problems)
    who, time = actor(repo.root), now()
    served = {env: ver for env, ver in lock.environments.items() if ver}
    txn = Transaction(repo.root)
    event = stage_retirement(repo, txn, lock, reason.strip(), who, time, verdict.evidence)
    record(txn, repo.root, [event], CHANGELOG, AUDIT_LOG)
    txn.commit()
    lines = [f"Retired {prompt_id}: it is served nowhere now (it served: "
             f"{', '.join(f'{e} {v}' for e, v in served.items()) or 'nothing'}); gates {judged}."]
    lines += [f"{'Removing' if path in txn.deletes else 'Fixing'} {path}" for path in txn.paths]
    lines += _notify(repo, event, served)
    lines.append(f"Its versions, snapshots, reviews and logs are kept. Review the changes, `git add prompts/{prompt_id} "
                 "registry schemas audit` and commit.")
    return lines


def _notify(repo: Repo, event, served: dict[str, str]) -> list[str]:
    """The retire rule's notify, else the notify of each environment that served the prompt."""
    policy = rules.policy(repo)
    rule = policy.retire_rule()
    if rule.notify:
        return run_notify(repo, EnvRule("retire", {}, notify=rule.notify, notify_timeout=rule.notify_timeout), event, "all")
    lines: list[str] = []
    for env in served:
        lines += run_notify(repo, policy.rule(env), event, env)
    return lines
