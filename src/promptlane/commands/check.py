"""``promptlane check``: every problem with the given prompts, not just the first.

Schema, texts, variables and identity come from ``read_card``; this module adds what needs
the registry: a hand-edited hash or version, a missing snapshot, an unknown environment, an
environment raised without promotion, and ids used twice; then budgets and PII, review
forms, the policy and the repository's own files (repofiles.py) when they are among the files.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, cast

from promptlane.commands.arguments import ids_from, open_repo, repo_rel
from promptlane.commands.output import report
from promptlane.core.budget import budget_problems
from promptlane.core.layout import prompt_id_of
from promptlane.core.card import Card, step_entries
from promptlane.core.pii import text_problems
from promptlane.core.problems import EXIT_FAILED, EXIT_OK, Problem
from promptlane.core.managed import RUN_SYNC, managed_findings
from promptlane.core.registry import Lock, LockError
from promptlane.core.yamltext import Loaded
from promptlane.store import evaltests
from promptlane.store.cards import read_card
from promptlane.store.context import now
from promptlane.store.fsio import pending_problem
from promptlane.store.git import memoized
from promptlane.store.pricecache import CachedPrices
from promptlane.store.registry import read_lock
from promptlane.store.repo import Repo

# Every prompt's check needs the modules above (budgets, eval tests, prices): imported here, before
# check --all forks its workers, each worker inherits them instead of importing them again.


def check(repo: Repo, prompt_ids: list[str], policy: bool = True, forms: Sequence[str] = (),
          trust: Sequence[str] = (), also: Callable[[], list[Problem]] | None = None) -> list[Problem]:
    """Every problem of ``prompt_ids``; ``policy``: the policy file too; ``forms``: review forms
    to validate; ``trust``: the governance and review-history checks to run (``TRUST_CHECKS``);
    ``also``: more whole-repository checks (the repository's own files), run with the others."""
    # Started first: with many prompts, the workers check them while this process runs the
    # whole-repository checks (git, the policy); their problems are still reported after those.
    checked = _Checked(repo, prompt_ids)
    try:
        with memoized():  # check writes nothing: a git question asked twice has one answer
            return _check(repo, prompt_ids, checked, policy, forms, trust, also)
    finally:
        checked.close()


def _check(repo: Repo, prompt_ids: list[str], checked: _Checked, policy: bool, forms: Sequence[str],
           trust: Sequence[str], also: Callable[[], list[Problem]] | None) -> list[Problem]:
    problems: list[Problem] = []
    if also is not None:
        problems.extend(also())
    interrupted = pending_problem(repo.root)
    if interrupted:
        problems.append(interrupted)
    if policy:
        from promptlane.operations.governance import check_policy

        problems.extend(check_policy(repo))  # schema, and loosening against the base or HEAD
    if trust:
        problems.extend(trust_problems(repo, prompt_ids, trust))
    if forms:
        from promptlane.store.reviews import read_review

        for rel in forms:  # well-formed whether or not a gate reads them yet
            problems.extend(read_review(repo, rel, policy=rel.startswith("reviews/policy/")).problems)
    seen_ids: dict[str, str] = {}
    for prompt_id, (found, declared, rel) in zip(prompt_ids, checked, strict=True):
        problems.extend(found)
        if declared is None:
            continue
        if declared in seen_ids and seen_ids[declared] != rel:
            card = read_card(repo, prompt_id)  # rare: read again only to place the problem
            problems.append(card.problem("PL122", f"id '{declared}' is also used by {seen_ids[declared]}; ids must be unique", "id"))
        seen_ids.setdefault(declared, rel)
    if repo.root in _prices:
        _prices.pop(repo.root).save()  # what this run looked up: the next one need not import genai-prices
    return problems


TRUST_CHECKS = ("files", "risk", "history", "promotions")


def trust_problems(repo: Repo, prompt_ids: list[str], which: Sequence[str]) -> list[Problem]:
    """The governance inputs and the review history against the base (operations/governance.py)."""
    from promptlane.operations import governance

    found: list[Problem] = []
    if "files" in which:
        found += governance.file_problems(repo) + governance.signers_file_problems(repo)
    if "risk" in which:
        found += governance.risk_problems(repo, prompt_ids)
    if "history" in which:
        found += governance.history_problems(repo) + governance.new_form_problems(repo)
    if "promotions" in which:
        from promptlane.operations.rejudge import promotion_problems

        found += promotion_problems(repo)
    return found


def _trust_checks(rels: list[str] | None, based: bool = False) -> list[str]:
    """Which trust checks the given files call for: all of them for a whole-repository check,
    and whenever a base is set (CI on a pull request): what changed since the base is found by
    git, not by the file list, which never holds a deleted file or (pre-commit's default
    `types: [file]`) a symbolic link."""
    from promptlane.core.layout import ALLOWED_SIGNERS, REVIEWERS, TEMPLATE

    if rels is None or based:
        return list(TRUST_CHECKS)
    which = []
    if any(rel in (REVIEWERS, ALLOWED_SIGNERS, TEMPLATE) for rel in rels):
        which.append("files")
    if any(rel.startswith("prompts/") and rel.endswith("/card.yml") for rel in rels):
        which.append("risk")
    if any(rel.startswith("reviews/") for rel in rels):
        which.append("history")
    if any(rel.startswith("registry/") and rel.endswith(".lock.json") for rel in rels):
        which.append("promotions")
    return which


PromptChecked = tuple[list[Problem], "str | None", str]  # a prompt's problems, its declared id, its card's path


def check_prompt(repo: Repo, prompt_id: str) -> PromptChecked:
    """One prompt's problems, the id its card declares, and the card's path."""
    card = read_card(repo, prompt_id)
    found = list(card.problems)
    tests = evaltests.read_tests(repo, prompt_id)
    if card.ok:
        found += registry_problems(repo, card)
        found += content_problems(repo, card, tests)
    if tests is not None:  # its YAML and shape whatever the card; its vars against a sound card's
        found += evaltests.file_problems(repo, tests, prompt_id, card.payload["variables"] if card.payload else None)
    declared = card.data.get("id")
    return found, declared if isinstance(declared, str) else None, card.rel


PARALLEL_FROM = 400  # below this, starting worker processes costs more than it saves
_worker_repo: Repo | None = None


class _Checked:
    """check_prompt for each id, in order, as an iterator; many prompts are spread over the
    machine's cores, and their workers start at once (each prompt is checked alone; only
    duplicate ids need the whole set, done by the caller). ``close`` stops the workers of a run
    that ends early (an error in the whole-repository checks)."""

    def __init__(self, repo: Repo, prompt_ids: list[str]):
        import os

        jobs = int(os.environ.get("PROMPTLANE_JOBS") or min(os.cpu_count() or 1, 8))
        self._pool: Any = None
        self._results: Iterator[PromptChecked]
        if jobs < 2 or len(prompt_ids) < PARALLEL_FROM:
            self._results = (check_prompt(repo, prompt_id) for prompt_id in prompt_ids)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        self._pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                                         initargs=(repo.root, repo.base, repo.ci_results))
        chunk = max(50, len(prompt_ids) // (jobs * 8))
        self._results = iter(self._pool.map(_check_in_worker, prompt_ids, chunksize=chunk))

    def __iter__(self) -> _Checked:
        return self

    def __next__(self) -> PromptChecked:
        try:
            return next(self._results)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _init_worker(root, base, ci_results) -> None:
    """The worker's repository, judged as the parent's is (``--base``, CI's own results)."""
    global _worker_repo
    _worker_repo = Repo(root, base=base, ci_results=ci_results)


def _check_in_worker(prompt_id: str):
    return check_prompt(cast(Repo, _worker_repo), prompt_id)  # set by _init_worker, the pool's initializer


def content_problems(repo: Repo, card: Card, tests: Loaded | None = None) -> list[Problem]:
    """Offline budgets (PL301/302, PL172-PL175) and PII or secrets in the texts and eval fixtures (PL310)."""
    return budget_problems(card, price_day(), prices_of(repo)) + pii_problems(card, tests)


_prices: dict[Path, CachedPrices] = {}  # one per repository and run: saved once, at the end of check


def prices_of(repo: Repo) -> CachedPrices:
    """Prices and context windows for budgets, from .promptlane/cache/prices.json where it has them."""
    if repo.root not in _prices:
        _prices[repo.root] = CachedPrices(repo)
    return _prices[repo.root]


def price_day() -> date:
    """The day whose prices a budget uses: today in UTC, or PROMPTLANE_NOW's day (tests, demos)."""
    try:
        return date.fromisoformat(now()[:10])
    except ValueError:  # a PROMPTLANE_NOW that is not an ISO time: prices need only a day, the clock's
        return datetime.now(timezone.utc).date()


def registry_problems(repo: Repo, card: Card) -> list[Problem]:
    """The managed block against the payload and the registry lock."""
    try:
        lock = read_lock(repo, card.prompt_id)
    except LockError as exc:
        return [exc.problem]
    data = card.data
    missing = [key for key in ("version", "hash", "author", "environment") if key not in data]
    if missing:
        return [card.problem("PL153", f"not versioned yet (no {', '.join(missing)}); {RUN_SYNC}")]
    # One rule with sync (core.managed): what check reports as a hand edit, sync refuses.
    findings = managed_findings(data, card.sound_hash, lock or Lock(card.prompt_id), repo.environments)
    found = [card.problem(f.code, f.message, f.key) for f in findings]
    version = data["version"]
    if lock is None:
        if not any(f.key == "hash" for f in findings):
            found.append(Problem(repo.lock_rel(card.prompt_id), 1, 1, "PL155", f"is missing for {card.rel}; {RUN_SYNC}"))
        return found
    if all(f.code == "PL154" for f in findings) and not (repo.root / repo.snapshot_rel(card.prompt_id, version)).exists():
        found.append(Problem(repo.snapshot_rel(card.prompt_id, version), 1, 1, "PL157", f"snapshot of {card.prompt_id} {version} is missing; {RUN_SYNC}"))
    if found:
        return found
    if lock.retired is not None:
        from promptlane.operations.retirement import retired_problem

        return [retired_problem(repo, lock, card.rel)]
    if lock.environments.get(data["environment"]) != version:  # raised by hand: a promotion asked for
        # The same gates `promptlane promote` evaluates: one line per unmet requirement.
        from promptlane.operations.gating import hand_edit_problems

        found.extend(hand_edit_problems(repo, card, lock))
    return found


def pii_problems(card: Card, tests: Loaded | None) -> list[Problem]:
    """A sound card's step texts and its eval fixture file, evals/tests/<id>.yml (read by the caller)."""
    found: list[Problem] = []
    for entry, text in zip(step_entries(card.data), card.texts or [], strict=False):  # every call's, in a chain
        found.extend(text_problems(text, f"prompts/{card.prompt_id}/{entry.step['file']}"))
    if tests is not None and tests.text:  # an undecodable fixture is PL110, from its reading
        found.extend(text_problems(tests.text, tests.path))
    return found


def cmd_check(args, repo: Repo | None = None) -> int:
    """``repo``: already opened (``promptlane hook`` opens it once for its parts)."""
    from promptlane.core.layout import POLICY

    repo = repo or open_repo(args)
    deleted = _deleted_ids(repo) if args.deleted else []
    if args.deleted and not args.files and not args.all and not deleted:
        return EXIT_OK  # the hook, on a commit that touches no governed file and deletes none
    whole = args.all or (not args.files and not args.deleted)
    # The policy is checked (schema, loosening against HEAD) when it is among the files.
    policy = whole or any(repo_rel(repo, name) == POLICY for name in args.files)
    forms = _review_forms(repo, None if whole else [repo_rel(repo, name) for name in args.files])
    rels = None if whole else [repo_rel(repo, name) for name in args.files]
    policy = policy or bool(repo.base)
    ids = ids_from(repo, args.files, args.all) if (args.files or whole) else []
    ids = sorted(set(ids) | {i for i in deleted if repo.prompt_dir(i).is_dir()})
    problems = check(repo, ids, policy=policy, forms=forms, trust=_trust_checks(rels, bool(repo.base)),
                     also=lambda: _outside_prompts(args, repo, rels, deleted))
    count = report(problems)
    if count and any(p.code.startswith(("PL41", "PL5", "PL6")) for p in problems):
        import sys

        from promptlane.store.rules import source

        print(f"promptlane check: approvals, promotions and governance changes judged under {source(repo)}", file=sys.stderr)
    return EXIT_FAILED if count else EXIT_OK


def _outside_prompts(args, repo: Repo, rels: list[str] | None, deleted: list[str]) -> list[Problem]:
    """What no single prompt's check sees: locks whose prompt is gone, eval tests of no prompt,
    and the repository's own files (among ``rels``; all of them when it is None)."""
    found = _orphans(repo, rels, deleted)
    if rels is None or any(rel.startswith("evals/tests/") for rel in rels):
        from promptlane.store.evaltests import stray_problems

        found += stray_problems(repo, rels)
    # The repository's own files belong to no prompt: a commit of prompt files alone (the usual
    # hook run) need not import their checks.
    if rels is None or any(prompt_id_of(rel) is None for rel in rels):
        from promptlane.commands.repofiles import CHECKS, repo_file_problems

        if rels is None or any(rel in CHECKS for rel in rels):
            found += repo_file_problems(repo, rels, lambda: command_names(args.build_parser()))
    return found


def _deleted_ids(repo: Repo) -> list[str]:
    """Prompts with a file deleted since HEAD (``--deleted``: the hook, which is handed only the
    files that still exist)."""
    from promptlane.store.git import deleted_paths

    return sorted({i for i in (prompt_id_of(rel) for rel in deleted_paths(repo.root, "prompts")) if i})


def _orphans(repo: Repo, rels: list[str] | None, deleted: list[str]) -> list[Problem]:
    """PL124 for prompts whose folder or card is gone while their lock still has them."""
    from promptlane.operations.retirement import orphan_problems
    from promptlane.store.registry import lock_ids

    if rels is None:
        candidates = set(lock_ids(repo))
    else:
        candidates = {i for i in (prompt_id_of(rel) for rel in rels) if i} | set(deleted)
    return orphan_problems(repo, sorted(i for i in candidates if not repo.card_path(i).is_file()))


def _review_forms(repo, rels: list[str] | None) -> list[str]:
    """HITL forms to validate: those given, or every reviews/<id>/<version>/*.md."""
    from promptlane.core.layout import REVIEWS

    if rels is None:
        return sorted(p.relative_to(repo.root).as_posix() for p in (repo.root / REVIEWS).glob("*/*/*.md"))
    return [rel for rel in rels if rel.startswith(f"{REVIEWS}/") and rel.endswith(".md") and rel.count("/") >= 3
            and (repo.root / rel).is_file()]


def command_names(parser: argparse.ArgumentParser) -> set[str]:
    """The sub-commands a parser knows (the rollback runbook may name only those)."""
    return {name for action in parser._actions if isinstance(action, argparse._SubParsersAction) for name in action.choices}
