"""Google Dotprompt (``.prompt``, Firebase Genkit's format; ``dotpromptz`` in Python), pure.

A ``.prompt`` file is YAML front matter between ``---`` lines (model ``provider/name``, config,
input schema in Picoschema), then a Handlebars body whose ``{{role "system"}}`` markers start
the messages. An import takes ``{{name}}`` / ``{{{name}}}``, ``{{role ...}}``, ``\\{{`` escapes
and ``~`` whitespace control, and refuses every other Handlebars construct. Dotprompt keeps the
line breaks around a role marker inside the message; a card's texts do not carry them (a
text's trailing line breaks are not part of its hash), so an import drops the blank lines at
each message's ends and an export writes markers that add none (``~``), so the messages are
the runtime's exactly.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from promptlane.core.formats.common import (
    NAME, Imported, Refused, Segment, Served, Source, Step, assemble, params_in, params_out,
    provider_and_name, split_text, yaml_map, yaml_scalar,
)
from promptlane.core.problems import Problem

# dotpromptz._parse.FRONTMATTER_AND_BODY_REGEX (license '#' lines may come first).
FRONT_MATTER = re.compile(r"^(?:(?:#[^\n]*|[ \t]*)\n)*---\s*\n([\s\S]*?)\n---\s*\n([\s\S]*)$")
CONFIG = {"temperature": "temperature", "maxOutputTokens": "max_tokens", "topP": "top_p", "topK": "top_k",
          "stopSequences": "stop"}
ROLE_NAMES = {"system": "system", "user": "user", "model": "assistant"}
MARKERS = "<<<dotprompt:"
PICO_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\?)?(?:\((\w+)\))?\Z")
TEXT_TYPES = ("string", "number", "integer", "any")
HELPERS = {"history": "PL808", "media": "PL808", "section": "PL808", "json": "PL804", "ifEquals": "PL804",
           "unlessEquals": "PL804"}


def read(source: Source) -> Imported:
    match = FRONT_MATTER.match(source.text)
    if match is None:
        raise Refused([source.at(0, "PL801", "has no front matter: promptlane needs its model; start the file with "
                                 "'---', model: provider/name, '---'")])
    loaded, at = source.yaml(match.start(1), match.end(1))
    if loaded.problems:
        raise Refused(loaded.problems)
    data = loaded.data if loaded.data is not None else {}
    if not isinstance(data, dict):
        raise Refused([at("PL802", "the front matter must be a YAML mapping (model, config, input)")])
    problems = _unsupported(data, at)
    model = _model(data, at, problems)
    declared = _schema(data, at, problems)
    body = source.text[match.start(2):]
    lead = len(body) - len(body.lstrip())
    steps = _steps(source, match.start(2) + lead, body.strip(), problems)
    if problems:
        raise Refused(problems)
    used = [name for step in steps for name in re.findall(r"\{\{ ([A-Za-z_][A-Za-z0-9_]*) \}\}", step.text)]
    unused = [name for name in declared if name not in used]
    if unused:
        raise Refused([at("PL810", f"input.schema.{name}: declared but no message uses {{{{{name}}}}}; remove it or use it",
                          "input", "schema", key=name) for name in unused])
    notes = [f"{key}: not kept (a card does not carry it)" for key in ("metadata", "ext", "variant") if key in data]
    notes += ["input.default: not kept (promptlane's runtime asks for every variable)"] if _get(data, "input", "default") else []
    return Imported(_text(data.get("name")), _text(data.get("description")), model,
                    list(dict.fromkeys([*declared, *used])), steps, notes=notes)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _get(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _unsupported(data: dict[str, Any], at: Callable[..., Problem]) -> list[Problem]:
    found = [at("PL803", f"{key}: a card has no tools; remove them (promptlane governs the messages only)", key)
             for key in ("tools", "toolDefs") if data.get(key)]
    output = data.get("output")
    if output and (not isinstance(output, dict) or set(output) - {"format"} or output.get("format") not in (None, "text")):
        found.append(at("PL803", "output: a card has no structured output; remove it (or write format: text)", "output"))
    return found


def _model(data: dict[str, Any], at: Callable[..., Problem], found: list[Problem]) -> dict[str, Any]:
    split = provider_and_name(data.get("model"))
    if split is None:
        where = ["model"] if "model" in data else []
        found.append(at("PL811", f"model: {data.get('model')!r} is not provider/name; write e.g. model: openai/gpt-4o-mini", *where))
        split = ("", "")
    config = data.get("config") or {}
    if not isinstance(config, dict):
        found.append(at("PL802", "config must be a mapping (temperature, maxOutputTokens, ...)", "config"))
        config = {}
    return {"provider": split[0], "name": split[1], "params": params_in(config, CONFIG)}


def _schema(data: dict[str, Any], at: Callable[..., Problem], found: list[Problem]) -> list[str]:
    """The variables the input schema declares: Picoschema (``name: string, about``) or JSON Schema."""
    schema = _get(data, "input", "schema")
    if schema is None:
        return []
    if not isinstance(schema, dict):
        found.append(at("PL810", "input.schema: a named schema is not supported; list the variables, e.g. {question: string}",
                        "input", "schema"))
        return []
    if schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
        entries = {name: (spec.get("type") if isinstance(spec, dict) else None) for name, spec in schema["properties"].items()}
        return _declared(entries, at, found, ("input", "schema", "properties"))
    entries = {}
    for key, value in schema.items():
        key_match = PICO_KEY.match(str(key))
        if key_match is None or key_match[3]:
            kind = key_match[3] if key_match else None
            found.append(at("PL810", f"input.schema.{key}: " + (f"a {kind} input is not text; promptlane's runtime renders "
                            "strings and numbers only" if kind else "not a variable name; use letters, digits and _"),
                            "input", "schema", key=str(key)))
            continue
        entries[key_match[1]] = value.split(",")[0].strip() if isinstance(value, str) else None
    return _declared(entries, at, found, ("input", "schema"))


def _declared(entries: dict[str, Any], at: Callable[..., Problem], found: list[Problem], path: tuple[str, ...]) -> list[str]:
    for name, kind in entries.items():
        if not isinstance(name, str) or not NAME.match(name):
            found.append(at("PL810", f"{'.'.join(path)}.{name}: not a variable name; use letters, digits and _", *path))
        elif kind not in TEXT_TYPES:
            found.append(at("PL810", f"{'.'.join(path)}.{name}: type {kind!r} is not text; promptlane's runtime renders "
                            "strings and numbers only (write string)", *path, key=name))
    return list(entries)


def _steps(source: Source, start: int, body: str, found: list[Problem]) -> list[Step]:
    """The messages as Dotprompt makes them: a marker after whitespace only changes the role."""
    messages: list[tuple[str, list[Segment], int]] = [("user", [], start)]
    before = len(found)
    for kind, value, where in _tokens(source, start, body, found):
        if kind != "role":
            messages[-1][1].append((kind, value))
        elif "".join(v for k, v in messages[-1][1] if k == "text").strip() or any(k == "var" for k, _ in messages[-1][1]):
            messages.append((value, [], where))
        else:
            messages[-1] = (value, messages[-1][1], where)
    if len(found) > before:
        return []
    steps = []
    for role, segments, where in messages:
        if not segments:
            continue
        text, _ = assemble(_trimmed(segments), _refusal(source, where))
        steps.append(Step(role, text))
    return steps


def _refusal(source: Source, where: int) -> Callable[[int], Problem]:
    def refuse(_index: int) -> Problem:
        return source.at(where, "PL812", "writes out a {{ name }} as text, which promptlane would fill in; reword it")
    return refuse


def _trimmed(segments: list[Segment]) -> list[Segment]:
    """Without the blank lines (and the marker's line break) at the message's ends."""
    out = [(kind, value) for kind, value in segments if value or kind == "var"]
    if out and out[0][0] == "text":
        out[0] = ("text", re.sub(r"\A(?:[ \t]*\n)+", "", out[0][1]))
    if out and out[-1][0] == "text":
        out[-1] = ("text", re.sub(r"(?:\n[ \t]*)+\Z", "", out[-1][1]))
    return [(kind, value) for kind, value in out if value or kind == "var"]


def _tokens(source: Source, start: int, body: str, found: list[Problem]) -> list[tuple[str, str, int]]:
    """The body as ("text", literal), ("var", name) and ("role", role) tokens, each with its offset.
    Handlebars' escapes: ``\\{{`` is a literal ``{{``, ``\\\\{{`` a backslash before a tag."""
    tokens: list[tuple[str, str, int]] = []
    position = 0
    strip_next = False
    while True:
        index = body.find("{{", position)
        literal = body[position:index if index >= 0 else len(body)]
        if index >= 0 and body[index - 1:index] == "\\" and body[index - 2:index] != "\\\\":
            tokens.append(("text", _lstrip(literal[:-1], strip_next) + "{{", start + position))
            strip_next, position = False, index + 2
            continue
        if index >= 0 and body[index - 2:index] == "\\\\":
            literal = literal[:-1]
        if index < 0:
            tokens.append(("text", _lstrip(literal, strip_next), start + position))
            return tokens
        end = body.find("}}", index + 2)
        if end < 0:
            found.append(source.at(start + index, "PL802", "'{{' is never closed with '}}'"))
            return tokens
        close = end + 3 if body.startswith("}}}", end) and body.startswith("{{{", index) else end + 2
        tag = body[index:close]
        inner = tag.strip("{}")
        if inner.startswith("~"):
            literal = literal.rstrip()
        tokens.append(("text", _lstrip(literal, strip_next), start + position))
        strip_next = inner.endswith("~")
        token = _tag(source, start + index, tag, inner.strip("~").strip(), found)
        if token is not None:
            tokens.append((*token, start + index))
        position = close


def _lstrip(text: str, strip: bool) -> str:
    return text.lstrip() if strip else text


def _tag(source: Source, where: int, tag: str, inner: str, found: list[Problem]) -> tuple[str, str] | None:
    first = inner[:1]
    if first == "!":
        found.append(source.at(where, "PL807", f"{tag}: a template comment has no place in a card's text; remove it"))
    elif first == ">":
        found.append(source.at(where, "PL806", f"{tag}: a partial has no place in a card; write its text in the message"))
    elif first in ("#", "/", "^") or inner.split(" ")[0] == "else":
        found.append(source.at(where, "PL804", f"{tag}: template logic (blocks such as #if and #each) has no place in a "
                               "card, whose texts are plain with {{ name }} placeholders; write the text it renders"))
    elif NAME.match(inner) and inner not in HELPERS and inner != "this":
        return ("var", inner)
    else:
        words = inner.split()
        role = re.fullmatch(r"""role\s+(?:"([a-z]+)"|'([a-z]+)')""", inner)
        if role and (role[1] or role[2]) in ROLE_NAMES:
            return ("role", ROLE_NAMES[role[1] or role[2]])
        if role:
            found.append(source.at(where, "PL809", f"{tag}: the role {role[1] or role[2]!r} has no place on a card; use "
                                   "system, user or model"))
        elif words and words[0] in HELPERS:
            code = HELPERS[words[0]]
            what = "media, history and sections" if code == "PL808" else "helpers"
            found.append(source.at(where, code, f"{tag}: {what} have no place in a card's text; write plain text "
                                   "with {{ name }} placeholders"))
        else:
            found.append(source.at(where, "PL805", f"{tag}: not a plain variable (paths, @data and helpers with "
                                   "arguments have no place in a card); write {{name}}"))
    return None


# ---------------------------------------------------------------------------------- export


def write(served: Served) -> str:
    problems: list[Problem] = []
    steps = served.steps
    for index, step in enumerate(steps):
        _check(served, index, step, last=index == len(steps) - 1, found=problems)
    if problems:
        raise Refused(problems)
    model = served.payload["model"]
    lines = ["---", f"name: {yaml_scalar(served.prompt_id)}", f"version: {yaml_scalar(served.version)}",
             f"description: {yaml_scalar(served.stamp())}",
             f"model: {yaml_scalar(model['provider'] + '/' + model['name'])}"]
    if served.params:
        lines.append(f"config: {yaml_map(params_out(served.params, CONFIG))}")
    if served.payload["variables"]:
        lines += ["input:", "  schema:"] + [f"    {name}: string" for name in served.payload["variables"]]
    lines.append("---")
    return "\n".join(lines) + "\n" + _body(steps) + "\n"


def _body(steps: list[dict[str, str]]) -> str:
    """Each marker on a line of its own, its '~' eating the line breaks around it when the text
    next to it starts (or ends) with something else than whitespace; inline otherwise."""
    out = []
    for index, step in enumerate(steps):
        text = _escaped(step["text"])
        role = {"assistant": "model"}.get(step["role"], step["role"])
        left = "~" if index and not steps[index - 1]["text"][-1:].isspace() else ""
        right = " ~" if text[:1] and not text[:1].isspace() else ""
        gap = "\n\n" if left else ""
        out.append(f"{gap}{{{{{left}role \"{role}\"{right}}}}}" + ("\n" if right else "") + text)
    return "".join(out)


def _escaped(text: str) -> str:
    out = []
    segments = split_text(text)
    for index, (kind, value) in enumerate(segments):
        if kind == "var":
            out.append("{{" + value + "}}")
            continue
        value = value.replace("{{", "\\{{")
        if index + 1 < len(segments) and value.endswith("\\"):
            value += "\\"  # '\\{{' is a backslash, then the tag
        out.append(value)
    return "".join(out)


def _check(served: Served, index: int, step: dict[str, str], last: bool, found: list[Problem]) -> None:
    text = step["text"]
    where = ("payload", "steps", index, "text")
    name = f"steps[{index}] ({step['name']})"
    if not text.strip():
        found.append(served.problem("PL821", f"{name} is empty or only whitespace, which Dotprompt merges into the next "
                                    "message; give it text", *where))
    if MARKERS in text:
        found.append(served.problem("PL821", f"{name} holds '{MARKERS}', which Dotprompt reads as a marker; reword it", *where))
    if _bad_backslash(text):
        found.append(served.problem("PL821", f"{name} has a backslash before '{{{{' that Handlebars would read as an "
                                    "escape; reword it", *where))
    segments = split_text(text)
    if any(kind == "text" and value.endswith("{") and index + 1 < len(segments) for index, (kind, value) in enumerate(segments)):
        found.append(served.problem("PL821", f"{name} has a '{{' right before a placeholder, which Handlebars would read "
                                    "as '{{{': put a space between them", *where))
    if last and text != text.rstrip():
        found.append(served.problem("PL821", f"{name} ends with whitespace, which Dotprompt strips from the end of a "
                                    "template; remove it", *where))


def _bad_backslash(text: str) -> bool:
    """A backslash run before '{{' that _escaped cannot write: more than one before a placeholder,
    or any before a literal '{{'."""
    segments = split_text(text)
    for index, (kind, value) in enumerate(segments):
        if kind != "text":
            continue
        if re.search(r"\\\{\{", value):
            return True
        run = len(value) - len(value.rstrip("\\"))
        if index + 1 < len(segments) and run > 1:
            return True
    return False
