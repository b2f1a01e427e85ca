"""Governance inputs (pure): the files that say who decides and how, and what a Governance
approval of a change to one of them is bound to.

The policy file, reviews/reviewers.yml, reviews/allowed_signers, the checklists of
HITL_Approval_Template.md and each card's ``risk:`` decide what a promotion needs. A change to
any of them counts only with a signed Governance approval of the new content, judged under the
rules in force (the base branch's files): the policy when it is loosened (core/policy.py
``loosened``), the reviewers and signers on any change, the template when its checklist
sections change, a card's risk when it is lowered. The approval names the file and the digest
of its new content (for the template, of its checklist sections alone: the rest of it is the
form's wording; for a card, of its risk tier alone: the card's other lines change with every
version).
"""
from __future__ import annotations

from promptlane.core.layout import ALLOWED_SIGNERS, POLICY, POLICY_REVIEWS, REVIEWERS, TEMPLATE

# The checklist, policy and review rules are imported by the functions that use them: a commit
# of a card asks only RISK_ORDER of this module (operations/governance.risk_problems).
GOVERNED_FILES = (POLICY, REVIEWERS, ALLOWED_SIGNERS, TEMPLATE)
RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
DEFAULT_RISK = "high"  # a card without risk: gets the strictest rules
SUBJECT_NAMES = {POLICY: "policy", REVIEWERS: "reviewers", ALLOWED_SIGNERS: "allowed-signers", TEMPLATE: "checklists"}


def card_rel(prompt_id: str) -> str:
    return f"prompts/{prompt_id}/card.yml"


def risk_digest(prompt_id: str, risk: str) -> str:
    """What a Governance approval of a card's risk tier is bound to."""
    from promptlane.core.policy import policy_hash

    return policy_hash(f"{card_rel(prompt_id)} risk: {risk}\n")


def file_digest(text: str) -> str:
    """What a Governance approval of the policy, reviewers or signers file is bound to."""
    from promptlane.core.policy import policy_hash

    return policy_hash(text)


def checklist_digest(text: str) -> str:
    """What a Governance approval of HITL_Approval_Template.md is bound to: its checklist sections."""
    from promptlane.core.checklist import checklist_text
    from promptlane.core.policy import policy_hash

    return policy_hash(checklist_text(text))


def checklist_changes(old: str, new: str) -> list[str]:
    """What changed in the template's checklists, role by role, in words ([]: nothing)."""
    from promptlane.core.checklist import SECTION, checklist_text, items_of
    from promptlane.core.reviews import slug

    def roles(text: str) -> list[str]:
        return [line[len(SECTION):].strip() for line in checklist_text(text).splitlines() if line.startswith(SECTION)]

    before, after = roles(old), roles(new)
    found = [f"'{SECTION}{role}' removed" for role in before if slug(role) not in {slug(r) for r in after}]
    found += [f"'{SECTION}{role}' added ({len(items_of(new, role))} items)" for role in after
              if slug(role) not in {slug(r) for r in before}]
    for role in after:
        if slug(role) not in {slug(r) for r in before}:
            continue
        was, now = [i.text for i in items_of(old, role)], [i.text for i in items_of(new, role)]
        if was != now:
            gone, new_items = [t for t in was if t not in now], [t for t in now if t not in was]
            what = "; ".join([*(f"'{t}' removed" for t in gone), *(f"'{t}' added" for t in new_items)]) or "reordered or repeated"
            found.append(f"{role}'s checklist: {what} ({len(was)} -> {len(now)} items)")
    if not found and checklist_text(old) != checklist_text(new):
        found.append("the checklist sections' wording or markup (the items each role answers are the same)")
    return found


def risk_lowered(old: object, new: object, default: str) -> bool:
    """A card's risk tier went down (a card without ``risk:`` is ``default``)."""
    before = RISK_ORDER.get(str(old if old is not None else default))
    after = RISK_ORDER.get(str(new if new is not None else default))
    return before is not None and after is not None and after < before


def approval_rel(subject: str, date: str, reviewer: str) -> str:
    """reviews/policy/<date>-<subject>-governance-<reviewer>.md; ``subject`` a governed file or a card."""
    from promptlane.core.policy import POLICY_REVIEW_ROLE
    from promptlane.core.reviews import reviewer_slug, slug

    name = SUBJECT_NAMES.get(subject) or f"{subject.split('/')[1]}-risk"
    return f"{POLICY_REVIEWS}/{date[:10]}-{name}-{slug(POLICY_REVIEW_ROLE)}-{reviewer_slug(reviewer)}.md"
