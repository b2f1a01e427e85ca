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
from promptlane.evals.plan import shards as plan_shards
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
    run = _run_each if len(cards) == 1 else _run_batched
    setup_errors, run_bad = run(repo, cards, promptfoo, args.timeout, results_dir, out, problems)
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


def jobs() -> int:
    """How many promptfoo processes run at once: $PROMPTLANE_JOBS, else the cores this process may use."""
    import os

    given = os.environ.get("PROMPTLANE_JOBS")
    if given:
        try:
            return max(1, int(given))
        except ValueError:
            raise UsageError(f"PROMPTLANE_JOBS={given!r} is not a whole number of processes") from None
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else (os.cpu_count() or 1)


def _run_batched(repo, cards, promptfoo, timeout, results_dir, out: RunReport, problems: list) -> tuple[int, int]:
    """Every card in at most jobs() promptfoo processes at a time, balanced by test count
    (evals/batch.py): (prompts not run, prompts failed or errored). Lines come as prompts finish.

    With ``results_dir`` (CI's own results, the ones its gates judge) every card runs in a
    promptfoo process of its own, jobs() of them at a time: prompts in one process share one
    JavaScript runtime, so one prompt's test code (a javascript assertion, a transform) could
    change another's outcomes (docs/evals.md, "Many prompts: batches"). Results written in the
    checkout are batched: CI never takes them on trust, it evaluates what a change promotes again."""
    import queue
    import threading

    from promptlane.evals.batch import run_batch
    from promptlane.evals.plan import balance, test_count
    from promptlane.evals.runner import Stopped, reset_stop, stop_all

    if results_dir is not None:
        groups = [[card] for card in cards]
    else:
        groups = balance([(card, test_count(repo, card)) for card in cards], jobs())
    events: queue.Queue = queue.Queue()
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for group in groups:
        todo.put(group)

    def alone(card) -> None:
        try:
            events.put(("ran", card, run_prompt(repo, card, promptfoo, timeout, results_dir)))
        except (EvalSetupError, EvalRunError) as exc:  # PromptfooCannotStart is an EvalSetupError
            events.put(("error", card, exc))

    def run_group(group) -> None:
        if len(group) == 1:
            alone(group[0])
            return
        batched = run_batch(repo, group, promptfoo, timeout, results_dir, lambda card: events.put(("done", card, None)))
        for card, run in batched.runs:
            events.put(("ran", card, run))
        for card, exc in batched.refused:
            events.put(("error", card, exc))
        for card in batched.again:
            alone(card)

    def work() -> None:
        try:
            while True:
                try:
                    group = todo.get_nowait()
                except queue.Empty:
                    return
                run_group(group)
        except Stopped:
            pass
        finally:
            events.put(("end", None, None))

    setup_errors = run_bad = 0
    finished, ended, cannot_start, done = 0, 0, False, set()
    reset_stop()
    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(jobs(), len(groups)))]
    with stop_on_sigterm():  # a cancelled CI job: every promptfoo is stopped, every temp folder removed
        try:
            for thread in threads:
                thread.start()
            while ended < len(threads):
                try:
                    kind, card, value = events.get(timeout=0.2)
                except queue.Empty:
                    continue
                if kind == "end":
                    ended += 1
                    continue
                if card.prompt_id not in done and not cannot_start:  # its tests have all run (or it got none)
                    done.add(card.prompt_id)
                    out.progress(len(done), len(cards))
                if kind == "done" or cannot_start:  # results come when its batch ends; not run: counted below
                    continue
                finished += 1
                out.started(f"[{finished}/{len(cards)}] ", card.prompt_id)
                if kind == "ran":
                    out.ran(card.prompt_id, value.summary, value.rel, value.failures)
                    run_bad += not results.all_passed(value.summary)
                elif isinstance(value, PromptfooCannotStart):  # every other prompt would fail alike
                    out.not_done(card.prompt_id, "not run", str(value))
                    cannot_start = True
                    setup_errors += len(cards) - finished + 1
                    stop_all()
                elif isinstance(value, EvalSetupError):
                    out.not_done(card.prompt_id, "not run", str(value))
                    problems.extend(value.problems)
                    setup_errors += 1
                else:
                    out.not_done(card.prompt_id, "error", str(value))
                    run_bad += 1
        except EvalTerminated:
            stop_all()
            for thread in threads:
                if thread.ident is not None:
                    thread.join()  # each removes its temp folder once its promptfoo has stopped
            if not out.as_json:
                print(f"stopped ({finished}/{len(cards)} prompts done)", flush=True)
            raise
        finally:
            for thread in threads:
                if thread.ident is not None:
                    thread.join()
            reset_stop()
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
    shards = getattr(args, "shards", None)
    print(json.dumps(matrix(cards) if shards is None else plan_shards(repo, cards, shards)))
    report(problems, sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK
