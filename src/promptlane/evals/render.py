"""promptfoo prompt function for `promptlane eval run`: a card's steps as chat messages.

Standard library only: the runner copies this file into the run's temp folder beside
``steps.json`` (the card's steps, texts exactly as hashed), and promptfoo runs it with
PROMPTFOO_PYTHON. The same ``messages`` function verifies imported results, so what a run
sends and what an import is compared with cannot drift apart.

Substitution: ``{{ name }}`` (also ``{{- name -}}``; a ``| filter`` is ignored) becomes the
test's value; a variable the test does not give is an error, never an empty string.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

# Same pattern as promptlane.card.PLACEHOLDER (a test keeps them equal).
PLACEHOLDER = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|[^}]*)?-?\}\}")
STEPS_FILE = "steps.json"


def fill(text: str, variables: dict, where: str = "prompt") -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if not isinstance(variables, dict) or name not in variables:  # vars: 5 gives no value either
            raise KeyError(f"{where}: the test gives no value for {{{{ {name} }}}}")
        return str(variables[name])

    return PLACEHOLDER.sub(value, text)


def messages(steps: list, variables: dict) -> list:
    """``steps``: [{name, role, text}, ...] in chain order (the payload's steps)."""
    return [{"role": step["role"], "content": fill(step["text"], variables, f"step '{step['name']}'")} for step in steps]


def render(context: dict) -> str:
    steps = json.loads(Path(__file__).with_name(STEPS_FILE).read_text(encoding="utf-8"))
    # A JSON list of messages is promptfoo's chat format: chat providers send it as is.
    return json.dumps(messages(steps, (context or {}).get("vars") or {}), ensure_ascii=False)
