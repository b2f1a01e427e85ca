"""Normalised eval results, one file per payload hash: ``evals/results/<id>/<hash16>.json``.

The file name is the first 16 hex digits of the hash and the file repeats the full hash, so
results of another payload (a stale run) can never be read as this payload's: a changed
prompt has a new hash, hence a new file name, and ``load_results`` returns None for it until
it is evaluated. Format ``promptlane-eval/2`` (docs/evals.md)::

    {"format": "promptlane-eval/2", "prompt": ID, "hash": "sha256:...", "version": "1.0.0",
     "time": "2025-01-31T12:00:00Z", "promptfoo_version": "0.121.20", "provider": "...",
     "tests": 6, "passed": 6, "failed": 0, "errors": 0, "pass_rate": 1.0,
     "categories": {"accuracy": {"tests": 2, "passed": 2, "pass_rate": 1.0}, ...},
     "tokens": {"prompt": n, "completion": n, "total": n}, "cost_usd": 0.00042,
     "failures": [{"test": description, "category": c, "reason": why}],
     "inputs": {"config": "sha256:...", "tests": "sha256:...", "providers": "sha256:...",
                "provider_ids": [...], "bound": "eval run"}}

A "test" is one promptfoo result row: one test case against one provider. ``inputs`` binds the
results to the eval config, tests and providers that produced them (core/evalinputs.py):
results whose inputs are not the repository's current ones do not count for a promotion
(``inputs_problem``). ``promptlane-eval/1`` files (no ``inputs``) are still read, for the
history, but never count."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from promptlane.core.evalinputs import INPUT_KEYS
from promptlane.core.hashing import HASH_PREFIX
from promptlane.core.layout import EVAL_RESULTS
from promptlane.core.problems import PromptlaneError

FORMAT = "promptlane-eval/2"
FORMAT_V1 = "promptlane-eval/1"  # read, never counted: not bound to the inputs that produced it
CATEGORIES = ("accuracy", "hallucination", "cost", "safety")
KEYS = ("format", "prompt", "hash", "version", "time", "promptfoo_version", "provider", "tests", "passed",
        "failed", "errors", "pass_rate", "categories", "tokens", "cost_usd", "failures")


REASON_CHARS = 500


class ResultsError(PromptlaneError):
    """A results file that exists but cannot be trusted (malformed, or bound to another hash)."""


def results_rel(prompt_id: str, payload_hash: str) -> str:
    """Repository-relative path of the results of ``payload_hash`` (``sha256:<64 hex>``)."""
    if not payload_hash.startswith(HASH_PREFIX) or len(payload_hash) != len(HASH_PREFIX) + 64:
        raise ValueError(f"not a payload hash: {payload_hash!r}")
    return f"{EVAL_RESULTS}/{prompt_id}/{payload_hash[len(HASH_PREFIX):][:16]}.json"


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_rate(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def validate(doc: Any) -> list[str]:
    """What is wrong with a results document (empty when it is a valid ``promptlane-eval/2``, or
    a valid ``promptlane-eval/1``, which is read but never counts: ``inputs_problem``)."""
    if not isinstance(doc, dict) or doc.get("format") not in (FORMAT, FORMAT_V1):
        return [f"is not a {FORMAT} document"]
    keys = KEYS + (("inputs",) if doc["format"] == FORMAT else ())
    missing = [key for key in keys if key not in doc]
    if missing:
        return [f"lacks {', '.join(missing)}"]
    errors = []
    for key in ("prompt", "hash", "version", "time", "promptfoo_version", "provider"):
        if not isinstance(doc[key], str):
            errors.append(f"{key} must be a string")
    if isinstance(doc["hash"], str) and not doc["hash"].startswith(HASH_PREFIX):
        errors.append("hash must start with sha256:")
    if isinstance(doc["time"], str) and not _is_utc(doc["time"]):
        errors.append("time must be ISO-8601 UTC ending in Z")
    counts = [doc[key] for key in ("tests", "passed", "failed", "errors")]
    if not all(_is_count(c) for c in counts):
        errors.append("tests, passed, failed and errors must be counts")
    elif counts[0] != sum(counts[1:]):
        errors.append("tests must equal passed + failed + errors")
    if not _is_rate(doc["pass_rate"]):
        errors.append("pass_rate must be a number from 0 to 1")
    elif all(_is_count(c) for c in counts) and not _rate_agrees(doc["pass_rate"], doc["passed"], doc["tests"]):
        errors.append(f"pass_rate {doc['pass_rate']} is not passed / tests ({doc['passed']}/{doc['tests']})")
    errors.extend(_category_errors(doc["categories"]))
    tokens = doc["tokens"]
    if not isinstance(tokens, dict) or not all(_is_count(tokens.get(k)) for k in ("prompt", "completion", "total")):
        errors.append("tokens must hold prompt, completion and total counts")
    if not isinstance(doc["cost_usd"], (int, float)) or isinstance(doc["cost_usd"], bool) or doc["cost_usd"] < 0:
        errors.append("cost_usd must be a number >= 0")
    failures = doc["failures"]
    if not isinstance(failures, list) or not all(
            isinstance(f, dict) and all(isinstance(f.get(k), str) for k in ("test", "category", "reason")) for f in failures):
        errors.append("failures must be a list of {test, category, reason}")
    if doc["format"] == FORMAT:
        errors.extend(_inputs_errors(doc["inputs"]))
    return errors


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(HASH_PREFIX) and len(value) == len(HASH_PREFIX) + 64


def _inputs_errors(inputs: Any) -> list[str]:
    if not isinstance(inputs, dict) or not all(_is_digest(inputs.get(key)) for key in INPUT_KEYS):
        return [f"inputs must hold the {', '.join(INPUT_KEYS)} digests (sha256:...)"]
    ids = inputs.get("provider_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        return ["inputs.provider_ids must be a non-empty list of provider ids"]
    if not isinstance(inputs.get("bound", ""), str):
        return ["inputs.bound must be a string"]
    return []


INPUT_WORDS = {
    "config": "the eval config (evals/eval-config.promptfoo.yml: providers, defaultTest, evaluateOptions, and the files they name)",
    "tests": "the tests (evals/tests/{id}.yml and the files it names)",
    "providers": "the providers (their ids and config)",
}


def inputs_problem(results: dict[str, Any], current: dict[str, Any]) -> str | None:
    """Why ``results`` were not produced with the ``current`` inputs (None when they were)."""
    if results.get("format") != FORMAT:
        return (f"are {results.get('format')}, not bound to the eval config, tests and providers that produced them, "
                "so they do not count for a promotion")
    recorded = results.get("inputs") or {}
    changed = [key for key in INPUT_KEYS if recorded.get(key) != current.get(key)]
    if not changed and recorded.get("provider_ids") != current.get("provider_ids"):
        changed = ["providers"]
    if not changed:
        return None
    words = [INPUT_WORDS[key].format(id=results.get("prompt")) for key in changed]
    return f"were produced with other inputs than the repository's current ones: {'; '.join(words)} changed since the run"


def contradiction(committed: dict[str, Any], rerun: dict[str, Any]) -> str | None:
    """How a committed results file claims more than CI's own run of the same hash and inputs
    (None when it does not): another number of tests, or more passed, overall or in a category.
    A run that passes more than the committed file is no contradiction (a provider may vary)."""
    if committed.get("tests") != rerun.get("tests"):
        return f"has {committed.get('tests')} tests, CI's run {rerun.get('tests')}"
    if committed.get("passed", 0) > rerun.get("passed", 0):
        return f"says {committed.get('passed')}/{committed.get('tests')} passed, CI's run {rerun.get('passed')}/{rerun.get('tests')}"
    ours, theirs = committed.get("categories") or {}, rerun.get("categories") or {}
    for name in CATEGORIES:
        claimed, got = (ours.get(name) or {}).get("passed", 0), (theirs.get(name) or {}).get("passed", 0)
        if claimed > got:
            return f"says {claimed} {name} tests passed, CI's run {got}"
    return None


def _category_errors(categories: Any) -> list[str]:
    if not isinstance(categories, dict) or not set(categories) <= set(CATEGORIES):
        return [f"categories must be a mapping with keys from {', '.join(CATEGORIES)}"]
    for name, entry in categories.items():
        if not (isinstance(entry, dict) and _is_count(entry.get("tests")) and _is_count(entry.get("passed"))
                and _is_rate(entry.get("pass_rate")) and entry["passed"] <= entry["tests"]):
            return [f"categories.{name} must hold tests, passed and pass_rate"]
        if not _rate_agrees(entry["pass_rate"], entry["passed"], entry["tests"]):
            return [f"categories.{name}.pass_rate {entry['pass_rate']} is not passed / tests ({entry['passed']}/{entry['tests']})"]
    return []


def _rate_agrees(rate: float, passed: int, tests: int) -> bool:
    """A stated pass rate is the counts' (as ``_rate`` rounds it): a gate reads the rate."""
    return abs(rate - pass_rate(passed, tests)) <= 1e-6


def _is_utc(text: str) -> bool:
    if not text.endswith("Z"):
        return False
    try:
        datetime.fromisoformat(text[:-1])
    except ValueError:
        return False
    return True


def to_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"


def line(summary: dict[str, Any]) -> str:
    """``6/6 passed`` or ``4/6 passed, 1 failed, 1 error``."""
    text = f"{summary['passed']}/{summary['tests']} passed"
    if summary["failed"]:
        text += f", {summary['failed']} failed"
    if summary["errors"]:
        text += f", {summary['errors']} error{'s' if summary['errors'] != 1 else ''}"
    return text


def all_passed(summary: dict[str, Any]) -> bool:
    tests: int = summary["tests"]
    return tests > 0 and summary["passed"] == tests


def pass_rate(passed: int, tests: int) -> float:
    return round(passed / tests, 6) if tests else 0.0
