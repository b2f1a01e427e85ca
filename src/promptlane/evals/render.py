"""promptfoo prompt functions for `promptlane eval run`: a card's steps as chat messages.

Standard library only: the runner copies this file into the run's temp folder beside
``steps.json`` (a single-call card's steps, texts exactly as hashed) or ``calls.json`` (a
chain's calls: name and steps), and promptfoo runs it with PROMPTFOO_PYTHON. The same
functions verify imported results, so what a run sends and what an import is compared with
cannot drift apart.

Substitution: ``{{ name }}`` (spaces optional; the only form a card may use, core/card.LOOSE)
becomes the test's value, as given; a variable the test does not give is an error, never an
empty string. The runtime SDK fills the same pattern the same way (a test compares the two).

A chain (``render_calls``) renders every call at once, its variables filled, as one JSON
document ``{"promptlane_chain": [{"call": name, "messages": [...]}, ...]}``. Where a text uses
an earlier call's output, ``{{ extract.output }}``, the message's content is a list of parts:
strings and ``{"output": "extract"}``, which the chain provider (chain.mjs) replaces by that
call's output when it runs the call. Variables and outputs are thus substituted in one pass
over the text: a value that reads ``{{ x }}`` is inserted as it is.

promptfoo renders what a prompt function returns as a nunjucks template; ``untemplated`` writes
the braces of the returned JSON's strings so that this rendering gives back exactly the texts
and values given (a ``{# ... #}`` in a text reaches the model as it does at runtime).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

# Same patterns as promptlane.core.card.PLACEHOLDER and promptlane.core.calls.REFERENCE (a
# test keeps them equal).
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.output\s*\}\}")
_EITHER = re.compile(f"(?:{PLACEHOLDER.pattern})|(?:{REFERENCE.pattern})")
# For untemplated: a string of the JSON text (quotes and escapes as json.dumps writes them), a
# brace, and the values promptfoo reads as true in an environment flag (its getEnvBool).
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACE = re.compile(r"[{}]")
_AS_EXPRESSION = lambda brace: "{{ '" + brace.group(0) + "' }}"  # noqa: E731
_TRUE = ("1", "true", "yes", "yup", "yeppers")
STEPS_FILE = "steps.json"
CALLS_FILE = "calls.json"
CHAIN_KEY = "promptlane_chain"


def _value(variables: dict, name: str, where: str) -> str:
    if not isinstance(variables, dict) or name not in variables:  # vars: 5 gives no value either
        raise KeyError(f"{where}: the test gives no value for {{{{ {name} }}}}")
    return str(variables[name])


def fill(text: str, variables: dict, where: str = "prompt") -> str:
    return PLACEHOLDER.sub(lambda match: _value(variables, match.group(1), where), text)


def messages(steps: list, variables: dict) -> list:
    """``steps``: [{name, role, text}, ...] in order (the payload's steps)."""
    return [{"role": step["role"], "content": fill(step["text"], variables, f"step '{step['name']}'")} for step in steps]


def parts(text: str, variables: dict, where: str = "prompt") -> str | list:
    """``text`` with its variables filled, in one pass; each ``{{ call.output }}`` kept as
    ``{"output": call}``. A text without such a reference is a string (what ``fill`` gives)."""
    out: list = []
    literal, done = [], 0
    for match in _EITHER.finditer(text):
        literal.append(text[done:match.start()])
        done = match.end()
        if match.group(1) is not None:
            literal.append(_value(variables, match.group(1), where))
        else:
            out += ["".join(literal), {"output": match.group(2)}]
            literal = []
    literal.append(text[done:])
    if not out:
        return "".join(literal)
    return [part for part in [*out, "".join(literal)] if part != ""]


def chain_prompt(calls: list, variables: dict) -> dict:
    """``calls``: [{name, steps}, ...] in the order they run (the chain payload's calls)."""
    return {CHAIN_KEY: [
        {"call": call["name"],
         "messages": [{"role": step["role"], "content": parts(step["text"], variables, f"call '{call['name']}' step '{step['name']}'")}
                      for step in call["steps"]]}
        for call in calls]}


def untemplated(prompt: str) -> str:
    """``prompt`` (JSON) as promptfoo must get it to pass it on unchanged.

    promptfoo renders a prompt function's output as a nunjucks template (0.121: every string
    of the parsed JSON, or the whole text with PROMPTFOO_DISABLE_JSON_AUTOESCAPE), so a
    ``{# ... #}`` in a text or a test's value would be cut out, a ``{% ... %}`` or ``{{ ... }}``
    run, before the model sees it, while the runtime sends it as written. Every ``{`` and ``}``
    inside the JSON's strings is therefore written as the nunjucks expression that outputs it,
    ``{{ '{' }}`` / ``{{ '}' }}``: nunjucks then turns the text back into exactly the one given,
    and finds no tag of the text's own. The JSON's own braces are left (``{"`` and ``}`` are
    no tags). With PROMPTFOO_DISABLE_TEMPLATING set (promptfoo then renders nothing) the prompt
    is returned as it is. Users' assertions are templated as ever."""
    if os.environ.get("PROMPTFOO_DISABLE_TEMPLATING", "").lower() in _TRUE:
        return prompt
    return _JSON_STRING.sub(lambda string: _BRACE.sub(_AS_EXPRESSION, string.group(0)), prompt)


def render(context: dict) -> str:
    steps = json.loads(Path(__file__).with_name(STEPS_FILE).read_text(encoding="utf-8"))
    # A JSON list of messages is promptfoo's chat format: chat providers send it as is.
    return untemplated(json.dumps(messages(steps, (context or {}).get("vars") or {}), ensure_ascii=False))


def render_calls(context: dict) -> str:
    calls = json.loads(Path(__file__).with_name(CALLS_FILE).read_text(encoding="utf-8"))
    # Read by the chain provider, which sends each call's messages as promptfoo's chat format.
    return untemplated(json.dumps(chain_prompt(calls, (context or {}).get("vars") or {}), ensure_ascii=False))
