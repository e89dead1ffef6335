"""Pytrees: nested containers whose leaves are arrays.

A pytree is a leaf or a node. Nodes are attrs classes (their fields, in definition order, are
the children; a field marked ``static`` is part of the structure instead), tuples, named tuples,
lists, dicts (children in sorted key order) and ``None`` (a node with no children). Everything
else, numpy arrays and Python scalars in particular, is a leaf. A :class:`TreeDef` is the one
model of a tree's structure in the library; :func:`describe`, :func:`leaf_paths` and
:func:`first_difference` read it for messages, and checkpoints record it.

Rebuilding an attrs node from leaves (:func:`tree_unflatten`, :func:`tree_map`) sets its fields
directly, as equinox does, without running ``__init__``: a tree of booleans shaped like the
parameters is a valid mask. Array leaves of a rebuilt attrs node are frozen: kept when nobody
can write their data already, copied and made read-only otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar, cast

import attrs
import numpy as np
import numpy.typing as npt

from ._array import is_frozen, owned
from ._static import STATIC as STATIC
from ._static import is_static, static_field

__all__ = [
    "TreeDef",
    "TreeStructureError",
    "array_leaves",
    "child_paths",
    "describe",
    "field_layout",
    "first_difference",
    "is_static",
    "leaf_paths",
    "static_field",
    "tree_flatten",
    "tree_leaves",
    "tree_leaves_with_path",
    "tree_paths",
    "tree_structure",
    "tree_unflatten",
]

T = TypeVar("T")
S = TypeVar("S")

# Node kinds in a TreeDef (a TreeDef's ``kind``).
LEAF, NONE, TUPLE, NAMEDTUPLE, LIST, DICT, ATTRS = range(7)


class TreeStructureError(ValueError):
    """Two trees that should have the same structure do not."""


_Layout = tuple[tuple[str, ...], tuple[str, ...]]
_LAYOUTS: dict[type, _Layout | None] = {}  # a cache of class facts: per-call lookups are slow


def field_layout(cls: type) -> _Layout | None:
    """The (child, static) field names of an attrs class, looked up once per class; else None."""
    try:
        return _LAYOUTS[cls]
    except KeyError:
        pass
    layout: _Layout | None = None
    if attrs.has(cls):
        fields = attrs.fields(cls)
        layout = (tuple(f.name for f in fields if not is_static(f)),
                  tuple(f.name for f in fields if is_static(f)))
    _LAYOUTS[cls] = layout
    return layout




@attrs.frozen(repr=False, cache_hash=True)  # hashed often (layout caches): once is enough
class TreeDef(Generic[T]):
    """The structure of a pytree: what remains when its leaves are taken out.

    Two trees have equal ``TreeDef`` when they have the same node types, the same dict keys,
    the same static field values and the same number of leaves in the same places.
    """

    kind: int
    node_type: type | None
    aux: tuple[object, ...]
    children: tuple[TreeDef[object], ...]
    num_leaves: int = attrs.field(eq=False)

    def __repr__(self) -> str:
        return f"TreeDef({describe(self)})"

    def unflatten(self, leaves: Iterable[object]) -> T:
        """Same as ``tree_unflatten(self, leaves)``."""
        return tree_unflatten(self, leaves)


_LEAF_DEF: TreeDef[object] = TreeDef(LEAF, None, (), (), 1)
_NONE_DEF: TreeDef[object] = TreeDef(NONE, None, (), (), 0)


def _node(kind: int, node_type: type | None, aux: tuple[object, ...],
          children: list[TreeDef[object]]) -> TreeDef[object]:
    count = 0
    for child in children:
        count += child.num_leaves
    return TreeDef(kind, node_type, aux, tuple(children), count)


def _flatten_into(tree: object, leaves: list[object]) -> TreeDef[object]:
    """Append the leaves of ``tree`` to ``leaves`` and return its structure."""
    cls = type(tree)
    if cls is np.ndarray:  # the common case first
        leaves.append(tree)
        return _LEAF_DEF
    layout = field_layout(cls)
    if layout is not None:
        names, static = layout
        kids = [_flatten_into(getattr(tree, n), leaves) for n in names]
        return _node(ATTRS, cls, tuple([getattr(tree, n) for n in static]), kids)
    if tree is None:
        return _NONE_DEF
    if cls is tuple or cls is list:
        kids = [_flatten_into(c, leaves) for c in cast("Iterable[object]", tree)]
        return _node(TUPLE if cls is tuple else LIST, None, (), kids)
    if isinstance(tree, tuple) and hasattr(cls, "_fields"):
        kids = [_flatten_into(c, leaves) for c in tree]
        return _node(NAMEDTUPLE, cls, (), kids)
    if isinstance(tree, dict):
        keys = sorted(tree)
        kids = [_flatten_into(tree[k], leaves) for k in keys]
        return _node(DICT, None, tuple(keys), kids)
    leaves.append(tree)
    return _LEAF_DEF


def tree_flatten(tree: T) -> tuple[list[object], TreeDef[T]]:
    """The leaves of a tree, left to right, and its structure.

    >>> leaves, treedef = tree_flatten({"b": (1, 2), "a": None})
    >>> leaves, treedef
    ([1, 2], TreeDef({'a': None, 'b': (*, *)}))
    >>> tree_unflatten(treedef, [3, 4])
    {'a': None, 'b': (3, 4)}
    """
    leaves: list[object] = []
    treedef = _flatten_into(tree, leaves)
    return leaves, cast("TreeDef[T]", treedef)


def _leaves_into(tree: object, leaves: list[object]) -> None:
    """Append the leaves of ``tree`` to ``leaves``: the walk of :func:`_flatten_into`, without
    building the structure (a third of the cost when only the leaves are wanted)."""
    cls = type(tree)
    if cls is np.ndarray:
        leaves.append(tree)
        return
    layout = field_layout(cls)
    if layout is not None:
        for name in layout[0]:
            _leaves_into(getattr(tree, name), leaves)
    elif tree is None:
        return
    elif cls is tuple or cls is list or (isinstance(tree, tuple) and hasattr(cls, "_fields")):
        for child in cast("Iterable[object]", tree):
            _leaves_into(child, leaves)
    elif isinstance(tree, dict):
        for key in sorted(tree):
            _leaves_into(tree[key], leaves)
    else:
        leaves.append(tree)


def tree_leaves(tree: object) -> list[object]:
    """The leaves of a tree, left to right.

    Same as ``tree_flatten(tree)[0]``.

    >>> tree_leaves([1, (2, None), {"x": 3}])
    [1, 2, 3]
    """
    leaves: list[object] = []
    _leaves_into(tree, leaves)
    return leaves


def tree_structure(tree: T) -> TreeDef[T]:
    """The structure of a tree. Same as ``tree_flatten(tree)[1]``."""
    return tree_flatten(tree)[1]


def array_leaves(tree: object) -> list[npt.NDArray[np.generic]]:
    """The leaves of a tree of arrays; raises ``TypeError`` naming the first non-array leaf."""
    out: list[npt.NDArray[np.generic]] = []
    for path, leaf in tree_leaves_with_path(tree):
        if not isinstance(leaf, np.ndarray):
            raise TypeError(f"leaf {path or '<root>'} is {type(leaf).__name__}, not an array")
        out.append(leaf)
    return out


def _frozen(leaf: object) -> object:
    """An array whose data nobody can write: kept as it is if so already, else a frozen copy.

    Copying arrays that somebody could still write keeps an attrs node immutable even when the
    caller keeps (and later writes) the array it mapped to; the library's own leaves are frozen
    already and pass through without a copy.
    """
    if type(leaf) is np.ndarray and not is_frozen(leaf):
        return owned(leaf.copy())
    return leaf


def _build(treedef: TreeDef[object], leaves: Iterator[object]) -> object:
    kind = treedef.kind
    if kind == LEAF:
        return next(leaves)
    if kind == NONE:
        return None
    kids = [_build(c, leaves) for c in treedef.children]
    if kind == ATTRS:
        cls = cast("type", treedef.node_type)
        names, static = cast("_Layout", field_layout(cls))
        obj: object = object.__new__(cls)
        for name, value in zip(names, kids, strict=True):
            object.__setattr__(obj, name, _frozen(value))
        for name, value in zip(static, treedef.aux, strict=True):
            object.__setattr__(obj, name, value)
        return obj
    if kind == TUPLE:
        return tuple(kids)
    if kind == LIST:
        return kids
    if kind == NAMEDTUPLE:
        return cast("type", treedef.node_type)(*kids)
    return dict(zip(treedef.aux, kids, strict=True))


def tree_unflatten(treedef: TreeDef[T], leaves: Iterable[object]) -> T:
    """Rebuild a tree of the given structure from its leaves, left to right.

    Raises ``ValueError`` when there are too few or too many leaves.
    """
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"{treedef!r} has {treedef.num_leaves} leaves, got {len(leaves)}")
    return cast("T", _build(cast("TreeDef[object]", treedef), iter(leaves)))


def child_paths(treedef: TreeDef[Any]) -> list[str]:
    """The path suffix of each child of a node: ``.w``, ``[2]`` or ``['key']``."""
    kind = treedef.kind
    if kind == ATTRS:
        return ["." + n for n in cast("_Layout",
                                      field_layout(cast("type", treedef.node_type)))[0]]
    if kind == NAMEDTUPLE:
        return ["." + n for n in cast("tuple[str, ...]", treedef.node_type._fields)]  # type: ignore[union-attr]
    if kind == DICT:
        return [f"[{k!r}]" for k in treedef.aux]
    return [f"[{i}]" for i in range(len(treedef.children))]


def _paths(treedef: TreeDef[object], prefix: str, out: list[str]) -> None:
    if treedef.kind == LEAF:
        out.append(prefix)
        return
    for suffix, child in zip(child_paths(treedef), treedef.children, strict=True):
        _paths(child, prefix + suffix, out)


def leaf_paths(treedef: TreeDef[Any]) -> list[str]:
    """The path of each leaf of a structure, as :func:`tree_paths` gives them for a tree."""
    out: list[str] = []
    _paths(treedef, "", out)
    return [p.removeprefix(".") for p in out]


def tree_paths(tree: object) -> list[str]:
    """A readable path for each leaf, such as ``layers[2].w``, in leaf order.

    >>> tree_paths({"a": [1, 2], "b": 3})
    ["['a'][0]", "['a'][1]", "['b']"]
    """
    return leaf_paths(tree_structure(tree))


def tree_leaves_with_path(tree: object) -> list[tuple[str, object]]:
    """Pairs ``(path, leaf)`` in leaf order. Same as ``zip(tree_paths(t), tree_leaves(t))``."""
    leaves, treedef = tree_flatten(tree)
    return list(zip(leaf_paths(treedef), leaves, strict=True))


def describe(treedef: TreeDef[Any], leaves: Iterator[str] | None = None) -> str:
    """A one-line picture of a structure, each leaf drawn as ``*`` or as the next of ``leaves``."""
    kind = treedef.kind
    if kind == LEAF:
        return "*" if leaves is None else next(leaves)
    if kind == NONE:
        return "None"
    kids = [describe(c, leaves) for c in treedef.children]
    if kind == TUPLE:
        return "(" + ", ".join(kids) + ("," if len(kids) == 1 else "") + ")"
    if kind == LIST:
        return "[" + ", ".join(kids) + "]"
    if kind == DICT:
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(treedef.aux, kids, strict=True)) + "}"
    cls = cast("type", treedef.node_type)
    names = [s.lstrip(".") for s in child_paths(treedef)]
    parts = [f"{n}={v}" for n, v in zip(names, kids, strict=True)]
    if kind == ATTRS:
        static = cast("_Layout", field_layout(cls))[1]
        parts += [f"{n}={v!r}" for n, v in zip(static, treedef.aux, strict=True)]
    return f"{cls.__name__}({', '.join(parts)})"


def _node_label(treedef: TreeDef[object]) -> str:
    if treedef.kind == LEAF:
        return "a leaf"
    if treedef.kind == DICT:
        return f"a dict with keys {list(treedef.aux)}"
    if treedef.node_type is not None:
        return f"{treedef.node_type.__name__}"
    name = {NONE: "None", TUPLE: "a tuple", LIST: "a list"}[treedef.kind]
    return f"{name} of {len(treedef.children)}" if treedef.children else name


def first_difference(a: TreeDef[Any], b: TreeDef[Any]
                     ) -> tuple[str, TreeDef[object], TreeDef[object]] | None:
    """Where two structures first differ, depth first: its path and the two nodes there, which
    differ in kind, node type, number of children, dict keys or static values; else ``None``."""
    return None if a == b else _differing(a, b, "")


def _differing(a: TreeDef[object], b: TreeDef[object],
               path: str) -> tuple[str, TreeDef[object], TreeDef[object]]:
    same_node = (a.kind, a.node_type, len(a.children)) == (b.kind, b.node_type, len(b.children))
    if same_node and a.aux == b.aux:
        for suffix, ca, cb in zip(child_paths(a), a.children, b.children, strict=True):
            if ca != cb:
                return _differing(ca, cb, path + suffix)
    return path.removeprefix("."), a, b


def _first_difference(a: TreeDef[object], b: TreeDef[object], path: str) -> str:
    """The path and description of the first place where two structures differ."""
    where, a, b = _differing(a, b, path)
    same_node = (a.kind, a.node_type, len(a.children)) == (b.kind, b.node_type, len(b.children))
    if not same_node or a.kind == DICT:
        return f"at {where or '<root>'}: {_node_label(a)} vs {_node_label(b)}"
    return f"at {where or '<root>'}: static fields {a.aux!r} vs {b.aux!r}"
