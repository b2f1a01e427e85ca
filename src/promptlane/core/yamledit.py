"""Edits of a YAML mapping's text in place (pure): top-level keys set, removed or appended,
every other character kept as the user wrote it (comments, quotes, flow or block style,
indentation, blank lines).

A changed value is rewritten scalar by scalar at its place in the text, in the quote style it
had. ``edit_in_place`` returns None when that cannot express the change (a key or list item
added or removed inside a value, a new key whose value is not a scalar) or when the edited
text would not load back as exactly the intended data; the caller then re-serialises the
document round-trip (store/cardwrite.py), which keeps less of the user's layout.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from promptlane.core.yamltext import load

Edit = tuple[int, int, str]  # replace text[start:end] with the string


class _Reshaped(Exception):
    """The new value does not have the old one's shape: no edit in place expresses it."""


def edit_in_place(text: str, values: Mapping[str, Any], remove: Sequence[str] = (), comment: str | None = None) -> str | None:
    """``text`` with the top-level ``values`` set and ``remove`` deleted; a key not there yet is
    appended at the end (after ``# comment`` when the mapping had keys); None: see the module."""
    loaded = load(text, "edit")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)  # the pure-Python reader: marks count characters
    except yaml.YAMLError:
        return None
    if loaded.problems or not isinstance(loaded.data, dict) or not isinstance(root, yaml.MappingNode):
        return None
    data: dict[str, Any] = loaded.data
    top = {k.value: (k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode)}
    edits: list[Edit] = []
    try:
        for key, value in values.items():
            if key in top:
                _diff(top[key][1], data[key], value, edits)
        edits += [_removal(text, *top[key]) for key in remove if key in top and key not in values]
        out = _apply(text, edits)
        out += _appended(out, {k: v for k, v in values.items() if k not in top}, comment if top else None)
    except _Reshaped:
        return None
    expected = {k: v for k, v in data.items() if k not in remove}
    expected.update(values)
    again = load(out, "edit")
    return out if not again.problems and _same(again.data, expected) else None


def _same(a: Any, b: Any) -> bool:
    """Equal data, types included (Python says True == 1 == 1.0; YAML does not)."""
    if isinstance(a, dict) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _diff(node: yaml.Node, current: Any, new: Any, edits: list[Edit]) -> None:
    """Queue the scalar edits that turn ``current`` (the data of ``node``) into ``new``."""
    if _same(current, new):
        return
    if isinstance(node, yaml.MappingNode) and isinstance(current, dict) and isinstance(new, Mapping):
        if current.keys() != new.keys():
            raise _Reshaped
        for key_node, value_node in node.value:
            _diff(value_node, current[key_node.value], new[key_node.value], edits)
    elif isinstance(node, yaml.SequenceNode) and isinstance(current, list) and isinstance(new, (list, tuple)):
        if len(current) != len(new):
            raise _Reshaped
        for item_node, old, item in zip(node.value, current, new, strict=True):
            _diff(item_node, old, item, edits)
    elif isinstance(node, yaml.ScalarNode) and not isinstance(new, (Mapping, list, tuple)):
        edits.append((node.start_mark.index, node.end_mark.index, scalar_text(new, node.style)))
    else:
        raise _Reshaped


def scalar_text(value: Any, style: str | None = None) -> str:
    """``value`` as a YAML scalar: in ``style`` ('"' or "'") if it had one, plain when that
    reads back as the same text, else double-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if not isinstance(value, str):
        raise _Reshaped
    if style == "'" and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    if style != '"' and _plain(value):
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _plain(value: str) -> bool:
    """Written unquoted, ``value`` reads back as itself, in block and in flow context."""
    if not value or value.strip() != value or value[0] in "-?:#&*!|>'\"%@`" or any(c in value for c in "\n,[]{}"):
        return False
    if ": " in value or " #" in value or value.endswith(":"):
        return False
    try:
        return bool(yaml.safe_load(value) == value)
    except yaml.YAMLError:
        return False


def _removal(text: str, key: yaml.Node, value: yaml.Node) -> Edit:
    """The lines of a top-level key and its value (a trailing comment on them included)."""
    end = value.end_mark.index
    if value.end_mark.column != 0:  # a block collection ends at the start of the next line already
        newline = text.find("\n", end)
        end = len(text) if newline < 0 else newline + 1
    return key.start_mark.index - key.start_mark.column, end, ""


def _apply(text: str, edits: list[Edit]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _appended(text: str, new: Mapping[str, Any], comment: str | None) -> str:
    if not new:
        return ""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = [f"# {comment}"] if comment else []
    for key, value in new.items():
        if isinstance(value, (Mapping, list, tuple)):
            raise _Reshaped
        lines.append(f"{scalar_text(key)}: {scalar_text(value)}")
    lead = "" if not text or text.endswith("\n") else newline
    return lead + newline.join(lines) + newline
