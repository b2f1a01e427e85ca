"""promptfoo prompt function: a prompt's card and texts, rendered as chat messages.

The card is the single source of truth, so the eval always runs the steps the card lists,
in order, with the texts that are hashed, instead of a copy kept in the eval config.
Which prompt: the PROMPTLANE_PROMPT environment variable (set by `promptlane eval run`),
else the `prompt` key of this prompt's `config` in eval-config.promptfoo.yml.

A chain card (`calls:`) renders as every call at once, as promptlane's own eval run renders it:
{"promptlane_chain": [{"call": name, "messages": [...]}, ...]}, where a text that uses an
earlier call's output ({{ extract.output }}) is a list of parts, strings and {"output": name}.
Such a prompt needs the chain provider, providers/chain.mjs, in front of the model provider:
it runs the calls in order through it (see eval-config.promptfoo.yml).

promptfoo renders what this function returns as a nunjucks template, which would cut a
nunjucks comment out of a text or a test's value, or run a nunjucks tag, before the model sees
it (the runtime sends the texts as written). So every brace inside the returned JSON's strings is
written as the nunjucks expression that outputs it ({{ '{' }}): promptfoo's rendering gives back
exactly the texts and values, and your assertions are templated as ever.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# A chain's texts, filled in one pass as promptlane fills them: {{ name }} and {{ call.output }}
# (spaces optional; `promptlane check` refuses {{- x -}} and {{ x | filter }}, which nothing fills).
CHAIN_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}"
                               r"|\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.output\s*\}\}")

# For untemplated: a string of the JSON text, a brace, promptfoo's true values of a flag.
JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
BRACE = re.compile(r"[{}]")
TRUE = ("1", "true", "yes", "yup", "yeppers")


def untemplated(prompt: str) -> str:
    """The JSON ``prompt`` with each brace in its strings written as {{ '{' }} / {{ '}' }}, which
    promptfoo's nunjucks rendering turns back into the brace (none with PROMPTFOO_DISABLE_TEMPLATING,
    which turns that rendering off)."""
    if os.environ.get("PROMPTFOO_DISABLE_TEMPLATING", "").lower() in TRUE:
        return prompt
    return JSON_STRING.sub(lambda string: BRACE.sub(lambda brace: "{{ '" + brace.group(0) + "' }}", string.group(0)), prompt)


def load_card(prompt_id: str) -> dict:
    try:
        import yaml  # installed with promptlane; point PROMPTFOO_PYTHON at that Python
    except ImportError as exc:
        raise RuntimeError("PyYAML is missing: set PROMPTFOO_PYTHON to the Python that has promptlane") from exc
    card_path = REPO / "prompts" / prompt_id / "card.yml"
    with card_path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def text_of(path: Path) -> str:
    """A step's text as it is hashed and served: no leading BOM, LF line ends, no trailing newlines."""
    text = path.read_text(encoding="utf-8")
    text = text[1:] if text.startswith("\ufeff") else text
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def fill(text: str, variables: dict, where: str) -> str:
    """Substitute {{ name }}; a missing variable is an error, not an empty string."""
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in variables:
            raise KeyError(f"{where}: the test gives no value for {{{{ {name} }}}}")
        return str(variables[name])

    return PLACEHOLDER.sub(value, text)


def messages(prompt_id: str, variables: dict) -> list[dict]:
    card = load_card(prompt_id)
    folder = REPO / "prompts" / prompt_id
    out = []
    for step in card["steps"]:
        text = text_of(folder / step["file"])
        out.append({"role": step["role"], "content": fill(text, variables, f"prompts/{prompt_id}/{step['file']}")})
    return out


def parts(text: str, variables: dict, where: str):
    """A chain text with its variables filled; each {{ call.output }} kept as {"output": call}."""
    out, literal, done = [], [], 0
    for match in CHAIN_PLACEHOLDER.finditer(text):
        literal.append(text[done:match.start()])
        done = match.end()
        if match.group(1) is not None:
            if match.group(1) not in variables:
                raise KeyError(f"{where}: the test gives no value for {{{{ {match.group(1)} }}}}")
            literal.append(str(variables[match.group(1)]))
        else:
            out += ["".join(literal), {"output": match.group(2)}]
            literal = []
    literal.append(text[done:])
    if not out:
        return "".join(literal)
    return [part for part in [*out, "".join(literal)] if part != ""]


def chain(prompt_id: str, card: dict, variables: dict) -> dict:
    folder = REPO / "prompts" / prompt_id
    return {"promptlane_chain": [
        {"call": call["name"],
         "messages": [{"role": step["role"], "content": parts(
             text_of(folder / step["file"]), variables, f"prompts/{prompt_id}/{step['file']}")}
             for step in call["steps"]]}
        for call in card["calls"]]}


def render(context: dict) -> str:
    config = context.get("config") or {}
    prompt_id = os.environ.get("PROMPTLANE_PROMPT") or config.get("prompt")
    if not prompt_id:
        raise ValueError("no prompt: set PROMPTLANE_PROMPT or `config: {prompt: ID}` in the eval config")
    card = load_card(prompt_id)
    if "calls" in card:  # a chain: run by providers/chain.mjs
        return untemplated(json.dumps(chain(prompt_id, card, context.get("vars") or {}), ensure_ascii=False))
    # A JSON list of messages is promptfoo's chat format: real chat providers send it as is.
    return untemplated(json.dumps(messages(prompt_id, context.get("vars") or {}), ensure_ascii=False))
