"""What the three formats share (pure): the prompt an import yields, the version an export
writes, where a finding is in the file it came from, placeholders and model parameters."""
from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from promptlane.core.calls import Call, calls_of
from promptlane.core.card import LOOSE as CARD_LOOSE
from promptlane.core.card import PLACEHOLDER as CARD_PLACEHOLDER
from promptlane.core.problems import Problem
from promptlane.core.yamltext import Loaded, load, locate

# What the runtime substitutes (runtime/prompt.PLACEHOLDER; the runtime may not be imported by
# the core, tests/test_interop_formats.py checks the two are the same): ``{{ name }}`` only, the
# card's own grammar (core/card.PLACEHOLDER) since looser forms are refused (PL145).
RUNTIME_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
ROLES = ("system", "user", "assistant")


class Refused(Exception):
    """The file (or the served version) cannot be converted; ``problems`` say where and why."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass
class Step:
    role: str
    text: str  # promptlane's text: placeholders written ``{{ name }}``


@dataclass
class Imported:
    """A prompt read from another tool's file: what goes on the card, its texts and tests."""

    title: str | None
    description: str | None
    model: dict[str, Any]          # {"provider", "name", "params"}
    variables: list[str]
    steps: list[Step]
    tests: list[dict[str, Any]] | None = None   # promptfoo test cases (from a .prompt.yml's testData)
    notes: list[str] = field(default_factory=list)  # what was left out, said to the user


@dataclass
class Served:
    """The version an environment serves, as its snapshot (``registry/store/<id>/<v>.json``) holds it."""

    prompt_id: str
    version: str
    hash: str
    environment: str
    title: str
    payload: dict[str, Any]
    rel: str      # the snapshot, for problems
    text: str     # the snapshot's JSON text (JSON is YAML: problems are placed by yamltext.locate)

    def problem(self, code: str, message: str, *path: Any) -> Problem:
        where = locate(self.text, list(path))
        return Problem(self.rel, where.line, where.col, code, message)

    def one_call(self, kind: str = "Prompty, Dotprompt or .prompt.yml") -> Call:
        """The served version's model call. The three formats hold one model call each, so a
        chain (``promptlane-chain/1``, core/calls.py) is refused (PL823): ``kind`` names the
        format in the message."""
        found = calls_of(self.payload)
        if len(found) == 1:
            return found[0]
        names = ", ".join(str(call.name) for call in found)
        raise Refused([self.problem("PL823", (
            f"{self.prompt_id} {self.version} is a chain of {len(found)} model calls ({names}); a {kind} file holds "
            "one model call, so the chain cannot be written as one. Keep it in promptlane (the runtime runs it: "
            "prompt.run(call_model, ...)), or copy each call's texts into a file of its own by hand"), "payload", "calls")])

    @property
    def model(self) -> dict[str, Any]:
        model: dict[str, Any] = self.one_call().model
        return model

    @property
    def steps(self) -> list[dict[str, str]]:
        steps: list[dict[str, str]] = self.one_call().steps
        return steps

    @property
    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = self.model.get("params") or {}
        return params

    def stamp(self) -> str:
        return f"promptlane {self.prompt_id} {self.version} as {self.environment} serves it ({self.hash})"


class Source:
    """A file being imported: its name as the user gave it and its text (line endings LF)."""

    def __init__(self, rel: str, text: str):
        self.rel = rel
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")

    def at(self, offset: int, code: str, message: str) -> Problem:
        line = self.text.count("\n", 0, offset) + 1
        col = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return Problem(self.rel, line, col, code, message)

    def yaml(self, start: int, end: int) -> tuple[Loaded, Callable[..., Problem]]:
        """The YAML between two offsets (a front matter, or the whole file), and a function that
        places a problem at a key path inside it, in the whole file's lines."""
        chunk = self.text[start:end]
        first_line = self.text.count("\n", 0, start)
        loaded = load(chunk, self.rel)

        def shift(p: Problem) -> Problem:
            return Problem(p.path, p.line + first_line, p.col, p.code, p.message)

        loaded.problems = [shift(p) for p in loaded.problems]

        def problem(code: str, message: str, *path: Any, key: str | None = None) -> Problem:
            where = locate(chunk, list(path), key)
            return shift(Problem(self.rel, where.line, where.col, code, message))

        return loaded, problem

    def mapping(self, start: int, end: int, shape: str) -> tuple[dict[str, Any], Callable[..., Problem]]:
        """The YAML between two offsets as a mapping (``shape`` names its keys when it is not
        one), and ``yaml``'s function that places a problem at a key; refused when unreadable."""
        loaded, at = self.yaml(start, end)
        if loaded.problems:
            raise Refused(loaded.problems)
        data = loaded.data if loaded.data is not None else {}
        if not isinstance(data, dict):
            raise Refused([at("PL802", f"must be a YAML mapping: {shape}")])
        return data, at


def inside_scalar(text: str, line: int, col: int, value: str, offset: int) -> tuple[int, int]:
    """Where ``value[offset:]`` is in ``text``, for the YAML scalar ``value`` that starts at
    ``line``:``col``: exact for a literal block (``|``) and a one-line plain or quoted scalar
    whose text is written as it reads; the scalar's start otherwise."""
    lines = text.split("\n")
    here = lines[line - 1] if line <= len(lines) else ""
    mark = here[col - 1:col]
    before = value[:offset]
    if mark == "|":
        row = line + before.count("\n")
        following = lines[row] if row < len(lines) else ""
        indent = next((len(x) - len(x.lstrip(" ")) for x in lines[line:] if x.strip()), 0)
        at = len(before) - (before.rfind("\n") + 1)
        if following[indent + at:].startswith(value[offset:offset + 2]):
            return row + 1, indent + at + 1
    elif "\n" not in before:
        start = col if mark in ("'", '"') else col - 1
        if here[start:start + offset] == before:
            return line, start + offset + 1
    return line, col


def step_names(steps: Sequence[Step]) -> list[str]:
    """A card step name per step: its role, then role-2, role-3 for the same role again."""
    seen: dict[str, int] = {}
    names = []
    for step in steps:
        seen[step.role] = seen.get(step.role, 0) + 1
        names.append(step.role if seen[step.role] == 1 else f"{step.role}-{seen[step.role]}")
    return names


Segment = tuple[str, str]  # ("text", literal) or ("var", name)


def assemble(segments: Sequence[Segment], where: Callable[[int], Problem]) -> tuple[str, list[str]]:
    """A promptlane text from literal text and variables, and the variables in order of first use.
    A literal that promptlane would read as a placeholder (a ``{{ x }}`` the source writes out
    as text) cannot be kept: ``where(index)`` places the refusal at that segment."""
    parts: list[str] = []
    offsets: list[int] = []
    var_starts: set[int] = set()
    used: list[str] = []
    position = 0
    for kind, value in segments:
        offsets.append(position)
        piece = "{{ " + value + " }}" if kind == "var" else value
        if kind == "var":
            var_starts.add(position)
            used += [] if value in used else [value]
        parts.append(piece)
        position += len(piece)
    text = "".join(parts)
    # A ``{{- x -}}`` or ``{{ x | f }}`` kept as text would be refused by check (PL145) too.
    for match in (*CARD_PLACEHOLDER.finditer(text), *CARD_LOOSE.finditer(text)):
        if match.start() not in var_starts:
            raise Refused([where(bisect.bisect_right(offsets, match.start()) - 1)])
    return text, used


def split_text(text: str) -> list[Segment]:
    """A promptlane text as literal runs and the runtime's placeholders, for an export."""
    segments: list[Segment] = []
    last = 0
    for match in RUNTIME_PLACEHOLDER.finditer(text):
        if match.start() > last:
            segments.append(("text", text[last:match.start()]))
        segments.append(("var", match[1]))
        last = match.end()
    if last < len(text):
        segments.append(("text", text[last:]))
    return segments


def written(text: str, escape: Callable[[str, bool], str]) -> str:
    """A step text in a format's syntax: each placeholder as ``{{name}}``, each run of literal
    text through ``escape(run, a_placeholder_follows)``, the format's own escaping."""
    segments = split_text(text)
    return "".join("{{" + value + "}}" if kind == "var" else escape(value, index + 1 < len(segments))
                   for index, (kind, value) in enumerate(segments))


def params_in(options: Mapping[str, Any], table: Mapping[str, str]) -> dict[str, Any]:
    """A format's model options as card params: known names translated, any other kept as it is."""
    return {table.get(key, key): value for key, value in options.items()}


def params_out(params: Mapping[str, Any], table: Mapping[str, str]) -> dict[str, Any]:
    back = {card: theirs for theirs, card in table.items()}
    return {back.get(key, key): value for key, value in params.items()}


def yaml_scalar(value: Any) -> str:
    """A value written as YAML that reads back as the same value (JSON is YAML's flow syntax;
    the characters YAML reads as line breaks, which JSON leaves as they are, are escaped)."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("\x85", "\\u0085").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def yaml_map(value: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{yaml_scalar(k)}: {yaml_scalar(v)}" for k, v in value.items()) + "}"


def slash_model(data: Mapping[str, Any], at: Callable[..., Problem], found: list[Problem], options_key: str,
                options_hint: str, table: Mapping[str, str], keep: Callable[[str], bool] = lambda key: True,
                owner: str = "provider") -> dict[str, Any]:
    """A card's model from ``model: provider/name`` and the mapping of options under
    ``options_key`` (Dotprompt's config, a .prompt.yml's modelParameters), translated by ``table``."""
    split = provider_and_name(data.get("model"))
    if split is None:
        where = ["model"] if "model" in data else []
        found.append(at("PL811", f"model: {data.get('model')!r} is not {owner}/name; write e.g. model: openai/gpt-4o-mini", *where))
        split = ("", "")
    options = data.get(options_key) or {}
    if not isinstance(options, dict):
        found.append(at("PL802", f"{options_key} must be a mapping ({options_hint})", options_key))
        options = {}
    kept = {key: value for key, value in options.items() if keep(key)}
    return {"provider": split[0], "name": split[1], "params": params_in(kept, table)}


def provider_and_name(model: Any) -> tuple[str, str] | None:
    """``provider/name`` (Dotprompt's and GitHub Models' model reference) split at the first '/'."""
    if not isinstance(model, str) or "/" not in model:
        return None
    provider, name = model.split("/", 1)
    return (provider, name) if provider and name else None
