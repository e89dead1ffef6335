"""The classes a checkpoint names: stand-ins until looked up, and looking them up safely.

A record names each attrs and named-tuple class as ``module:qualname`` with its field names.
Read from a file, such a class is first a *stand-in*: an empty class of that name and those
fields, made here, so that the record is a :class:`~functional_nn.tree.TreeDef` like any
other (:mod:`functional_nn.tree` describes it, finds its paths and its differences) without
touching the named class. The same name and fields always give the same stand-in, so two
records' structures compare equal exactly when they name the same classes.

:func:`resolve` looks a stand-in's class up, for rebuilding a tree, and never imports a module
a file names, so that a checkpoint cannot run code by naming it: the class must be in a module
already imported, or in functional_nn itself.
"""

from __future__ import annotations

import collections
import functools
import importlib
import keyword
import re
import sys

import attrs

from ..tree import ATTRS, NAMEDTUPLE, NONE, TreeDef, field_layout, static_field
from .errors import RecordError

__all__ = ["StandIn", "class_name", "resolve", "stand_in"]

_PART = r"(?:[A-Za-z_][A-Za-z0-9_]*|<locals>)"
_QUALNAME = re.compile(rf"{_PART}(?:\.{_PART})*\Z")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


class StandIn:
    """The base of every stand-in class: one a record names, not (yet) looked up."""

    __slots__ = ()


def class_name(cls: type) -> str:
    """``module:qualname``, as a record names a class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__")


def stand_in(kind: int, name: str, fields: tuple[str, ...], static: tuple[str, ...]) -> type:
    """The stand-in for the attrs (``ATTRS``) or named-tuple class ``name`` of these fields."""
    module, _, qualname = name.partition(":")
    if not (_MODULE.match(module) and _QUALNAME.match(qualname)):
        raise RecordError(f"malformed class name {name!r}")
    names = (*fields, *static)
    if not all(_identifier(n) for n in names) or len(set(names)) != len(names):
        raise RecordError(f"malformed structure record: {name} has malformed field names")
    if kind == NAMEDTUPLE and (static or any(n.startswith("_") for n in fields)):
        raise RecordError(f"malformed structure record: {name} has malformed field names")
    return _stand_in(kind, module, qualname, fields, static)


@functools.cache
def _stand_in(kind: int, module: str, qualname: str, fields: tuple[str, ...],
              static: tuple[str, ...]) -> type:
    # The names were checked to be identifiers: attrs and namedtuple put them in code they
    # compile, so nothing else may reach them.
    short = qualname.rpartition(".")[2]
    cls: type
    if kind == NAMEDTUPLE:
        cls = type(short, (collections.namedtuple(short, fields), StandIn), {"__slots__": ()})
    else:
        attributes = {n: attrs.field() for n in fields}
        attributes.update({n: static_field() for n in static})
        cls = attrs.make_class(short, attributes, bases=(StandIn,), init=False, repr=False,
                               eq=False, order=False, slots=True)
    cls.__module__, cls.__qualname__ = module, qualname
    return cls


def _fields(cls: type, kind: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The child and static field names of an attrs or named-tuple class."""
    if kind == NAMEDTUPLE:
        return tuple(cls._fields), ()  # type: ignore[attr-defined]
    layout = field_layout(cls)
    assert layout is not None
    return layout


def _lookup(name: str) -> type:
    """The class named ``module:qualname``, from an imported module or from functional_nn."""
    module_name, _, qualname = name.partition(":")
    if "<locals>" in qualname:
        raise RecordError(f"class {name} was defined inside a function and cannot be "
                          "rebuilt by name; pass like= with a tree of the same structure")
    module = sys.modules.get(module_name)
    if module is None and (module_name == "functional_nn"
                           or module_name.startswith("functional_nn.")):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise RecordError(f"class {name}: functional_nn has no module {module_name}") from None
    if module is None:
        raise RecordError(f"class {name} is defined in module {module_name}, which is not "
                          f"imported; import {module_name} before loading (a checkpoint never "
                          "imports modules itself), or pass like=")
    found: object = module
    for part in qualname.split("."):  # no getattr: a module's __getattr__ may import
        found = vars(found).get(part) if hasattr(found, "__dict__") else None
    if not isinstance(found, type):
        raise RecordError(f"class {name} not found: module {module_name} has no class "
                          f"{qualname}")
    return found


def _defaults_to_none(cls: type, name: str) -> bool:
    return bool(attrs.fields_dict(cls)[name].default is None)


def optional_tail(cls: type, children: tuple[TreeDef[object], ...]) -> int:
    """How many trailing fields of an attrs node hold ``None`` and default to ``None``: a
    record leaves them out, so a class that gains such a field (``TrainState.model_state``)
    writes the records it wrote before, and its old checkpoints keep loading."""
    names = (field_layout(cls) or ((), ()))[0]
    n = 0
    while n < len(children) and children[-1 - n].kind == NONE and _defaults_to_none(
            cls, names[-1 - n]):
        n += 1
    return n


def resolve(standin: type, kind: int) -> type:
    """The class a stand-in stands for, checked to have the fields the record says."""
    name = class_name(standin)
    fields, static = _fields(standin, kind)
    cls = _lookup(name)
    if kind == NAMEDTUPLE:
        if not (issubclass(cls, tuple) and hasattr(cls, "_fields")):
            raise RecordError(f"class {name} is not a named tuple")
        if tuple(cls._fields) != fields:
            raise RecordError(f"class {name} now has fields {list(cls._fields)}, but the "
                              f"checkpoint has {list(fields)}")
        return cls
    assert kind == ATTRS
    if not attrs.has(cls):
        raise RecordError(f"class {name} is not an attrs class")
    now = _fields(cls, kind)
    added = now[0][len(fields):]  # fields a class gained since, left out while they hold None
    if (now[0][:len(fields)], now[1]) != (fields, static) or not all(
            _defaults_to_none(cls, name) for name in added):
        raise RecordError(f"class {name} now has fields {list(now[0])} and static fields "
                          f"{list(now[1])}, but the checkpoint has {list(fields)} and "
                          f"{list(static)}")
    return cls
