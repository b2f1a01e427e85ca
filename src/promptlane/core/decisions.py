"""Which review forms decide a promotion (pure): each form judged alone (bound to this hash,
its reviewer holding its role, dated sensibly, signed by that reviewer's own key), then the
forms together (a rejection blocks the version until the same reviewer signs a later
decision; each required role is filled by a different person; at least ``min_reviewers``
people). A person is an e-mail or a key: two e-mails signing with one key are one person.

The rules in force (reviewers, allowed signers, whether signatures are required) come in as a
``Panel``, gathered by operations/gating.py from the base branch or the working tree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from promptlane.core.card import Card
from promptlane.core.checklist import checklist_problem
from promptlane.core.events import parse_time
from promptlane.core.problems import Problem
from promptlane.core.reviews import REVIEWERS, Review, Reviewers, data_role, form_problems, slug
from promptlane.core.signatures import SIGNATURE_SUFFIX, Signers, allowed, signing_key

CLOCK_SKEW = timedelta(minutes=5)  # a decision dated later than now + this does not count


@dataclass(frozen=True)
class Panel:
    """Who may decide, under the rules in force (the base branch's files, or the working tree's)."""
    reviewers: Reviewers
    signers: Signers
    require_signatures: bool = True
    source: str = "the working tree"
    require_checklist: bool = False   # an approval counts only with every item of its role's checklist answered
    template: str | None = None       # HITL_Approval_Template.md in force, whose items a checklist answers
                                      # ("": none there; None: unknown, the form's own items are judged)


@dataclass(frozen=True)
class Version:
    """What the registry says of the version under review."""
    author: str | None
    created: str | None


@dataclass
class RoleStatus:
    role: str
    approved_by: list[str] = field(default_factory=list)
    satisfied: bool = False


@dataclass
class Decision:
    statuses: dict[str, RoleStatus]
    problems: list[Problem] = field(default_factory=list)        # forms that do not count, at their files
    unmet: list[tuple[str, str]] = field(default_factory=list)   # (code, message) at the card's environment line


@dataclass(frozen=True)
class _Signed:
    review: Review
    email: str
    key: str | None   # the signing key's fingerprint; None for an unsigned form where none is required

    @property
    def decision(self) -> str:
        return str(self.review.data["decision"])


def decide(card: Card, version: Version, roles: tuple[str, ...], panel: Panel, forms: list[Review],
           now: datetime | None, min_reviewers: int = 0) -> Decision:
    """Who fills each required role for ``card``'s current hash, and what is still unmet.
    ``forms``: every form filed for the version (unreadable ones included)."""
    wanted = {slug(role): role for role in roles}
    decision = Decision({role: RoleStatus(role) for role in roles})
    judged: list[_Signed] = []
    for review in forms:
        counted, problems = _judge(review, card, version, panel, now)
        if not review.ok or slug(str(review.data.get("role"))) in wanted:
            decision.problems += problems  # another role's form that does not count is not this promotion's problem
        if counted is not None:
            judged.append(counted)  # every valid decision: a rejection in any role blocks the version
    approvals = [s for s in _still_standing(judged, decision, card) if slug(str(s.review.data["role"])) in wanted]
    people = _people(approvals)
    _fill_roles(approvals, people, wanted, decision, panel.reviewers, card, version.author)
    if min_reviewers and len(set(people.values())) < min_reviewers:
        decision.unmet.append(("PL611", f"{min_reviewers} different reviewers must approve {card.version}; "
                               f"{len(set(people.values()))} did ({', '.join(sorted({s.email for s in approvals})) or 'none'})"))
    return decision


def _judge(review: Review, card: Card, version: Version, panel: Panel, now: datetime | None) -> tuple[_Signed | None, list[Problem]]:
    """The form as a signed decision, or the problems that keep it from counting."""
    if not review.ok:
        return None, review.problems
    if review.data["decision"] == "pending":
        return None, []
    data = review.data
    found = form_problems(review, card, version.author, panel.reviewers)
    cmd = f"promptlane approve {card.prompt_id} --role {data_role(review)}"
    why = _date_problem(review, version.created, now)
    if why:
        found.append(review.problem(why[0], f"date: {data['date']} {why[1]}; run `{cmd}`", "date"))
    key, signature_problem = _signature(review, panel, cmd)
    if signature_problem:
        found.append(signature_problem)
    if panel.require_checklist and data["decision"] == "approved":
        unanswered = checklist_problem(review, card.prompt_id, panel.template, panel.source)
        if unanswered:
            found.append(unanswered)
    if key and version.author and data["decision"] == "approved" and key in panel.signers.fingerprints_of(version.author):
        found.append(review.problem("PL507", f"is signed with {key}, a key of {version.author}, the author of "
                                    f"{card.prompt_id} {card.version}: nobody approves their own version", "reviewer"))
    if found:
        return None, found
    return _Signed(review, str(data["reviewer"]).lower(), key), []


def _date_problem(review: Review, created: str | None, now: datetime | None) -> tuple[str, str] | None:
    """Why a form's date cannot order it: not a real date, in the future, or before its version existed."""
    when = parse_time(review.moment(end_of_day=False))
    if when is None:
        return "PL501", "is not a real date"
    if now is not None and when > now + CLOCK_SKEW:
        return "PL501", "is in the future; a decision is dated when it is made"
    born, latest = parse_time(created), parse_time(review.moment(end_of_day=True))
    if born is not None and latest is not None and latest < born - CLOCK_SKEW:
        return "PL524", f"is before the version it is filed for existed ({created}); nobody can decide on a text before it is written"
    return None


def _signature(review: Review, panel: Panel, cmd: str) -> tuple[str | None, Problem | None]:
    """The fingerprint of the key that signed the form for its reviewer, or why it does not count."""
    sig_rel = review.rel + SIGNATURE_SUFFIX
    if review.signature is None:
        if panel.require_signatures:
            return None, review.problem("PL520", f"is not signed ({sig_rel} is missing) and the policy requires signed "
                                        f"approvals; the reviewer signs it with their SSH key: `{cmd}` (set "
                                        "`git config gpg.format ssh` and `git config user.signingkey ~/.ssh/id_ed25519.pub`, or pass --key)",
                                        "reviewer")
        return None, None
    verdict = signing_key(review.raw, review.signature)
    if verdict.fingerprint is None:
        if cmd.startswith("promptlane approve --sign"):
            again = f"`{cmd}`"
        else:
            again = f"`promptlane approve --sign {review.rel}` before it is committed, or a new decision: `{cmd}`"
        return None, review.problem(verdict.code, f"signature {sig_rel} {verdict.error}; the reviewer signs it again: {again}",
                                    "reviewer")
    refusal = allowed(panel.signers, str(review.data["reviewer"]), verdict.fingerprint, str(review.data["date"]))
    if refusal:
        return None, review.problem("PL522", f"signature {sig_rel} {refusal} (rules: {panel.source})", "reviewer")
    return verdict.fingerprint, None


def _still_standing(judged: list[_Signed], decision: Decision, card: Card) -> list[_Signed]:
    """Approvals whose reviewer's latest decision on this version is an approval; a reviewer
    whose latest decision is a rejection blocks the version until they sign a later one."""
    latest: dict[str, _Signed] = {}
    for signed in sorted(judged, key=lambda s: s.review.moment(end_of_day=s.decision == "rejected")):
        latest[signed.email] = signed
    for email, signed in sorted(latest.items()):
        if signed.decision == "rejected":
            review = signed.review
            decision.unmet.append(("PL608", f"{email} rejected {card.version} on {review.data['date']} "
                                   f"({review.rel}:{review.where('decision')[0]}): the version is blocked until "
                                   f"{email} signs a later decision (`promptlane approve {card.prompt_id} --role "
                                   f"{data_role(review)}`), or a new version is made"))
    return [s for s in judged if s.decision == "approved" and latest[s.email].decision == "approved"]


def _people(approvals: list[_Signed]) -> dict[str, str]:
    """E-mail -> one name per person: e-mails that share a signing key are the same person."""
    parent: dict[str, str] = {}

    def find(item: str) -> str:
        while parent.setdefault(item, item) != item:
            item = parent[item]
        return item

    for signed in approvals:
        if signed.key:
            parent[find("key:" + signed.key)] = find(signed.email)
    return {s.email: find(s.email) for s in approvals}


def _fill_roles(approvals: list[_Signed], people: dict[str, str], wanted: dict[str, str], decision: Decision,
                reviewers: Reviewers, card: Card, author: str | None) -> None:
    """Each required role filled by a different person (a bipartite matching: a person who
    approved under two roles fills whichever the others leave open); ``people``: ``_people``."""
    offers: dict[str, list[str]] = {role: [] for role in wanted.values()}
    for signed in approvals:
        role = wanted.get(slug(str(signed.review.data["role"])))
        if role is not None and people[signed.email] not in offers[role]:
            offers[role].append(people[signed.email])
    filled: dict[str, str] = {}   # person -> role
    for role in offers:
        augment(role, offers, filled, set())
    by_role = {role: person for person, role in filled.items()}
    emails = {person: sorted(e for e, p in people.items() if p == person) for person in set(people.values())}
    for role, status in decision.statuses.items():
        if role in by_role:
            status.approved_by, status.satisfied = emails[by_role[role]], True
            continue
        cmd = f"promptlane approve {card.prompt_id} --role {role!r}" if " " in role else f"promptlane approve {card.prompt_id} --role {role}"
        who = _who_may_approve(role, reviewers.roles.get(role, []), author, set(people))
        if offers[role]:
            taken = "; ".join(f"{', '.join(emails[p])} fills {filled[p]}" for p in offers[role] if p in filled)
            decision.unmet.append(("PL611", f"{role} is approved only by people who fill another role in this promotion "
                                   f"({taken}): one person fills one role; another {role} reviewer ({who}) runs `{cmd}`"))
        else:
            decision.unmet.append(("PL608", f"needs an approval by {role} for {card.version} ({str(card.hash)[:19]}...): "
                                   f"a {role} reviewer ({who}) runs `{cmd}`"))


def _who_may_approve(role: str, listed: list[str], author: str | None, already: set[str]) -> str:
    """Whom a hint may name for ``role``: never the version's author, nobody whose approval
    already counts; when that leaves nobody, what to do instead."""
    barred = {email.lower() for email in already} | ({author.lower()} if author else set())
    free = [email for email in listed if email.lower() not in barred]
    if free:
        return ", ".join(free)
    if listed:
        return f"nobody else is listed under {role}: add another {role} reviewer to {REVIEWERS}"
    return f"none listed in {REVIEWERS}"


def augment(role: str, offers: dict[str, list[str]], filled: dict[str, str], seen: set[str]) -> bool:
    """Kuhn's augmenting path: give ``role`` a person, moving others to roles they also offered."""
    for person in offers[role]:
        if person in seen:
            continue
        seen.add(person)
        if person not in filled or augment(filled[person], offers, filled, seen):
            filled[person] = role
            return True
    return False


def governance_verdict(review: Review, subject: str, digest: str, panel: Panel, now: datetime | None) -> list[Problem] | None:
    """None when ``review`` is a signed Governance approval of ``subject`` at ``digest``;
    else why it is not ([] for a form about something else)."""
    from promptlane.core.policy import POLICY_REVIEW_ROLE

    if not review.ok:
        return review.problems
    data = review.data
    if data.get("policy") != subject or data.get("hash") != digest or data.get("decision") != "approved":
        return []
    cmd = f"promptlane approve --governance {subject} --role {POLICY_REVIEW_ROLE}"
    role = panel.reviewers.role_named(POLICY_REVIEW_ROLE)
    if role is None or panel.reviewers.role_named(str(data["role"])) != role or not panel.reviewers.holds(str(data["reviewer"]), role):
        return [review.problem("PL505", f"{data['reviewer']} is not a {POLICY_REVIEW_ROLE} reviewer in {REVIEWERS} "
                               f"({panel.source}); a {POLICY_REVIEW_ROLE} reviewer runs `{cmd}`", "reviewer")]
    when = parse_time(review.moment(end_of_day=False))
    if when is None or (now is not None and when > now + CLOCK_SKEW):
        return [review.problem("PL501", f"date: {data['date']} is not a real date or is in the future; run `{cmd}`", "date")]
    _, problem = _signature(review, panel, cmd)
    return [problem] if problem else None


def signature_problem(review: Review, panel: Panel) -> Problem | None:
    """Why a form's signature does not count for its reviewer (None when it does, or is not required)."""
    return _signature(review, panel, f"promptlane approve --sign {review.rel}")[1]
