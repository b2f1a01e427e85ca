"""Review forms and reviewers on disk: ``reviews/reviewers.yml``, the HITL forms filed for a
prompt version under ``reviews/<id>/<version>/``, and approvals of the policy file under
``reviews/policy/``. What a form says and whether it counts is core/reviews.py.
"""
from __future__ import annotations

from datetime import datetime

from promptlane.core.decisions import Panel, governance_verdict
from promptlane.core.layout import REVIEWS
from promptlane.core.problems import Problem, UsageError
from promptlane.core.reviews import (
    POLICY_REVIEWS,
    REVIEWERS,
    Review,
    Reviewers,
    parse_review,
    parse_reviewers,
)
from promptlane.core.signatures import SIGNATURE_SUFFIX
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
    review = parse_review(rel, raw, policy)
    signature = repo.root / (rel + SIGNATURE_SUFFIX)
    try:
        review.signature = signature.read_bytes() if signature.is_file() else None
    except OSError:
        review.signature = b""  # unreadable: it will not verify, and the problem says so
    return review


def forms_for(repo: Repo, prompt_id: str, version: str) -> list[str]:
    """The forms filed for one version, by path."""
    folder = repo.root / REVIEWS / prompt_id / version
    if not folder.is_dir():
        return []
    return sorted(f"{REVIEWS}/{prompt_id}/{version}/{p.name}" for p in folder.iterdir() if p.suffix == ".md" and p.is_file())


def read_forms(repo: Repo, prompt_id: str, version: str) -> list[Review]:
    return [read_review(repo, rel) for rel in forms_for(repo, prompt_id, version)]


def governance_forms(repo: Repo) -> list[Review]:
    """Every Governance approval on file (reviews/policy/*.md), read with its signature."""
    folder = repo.root / POLICY_REVIEWS
    if not folder.is_dir():
        return []
    return [read_review(repo, f"{POLICY_REVIEWS}/{path.name}", policy=True) for path in sorted(folder.glob("*.md"))]


def governance_approval(repo: Repo, subject: str, digest: str, panel: Panel, now: datetime | None,
                        spent: frozenset[str] = frozenset()) -> tuple[Review | None, list[Problem]]:
    """The signed Governance approval of ``subject`` at ``digest``, if one counts; and the
    problems of the forms that claim to approve it but do not count. ``spent``: the sha256 of
    every approval already in the base (its bytes, whatever its name), which approved the change
    that brought it: restoring a text approved once (then tightened) needs a new approval, never
    a replay or a copy of the old one."""
    problems: list[Problem] = []
    import hashlib

    for review in governance_forms(repo):
        if hashlib.sha256(review.raw).hexdigest() in spent:
            continue
        verdict = governance_verdict(review, subject, digest, panel, now)
        if verdict is None:
            return review, []
        if review.ok:
            problems += verdict
    return None, problems
