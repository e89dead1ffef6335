"""The laws pytrees and optimizers keep, as reusable checks: check_tree_laws, check_optimizer."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..maps import tree_map
from ..optim import Optimizer, update
from ..tree import tree_flatten, tree_leaves, tree_leaves_with_path, tree_paths, tree_structure
from .purity import assert_pure

__all__ = ["LawBroken", "check_optimizer", "check_tree_laws"]


class LawBroken(AssertionError):
    """A pytree or optimizer law does not hold."""


def _bits(tree: object) -> list[object]:
    return [(leaf.dtype.str, leaf.shape, leaf.tobytes()) if isinstance(leaf, np.ndarray)
            else repr(leaf) for leaf in tree_leaves(tree)]


def check_tree_laws(tree: object) -> None:
    """The laws of a pytree: ``unflatten(flatten(t)) == t`` (structure and bits), ``tree_map``
    of the identity is the identity, the leaf order is stable, and the paths are unique and
    name the leaves in order.

    >>> check_tree_laws({"w": np.ones(2), "b": (np.zeros(1), None)})
    """
    leaves, treedef = tree_flatten(tree)
    back = treedef.unflatten(leaves)
    if tree_structure(back) != treedef or _bits(back) != _bits(tree):
        raise LawBroken("unflatten(flatten(tree)) is not the tree")
    mapped = tree_map(lambda a: a, tree)
    if tree_structure(mapped) != treedef or _bits(mapped) != _bits(tree):
        raise LawBroken("tree_map(identity, tree) is not the tree")
    if [id(x) for x in tree_leaves(tree)] != [id(x) for x in leaves]:
        raise LawBroken("the leaf order changed between two flattens")
    paths = tree_paths(tree)
    if len(set(paths)) != len(paths):
        raise LawBroken(f"two leaves share a path: {paths}")
    if [p for p, _ in tree_leaves_with_path(tree)] != paths:
        raise LawBroken("tree_leaves_with_path and tree_paths disagree")


def check_optimizer(opt: Optimizer[Any], params: object, *, steps: int = 3, seed: int = 0,
                    zero_gradient_is_a_fixed_point: bool = True) -> None:
    """The laws of an optimizer on ``params``: ``init`` and ``update`` are pure (see
    :func:`~.purity.assert_pure`), the state keeps its structure across ``steps`` updates of
    random gradients, and (unless the optimizer promises otherwise, as weight decay does) a
    zero gradient leaves fresh parameters unchanged.

    >>> from functional_nn.optim import adam
    >>> check_optimizer(adam(0.1), {"w": np.ones(3)})
    """
    rng = np.random.default_rng(seed)
    state = assert_pure(opt.init, params)
    structure = tree_structure(state)
    current = params
    for step in range(steps):
        grads = tree_map(lambda a: rng.standard_normal(np.shape(a)).astype(a.dtype), params)
        current, state = assert_pure(update, opt, current, grads, state)
        if tree_structure(state) != structure:
            raise LawBroken(f"the optimizer's state changed structure at step {step + 1}: "
                            f"{structure!r} became {tree_structure(state)!r}")
        if tree_structure(current) != tree_structure(params):
            raise LawBroken(f"the parameters changed structure at step {step + 1}")
    if zero_gradient_is_a_fixed_point:
        zeros = tree_map(np.zeros_like, params)
        moved, _ = update(opt, params, zeros, opt.init(params))
        if _bits(moved) != _bits(params):
            raise LawBroken("a zero gradient moved the parameters from the optimizer's "
                            "initial state")
