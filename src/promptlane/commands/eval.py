"""``promptlane eval run | import | plan``: promptfoo evals bound to each prompt's payload hash.

Exit codes: 0 every evaluated prompt passed; 1 a test failed or errored, a run timed out, or an
import was refused; 2 setup errors (a broken or unsynced card, missing tests or provider
files, an empty eval config, no Node.js or promptfoo or one that cannot be started, a config
promptfoo refuses, a malformed file to import); 143 stopped by SIGTERM (promptfoo stopped too).
"""
from __future__ import annotations

import argparse
import json
import math
import sys

from promptlane.core.problems import EXIT_FAILED, EXIT_OK, EXIT_USAGE, report


def register(sub) -> None:
    """Add the eval sub-commands to the top-level parser."""
    from promptlane.evals import DEFAULT_TIMEOUT  # the package __init__ only: keeps `promptlane check` start-up lean

    p = sub.add_parser("eval", help="run, import and plan promptfoo evals bound to payload hashes")
    actions = p.add_subparsers(dest="eval_command", metavar="ACTION", required=True)

    run = actions.add_parser("run", help="run promptfoo for prompts whose current hash has no results")
    run.add_argument("ids", nargs="*", metavar="ID", help="prompts to evaluate (default: every prompt still owed)")
    run.add_argument("--force", action="store_true", help="run even when results for the current hash exist")
    run.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                     help=f"stop promptfoo after this long, per prompt (default {DEFAULT_TIMEOUT:g})")
    run.set_defaults(handler=cmd_eval_run)

    imp = actions.add_parser("import", help="take promptfoo results produced elsewhere (checked against the payload)")
    imp.add_argument("file", help="a promptfoo results.json (`promptfoo eval -o results.json`)")
    imp.add_argument("--prompt", required=True, metavar="ID", help="the prompt the results belong to")
    imp.set_defaults(handler=cmd_eval_import)

    plan = actions.add_parser("plan", help="GitHub Actions matrix JSON of the evals still owed")
    plan.set_defaults(handler=cmd_eval_plan)


MAX_TIMEOUT = 7 * 24 * 3600.0  # a week; far larger ones overflow the wait for promptfoo


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_TIMEOUT:  # nan passes "<= 0"
        raise argparse.ArgumentTypeError(f"{text!r}: the timeout must be a number of seconds more than 0 "
                                         f"and at most {MAX_TIMEOUT:g} (a week)")
    return value


def _repo(args):
    from promptlane.store.repo import Repo

    return Repo.at(args.root)


def _select(repo, ids: list[str], force: bool):
    """(cards to run, kept results summaries, setup problems)."""
    from promptlane.evals.config import EvalSetupError
    from promptlane.evals.plan import eval_card, owed
    from promptlane.evals.results import ResultsError, load_results

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
        try:
            existing = None if force else load_results(repo, prompt_id, card.hash)
        except ResultsError:
            existing = None  # corrupt: run again and replace it
        if existing is None:
            cards.append(card)
        else:
            kept.append(existing)
    return cards, kept, problems


def cmd_eval_run(args) -> int:
    from promptlane.evals import results
    from promptlane.evals.config import EvalSetupError
    from promptlane.evals.runner import (
        EvalRunError,
        EvalTerminated,
        find_promptfoo,
        require_node,
        run_prompt,
        stop_on_sigterm,
    )

    repo = _repo(args)
    cards, kept, problems = _select(repo, args.ids, args.force)
    for summary in kept:
        print(f"{summary['prompt']}: {results.line(summary)} (kept {results.results_rel(summary['prompt'], summary['hash'])}; --force re-runs)")
    bad = sum(not results.all_passed(s) for s in kept)
    if not cards:
        if not kept and not problems:
            print("Nothing to run: every prompt has results for its current hash (--force re-runs).")
        report(problems)
        return EXIT_USAGE if problems else (EXIT_FAILED if bad else EXIT_OK)
    try:
        promptfoo = find_promptfoo(repo.root)
        require_node()
    except EvalSetupError as exc:
        report(problems)
        print(f"promptlane eval: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup_errors = run_bad = 0
    with stop_on_sigterm():  # a cancelled CI job: promptfoo is stopped and its temp folder removed
        for number, card in enumerate(cards, 1):
            prefix = f"[{number}/{len(cards)}] " if len(cards) > 1 else ""
            print(f"{prefix}{card.prompt_id} ... ", end="", flush=True)
            try:
                run = run_prompt(repo, card, promptfoo, args.timeout)
            except EvalSetupError as exc:
                print("not run")
                problems.extend(exc.problems)
                print(f"promptlane eval: {exc}", file=sys.stderr)
                setup_errors += 1
                continue
            except EvalRunError as exc:
                print("error")
                print(f"promptlane eval: {exc}", file=sys.stderr)
                run_bad += 1
                continue
            except EvalTerminated:
                print("stopped", flush=True)
                raise
            print(f"{results.line(run.summary)} -> {run.rel}")
            run_bad += not results.all_passed(run.summary)
    report(problems)
    if len(cards) > 1:
        print(f"{len(cards)} prompts: {len(cards) - run_bad - setup_errors} passed, {run_bad} failed or errored, {setup_errors} not run.")
    if problems or setup_errors:
        return EXIT_USAGE
    return EXIT_FAILED if bad or run_bad else EXIT_OK


def cmd_eval_import(args) -> int:
    from promptlane.evals import results
    from promptlane.evals.importer import import_results
    from promptlane.evals.plan import eval_card

    repo = _repo(args)
    card = eval_card(repo, args.prompt)
    summary, rel = import_results(repo, card, args.file)
    print(f"{card.prompt_id}: imported {results.line(summary)} for {card.hash[:19]}... -> {rel}")
    return EXIT_OK if results.all_passed(summary) else EXIT_FAILED


def cmd_eval_plan(args) -> int:
    from promptlane.evals.plan import matrix, owed

    repo = _repo(args)
    cards, problems = owed(repo)
    # One line of JSON on stdout, for `echo "matrix=$(promptlane eval plan)" >> "$GITHUB_OUTPUT"`.
    print(json.dumps(matrix(cards)))
    report(problems, sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK
