"""Microsoft Prompty (``.prompty``, the ``prompty`` 2.x package's format), pure.

A ``.prompty`` file is YAML front matter between ``---`` lines, then a Jinja2 body whose lines
``system:``, ``user:``, ``assistant:`` start the messages. Prompty renders the whole body, then
splits it at those lines and strips the line breaks at each message's ends. A card holds plain
texts with ``{{ name }}`` placeholders, so an import takes ``{{ name }}`` and string literals
(``{{ '{' }}``) and refuses every other Jinja construct, and an export writes a body that
renders, message by message, exactly the texts promptlane's runtime sends.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from promptlane.core.formats.common import (
    NAME, ROLES, Imported, Refused, Segment, Served, Source, Step, assemble, params_in, params_out,
    written, yaml_scalar,
)
from promptlane.core.problems import Problem

# prompty.core.utils: the front matter ends at the first '---' (or '+++') after the opening one.
FRONT_MATTER = re.compile(r"^\s*(?:---|\+\+\+)(.*?)(?:---|\+\+\+)\s*(.+)$", re.S | re.M)
# prompty.parsers.prompty's role lines (a superset: attributes are refused, not parsed).
ROLE_LINE = re.compile(r"^\s*#?\s*(system|user|assistant|developer)(\[.*\])?\s*:\s*$", re.I)
OPTIONS = {"temperature": "temperature", "maxOutputTokens": "max_tokens", "topP": "top_p", "topK": "top_k",
           "seed": "seed", "frequencyPenalty": "frequency_penalty", "presencePenalty": "presence_penalty",
           "stopSequences": "stop", "reasoningEffort": "reasoning_effort"}
# What str.splitlines (Prompty's parser) breaks lines at besides \n (and \r, made \n on reading).
LINE_BREAKS = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"
TEXT_KINDS = ("", "string", "number", "integer", "float")
RICH_KINDS = ("thread", "image", "file", "audio")
JINJA_TAG = re.compile(r"\{[{%#]")
STRING_LITERAL = re.compile(r"""\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*\Z""")
LITERAL_PLACEHOLDER = "writes out a {{ name }} as text, which promptlane would fill in; reword it"
IGNORED_KEYS = ("metadata", "authors", "version", "tags", "sample", "displayName", "name", "description")


def read(source: Source) -> Imported:
    match = FRONT_MATTER.search(source.text)
    if not source.text.lstrip().startswith(("---", "+++")) or match is None:
        raise Refused([source.at(0, "PL801", "has no front matter: a .prompty file starts with a '---' line, "
                                 "its YAML (model, inputs), a '---' line, then the messages")])
    data, at = source.mapping(match.start(1), match.end(1), "the front matter's model, inputs, template")
    problems = _unsupported(data, at) + _template_problems(data, at)
    model = _model(data, at, problems)
    inputs = _inputs(data, at, problems)
    steps = _steps(source, match.start(2), problems)
    if problems:
        raise Refused(problems)
    variables = _variables(inputs, steps, at)
    notes = [f"{key}: not kept (a card does not carry it)" for key in ("metadata", "authors", "tags", "sample") if key in data]
    notes += [f"inputs.{name}.default: not kept (promptlane's runtime asks for every variable)"
              for name, spec in inputs.items() if isinstance(spec, dict) and "default" in spec]
    title = data.get("displayName") or data.get("name")
    return Imported(title if isinstance(title, str) else None, _text_or_none(data.get("description")),
                    model, variables, [step for step, _ in steps], notes=notes)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _unsupported(data: dict[str, Any], at: Callable[..., Problem]) -> list[Problem]:
    found = []
    if data.get("tools"):
        found.append(at("PL803", "tools: a card has no tools; remove them (promptlane governs the messages only)", "tools"))
    if data.get("outputs"):
        found.append(at("PL803", "outputs: a card has no structured output; remove it", "outputs"))
    return found


def _template_problems(data: dict[str, Any], at: Callable[..., Problem]) -> list[Problem]:
    template = data.get("template")
    if template is None:
        return []
    if not isinstance(template, dict):
        return [at("PL802", f"template: {template!r} must be a mapping: {{format: {{kind: jinja2}}, parser: {{kind: prompty}}}}", "template")]
    found = []
    for key, allowed in (("format", "jinja2"), ("parser", "prompty")):
        value = template.get(key)
        kind = value.get("kind", "") if isinstance(value, dict) else value
        if kind not in (None, "", "*", allowed):
            found.append(at("PL803", f"template.{key}: '{kind}' is not supported; promptlane imports "
                            f"{allowed} only", "template", key))
    return found


def _model(data: dict[str, Any], at: Callable[..., Problem], found: list[Problem]) -> dict[str, Any]:
    model = data.get("model")
    if isinstance(model, str):
        model = {"id": model}
    if not isinstance(model, dict):
        found.append(at("PL811", "model: missing; add model: {id: gpt-4o-mini, provider: openai}", *(["model"] if "model" in data else [])))
        return {}
    if "configuration" in model or "parameters" in model:
        found.append(at("PL811", _prompty_1_model(model), "model", "configuration" if "configuration" in model else "parameters"))
        return {}
    for key, example in (("id", "gpt-4o-mini"), ("provider", "openai")):
        value = model.get(key)
        if not isinstance(value, str) or not value.strip():
            found.append(at("PL811", f"model.{key}: missing; add {key}: {example}", "model", *([key] if key in model else [])))
        elif value.startswith("${"):
            found.append(at("PL811", f"model.{key}: {value} is resolved where the file runs; write the value itself", "model", key))
    if model.get("apiType") not in (None, "chat"):
        found.append(at("PL803", f"model.apiType: '{model['apiType']}' is not a chat model; promptlane imports chat prompts", "model", "apiType"))
    options = model.get("options") or {}
    if not isinstance(options, dict):
        found.append(at("PL802", "model.options must be a mapping (temperature, maxOutputTokens, ...)", "model", "options"))
        options = {}
    extra = options.get("additionalProperties") or {}
    if not isinstance(extra, dict):
        found.append(at("PL802", "model.options.additionalProperties must be a mapping", "model", "options", "additionalProperties"))
        extra = {}
    references = [key for key, value in {**options, **extra}.items() if isinstance(value, str) and value.startswith("${")]
    found += [at("PL811", f"model.options.{key}: a ${{...}} reference is resolved where the file runs; write the value itself",
                 "model", "options", key) for key in references if key in options]
    options = {key: value for key, value in options.items() if key != "additionalProperties"}
    return {"provider": model.get("provider"), "name": model.get("id"), "params": {**params_in(options, OPTIONS), **extra}}


def _inputs(data: dict[str, Any], at: Callable[..., Problem], found: list[Problem]) -> dict[str, Any]:
    """The declared inputs by name (a mapping, or Prompty's list of {name, kind})."""
    raw = data.get("inputs") or {}
    if isinstance(raw, list):
        if not all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in raw):
            found.append(at("PL802", "inputs: each entry of the list needs a name", "inputs"))
            return {}
        raw = {item["name"]: item for item in raw}
    if not isinstance(raw, dict):
        found.append(at("PL802", "inputs must be a mapping of names, e.g. {question: {kind: string}}", "inputs"))
        return {}
    for name, spec in raw.items():
        kind = spec.get("kind", "") if isinstance(spec, dict) else ""
        if not isinstance(name, str) or not NAME.match(name):
            found.append(at("PL810", f"inputs.{name}: not a variable name; use letters, digits and _", "inputs", key=str(name)))
        elif kind in RICH_KINDS:
            found.append(at("PL808", f"inputs.{name}: kind '{kind}' is a media or thread input; a card's variables are text", "inputs", name))
        elif kind not in TEXT_KINDS:
            found.append(at("PL810", f"inputs.{name}: kind '{kind}' is not text; promptlane's runtime renders strings "
                            "and numbers only (use kind: string)", "inputs", name))
    return raw


def _steps(source: Source, body_start: int, found: list[Problem]) -> list[tuple[Step, int]]:
    """The messages: text before any role line is a system message, as Prompty reads it."""
    sections: list[tuple[str, int, list[tuple[str, int]]]] = []
    offset = body_start
    body = source.text[body_start:]
    odd = next((index for index, char in enumerate(body) if char in LINE_BREAKS), None)
    if odd is not None:
        found.append(source.at(body_start + odd, "PL802", f"{body[odd]!r} is a line break to Prompty (str.splitlines) but "
                               "not to promptlane; remove it"))
        return []
    lines = body.split("\n")
    if body.endswith("\n"):
        lines.pop()  # as str.splitlines reads the rendered text: no line after the last break
    for line in lines:
        match = ROLE_LINE.match(line)
        if match:
            role = match[1].lower()
            if match[2]:
                found.append(source.at(offset, "PL809", f"{line.strip()}: message attributes have no place on a card; write {role}:"))
            if role not in ROLES:
                found.append(source.at(offset, "PL809", f"{line.strip()}: the '{role}' role has no place on a card; use system:"))
            sections.append((role, offset, []))
        else:
            if not sections:
                sections.append(("system", offset, []))
            sections[-1][2].append((line, offset))
        offset += len(line) + 1
    steps = []
    for role, where, content in sections:
        if not content:
            continue  # a role line straight after another makes no message
        segments = _segments(source, content, found)
        if segments is not None:
            text, _ = assemble(segments, _refusal(source, where))
            steps.append((Step(role, text), where))
    return steps


def _refusal(source: Source, where: int) -> Callable[[int], Problem]:
    def refuse(_index: int) -> Problem:
        return source.at(where, "PL812", LITERAL_PLACEHOLDER)
    return refuse


def _segments(source: Source, lines: list[tuple[str, int]], found: list[Problem]) -> list[Segment] | None:
    """One message's lines as text and variables; Prompty strips its line breaks at both ends."""
    start = lines[0][1]
    text = "\n".join(line for line, _ in lines)
    lead = len(text) - len(text.lstrip("\n"))
    text = text.strip("\n")
    start += lead
    segments: list[Segment] = []
    position, before = 0, len(found)
    for match in JINJA_TAG.finditer(text):
        if match.start() < position:
            continue
        segments.append(("text", text[position:match.start()]))
        position = _tag(source, text, match.start(), start, segments, found)
    segments.append(("text", text[position:]))
    return segments if len(found) == before else None


def _tag(source: Source, text: str, index: int, start: int, segments: list[Segment], found: list[Problem]) -> int:
    """Read the Jinja tag at ``index``; return where the text goes on."""
    opener = text[index:index + 2]
    closer = {"{{": "}}", "{%": "%}", "{#": "#}"}[opener]
    end = text.find(closer, index + 2)
    where = start + index
    shown = text[index:end + 2] if end >= 0 else text[index:index + 20]
    if end < 0:
        found.append(source.at(where, "PL802", f"{shown!r}: '{opener}' is never closed with '{closer}'"))
        return len(text)
    inner = text[index + 2:end]
    if opener == "{#":
        found.append(source.at(where, "PL807", f"{shown}: a template comment has no place in a card's text; remove it"))
    elif opener == "{%":
        word = inner.strip("-+ \t\n").split(" ")[0]
        code = "PL806" if word in ("include", "import", "from", "extends") else "PL804"
        found.append(source.at(where, code, f"{shown}: template logic ({word or 'a statement'}) has no place in a card, "
                               "whose texts are plain with {{ name }} placeholders; write the text it renders"))
    elif NAME.match(inner.strip()) and inner[:1] not in "-+" and inner[-1:] not in "-+":
        segments.append(("var", inner.strip()))
    elif STRING_LITERAL.match(inner):
        literal = STRING_LITERAL.match(inner)
        segments.append(("text", (literal[1] if literal[1] is not None else literal[2]) if literal else ""))
    else:
        found.append(source.at(where, "PL805", f"{shown}: not a plain variable (filters, attributes, calls and "
                               "whitespace control have no place in a card); write {{ name }}"))
    return end + 2


def _variables(inputs: dict[str, Any], steps: list[tuple[Step, int]], at: Callable[..., Problem]) -> list[str]:
    used = [name for step, _ in steps for name in re.findall(r"\{\{ ([A-Za-z_][A-Za-z0-9_]*) \}\}", step.text)]
    unused = [name for name in inputs if name not in used]
    if unused:
        raise Refused([at("PL810", f"inputs.{name}: declared but no message uses {{{{{name}}}}}; remove it or use it",
                          "inputs", name) for name in unused])
    return list(dict.fromkeys([*inputs, *used]))


# ---------------------------------------------------------------------------------- export


def write(served: Served) -> str:
    served.one_call('Prompty')  # a chain is refused (PL823): the file holds one model call
    problems: list[Problem] = []
    body = [_message(served, index, step, problems) for index, step in enumerate(served.steps)]
    if problems:
        raise Refused(problems)
    model = served.model
    options = params_out(served.params, OPTIONS)
    known = {key: value for key, value in options.items() if key in OPTIONS}
    extra = {key: value for key, value in options.items() if key not in OPTIONS}
    lines = ["---", f"name: {_safe(served.title)}", f"description: {_safe(served.stamp())}",
             "model:", f"  id: {_safe(model['name'])}", f"  provider: {_safe(model['provider'])}", "  apiType: chat"]
    if known or extra:
        lines.append("  options:")
        lines += [f"    {key}: {_safe(value)}" for key, value in known.items()]
        lines += ["    additionalProperties:"] + [f"      {_safe(key)}: {_safe(value)}" for key, value in extra.items()] if extra else []
    lines += ["inputs:"] + [f"  {name}:\n    kind: string\n    required: true" for name in served.payload["variables"]] \
        if served.payload["variables"] else []
    lines += ["template:", "  format:", "    kind: jinja2", "  parser:", "    kind: prompty", "---"]
    return "\n".join(lines) + "\n" + "\n\n".join(body) + "\n"


def _safe(value: Any) -> str:
    """A YAML value Prompty's front-matter split cannot cut short: it ends the front matter at the
    first '---' or '+++' anywhere, so those are written as YAML escapes."""
    text = yaml_scalar(value)
    if "---" in text or "+++" in text:
        text = text.replace("-", "\\x2d").replace("+", "\\x2b")
    return text


def _message(served: Served, index: int, step: dict[str, str], found: list[Problem]) -> str:
    text = step["text"]
    where = ("payload", "steps", index, "text")
    if text.startswith("\n"):
        found.append(served.problem("PL821", f"steps[{index}] ({step['name']}) starts with a blank line, which Prompty "
                                    "drops from a message; remove it (in the prompt's text) and promote again", *where))
    odd = [char for char in LINE_BREAKS if char in text]
    if odd:
        found.append(served.problem("PL821", f"steps[{index}] ({step['name']}) holds {odd[0]!r}, a line break to Prompty "
                                    "but not to promptlane; remove it", *where))
    for number, line in enumerate(text.split("\n"), 1):
        if ROLE_LINE.match(line):
            found.append(served.problem("PL821", f"steps[{index}] ({step['name']}) line {number}: {line.strip()!r} would start "
                                        "a new message in Prompty; reword that line", *where))
    return f"{step['role']}:\n" + written(text, _literal)


def _literal(value: str, before_placeholder: bool) -> str:
    # A '{' that Jinja would read as the start of a tag is written as the expression {{ '{' }};
    # so is a last '{' before a placeholder, whose own '{{' would make it one.
    escaped = re.sub(r"\{(?=[{%#])", "{{ '{' }}", value)
    if escaped.endswith("{") and before_placeholder:
        escaped = escaped[:-1] + "{{ '{' }}"
    return escaped


def _prompty_1_model(model: dict[str, Any]) -> str:
    """What to write instead of Prompty 1's model block (configuration:, parameters:), which
    Prompty 2 (and so promptlane) no longer reads, with the file's own values where it has them."""
    configuration = _mapping(model.get("configuration"))
    name = configuration.get("name") or configuration.get("azure_deployment") or "gpt-4o-mini"
    provider = configuration.get("type") or "openai"
    parameters = _mapping(model.get("parameters"))
    theirs = {card: option for option, card in OPTIONS.items()}  # max_tokens -> maxOutputTokens, ...
    options = ", ".join(f"{theirs.get(key, key)}: {value}" for key, value in parameters.items())
    return (f"model: configuration: and parameters: are Prompty 1's spelling, which Prompty 2 no longer reads; write "
            f"model: {{id: {name}, provider: {provider}" + (f", options: {{{options}}}" if options else "") + "}")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
