"""The promotion gates, asked of the repository: gather the evidence a gate reads (eval results
for this hash, review forms, reviewers, branch, time) and let core/gates.py decide.

``promptlane promote``, ``promptlane sync`` (a hand-raised ``environment:``), ``promptlane
check`` and ``promptlane status`` all call ``evaluate`` here, so they cannot disagree.
"""
from __future__ import annotations

from pathlib import Path

from promptlane.core import gates
from promptlane.core.card import Card
from promptlane.core.events import parse_time
from promptlane.core.evidence import Collected
from promptlane.core.layout import is_prompt_id
from promptlane.core.managed import MANAGED, managed_findings, skip_finding
from promptlane.core.policy import Policy
from promptlane.core.problems import Problem, PromptlaneError, UsageError, one_line
from promptlane.core.registry import Lock, LockError
from promptlane.core.evalinputs import EVAL_CONFIG, INPUT_KEYS
from promptlane.core.layout import EVAL_RESULTS
from promptlane.core.results import results_rel
from promptlane.core.suggest import did_you_mean
from promptlane.store import context, git, rules
from promptlane.store.cards import read_card
from promptlane.store.registry import read_lock
from promptlane.store.repo import Repo
from promptlane.store.results import load_results
from promptlane.store.reviews import read_forms


def evaluate(repo: Repo, card: Card, lock: Lock, env: str, policy: Policy | None = None,
             branch: str | None = None, now: str | None = None) -> gates.GateResult:
    """Every gate for serving the card's current version in ``env``; ``ok`` when all pass."""
    policy = policy or rules.policy(repo)
    return gates.evaluate(card, lock, env, policy, gather(repo, card, env, policy, branch, now))


def gather(repo: Repo, card: Card, env: str, policy: Policy, branch: str | None = None,
           now: str | None = None, ci_required: bool = False) -> gates.Evidence:
    """What the gates read for ``card`` in ``env``; reviewers and forms only when the rule needs them.

    With ``repo.ci_results`` (CI's own eval results, ``$PROMPTLANE_CI_RESULTS``) the results of
    this hash are CI's when it has them, and a committed file they contradict is PL640;
    ``ci_required`` (a promotion new since the base, judged again) makes CI's results the only
    ones that count (PL641 without them)."""
    found = _ci_results(repo, card, ci_required) if repo.ci_results is not None else None
    results, problems = found[:2] if found else _results(repo, card)
    inputs, inputs_problems = _inputs(repo, card)
    reviewers, signers, forms, template = None, None, [], None
    if gates.needs_approvals(policy, env, card):
        reviewers = rules.reviewers(repo)  # UsageError (exit 2) when it is missing or malformed
        signers = rules.signers(repo)
        forms = read_forms(repo, card.prompt_id, str(card.version))
        template = rules.template(repo) or ""  # the checklists a form must answer, as the rules in force have them
    unborn = None
    if branch is None:
        branch = context.branch(repo)
        unborn = context.unborn_branch(repo) if branch is None else None  # a fresh `git init`
    refused = git.refusal(repo.root) if branch is None and unborn is None else None  # say why git said nothing
    return gates.Evidence(results, problems or inputs_problems, reviewers, forms, branch, parse_time(now or context.now()),
                          unborn, refused, signers, rules.source(repo), inputs=inputs,
                          results_from=found[2] if found else None, contradicted=found[3] if found else [],
                          template=template)


def _inputs(repo: Repo, card: Card) -> tuple[dict | None, list[Problem]]:
    """The eval inputs the card's results must have been produced with (store/evalinputs)."""
    from promptlane.store.evalinputs import current_inputs

    try:
        return current_inputs(repo, card), []
    except PromptlaneError as exc:  # an unreadable eval config or tests file: no results can count
        return None, exc.problems or [Problem(EVAL_CONFIG, 1, 1, "PL324", str(exc))]


def _ci_results(repo: Repo, card: Card, required: bool) -> tuple[dict | None, list[Problem], str | None, list[Problem]] | None:
    """(CI's results of this hash, their problems, where they are, PL640 for a committed file they
    contradict); None when CI has none and they are not ``required`` (the committed ones judge)."""
    folder, pid, payload_hash = repo.ci_results, card.prompt_id, str(card.hash)
    rel = results_rel(pid, payload_hash)
    where = str(Path(str(folder)) / rel[len(EVAL_RESULTS) + 1:])
    try:
        ours = load_results(repo, pid, payload_hash, folder)
    except PromptlaneError as exc:
        return None, exc.problems, where, []
    if ours is None:
        if not required:
            return None
        return None, [Problem(rel, 1, 1, "PL641", f"{card.prompt_id} {card.version} is promoted since {rules.compared_name(repo)} "
                              f"but CI's own eval run left no results for it in {folder} (PROMPTLANE_CI_RESULTS); CI judges "
                              f"a promotion on its own run: let the eval job evaluate it (`promptlane eval run {pid} --force "
                              f"--results-dir DIR`; a version no longer the card's current one is promoted in its own pull request)")], where, []
    return ours, [], where, _contradicted(repo, card, ours, rel)


def _contradicted(repo: Repo, card: Card, ours: dict, rel: str) -> list[Problem]:
    """PL640 when the committed file, of the same hash and inputs as CI's run, claims more than it."""
    from promptlane.core.results import contradiction

    try:
        committed = load_results(repo, card.prompt_id, str(card.hash))
    except PromptlaneError:
        return []  # a corrupt committed file: CI's results judge, check's PL330 says the rest
    same = isinstance(committed, dict) and isinstance(committed.get("inputs"), dict) and \
        all(committed["inputs"].get(key) == ours["inputs"].get(key) for key in INPUT_KEYS)
    if not same:  # none, /1, or other inputs: not the same run to contradict (the gate says why it does not count)
        return []
    why = contradiction(committed, ours) if committed is not None else None
    if why is None:
        return []
    return [Problem(rel, 1, 1, "PL640", f"CI's own run of {card.prompt_id} {card.version} with the same hash and eval inputs "
                    f"contradicts this committed file: it {why}; results are what `promptlane eval run` writes, never "
                    f"edited: re-run `promptlane eval run {card.prompt_id} --force` and commit its file")]


def _results(repo: Repo, card: Card) -> tuple[dict | None, list[Problem]]:
    """This hash's results, or the problems that make its results file unusable."""
    rel, rerun = results_rel(card.prompt_id, str(card.hash)), f"`promptlane eval run {card.prompt_id}`"
    try:
        return load_results(repo, card.prompt_id, str(card.hash)), []
    except PromptlaneError as exc:  # the eval reader's own verdict on a bad file, at its path
        return None, exc.problems or [Problem(rel, 1, 1, "PL610", f"{exc}; rerun {rerun}")]
    except Exception as exc:  # results are input: a bad file must be a gate problem, never a crash
        return None, [Problem(rel, 1, 1, "PL610", f"eval results cannot be read ({exc}); rerun {rerun}")]


def collect(repo: Repo, card: Card, env: str, policy: Policy | None = None) -> Collected:
    """The evidence a promotion of ``card`` to ``env`` stands on, by digest: the results file
    the eval gate read, the forms the approval gate read (with their signatures), and the
    policy, reviewers, allowed_signers and HITL template in force. Called once its gates pass."""
    from promptlane.core.evidence import rule_paths

    policy = policy or rules.policy(repo)
    collected = Collected()
    collected.results(_utf8(_read(repo, results_rel(card.prompt_id, str(card.hash)))))
    if gates.needs_approvals(policy, env, card):
        for review in read_forms(repo, card.prompt_id, str(card.version)):
            if _utf8(review.raw) is not None and (review.signature is None or _utf8(review.signature) is not None):
                collected.form(review.rel, review.raw, review.signature)  # other bytes never counted
    for name, rel in rule_paths().items():
        collected.rules(name, _utf8(rules.file_bytes(repo, rel)))
    return collected


def _read(repo: Repo, rel: str) -> bytes | None:
    try:
        return (repo.root / rel).read_bytes()
    except OSError:
        return None


def _utf8(raw: bytes | None) -> bytes | None:
    """The bytes when they are UTF-8 text (what the evidence store keeps), else None."""
    if raw is None:
        return None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return raw


def synced_card(repo: Repo, prompt_id: str) -> tuple[Card, Lock]:
    """The card and lock of a prompt whose managed block agrees with the registry."""
    if not is_prompt_id(prompt_id) or not repo.card_path(prompt_id).is_file():
        known = repo.prompt_ids()
        raise UsageError(one_line(f"no prompt {prompt_id!r} (prompts/{prompt_id}/card.yml){did_you_mean(prompt_id, known)}; "
                                  f"known: {', '.join(known) or 'none'}"))
    card = read_card(repo, prompt_id)
    if card.problems:
        raise PromptlaneError("the card has problems; fix them first (`promptlane check`)", card.problems)
    try:
        lock = read_lock(repo, prompt_id)
    except LockError as exc:
        raise PromptlaneError("the registry lock is unreadable", [exc.problem]) from None
    entry = lock.entry(str(card.version)) if lock else None
    # No lock means no entry: ``lock is None`` only says so to the type checker.
    if card.data.get("hash") != card.hash or lock is None or entry is None or entry["hash"] != card.hash:
        raise PromptlaneError("not synced", _not_synced(repo, card, lock))
    return card, lock


def _not_synced(repo: Repo, card: Card, lock: Lock | None) -> list[Problem]:
    """Why a card cannot be promoted or approved yet: a managed field edited by hand, with the
    value to put back (as check and sync say it), else a change that sync has not numbered."""
    if lock is not None and card.hash and all(key in card.data for key in MANAGED):
        by_hand = [f for f in managed_findings(card.data, card.hash, lock, repo.environments) if f.by_hand]
        if by_hand:
            return [Problem(card.rel, *card.where(f.key), f.code, f.message) for f in by_hand]
    line, col = card.where("hash")
    return [Problem(card.rel, line, col, "PL153", f"{card.prompt_id} changed since its last version; run `promptlane sync` first")]


def hand_edit_problems(repo: Repo, card: Card, lock: Lock) -> list[Problem]:
    """``check``: the card's environment raised by hand above every one serving its version
    (an environment below is core.managed's PL160): an environment skipped (PL163), else the
    gates, as ``promptlane sync`` would judge the promotion."""
    env = card.environment
    line, col = card.where("environment")
    served = lock.environments.get(env)
    try:
        skipped = skip_finding(card.data, lock, rules.policy(repo))
        if skipped is not None:
            return [Problem(card.rel, line, col, skipped.code, skipped.message)]
        result = evaluate(repo, card, lock, env)
    except UsageError as exc:
        return exc.problems or [Problem(card.rel, line, col, "PL600", str(exc))]
    if not result.ok:
        head = Problem(card.rel, line, col, "PL160",
                       f"environment: {env} raised by hand but registry/{card.prompt_id}.lock.json has {env} serving "
                       f"{served or 'nothing'}; {len(result.problems)} promotion gate(s) unmet, each listed here; "
                       f"when they pass, `promptlane sync` (or the commit hook) records the promotion")
        return [head, *result.problems]
    return [Problem(card.rel, line, col, "PL160",
                    f"environment: {env} raised by hand and every gate passes, but the registry does not record it yet: "
                    f"run `promptlane sync` (the hook does it on commit) or `promptlane promote {card.prompt_id} --to {env}`")]


