"""Reading trace logs back and validating them (`promptlane log validate FILE...`).

A log is JSON Lines (what ``trace`` writes), one JSON record, or a JSON array of records
(the template's logs/log-sample.output.json). Each record is reported at the line it starts
on, or at the line of the offending field when it can be found, as
``FILE:LINE:1: PL58x record N: field: message``.

Codes: PL580 the file is not UTF-8 or not JSON (or nested too deeply to read); PL581 a record
is not a JSON object; PL582 a record violates logs/prompt-log-schema.json.
Line numbers come from one index of the text's line starts, so a log of any size is read in
linear time (a count from the start of the file per record was quadratic).
jsonschema is imported only when validating: the runtime itself never needs it.
"""
from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from promptlane.core.problems import Problem

LOG_SCHEMA = "logs/prompt-log-schema.json"
_SPACE = re.compile(r"[ \t\r\n]*")


def _skip_space(text: str, pos: int) -> int:
    """The offset after the whitespace at ``pos`` (``_SPACE`` matches the empty string, so it always matches)."""
    match = _SPACE.match(text, pos)
    return match.end() if match is not None else pos


@dataclass
class Entry:
    number: int        # 1-based record number
    line: int          # where the record starts
    start: int         # offsets of its text, to find a field's line
    end: int
    value: Any


class LogSchemaError(ValueError):
    """The schema cannot be used (a ``$ref`` that resolves to nothing): the caller names the file."""


class LogSyntaxError(ValueError):
    def __init__(self, line: int, message: str, pos: int = 0):
        super().__init__(message)
        self.line = line
        self.pos = pos  # offset of the error: reading resumes after its line


TOO_DEEP = "not valid JSON (nested too deeply to read)"


class Lines:
    """Line numbers of offsets in one text: its newline offsets, found once, then a binary search."""

    def __init__(self, text: str):
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> int:
        return bisect_right(self.newlines, offset - 1) + 1

    def where(self, offset: int) -> tuple[int, int]:
        """(line, column) of ``offset``, both counted from 1."""
        line = self.at(offset)
        return line, offset - (self.newlines[line - 2] + 1 if line > 1 else 0) + 1


def _decode(text: str, pos: int, decoder: json.JSONDecoder, lines: Lines) -> tuple[Any, int]:
    """One JSON value at ``pos``; LogSyntaxError (at the line of the error) when there is none.

    The value is decoded from a window of whole lines that doubles until the value fits (one
    line for JSON Lines): a failure then costs the window, not a count of every line before it
    (which json's own error does), so reading stays linear in the size of the log. A value
    that breaks before the end of its window breaks the same way in the whole text."""
    first = lines.at(pos) - 1  # index of the newline that ends pos's line
    span = 1
    try:
        while True:
            last = first + span - 1
            stop = lines.newlines[last] if last < len(lines.newlines) else len(text)
            window = text[pos:stop]
            try:
                value, end = decoder.raw_decode(window)
                return value, pos + end
            except json.JSONDecodeError as exc:
                if stop == len(text) or _skip_space(window, exc.pos) < len(window):
                    at = pos + exc.pos
                    raise LogSyntaxError(lines.at(at), f"not valid JSON ({exc.msg})", at) from None
            span *= 2  # it goes on past the window (a pretty-printed record), or its line ends early
    except RecursionError:
        raise LogSyntaxError(lines.at(pos), TOO_DEEP, pos) from None


def _values(text: str, pos: int, decoder: json.JSONDecoder, lines: Lines) -> Iterator[tuple[int, int, Any]]:
    """Concatenated JSON values (JSON Lines, or pretty-printed records one after another).
    A broken line is yielded as a LogSyntaxError and reading resumes on the next line, so
    one torn write does not hide the records after it."""
    pos = _skip_space(text, pos)
    while pos < len(text):
        try:
            value, end = _decode(text, pos, decoder, lines)
        except LogSyntaxError as exc:
            yield pos, pos, exc
            newline = text.find("\n", exc.pos)
            end = len(text) if newline < 0 else newline
        else:
            yield pos, end, value
        pos = _skip_space(text, end)


def _array_items(text: str, pos: int, decoder: json.JSONDecoder, lines: Lines) -> Iterator[tuple[int, int, Any]]:
    """The elements of a top-level array, each with its offsets (json.loads loses them)."""
    pos = _skip_space(text, pos + 1)
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            value, end = _decode(text, pos, decoder, lines)
            yield pos, end, value
            pos = _skip_space(text, end)
            if text.startswith(",", pos):
                pos = _skip_space(text, pos + 1)
                continue
            if text.startswith("]", pos):
                pos += 1
                break
            raise LogSyntaxError(lines.at(pos), "not valid JSON (expected ',' or ']' after a record)", pos)
    rest = _skip_space(text, pos)
    if rest < len(text):
        raise LogSyntaxError(lines.at(rest), "not valid JSON (text after the closing ']')", rest)


def read_entries(text: str, lines: Lines | None = None) -> list[Entry]:
    """Every record of a log's text with where it starts. A record that is not JSON has a
    LogSyntaxError as its value; a broken array raises LogSyntaxError."""
    lines = lines or Lines(text)
    decoder = json.JSONDecoder()
    start = _skip_space(text, 0)
    read = _array_items if text.startswith("[", start) else _values
    return [Entry(n, lines.at(a), a, b, value) for n, (a, b, value) in enumerate(read(text, start, decoder, lines), start=1)]


def _field_where(text: str, entry: Entry, path: list, lines: Lines) -> tuple[int, int]:
    """(line, column) of the deepest named field of ``path`` inside the record, else of its start."""
    at = entry.start
    for name in (p for p in path if isinstance(p, str)):
        key = re.compile(re.escape(json.dumps(name, ensure_ascii=False)) + r"\s*:")
        match = key.search(text, at, entry.end)
        if match is None:
            break
        at = match.start()
    return lines.where(at)


def _dotted(path: list) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _messages(error) -> list[tuple[list, str]]:
    """(path, message) for one schema error; a missing field is named as the field."""
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return [(path + [name], "is required") for name in missing]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        return [(path + [name], "is not a field of the trace schema") for name in sorted(set(error.instance) - known)]
    if error.validator == "dependentRequired" and isinstance(error.instance, dict):
        return [(path + [name], f"needs {', '.join(d for d in needs if d not in error.instance)} too")
                for name, needs in error.validator_value.items()
                if name in error.instance and any(d not in error.instance for d in needs)]
    schema_path = list(error.absolute_schema_path)
    if error.validator == "not" and "dependentSchemas" in schema_path and isinstance(error.instance, dict):
        # {"dependentSchemas": {owner: {"not": {"anyOf": [{"required": [field]}, ...]}}}}: fields owner excludes
        owner = schema_path[schema_path.index("dependentSchemas") + 1]
        excluded = [name for sub in error.validator_value.get("anyOf", [error.validator_value])
                    for name in sub.get("required", []) if name in error.instance]
        return [(path + [name], f"is not allowed in a record with {owner}") for name in excluded]
    # Python reprs in jsonschema messages read oddly in a JSON file: None is null there.
    return [(path, re.sub(r"^None is", "null is", error.message))]


def validate_text(text: str, schema: dict | bool, shown_as: str) -> tuple[int, list[Problem]]:
    """(records read, problems) of one log's text."""
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry
    from referencing.exceptions import Unresolvable

    lines = Lines(text)
    try:
        entries = read_entries(text, lines)
    except LogSyntaxError as exc:
        return 0, [Problem(shown_as, *lines.where(exc.pos), "PL580", str(exc))]
    # An empty registry: a $ref is resolved inside the schema only, never fetched from the network.
    validator = Draft202012Validator(schema, registry=Registry(), format_checker=FormatChecker())
    problems = []
    for entry in entries:
        if isinstance(entry.value, LogSyntaxError):
            problems.append(Problem(shown_as, *lines.where(entry.value.pos), "PL580", f"record {entry.number}: {entry.value}"))
            continue
        if not isinstance(entry.value, dict):
            problems.append(Problem(shown_as, *lines.where(entry.start), "PL581", f"record {entry.number}: is not a JSON object"))
            continue
        try:
            errors = list(validator.iter_errors(entry.value))
        except RecursionError:
            problems.append(Problem(shown_as, *lines.where(entry.start), "PL582", f"record {entry.number}: nested too deeply to check against the schema"))
            continue
        except Unresolvable as exc:
            raise LogSchemaError(f"$ref {exc.ref!r} resolves to nothing (references are followed inside the schema only)") from None
        for error in errors:
            for path, message in _messages(error):
                line, col = _field_where(text, entry, path, lines)
                problems.append(Problem(shown_as, line, col, "PL582", f"record {entry.number}: {_dotted(path) or '(record)'}: {message}"))
    return len(entries), problems


def validate_file(path: Path, schema: dict | bool, shown_as: str) -> tuple[int, list[Problem]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return 0, [Problem(shown_as, raw.count(b"\n", 0, exc.start) + 1, 1, "PL580", "is not UTF-8")]
    return validate_text(text, schema, shown_as)
