"""``promptlane eval run | import | plan``: promptfoo evals bound to each prompt's payload hash.

Exit codes: 0 every evaluated prompt passed; 1 a test failed or errored, a run timed out, or an
import was refused; 2 setup errors (a broken or unsynced card, missing tests or provider
files, an empty eval config, no Node.js or promptfoo or one that cannot be started, a config
promptfoo refuses, a malformed file to import); 143 stopped by SIGTERM (promptfoo stopped too).
"""
from __future__ import annotations

import json
import sys

from promptlane.commands.arguments import given_path, open_repo, outside_checkout
from promptlane.commands.evalreport import RunReport
from promptlane.commands.output import report
from promptlane.core import results
from promptlane.core.problems import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from promptlane.core.results import ResultsError
from promptlane.evals.config import EvalSetupError
from promptlane.evals.importer import import_results
from promptlane.evals.plan import eval_card, has_results, matrix, owed
from promptlane.evals.runner import (
    EvalRunError,
    EvalTerminated,
    PromptfooCannotStart,
    find_promptfoo,
    require_node,
    run_prompt,
    stop_on_sigterm,
)
from promptlane.store import rules
from promptlane.store.promoted import moved_since
from promptlane.store.results import load_results


def _select(repo, ids: list[str], force: bool):
    """(cards to run, kept results summaries, setup problems). Results are kept only when they
    count (plan.has_results: valid, of the current eval inputs); --force re-runs in any case."""
    if not ids and not force:
        cards, problems = owed(repo)
        return cards, [], problems
    cards, kept, problems = [], [], []
    for prompt_id in dict.fromkeys(ids) or repo.prompt_ids():
        try:
            card = eval_card(repo, prompt_id)
        except EvalSetupError as exc:
            problems.extend(exc.problems)
            continue
        existing = None
        if not force and has_results(repo, card):
            try:
                existing = load_results(repo, prompt_id, card.sound_hash)  # eval_card's: hash set
            except ResultsError:
                existing = None  # corrupt: run again and replace it
        if existing is None:
            cards.append(card)
        else:
            kept.append(existing)
    return cards, kept, problems


def cmd_eval_run(args) -> int:
    repo = open_repo(args)
    results_dir = outside_checkout(repo, given_path(args, args.results_dir), "--results-dir") if getattr(args, "results_dir", None) else None
    if results_dir is not None and not args.force:
        raise UsageError("--results-dir writes CI's own results beside the committed ones: use it with --force "
                         "(every prompt named is evaluated again)")
    out = RunReport(getattr(args, "json", False))
    cards, kept, problems = _select(repo, args.ids, args.force)
    for summary in kept:
        out.kept(summary)
    bad = sum(not results.all_passed(s) for s in kept)
    if not cards:
        if not kept and not problems:
            out.note("Nothing to run: every prompt has results for its current hash (--force re-runs).")
        out.finish(problems)
        return EXIT_USAGE if problems else (EXIT_FAILED if bad else EXIT_OK)
    try:
        promptfoo = find_promptfoo(repo.root)
        require_node()
    except EvalSetupError as exc:
        out.finish(problems)
        print(f"promptlane eval: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup_errors, run_bad = _run_each(repo, cards, promptfoo, args.timeout, results_dir, out, problems)
    if len(cards) > 1:
        out.note(f"{len(cards)} prompts: {len(cards) - run_bad - setup_errors} passed, {run_bad} failed or errored, {setup_errors} not run.")
    out.finish(problems)
    if problems or setup_errors:
        return EXIT_USAGE
    return EXIT_FAILED if bad or run_bad else EXIT_OK


def _run_each(repo, cards, promptfoo, timeout, results_dir, out: RunReport, problems: list) -> tuple[int, int]:
    """Run promptfoo for each card in turn: (prompts not run, prompts failed or errored)."""
    setup_errors = run_bad = 0
    with stop_on_sigterm():  # a cancelled CI job: promptfoo is stopped and its temp folder removed
        for number, card in enumerate(cards, 1):
            out.started(f"[{number}/{len(cards)}] " if len(cards) > 1 else "", card.prompt_id)
            try:
                run = run_prompt(repo, card, promptfoo, timeout, results_dir)
            except PromptfooCannotStart as exc:  # the prompts after this one would fail alike
                out.not_done(card.prompt_id, "not run", str(exc))
                setup_errors += len(cards) - number + 1
                break
            except EvalSetupError as exc:
                out.not_done(card.prompt_id, "not run", str(exc))
                problems.extend(exc.problems)
                setup_errors += 1
                continue
            except EvalRunError as exc:
                out.not_done(card.prompt_id, "error", str(exc))
                run_bad += 1
                continue
            except EvalTerminated:
                if not out.as_json:
                    print("stopped", flush=True)
                raise
            out.ran(card.prompt_id, run.summary, run.rel, run.failures)
            run_bad += not results.all_passed(run.summary)
    return setup_errors, run_bad


def cmd_eval_import(args) -> int:
    repo = open_repo(args)
    card = eval_card(repo, args.prompt)
    summary, rel = import_results(repo, card, args.file, getattr(args, "current_inputs", False))
    print(f"{card.prompt_id}: imported {results.line(summary)} for {card.sound_hash[:19]}... -> {rel}")  # eval_card's
    return EXIT_OK if results.all_passed(summary) else EXIT_FAILED


def cmd_eval_plan(args) -> int:
    repo = open_repo(args)
    base = rules.base_commit(repo)  # a pull request: what it promotes is evaluated again (CI re-derives)
    promoted = moved_since(repo, base) if base else {}
    cards, problems = owed(repo, promoted=set(promoted))
    for card in cards:
        for env, version in promoted.get(card.prompt_id, []):
            if version != card.version:
                print(f"promptlane eval plan: {card.prompt_id} {version} is promoted to {env} since {rules.compared_name(repo)}, "
                      f"but the card is now {card.version}: CI evaluates the card's current version only, so the gate "
                      f"will find no CI results for {version} (promote it in its own pull request)", file=sys.stderr)
    # One line of JSON on stdout, for `echo "matrix=$(promptlane eval plan)" >> "$GITHUB_OUTPUT"`.
    print(json.dumps(matrix(cards)))
    report(problems, sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK
