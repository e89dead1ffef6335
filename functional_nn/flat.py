"""Flat trees: a pytree stored as one contiguous buffer, as an explicit value.

``flatten(tree)`` gives a :class:`Flat`: one read-only 1-D ``buffer`` holding every leaf of
``tree`` in leaf order, and the :class:`Layout` that says where each leaf lives. A ``Flat`` is a
pytree with a single leaf, its buffer, so any code written leaf by leaf (every optimizer
transform, :func:`~functional_nn.optim.apply_updates`, :func:`~functional_nn.tree.tree_map`)
runs over a ``Flat`` as a few passes over one vector, however many leaves the tree has: the idea
of ``optax.flatten``, made a value the fold carries instead of a wrapper around the optimizer.

``flat.tree`` is the tree again, its leaves read-only views of the buffer (no copies). The
model treats a ``Flat`` as one more layer kind (see :mod:`functional_nn.rules`): its forward
rule runs the tree's, and its VJP rule hands each layer ``out=`` views of one gradient buffer,
so the gradient of a ``Flat`` is a ``Flat`` of the same layout, written in place.

>>> import numpy as np
>>> params = {"w": np.ones((2, 2), np.float32), "b": np.zeros(2, np.float32)}
>>> flat = flatten(params)
>>> flat.buffer
array([0., 0., 1., 1., 1., 1.], dtype=float32)
>>> np.shares_memory(flat.tree["w"], flat.buffer)
True
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar, cast, overload

import attrs
import numpy as np
import numpy.typing as npt

from . import tree as pytree
from ._array import Array, owned, readonly
from .tree import STATIC, TreeDef, tree_flatten, tree_leaves_with_path

__all__ = ["Flat", "Flattened", "Layout", "flatten", "from_flattened", "layout_of", "owned_flats",
           "to_flattened", "unflatten"]

T = TypeVar("T")
V = TypeVar("V")


@attrs.frozen(eq=False, repr=False)
class _Builder:
    """``base -> tree``, generated once per layout (plain Python, no recursion per call)."""

    run: Callable[[Array], Any]


def _offsets(shapes: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    offsets = [0]
    for shape in shapes:
        offsets.append(offsets[-1] + int(np.prod(shape, dtype=np.int64)))
    return tuple(offsets)


@attrs.frozen(cache_hash=True)
class Layout(Generic[T]):
    """Where each leaf of a tree of structure ``treedef`` lives in a flat buffer of ``dtype``:
    leaf ``i`` of shape ``shapes[i]`` is ``buffer[offsets[i]:offsets[i + 1]]``."""

    treedef: TreeDef[T]
    shapes: tuple[tuple[int, ...], ...]
    dtype: np.dtype[Any]
    offsets: tuple[int, ...] = attrs.field(init=False, eq=False, repr=False)
    paths: tuple[str, ...] = attrs.field(init=False, eq=False, repr=False)
    _builder: _Builder = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        offsets = _offsets(self.shapes)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "paths", tuple(pytree.leaf_paths(self.treedef)))
        object.__setattr__(self, "_builder", _compile(
            cast("TreeDef[object]", self.treedef), self.shapes, offsets))

    @property
    def size(self) -> int:
        """The number of elements of the buffer."""
        return self.offsets[-1]

    def unflatten(self, buffer: Array) -> T:
        """The tree whose leaves are views of ``buffer`` (writable exactly when it is)."""
        tree: T = self._builder.run(buffer)
        return tree

    def leaves(self, buffer: Array) -> list[Array]:
        """The leaves of the tree stored in ``buffer``, in leaf order (views, no copies)."""
        return _views(self, buffer)

    def expand(self, values: Sequence[V], dtype: npt.DTypeLike = np.bool_) -> npt.NDArray[Any]:
        """One value per leaf, repeated over that leaf's elements: a read-only buffer of
        ``dtype`` (bool by default), made once per layout, values and dtype.

        How a per-leaf choice (a mask, a decay rate) becomes a whole-buffer one.

        >>> layout_of({"w": np.zeros((2, 2)), "b": np.zeros(1)}).expand([False, True])
        array([False,  True,  True,  True,  True])
        """
        return _expand(self, tuple(values), np.dtype(dtype))


@functools.lru_cache(maxsize=64)
def _expand(layout: Layout[Any], values: tuple[Any, ...],
            dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    out = np.empty(layout.size, dtype)
    o = layout.offsets
    for i, value in enumerate(values):
        out[o[i]:o[i + 1]] = value
    out.flags.writeable = False
    return out


def _check_buffer(instance: Flat[Any], attribute: attrs.Attribute[Array], value: Array) -> None:
    layout = instance.layout
    if value.shape != (layout.size,) or value.dtype != layout.dtype:
        raise ValueError(f"a Flat of this layout needs a buffer of shape ({layout.size},) and "
                         f"dtype {layout.dtype}, got {value.shape} {value.dtype}")


@attrs.frozen
class Flat(Generic[T]):
    """A tree ``T`` stored as one read-only buffer: a pytree whose only leaf is ``buffer``.

    ``layout`` is a static field: two Flats have the same tree structure exactly when their
    layouts are equal. Make one with :func:`flatten`; get the tree back with ``.tree``.
    """

    layout: Layout[T] = attrs.field(metadata={STATIC: True})
    buffer: Array = attrs.field(converter=readonly, validator=_check_buffer)

    @property
    def tree(self) -> T:
        """The tree, its leaves read-only views of the buffer."""
        tree: T = self.layout._builder.run(self.buffer)  # as layout.unflatten does, one call less
        return tree

    @classmethod
    def of(cls, layout: Layout[T], buffer: Array) -> Flat[T]:
        """A Flat of a buffer the caller made and froze (:func:`~._array.owned`) and checked
        against ``layout``: the constructor without its checks, for the library's hot paths."""
        flat = object.__new__(cls)
        _set_layout(flat, layout)  # the slots' own setters: a third cheaper than setattr
        _set_buffer(flat, buffer)
        return flat


_set_layout = Flat.__dict__["layout"].__set__
_set_buffer = Flat.__dict__["buffer"].__set__
_new = object.__new__


def owned_flats(layout: Layout[T], fresh: Iterable[Array]) -> tuple[Flat[T], ...]:
    """``tuple(Flat.of(layout, owned(a)) for a in fresh)``: Flats of 1-D arrays of the layout's
    size and dtype that the caller just computed and nobody else has seen (frozen here).

    What a transform's results become on a Flat, without three calls per result.
    """
    flats = []
    for array in fresh:
        array.setflags(write=False)  # owned(array), inline: a read-only view of a frozen base
        flat: Flat[T] = _new(Flat)
        _set_layout(flat, layout)
        _set_buffer(flat, array.view())
        flats.append(flat)
    return tuple(flats)


@overload
def unflatten(tree: Flat[T]) -> T: ...
@overload
def unflatten(tree: T) -> T: ...
def unflatten(tree: object) -> object:
    """The tree of a :class:`Flat`; any other tree as it is. Same as ``flat.tree``."""
    return tree.tree if isinstance(tree, Flat) else tree


_LAYOUTS: dict[tuple[object, ...], Layout[Any]] = {}  # one Layout (one compiled builder) each


def layout_of(tree: T) -> Layout[T]:
    """The layout of a tree of floating arrays of one dtype; ``ValueError`` naming the leaf
    that is not one.

    Layouts are made once per structure, shapes and dtype, so equal layouts are one object
    (comparing them is an identity check).
    """
    pairs = tree_leaves_with_path(tree)
    if not pairs:
        raise ValueError("a flat tree needs at least one array leaf; this tree has none")
    dtype: np.dtype[Any] | None = None
    for path, leaf in pairs:
        if not isinstance(leaf, np.ndarray) or leaf.dtype.kind != "f":
            what = (f"an array of dtype {leaf.dtype}" if isinstance(leaf, np.ndarray)
                    else f"a {type(leaf).__name__}, not an array")
            raise ValueError(f"leaf {path or '<root>'} is {what}: a flat tree holds floating "
                             "arrays only")
        if dtype is None:
            dtype = leaf.dtype
        elif leaf.dtype != dtype:
            raise ValueError(f"leaf {path} is {leaf.dtype} but the first leaf is {dtype}: a "
                             "flat tree holds one dtype (cast the tree first)")
    treedef = tree_flatten(tree)[1]
    shapes = tuple(cast("Array", leaf).shape for _, leaf in pairs)
    key = (treedef, shapes, cast("np.dtype[Any]", dtype).str)
    try:
        found = _LAYOUTS.get(key)
    except TypeError:  # a static field value that cannot be hashed: no sharing
        return Layout(treedef, shapes, cast("np.dtype[Any]", dtype))
    if found is None:
        if len(_LAYOUTS) >= 256:  # a bound for programs that make many shapes
            _LAYOUTS.clear()
        found = _LAYOUTS[key] = Layout(treedef, shapes, cast("np.dtype[Any]", dtype))
    return cast("Layout[T]", found)


def flatten(tree: T) -> Flat[T]:
    """``tree`` copied into one fresh read-only buffer, in leaf order.

    Same as ``Flat(layout_of(tree), np.concatenate([leaf.ravel() for leaf in leaves]))``.

    >>> flat = flatten((np.zeros(2), np.ones((1, 2))))
    >>> flat.buffer, flat.tree[1].shape
    (array([0., 0., 1., 1.]), (1, 2))
    """
    if isinstance(tree, Flat):
        raise TypeError("the tree is a Flat already")
    layout = layout_of(tree)
    buffer = np.empty(layout.size, layout.dtype)
    for view, leaf in zip(_views(layout, buffer), tree_flatten(tree)[0], strict=True):
        np.copyto(view, cast("Array", leaf))
    return Flat(layout, owned(buffer))


def _views(layout: Layout[Any], buffer: Array) -> list[Array]:
    o = layout.offsets
    return [buffer[o[i]:o[i + 1]].reshape(s) for i, s in enumerate(layout.shapes)]


def _compile(treedef: TreeDef[object], shapes: tuple[tuple[int, ...], ...],
             offsets: tuple[int, ...]) -> _Builder:
    """Generate ``build(base)``: the same tree as ``tree_unflatten(treedef, views of base)``.

    attrs nodes are made without ``__init__``, as :func:`~functional_nn.tree.tree_unflatten`
    does; their leaves are views, so they are read-only exactly when ``base`` is. A node with
    no leaves (an activation) is one shared instance: it is immutable and holds nothing.
    """
    lines: list[str] = []
    env: dict[str, object] = {"_new": object.__new__, "_set": object.__setattr__}
    names = iter(range(1 << 30))
    leaf_index = iter(range(len(shapes)))

    def emit(node: TreeDef[object]) -> str:
        kind = node.kind
        if kind == pytree.LEAF:
            i = next(leaf_index)
            view = f"base[{offsets[i]}:{offsets[i + 1]}]"
            if len(shapes[i]) != 1:  # a slice already has the shape of a 1-D leaf
                view += f".reshape({shapes[i]!r})"
            lines.append(f"    v{i} = {view}")
            return f"v{i}"
        if kind == pytree.NONE:
            return "None"
        kids = [emit(c) for c in node.children]
        n = next(names)
        if kind in (pytree.TUPLE, pytree.LIST):
            items = "".join(k + ", " for k in kids)
            return f"({items})" if kind == pytree.TUPLE else f"[{items}]"
        if kind == pytree.DICT:
            env[f"K{n}"] = node.aux
            return f"dict(zip(K{n}, ({''.join(k + ', ' for k in kids)})))"
        env[f"C{n}"] = node.node_type
        if kind == pytree.NAMEDTUPLE:
            return f"C{n}({', '.join(kids)})"
        fields, static = cast("tuple[tuple[str, ...], tuple[str, ...]]",
                              pytree.field_layout(cast("type", node.node_type)))
        if not fields:
            shared: object = object.__new__(cast("type", node.node_type))
            for field, value in zip(static, node.aux, strict=True):
                object.__setattr__(shared, field, value)
            env[f"I{n}"] = shared
            return f"I{n}"
        lines.append(f"    n{n} = _new(C{n})")
        for j, (field, kid) in enumerate(zip(fields, kids, strict=True)):
            setter = _slot_setter(cast("type", node.node_type), field)
            if setter is None:
                lines.append(f"    _set(n{n}, {field!r}, {kid})")
            else:  # the slot's own setter: a third cheaper than object.__setattr__
                env[f"F{n}_{j}"] = setter
                lines.append(f"    F{n}_{j}(n{n}, {kid})")
        for j, (field, value) in enumerate(zip(static, node.aux, strict=True)):
            env[f"S{n}_{j}"] = value
            lines.append(f"    _set(n{n}, {field!r}, S{n}_{j})")
        return f"n{n}"

    root = emit(treedef)
    source = "def build(base):\n" + "".join(line + "\n" for line in lines) + f"    return {root}\n"
    exec(compile(source, "<functional_nn.flat builder>", "exec"), env)
    return _Builder(cast("Callable[[Array], Any]", env["build"]))


def _slot_setter(cls: type, field: str) -> Callable[[object, object], None] | None:
    """The setter of ``cls``'s slot ``field``; None when the field is not a slot."""
    for klass in cls.__mro__:
        slot = klass.__dict__.get(field)
        if isinstance(slot, types.MemberDescriptorType):
            return slot.__set__
    return None


@attrs.frozen
class Flattened(Generic[T]):
    """How a :class:`Flat` is written to a checkpoint: as its tree (leaves keyed by their
    paths, such as ``params.tree.layers[0].w``), marked so that loading makes it a Flat again."""

    tree: T


def _rewrite(tree: object, node: Callable[[object], object | None]) -> object:
    """``tree`` with every node for which ``node(n)`` is not None replaced by that value."""
    replaced = node(tree)
    if replaced is not None:
        return replaced
    if isinstance(tree, np.ndarray) or tree is None:
        return tree
    cls = type(tree)
    fields = pytree.field_layout(cls)
    if fields is not None:
        changes = {name: _rewrite(getattr(tree, name), node) for name in fields[0]}
        if all(changes[name] is getattr(tree, name) for name in fields[0]):
            return tree
        out = object.__new__(cls)  # as tree_unflatten rebuilds attrs nodes: no __init__
        for name in (*fields[0], *fields[1]):
            object.__setattr__(out, name, changes.get(name, getattr(tree, name)))
        return out
    if cls is tuple or cls is list:
        return cls(_rewrite(c, node) for c in cast("Sequence[object]", tree))
    if isinstance(tree, tuple) and hasattr(cls, "_fields"):
        return cls(*(_rewrite(c, node) for c in tree))
    if isinstance(tree, dict):
        return {k: _rewrite(v, node) for k, v in tree.items()}
    return tree


def to_flattened(tree: object) -> object:
    """``tree`` with each :class:`Flat` in it replaced by a :class:`Flattened` of its tree."""
    return _rewrite(tree, lambda n: Flattened(n.tree) if isinstance(n, Flat) else None)


def from_flattened(tree: object) -> object:
    """``tree`` with each :class:`Flattened` in it made a :class:`Flat` again."""
    return _rewrite(tree, lambda n: flatten(n.tree) if isinstance(n, Flattened) else None)
