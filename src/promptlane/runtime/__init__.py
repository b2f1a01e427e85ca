"""promptlane's runtime SDK: serve governed prompts, verified, and trace every call.

    from promptlane import runtime

    runtime.load("prompts.bundle.json")          # or a SQLite export, or a checkout
    prompt = runtime.get("support-reply")        # what prod serves; hash verified
    messages = prompt.render(customer_name="Ana", question="...")
    with runtime.trace(prompt, inputs={...}, sink="logs/trace.jsonl") as call:
        call.finish(my_model(messages), input_tokens=..., output_tokens=...)

    chain = runtime.get("support-triage")        # a card with calls: (prompt.is_chain)
    result = runtime.run(chain, my_client, {...}, sink="logs/trace.jsonl")  # every call traced
    result.output, result.outputs                # my_client(messages, model) -> str | Reply

Standard library plus promptlane.hashing (rfc8785, pure Python): importing this never
pulls in jsonschema, ruamel.yaml or cookiecutter. See docs/runtime.md.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from promptlane.runtime.errors import (
    IntegrityError,
    NotServedError,
    RenderError,
    RetiredError,
    RuntimeSDKError,
    SourceError,
    UnknownPromptError,
    WithdrawnError,
)
from promptlane.runtime.chains import CallResult, ChainResult, Reply
from promptlane.runtime.chains import run as _run
from promptlane.runtime.loader import Registry, clear_cache, default_env
from promptlane.runtime.loader import load as _load
from promptlane.runtime.prompt import CallSpec, Prompt, Step, Withdrawal
from promptlane.runtime.records import Redactor, Sink
from promptlane.runtime.tracing import Call, Clock, Trace, trace

__all__ = [
    "load", "get", "render", "run", "trace", "Registry", "Prompt", "Step", "CallSpec", "Withdrawal", "Call", "Clock",
    "Trace", "Reply", "CallResult", "ChainResult",
    "RuntimeSDKError", "SourceError", "UnknownPromptError", "NotServedError", "RetiredError", "WithdrawnError",
    "IntegrityError",
    "RenderError", "clear_cache", "default_env", "SOURCE_ENV",
]

SOURCE_ENV = "PROMPTLANE_REGISTRY"
_default_source: str | os.PathLike | None = None


def load(source: str | os.PathLike | None = None) -> Registry:
    """Load a bundle, SQLite export or checkout (default: $PROMPTLANE_REGISTRY) and make it
    the source ``get`` uses. Cached by path and mtime: calling it again is one stat()."""
    global _default_source
    path = source if source is not None else os.environ.get(SOURCE_ENV)
    if not path:
        raise SourceError(f"no registry to load: pass a path or set {SOURCE_ENV}")
    registry = _load(path)
    _default_source = path
    return registry


def get(prompt_id: str, env: str | None = None, *, source: str | os.PathLike | Registry | None = None,
        refuse_withdrawn: bool = False) -> Prompt:
    """The version ``env`` serves (default: $PROMPTLANE_ENV, else "prod"), hash verified.

    Without ``source``, the last ``load()``ed path (re-stat'ed, so a replaced bundle is
    picked up) or $PROMPTLANE_REGISTRY. ``refuse_withdrawn=True`` raises WithdrawnError for
    a version a rollback withdrew from another environment (recommended for production
    traffic); otherwise it is served, marked in ``Prompt.withdrawn``."""
    if isinstance(source, Registry):
        return source.get(prompt_id, env, refuse_withdrawn=refuse_withdrawn)
    path = source if source is not None else (_default_source or os.environ.get(SOURCE_ENV))
    if not path:
        raise SourceError(f"no registry loaded: call runtime.load(PATH) or set {SOURCE_ENV}")
    return _load(path).get(prompt_id, env, refuse_withdrawn=refuse_withdrawn)


def render(prompt: Prompt | str, /, **variables: Any) -> list[dict[str, str]]:
    """Chat messages of ``prompt`` (a Prompt, or an id served by the default environment)."""
    if isinstance(prompt, str):
        prompt = get(prompt)
    return prompt.render(**variables)


def run(prompt: Prompt | str, call_model: Callable[[list, dict], str | Reply], inputs: Mapping[str, Any], *,
        sink: Sink | None = None, clock: Clock | None = None, redact: bool | Redactor = True) -> ChainResult:
    """Run ``prompt`` (a Prompt, or an id served by the default environment): its calls in
    order, ``call_model(messages, model)`` once each, every output fed to the calls after it.

    Traced to ``sink`` (a JSON Lines path or a callable; default $PROMPTLANE_TRACE_LOG): one
    record per call and, for a chain, one for the chain that the call records point to. Missing
    or unknown inputs raise RenderError before any call; an exception in a call stops the
    chain, is recorded and re-raised. ``redact`` as for ``trace``. See docs/runtime.md#chains."""
    if isinstance(prompt, str):
        prompt = get(prompt)
    return _run(prompt, call_model, inputs, sink=sink, clock=clock, redact=redact)
