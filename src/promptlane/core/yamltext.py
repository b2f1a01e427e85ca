"""YAML reading for the hot path: libyaml's C parser, strict about the YAML 1.1 traps.

``load`` returns plain data plus the problems the loader noticed (duplicate keys,
``yes``/``no``/``on``/``off`` read as booleans). Line numbers for later (schema) errors are
found by ``locate``, which re-parses only when there is an error to place, so the common
path costs one C parse.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence, cast

import yaml

from promptlane.core.problems import Problem
from promptlane.core.record import field, record

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_BOOLS = {"true", "false", "True", "False", "TRUE", "FALSE"}
_plain_tags: dict[str, str] = {}  # a plain scalar's text -> its resolved tag (_StrictLoader.resolve)
_MEMO_TEXT, _MEMO_SIZE = 64, 20_000  # texts longer than this are resolved each time; the memo's bound


class _StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that records duplicate keys and YAML 1.1 booleans instead of hiding them."""

    def __init__(self, stream: str, path: str):
        super().__init__(stream)
        self.path = path
        self.findings: list[Problem] = []

    # libyaml's parser asks the resolver for the tag of every node it composes: one Python call
    # each, and two more for path resolvers, which promptlane never registers. Without them a
    # plain scalar's tag depends on its text alone, so each short text is resolved once a run.
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is not yaml.ScalarNode or not implicit[0] or len(value) > _MEMO_TEXT:
            return cast(str, super().resolve(kind, value, implicit))
        tag = _plain_tags.get(value)
        if tag is None:
            if len(_plain_tags) >= _MEMO_SIZE:
                _plain_tags.clear()
            tag = _plain_tags[value] = cast(str, super().resolve(kind, value, implicit))
        return tag

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # A node met again is an alias (*name). promptlane's files are plain data: refusing
        # aliases keeps them readable and stops "billion laughs" expansion in later checks.
        if node in self.constructed_objects:
            self._note(node, "PL107", "YAML aliases (*name) are not allowed in promptlane's files; write the value out")
            return None
        return self._build(node, deep)

    def _build(self, node: yaml.Node, deep: bool = False) -> Any:
        """The constructor's value, or None and a PL100 finding at ``node`` when the scalar's
        resolved type cannot hold its text (``2024-13-45`` read as a date, ``!!int abc``):
        PyYAML raises ValueError there."""
        try:
            return _BaseLoader.construct_object(self, node, deep)
        except (ValueError, OverflowError) as exc:
            what = str(node.tag).rsplit(":", 1)[-1]
            shown = node.value if isinstance(node.value, str) else what
            self._note(node, "PL100", f"'{shown}' cannot be read as a YAML {what} ({exc}); quote it if you mean the text")
            return None

    def _note(self, node: yaml.Node, code: str, message: str) -> None:
        mark = node.start_mark
        self.findings.append(Problem(self.path, mark.line + 1, mark.column + 1, code, message))


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    return _mapping(loader, node, _construct_deep)


def _construct_deep(loader: _StrictLoader, node: yaml.Node) -> Any:
    return loader.construct_object(node, deep=True)


def _mapping(loader: _StrictLoader, node: yaml.MappingNode,
             construct: Callable[[_StrictLoader, yaml.Node], Any]) -> dict[Any, Any]:
    """A mapping whose duplicate and unhashable keys are findings, not silent overwrites."""
    result: dict[Any, Any] = {}
    first_seen: dict[Any, int] = {}
    for key_node, value_node in node.value:
        key = construct(loader, key_node)
        try:
            hash(key)
        except TypeError:
            loader._note(key_node, "PL100", "a mapping key must be a plain value")
            continue
        if key in first_seen:
            loader._note(
                key_node, "PL101",
                f"duplicate key '{key}' (first at line {first_seen[key]}); keep one of them",
            )
            continue
        first_seen[key] = key_node.start_mark.line + 1
        result[key] = construct(loader, value_node)
    return result


_STR, _MAP, _SEQ, _BOOL = (f"tag:yaml.org,2002:{name}" for name in ("str", "map", "seq", "bool"))


def _fast_data(loader: _StrictLoader, node: yaml.Node) -> Any:
    """The same data the constructor builds, for a document without anchors or merge keys:
    strings, mappings and sequences directly (nearly every node of a card), every other tag
    through the loader's own constructor. About twice as fast as the generic construction."""
    tag, kind = node.tag, type(node)
    if kind is yaml.ScalarNode:
        if tag == _STR:
            return node.value
        if tag == _BOOL:
            # The casts say what ``kind`` (type(node)) was checked to be; mypy cannot follow ``kind``.
            return _construct_bool(loader, cast(yaml.ScalarNode, node))
    elif kind is yaml.MappingNode and tag == _MAP:
        return _mapping(loader, cast(yaml.MappingNode, node), _fast_data)
    elif kind is yaml.SequenceNode and tag == _SEQ:
        return [_fast_data(loader, child) for child in node.value]
    return loader.construct_object(node, deep=True)  # ints, floats, nulls, dates, sets, unknown tags


def _construct_bool(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
    if node.value in _PLAIN_BOOLS:
        return node.value.lower() == "true"
    # YAML 1.1 reads yes/no/on/off as booleans: never guess what the author meant.
    loader._note(
        node, "PL102",
        f"'{node.value}' is read as a boolean by YAML 1.1; write true/false, "
        f"or quote it ('{node.value}') if you mean the text",
    )
    return node.value


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


class _AnchorFreeLoader(_StrictLoader):
    """For texts without ``&``: no anchor, so no alias can follow (an alias to an undefined
    anchor is a parse error), and the per-node alias check is skipped."""

    construct_object = _StrictLoader._build


@record
class Loaded:
    path: str
    text: str
    data: Any = None
    problems: list[Problem] = field(default_factory=list)


def decode(raw: bytes, path: str) -> tuple[str | None, Problem | None]:
    """UTF-8 (a leading BOM is allowed) or a problem naming the line of the first bad byte."""
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, Problem(path, line, col, "PL110", "is not valid UTF-8; save the file as UTF-8")


def load(text: str, path: str) -> Loaded:
    """Parse one YAML document; syntax errors become a PL100 problem with the parser's mark."""
    # Without "&" there is no anchor, so no alias; without "<<" no merge key: the fast path holds.
    return _load(text, path, plain="&" not in text and "<<" not in text)


def _load(text: str, path: str, plain: bool) -> Loaded:
    result = Loaded(path, text)
    loader = (_AnchorFreeLoader if plain else _StrictLoader)(text, path)
    try:
        if plain:
            node = loader.get_single_node()
            result.data = None if node is None else _fast_data(loader, node)
        else:
            result.data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or str(exc)
        result.problems.append(Problem(path, line, col, "PL100", f"YAML syntax error: {what}"))
    except yaml.YAMLError as exc:
        result.problems.append(Problem(path, 1, 1, "PL100", f"YAML error: {exc}"))
    except RecursionError:
        # libyaml allows 1,000 levels; building them in Python can exhaust the stack first.
        result.data = None
        result.problems.append(Problem(path, 1, 1, "PL100", "YAML nested too deeply; promptlane's files need a few levels"))
    finally:
        loader.dispose()
    result.problems.extend(loader.findings)
    return result


@record(frozen=True)
class Location:
    line: int
    col: int
    plain_scalar: str | None = None  # the scalar as written, when unquoted (for 1.10-style traps)


def locate(text: str, path: Sequence[Any], key: str | None = None) -> Location:
    """Line/column of the value at ``path`` (or of mapping key ``key`` under it).

    Falls back to the deepest node that exists, so an error always gets a real line.
    """
    return Locator(text).at(path, key)


class Locator:
    """``locate`` for many places in one text: the text is composed once, at the first ``at``."""

    def __init__(self, text: str):
        self.text = text
        self._root: yaml.Node | None = None
        self._composed = False

    def at(self, path: Sequence[Any], key: str | None = None) -> Location:
        if not self._composed:
            self._composed = True
            try:
                self._root = yaml.compose(self.text, Loader=_BaseLoader)
            except yaml.YAMLError:
                self._root = None
        return _locate_in(self._root, path, key)


def _locate_in(node: yaml.Node | None, path: Sequence[Any], key: str | None) -> Location:
    if node is None:
        return Location(1, 1)
    for part in path:
        child = _child(node, part)
        if child is None:
            break
        node = child
    if key is not None and isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if key_node.value == key:
                node = key_node
                break
    mark = node.start_mark
    plain = node.value if isinstance(node, yaml.ScalarNode) and not node.style else None
    return Location(mark.line + 1, mark.column + 1, plain)


def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        pairs: list[tuple[yaml.Node, yaml.Node]] = node.value
        for key_node, value_node in pairs:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                return value_node  # first wins, like the loader's data for duplicates
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        items: list[yaml.Node] = node.value
        return items[part]
    return None
