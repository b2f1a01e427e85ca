"""promptfoo's results.json rows, summarised as promptlane's results (core/results.py):
pass rate per category, tokens, cost and the failures, for one payload hash."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any, Iterable

from promptlane.core.results import CATEGORIES, FORMAT, REASON_CHARS, pass_rate

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


OUTPUT_CHARS = 200  # the start of a failing test's output, enough to see what the model said
VALUE_CHARS = 80  # an assertion's value (a regex, a JavaScript expression) as shown


def failure_details(rows: Iterable[dict]) -> list[dict]:
    """Each test that did not pass, as a person fixing it needs it: its name, category, outcome,
    the assertions that failed (type, value shortened, reason), the reason promptfoo gives, and the
    start of the output. Shown by ``eval run`` (text and ``--json``); not kept in the results file,
    whose ``failures`` stay {test, category, reason}: an output may hold what a safety test caught."""
    details = []
    for row in rows:
        outcome = row_outcome(row)
        if outcome != "passed":
            details.append({"test": row_test_name(row), "category": str(row_category(row)), "outcome": outcome,
                            "assertions": _failed_assertions(row), "reason": _reason(row, outcome),
                            "output": shorten(_as_text((row.get("response") or {}).get("output")), OUTPUT_CHARS)})
    return details


def _failed_assertions(row: dict) -> list[dict]:
    components = (row.get("gradingResult") or {}).get("componentResults") or []
    failed = []
    for component in components:
        if isinstance(component, dict) and not component.get("pass"):
            assertion = component.get("assertion")
            assertion = assertion if isinstance(assertion, dict) else {}
            failed.append({"type": str(assertion.get("type") or "unknown"),
                           "value": shorten(_as_text(assertion.get("value")), VALUE_CHARS),
                           "reason": shorten(str(component.get("reason") or "no reason given"), REASON_CHARS)})
    return failed


def _as_text(value: Any) -> str:
    """An output or an assertion value as text: strings as they are, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def summarise(doc: dict, rows: Iterable[dict], prompt_id: str, payload_hash: str, version: str, inputs: dict) -> dict:
    """The ``promptlane-eval/2`` document of promptfoo result ``rows`` (categories already checked),
    bound to the ``inputs`` that produced them (store/evalinputs.current_inputs)."""
    rows = list(rows)
    outcomes = [row_outcome(row) for row in rows]
    categories: dict[str, dict] = {}
    for row, outcome in zip(rows, outcomes, strict=False):
        entry = categories.setdefault(row_category(row), {"tests": 0, "passed": 0})
        entry["tests"] += 1
        entry["passed"] += outcome == "passed"
    for entry in categories.values():
        entry["pass_rate"] = pass_rate(entry["passed"], entry["tests"])
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
        "pass_rate": pass_rate(passed, len(rows)),
        "categories": {name: categories[name] for name in CATEGORIES if name in categories},
        "tokens": tokens,
        "cost_usd": round(cost, 10),
        "failures": [{"test": row_test_name(row), "category": str(row_category(row)), "reason": _reason(row, outcome)}
                     for row, outcome in zip(rows, outcomes, strict=False) if outcome != "passed"],
        "inputs": inputs,
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


