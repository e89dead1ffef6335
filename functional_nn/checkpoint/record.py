"""The structure record: a tree's :class:`~functional_nn.tree.TreeDef` and its leaves, as JSON.

The record of a tree is derived from its ``TreeDef``, the library's one model of a tree's
structure, node by node: ``{"kind": "none"}``, ``{"kind": "tuple" | "list", "children":
[...]}``, ``{"kind": "dict", "keys": [...], "children": [...]}``, or ``{"kind": "attrs" |
"namedtuple", "class": "module:qualname", "fields": [...], "children": [...]}`` with
``"static": [[name, value], ...]`` for attrs; leaves are described in :mod:`.leaves` and
values and keys in :mod:`.values`.

Read back, a record is a :class:`Record`: a ``TreeDef`` whose classes are stand-ins
(:mod:`.classes`) and whose static values and dict keys are :class:`~.values.Exact`, and the
leaves' :class:`~.leaves.LeafInfo`. So reading one needs none of the classes it names; the
tree module describes it and finds where two differ; :func:`resolve` looks its classes up for
rebuilding the tree. Errors are :class:`~.errors.RecordError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import attrs
import numpy as np
import numpy.typing as npt

from ..tree import (
    ATTRS,
    DICT,
    LEAF,
    LIST,
    NAMEDTUPLE,
    NONE,
    TUPLE,
    TreeDef,
    child_paths,
    describe,
    field_layout,
    first_difference,
    leaf_paths,
    tree_flatten,
)
from .classes import class_name, optional_tail, resolve, stand_in
from .errors import RecordError
from .leaves import ROOT, LeafInfo, leaf_from_json, leaf_info, leaf_label, short_label
from .values import Exact, encode_value, json_field

__all__ = ["Record", "first_difference_of", "from_json", "from_tree", "to_treedef"]

_KINDS = {NONE: "none", TUPLE: "tuple", LIST: "list", DICT: "dict", NAMEDTUPLE: "namedtuple",
          ATTRS: "attrs"}
_BY_NAME = {name: kind for kind, name in _KINDS.items()}
_LEAF_DEF: TreeDef[object] = TreeDef(LEAF, None, (), (), 1)
_NONE_DEF: TreeDef[object] = TreeDef(NONE, None, (), (), 0)


@attrs.frozen
class Record:
    """A structure record read back: its ``TreeDef`` (stand-in classes) and leaves, in order."""

    treedef: TreeDef[object]
    leaves: tuple[LeafInfo, ...]

    def describe(self) -> str:
        """A one-line picture: ``Sequential(layers=(Dense(w=float32[4,3], b=float32[3]),))``."""
        return describe(self.treedef, (short_label(leaf) for leaf in self.leaves))


# --- a tree's record ------------------------------------------------------------------------


def _node_json(treedef: TreeDef[object], path: str,
               leaves: Iterator[LeafInfo]) -> dict[str, object]:
    """The record of one node of a tree's structure, its leaves taken from ``leaves``."""
    if treedef.kind == LEAF:
        return next(leaves).to_json()
    kind = _KINDS[treedef.kind]
    suffixes = child_paths(treedef)
    children = treedef.children
    if treedef.kind == ATTRS:
        kept = len(children) - optional_tail(cast("type", treedef.node_type), children)
        suffixes, children = suffixes[:kept], children[:kept]
    paths = [(path + suffix).removeprefix(".") for suffix in suffixes]
    out: dict[str, object] = {"kind": kind}
    if treedef.kind == DICT:
        where = f"a dict key at {path.removeprefix('.') or ROOT}"
        out["keys"] = [encode_value(k, where) for k in treedef.aux]
    elif treedef.kind in (ATTRS, NAMEDTUPLE):
        cls = treedef.node_type
        assert cls is not None
        out["class"] = class_name(cls)
        out["fields"] = [suffix.removeprefix(".") for suffix in suffixes]
        if treedef.kind == ATTRS:
            static = (field_layout(cls) or ((), ()))[1]
            out["static"] = [[n, encode_value(v, f"static field {(path + '.' + n).lstrip('.')}")]
                             for n, v in zip(static, treedef.aux, strict=True)]
    if treedef.kind != NONE:
        out["children"] = [_node_json(c, p, leaves)
                           for c, p in zip(children, paths[:len(children)], strict=True)]
    return out


def from_tree(tree: object) -> tuple[dict[str, object], list[LeafInfo],
                                     list[npt.NDArray[np.generic]]]:
    """The JSON record of a tree, its leaves' records and the arrays holding them, in leaf
    order; leaf keys are the tree's paths (:func:`functional_nn.tree.tree_paths`).

    Raises ``RecordError`` for a leaf, a static value or a dict key a checkpoint cannot hold.
    """
    values, treedef = tree_flatten(tree)
    pairs = [leaf_info(path or ROOT, leaf)
             for path, leaf in zip(leaf_paths(treedef), values, strict=True)]
    infos = [info for info, _ in pairs]
    return _node_json(treedef, "", iter(infos)), infos, [array for _, array in pairs]


# --- reading a record -----------------------------------------------------------------------


def _node(obj: object, leaves: list[LeafInfo]) -> TreeDef[object]:
    """The node a record's JSON describes; its leaves' records are appended to ``leaves``."""
    if type(obj) is not dict:
        raise RecordError(f"malformed structure record: a node is {type(obj).__name__}")
    name = json_field(obj, "kind", str)
    if name == "leaf":
        leaves.append(leaf_from_json(obj))
        return _LEAF_DEF
    if name == "none":
        return TreeDef(NONE, None, (), (), 0)
    if name not in _BY_NAME:
        raise RecordError(f"malformed structure record: unknown node kind {name!r}")
    kind = _BY_NAME[name]
    kids = tuple(_node(c, leaves) for c in json_field(obj, "children", list))
    count = sum(k.num_leaves for k in kids)
    if kind in (TUPLE, LIST):
        return TreeDef(kind, None, (), kids, count)
    if kind == DICT:
        keys = tuple(Exact(k) for k in json_field(obj, "keys", list))
        if len(keys) != len(kids):
            raise RecordError("malformed structure record: a dict has unequal keys and children")
        return TreeDef(kind, None, keys, kids, count)
    cls, fields = json_field(obj, "class", str), tuple(json_field(obj, "fields", list))
    if not all(type(f) is str for f in fields):
        raise RecordError(f"malformed structure record: {cls} has malformed field names")
    if len(fields) != len(kids):
        raise RecordError(f"malformed structure record: {cls} has unequal fields and children")
    static: list[tuple[str, Exact]] = []
    for pair in json_field(obj, "static", list) if kind == ATTRS else []:
        if not (type(pair) is list and len(pair) == 2 and type(pair[0]) is str):
            raise RecordError(f"malformed structure record: {cls} has malformed static fields")
        static.append((pair[0], Exact(pair[1])))
    node_type = stand_in(kind, cls, fields, tuple(n for n, _ in static))
    return TreeDef(kind, node_type, tuple(v for _, v in static), kids, count)


def from_json(obj: object) -> Record:
    """A validated record from parsed JSON; raises ``RecordError`` when it is malformed."""
    leaves: list[LeafInfo] = []
    treedef = _node(obj, leaves)
    return Record(treedef, tuple(leaves))


def _plain(value: object) -> object:
    return value.value if isinstance(value, Exact) else value


def to_treedef(record: Record) -> TreeDef[object]:
    """The ``TreeDef`` of the tree a record describes: its classes looked up (:func:`resolve`),
    its values and keys plain again."""
    def real(node: TreeDef[object]) -> TreeDef[object]:
        if node.kind in (LEAF, NONE):
            return node
        kids = tuple(real(c) for c in node.children)
        aux = tuple(_plain(v) for v in node.aux)
        if node.kind == DICT:
            try:
                distinct = len(set(aux)) == len(aux)
            except TypeError:
                distinct = False
            if not distinct:
                raise RecordError("malformed structure record: dict keys must be distinct "
                                  "scalars")
        cls = None if node.node_type is None else resolve(node.node_type, node.kind)
        if node.kind == ATTRS and cls is not None:  # trailing None fields the record left out
            kids += (_NONE_DEF,) * (len((field_layout(cls) or ((), ()))[0]) - len(kids))
        return TreeDef(node.kind, cls, aux, kids, node.num_leaves)

    return real(record.treedef)


# --- comparing records ----------------------------------------------------------------------


def _label(node: TreeDef[object], record: Record, path: str) -> str:
    """A node for messages: ``a tuple of 3``, ``module:Dense with fields ['w', 'b']``."""
    if node.kind == LEAF:
        keys = {leaf.key: leaf for leaf in record.leaves}
        return leaf_label(keys[path or ROOT])
    if node.kind == NONE:
        return "None"
    if node.kind == DICT:
        return f"a dict with keys {[_plain(k) for k in node.aux]}"
    if node.node_type is not None:
        fields = [p.removeprefix(".") for p in child_paths(node)]
        return f"{class_name(node.node_type)} with fields {fields}"
    return f"a {_KINDS[node.kind]} of {len(node.children)}"


def _static(node: TreeDef[object]) -> list[tuple[str, object]]:
    names = (field_layout(node.node_type) or ((), ()))[1] if node.node_type else ()
    return [(n, _plain(v)) for n, v in zip(names, node.aux, strict=True)]


def first_difference_of(expected: Record, found: Record) -> str | None:
    """Where and how two records differ, e.g. ``at w: expected ..., found ...``; else None.

    The first difference of their structures (:func:`functional_nn.tree.first_difference`),
    else of their leaves' types, dtypes and shapes.
    """
    where = first_difference(expected.treedef, found.treedef)
    if where is not None:
        path, a, b = where
        if a.kind == b.kind == ATTRS and a.node_type is b.node_type:
            return f"at {path or ROOT}: expected static fields {_static(a)}, found {_static(b)}"
        return (f"at {path or ROOT}: expected {_label(a, expected, path)}, "
                f"found {_label(b, found, path)}")
    for e, f in zip(expected.leaves, found.leaves, strict=True):
        if (e.type, e.dtype, e.shape) != (f.type, f.dtype, f.shape):
            return f"at {e.key}: expected {leaf_label(e)}, found {leaf_label(f)}"
    return None
