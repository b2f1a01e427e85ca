"""What ``promptlane check`` says about the policy file: its schema, and any loosening
against the base commit that no Governance approval of this exact text covers (PL410)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from promptlane.core.policy import POLICY_REVIEW_ROLE, loosened, policy_hash
from promptlane.core.problems import Problem, UsageError
from promptlane.store.policyfile import base_policy, load_policy, read_rules

if TYPE_CHECKING:
    from promptlane.store.repo import Repo


def loosening_problems(repo: "Repo") -> list[Problem]:
    """PL410 per loosened rule against git HEAD (or $PROMPTLANE_BASE), unless a Governance
    approval covers this text."""
    from promptlane.core import layout
    from promptlane.core.yamltext import locate
    from promptlane.store.reviews import policy_approval

    try:
        data, text = load_policy(repo.root)
    except UsageError:
        return []  # reported by check_policy
    old = base_policy(repo.root)
    if old is None or not data:
        return []
    changes = loosened(old, data)
    if not changes or policy_approval(repo, policy_hash(text)):
        return []
    digest = policy_hash(text)
    found = []
    for path, what in changes:
        loc = locate(text, path)
        found.append(Problem(layout.POLICY, loc.line, loc.col, "PL410",
                             f"policy loosened: {what}; needs an approval file reviews/policy/<date>-governance-<reviewer>.md "
                             f"for {digest[:19]}...: run `promptlane approve --policy --role {POLICY_REVIEW_ROLE}`"))
    return found


def check_policy(repo: "Repo") -> list[Problem]:
    """What ``promptlane check`` reports about the policy file itself."""
    _, problems = read_rules(repo.root)
    return problems or loosening_problems(repo)
