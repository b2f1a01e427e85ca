"""``@record``: the plain-value classes of the commit hooks' path, as ``@dataclass`` makes them
(``__init__`` from the annotated fields and their defaults, ``__repr__``, ``__eq__``; with
``frozen=True`` no assignment and a ``__hash__``; with ``order=True`` comparisons), for less.

Why not dataclasses: a hook is a process started for one commit, and importing dataclasses (it
imports inspect, ast, dis, tokenize) and building one class with it (a few compiled methods
each, ~1 ms for a frozen one) cost ``promptlane check`` of one card more than its own work
(docs/performance.md). Here the methods are shared functions, and ``__init__``, the one that
is hot in a whole-repository run, is compiled for a class when its first instance is made.

Only what the package uses is supported: fields with a default or ``field(default=...,
default_factory=..., compare=...)``, ``ClassVar`` annotations skipped, no inheritance between
records, no ``__post_init__``. ``replace`` is ``dataclasses.replace``. Type checkers read
records as dataclasses (``dataclass_transform``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar, overload

T = TypeVar("T")

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform  # typing's since 3.11
else:
    def dataclass_transform(**_: Any) -> Callable[[T], T]:  # read by type checkers only
        return lambda function: function
_MISSING: Any = object()


class FrozenInstanceError(AttributeError):
    """An assignment to a field of a frozen record."""


class Field:
    __slots__ = ("default", "default_factory", "compare")

    def __init__(self, default: Any, default_factory: Callable[[], Any] | None, compare: bool):
        self.default, self.default_factory, self.compare = default, default_factory, compare


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None, compare: bool = True) -> Any:
    """A field's default (or the function making one per instance), and whether ``==``
    (and ordering, and the hash) compares it."""
    return Field(default, default_factory, compare)


@overload
@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T], /) -> type[T]: ...
@overload
def record(*, frozen: bool = False, order: bool = False) -> Callable[[type[T]], type[T]]: ...


def record(cls: Any = None, /, *, frozen: bool = False, order: bool = False) -> Any:
    def make(cls: Any) -> Any:
        fields: dict[str, Field] = {}
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = cls.__dict__.get(name, _MISSING)
            spec = value if isinstance(value, Field) else Field(value, None, True)
            if spec.default is _MISSING and spec.default_factory is None and any(
                    f.default is not _MISSING or f.default_factory is not None for f in fields.values()):
                raise TypeError(f"{cls.__name__}.{name}: a field without a default follows one with a default")
            if spec.default is _MISSING:
                if name in cls.__dict__:
                    delattr(cls, name)
            else:
                setattr(cls, name, spec.default)  # as dataclasses leave it: the default, read on the class
            fields[name] = spec
        cls.__record_fields__ = tuple(fields)
        cls.__record_compared__ = tuple(name for name, spec in fields.items() if spec.compare)
        cls.__init__ = _first_init(cls, fields, frozen)
        methods: dict[str, Any] = {"__repr__": _repr, "__eq__": _eq}
        if frozen:
            methods.update(__setattr__=_refuse_set, __delattr__=_refuse_delete, __hash__=_hash)
        if order:
            methods.update(__lt__=_lt, __le__=_le, __gt__=_gt, __ge__=_ge)
        for name, method in methods.items():
            if name not in cls.__dict__:
                setattr(cls, name, method)
        if not frozen and "__hash__" not in cls.__dict__:
            cls.__hash__ = None  # mutable and compared by value: unhashable, as a dataclass is
        return cls

    return make if cls is None else make(cls)


def _first_init(cls: Any, fields: dict[str, Field], frozen: bool) -> Callable[..., None]:
    """An ``__init__`` that compiles the class's real one (as dataclasses write it), puts it in
    its place and runs it: a class no run instantiates costs no compilation."""
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        cls.__init__ = _compiled_init(cls, fields, frozen)
        cls.__init__(self, *args, **kwargs)

    return __init__


def _compiled_init(cls: Any, fields: dict[str, Field], frozen: bool) -> Callable[..., None]:
    names: dict[str, Any] = {"__set": object.__setattr__}
    params, body = [], []
    for name, spec in fields.items():
        if spec.default_factory is not None:
            names[f"__factory_{name}"] = spec.default_factory
            params.append(f"{name}=__missing")
            value = f"__factory_{name}() if {name} is __missing else {name}"
        else:
            if spec.default is not _MISSING:
                names[f"__default_{name}"] = spec.default
            params.append(name if spec.default is _MISSING else f"{name}=__default_{name}")
            value = name
        body.append(f"    __set(self, {name!r}, {value})" if frozen else f"    self.{name} = {value}")
    names["__missing"] = _MISSING
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, names)  # noqa: S102 (the source is built from the class's own field names, as dataclasses does)
    init: Callable[..., None] = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in self.__record_compared__)


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_fields__)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:
    return _values(self) == _values(other) if other.__class__ is self.__class__ else NotImplemented


def _hash(self: Any) -> int:
    return hash(_values(self))


def _lt(self: Any, other: Any) -> Any:
    return _values(self) < _values(other) if other.__class__ is self.__class__ else NotImplemented


def _le(self: Any, other: Any) -> Any:
    return _values(self) <= _values(other) if other.__class__ is self.__class__ else NotImplemented


def _gt(self: Any, other: Any) -> Any:
    return _values(self) > _values(other) if other.__class__ is self.__class__ else NotImplemented


def _ge(self: Any, other: Any) -> Any:
    return _values(self) >= _values(other) if other.__class__ is self.__class__ else NotImplemented


def _refuse_set(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_delete(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def replace(obj: T, **changes: Any) -> T:
    """A new record like ``obj`` with ``changes`` (``dataclasses.replace``)."""
    values = {name: getattr(obj, name) for name in type(obj).__record_fields__}  # type: ignore[attr-defined]
    values.update(changes)
    return type(obj)(**values)
