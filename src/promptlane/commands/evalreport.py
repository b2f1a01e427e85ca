"""What ``promptlane eval run`` tells: one line per prompt and, under it, every test that did not
pass (its name and category, each failed assertion with its value and reason, the start of the
output), as text on stdout or, with ``--json``, as one JSON document at the end.

Text goes out as each prompt finishes (a long CI run shows progress); JSON is collected and
printed once, so stdout holds nothing else (problems then go to stderr)."""
from __future__ import annotations

import json
import sys
from typing import Any

from promptlane.commands.output import report
from promptlane.core import results
from promptlane.core.problems import Problem, one_line

SHOWN = 20  # failing tests shown per prompt in text; --json and the results file have them all


class RunReport:
    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.prompts: list[dict[str, Any]] = []

    def started(self, prefix: str, prompt_id: str) -> None:
        if not self.as_json:
            print(f"{prefix}{prompt_id} ... ", end="", flush=True)

    def progress(self, done: int, owed: int) -> None:
        """A batched run's prompt whose tests have all run (its results follow when its batch ends)."""
        print(f"promptlane eval: {done}/{owed} prompts done", file=sys.stderr, flush=True)

    def kept(self, summary: dict[str, Any]) -> None:
        rel = results.results_rel(summary["prompt"], summary["hash"])
        self._add(summary["prompt"], summary, rel, summary["failures"], kept=True)
        if not self.as_json:
            print(f"{summary['prompt']}: {results.line(summary)} (kept {rel}; --force re-runs)")
            self._print_failures(summary["failures"], rel)

    def ran(self, prompt_id: str, summary: dict[str, Any], rel: str, failures: list[dict[str, Any]]) -> None:
        self._add(prompt_id, summary, rel, failures, kept=False)
        if not self.as_json:
            print(f"{results.line(summary)} -> {rel}")
            self._print_failures(failures, rel)

    def not_done(self, prompt_id: str, outcome: str, error: str) -> None:
        """A prompt that got no results: ``not run`` (a setup error) or ``error`` (promptfoo gave none)."""
        self.prompts.append({"prompt": prompt_id, "outcome": outcome, "error": error})
        if not self.as_json:
            print(outcome, flush=True)
        print(f"promptlane eval: {error}", file=sys.stderr)

    def note(self, text: str) -> None:
        if not self.as_json:
            print(text)

    def finish(self, problems: list[Problem]) -> None:
        if not self.as_json:
            report(problems)
            return
        report(problems, sys.stderr)
        shown = [{"path": p.path, "line": p.line, "col": p.col, "code": p.code, "message": p.message} for p in sorted(set(problems))]
        print(json.dumps({"prompts": self.prompts, "problems": shown}, indent=2, ensure_ascii=False))

    def _add(self, prompt_id: str, summary: dict[str, Any], rel: str, failures: list[dict[str, Any]], kept: bool) -> None:
        counts = {key: summary[key] for key in ("tests", "passed", "failed", "errors", "pass_rate")}
        self.prompts.append({"prompt": prompt_id, "outcome": "passed" if results.all_passed(summary) else "failed",
                             "kept": kept, "results": rel, "hash": summary["hash"], **counts, "failures": failures})

    def _print_failures(self, failures: list[dict[str, Any]], rel: str) -> None:
        for failure in failures[:SHOWN]:
            for line in failure_lines(failure):
                print(f"  {line}")
        if len(failures) > SHOWN:
            print(f"  ... and {len(failures) - SHOWN} more ({rel} lists every failure)")


def failure_lines(failure: dict[str, Any]) -> list[str]:
    """One failing test as lines: a header, then each failed assertion and its reason (or the
    test's reason), then the start of the output, each one line (control characters escaped)."""
    word = "ERROR" if failure.get("outcome") == "error" else "FAILED"
    lines = [f"{word} {_plain(failure['test'])} ({_plain(failure['category'])})"]
    assertions = failure.get("assertions") or []
    for assertion in assertions:
        lines.append(f"  assertion: {_plain(assertion['type'])} {_quoted(assertion['value'])}")
        lines.append(f"  reason: {_plain(assertion['reason'])}")
    if not assertions:
        lines.append(f"  reason: {_plain(failure['reason'])}")
    if "output" in failure:  # results kept from an earlier run have no output
        lines.append(f"  output: {_quoted(failure['output']) if failure['output'] else '(empty)'}")
    return lines


def _plain(text: str) -> str:
    """One line: a newline or tab reads \\n or \\t, as in the quoted output; other control characters \\xNN."""
    return one_line(text.replace("\r\n", "\n").replace("\n", "\\n").replace("\t", "\\t"))


def _quoted(text: str) -> str:
    """A JSON string: quotes show where it starts and ends, and a newline in it reads \\n."""
    return one_line(json.dumps(text, ensure_ascii=False))
