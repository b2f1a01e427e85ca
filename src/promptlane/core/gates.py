"""Promotion gates (pure): may a prompt's current hash serve an environment?

``evaluate`` decides for one card, one target environment and the policy, from ``Evidence``
gathered by operations/gating.py: the eval results for this hash (present, thresholds, age,
newer than a withdrawal), the review forms of this version and who may sign them, the branch,
and the order of environments. ``promptlane promote``, ``promptlane sync`` (a hand-raised
``environment:``), ``promptlane check`` and ``promptlane status`` all ask it, so they cannot
disagree. Each unmet gate is one problem line that names the command which satisfies it.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from promptlane.core.card import Card
from promptlane.core.events import parse_time
from promptlane.core.governance import DEFAULT_RISK as DEFAULT_RISK  # named here too (re-exported)
from promptlane.core import managed
from promptlane.core.policy import EnvRule, Policy, RiskRule
from promptlane.core.problems import Problem
from promptlane.core.registry import Lock
from promptlane.core.evalinputs import accepted_providers
from promptlane.core.results import FORMAT, inputs_problem, results_rel
from promptlane.core.decisions import Panel, Version, decide
from promptlane.core.reviews import REVIEWERS, Review, Reviewers
from promptlane.core.signatures import Signers

RESULTS_CLOCK_SKEW = timedelta(days=1)  # eval results dated later than now + this do not count


@dataclass(frozen=True)
class Evidence:
    """What the gates read, gathered from the repository before anything is decided."""
    results: dict[str, Any] | None              # this hash's eval results; None when there are none
    results_problems: list[Problem] = field(default_factory=list)  # the results file exists but is unusable
    reviewers: Reviewers | None = None          # loaded when the rule needs approvals
    forms: list[Review] = field(default_factory=list)  # every form filed for this version
    branch: str | None = None
    now: datetime | None = None
    unborn_branch: str | None = None            # branch is None because this branch has no commit yet
    git_refusal: str | None = None              # branch is None because git refuses this repository
    signers: Signers | None = None              # reviews/allowed_signers in force, with reviewers
    rules_source: str = "the working tree"      # whose policy, reviewers and signers judge: "base main (1a2b3c4)"
    branch_known: bool = True                   # False when a promotion is judged again from the record (no branch there)
    inputs: dict[str, Any] | None = None        # the repository's current eval inputs (store/evalinputs); None: not judged
    results_from: str | None = None             # where the results were read when not evals/results/ (CI's own run)
    contradicted: list[Problem] = field(default_factory=list)  # committed results CI's own run contradicts (PL640)
    template: str | None = None                 # HITL_Approval_Template.md in force, with reviewers ("": absent;
                                                # None: unknown, a record made before its evidence named it)


@dataclass
class GateResult:
    env: str
    problems: list[Problem] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)   # what passed, for the audit trail
    rule: EnvRule | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Ctx:
    card: Card
    lock: Lock
    env: str
    evidence: Evidence
    result: GateResult

    def unmet(self, code: str, message: str) -> None:
        line, col = self.card.where("environment")
        self.result.problems.append(Problem(self.card.rel, line, col, code, message))

    @property
    def pid(self) -> str:
        return self.card.prompt_id

    @property
    def hash(self) -> str:
        """The card's payload hash: ``_eval_gates`` runs first, and its ``results_rel`` refuses anything else."""
        return self.card.sound_hash


def needs_approvals(policy: Policy, env: str, card: Card) -> bool:
    """Whether the rule for ``env`` asks for approvals (so the gatherer reads the forms)."""
    rule = policy.rule(env) if env in policy.environments[1:] else None
    return rule is not None and not rule.risk[card.data.get("risk", DEFAULT_RISK)].policy_only


def evaluate(card: Card, lock: Lock, env: str, policy: Policy, evidence: Evidence) -> GateResult:
    """Every gate for serving the card's current version in ``env``; ``ok`` when all pass."""
    ctx = _Ctx(card, lock, env, evidence, GateResult(env))
    rule = _rule(ctx, policy)
    if rule is None:
        return ctx.result
    ctx.result.rule = rule
    ctx.result.evidence.append(f"rules: {evidence.rules_source}")
    risk_name = card.data.get("risk", DEFAULT_RISK)
    risk = rule.risk[risk_name]
    _order_gate(ctx, policy, rule)
    _branch_gate(ctx, rule, evidence.branch)
    _eval_gates(ctx, risk, risk_name, evidence.now, rule)
    if risk.policy_only:
        ctx.result.evidence.append(f"policy_only for {risk_name} risk: no approvals needed")
    else:
        _approval_gates(ctx, risk, rule)
    return ctx.result


def _rule(ctx: _Ctx, policy: Policy) -> "EnvRule | None":
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


def _order_gate(ctx: _Ctx, policy: Policy, rule: EnvRule) -> None:
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


def _branch_gate(ctx: _Ctx, rule: EnvRule, branch: str | None) -> None:
    allowed = ", ".join(rule.allowed_branches)
    if not ctx.evidence.branch_known:
        ctx.result.evidence.append("branch not judged again (branch protection decides who pushes where)")
    elif branch is None and ctx.evidence.unborn_branch:
        ctx.unmet("PL602", f"branch {ctx.evidence.unborn_branch} has no commit yet; commit first "
                  f"(`git add -A && git commit`), then promote (promotions to {ctx.env} are allowed on: {allowed})")
    elif branch is None and ctx.evidence.git_refusal:
        ctx.unmet("PL602", f"git refuses to read this repository ({ctx.evidence.git_refusal}), so the branch is unknown; "
                  f"if the repository is yours, mark it safe (`git config --global --add safe.directory PATH`)")
    elif branch is None or branch == "HEAD":
        ctx.unmet("PL602", f"cannot tell the git branch (detached HEAD?); promotions to {ctx.env} are allowed on: "
                  f"{allowed}; check one out (`git switch main`) or set PROMPTLANE_BRANCH in CI")
    elif not any(fnmatch.fnmatchcase(branch, pattern) for pattern in rule.allowed_branches):
        ctx.unmet("PL602", f"branch '{branch}' may not promote to {ctx.env} (allowed_branches: {allowed}); "
                  f"promote from one of them (`git switch main`)")
    else:
        ctx.result.evidence.append(f"branch {branch}")


def _eval_gates(ctx: _Ctx, risk: RiskRule, risk_name: str, now: datetime | None, rule: EnvRule) -> None:
    rel, rerun = results_rel(ctx.pid, str(ctx.card.hash)), f"`promptlane eval run {ctx.pid}`"
    ctx.result.problems.extend(ctx.evidence.contradicted)
    if ctx.evidence.results_problems:  # the results reader's own verdict on a bad file, at its path
        ctx.result.problems.extend(ctx.evidence.results_problems)
        return
    results = ctx.evidence.results
    if results is None:
        ctx.unmet("PL603", f"no eval results for {ctx.card.version} ({ctx.hash[:19]}...) in {rel}: run {rerun}")
        return
    rel = ctx.evidence.results_from or rel
    if results.get("hash") != ctx.card.hash:
        ctx.result.problems.append(Problem(rel, 1, 1, "PL610", f"belongs to {str(results.get('hash'))[:19]}..., "
                                           f"not {ctx.hash[:19]}...; rerun {rerun}"))
        return
    if not _bound_gates(ctx, results, rel, rule):
        return
    if ctx.evidence.results_from:
        ctx.result.evidence.append(f"CI's own eval run ({ctx.evidence.results_from})")
    _threshold_gates(ctx, results, risk, risk_name, rerun)
    _age_gates(ctx, results, risk, now, rerun)


def _bound_gates(ctx: _Ctx, results: dict[str, Any], rel: str, rule: EnvRule) -> bool:
    """The results count only when bound to the current eval inputs (PL331, PL332) and made
    with a provider the rule accepts (PL612). False when they do not count."""
    force = f"re-run `promptlane eval run {ctx.pid} --force`"
    if results.get("format") != FORMAT:
        ctx.result.problems.append(Problem(rel, 1, 1, "PL331", f"{inputs_problem(results, {})}; {force} (and commit the new file)"))
        return False
    if ctx.evidence.inputs is not None:
        why = inputs_problem(results, ctx.evidence.inputs)
        if why:
            ctx.result.problems.append(Problem(rel, 1, 1, "PL332", f"{why}; they do not count for a promotion: {force}"))
            return False
    accepted = accepted_providers(rule.accept_providers, ctx.card)
    refused = [p for p in results["inputs"]["provider_ids"] if p not in accepted]
    if refused:
        ctx.unmet("PL612", f"the eval results of {ctx.card.version} come from {', '.join(refused)}, which "
                  f"promotion.{ctx.env}.accept_providers does not accept (it accepts {', '.join(accepted) or 'none'}; "
                  f"`card` is the card's own model); run the evals against an accepted provider (set `providers:` in "
                  f"evals/eval-config.promptfoo.yml, or remove it to use each card's model), then {force}")
        return False
    ctx.result.evidence.append(f"evals bound to the current inputs, provider {', '.join(results['inputs']['provider_ids'])}")
    return True


def _threshold_gates(ctx: _Ctx, results: dict[str, Any], risk: RiskRule, risk_name: str, rerun: str) -> None:
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


def _age_gates(ctx: _Ctx, results: dict[str, Any], risk: RiskRule, now: datetime | None, rerun: str) -> None:
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


def _approval_gates(ctx: _Ctx, risk: RiskRule, rule: EnvRule) -> None:
    reviewers = ctx.evidence.reviewers
    if reviewers is None:
        raise ValueError("the evidence holds no reviewers: gather it with needs_approvals()")
    known: list[str] = []
    for wanted in risk.required_roles:
        role = reviewers.role_named(wanted)
        if role is None or not reviewers.roles.get(role):
            ctx.unmet("PL609", f"role {wanted} is required for {ctx.env} but has no reviewers in {REVIEWERS} "
                      f"({ctx.evidence.rules_source}); add them there through a governed change")
        else:
            known.append(role)
    entry = ctx.lock.entry(str(ctx.card.version)) or {}
    panel = Panel(reviewers, ctx.evidence.signers or Signers(), rule.require_signatures, ctx.evidence.rules_source,
                  rule.require_checklist, ctx.evidence.template)
    decision = decide(ctx.card, Version(entry.get("author"), entry.get("created")), tuple(known), panel,
                      ctx.evidence.forms, ctx.evidence.now, risk.min_reviewers)
    ctx.result.problems.extend(decision.problems)
    for code, message in decision.unmet:
        ctx.unmet(code, f"{ctx.env} {message}" if message.startswith("needs") else message)
    for role in known:
        status = decision.statuses[role]
        if status.satisfied:
            signed = (" (signed" + (", checklist answered)" if rule.require_checklist else ")")
                      if rule.require_signatures else (" (checklist answered)" if rule.require_checklist else ""))
            ctx.result.evidence.append(f"{role}: {', '.join(status.approved_by)}{signed}")


def first_unserved(envs: tuple[str, ...], card: Card, lock: Lock) -> str | None:
    """The next environment this version would be promoted to (None at the last one)."""
    serving = [i for i, env in enumerate(envs) if lock.environments.get(env) == card.version]
    start = max(serving) + 1 if serving else 1
    return envs[start] if start < len(envs) else None


def raised(envs: tuple[str, ...], card: Card, lock: Lock) -> bool:
    """The card names an environment above every one that serves its version (core.managed)."""
    return managed.raised(envs, card.environment, card.version, lock)
