"""Normalised eval results, one file per payload hash: ``evals/results/<id>/<hash16>.json``.

The file name is the first 16 hex digits of the hash and the file repeats the full hash, so
results of another payload (a stale run) can never be read as this payload's: a changed
prompt has a new hash, hence a new file name, and ``load_results`` returns None for it until
it is evaluated. Format ``promptlane-eval/1`` (docs/evals.md)::

    {"format": "promptlane-eval/1", "prompt": ID, "hash": "sha256:...", "version": "1.0.0",
     "time": "2025-01-31T12:00:00Z", "promptfoo_version": "0.121.20", "provider": "...",
     "tests": 6, "passed": 6, "failed": 0, "errors": 0, "pass_rate": 1.0,
     "categories": {"accuracy": {"tests": 2, "passed": 2, "pass_rate": 1.0}, ...},
     "tokens": {"prompt": n, "completion": n, "total": n}, "cost_usd": 0.00042,
     "failures": [{"test": description, "category": c, "reason": why}]}

A "test" is one promptfoo result row: one test case against one provider.
"""
from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from promptlane.core.hashing import HASH_PREFIX
from promptlane.core.problems import PromptlaneError, Problem
from promptlane.store.repo import EVAL_RESULTS

FORMAT = "promptlane-eval/1"
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


def load_results(repo: Any, prompt_id: str, payload_hash: str) -> dict | None:
    """The results of exactly this payload, or None when it has none.

    ``repo``: a ``promptlane.repo.Repo`` or the repository root. Raises ``ResultsError`` when
    the file exists but is malformed or names another prompt or hash (hand-edited or corrupt).
    """
    root = _root(repo)
    rel = results_rel(prompt_id, payload_hash)
    try:
        raw = (root / rel).read_bytes()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{rel} is not valid JSON", [Problem(rel, 1, 1, "PL330", f"is not valid UTF-8 JSON ({exc}); re-run `promptlane eval run {prompt_id} --force`")])
    errors = validate(doc)
    if not errors and (doc["prompt"] != prompt_id or doc["hash"] != payload_hash):
        errors = [f"belongs to {doc['prompt']} {doc['hash'][:19]}..., not {prompt_id} {payload_hash[:19]}..."]
    if errors:
        raise ResultsError(f"{rel} is not a valid {FORMAT} file",
                           [Problem(rel, 1, 1, "PL330", f"{e}; re-run `promptlane eval run {prompt_id} --force`") for e in errors])
    return doc


def _root(repo: Any) -> Path:
    # A Repo's root; not getattr(repo, "root"): every Path has a .root too (it is "/").
    return Path(repo) if isinstance(repo, (str, os.PathLike)) else Path(repo.root)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_rate(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def validate(doc: Any) -> list[str]:
    """What is wrong with a results document (empty when it is a valid ``promptlane-eval/1``)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return [f"is not a {FORMAT} document"]
    missing = [key for key in KEYS if key not in doc]
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
    return errors


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
    return abs(rate - _rate(passed, tests)) <= 1e-6


def _is_utc(text: str) -> bool:
    if not text.endswith("Z"):
        return False
    try:
        datetime.fromisoformat(text[:-1])
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- from promptfoo rows


def row_category(row: dict) -> Any:
    meta = (row.get("testCase") or {}).get("metadata") or row.get("metadata") or {}
    return meta.get("category") if isinstance(meta, dict) else None


def row_outcome(row: dict) -> str:
    """passed | failed | error. promptfoo's failureReason: 0 none, 1 an assertion, 2 an error."""
    if row.get("success"):
        return "passed"
    if row.get("failureReason") == 2 or (row.get("error") and not row.get("gradingResult")):
        return "error"
    return "failed"


def row_test_name(row: dict) -> str:
    case = row.get("testCase") or {}
    name = case.get("description") or row.get("description")
    return str(name) if name else f"test #{row.get('testIdx', '?')}"


def row_provider(row: dict) -> str:
    provider = row.get("provider") or {}
    if isinstance(provider, str):
        return provider
    return str(provider.get("label") or provider.get("id") or "unknown")


def _reason(row: dict, outcome: str) -> str:
    grading = row.get("gradingResult") or {}
    text = row.get("error") if outcome == "error" else (grading.get("reason") or row.get("error"))
    text = str(text or "no reason given")
    # An error carries a Python/JS stack trace: its first line says what happened.
    if outcome == "error":
        text = text.strip().splitlines()[0] if text.strip() else text
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 3] + "..."


def _utc(text: Any) -> str:
    """promptfoo's timestamps (ISO with milliseconds) as ``YYYY-MM-DDTHH:MM:SSZ``; now when absent."""
    moment = None
    if isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    moment = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _rate(passed: int, tests: int) -> float:
    return round(passed / tests, 6) if tests else 0.0


def summarise(doc: dict, rows: Iterable[dict], prompt_id: str, payload_hash: str, version: str) -> dict:
    """The ``promptlane-eval/1`` document of promptfoo result ``rows`` (categories already checked)."""
    rows = list(rows)
    outcomes = [row_outcome(row) for row in rows]
    categories: dict[str, dict] = {}
    for row, outcome in zip(rows, outcomes):
        entry = categories.setdefault(row_category(row), {"tests": 0, "passed": 0})
        entry["tests"] += 1
        entry["passed"] += outcome == "passed"
    for entry in categories.values():
        entry["pass_rate"] = _rate(entry["passed"], entry["tests"])
    tokens = {key: sum(_count((row.get("tokenUsage") or {}).get(key)) for row in rows) for key in ("prompt", "completion", "total")}
    cost = sum(_cost(row.get("cost")) for row in rows)
    results = doc.get("results") or {}
    meta = doc.get("metadata") or {}
    providers = list(dict.fromkeys(row_provider(row) for row in rows))
    passed = outcomes.count("passed")
    return {
        "format": FORMAT,
        "prompt": prompt_id,
        "hash": payload_hash,
        "version": version,
        "time": _utc(results.get("timestamp") or meta.get("evaluationCreatedAt")),
        "promptfoo_version": str(meta.get("promptfooVersion") or "unknown"),
        "provider": ", ".join(providers) or "unknown",
        "tests": len(rows),
        "passed": passed,
        "failed": outcomes.count("failed"),
        "errors": outcomes.count("error"),
        "pass_rate": _rate(passed, len(rows)),
        "categories": {name: categories[name] for name in CATEGORIES if name in categories},
        "tokens": tokens,
        "cost_usd": round(cost, 10),
        "failures": [{"test": row_test_name(row), "category": str(row_category(row)), "reason": _reason(row, outcome)}
                     for row, outcome in zip(rows, outcomes) if outcome != "passed"],
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _cost(value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    return float(value) if ok else 0.0


def result_rows(doc: Any) -> list[dict] | None:
    """The result rows of a promptfoo ``-o results.json`` document (None if it is not one)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        return None
    rows = doc["results"].get("results")
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        return None
    return rows


def to_json(summary: dict) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"


def write_results(repo: Any, summary: dict) -> str:
    """Write atomically; return the repository-relative path."""
    from promptlane.store.fsio import atomic_write

    errors = validate(summary)
    if errors:  # a bug here must not leave a file the gates would trust
        raise ResultsError(f"refusing to write invalid results: {'; '.join(errors)}")
    rel = results_rel(summary["prompt"], summary["hash"])
    atomic_write(_root(repo) / rel, to_json(summary))
    return rel


def line(summary: dict) -> str:
    """``6/6 passed`` or ``4/6 passed, 1 failed, 1 error``."""
    text = f"{summary['passed']}/{summary['tests']} passed"
    if summary["failed"]:
        text += f", {summary['failed']} failed"
    if summary["errors"]:
        text += f", {summary['errors']} error{'s' if summary['errors'] != 1 else ''}"
    return text


def all_passed(summary: dict) -> bool:
    return summary["tests"] > 0 and summary["passed"] == summary["tests"]
