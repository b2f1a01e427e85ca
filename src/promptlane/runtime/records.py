"""Trace records: their fields, the clock that stamps them, redaction and where they go.

One record is the shape of the governed repository's ``logs/prompt-log-schema.json``;
``trace`` (one call an application makes) and ``run`` (the calls of a prompt, a chain's
included) both write them through ``record``, so the two cannot drift apart.

Personal data is redacted from inputs, output and error text by default, with
``promptlane.core.pii`` (the detectors ``promptlane check`` uses); a record that leaves the
process should never need a second pass.
"""
from __future__ import annotations

import importlib
import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Union

Sink = Union[str, os.PathLike, Callable[[dict], None]]
Redactor = Callable[[str], str]
SINK_ENV = "PROMPTLANE_TRACE_LOG"
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Clock:
    """Time and ids; a fixed clock makes records reproducible (tests, the template's sample)."""

    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    perf: Callable[[], float] = time.perf_counter
    new_id: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))


SYSTEM_CLOCK = Clock()


# ---------------------------------------------------------------- redaction


def _fallback_redact(text: str) -> str:
    # Used only when promptlane.core.pii cannot be imported: e-mails and long digit runs.
    text = re.sub(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "[REDACTED:email]", text)
    return re.sub(r"\+?\d[\d -]{6,}\d", "[REDACTED:number]", text)


def default_redactor() -> Redactor:
    try:  # import_module honours sys.modules, so a missing or blocked module really falls back
        pii = importlib.import_module("promptlane.core.pii")
    except ImportError:
        return _fallback_redact
    return pii.redact


def redactor(redact: bool | Redactor) -> Redactor | None:
    """``True``: the default redactor; ``False``: none; a callable: itself."""
    return default_redactor() if redact is True else (redact or None)


def redact_value(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): redact_value(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, redact) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(repr(value))  # anything else is logged as text, redacted like text


# ---------------------------------------------------------------- sinks


_file_locks: dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def file_sink(path: str | os.PathLike) -> Callable[[dict], None]:
    """Append each record as one JSON line; one write per record, serialised per file."""
    target = Path(path)
    with _file_locks_guard:
        lock = _file_locks.setdefault(str(target.resolve()), threading.Lock())

    def write(record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        with lock:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(line)

    return write


def resolve_sink(sink: Sink | None, who: str = "trace") -> Callable[[dict], None]:
    """The callable records go to: ``sink``, else the file named by $PROMPTLANE_TRACE_LOG."""
    sink = sink if sink is not None else os.environ.get(SINK_ENV)
    if sink is None or sink == "":
        raise ValueError(f"{who}: no sink; pass sink=PATH or a callable, or set {SINK_ENV}")
    return sink if callable(sink) else file_sink(sink)


# ---------------------------------------------------------------- one record


def timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_output(output: Any) -> str | None:
    # The schema wants text: structured output (JSON mode, tool calls) is logged as JSON text.
    if output is None or isinstance(output, str):
        return output
    return json.dumps(output, ensure_ascii=False, default=repr)


def error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_CHARS]


def record(prompt: Any, *, trace_id: str, started: datetime, model: Mapping[str, Any], inputs: Mapping[str, Any],
           output: Any, input_tokens: int, output_tokens: int, cost_usd: float, latency_ms: float,
           error: str | None, redact: Redactor | None, extra: Mapping[str, Any] | None = None) -> dict:
    """The schema's record (redacted when ``redact`` is given). ``prompt`` is what was served
    (its ``id``, ``version``, ``hash``, ``environment``); ``error`` is the error's text, or None
    when the call succeeded; ``extra`` adds the schema's optional fields (a chain's links)."""
    scrub = (lambda value: redact_value(value, redact)) if redact else (lambda value: value)
    done = {
        "trace_id": trace_id,
        "timestamp": timestamp(started),
        "prompt_id": prompt.id,
        "version": prompt.version,
        "hash": prompt.hash,
        "environment": prompt.environment,
        "model": {"provider": model["provider"], "name": model["name"], "params": dict(model.get("params") or {})},
        "inputs": scrub(dict(inputs)),
        "output": None if error is not None else scrub(as_output(output)),
        "usage": {"input_tokens": int(input_tokens), "output_tokens": int(output_tokens),
                  "total_tokens": int(input_tokens) + int(output_tokens)},
        "cost_usd": float(cost_usd),
        "latency_ms": round(max(latency_ms, 0.0), 1),
        "status": "error" if error is not None else "ok",
        "error": scrub(error) if error is not None else None,
    }
    done.update(extra or {})
    return done
