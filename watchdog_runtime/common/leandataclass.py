"""``dataclasses.dataclass`` with its ``__repr__``, ``__eq__`` and ``__hash__`` (and a frozen
class's ``__setattr__``/``__delattr__``) shared by every class (issue 29).

The standard decorator writes those methods for each class as source text and compiles it
(``exec``): a function and a code object each, five a frozen class, about 0.4 MiB of a
supervisor that holds some ninety records and specs for months. Here one function of each
kind serves every class, reading the class's field names, chosen once at decoration (as the
standard decorator chooses them: ``repr=``, ``compare=``, ``hash=`` of each field), from a
table. What the standard decorator leaves alone is left alone here: a method the class body
defines, ``__hash__`` by the same rules (``unsafe_hash``, an explicit one, ``None`` for a
mutable class compared by value). ``__init__`` is still the standard decorator's own (it
has to know the fields' defaults); ``order=True`` falls back to it whole.
"""

from __future__ import annotations

import _thread
from typing import TYPE_CHECKING, Any, TypeVar

from .importwithout import import_deferring


def _class_annotations(obj: Any, *, globals: Any = None, locals: Any = None, eval_str: bool = False) -> Any:
    """``inspect.get_annotations`` for what Python 3.12's dataclasses ask of it (a class's
    own annotations, not evaluated); anything else is the real one's answer."""
    own = obj.__dict__.get("__annotations__") if isinstance(obj, type) else None
    if isinstance(own, dict) and not eval_str:
        return dict(own)
    import inspect

    return inspect.get_annotations(obj, globals=globals, locals=locals, eval_str=eval_str)  # type: ignore[attr-defined,unused-ignore]


# inspect (with dis, ast) only on a first need: the standard decorator imports it for a
# docstring (given below) and, from Python 3.12, for each class's annotations (answered here).
import_deferring("dataclasses", "inspect", answers={"get_annotations": _class_annotations})
import dataclasses  # noqa: E402 (after the stand-in)

if TYPE_CHECKING:  # Python 3.11's typing has it; a type checker reads it on 3.10 too
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_: Any) -> Any:
        return lambda decorator: decorator

T = TypeVar("T")

_REPR: dict[type, tuple[str, ...]] = {}
_EQ: dict[type, tuple[str, ...]] = {}
_HASH: dict[type, tuple[str, ...]] = {}
_FROZEN: dict[type, frozenset[str]] = {}
_in_repr: set[tuple[int, int]] = set()


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(cls: type[T] | None = None, /, **options: Any) -> Any:
    """``@dataclass`` or ``@dataclass(frozen=True, slots=True, ...)``: as the standard
    decorator, with the generated methods shared (the module's docstring)."""
    def wrap(klass: type[T]) -> type[T]:
        made: type[T] = _process(klass, options)
        return made

    return wrap if cls is None else wrap(cls)


def _process(cls: Any, options: dict[str, Any]) -> Any:
    wants_repr, wants_eq = options.get("repr", True), options.get("eq", True)
    if options.get("order"):
        return dataclasses.dataclass(cls, **options)
    own = {name for name in ("__repr__", "__eq__") if name in cls.__dict__}
    class_hash = cls.__dict__.get("__hash__", dataclasses.MISSING)
    explicit_hash = not (class_hash is dataclasses.MISSING
                         or (class_hash is None and "__eq__" in cls.__dict__))
    if not cls.__dict__.get("__doc__"):  # else the standard decorator writes one: inspect.signature
        cls.__doc__ = cls.__qualname__  # (under -OO, for every class: inspect for life)
    made = dataclasses.dataclass(cls, **{**options, "repr": False, "eq": False})
    fields = dataclasses.fields(made)
    if wants_repr and "__repr__" not in own:
        _REPR[made] = tuple(f.name for f in fields if f.repr)
        made.__repr__ = _repr
    if wants_eq and "__eq__" not in own:
        _EQ[made] = tuple(f.name for f in fields if f.compare)
        made.__eq__ = _eq
    frozen = options.get("frozen", False)
    if frozen:
        _FROZEN[made] = frozenset(f.name for f in fields)
        made.__setattr__ = _frozen_setattr
        made.__delattr__ = _frozen_delattr
    _set_hash(made, fields, options.get("unsafe_hash", False), wants_eq, frozen, explicit_hash)
    return made


def _set_hash(cls: Any, fields: tuple[dataclasses.Field[Any], ...], unsafe_hash: bool, eq: bool,
              frozen: bool, explicit: bool) -> None:
    """The standard decorator's table (``dataclasses._hash_action``)."""
    if unsafe_hash and explicit:
        raise TypeError(f"Cannot overwrite attribute __hash__ in class {cls.__name__}")
    if unsafe_hash or (eq and frozen and not explicit):
        _HASH[cls] = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
        cls.__hash__ = _hash
    elif eq and not frozen and not explicit:
        cls.__hash__ = None


def _owner(cls: type, table: dict[type, Any]) -> Any:
    """The class of ``cls``'s MRO whose method this is (a plain subclass uses its base's)."""
    return next(klass for klass in cls.__mro__ if klass in table)


def _repr(self: object) -> str:
    key = (id(self), _thread.get_ident())
    if key in _in_repr:
        return "..."  # the standard one's guard against a record that holds itself
    _in_repr.add(key)
    try:
        names = _REPR.get(type(self)) or _REPR[_owner(type(self), _REPR)]
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__qualname__}({inner})"
    finally:
        _in_repr.discard(key)


def _eq(self: object, other: object) -> Any:
    if other is self:
        return True  # what the field tuples would say (their items compare by identity first)
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = _EQ.get(type(self)) or _EQ[_owner(type(self), _EQ)]
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _hash(self: object) -> int:
    names = _HASH.get(type(self)) or _HASH[_owner(type(self), _HASH)]
    return hash(tuple(getattr(self, n) for n in names))


def _frozen_setattr(self: object, name: str, value: Any) -> None:
    owner = _owner(type(self), _FROZEN)
    if type(self) is owner or name in _FROZEN[owner]:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
    super(owner, self).__setattr__(name, value)


def _frozen_delattr(self: object, name: str) -> None:
    owner = _owner(type(self), _FROZEN)
    if type(self) is owner or name in _FROZEN[owner]:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
    super(owner, self).__delattr__(name)
