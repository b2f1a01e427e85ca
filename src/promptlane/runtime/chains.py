"""Running a prompt: each of its model calls in order, every call traced.

    result = runtime.run(prompt, call_model, {"customer_name": "Ana", "message": "..."},
                         sink="logs/trace.jsonl")
    result.output            # the last call's output
    result.outputs           # {call name: output}

``call_model(messages, model)`` is the application's client: ``messages`` are
``[{"role", "content"}]``, ``model`` the call's resolved ``{"provider", "name", "params"}``
(a copy); it returns the text, or a ``Reply`` carrying token counts and cost too.

Records (promptlane.runtime.records): a single-call prompt writes one, exactly as ``trace``
does. A chain writes one per call, with ``parent_id`` (the chain record's ``trace_id``) and
``call`` (its name), then one for the chain, with ``calls`` (their names), the chain's inputs,
its final output and, when every call reported them, the sums of tokens and cost. An
exception in a call stops the chain: that call's record and the chain's say so (redacted
like the rest), and the exception is re-raised. Inputs are checked before any call is made.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping, Protocol, Sequence, Union

from promptlane.runtime.records import (
    SYSTEM_CLOCK,
    Clock,
    Redactor,
    Sink,
    error_text,
    record,
    redactor,
    resolve_sink,
)


@dataclass(frozen=True)
class Reply:
    """What ``call_model`` may return instead of the bare text: the text and what the
    provider reported (None: not reported)."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


CallModel = Callable[[list, dict], Union[str, Reply]]


@dataclass(frozen=True)
class CallResult:
    """One call of a run: its name (None for a single-call prompt), output, what the
    provider reported (None: not reported), latency and the ``trace_id`` of its record."""

    name: str | None
    output: str
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    latency_ms: float
    trace_id: str


@dataclass(frozen=True)
class ChainResult:
    """What ``run`` returns. ``output`` is the last call's output; ``outputs`` maps each
    call's name to its output (a single-call prompt's one call is named None); ``trace_id``
    is the chain record's id (a single call's: its record's)."""

    output: str
    outputs: Mapping[str | None, str]
    calls: tuple[CallResult, ...]
    trace_id: str

    @property
    def input_tokens(self) -> int | None:
        return _total(call.input_tokens for call in self.calls)

    @property
    def output_tokens(self) -> int | None:
        return _total(call.output_tokens for call in self.calls)

    @property
    def cost_usd(self) -> float | None:
        return _total(call.cost_usd for call in self.calls)


def _total(values: Any) -> Any:
    """The sum, or None when any call did not report the quantity (a partial sum would pass for a total)."""
    values = list(values)
    return None if any(v is None for v in values) else sum(values)


def _usage(calls: Sequence[CallResult]) -> tuple[Any, Any, Any]:
    """Sums of tokens and cost over ``calls``, each None unless every call reported it."""
    return (_total(call.input_tokens for call in calls), _total(call.output_tokens for call in calls),
            _total(call.cost_usd for call in calls))


class _Runnable(Protocol):
    """What ``run`` needs of a prompt (promptlane.runtime.prompt.Prompt)."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def hash(self) -> str: ...
    @property
    def environment(self) -> str: ...
    @property
    def model(self) -> Mapping[str, Any]: ...
    @property
    def calls(self) -> Sequence[Any]: ...
    @property
    def is_chain(self) -> bool: ...
    def check_inputs(self, variables: Mapping[str, Any]) -> None: ...
    def render_call(self, name: str | None, outputs: Mapping[str, Any], /, **variables: Any) -> list[dict[str, str]]: ...


def _reply(prompt: _Runnable, name: str | None, answer: Any) -> Reply:
    """``call_model``'s answer as a Reply, refused when it is neither text nor a sound Reply
    (a record with a negative or non-integer count would not match the trace schema)."""
    call = f"call {name}" if name else "the call"
    where = f"{prompt.id} {prompt.version}: call_model"
    if isinstance(answer, str):
        return Reply(answer)
    if not isinstance(answer, Reply) or not isinstance(answer.text, str):
        got = type(answer.text if isinstance(answer, Reply) else answer).__name__
        raise TypeError(f"{where} returned {'a Reply whose text is ' if isinstance(answer, Reply) else ''}{got} for "
                        f"{call}; return the model's text (str) or runtime.Reply(text, input_tokens=..., "
                        "output_tokens=..., cost_usd=...)")
    for field_name in ("input_tokens", "output_tokens"):
        count = getattr(answer, field_name)
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
            raise ValueError(f"{where}'s Reply for {call}: {field_name} must be a whole number >= 0 or None, not {count!r}")
    cost = answer.cost_usd
    if cost is not None and (not isinstance(cost, (int, float)) or isinstance(cost, bool) or not 0 <= cost < float("inf")):
        raise ValueError(f"{where}'s Reply for {call}: cost_usd must be a number >= 0 or None, not {cost!r}")
    return answer


def _call_inputs(call: Any, inputs: Mapping[str, Any], outputs: Mapping[str, str]) -> dict[str, Any]:
    """What one call of a chain was rendered with: the inputs its texts use and, as
    ``<call>.output``, the earlier outputs they use."""
    values: dict[str, Any] = {name: value for name, value in inputs.items() if name in call.placeholders}
    values.update({f"{earlier}.output": outputs[earlier] for earlier in call.uses})
    return values


class _Run:
    """One run of a prompt: its clock, sink and redaction."""

    def __init__(self, prompt: _Runnable, inputs: Mapping[str, Any], sink: Sink | None, clock: Clock | None,
                 redact: bool | Redactor):
        self.prompt = prompt
        self.inputs = dict(inputs)
        self.clock = clock or SYSTEM_CLOCK
        self.emit = resolve_sink(sink, "run")
        self.redact = redactor(redact)

    def since(self, t0: float) -> float:
        return round(max((self.clock.perf() - t0) * 1000.0, 0.0), 1)

    def write(self, trace_id: str, started: datetime, latency_ms: float, model: Mapping[str, Any],
              inputs: Mapping[str, Any], output: str | None, usage: tuple[Any, Any, Any], error: str | None,
              extra: Mapping[str, Any]) -> None:
        input_tokens, output_tokens, cost_usd = usage  # None (not reported) is written 0, as trace() does
        self.emit(record(self.prompt, trace_id=trace_id, started=started, model=model, inputs=inputs, output=output,
                         input_tokens=input_tokens or 0, output_tokens=output_tokens or 0, cost_usd=cost_usd or 0.0,
                         latency_ms=latency_ms, error=error, redact=self.redact, extra=extra))

    def one(self, spec: Any, outputs: dict[str, str], call_model: CallModel, chain_id: str | None) -> CallResult:
        """Render, call and record one call; an exception is recorded, then raised."""
        trace_id, started, t0 = self.clock.new_id(), self.clock.now(), self.clock.perf()
        params = copy.deepcopy(dict(spec.model.get("params") or {}))
        model = {"provider": spec.model["provider"], "name": spec.model["name"], "params": params}
        if chain_id is None:
            inputs, extra = self.inputs, {}
        else:
            inputs, extra = _call_inputs(spec, self.inputs, outputs), {"parent_id": chain_id, "call": spec.name}
        try:
            messages = self.prompt.render_call(spec.name, outputs, **self.inputs)
            reply = _reply(self.prompt, spec.name, call_model(messages, copy.deepcopy(model)))
        except BaseException as exc:
            self.write(trace_id, started, self.since(t0), model, inputs, None, (None, None, None), error_text(exc), extra)
            raise
        latency = self.since(t0)
        usage = (reply.input_tokens, reply.output_tokens, reply.cost_usd)
        self.write(trace_id, started, latency, model, inputs, reply.text, usage, None, extra)
        return CallResult(spec.name, reply.text, *usage, latency_ms=latency, trace_id=trace_id)

    def all(self, call_model: CallModel) -> ChainResult:
        calls = list(self.prompt.calls)
        if not self.prompt.is_chain:
            done = self.one(calls[0], {}, call_model, None)
            return ChainResult(done.output, {None: done.output}, (done,), done.trace_id)
        chain_id, started, t0 = self.clock.new_id(), self.clock.now(), self.clock.perf()
        extra = {"calls": [spec.name for spec in calls]}
        outputs: dict[str, str] = {}
        finished: list[CallResult] = []
        try:
            for spec in calls:
                finished.append(self.one(spec, outputs, call_model, chain_id))
                outputs[spec.name] = finished[-1].output
        except BaseException as exc:
            # The tokens and cost of the calls that finished were spent: their sums are kept.
            usage = _usage(finished)
            error = f"call {calls[len(finished)].name} failed: {error_text(exc)}"
            self.write(chain_id, started, self.since(t0), self.prompt.model, self.inputs, None, usage, error, extra)
            raise
        by_name: dict[str | None, str] = {name: text for name, text in outputs.items()}
        result = ChainResult(finished[-1].output, by_name, tuple(finished), chain_id)
        usage = _usage(finished)
        self.write(chain_id, started, self.since(t0), self.prompt.model, self.inputs, result.output, usage, None, extra)
        return result


def run(prompt: _Runnable, call_model: CallModel, inputs: Mapping[str, Any], *, sink: Sink | None = None,
        clock: Clock | None = None, redact: bool | Redactor = True) -> ChainResult:
    """Run ``prompt``'s calls in order with ``call_model(messages, model)``, each output fed to
    the calls that use it, and trace them to ``sink`` (a JSON Lines path or a callable; default
    $PROMPTLANE_TRACE_LOG). Inputs are checked (missing, unknown, not text) before any call."""
    if not callable(call_model):
        raise TypeError(f"run: call_model must be a function (messages, model) -> str | runtime.Reply, "
                        f"not {type(call_model).__name__}")
    if not isinstance(inputs, Mapping):
        raise TypeError(f"run: inputs must be a mapping of the prompt's variables, not {type(inputs).__name__}")
    prompt.check_inputs(inputs)
    if not prompt.environment:
        raise ValueError(f"run: {prompt.id} {prompt.version} was not obtained with get(id, env); "
                         "a trace record names the environment that served the prompt")
    return _Run(prompt, inputs, sink, clock, redact).all(call_model)
