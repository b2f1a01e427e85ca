"""Retiring a prompt (pure): what an approval of a retirement is bound to, and whether the
policy's retire rule (core/policy.py ``RetireRule``) is met by the approvals on file.

A retirement withdraws a prompt from every environment for good. Its approvals are forms in
reviews/policy/ (the front matter of ``$defs.policyReview`` with ``retire:``), each bound to
the prompt and what it serves at that moment (``retire_digest``): an approval given while
prod served 1.0.0 says nothing once prod serves 1.1.0. Each required role is filled by a
different person (an e-mail or a key), signed as the rule says; a reviewer whose latest
decision is a rejection blocks the retirement. Reading the forms is store/reviews.py.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from promptlane.core.decisions import Panel, augment, signature_problem
from promptlane.core.events import parse_time
from promptlane.core.policy import RetireRule, policy_hash
from promptlane.core.problems import Problem
from promptlane.core.registry import Lock
from promptlane.core.reviews import POLICY_REVIEWS, REVIEWERS, Review, reviewer_slug, slug
from promptlane.core.signatures import signing_key

CODE = "PL650"  # a retirement's gate unmet
CLOCK_SKEW = timedelta(minutes=5)


def card_rel(prompt_id: str) -> str:
    return f"prompts/{prompt_id}/card.yml"


def serving_text(lock: Lock, environments: tuple[str, ...]) -> str:
    """What the prompt serves, and the last version issued: what a retirement approval names."""
    served = [f"{env} {lock.environments[env]}" for env in environments if lock.environments.get(env)]
    served += [f"{env} {ver}" for env, ver in sorted(lock.environments.items()) if ver and env not in environments]
    issued = lock.versions[-1]["version"] if lock.versions else "none"
    return f"{', '.join(served) or 'nothing'}; issued up to {issued}"


def retire_digest(prompt_id: str, serving: str) -> str:
    return policy_hash(f"{card_rel(prompt_id)} retire: {serving}\n")


def approval_rel(prompt_id: str, role: str, date: str, reviewer: str) -> str:
    """reviews/policy/<date>-<id>-retire-<role>-<reviewer>.md (``-2``, ``-3``: later decisions)."""
    return f"{POLICY_REVIEWS}/{date[:10]}-{prompt_id}-retire-{slug(role)}-{reviewer_slug(reviewer)}.md"


def approve_command(prompt_id: str, role: str) -> str:
    shown = f'"{role}"' if " " in role else role
    return f"promptlane approve {prompt_id} --retire --role {shown}"


@dataclass
class RetireVerdict:
    problems: list[Problem] = field(default_factory=list)   # unmet gates and forms that do not count
    evidence: list[str] = field(default_factory=list)       # what passed, for the audit trail

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Counted:
    review: Review
    email: str
    key: str | None


def judge(prompt_id: str, serving: str, rule: RetireRule, panel: Panel, forms: list[Review], branch: str | None,
          now: datetime | None, where: str, branch_known: bool = True) -> RetireVerdict:
    """Whether ``rule`` lets ``prompt_id`` be retired now; ``where``: the file an unmet gate is reported at."""
    verdict = RetireVerdict(evidence=[f"rules: {panel.source}"])
    digest = retire_digest(prompt_id, serving)
    _branch(verdict, rule, branch, branch_known, where)
    counted: list[_Counted] = []
    for review in forms:
        data = review.data if review.ok else {}
        if data.get("policy") != card_rel(prompt_id) or "retire" not in data or data.get("decision") == "pending":
            continue
        if data.get("hash") != digest:
            continue  # an approval of another state of the prompt: says nothing about this one
        found = _form_problems(review, panel, now, approve_command(prompt_id, str(data.get("role"))))
        if found:
            verdict.problems += found
        else:
            fingerprint = signing_key(review.raw, review.signature).fingerprint if review.signature else None
            counted.append(_Counted(review, str(data["reviewer"]).lower(), fingerprint))
    approvals = _standing(counted, verdict, where)
    _fill(prompt_id, rule, panel, approvals, verdict, where)
    return verdict


def _branch(verdict: RetireVerdict, rule: RetireRule, branch: str | None, known: bool, where: str) -> None:
    allowed = ", ".join(rule.allowed_branches)
    if not known:
        verdict.evidence.append("branch not judged again")
    elif branch is None or branch == "HEAD":
        verdict.problems.append(Problem(where, 1, 1, CODE, f"cannot tell the git branch; retirements are allowed on: {allowed} "
                                        "(commit first, `git switch main`, or set PROMPTLANE_BRANCH in CI)"))
    elif not any(fnmatch.fnmatchcase(branch, pattern) for pattern in rule.allowed_branches):
        verdict.problems.append(Problem(where, 1, 1, CODE, f"branch '{branch}' may not retire prompts (retire.allowed_branches: "
                                        f"{allowed}); retire from one of them (`git switch main`)"))
    else:
        verdict.evidence.append(f"branch {branch}")


def _form_problems(review: Review, panel: Panel, now: datetime | None, cmd: str) -> list[Problem]:
    data = review.data
    role = panel.reviewers.role_named(str(data["role"]))
    if role is None or not panel.reviewers.holds(str(data["reviewer"]), role):
        return [review.problem("PL505", f"{data['reviewer']} is not listed under {data['role']} in {REVIEWERS} "
                               f"({panel.source}); a reviewer of that role runs `{cmd}`", "reviewer")]
    when = parse_time(review.moment(end_of_day=False))
    if when is None or (now is not None and when > now + CLOCK_SKEW):
        return [review.problem("PL501", f"date: {data['date']} is not a real date or is in the future; run `{cmd}`", "date")]
    problem = signature_problem(review, panel)
    return [problem] if problem else []


def _standing(counted: list[_Counted], verdict: RetireVerdict, where: str) -> list[_Counted]:
    """Approvals whose reviewer's latest decision is an approval; a latest rejection blocks."""
    latest: dict[str, _Counted] = {}
    for item in sorted(counted, key=lambda c: c.review.moment(end_of_day=c.review.data["decision"] == "rejected")):
        latest[item.email] = item
    for email, item in sorted(latest.items()):
        if item.review.data["decision"] == "rejected":
            verdict.problems.append(Problem(where, 1, 1, CODE, f"{email} rejected this retirement "
                                            f"({item.review.rel}); it is blocked until {email} signs a later decision"))
    return [c for c in counted if c.review.data["decision"] == "approved" and latest[c.email] is c]


def _fill(prompt_id: str, rule: RetireRule, panel: Panel, approvals: list[_Counted], verdict: RetireVerdict, where: str) -> None:
    """Each required role by a different person: e-mails that sign with one key are one person."""
    person: dict[str, str] = {}
    for item in approvals:  # one name per person: the first e-mail seen with a key
        person[item.email] = next((o.email for o in approvals if item.key and o.key == item.key), item.email)
    offers: dict[str, list[str]] = {}
    for wanted in rule.required_roles:
        role = panel.reviewers.role_named(wanted) or wanted
        offers[role] = sorted({person[a.email] for a in approvals if panel.reviewers.role_named(str(a.review.data["role"])) == role})
    filled: dict[str, str] = {}  # person -> role
    for role in offers:
        augment(role, offers, filled, set())  # the approval gate's matching (core/decisions)
    by_role = {role: who for who, role in filled.items()}
    for role, people in offers.items():
        if role in by_role:
            verdict.evidence.append(f"{role}: {by_role[role]} (signed)" if rule.require_signatures else f"{role}: {by_role[role]}")
            continue
        listed = panel.reviewers.roles.get(role, [])
        if not listed:
            verdict.problems.append(Problem(where, 1, 1, CODE, f"retire needs {role}, which has no reviewers in {REVIEWERS} "
                                            f"({panel.source}); add them through a governed change"))
        elif people:
            verdict.problems.append(Problem(where, 1, 1, CODE, f"retire needs {role} from a person who fills no other role "
                                            f"({', '.join(people)} already does); another {role} reviewer runs "
                                            f"`{approve_command(prompt_id, role)}`"))
        else:
            verdict.problems.append(Problem(where, 1, 1, CODE, f"retire needs a signed approval by {role} ({', '.join(listed)}) "
                                            f"of retiring {prompt_id}: a {role} reviewer runs `{approve_command(prompt_id, role)}`"))
    distinct = len(set(person.values()))
    if rule.min_reviewers and distinct < rule.min_reviewers:
        verdict.problems.append(Problem(where, 1, 1, CODE, f"retire needs {rule.min_reviewers} different reviewers; {distinct} approved"))

