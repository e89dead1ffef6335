"""The optimizer interface: ``Optimizer(init, update)``, :func:`chain` and :func:`apply_updates`.

An optimizer (a *gradient transformation*, as optax calls it) is a pair of pure functions::

    init(params) -> state
    update(grads, state, params) -> (updates, state)

``init`` and ``update`` work on any parameter tree (see :mod:`functional_nn.tree`): the
gradients, the updates and the per-leaf parts of the state are trees of the same structure as
the parameters. ``Optimizer`` is generic in its state type only; the tree type is a type
variable of each call, so ``opt.update(grads, state, params)`` returns updates of the same type
as ``grads`` for any tree type.

Nothing here mutates its inputs. Arrays the optimizers create are handed out read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeAlias, TypeVar, cast, overload

import attrs
import numpy as np
import numpy.typing as npt
from attrs import AttrsInstance

from .._array import Array
from ..flat import Flat
from ..tree import (
    TreeDef,
    TreeStructureError,
    tree_flatten,
    tree_leaves_with_path,
)
from ._leafwise import leafwise

__all__ = [
    "EmptyState",
    "InitFn",
    "Mask",
    "MaskFn",
    "MaskTree",
    "Optimizer",
    "Tree",
    "UpdateFn",
    "apply_updates",
    "chain",
    "identity",
    "update",
]

P = TypeVar("P")
S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)
S1 = TypeVar("S1")
S2 = TypeVar("S2")
S3 = TypeVar("S3")
S4 = TypeVar("S4")
S5 = TypeVar("S5")
S6 = TypeVar("S6")

Tree: TypeAlias = object
"""A pytree of arrays shaped like the parameters: a moment, a gradient sum, a mask."""

MaskFn: TypeAlias = Callable[[str, Array], bool]
"""``mask(path, leaf) -> bool``: whether the leaf at ``path`` (e.g. ``layers[2].b``) takes part.

On a :class:`~functional_nn.flat.Flat` it is asked once per layout: it answers from the path and
the leaf's shape and dtype, not from its values."""

MaskTree: TypeAlias = (bool | np.bool_ | AttrsInstance | tuple["MaskTree", ...]
                       | list["MaskTree"] | Mapping[Any, "MaskTree"] | None)
"""A tree of bools: its nodes are attrs instances, tuples, lists, dicts and ``None``."""

Mask: TypeAlias = MaskFn | MaskTree
"""A :data:`MaskFn`, or a tree of bools (one per leaf) with the structure of the parameters."""


class InitFn(Protocol[S_co]):
    """``init(params) -> state``, for a parameter tree of any type."""

    def __call__(self, params: P, /) -> S_co: ...


class UpdateFn(Protocol[S]):
    """``update(grads, state, params) -> (updates, state)``; updates have the type of grads."""

    def __call__(self, grads: P, state: S, params: P, /) -> tuple[P, S]: ...


@attrs.frozen
class Optimizer(Generic[S]):
    """A gradient transformation: ``init(params) -> state`` and
    ``update(grads, state, params) -> (updates, state)``, both pure.

    The same as optax's ``GradientTransformation``. ``S`` is the type of the state.
    Apply the updates with :func:`apply_updates`, or do both with :func:`update`.
    """

    init: InitFn[S]
    update: UpdateFn[S]


def expect_optimizer(value: object, what: str) -> None:
    """``TypeError`` naming ``what`` unless ``value`` is an :class:`Optimizer` (checked where
    one is given, not at its first use)."""
    if not isinstance(value, Optimizer):
        raise TypeError(f"{what} is {type(value).__name__}, not an Optimizer (such as "
                        "optim.adam(1e-3))")


@attrs.frozen
class EmptyState:
    """The state of a stateless transform."""


def apply_updates(params: P, updates: P) -> P:
    """``params + updates``, leafwise, each new leaf in the dtype of its parameter.

    The new arrays are read-only; neither input is modified.

    >>> params = {"w": np.ones(2, np.float32)}
    >>> new = apply_updates(params, {"w": np.array([0.5, -0.25])})
    >>> new["w"], new["w"].dtype
    (array([1.5 , 0.75], dtype=float32), dtype('float32'))
    """
    def add(p: Array, u: Array) -> tuple[Array]:
        return (np.add(p, u, dtype=p.dtype),)
    new: P = leafwise(add, (params, updates), ("params", "updates"))[0]
    return new


def update(optimizer: Optimizer[S], params: P, grads: P, state: S) -> tuple[P, S]:
    """One optimizer step: the new parameters and the new state.

    Same as ``updates, state = optimizer.update(grads, state, params)`` followed by
    ``apply_updates(params, updates)``.
    """
    updates, new_state = optimizer.update(grads, state, params)
    return apply_updates(params, updates), new_state


def identity() -> Optimizer[EmptyState]:
    """The transform that passes the gradients through unchanged: ``u = g``."""

    def init_fn(params: P) -> EmptyState:
        return EmptyState()

    def update_fn(grads: P, state: EmptyState, params: P) -> tuple[P, EmptyState]:
        return grads, state

    return Optimizer(init_fn, update_fn)


@overload
def chain() -> Optimizer[tuple[()]]: ...
@overload
def chain(t1: Optimizer[S1], /) -> Optimizer[tuple[S1]]: ...
@overload
def chain(t1: Optimizer[S1], t2: Optimizer[S2], /) -> Optimizer[tuple[S1, S2]]: ...
@overload
def chain(t1: Optimizer[S1], t2: Optimizer[S2], t3: Optimizer[S3], /
          ) -> Optimizer[tuple[S1, S2, S3]]: ...
@overload
def chain(t1: Optimizer[S1], t2: Optimizer[S2], t3: Optimizer[S3], t4: Optimizer[S4], /
          ) -> Optimizer[tuple[S1, S2, S3, S4]]: ...
@overload
def chain(t1: Optimizer[S1], t2: Optimizer[S2], t3: Optimizer[S3], t4: Optimizer[S4],
          t5: Optimizer[S5], /) -> Optimizer[tuple[S1, S2, S3, S4, S5]]: ...
@overload
def chain(t1: Optimizer[S1], t2: Optimizer[S2], t3: Optimizer[S3], t4: Optimizer[S4],
          t5: Optimizer[S5], t6: Optimizer[S6], /) -> Optimizer[tuple[S1, S2, S3, S4, S5, S6]]: ...
@overload
def chain(*transforms: Optimizer[S]) -> Optimizer[tuple[S, ...]]: ...
def chain(*transforms: Optimizer[Any]) -> Optimizer[tuple[Any, ...]]:
    """The transforms applied one after another; the state is the tuple of their states.

    ``chain(a, b)`` turns ``g`` into ``b(a(g))``. Up to six transforms of different state types
    are typed precisely; nest chains for more.
    """
    for i, t in enumerate(transforms):
        expect_optimizer(t, f"chain argument {i}")

    def init_fn(params: P) -> tuple[Any, ...]:
        return tuple(t.init(params) for t in transforms)

    def update_fn(grads: P, state: tuple[Any, ...], params: P) -> tuple[P, tuple[Any, ...]]:
        if len(state) != len(transforms):
            raise ValueError(f"chain of {len(transforms)} transforms got a state of "
                             f"{len(state)} parts")
        new_state = []
        for t, s in zip(transforms, state, strict=True):
            grads, s = t.update(grads, s, params)
            new_state.append(s)
        return grads, tuple(new_state)

    return Optimizer(init_fn, update_fn)


def flatten_arrays(tree: P) -> tuple[list[Array], TreeDef[P]]:
    """``tree_flatten(tree)``, typed as a tree of arrays."""
    leaves, treedef = tree_flatten(tree)
    return cast("list[Array]", leaves), treedef


def leaves_like(treedef: TreeDef[P], tree: object, what: str) -> list[Array]:
    """The leaves of ``tree``, which must have the structure ``treedef``."""
    leaves, other = tree_flatten(tree)
    if other != treedef:
        raise TreeStructureError(f"{what} has structure {other!r}, expected {treedef!r}")
    return cast("list[Array]", leaves)


def leaf_flags(mask: Mask, params: object) -> list[bool]:
    """One bool per leaf of ``params``, from ``mask(path, leaf)`` or from a tree of bools.

    For a :class:`~functional_nn.flat.Flat` the mask speaks of the leaves of its tree. A mask
    function is asked once per layout (as a traced optax mask is asked once per structure), so
    it must answer from the path and the leaf's shape and dtype, not from the values.
    """
    if isinstance(params, Flat):
        if callable(mask):
            return list(_flat_flags(mask, params))
        treedef = params.layout.treedef
    elif callable(mask):
        return [bool(mask(path, cast("Array", leaf)))
                for path, leaf in tree_leaves_with_path(params)]
    else:
        treedef = tree_flatten(params)[1]
    bools, mask_def = tree_flatten(mask)
    if mask_def != treedef:
        raise TreeStructureError(f"mask has structure {mask_def!r}, but the parameters have "
                                 f"{treedef!r}")
    try:
        return [bool(f) for f in bools]
    except ValueError:
        raise TypeError("a mask tree needs one bool per leaf") from None


_FLAT_FLAGS: dict[tuple[object, MaskFn], tuple[bool, ...]] = {}


def _flat_flags(mask: MaskFn, flat: Flat[Any]) -> tuple[bool, ...]:
    """``mask(path, leaf)`` for each leaf of a Flat's tree, asked once per layout and mask."""
    key = (flat.layout, mask)
    found = _FLAT_FLAGS.get(key)
    if found is None:
        layout = flat.layout
        found = tuple(bool(mask(path, leaf)) for path, leaf in
                      zip(layout.paths, layout.leaves(flat.buffer), strict=True))
        if len(_FLAT_FLAGS) >= 64:  # a bound for programs that make many layouts
            _FLAT_FLAGS.clear()
        _FLAT_FLAGS[key] = found
    return found


def mask_flags(mask: Mask, params: object) -> list[bool | npt.NDArray[np.bool_]]:
    """One flag per leaf of ``params`` (see :func:`leaf_flags`); for a
    :class:`~functional_nn.flat.Flat`, whose one leaf is its buffer, a bool per element."""
    flags = leaf_flags(mask, params)
    if isinstance(params, Flat):
        return [params.layout.expand(flags)]
    return cast("list[bool | npt.NDArray[np.bool_]]", flags)
