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
    NAME, Imported, Refused, Segment, Served, Source, Step, assemble, params_out,
    slash_model, split_text, written, yaml_map, yaml_scalar,
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
    data, at = source.mapping(match.start(1), match.end(1), "the front matter's model, config, input")
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
    return slash_model(data, at, found, "config", "temperature, maxOutputTokens, ...", CONFIG)


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
        else:  # only whitespace so far: Dotprompt drops it, and the marker only changes the role
            messages[-1] = (value, [], where)
    if len(found) > before:
        return []
    steps = []
    for role, segments, where in messages:
        if all(kind == "text" and not value.strip() for kind, value in segments):
            continue  # Dotprompt drops whitespace between markers: no message (a marker at the end, two in a row)
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
    if all(kind == "text" and not value.strip() for kind, value in out):
        return []  # only whitespace: an empty text
    if out and out[0][0] == "text":
        out[0] = ("text", re.sub(r"\A(?:[^\S\n]*\n)+", "", out[0][1]))
    if out and out[-1][0] == "text":
        out[-1] = ("text", re.sub(r"(?:\n[^\S\n]*)+\Z", "", out[-1][1]))
    return [(kind, value) for kind, value in out if value or kind == "var"]


def _tokens(source: Source, start: int, body: str, found: list[Problem]) -> list[tuple[str, str, int]]:
    """The body as ("text", literal), ("var", name) and ("role", role) tokens, each with its offset,
    read by Handlebars' rules as dotpromptz-handlebars applies them: ``\\{{`` is a literal ``{{``;
    two or more backslashes are one fewer before a tag; ``{{{x}}}`` closes at ``}}}``; ``~``
    strips the whitespace of the text next to the tag."""
    tokens: list[tuple[str, str, int]] = []
    strips: list[tuple[bool, bool]] = []  # per token: (strip the text before, strip the text after)
    position = 0
    while position < len(body):
        index = body.find("{{", position)
        if index < 0:
            tokens.append(("text", body[position:], start + position))
            strips.append((False, False))
            break
        slashes = len(body[position:index]) - len(body[position:index].rstrip("\\"))
        if slashes == 1:
            tokens.append(("text", body[position:index - 1] + "{{", start + position))
            strips.append((False, False))
            position = index + 2
            continue
        tokens.append(("text", body[position:index - slashes] + "\\" * max(slashes - 1, 0), start + position))
        strips.append((False, False))
        tag = _tag_at(source, start, body, index, found)
        if tag is None:
            return []
        text, inner, before, after = tag
        token = _tag(source, start + index, text, inner, found)
        if token is not None:
            tokens.append((*token, start + index))
            strips.append((before, after))
        position = index + len(text)
    return _stripped(tokens, strips)


def _tag_at(source: Source, start: int, body: str, index: int, found: list[Problem]) -> tuple[str, str, bool, bool] | None:
    """The tag at ``index``: its text, its inner words, and whether it strips before and after
    (None, with a problem, when it is a raw block or never closed)."""
    if body.startswith("{{{{", index):
        found.append(source.at(start + index, "PL804", "'{{{{': a raw block has no place in a card; write its text"))
        return None
    triple = body.startswith("{{{", index) or body.startswith("{{~{", index)
    if triple:
        opened = index + (4 if body.startswith("{{~{", index) else 3)
        ends = [(at, closer) for at, closer in ((body.find("}}}", opened), 3), (body.find("}~}}", opened), 4)) if at >= 0]
    else:
        opened = index + 2
        ends = [(at, 2) for at in (body.find("}}", opened),) if at >= 0]
    if not ends:
        found.append(source.at(start + index, "PL802", f"{body[index:index + 3]!r} is never closed with "
                               f"{'}}}' if triple else '}}'}"))
        return None
    end, closer = min(ends)
    inner = body[opened:end]
    before = body.startswith("{{~", index)
    after = closer == 4 or (not triple and inner.endswith("~"))
    inner = inner[1:] if before and not triple else inner
    inner = inner[:-1] if after and not triple else inner
    return body[index:end + closer], inner.strip(), before, after


def _stripped(tokens: list[tuple[str, str, int]], strips: list[tuple[bool, bool]]) -> list[tuple[str, str, int]]:
    """The text next to a tag with ``~`` on that side, without its whitespace."""
    out = list(tokens)
    for index, (before, after) in enumerate(strips):
        if before and index and out[index - 1][0] == "text":
            kind, value, where = out[index - 1]
            out[index - 1] = (kind, value.rstrip(), where)
        if after and index + 1 < len(out) and out[index + 1][0] == "text":
            kind, value, where = out[index + 1]
            out[index + 1] = (kind, value.lstrip(), where)
    return out


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
    served.one_call('Dotprompt')  # a chain is refused (PL823): the file holds one model call
    problems: list[Problem] = []
    steps = served.steps
    for index, step in enumerate(steps):
        _check(served, index, step, last=index == len(steps) - 1, found=problems)
    if problems:
        raise Refused(problems)
    model = served.model
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
    return written(text, _literal)


def _literal(value: str, before_placeholder: bool) -> str:
    value = value.replace("{{", "\\{{")
    if before_placeholder and value.endswith("\\"):
        value += "\\"  # before a tag, N + 1 backslashes are N
    return value


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
    """A backslash before a literal '{{', which Handlebars cannot write: one backslash makes
    the '{{' an escape, more make it a tag."""
    return any(kind == "text" and "\\{{" in value for kind, value in split_text(text))
