"""The card schema (JSON Schema 2020-12) and its errors as located problems."""
from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from promptlane.core.problems import Problem
from promptlane.core.yamltext import locate

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

_TYPE_NAMES = {
    "string": "a string", "number": "a number", "integer": "an integer",
    "boolean": "true or false", "array": "a list", "object": "a mapping", "null": "null",
}


_PATTERN_HINTS = {
    "id": "is not a prompt id: lower-case letters, digits and '-', starting with a letter or digit",
    "file": "must be a file name relative to the card's folder (no leading '/')",
    "version": "is not a version MAJOR.MINOR.PATCH",
    "hash": "is not a hash of the form sha256:<64 hex digits>; run `promptlane sync`",
    "name": "may hold only letters, digits, '_', '.' and '-'",
}


def ecma_anchors(node: Any) -> Any:
    """The schema with each pattern's final ``$`` made ``\\Z``. JSON Schema patterns are
    ECMA-262, where ``$`` ends the string; in Python's ``re`` it also matches before a final
    newline, so ``"1.0.0\\n"`` would pass ``^...$`` and reach code that trusts the pattern."""
    if isinstance(node, dict):
        return {key: (value[:-1] + "\\Z" if key == "pattern" and isinstance(value, str) and value.endswith("$")
                      and not value.endswith("\\$") else ecma_anchors(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [ecma_anchors(item) for item in node]
    return node


def bundled_text(name: str) -> str:
    """A file of promptlane.schemas as promptlane ships it. Read next to the package's module
    (importlib.resources alone costs ~5 ms to import): promptlane is installed as files, from a
    wheel or a checkout."""
    from pathlib import Path

    import promptlane.schemas

    return (Path(promptlane.schemas.__file__).parent / name).read_text(encoding="utf-8")


def read_schema(name: str) -> Any:
    """A bundled schema, its patterns anchored as JSON Schema means them (``ecma_anchors``)."""
    text = bundled_text(name)
    if name.endswith(".json"):
        return ecma_anchors(json.loads(text))
    import yaml

    return ecma_anchors(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))  # noqa: S506 - a safe loader


def offline_validator(schema: Any) -> Draft202012Validator:
    """A validator whose $refs resolve inside the schema only: the empty registry makes sure
    nothing is ever fetched (every bundled schema is self-contained)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry

    return Draft202012Validator(schema, registry=Registry())


@lru_cache(maxsize=None)
def card_validator() -> Draft202012Validator:
    """The card schema's validator (the managed block is ``$defs.versionBlock``)."""
    return offline_validator(read_schema("prompt-card.schema.json"))


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(card)"


def card_problems(data: Any, text: str, shown_as: str) -> Iterator[Problem]:
    """Every schema violation, each at the line of the offending key or value.

    Valid cards (nearly all of them) pass the generated validator alone; only an invalid
    card pays for jsonschema, which reports every error rather than the first.
    """
    from promptlane.core._card_validator import JsonSchemaValueException, validate

    try:
        validate(data)  # type: ignore[no-untyped-call]  # generated (scripts/gen_card_validator.py) without annotations
        return
    except JsonSchemaValueException:
        pass
    errors = sorted(card_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        yield _to_problem(error, text, shown_as)


# ``error``: a jsonschema ValidationError. Any, because its stubs type the fields read here as
# ``X | Unset``, which an error that iter_errors reported never holds.
def _to_problem(error: Any, text: str, shown_as: str) -> Problem:
    path = list(error.absolute_path)
    where = _dotted(path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})), key=str)
        loc = locate(text, path, key=str(extra[0]) if extra else None)
        known = ", ".join(sorted(error.schema.get("properties", {})))
        return Problem(shown_as, loc.line, loc.col, "PL105",
                       f"{where}: unknown key {', '.join(map(repr, extra))}; known keys: {known}")
    if error.validator == "required":
        loc = locate(text, path)
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return Problem(shown_as, loc.line, loc.col, "PL106", f"{where}: missing required key '{missing}'")
    if error.validator == "oneOf" and not path and isinstance(error.instance, dict):  # the card's steps:/calls: choice
        if "steps" in error.instance:
            loc = locate(text, [], key="calls")
            return Problem(shown_as, loc.line, loc.col, "PL103", "(card): has both steps: and calls:; a card is one model "
                           "call (steps:) or a chain of calls (calls:), never both")
        loc = locate(text, path)
        return Problem(shown_as, loc.line, loc.col, "PL106", "(card): missing required key 'steps' (or 'calls' for a chain)")
    loc = locate(text, path)
    if error.validator == "minItems" and path == ["calls"]:
        return Problem(shown_as, loc.line, loc.col, "PL103", f"calls: a chain has at least two calls; write the steps of "
                       f"one call under steps: instead{' (calls: is empty)' if not error.instance else ''}")
    if error.validator == "pattern" and len(path) == 3 and path[0] == "calls" and path[2] == "name":
        return Problem(shown_as, loc.line, loc.col, "PL103", f"{where}: {error.instance!r} is not a call name: lower-case "
                       "letters, digits and '_', not starting with a digit (texts use it as {{ name.output }})")
    if error.validator == "type":
        expected: str | list[str] = error.validator_value  # a "type" keyword: a name or a list of them
        names = " or ".join(_TYPE_NAMES.get(t, t) for t in (expected if isinstance(expected, list) else [expected]))
        if loc.plain_scalar is not None and "string" in (expected if isinstance(expected, list) else [expected]):
            # YAML 1.1 reads 1.10 as the float 1.1: say so rather than coerce silently.
            return Problem(shown_as, loc.line, loc.col, "PL104",
                           f"{where}: {loc.plain_scalar} is read as {error.instance!r}, not text; "
                           f"quote it: '{loc.plain_scalar}'")
        return Problem(shown_as, loc.line, loc.col, "PL103", f"{where}: {error.instance!r} is not {names}")
    if error.validator == "pattern" and path and path[-1] in _PATTERN_HINTS:
        return Problem(shown_as, loc.line, loc.col, "PL103", f"{where}: {error.instance!r} {_PATTERN_HINTS[path[-1]]}")
    if error.validator == "enum":
        choices = ", ".join(map(str, error.validator_value))
        return Problem(shown_as, loc.line, loc.col, "PL103", f"{where}: {error.instance!r} is not one of: {choices}")
    return Problem(shown_as, loc.line, loc.col, "PL103", f"{where}: {error.message}")
