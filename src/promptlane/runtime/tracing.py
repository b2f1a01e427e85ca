"""Trace logging: one record per model call, in the shape of the governed repository's
``logs/prompt-log-schema.json``, written as JSON Lines to a file or handed to any callable.

Personal data is redacted from inputs, output and error text by default, with
``promptlane.core.pii`` (the detectors ``promptlane check`` uses); a record that leaves the
process should never need a second pass. ``redact=False`` turns it off, a callable replaces it.

    with trace(prompt, inputs=variables, sink="logs/trace.jsonl") as call:
        answer = call_model(call.render())
        call.finish(answer, input_tokens=214, output_tokens=63, cost_usd=0.00007)

    @trace(sink="logs/trace.jsonl")
    def answer(prompt, **variables) -> str: ...
"""
from __future__ import annotations

import functools
import inspect
import threading
from datetime import datetime
from typing import Any, Callable, Literal, Mapping

from promptlane.runtime.prompt import Prompt
from promptlane.runtime.records import (
    MAX_ERROR_CHARS,
    SINK_ENV,
    SYSTEM_CLOCK,
    Clock,
    Redactor,
    Sink,
    default_redactor,
    error_text,
    file_sink,
    record,
    redactor,
    resolve_sink,
)

__all__ = ["Call", "Clock", "Trace", "trace", "build_record", "Sink", "Redactor", "SINK_ENV", "SYSTEM_CLOCK",
           "MAX_ERROR_CHARS", "default_redactor", "file_sink"]


# ---------------------------------------------------------------- one call


class Call:
    """A call being traced. Tell it what the model returned with ``finish`` (or set the
    attributes); an exception leaving the ``with`` block records status "error"."""

    def __init__(self, prompt: Prompt, inputs: Mapping[str, Any], model: Mapping[str, Any] | None, trace_id: str):
        self.prompt = prompt
        self.inputs = dict(inputs)
        self.model = {**prompt.model, **(model or {})}
        self.trace_id = trace_id
        self.output: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0

    def render(self) -> list[dict[str, str]]:
        """The prompt's messages rendered with this call's (unredacted) inputs."""
        return self.prompt.render(**self.inputs)

    def finish(self, output: str | None, *, input_tokens: int | None = None, output_tokens: int | None = None,
               cost_usd: float | None = None) -> None:
        self.output = output
        if input_tokens is not None:
            self.input_tokens = input_tokens
        if output_tokens is not None:
            self.output_tokens = output_tokens
        if cost_usd is not None:
            self.cost_usd = cost_usd

    def take(self, result: Any) -> None:
        """What a traced function returned: a string, or a mapping/object with ``output``
        and optionally ``input_tokens``, ``output_tokens``, ``cost_usd``."""
        if isinstance(result, str) or result is None:
            self.finish(result)
            return
        get = result.get if isinstance(result, Mapping) else (lambda key: getattr(result, key, None))
        self.finish(get("output"), input_tokens=get("input_tokens"),
                    output_tokens=get("output_tokens"), cost_usd=get("cost_usd"))


def build_record(call: Call, started: datetime, latency_ms: float, error: BaseException | None,
                 redact: Redactor | None) -> dict:
    """The schema's record for a finished call (redacted when ``redact`` is given)."""
    return record(call.prompt, trace_id=call.trace_id, started=started, model=call.model, inputs=call.inputs,
                  output=call.output, input_tokens=call.input_tokens, output_tokens=call.output_tokens,
                  cost_usd=call.cost_usd, latency_ms=latency_ms,
                  error=error_text(error) if error is not None else None, redact=redact)


# ---------------------------------------------------------------- trace()


class Trace:
    """Context manager (``with trace(...) as call``) and decorator (``@trace(...)``)."""

    def __init__(self, prompt: Prompt | None, inputs: Mapping[str, Any] | None, sink: Sink | None,
                 model: Mapping[str, Any] | None, redact: bool | Redactor, clock: Clock):
        self.prompt = prompt
        self.inputs = inputs
        self.model = model
        self.clock = clock
        self._sink = resolve_sink(sink)
        self._redact: Redactor | None = redactor(redact)
        self._active = threading.local()

    # -- context manager: one Call per `with`, kept per thread so a Trace may be reused.
    def __enter__(self) -> Call:
        call = self._start(self.prompt, self.inputs or {})
        self._stack().append((call, self.clock.now(), self.clock.perf()))
        return call

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        call, started, t0 = self._stack().pop()
        self._emit(call, started, t0, exc)
        return False  # never swallow the application's exception

    def _stack(self) -> list:
        if not hasattr(self._active, "stack"):
            self._active.stack = []
        return self._active.stack

    # -- decorator
    def __call__(self, fn: Callable) -> Callable:
        signature = inspect.signature(fn)
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                call, started, t0 = self._start_for(signature, args, kwargs)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    self._emit(call, started, t0, exc)
                    raise
                call.take(result)
                self._emit(call, started, t0, None)
                return result
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            call, started, t0 = self._start_for(signature, args, kwargs)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self._emit(call, started, t0, exc)
                raise
            call.take(result)
            self._emit(call, started, t0, None)
            return result
        return wrapper

    def _start_for(self, signature: inspect.Signature, args: tuple, kwargs: dict) -> tuple[Call, datetime, float]:
        prompt, inputs = self._split_arguments(signature, args, kwargs)
        return self._start(prompt, self.inputs if self.inputs is not None else inputs), self.clock.now(), self.clock.perf()

    def _split_arguments(self, signature: inspect.Signature, args: tuple, kwargs: dict) -> tuple[Prompt | None, dict]:
        """The Prompt argument (unless trace() was given one) and the others, by name."""
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return self.prompt, dict(kwargs)  # let the function itself raise the real error
        prompt, inputs = self.prompt, {}
        for name, value in bound.arguments.items():
            kind = signature.parameters[name].kind
            if isinstance(value, Prompt) and prompt is None:
                prompt = value
            elif isinstance(value, Prompt):
                continue
            elif kind is inspect.Parameter.VAR_KEYWORD:
                inputs.update(value)
            elif kind is not inspect.Parameter.VAR_POSITIONAL:
                inputs[name] = value
        return prompt, inputs

    def _start(self, prompt: Prompt | None, inputs: Mapping[str, Any]) -> Call:
        if not isinstance(prompt, Prompt):
            raise ValueError("trace: no prompt; pass trace(prompt, ...) or a Prompt argument from runtime.get()")
        if not prompt.environment:
            raise ValueError(f"trace: {prompt.id} {prompt.version} was not obtained with get(id, env); "
                             "a trace record names the environment that served the prompt")
        if prompt.is_chain:
            raise ValueError(f"trace: {prompt.id} {prompt.version} is a chain of calls ({', '.join(prompt.call_names)}); "
                             "run it with runtime.run(prompt, call_model, inputs, sink=...), which records each "
                             "call and the chain, linked")
        return Call(prompt, inputs, self.model, self.clock.new_id())

    def _emit(self, call: Call, started: datetime, t0: float, error: BaseException | None) -> None:
        latency_ms = (self.clock.perf() - t0) * 1000.0
        self._sink(build_record(call, started, latency_ms, error, self._redact))


def trace(prompt: Prompt | None = None, *, inputs: Mapping[str, Any] | None = None, sink: Sink | None = None,
          model: Mapping[str, Any] | None = None, redact: bool | Redactor = True,
          clock: Clock = SYSTEM_CLOCK) -> Trace:
    """Record one trace record per call, to ``sink`` (a path for JSON Lines, or a callable
    taking the record dict; default: the file named by $PROMPTLANE_TRACE_LOG).

    ``model`` overrides fields of the prompt's model when the application calls another one;
    the record always says what was really called."""
    return Trace(prompt, inputs, sink, model, redact, clock)
