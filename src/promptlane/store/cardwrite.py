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


def update_card(text: str, values: Mapping[str, object], remove: tuple[str, ...] = ()) -> str:
    """``text`` with ``values`` set (added at the end, under the managed comment, if new)."""
    edited = edit_in_place(text, values, remove, comment=MANAGED_COMMENT)
    return edited if edited is not None else _round_trip(text, values, remove)


def _round_trip(text: str, values: Mapping[str, object], remove: tuple[str, ...]) -> str:
    yaml = round_trip_yaml()
    doc = yaml.load(text)
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
