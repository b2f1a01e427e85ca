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

from promptlane.core.evidence import Logged, Parsed, judge
from promptlane.core.problems import Problem

if TYPE_CHECKING:
    from promptlane.core.ledger import Ledger
    from promptlane.core.registry import Lock
    from promptlane.store.repo import Repo


def pointer_problems(repo: "Repo", ledger: "Ledger", locks: list["Lock"]) -> list[Problem]:
    derivation = _Derivation(repo, ledger)
    first = repo.first_environment
    return [problem for lock in locks for env, version in lock.environments.items()
            if env != first and version for problem in derivation.pointer(lock, env, version)]


class _Derivation:
    """One run's derivation: blobs read once, each promotion judged once, each rules file's
    history read once."""

    def __init__(self, repo: "Repo", ledger: "Ledger"):
        from promptlane.store.evidence import BlobReader

        self.repo, self.ledger = repo, ledger
        self.reader = BlobReader(repo.root)
        self.held = _HeldRules(repo)
        self.judged: dict[tuple[str, int], tuple[str, str] | None] = {}
        self.parsed = Parsed()

    def pointer(self, lock: "Lock", env: str, version: str) -> list[Problem]:
        prompt_id, rel = lock.prompt_id, self.repo.lock_rel(lock.prompt_id)
        setter = self.ledger.setters.get((prompt_id, env))
        if setter is None or setter[2] != version:
            return []  # no entry leaves env serving it: PL214 / PL215 say so
        number, event, _ = setter
        promotion = self.ledger.backing(prompt_id, env, version, number, event)
        if promotion is None and event == "rollback":
            return [Problem(rel, 1, 1, "PL225", f"{env} serves {version} by a rollback, but no promotion of {version} "
                            f"to {env} is logged before it: a rollback returns only to what {env} got by promotion")]
        if promotion is None:
            return [Problem(rel, 1, 1, "PL225", f"{env} serves {version} since a {event} entry, which promotes nothing: "
                            f"a version comes to {env} by `promptlane promote {prompt_id} --to {env}`")]
        how = "by this promotion" if event == "promote" else "by a rollback to this promotion"
        verdict = self._verdict(promotion, lock) or self._rules(promotion)
        if verdict is None:
            return []
        code, why = verdict
        return [Problem(promotion.rel, promotion.line, 1, code, f"{rel}: {env} serves {version} {how}, but it {why}")]

    def _verdict(self, promotion: Logged, lock: "Lock") -> tuple[str, str] | None:
        from promptlane.store.registry import read_snapshot

        key = (promotion.rel, promotion.line)
        if key not in self.judged:
            snapshot = read_snapshot(self.repo, promotion.prompt, promotion.version)
            self.judged[key] = judge(promotion, snapshot, lock, self.reader, self.parsed) if isinstance(snapshot, dict) else None  # PL210 otherwise
        return self.judged[key]

    def _rules(self, promotion: Logged) -> tuple[str, str] | None:
        """PL228: the promotion names rules this repository never held."""
        from promptlane.core.evidence import rule_files

        if not isinstance(promotion.evidence, dict):
            return None  # judged already: PL226 (or PL210, no snapshot to judge against)
        for rel, digest in rule_files(promotion.evidence):
            if not self.held.holds(rel, digest):
                return "PL228", (f"names a {rel} ({digest[:19]}...) that no commit of this repository and not its "
                                 "working tree has held: a promotion is judged under the repository's own rules")
        return None


class _HeldRules:
    """The digests each governance file has had (git history of HEAD, and the working tree),
    read only when a promotion names rules: one git log and one cat-file per file."""

    def __init__(self, repo: "Repo"):
        self.repo = repo
        self.digests: dict[str, set[str]] = {}

    def holds(self, rel: str, digest: str) -> bool:
        if rel not in self.digests:
            from promptlane.core.hashing import digest_of
            from promptlane.store.git import contents_in_history

            contents = contents_in_history(self.repo.root, rel)
            path = self.repo.root / rel
            if path.is_file() and not path.is_symlink():
                contents.append(path.read_bytes())
            self.digests[rel] = {digest_of(raw) for raw in contents}
        return digest in self.digests[rel]
