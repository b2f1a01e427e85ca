"""Review forms and reviewers on disk: ``reviews/reviewers.yml``, the HITL forms filed for a
prompt version under ``reviews/<id>/<version>/``, and approvals of the policy file under
``reviews/policy/``. What a form says and whether it counts is core/reviews.py.
"""
from __future__ import annotations

from promptlane.core.layout import REVIEWS
from promptlane.core.policy import POLICY_REVIEW_ROLE
from promptlane.core.problems import Problem, UsageError
from promptlane.core.reviews import (
    POLICY_REVIEWS,
    REVIEWERS,
    Review,
    Reviewers,
    parse_review,
    parse_reviewers,
)
from promptlane.store.repo import Repo
from promptlane.store.yamlfile import load_file


def load_reviewers(repo: Repo) -> Reviewers:
    """reviews/reviewers.yml; UsageError (exit 2) when it is missing or malformed."""
    path = repo.root / REVIEWERS
    if not path.is_file():
        raise UsageError(f"{REVIEWERS} is missing; list who holds which role there (see the template)")
    return parse_reviewers(load_file(str(path), REVIEWERS))


def read_review(repo: Repo, rel: str, policy: bool = False) -> Review:
    """One form; a file that cannot be read is a form with a PL500 problem, never an exception."""
    try:
        raw = (repo.root / rel).read_bytes()
    except OSError as exc:  # a folder named like a form, a dangling link, a permission
        review = Review(rel)
        review.problems.append(Problem(rel, 1, 1, "PL500", f"cannot be read ({exc.strerror or exc}); "
                                       "remove it or write the form again with `promptlane approve`"))
        return review
    return parse_review(rel, raw, policy)


def forms_for(repo: Repo, prompt_id: str, version: str) -> list[str]:
    """The forms filed for one version, by path."""
    folder = repo.root / REVIEWS / prompt_id / version
    if not folder.is_dir():
        return []
    return sorted(f"{REVIEWS}/{prompt_id}/{version}/{p.name}" for p in folder.iterdir() if p.suffix == ".md" and p.is_file())


def read_forms(repo: Repo, prompt_id: str, version: str) -> list[Review]:
    return [read_review(repo, rel) for rel in forms_for(repo, prompt_id, version)]


def policy_approval(repo: Repo, digest: str) -> Review | None:
    """A Governance approval of exactly this policy text, if one is on file."""
    folder = repo.root / POLICY_REVIEWS
    if not folder.is_dir():
        return None
    try:
        reviewers = load_reviewers(repo)
    except UsageError:
        return None
    role = reviewers.role_named(POLICY_REVIEW_ROLE)
    for path in sorted(folder.glob("*.md")):
        review = read_review(repo, f"{POLICY_REVIEWS}/{path.name}", policy=True)
        if (review.ok and role and reviewers.role_named(review.data["role"]) == role
                and reviewers.holds(review.data["reviewer"], role)
                and review.data["decision"] == "approved" and review.data["hash"] == digest):
            return review
    return None
