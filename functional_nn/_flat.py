"""Flat trees: pytrees whose array leaves are read-only views of one contiguous 1-D buffer.

A private fast path. The library's own hot functions (the MLP gradient, the optimizers'
``init`` and ``update``, ``apply_updates``) hand out trees built here: every leaf is a slice of
one fresh buffer, in leaf order, and the tree's root is recorded with its :class:`Layout` and
buffer. A transform that receives such trees finds their buffers in O(1) (:func:`lookup`) and
does its arithmetic as a few passes over whole buffers instead of dozens of per-leaf calls.

Purity is kept: a buffer is written only while it is private, and made read-only before the
tree that exposes it is built; nothing here ever writes to a buffer that was handed out. Only
trees whose nodes are immutable (frozen attrs classes, tuples, named tuples, ``None``) are
recorded, so a recorded tree cannot change behind the record's back. A tree that is not
recorded (made by hand, loaded from a checkpoint, or a dict) simply takes the leaf-by-leaf
path; both paths run the same elementwise kernels and give bit-identical results.
"""

from __future__ import annotations

import sys
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from . import tree as pytree
from ._array import Array
from .tree import TreeDef, tree_flatten

__all__ = ["Layout", "build", "empty", "gather", "layout_of", "lookup", "release", "zeros"]

Builder = Callable[[Array], object]


class Layout:
    """Where each leaf of a tree lives in a flat buffer: structure, shapes, offsets, dtype."""

    __slots__ = ("__weakref__", "build", "dtype", "offsets", "plan", "shapes", "size",
                 "treedef")

    def __init__(self, treedef: TreeDef[object], shapes: tuple[tuple[int, ...], ...],
                 dtype: np.dtype[Any]) -> None:
        self.treedef = treedef
        self.shapes = shapes
        self.dtype = dtype
        sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
        offsets = [0]
        for n in sizes:
            offsets.append(offsets[-1] + n)
        self.offsets = tuple(offsets)
        self.size = offsets[-1]
        self.build: Builder = _compile(treedef, shapes, self.offsets)
        self.plan: object = None  # a per-layout cache for users of the layout (the MLP plan)

    def views(self, base: Array) -> list[Array]:
        """The leaves of ``base`` as arrays of this layout's shapes (views, no copies)."""
        o = self.offsets
        return [base[o[i]:o[i + 1]].reshape(s) for i, s in enumerate(self.shapes)]


_LAYOUTS: dict[tuple[object, ...], Layout] = {}
_IMMUTABLE: dict[type, bool] = {}
_RECORDS: dict[int, tuple[_Ref, Layout, Array]] = {}
_SPARE: dict[tuple[int, np.dtype[Any]], deque[Array]] = {}
_SPARE_PER_SIZE = 8
_SPARE_BYTES = 128 << 20  # spare buffers of one size kept: at most this many bytes (or one)
_MIN_SPARE = 1 << 14  # elements: smaller buffers are cheap to allocate afresh


def _immutable(cls: type) -> bool:
    """Frozen attrs classes (attrs sets ``__setattr__`` to ``_frozen_setattrs``)."""
    try:
        return _IMMUTABLE[cls]
    except KeyError:
        pass
    setattr_name = getattr(getattr(cls, "__setattr__", None), "__name__", "")
    ok = setattr_name == "_frozen_setattrs"
    _IMMUTABLE[cls] = ok
    return ok


def _flattenable(treedef: TreeDef[object]) -> bool:
    kind = treedef.kind
    if kind in (pytree._LIST, pytree._DICT):
        return False
    if kind == pytree._ATTRS and not _immutable(cast("type", treedef.node_type)):
        return False
    return all(_flattenable(c) for c in treedef.children)


def layout_of(tree: object) -> Layout | None:
    """The layout of a tree of arrays of one floating dtype with immutable nodes, else None.

    O(1) for recorded trees; otherwise a flatten and a dictionary lookup.
    """
    record = lookup(tree)
    if record is not None:
        return record[0]
    leaves, treedef = tree_flatten(tree)
    if not leaves or any(type(leaf) is not np.ndarray for leaf in leaves):
        return None
    arrays = cast("list[Array]", leaves)
    dtype = arrays[0].dtype
    if dtype.kind != "f" or any(a.dtype != dtype for a in arrays):
        return None
    shapes = tuple(a.shape for a in arrays)
    key = (treedef, shapes, dtype.str)
    try:
        layout = _LAYOUTS.get(key)
    except TypeError:  # an unhashable static field value
        return None
    if layout is None:
        if not _flattenable(treedef):
            return None
        if len(_LAYOUTS) > 256:  # a bound on the cache for programs of many shapes
            _LAYOUTS.clear()
        layout = _LAYOUTS[key] = Layout(treedef, shapes, dtype)
    return layout


def lookup(tree: object) -> tuple[Layout, Array] | None:
    """The layout and (read-only) buffer of a recorded flat tree; None for any other tree."""
    record = _RECORDS.get(id(tree))
    if record is not None and record[0]() is tree:
        return record[1], record[2]
    return None


class _Ref(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a recorded tree that knows its record's key."""

    __slots__ = ("key",)
    key: int


def _forget(ref: _Ref) -> None:
    """The tree of a record died: drop the record and keep its buffer as a spare."""
    key = ref.key
    record = _RECORDS.get(key)
    if record is not None and record[0] is ref:
        del _RECORDS[key]
        base = record[2]
        if base.size >= _MIN_SPARE:
            _spares(base).append(base)


def _spares(base: Array) -> deque[Array]:
    spares = _SPARE.get((base.size, base.dtype))
    if spares is None:
        keep = max(1, min(_SPARE_PER_SIZE, _SPARE_BYTES // base.nbytes))
        spares = _SPARE[base.size, base.dtype] = deque(maxlen=keep)
    return spares


def empty(layout: Layout) -> Array:
    """A private writable buffer for a tree of ``layout`` (contents undefined).

    Large buffers are recycled: the buffer of a recorded tree that has died is reused once no
    array refers to it any more (no leaf, no view of a leaf: its reference count is ours
    alone), so nobody can ever see it change. The most recently freed buffer goes first: a
    training step then cycles through the same few buffers, which stay in cache, instead of
    touching fresh memory (page faults) or a long rotation of cold buffers.
    """
    spares = _SPARE.get((layout.size, layout.dtype))
    for _ in range(len(spares) if spares else 0):
        base = spares.pop()  # type: ignore[union-attr]  # the latest freed: warm in cache
        if sys.getrefcount(base) == 2:  # ``base`` here and getrefcount's argument: ours alone
            base.flags.writeable = True
            return base
        spares.appendleft(base)  # type: ignore[union-attr]  # a leaf of it lives on: not yet
    return np.empty(layout.size, layout.dtype)


def build(layout: Layout, base: Array) -> Any:
    """A tree of ``layout`` whose leaves are views of ``base``, which becomes read-only.

    ``base`` must be a fresh private 1-D buffer of ``layout.size`` elements of its dtype.
    """
    base.setflags(write=False)
    tree = layout.build(base)
    try:
        ref = _Ref(tree, _forget)
    except TypeError:  # a root that takes no weak references (a tuple): left unrecorded
        return tree
    ref.key = key = id(tree)
    _RECORDS[key] = (ref, layout, base)
    return tree


def release(layout: Layout, buffer: Array) -> None:
    """Hand back a private temporary buffer of ``layout`` (never exposed) for reuse."""
    if buffer.size >= _MIN_SPARE and buffer.base is None:
        _spares(buffer).append(buffer)


def zeros(layout: Layout) -> Any:
    """A recorded tree of ``layout`` full of zeros."""
    return build(layout, np.zeros(layout.size, layout.dtype))


def gather(layout: Layout, tree: object) -> Array:
    """A fresh writable buffer holding the leaves of ``tree`` (of ``layout``), for private use."""
    record = lookup(tree)
    if record is not None and record[0] is layout:
        return record[1].copy()
    out = np.empty(layout.size, layout.dtype)
    for view, leaf in zip(layout.views(out), tree_flatten(tree)[0], strict=True):
        np.copyto(view, cast("Array", leaf))
    return out


def _compile(treedef: TreeDef[object], shapes: tuple[tuple[int, ...], ...],
             offsets: tuple[int, ...]) -> Builder:
    """A function ``base -> tree`` specialised to one layout (generated Python, no recursion).

    Same result as ``tree_unflatten(treedef, views of base)``: attrs nodes are made without
    ``__init__`` (as :func:`~functional_nn.tree.tree_unflatten` does), and their leaves are
    read-only because ``base`` is.
    """
    lines: list[str] = []
    env: dict[str, object] = {"_new": object.__new__, "_set": object.__setattr__}
    counter = iter(range(1 << 30))
    leaf_index = iter(range(len(shapes)))

    def emit(node: TreeDef[object]) -> str:
        kind = node.kind
        if kind == pytree._LEAF:
            i = next(leaf_index)
            name = f"v{i}"
            view = f"base[{offsets[i]}:{offsets[i + 1]}]"
            if len(shapes[i]) != 1:  # a slice already has the shape of a 1-D leaf
                view += f".reshape({shapes[i]!r})"
            lines.append(f"    {name} = {view}")
            return name
        if kind == pytree._NONE:
            return "None"
        kids = [emit(c) for c in node.children]
        n = next(counter)
        if kind == pytree._TUPLE:
            return "(" + "".join(k + ", " for k in kids) + ")"
        cls_name = f"C{n}"
        env[cls_name] = node.node_type
        if kind == pytree._NAMEDTUPLE:
            return f"{cls_name}({', '.join(kids)})"
        names, static = cast("tuple[tuple[str, ...], tuple[str, ...]]",
                             pytree._layout(cast("type", node.node_type)))
        if not names:  # a frozen node without leaves (an activation): one shared instance
            shared: object = object.__new__(cast("type", node.node_type))
            for field, value in zip(static, node.aux, strict=True):
                object.__setattr__(shared, field, value)
            env[f"K{n}"] = shared
            return f"K{n}"
        obj = f"n{n}"
        lines.append(f"    {obj} = _new({cls_name})")
        for field, kid in zip(names, kids, strict=True):
            lines.append(f"    _set({obj}, {field!r}, {kid})")
        for j, (field, value) in enumerate(zip(static, node.aux, strict=True)):
            env[f"S{n}_{j}"] = value
            lines.append(f"    _set({obj}, {field!r}, S{n}_{j})")
        return obj

    root = emit(treedef)
    source = "def build(base):\n" + "\n".join(lines) + f"\n    return {root}\n"
    exec(compile(source, "<functional_nn flat tree builder>", "exec"), env)
    return cast("Builder", env["build"])
