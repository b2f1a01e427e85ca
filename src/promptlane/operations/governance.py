"""What ``promptlane check`` says about the governance inputs and the review history, compared
with the base (``--base`` / ``$PROMPTLANE_BASE``) or, without one, with git HEAD:

- the policy file: its schema; each loosening no signed Governance approval covers (PL410);
- reviews/reviewers.yml and reviews/allowed_signers: any change without one (PL411);
- HITL_Approval_Template.md: its checklist sections changed without one (PL413);
- a card's ``risk:`` lowered without one (PL412);
- the review history: a committed form or signature changed or removed (PL530);
- forms new since then: their signatures, checked now rather than at the promotion (PL520-523).

Approvals are judged under the rules in force (store/rules.py): on a pull request, the base's
reviewers and signers, so a branch cannot approve its own governance change.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptlane.core import governance
from promptlane.core.governance import DEFAULT_RISK
from promptlane.core.layout import ALLOWED_SIGNERS, POLICY, REVIEWERS, REVIEWS, SIGNATURE_SUFFIX, TEMPLATE
from promptlane.core.problems import Problem, UsageError
from promptlane.store import git, rules

# The policy, review and signature rules are imported by the checks that use them: the usual
# commit (a card, its texts) runs risk_problems alone, which needs none of them.

if TYPE_CHECKING:
    from promptlane.store.repo import Repo


def check_policy(repo: "Repo") -> list[Problem]:
    """The policy file itself: its schema, then loosening against the base."""
    from promptlane.store.policyfile import read_rules

    _, problems = read_rules(repo.root)
    return problems or loosening_problems(repo)


def _approved(repo: "Repo", subject: str, digest: str) -> tuple[bool, list[Problem]]:
    from promptlane.core.events import parse_time
    from promptlane.store import context
    from promptlane.store.reviews import governance_approval

    try:
        panel = rules.panel(repo)
    except UsageError as exc:  # no usable reviewers in force: nothing can be approved
        return False, exc.problems
    spent = _spent(repo)
    review, problems = governance_approval(repo, subject, digest, panel, parse_time(context.now()), spent)
    return review is not None, problems


def _spent(repo: "Repo") -> frozenset[str]:
    """The Governance approvals the base already holds, by the digest of their bytes: each
    approved the change that brought it, and a copy under another name is the same approval."""
    import hashlib

    from promptlane.core.reviews import POLICY_REVIEWS

    memo = repo.__dict__.setdefault("_spent_approvals", {})
    if "spent" not in memo:
        compare = rules.compared_with(repo)
        names = [rel for rel in git.files_at(repo.root, compare, POLICY_REVIEWS) if rel.endswith(".md")]
        memo["spent"] = frozenset(hashlib.sha256(raw).hexdigest()
                                  for raw in git.show_many(repo.root, compare, names).values() if raw is not None)
    return memo["spent"]


def _ask(subject: str, digest: str, source: str) -> str:
    from promptlane.core.policy import POLICY_REVIEW_ROLE

    return (f"needs a signed Governance approval of {digest[:19]}... under {source}: a {POLICY_REVIEW_ROLE} reviewer "
            f"runs `promptlane approve --governance {subject} --role {POLICY_REVIEW_ROLE}`")


def loosening_problems(repo: "Repo") -> list[Problem]:
    """PL410 per loosened rule, unless a signed Governance approval covers this text."""
    from promptlane.core.policy import loosened
    from promptlane.core.yamltext import locate
    from promptlane.store.policyfile import base_policy, load_policy

    try:
        data, text = load_policy(repo.root)
    except UsageError:
        return []  # reported by check_policy
    old = base_policy(repo.root, rules.compared_with(repo))
    if old is None:
        return []
    if not data:  # emptied: an empty or missing policy would let a later one count without a baseline
        return _policy_presence(repo, "emptied")
    changes = loosened(old, data)
    if not changes:
        return []
    digest = governance.file_digest(text)
    approved, problems = _approved(repo, POLICY, digest)
    if approved:
        return []
    ask = _ask(POLICY, digest, rules.source(repo))
    for path, what in changes:
        loc = locate(text, path)
        problems.append(Problem(POLICY, loc.line, loc.col, "PL410", f"policy loosened: {what}; {ask}"))
    return problems


def _policy_presence(repo: "Repo", what: str) -> list[Problem]:
    """PL410 for a policy removed, emptied or added since the base, unless approved."""
    path = repo.root / POLICY
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() and not path.is_symlink() else ""
    digest = governance.file_digest(text)
    approved, problems = _approved(repo, POLICY, digest)
    if approved:
        return []
    return problems + [Problem(POLICY, 1, 1, "PL410", f"policy {what} since {rules.compared_name(repo)}; "
                               f"{_ask(POLICY, digest, rules.source(repo))}")]


def file_problems(repo: "Repo") -> list[Problem]:
    """PL411: reviews/reviewers.yml or reviews/allowed_signers differ from the base with no
    approval; PL410: the policy removed or added; PL413: the template's checklists changed;
    any governance file a symbolic link."""
    found: list[Problem] = []
    compare = rules.compared_with(repo)
    for rel in governance.GOVERNED_FILES:
        if (repo.root / rel).is_symlink():
            found.append(Problem(rel, 1, 1, {POLICY: "PL410", TEMPLATE: "PL413"}.get(rel, "PL411"), "is a symbolic link; governance "
                                 "files must be regular files (git stores a link's target as its content)"))
    policy_then = git.show_bytes(repo.root, compare, POLICY)
    if policy_then is not None and not (repo.root / POLICY).exists():
        found += _policy_presence(repo, "removed")
    elif policy_then is None and (repo.root / POLICY).is_file() and git.commit_exists(repo.root, compare):
        found += _policy_presence(repo, "added")
    for rel in (REVIEWERS, ALLOWED_SIGNERS):
        path = repo.root / rel
        if path.is_symlink():
            continue  # reported above
        new = path.read_bytes() if path.is_file() else b""
        old = git.show_bytes(repo.root, compare, rel)
        if old is None and not git.commit_exists(repo.root, compare) or (old or b"") == new:
            continue
        text = new.decode("utf-8", errors="replace")
        digest = governance.file_digest(text)
        approved, problems = _approved(repo, rel, digest)
        if not approved:
            what = "removed" if not path.is_file() else "added" if old is None else "changed"
            found += problems
            found.append(Problem(rel, 1, 1, "PL411", f"{what} since {rules.compared_name(repo)} (who may decide is a governed "
                                 f"input); {_ask(rel, digest, rules.source(repo))}"))
    return found + template_problems(repo, compare)


def template_problems(repo: "Repo", compare: str) -> list[Problem]:
    """PL413: HITL_Approval_Template.md's checklist sections (the items each role's approval
    answers) differ from the base's (or HEAD's), with no Governance approval of the new ones.
    The rest of the template is the form's wording, and free to change."""
    from promptlane.core.checklist import checklist_lines, checklist_text

    path = repo.root / TEMPLATE
    if path.is_symlink():
        return []  # reported by file_problems
    raw = git.show_bytes(repo.root, compare, TEMPLATE)
    if raw is None and not git.commit_exists(repo.root, compare):
        return []  # no history at all (a fresh repository): nothing to compare with
    old = (raw or b"").decode("utf-8", errors="replace")
    new = path.read_bytes().decode("utf-8", errors="replace") if path.is_file() else ""
    if checklist_text(old) == checklist_text(new):
        return []
    digest = governance.checklist_digest(new)
    approved, problems = _approved(repo, TEMPLATE, digest)
    if approved:
        return []
    changes = governance.checklist_changes(old, new)
    was = [line for _, line in checklist_lines(old)]
    now = checklist_lines(new)
    line = next((number for i, (number, text) in enumerate(now) if i >= len(was) or text != was[i]), now[-1][0] if now else 1)
    what = "removed" if not path.is_file() else "added" if raw is None else "changed"
    return problems + [Problem(TEMPLATE, line, 1, "PL413", f"checklists {what} since {rules.compared_name(repo)} "
                               f"({'; '.join(changes)}): the items each role's approval answers are a governed input; "
                               f"{_ask(TEMPLATE, digest, rules.source(repo))}")]


def signers_file_problems(repo: "Repo") -> list[Problem]:
    """PL512: lines of reviews/allowed_signers that are not allowed_signers lines (they never count)."""
    from promptlane.core.signatures import parse_allowed_signers

    path = repo.root / ALLOWED_SIGNERS
    if not path.is_file():
        return []
    text = path.read_bytes().decode("utf-8", errors="replace")
    return parse_allowed_signers(text).problems


FEW = 50  # up to this many cards, git is asked about each one; beyond, about prompts/ at once


def risk_problems(repo: "Repo", prompt_ids: list[str]) -> list[Problem]:
    """PL412: a card's risk: lowered since the base (or HEAD) with no approval of the new tier."""
    from promptlane.store.cards import read_card

    compare = rules.compared_with(repo)
    if len(prompt_ids) <= FEW:
        # A card at the highest tier cannot have been lowered: no git is asked (the usual commit).
        top = max(governance.RISK_ORDER, key=governance.RISK_ORDER.__getitem__)
        candidates = [i for i in prompt_ids if read_card(repo, i).data.get("risk", DEFAULT_RISK) != top]
    else:  # many cards: git says which changed (from file stats), then only those are compared
        changed = {rel.split("/")[1] for rel in git.changed_paths(repo.root, compare, "prompts") if rel.endswith("/card.yml")}
        candidates = sorted(changed.intersection(prompt_ids))
    before = git.show_many(repo.root, compare, [governance.card_rel(i) for i in candidates])  # one git process
    found: list[Problem] = []
    for prompt_id in candidates:
        found += _lowered(repo, prompt_id, before.get(governance.card_rel(prompt_id)), compare)
    return found


def _lowered(repo: "Repo", prompt_id: str, before: bytes | None, compare: str) -> list[Problem]:
    from promptlane.core.yamltext import load
    from promptlane.store.cards import read_card

    card = read_card(repo, prompt_id)
    new = card.data.get("risk", DEFAULT_RISK)
    old: Any
    if before is None:
        if not git.commit_exists(repo.root, compare):
            return []  # no history at all (a fresh repository): nothing to compare with
        # A new prompt declares its own risk: below the highest tier, that is a lowering too.
        old = {"risk": max(governance.RISK_ORDER, key=governance.RISK_ORDER.__getitem__)}
    else:
        old = load(before.decode("utf-8", errors="replace"), governance.card_rel(prompt_id)).data
        if not isinstance(old, dict) or git.is_link_at(repo.root, compare, governance.card_rel(prompt_id)):
            old = {"risk": DEFAULT_RISK}  # a base card that is no mapping (a link's target, say): fail closed
    if not governance.risk_lowered(old.get("risk"), new, DEFAULT_RISK):
        return []
    digest = governance.risk_digest(prompt_id, str(new))
    approved, problems = _approved(repo, card.rel, digest)
    if approved:
        return []
    line, col = card.where("risk")
    return problems + [Problem(card.rel, line, col, "PL412", f"risk lowered {old.get('risk', DEFAULT_RISK)} -> {new} since "
                               f"{rules.compared_name(repo)} (lower risk needs fewer approvals); {_ask(card.rel, digest, rules.source(repo))}")]


def history_problems(repo: "Repo") -> list[Problem]:
    """PL530: review forms and signatures are only ever added: none the base holds, and none a
    commit since the base added, is changed or removed (a rewritten branch history escapes the
    second: docs/security.md)."""
    compare = rules.compared_with(repo)
    found = []
    touched = set(git.changed_since(repo.root, compare, REVIEWS))
    if compare != "HEAD":  # and what the branch's own commits changed or removed after adding it
        touched.update(git.rewritten_in_commits(repo.root, compare, REVIEWS))
    for rel in sorted(touched):
        if not _is_history(rel):
            continue
        gone = not (repo.root / rel).is_file()
        found.append(Problem(rel, 1, 1, "PL530", f"{'removed' if gone else 'changed'} since {rules.compared_name(repo)}: "
                             f"review forms and their signatures are never {'removed' if gone else 'edited'} "
                             f"({_restore(repo, compare, rel)}); a later decision is a new form "
                             "(`promptlane approve` names it)"))
    return found


def _restore(repo: "Repo", compare: str, rel: str) -> str:
    if git.show_bytes(repo.root, compare, rel) is not None:
        return f"`git checkout {compare[:12]} -- {rel}` restores it"
    return f"it was committed on this branch: `git log --diff-filter=A -- {rel}` finds the commit to restore it from"


def new_form_problems(repo: "Repo") -> list[Problem]:
    """Signature problems of the forms added since the base (or HEAD): said at commit time."""
    from promptlane.core.decisions import signature_problem
    from promptlane.store.reviews import read_review

    compare = rules.compared_with(repo)
    new = [rel for rel in git.changed_paths(repo.root, compare, REVIEWS)
           if rel.endswith(".md") and _is_history(rel) and (repo.root / rel).is_file()]
    if not new:
        return []
    try:
        panel = rules.panel(repo)
    except UsageError as exc:
        return exc.problems
    found = []
    for rel in new:
        review = read_review(repo, rel, policy=rel.startswith(f"{REVIEWS}/policy/"))
        if review.ok and review.data.get("decision") != "pending":
            problem = signature_problem(review, panel)
            if problem:
                found.append(problem)
    return found


def _is_history(rel: str) -> bool:
    """A form or its signature: reviews/<id>/<version>/*.md[.sig] or reviews/policy/*.md[.sig]."""
    name = rel[:-len(SIGNATURE_SUFFIX)] if rel.endswith(SIGNATURE_SUFFIX) else rel
    parts = name.split("/")
    return name.endswith(".md") and ((len(parts) == 4 and parts[0] == REVIEWS) or (len(parts) == 3 and parts[1] == "policy"))



def governance_problems(repo: "Repo", prompt_ids: list[str]) -> list[Problem]:
    """Everything above but the policy schema (check_policy): whole-repository checks."""
    return file_problems(repo) + risk_problems(repo, prompt_ids) + history_problems(repo) + new_form_problems(repo)
