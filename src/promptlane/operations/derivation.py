"""Every pointer a lock serves, derived from the record (``audit verify --full``).

An environment above the first serves a version only because a logged promotion put it there,
or a rollback returned it to a version that environment got by such a promotion before. That
promotion's evidence must still be in the evidence store at the digests it names and pass its
gates under the rules it names, at its own time (core/evidence.py). A pointer the log cannot
justify is a problem naming the lock and the entry.

The rules an event names must be rules the repository has held: each of the policy, reviewers
and allowed_signers it names is that file's content in a commit of HEAD's history or in the
working tree (PL228). Blobs alone cannot make a policy of one's own the rules in force.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from promptlane.core.evidence import Logged, judge
from promptlane.core.problems import Problem

if TYPE_CHECKING:
    from promptlane.core.ledger import Ledger
    from promptlane.core.registry import Lock
    from promptlane.store.repo import Repo


def pointer_problems(repo: "Repo", ledger: "Ledger", locks: list["Lock"]) -> list[Problem]:
    from promptlane.store.evidence import BlobReader

    reader = BlobReader(repo.root)
    held = _HeldRules(repo)
    judged: dict[tuple[str, int], tuple[str, str] | None] = {}  # a promotion's verdict, once per run
    found: list[Problem] = []
    first = repo.first_environment
    for lock in locks:
        for env, version in lock.environments.items():
            if env == first or not version:
                continue
            problem = _pointer(repo, ledger, lock, env, version, reader, judged)
            if problem is None:
                problem = _rules_problem(repo, ledger, lock, env, held)
            if problem:
                found.append(problem)
    return found


def _pointer(repo: "Repo", ledger: "Ledger", lock: "Lock", env: str, version: str, reader, judged) -> Problem | None:
    from promptlane.store.registry import read_snapshot

    prompt_id, rel = lock.prompt_id, repo.lock_rel(lock.prompt_id)
    setter = ledger.setters.get((prompt_id, env))
    if setter is None or setter[2] != version:
        return None  # no entry leaves env serving it: PL214 / PL215 say so
    number, event, _ = setter
    promotion: Logged | None = ledger.promotions.get(number) if event == "promote" else None
    if event == "rollback":
        promotion = ledger.promotion_before(prompt_id, env, version, number)
        if promotion is None:
            return Problem(rel, 1, 1, "PL225", f"{env} serves {version} by a rollback, but no promotion of {version} "
                           f"to {env} is logged before it: a rollback returns only to what {env} got by promotion")
    if promotion is None:
        return Problem(rel, 1, 1, "PL225", f"{env} serves {version} since a {event} entry, which promotes nothing: "
                       f"a version comes to {env} by `promptlane promote {prompt_id} --to {env}`")
    key = (promotion.rel, promotion.line)
    if key not in judged:
        snapshot = read_snapshot(repo, prompt_id, version)
        judged[key] = judge(promotion, snapshot, lock, reader) if isinstance(snapshot, dict) else None  # PL210 otherwise
    verdict = judged[key]
    if verdict is None:
        return None
    code, why = verdict
    how = "by this promotion" if event == "promote" else "by a rollback to this promotion"
    return Problem(promotion.rel, promotion.line, 1, code, f"{rel}: {env} serves {version} {how}, but it {why}")


class _HeldRules:
    """The digests each governance file has had (git history of HEAD, and the working tree),
    read only when a promotion names rules: one git log and one cat-file per file."""

    def __init__(self, repo: "Repo"):
        self.repo = repo
        self.digests: dict[str, set[str]] = {}

    def holds(self, rel: str, digest: str) -> bool:
        if rel not in self.digests:
            from promptlane.core.evidence import digest_of
            from promptlane.store.git import contents_in_history

            contents = contents_in_history(self.repo.root, rel)
            path = self.repo.root / rel
            if path.is_file() and not path.is_symlink():
                contents.append(path.read_bytes())
            self.digests[rel] = {digest_of(raw) for raw in contents}
        return digest in self.digests[rel]


def _rules_problem(repo: "Repo", ledger: "Ledger", lock: "Lock", env: str, held: _HeldRules) -> Problem | None:
    """PL228: the promotion behind the pointer names rules this repository never held."""
    from promptlane.core.evidence import rule_files

    setter = ledger.setters.get((lock.prompt_id, env))
    if setter is None:
        return None
    promotion = ledger.promotions.get(setter[0]) if setter[1] == "promote" else \
        ledger.promotion_before(lock.prompt_id, env, str(setter[2]), setter[0])
    if promotion is None or not isinstance(promotion.evidence, dict):
        return None
    for rel, digest in rule_files(promotion.evidence):
        if not held.holds(rel, digest):
            return Problem(promotion.rel, promotion.line, 1, "PL228", f"{repo.lock_rel(lock.prompt_id)}: {env} serves "
                           f"{setter[2]} by this promotion, which names a {rel} ({digest[:19]}...) that no commit of "
                           "this repository and not its working tree has held: a promotion is judged under the "
                           "repository's own rules")
    return None
