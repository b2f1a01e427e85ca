"""Promotion gates: what must hold before a prompt's current hash may serve an environment.

``evaluate`` answers for one card, one target environment and the policy: eval results for
this hash (present, thresholds, age, newer than a withdrawal), approvals by the required
roles (approvals.role_statuses), the branch, and the order of environments. It never writes;
``promptlane promote``, ``promptlane sync`` (a hand-raised ``environment:``),
``promptlane check`` and ``promptlane status`` all ask it, so they cannot disagree.
Each unmet gate is one problem line that names the command which satisfies it.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from promptlane.core.problems import Problem, PromptlaneError, UsageError

if TYPE_CHECKING:
    from promptlane.store.cards import Card
    from promptlane.store.policyfile import EnvRule, Policy, RiskRule
    from promptlane.store.registry import Lock
    from promptlane.store.repo import Repo

DEFAULT_RISK = "high"  # a card without risk: gets the strictest rules
CLOCK_SKEW = timedelta(minutes=5)  # an approval form dated later than now + this does not count
RESULTS_CLOCK_SKEW = timedelta(days=1)  # eval results dated later than now + this do not count


# ---------------------------------------------------------------- inputs


def load_eval_results(repo: "Repo", prompt_id: str, payload_hash: str) -> dict | None:
    """The normalised eval results of one hash (promptlane-eval/1), None when there are none."""
    from promptlane.evals.results import load_results

    return load_results(repo, prompt_id, payload_hash)


def synced_card(repo: "Repo", prompt_id: str) -> tuple["Card", "Lock"]:
    """The card and lock of a prompt whose managed block agrees with the registry."""
    from promptlane.store.cards import read_card
    from promptlane.store.registry import LockError, read_lock
    from promptlane.store.repo import is_prompt_id

    if not is_prompt_id(prompt_id) or not repo.card_path(prompt_id).is_file():
        from promptlane.core.problems import one_line

        raise UsageError(one_line(f"no prompt {prompt_id!r} (prompts/{prompt_id}/card.yml); known: {', '.join(repo.prompt_ids()) or 'none'}"))
    card = read_card(repo, prompt_id)
    if card.problems:
        raise PromptlaneError("the card has problems; fix them first (`promptlane check`)", card.problems)
    try:
        lock = read_lock(repo, prompt_id)
    except LockError as exc:
        raise PromptlaneError("the registry lock is unreadable", [exc.problem]) from None
    entry = lock.entry(str(card.version)) if lock else None
    if card.data.get("hash") != card.hash or entry is None or entry["hash"] != card.hash:
        line, col = card.where("hash")
        raise PromptlaneError("not synced", [Problem(card.rel, line, col, "PL153",
                              f"{prompt_id} changed since its last version; run `promptlane sync` first")])
    return card, lock


def parse_time(text: Any) -> datetime | None:
    """An ISO UTC time such as 2026-11-25T10:00:00Z (None when it is not one)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def current_branch(repo: "Repo") -> str | None:
    """PROMPTLANE_BRANCH (CI checkouts are often a detached HEAD), else git's branch."""
    from promptlane.store.git import current_branch as git_branch

    return os.environ.get("PROMPTLANE_BRANCH") or git_branch(repo.root)


# ---------------------------------------------------------------- evaluation


@dataclass
class GateResult:
    env: str
    problems: list[Problem] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)   # what passed, for the audit trail
    rule: "EnvRule | None" = None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Ctx:
    repo: "Repo"
    card: "Card"
    lock: "Lock"
    env: str
    result: GateResult

    def unmet(self, code: str, message: str) -> None:
        line, col = self.card.where("environment")
        self.result.problems.append(Problem(self.card.rel, line, col, code, message))

    @property
    def pid(self) -> str:
        return self.card.prompt_id


def evaluate(repo: "Repo", card: "Card", lock: "Lock", env: str, policy: "Policy | None" = None,
             branch: str | None = None, now: str | None = None) -> GateResult:
    """Every gate for serving the card's current version in ``env``; ``ok`` when all pass."""
    from promptlane.store import logs as events
    from promptlane.store.policyfile import load_rules

    ctx = _Ctx(repo, card, lock, env, GateResult(env))
    policy = policy or load_rules(repo)
    rule = _rule(ctx, policy)
    if rule is None:
        return ctx.result
    ctx.result.rule = rule
    risk_name = card.data.get("risk", DEFAULT_RISK)
    risk = rule.risk[risk_name]
    _order_gate(ctx, policy, rule)
    _branch_gate(ctx, rule, branch if branch is not None else current_branch(repo))
    _eval_gates(ctx, risk, risk_name, parse_time(now or events.now()))
    if risk.policy_only:
        ctx.result.evidence.append(f"policy_only for {risk_name} risk: no approvals needed")
    else:
        _approval_gates(ctx, risk)
    return ctx.result


def _rule(ctx: _Ctx, policy: "Policy") -> "EnvRule | None":
    envs = policy.environments
    if ctx.env not in envs:
        ctx.unmet("PL600", f"'{ctx.env}' is not an environment ({', '.join(envs)}); see workflows/policy-as-code-example.yml")
    elif ctx.env == envs[0]:
        ctx.unmet("PL600", f"{ctx.env} is the first environment: every new version starts there (`promptlane sync`)")
    elif policy.rule(ctx.env) is None:
        ctx.unmet("PL600", f"the policy has no promotion.{ctx.env} rule; add one to workflows/policy-as-code-example.yml")
    else:
        return policy.rule(ctx.env)
    return None


def _order_gate(ctx: _Ctx, policy: "Policy", rule: "EnvRule") -> None:
    envs = policy.environments
    previous = envs[envs.index(ctx.env) - 1]
    served = ctx.lock.environments.get(previous)
    if served == ctx.card.version:
        ctx.result.evidence.append(f"{previous} serves it")
    elif rule.allow_skip:
        ctx.result.evidence.append(f"allow_skip: {previous} skipped")
    else:
        ctx.unmet("PL601", f"{ctx.env} needs {previous} to serve {ctx.card.version} first ({previous} serves "
                  f"{served or 'nothing'}): run `promptlane promote {ctx.pid} --to {previous}`")


def _branch_gate(ctx: _Ctx, rule: "EnvRule", branch: str | None) -> None:
    allowed = ", ".join(rule.allowed_branches)
    if branch is None or branch == "HEAD":
        ctx.unmet("PL602", f"cannot tell the git branch (detached HEAD?); promotions to {ctx.env} are allowed on: "
                  f"{allowed}; check one out (`git switch main`) or set PROMPTLANE_BRANCH in CI")
    elif not any(fnmatch.fnmatchcase(branch, pattern) for pattern in rule.allowed_branches):
        ctx.unmet("PL602", f"branch '{branch}' may not promote to {ctx.env} (allowed_branches: {allowed}); "
                  f"promote from one of them (`git switch main`)")
    else:
        ctx.result.evidence.append(f"branch {branch}")


def _eval_gates(ctx: _Ctx, risk: "RiskRule", risk_name: str, now: datetime | None) -> None:
    from promptlane.evals.results import results_rel

    rel, rerun = results_rel(ctx.pid, ctx.card.hash), f"`promptlane eval run {ctx.pid}`"
    try:
        results = load_eval_results(ctx.repo, ctx.pid, ctx.card.hash)
    except PromptlaneError as exc:  # the eval reader's own verdict on a bad file, at its path
        ctx.result.problems.extend(exc.problems or [Problem(rel, 1, 1, "PL610", f"{exc}; rerun {rerun}")])
        return
    except Exception as exc:  # results are input: a bad file must be a gate problem, never a crash
        ctx.result.problems.append(Problem(rel, 1, 1, "PL610", f"eval results cannot be read ({exc}); rerun {rerun}"))
        return
    if results is None:
        ctx.unmet("PL603", f"no eval results for {ctx.card.version} ({ctx.card.hash[:19]}...) in {rel}: run {rerun}")
        return
    if results.get("hash") != ctx.card.hash:
        ctx.result.problems.append(Problem(rel, 1, 1, "PL610", f"belongs to {str(results.get('hash'))[:19]}..., "
                                           f"not {ctx.card.hash[:19]}...; rerun {rerun}"))
        return
    _threshold_gates(ctx, results, risk, risk_name, rerun)
    _age_gates(ctx, results, risk, now, rerun)


def _threshold_gates(ctx: _Ctx, results: dict, risk: "RiskRule", risk_name: str, rerun: str) -> None:
    where = f"promotion.{ctx.env}.risk.{risk_name}"
    rate = results.get("pass_rate")
    if not isinstance(rate, (int, float)) or not results.get("tests"):
        ctx.unmet("PL604", f"the eval results have no tests; add tests to evals/tests/{ctx.pid}.yml and run {rerun}")
        return
    if rate < risk.min_pass_rate:
        ctx.unmet("PL604", f"eval pass rate {rate:.1%} is below {risk.min_pass_rate:.1%} ({where}.min_pass_rate); "
                  f"fix the prompt or its tests, then run {rerun}")
    categories = results.get("categories") or {}
    for name, minimum in sorted(risk.min_category_pass_rate.items()):
        got = (categories.get(name) or {}).get("pass_rate")
        if not isinstance(got, (int, float)) or not (categories.get(name) or {}).get("tests"):
            ctx.unmet("PL605", f"no eval tests in category {name} ({where}.min_category_pass_rate needs "
                      f"{minimum:.1%}); add tests with metadata.category: {name}, then run {rerun}")
        elif got < minimum:
            ctx.unmet("PL605", f"category {name} passes {got:.1%}, below {minimum:.1%} "
                      f"({where}.min_category_pass_rate.{name}); fix the prompt or its tests, then run {rerun}")
    if not any(p.code in ("PL604", "PL605") for p in ctx.result.problems):
        ctx.result.evidence.append(f"evals {rate:.1%} ({results.get('tests')} tests)")


def _age_gates(ctx: _Ctx, results: dict, risk: "RiskRule", now: datetime | None, rerun: str) -> None:
    ran = parse_time(results.get("time"))
    if ran is None or now is None:
        ctx.unmet("PL606", f"the eval results have no valid time; rerun {rerun}")
        return
    age = (now - ran).total_seconds() / 86400
    if ran > now + RESULTS_CLOCK_SKEW:  # would never age out, and would always be "newer" than a withdrawal
        ctx.unmet("PL606", f"the eval results are dated {results['time']}, in the future; rerun {rerun}")
        return
    if age > risk.max_eval_age_days:
        ctx.unmet("PL606", f"eval results of {results['time']} are {age:.0f} days old; the policy accepts "
                  f"{risk.max_eval_age_days} for {ctx.env}: rerun {rerun}")
    withdrawn = ctx.lock.withdrawn.get(str(ctx.card.version))
    if withdrawn:
        cut = parse_time(withdrawn.get("time"))
        if cut is None or ran <= cut:
            ctx.unmet("PL607", f"{ctx.card.version} was withdrawn from {withdrawn.get('env')} on {withdrawn.get('time')} "
                      f"({withdrawn.get('reason')}); it can be promoted again only with eval results newer than "
                      f"that: rerun {rerun}")
        else:
            ctx.result.evidence.append(f"re-evaluated after its withdrawal on {withdrawn.get('time')}")
    ctx.result.evidence.append(f"evals of {results['time']}")


def _approval_gates(ctx: _Ctx, risk: "RiskRule") -> None:
    from promptlane.store.reviews import REVIEWERS, load_reviewers, role_statuses

    reviewers = load_reviewers(ctx.repo)
    known: list[str] = []
    for wanted in risk.required_roles:
        role = reviewers.role_named(wanted)
        if role is None or not reviewers.roles.get(role):
            ctx.unmet("PL609", f"role {wanted} is required for {ctx.env} but has no reviewers in {REVIEWERS}; add them there")
        else:
            known.append(role)
    statuses, problems = role_statuses(ctx.repo, ctx.card, ctx.lock, tuple(known), reviewers)
    ctx.result.problems.extend(problems)
    for role in known:
        status = statuses[role]
        if status.satisfied:
            ctx.result.evidence.append(f"{role}: {', '.join(status.approved_by)}")
            continue
        cmd = f"promptlane approve {ctx.pid} --role {role!r}" if " " in role else f"promptlane approve {ctx.pid} --role {role}"
        who = ", ".join(reviewers.roles[role])
        if status.rejected_by:
            ctx.unmet("PL608", f"{role} rejected {ctx.card.version}: {'; '.join(status.rejected_by)}; it needs a later "
                      f"approval by a {role} reviewer ({who}): `{cmd}`")
        else:
            ctx.unmet("PL608", f"{ctx.env} needs an approval by {role} for {ctx.card.version} ({ctx.card.hash[:19]}...): "
                      f"a {role} reviewer ({who}) runs `{cmd}`")


# ---------------------------------------------------------------- for check and status


def first_unserved(repo: "Repo", card: "Card", lock: "Lock") -> str | None:
    """The next environment this version would be promoted to (None at the last one)."""
    envs = repo.environments
    serving = [i for i, env in enumerate(envs) if lock.environments.get(env) == card.version]
    start = max(serving) + 1 if serving else 1
    return envs[start] if start < len(envs) else None


def hand_edit_problems(repo: "Repo", card: "Card", lock: "Lock") -> list[Problem]:
    """``check``: the card's environment is not what the lock says it serves."""
    env = card.environment
    line, col = card.where("environment")
    served = lock.environments.get(env)
    if env == repo.first_environment or not raised(repo, card, lock):
        return [Problem(card.rel, line, col, "PL160",
                        f"environment: {env} but registry/{card.prompt_id}.lock.json has {env} serving "
                        f"{served or 'nothing'}; set environment: back to what the registry says, or `promptlane rollback`")]
    try:
        result = evaluate(repo, card, lock, env)
    except UsageError as exc:
        return exc.problems or [Problem(card.rel, line, col, "PL600", str(exc))]
    if not result.ok:
        head = Problem(card.rel, line, col, "PL160",
                       f"environment: {env} raised by hand but registry/{card.prompt_id}.lock.json has {env} serving "
                       f"{served or 'nothing'}; {len(result.problems)} promotion gate(s) unmet, each listed here; "
                       f"when they pass, `promptlane sync` (or the commit hook) records the promotion")
        return [head, *result.problems]
    return [Problem(card.rel, line, col, "PL160",
                    f"environment: {env} raised by hand and every gate passes, but the registry does not record it yet: "
                    f"run `promptlane sync` (the hook does it on commit) or `promptlane promote {card.prompt_id} --to {env}`")]


def raised(repo: "Repo", card: "Card", lock: "Lock") -> bool:
    """The card names an environment above every one that serves its version."""
    envs = repo.environments
    env = card.environment
    if env not in envs or lock.environments.get(env) == card.version:
        return False
    serving = [i for i, e in enumerate(envs) if lock.environments.get(e) == card.version]
    return envs.index(env) > max(serving, default=0)
