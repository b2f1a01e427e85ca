"""Rewrites of a card's managed block (and, for a rollback, its model, variables and steps).

Every line the change does not touch stays byte for byte as the user wrote it: the values are
edited in place in the text (core/yamledit.py). Only a change of shape (a key or a step added
or removed) re-serialises the card with ruamel.yaml, which keeps comments, key order, quotes
and the flow style of every collection it does not replace.
"""
from __future__ import annotations

import io
from typing import Any, Mapping

from promptlane.core.yamledit import edit_in_place

MANAGED_COMMENT = "---- managed block (schemas/prompt-version-schema.yml); promptlane writes it ----"


def round_trip_yaml():
    """ruamel.yaml set up to keep comments, quotes, key order and long lines."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a user's long lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def update_card(text: str, values: Mapping[str, object], remove: tuple[str, ...] = (),
                instead: Mapping[str, str] | None = None) -> str:
    """``text`` with ``values`` set (added at the end, under the managed comment, if new).
    ``instead``: {new key: old key}, a new key put where the old one was, which goes (a
    rollback between a card's ``steps:`` and a chain's ``calls:``)."""
    swaps = {new: old for new, old in (instead or {}).items() if new in values and old in remove}
    edited = None if swaps and _has_keys(text, swaps.values()) else edit_in_place(text, values, remove, comment=MANAGED_COMMENT)
    return edited if edited is not None else _round_trip(text, values, remove, swaps)


def _dumped(yaml: Any, doc: Any) -> str:
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _has_keys(text: str, keys: Any) -> bool:
    """Whether the card's top level has any of ``keys``."""
    from promptlane.core.yamltext import load

    data = load(text, "card").data
    return isinstance(data, dict) and any(key in data for key in keys)


def _round_trip(text: str, values: Mapping[str, object], remove: tuple[str, ...],
                swaps: Mapping[str, str] | None = None) -> str:
    yaml = round_trip_yaml()
    doc = yaml.load(text)
    for new, old in (swaps or {}).items():
        if old in doc and new not in doc:
            keys = list(doc)
            after = keys[keys.index(old) + 1] if keys.index(old) + 1 < len(keys) else None
            doc.insert(keys.index(old), new, _compact(values[new]))
            del doc[old]  # the comments after its last line go with it: the managed block's is put back
            if after is not None and MANAGED_COMMENT in text and MANAGED_COMMENT not in _dumped(yaml, doc):
                doc.yaml_set_comment_before_after_key(after, before=MANAGED_COMMENT)
    missing = [key for key in values if key not in doc]
    for key in remove:
        if key in doc and key not in values:
            del doc[key]
    for key, value in values.items():
        _merge(doc, key, value)
    if missing and len(doc) > len(missing):
        first_new = list(doc.keys())[len(doc) - len(missing)]
        doc.yaml_set_comment_before_after_key(first_new, before=MANAGED_COMMENT)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _merge(container: Any, key: Any, value: Any) -> None:
    """Set ``container[key]`` by changing only what differs, so untouched nodes keep their
    comments and style; a replaced collection takes the flow style of the one it replaces."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    old = container[key] if _has(container, key) else None
    if old == value and type(old) is not bool and type(value) is not bool:
        return
    if isinstance(old, CommentedMap) and isinstance(value, Mapping):
        for gone in [k for k in old if k not in value]:
            del old[gone]
        for k, v in value.items():
            _merge(old, k, v)
    elif isinstance(old, CommentedSeq) and isinstance(value, list) and len(old) == len(value):
        for index, item in enumerate(value):
            _merge(old, index, item)
    else:
        container[key] = _styled_like(old, value)


def _compact(value: Any) -> Any:
    """``value`` as ruamel nodes in a card's usual style: a mapping or list of scalars on one
    line (``{name: system, role: system, file: system.md}``), anything that holds more in blocks."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if not isinstance(value, (Mapping, list)):
        return value
    items = value.values() if isinstance(value, Mapping) else value
    node: Any = (CommentedMap((k, _compact(v)) for k, v in value.items()) if isinstance(value, Mapping)
                 else CommentedSeq(_compact(v) for v in value))
    if not any(isinstance(item, (Mapping, list)) for item in items):
        node.fa.set_flow_style()
    return node


def _has(container: Any, key: Any) -> bool:
    return key in container if isinstance(container, Mapping) else 0 <= key < len(container)


def _styled_like(old: Any, value: Any) -> Any:
    """``value`` as ruamel nodes in the flow or block style of ``old`` (items like its first)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    flow = bool(getattr(old, "fa", None) and old.fa.flow_style())
    if isinstance(value, Mapping):
        node: Any = CommentedMap((k, _styled_like(old.get(k) if isinstance(old, Mapping) else None, v)) for k, v in value.items())
    elif isinstance(value, list):
        like = old[0] if isinstance(old, list) and old else None
        node = CommentedSeq(_styled_like(like, item) for item in value)
    else:
        return value
    if flow:
        node.fa.set_flow_style()
    return node
