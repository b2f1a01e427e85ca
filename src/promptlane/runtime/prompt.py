"""A verified prompt version: its calls, rendering them into chat messages, and running them.

A prompt is one model call (a card with ``steps:``) or a chain of calls (a card with
``calls:``), each with its own resolved model and steps; a later call's text may use an
earlier call's output as ``{{ <call>.output }}``. ``render`` gives the messages of a single
call; ``render_call`` those of one call of a chain given the earlier outputs; ``run`` calls
the model for each call in order and traces every call (promptlane.runtime.chains).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from promptlane.core.calls import REFERENCE
from promptlane.core.registry import withdrawal_text
from promptlane.core.suggest import did_you_mean
from promptlane.runtime.chains import CallModel, ChainResult
from promptlane.runtime.chains import run as run_chain
from promptlane.runtime.errors import RenderError

# The same placeholder syntax the eval harness renders (evals/render.py, the template's
# evals/render_chain.py) and core/card.PLACEHOLDER, so the
# runtime sends exactly what was evaluated. Substitution is one pass: a value that itself
# contains "{{ x }}" is inserted literally, never expanded (user input cannot inject variables).
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# core.calls.REFERENCE, ``{{ extract.output }}`` in a chain's text (spaces optional, the card's
# one grammar: core/card.py refuses ``{{-``/``-}}`` and ``| filter``), is the output of the
# earlier call ``extract``.
# Both in one pattern, so outputs and variables are substituted in the same single pass: an
# output containing "{{ x }}" or "{{ a.output }}" (a model repeating an injected text) stays text.
_TOKEN = re.compile(f"{REFERENCE.pattern}|{PLACEHOLDER.pattern}")


@dataclass(frozen=True)
class Step:
    name: str
    role: str
    text: str


@dataclass(frozen=True)
class CallSpec:
    """One model call of a prompt: its name in the chain (None for a single-call prompt), its
    resolved model ``{"provider", "name", "params"}`` and its steps."""

    name: str | None
    model: Mapping[str, Any]
    steps: tuple[Step, ...]

    @property
    def placeholders(self) -> frozenset[str]:
        """The variables this call's texts use."""
        return frozenset(name for step in self.steps for name in PLACEHOLDER.findall(step.text))

    @property
    def uses(self) -> tuple[str, ...]:
        """The earlier calls whose output this call's texts use, in order of first use."""
        return tuple(dict.fromkeys(name for step in self.steps for name in REFERENCE.findall(step.text)))


@dataclass(frozen=True)
class Withdrawal:
    """A rollback withdrew this version from ``environment`` (which has not served it again)."""

    environment: str
    time: str
    reason: str
    actor: str = ""  # who rolled back ("" in marks written before rollbacks recorded it)

    def __str__(self) -> str:
        return withdrawal_text({"env": self.environment, "time": self.time, "reason": self.reason, "actor": self.actor})


@dataclass(frozen=True)
class Prompt:
    """One version of a prompt, as an environment serves it; its hash has been verified.

    ``calls`` holds its model calls in the order they run: one, named None, for a prompt
    written with ``steps:`` (its ``model`` and ``steps``), or a chain's. For a chain,
    ``steps`` is empty and ``model`` is its last call's (the call whose output it returns)."""

    id: str
    version: str
    hash: str
    environment: str
    model: Mapping[str, Any]          # {"provider", "name", "params"}
    steps: tuple[Step, ...]
    variables: tuple[str, ...]
    # Set when a rollback withdrew this version from another environment (this one still serves
    # it): log it, alert on it, or refuse it with ``get(..., refuse_withdrawn=True)``.
    withdrawn: Withdrawal | None = None
    calls: tuple[CallSpec, ...] = ()  # () = the one call of model and steps

    def __post_init__(self) -> None:
        if not self.calls:
            object.__setattr__(self, "calls", (CallSpec(None, self.model, self.steps),))

    @property
    def is_chain(self) -> bool:
        return self.calls[0].name is not None

    @property
    def call_names(self) -> tuple[str, ...]:
        return tuple(call.name for call in self.calls if call.name is not None)

    @property
    def placeholders(self) -> frozenset[str]:
        """The variables the texts use (of every call of a chain; ``{{ x.output }}`` is not one)."""
        return frozenset().union(*(call.placeholders for call in self.calls))

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """Chat messages ``[{"role", "content"}]``, one per step, in chain order.

        Refuses missing and unknown variables: a typo must not silently send a prompt
        with an empty hole, or drop the data the caller meant to send. A chain is refused:
        it is several lists of messages, each waiting for the outputs before it."""
        if self.is_chain:
            raise RenderError(
                f"{self.id} {self.version} is a chain of {len(self.calls)} model calls ({', '.join(self.call_names)}), "
                "not one list of messages: run it with prompt.run(call_model, **inputs) (or runtime.run(prompt, "
                "call_model, inputs, sink=...), which traces each call), or render one call with "
                "prompt.render_call(name, outputs, **inputs), outputs being the earlier calls' outputs by name")
        values = self._values(variables)
        substitute = lambda match: values[match.group(1)]  # noqa: E731
        return [{"role": step.role, "content": PLACEHOLDER.sub(substitute, step.text)} for step in self.steps]

    def render_call(self, name: str | None, outputs: Mapping[str, Any], /, **variables: Any) -> list[dict[str, str]]:
        """The messages of the call ``name``, given the chain's inputs and the outputs of the
        calls before it (``{call name: output}``; those it uses are required). Substitution is
        one pass for outputs and variables alike. ``name=None`` renders a single-call prompt."""
        call = self._call(name)
        unknown = sorted(set(outputs) - set(self.call_names))
        if unknown:
            raise RenderError(f"{self.id} {self.version}: outputs of {', '.join(unknown)}: no such call"
                              f"{did_you_mean(unknown[0], self.call_names)} (the calls: {', '.join(self.call_names) or 'none'})")
        if call.name is None:
            return self.render(**variables)  # a single call: exactly what render sends
        missing = [used for used in call.uses if used not in outputs]
        if missing:
            raise RenderError(f"{self.id} {self.version}: call {name} uses the output of {', '.join(missing)}; "
                              f"pass it in outputs ({{'{missing[0]}': ...}}): run the calls before {name} first")
        values = self._values(variables)
        texts = {used: _as_text(self.id, f"{used}.output", outputs[used]) for used in call.uses}
        substitute = lambda match: texts[match.group(1)] if match.group(1) else values[match.group(2)]  # noqa: E731
        return [{"role": step.role, "content": _TOKEN.sub(substitute, step.text)} for step in call.steps]

    def run(self, call_model: CallModel, /, **inputs: Any) -> ChainResult:
        """Call ``call_model(messages, model)`` once per call, in order, feeding each output to
        the calls after it; every call (and a chain) is traced to $PROMPTLANE_TRACE_LOG. See
        ``runtime.run`` for another sink, clock or redaction."""
        return run_chain(self, call_model, inputs)

    def check_inputs(self, variables: Mapping[str, Any]) -> None:
        """Raise RenderError unless ``variables`` are exactly the prompt's, each a string or number."""
        self._values(dict(variables))

    def _call(self, name: str | None) -> CallSpec:
        for call in self.calls:
            if call.name == name:
                return call
        if name is None:
            raise RenderError(f"{self.id} {self.version} is a chain: name the call to render "
                              f"(one of {', '.join(self.call_names)})")
        if not self.is_chain:
            raise RenderError(f"{self.id} {self.version} is a single call, not a chain: it has no call {name!r}; "
                              "use prompt.render(**variables)")
        raise RenderError(f"{self.id} {self.version}: no call {name!r}{did_you_mean(name, self.call_names)} "
                          f"(the calls: {', '.join(self.call_names)})")

    def _values(self, variables: Mapping[str, Any]) -> dict[str, str]:
        expected = set(self.variables) | self.placeholders
        missing = sorted(expected - set(variables))
        unknown = sorted(set(variables) - expected)
        if missing or unknown:
            raise RenderError(self._mismatch(missing, unknown))
        return {name: _as_text(self.id, name, value) for name, value in variables.items()}

    def _mismatch(self, missing: list[str], unknown: list[str]) -> str:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown {', '.join(unknown)}")
        declared = ", ".join(self.variables) or "none"
        return f"{self.id} {self.version}: {'; '.join(parts)} (the prompt takes: {declared})"


def _as_text(prompt_id: str, name: str, value: Any) -> str:
    # Strings and numbers only: str() of a dict or None would be sent to the model unnoticed.
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RenderError(f"{prompt_id}: variable {name} must be a string or a number, not {type(value).__name__}")
