"""Governance inputs (pure): the files that say who decides and how, and what a Governance
approval of a change to one of them is bound to.

The policy file, reviews/reviewers.yml, reviews/allowed_signers and each card's ``risk:`` decide
what a promotion needs. A change to any of them counts only with a signed Governance approval
of the new content, judged under the rules in force (the base branch's files): the policy when
it is loosened (core/policy.py ``loosened``), the reviewers and signers on any change, a card's
risk when it is lowered. The approval names the file and the digest of its new content (for a
card, of its risk tier alone: the card's other lines change with every version).
"""
from __future__ import annotations

from promptlane.core.layout import POLICY
from promptlane.core.policy import POLICY_REVIEW_ROLE, policy_hash
from promptlane.core.reviews import POLICY_REVIEWS, REVIEWERS, reviewer_slug, slug
from promptlane.core.signatures import ALLOWED_SIGNERS

GOVERNED_FILES = (POLICY, REVIEWERS, ALLOWED_SIGNERS)
RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
SUBJECT_NAMES = {POLICY: "policy", REVIEWERS: "reviewers", ALLOWED_SIGNERS: "allowed-signers"}


def card_rel(prompt_id: str) -> str:
    return f"prompts/{prompt_id}/card.yml"


def risk_digest(prompt_id: str, risk: str) -> str:
    """What a Governance approval of a card's risk tier is bound to."""
    return policy_hash(f"{card_rel(prompt_id)} risk: {risk}\n")


def file_digest(text: str) -> str:
    """What a Governance approval of the policy, reviewers or signers file is bound to."""
    return policy_hash(text)


def risk_lowered(old: object, new: object, default: str) -> bool:
    """A card's risk tier went down (a card without ``risk:`` is ``default``)."""
    before = RISK_ORDER.get(str(old if old is not None else default))
    after = RISK_ORDER.get(str(new if new is not None else default))
    return before is not None and after is not None and after < before


def approval_rel(subject: str, date: str, reviewer: str) -> str:
    """reviews/policy/<date>-<subject>-governance-<reviewer>.md; ``subject`` a governed file or a card."""
    name = SUBJECT_NAMES.get(subject) or f"{subject.split('/')[1]}-risk"
    return f"{POLICY_REVIEWS}/{date[:10]}-{name}-{slug(POLICY_REVIEW_ROLE)}-{reviewer_slug(reviewer)}.md"
