"""The structure record of a checkpoint: a pytree's structure as JSON, and back.

A record node is a JSON object: ``{"kind": "leaf", "key": "layers[0].w", "type": "array",
"dtype": "<f4", "shape": [784, 16]}`` (``type`` is ``array``, ``scalar`` for a numpy scalar, or
the Python ``bool``, ``int``, ``float`` or ``complex`` saved), ``{"kind": "none"}``, ``{"kind":
"tuple" | "list", "children": [...]}``, ``{"kind": "dict", "keys": [...], "children": [...]}``,
or ``{"kind": "attrs" | "namedtuple", "class": "module:qualname", "fields": [...], "children":
[...]}`` with ``"static": [[name, value], ...]`` for attrs. Static values and dict keys are JSON
with tags so they come back as they were: ``{"tuple": [...]}``, ``{"float": "nan"}`` (or
``"inf"``, ``"-inf"``) and ``{"dict": {...}}`` (string keys). Errors are :class:`RecordError`,
which the caller turns into a message naming a file.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import sys
from collections.abc import Iterator
from typing import TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from . import tree as pytree
from .tree import TreeDef, is_static

V = TypeVar("V")
ROOT = "<root>"  # the key of a tree that is a single leaf
_NUMERIC = "biufc"
_PY: dict[str, tuple[type, np.dtype[np.generic]]] = {  # Python leaf types, stored as 0-d arrays
    t.__name__: (t, np.dtype(d)) for t, d in
    [(bool, np.bool_), (int, np.int64), (float, np.float64), (complex, np.complex128)]}
_LEAF_TYPES = frozenset(["array", "scalar", *_PY])
_KINDS = {pytree._NONE: "none", pytree._TUPLE: "tuple", pytree._LIST: "list",
          pytree._DICT: "dict", pytree._NAMEDTUPLE: "namedtuple", pytree._ATTRS: "attrs"}
_TREE_KINDS = {name: kind for kind, name in _KINDS.items()}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


class RecordError(Exception):
    """A tree that cannot be recorded, or a record that is malformed or does not match."""


@attrs.frozen
class LeafInfo:
    """One saved leaf: its npz key (its pytree path), type, dtype string and shape."""

    key: str
    type: str
    dtype: str
    shape: tuple[int, ...]


@attrs.frozen
class Node:
    """A validated record node that is not a leaf; values and keys stay JSON-encoded."""

    kind: str
    children: tuple[Node | LeafInfo, ...] = ()
    cls: str = ""
    fields: tuple[str, ...] = ()
    static: tuple[tuple[str, object], ...] = ()
    keys: tuple[object, ...] = ()


Record = Node | LeafInfo



def encode_value(value: object, where: str) -> object:
    """``value`` as tagged JSON; raises ``RecordError`` for anything but JSON-like values."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if type(value) is list or type(value) is tuple:
        items = [encode_value(v, where) for v in value]
        return items if type(value) is list else {"tuple": items}
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            raise RecordError(f"{where} is a dict with non-string keys, which JSON cannot hold")
        return {"dict": {k: encode_value(v, where) for k, v in value.items()}}
    raise RecordError(f"{where} is {type(value).__qualname__} {value!r:.60}; it must be None, "
                      "bool, int, float, str, or a tuple, list or dict (string keys) of those")


def decode_value(obj: object) -> object:
    """The value that :func:`encode_value` encoded."""
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is list:
        return [decode_value(v) for v in obj]
    if type(obj) is dict and len(obj) == 1:
        (tag, inner), = obj.items()
        if tag == "tuple" and type(inner) is list:
            return tuple(decode_value(v) for v in inner)
        if tag == "float" and inner in ("nan", "inf", "-inf"):
            return float(inner)
        if tag == "dict" and type(inner) is dict:
            return {k: decode_value(v) for k, v in inner.items()}
    raise RecordError(f"malformed value {obj!r:.60}")


def _canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True)



def _join(prefix: str, suffix: str) -> str:
    return suffix.removeprefix(".") if not prefix else prefix + suffix


def leaf_info(key: str, leaf: object) -> tuple[LeafInfo, npt.NDArray[np.generic]]:
    """The record of a leaf and the array that holds it; raises for unsupported leaves."""
    if type(leaf) is np.ndarray:
        kind, array = "array", leaf
    elif isinstance(leaf, np.generic):
        kind, array = "scalar", np.asarray(leaf)
    elif type(leaf).__name__ in _PY and type(leaf) is _PY[type(leaf).__name__][0]:
        kind = type(leaf).__name__
        if kind == "int" and not -(2**63) <= leaf < 2**63:  # type: ignore[operator]
            raise RecordError(f"leaf {key} is the int {leaf}, which does not fit in int64")
        array = np.asarray(leaf, dtype=_PY[kind][1])
    else:
        raise RecordError(f"leaf {key} is {type(leaf).__qualname__}; a checkpoint holds numpy "
                          "arrays and scalars of numeric or bool dtype, and Python bool, int, "
                          "float and complex")
    if array.dtype.kind not in _NUMERIC:
        raise RecordError(f"leaf {key} has dtype {array.dtype}; only numeric and bool arrays "
                          "can be saved")
    return LeafInfo(key, kind, array.dtype.str, tuple(array.shape)), array


def from_tree(tree: object) -> tuple[Record, list[npt.NDArray[np.generic]]]:
    """The record of a tree and its leaves as arrays, in leaf order.

    Leaf keys are the tree's paths (:func:`functional_nn.tree.tree_paths`).
    """
    pairs = iter(pytree.tree_leaves_with_path(tree))
    arrays: list[npt.NDArray[np.generic]] = []

    def walk(treedef: TreeDef[object], path: str) -> Record:
        if treedef.kind == pytree._LEAF:
            key, leaf = next(pairs)
            info, array = leaf_info(key or ROOT, leaf)
            arrays.append(array)
            return info
        kind = _KINDS[treedef.kind]
        if kind in ("none", "tuple", "list"):
            return Node(kind, tuple(walk(c, _join(path, f"[{i}]"))
                                    for i, c in enumerate(treedef.children)))
        if kind == "dict":
            where = f"a dict key at {path or ROOT}"
            keys = tuple(encode_value(k, where) for k in treedef.aux)
            kids = tuple(walk(c, _join(path, f"[{k!r}]"))
                         for k, c in zip(treedef.aux, treedef.children, strict=True))
            return Node("dict", kids, keys=keys)
        cls = treedef.node_type
        assert cls is not None
        if kind == "namedtuple":
            names: tuple[str, ...] = tuple(cls._fields)  # type: ignore[attr-defined]
            static: tuple[tuple[str, object], ...] = ()
        else:
            fields = attrs.fields(cls)
            names = tuple(f.name for f in fields if not is_static(f))
            static_names = [f.name for f in fields if is_static(f)]
            static = tuple(
                (n, encode_value(v, f"static field {_join(path, '.' + n)}"))
                for n, v in zip(static_names, treedef.aux, strict=True))
        children = treedef.children
        if kind == "attrs":
            names, children = _trim_optional(cls, names, children)
        kids = tuple(walk(c, _join(path, "." + n))
                     for n, c in zip(names, children, strict=True))
        return Node(kind, kids, f"{cls.__module__}:{cls.__qualname__}", names, static)

    record = walk(pytree.tree_structure(tree), "")
    return record, arrays


def _optional(cls: type) -> list[bool]:
    """For each non-static field of an attrs class: whether its default is ``None``."""
    return [f.default is None for f in attrs.fields(cls) if not is_static(f)]


def _trim_optional(cls: type, names: tuple[str, ...], children: tuple[TreeDef[object], ...]
                   ) -> tuple[tuple[str, ...], tuple[TreeDef[object], ...]]:
    """Leave out trailing fields that hold ``None`` and default to ``None``: a class that
    gains such a field (``TrainState.model_state``) writes the records it wrote before, and
    :func:`to_treedef` fills them back in, so its old checkpoints keep loading."""
    optional = _optional(cls)
    n = len(names)
    while n and optional[n - 1] and children[n - 1].kind == pytree._NONE:
        n -= 1
    return names[:n], children[:n]


def to_json(record: Record) -> dict[str, object]:
    """A record as a JSON-able dict."""
    if isinstance(record, LeafInfo):
        return {"kind": "leaf", "key": record.key, "type": record.type, "dtype": record.dtype,
                "shape": list(record.shape)}
    out: dict[str, object] = {"kind": record.kind}
    if record.kind in ("attrs", "namedtuple"):
        out.update({"class": record.cls, "fields": list(record.fields)})
    if record.kind == "attrs":
        out["static"] = [list(pair) for pair in record.static]
    if record.kind == "dict":
        out["keys"] = list(record.keys)
    if record.kind != "none":
        out["children"] = [to_json(c) for c in record.children]
    return out



def _get(obj: dict[str, object], name: str, cls: type[V]) -> V:
    value = obj.get(name)
    if type(value) is not cls:
        raise RecordError(f"malformed structure record: node {_canonical(obj)[:80]} needs "
                          f"{name!r} to be a {cls.__name__}")
    return value


def _leaf_from_json(obj: dict[str, object]) -> LeafInfo:
    key, kind, dtype = _get(obj, "key", str), _get(obj, "type", str), _get(obj, "dtype", str)
    shape: list[object] = _get(obj, "shape", list)
    if kind not in _LEAF_TYPES:
        raise RecordError(f"leaf {key} has unknown type {kind!r}")
    dims = tuple(n for n in shape if type(n) is int and n >= 0)
    if len(dims) != len(shape):
        raise RecordError(f"leaf {key} has malformed shape {shape!r}")
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        raise RecordError(f"leaf {key} has malformed dtype {dtype!r}") from None
    if dt.kind not in _NUMERIC or dt.str != dtype:
        raise RecordError(f"leaf {key} has unsupported dtype {dtype!r}")
    if kind in _PY and (dims or dt.kind != _PY[kind][1].kind):
        raise RecordError(f"leaf {key} is a Python {kind} stored as {dtype} {dims}")
    return LeafInfo(key, kind, dtype, dims)


def from_json(obj: object) -> Record:
    """A validated record from parsed JSON; raises ``RecordError`` when it is malformed."""
    if type(obj) is not dict:
        raise RecordError(f"malformed structure record: a node is {type(obj).__name__}")
    kind = _get(obj, "kind", str)
    if kind == "leaf":
        return _leaf_from_json(obj)
    if kind == "none":
        return Node("none")
    if kind not in ("tuple", "list", "dict", "namedtuple", "attrs"):
        raise RecordError(f"malformed structure record: unknown node kind {kind!r}")
    kids = tuple(from_json(c) for c in _get(obj, "children", list))
    if kind in ("tuple", "list"):
        return Node(kind, kids)
    if kind == "dict":
        keys: list[object] = _get(obj, "keys", list)
        if len(keys) != len(kids):
            raise RecordError("malformed structure record: a dict has unequal keys and children")
        return Node(kind, kids, keys=tuple(keys))
    cls, fields = _get(obj, "class", str), tuple(_get(obj, "fields", list))
    if not all(type(f) is str for f in fields):
        raise RecordError(f"malformed structure record: {cls} has malformed field names")
    if len(fields) != len(kids):
        raise RecordError(f"malformed structure record: {cls} has unequal fields and children")
    static: list[tuple[str, object]] = []
    for pair in _get(obj, "static", list) if kind == "attrs" else []:
        if not (type(pair) is list and len(pair) == 2 and type(pair[0]) is str):
            raise RecordError(f"malformed structure record: {cls} has malformed static fields")
        static.append((pair[0], pair[1]))
    return Node(kind, kids, cls, fields, tuple(static))


def record_leaves(record: Record) -> Iterator[LeafInfo]:
    """The leaves of a record, in leaf order."""
    if isinstance(record, LeafInfo):
        yield record
    else:
        for child in record.children:
            yield from record_leaves(child)



def _child_paths(node: Node, path: str) -> list[str]:
    if node.kind in ("attrs", "namedtuple"):
        return [_join(path, "." + n) for n in node.fields]
    if node.kind == "dict":
        return [_join(path, f"[{decode_value(k)!r}]") for k in node.keys]
    return [_join(path, f"[{i}]") for i in range(len(node.children))]


def _dtype_name(dtype: str) -> str:
    dt = np.dtype(dtype)
    return dt.name if dt.isnative else dt.str


def label(record: Record) -> str:
    """A short description of a node, for messages: ``float32 array of shape (3,)``."""
    if isinstance(record, LeafInfo):
        dtype = _dtype_name(record.dtype)
        if record.type == "array":
            return f"{dtype} array of shape {record.shape}"
        return f"numpy {dtype} scalar" if record.type == "scalar" else f"a Python {record.type}"
    if record.kind == "none":
        return "None"
    if record.kind == "dict":
        return f"a dict with keys {[decode_value(k) for k in record.keys]}"
    if record.cls:
        return f"{record.cls} with fields {list(record.fields)}"
    return f"a {record.kind} of {len(record.children)}"


def first_difference(expected: Record, found: Record, path: str = "") -> str | None:
    """Where and how two records differ, e.g. ``at w: expected ..., found ...``; else None."""
    where = path or ROOT
    if isinstance(expected, LeafInfo) or isinstance(found, LeafInfo):
        same = (isinstance(expected, LeafInfo) and isinstance(found, LeafInfo)
                and (expected.type, expected.dtype, expected.shape)
                == (found.type, found.dtype, found.shape))
        return None if same else f"at {where}: expected {label(expected)}, found {label(found)}"
    if (expected.kind, expected.cls, expected.fields, len(expected.children)) != (
            found.kind, found.cls, found.fields, len(found.children)) or (
            _canonical(expected.keys) != _canonical(found.keys)):
        return f"at {where}: expected {label(expected)}, found {label(found)}"
    if _canonical(expected.static) != _canonical(found.static):
        show = [(n, decode_value(v)) for n, v in expected.static]
        got = [(n, decode_value(v)) for n, v in found.static]
        return f"at {where}: expected static fields {show}, found {got}"
    for child_path, e, f in zip(_child_paths(expected, path), expected.children,
                                found.children, strict=True):
        difference = first_difference(e, f, child_path)
        if difference is not None:
            return difference
    return None


def describe(record: Record) -> str:
    """A one-line picture of a record: ``Sequential(layers=(Dense(w=float32[4,3], ...), ...))``."""
    if isinstance(record, LeafInfo):
        if record.type not in ("array", "scalar"):
            return record.type
        return f"{_dtype_name(record.dtype)}[{','.join(map(str, record.shape))}]"
    kids = [describe(c) for c in record.children]
    if record.kind == "none":
        return "None"
    if record.kind == "tuple":
        return "(" + ", ".join(kids) + ("," if len(kids) == 1 else "") + ")"
    if record.kind == "list":
        return "[" + ", ".join(kids) + "]"
    if record.kind == "dict":
        pairs = zip(record.keys, kids, strict=True)
        return "{" + ", ".join(f"{decode_value(k)!r}: {v}" for k, v in pairs) + "}"
    parts = [f"{n}={v}" for n, v in zip(record.fields, kids, strict=True)]
    parts += [f"{n}={decode_value(v)!r}" for n, v in record.static]
    return f"{record.cls.rpartition(':')[2].rpartition('.')[2]}({', '.join(parts)})"


def resolve(name: str) -> type:
    """The class named ``module:qualname``, from an imported module or from functional_nn.

    Never imports any other module: a checkpoint must not be able to run code by naming it.
    """
    module_name, _, qualname = name.partition(":")
    if "<locals>" in qualname:
        raise RecordError(f"class {name} was defined inside a function and cannot be "
                          "rebuilt by name; pass like= with a tree of the same structure")
    if not (_NAME.match(module_name) and _NAME.match(qualname)):
        raise RecordError(f"malformed class name {name!r}")
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


def _resolve_node(node: Node) -> tuple[type, tuple[object, ...]]:
    """The class of an attrs or named-tuple node, checked against the record's fields."""
    cls = resolve(node.cls)
    if node.kind == "namedtuple":
        if not (issubclass(cls, tuple) and hasattr(cls, "_fields")):
            raise RecordError(f"class {node.cls} is not a named tuple")
        if tuple(cls._fields) != node.fields:
            raise RecordError(f"class {node.cls} now has fields {list(cls._fields)}, but the "
                              f"checkpoint has {list(node.fields)}")
        return cls, ()
    if not attrs.has(cls):
        raise RecordError(f"class {node.cls} is not an attrs class")
    fields = attrs.fields(cls)
    names = tuple(f.name for f in fields if not is_static(f))
    static = tuple(f.name for f in fields if is_static(f))
    left_out = _optional(cls)[len(node.fields):]  # trailing None fields (see _trim_optional)
    if (names[:len(node.fields)], static) != (node.fields, tuple(n for n, _ in node.static)) \
            or not all(left_out):
        raise RecordError(f"class {node.cls} now has fields {list(names)} and static fields "
                          f"{list(static)}, but the checkpoint has {list(node.fields)} and "
                          f"{[n for n, _ in node.static]}")
    return cls, tuple(decode_value(v) for _, v in node.static)


def to_treedef(record: Record) -> TreeDef[object]:
    """The :class:`~functional_nn.tree.TreeDef` a record describes, resolving its classes."""
    if isinstance(record, LeafInfo):
        return TreeDef(pytree._LEAF, None, (), (), 1)
    kids = tuple(to_treedef(c) for c in record.children)
    count, kind = sum(k.num_leaves for k in kids), _TREE_KINDS[record.kind]
    if record.kind in ("none", "tuple", "list"):
        return TreeDef(kind, None, (), kids, count)
    if record.kind == "dict":
        keys = tuple(decode_value(k) for k in record.keys)
        try:
            unique = len(set(keys)) == len(keys)
        except TypeError:
            unique = False
        if not unique:
            raise RecordError("malformed structure record: dict keys must be distinct scalars")
        return TreeDef(kind, None, keys, kids, count)
    cls, aux = _resolve_node(record)
    if kind == pytree._ATTRS:  # the trailing None fields that the record leaves out
        none: TreeDef[object] = TreeDef(pytree._NONE, None, (), (), 0)
        kids += (none,) * (len(_optional(cls)) - len(kids))
    return TreeDef(kind, cls, aux, kids, count)


def leaf_value(info: LeafInfo, array: npt.NDArray[np.generic]) -> object:
    """The leaf a loaded array stands for: the array (read-only), a numpy or Python scalar."""
    if array.dtype.str != info.dtype or array.shape != info.shape:
        raise RecordError(f"array {info.key} is {array.dtype.str} {array.shape}, but the "
                          f"structure record says {info.dtype} {info.shape}")
    if info.type == "array":
        array.flags.writeable = False
        return array
    scalar = array[()]
    return scalar if info.type == "scalar" else _PY[info.type][0](scalar)
