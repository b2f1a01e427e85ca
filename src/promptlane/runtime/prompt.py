"""A verified prompt version and its rendering into chat messages."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from promptlane.core.registry import withdrawal_text
from promptlane.runtime.errors import RenderError

# The same placeholder syntax the eval harness renders (evals/render_chain.py), so the
# runtime sends exactly what was evaluated. Substitution is one pass: a value that itself
# contains "{{ x }}" is inserted literally, never expanded (user input cannot inject variables).
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Step:
    name: str
    role: str
    text: str


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
    """One version of a prompt, as an environment serves it; its hash has been verified."""

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

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(name for step in self.steps for name in PLACEHOLDER.findall(step.text))

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """Chat messages ``[{"role", "content"}]``, one per step, in chain order.

        Refuses missing and unknown variables: a typo must not silently send a prompt
        with an empty hole, or drop the data the caller meant to send."""
        expected = set(self.variables) | self.placeholders
        missing = sorted(expected - set(variables))
        unknown = sorted(set(variables) - expected)
        if missing or unknown:
            raise RenderError(self._mismatch(missing, unknown))
        values = {name: _as_text(self.id, name, value) for name, value in variables.items()}
        substitute = lambda match: values[match.group(1)]  # noqa: E731
        return [{"role": step.role, "content": PLACEHOLDER.sub(substitute, step.text)} for step in self.steps]

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
