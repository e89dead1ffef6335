"""Maps and folds over the leaves of trees: ``tree_map``, ``tree_map_with_path``, ``tree_reduce``.

They rebuild (or fold) a tree from its leaves through :mod:`functional_nn.tree`'s one model of
structure; typed so that a function of arrays that returns arrays keeps the tree's type.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar, overload

import numpy as np

from ._array import Array
from .tree import (
    TreeDef,
    TreeStructureError,
    _build,
    _first_difference,
    leaf_paths,
    tree_flatten,
    tree_leaves,
)

__all__ = ["NotArray", "tree_map", "tree_map_with_path", "tree_reduce"]

T = TypeVar("T")
S = TypeVar("S")


def _flatten_all(tree: object,
                 rest: tuple[object, ...]) -> tuple[TreeDef[object], list[list[object]]]:
    leaves, treedef = tree_flatten(tree)
    columns = [leaves]
    for i, other in enumerate(rest, start=1):
        other_leaves, other_def = tree_flatten(other)
        if other_def != treedef:
            where = _first_difference(treedef, other_def, "")
            raise TreeStructureError(f"tree 0 and tree {i} differ {where}")
        columns.append(other_leaves)
    return treedef, columns


# Typing tree_map. No type says "T with other leaves", so the overloads tell cases apart by
# what f returns, and give a lambda's parameters their type, Array, by arity. f returns arrays:
# the result has the trees' type, T, on the premise that their leaves are arrays (parameters,
# gradients, moments). f returns numbers, bools, shapes or dtypes (NotArray, which excludes
# arrays): the same structure, but no type says so, and the result is Any for the caller to
# annotate, not a T of arrays it isn't. f takes and returns object: T. The exclusions keep
# mypy exact: it types a lambda's call as Any when overloads of different results all accept
# the lambda, and it checks a lambda's body only against overloads that can fail it (no
# Callable[..., object] for one or two trees, where a lambda's parameters would be Any).

NotArray: TypeAlias = (bool | int | float | complex | str | bytes | np.generic | np.dtype[Any]
                       | tuple[int, ...] | None)
"""What :func:`tree_map`'s ``f`` returns when it summarises a leaf: a number, a bool, a shape."""


@overload
def tree_map(f: Callable[[Array], Array], tree: T, /) -> T: ...
@overload
def tree_map(f: Callable[[Array, Array], Array], tree: T, other: T, /) -> T: ...
@overload
def tree_map(f: Callable[[Array], NotArray], tree: object, /) -> Any: ...
@overload
def tree_map(f: Callable[[Array, Array], NotArray], tree: object, other: object, /) -> Any: ...
@overload
def tree_map(f: Callable[[object], object], tree: T, /) -> T: ...
@overload
def tree_map(f: Callable[[object, object], object], tree: T, other: T, /) -> T: ...
@overload
def tree_map(f: Callable[..., object], tree: T, other: T, third: T, /, *rest: T) -> T: ...
def tree_map(f: Callable[..., object], tree: object, /, *rest: object) -> Any:
    """Apply ``f`` to the leaves of one or more trees of the same structure.

    Same as ``tree_unflatten(treedef, map(f, leaves, *rest_leaves))``. To type checkers the
    result has the trees' type, except when ``f`` returns numbers, bools, shapes or dtypes:
    then it is ``Any``, to annotate (``shapes: dict[str, tuple[int, ...]] = tree_map(...)``).
    ``f``'s parameters are arrays (or objects); over more than two trees, ``f`` is unchecked.

    >>> tree_map(lambda a, b: a + b, {"x": 1, "y": (2, 3)}, {"x": 10, "y": (20, 30)})
    {'x': 11, 'y': (22, 33)}
    """
    treedef, columns = _flatten_all(tree, rest)
    return _build(treedef, iter([f(*xs) for xs in zip(*columns, strict=True)]))


@overload
def tree_map_with_path(f: Callable[[str, Array], Array], tree: T, /) -> T: ...
@overload
def tree_map_with_path(f: Callable[[str, Array, Array], Array], tree: T, other: T, /) -> T: ...
@overload
def tree_map_with_path(f: Callable[[str, Array], NotArray], tree: object, /) -> Any: ...
@overload
def tree_map_with_path(f: Callable[[str, Array, Array], NotArray], tree: object,
                       other: object, /) -> Any: ...
@overload
def tree_map_with_path(f: Callable[[str, object], object], tree: T, /) -> T: ...
@overload
def tree_map_with_path(f: Callable[[str, object, object], object], tree: T, other: T, /
                       ) -> T: ...
@overload
def tree_map_with_path(f: Callable[..., object], tree: T, other: T, third: T, /,
                       *rest: T) -> T: ...
def tree_map_with_path(f: Callable[..., object], tree: object, /, *rest: object) -> Any:
    """Like :func:`tree_map`, with each leaf's path passed first: ``f(path, leaf, *others)``.

    >>> tree_map_with_path(lambda p, x: p, {"a": [0, 0]})
    {'a': ["['a'][0]", "['a'][1]"]}
    """
    treedef, columns = _flatten_all(tree, rest)
    values = [f(p, *xs) for p, *xs in zip(leaf_paths(treedef), *columns, strict=True)]
    return _build(treedef, iter(values))


def tree_reduce(f: Callable[[S, object], S], tree: object, initial: S) -> S:
    """Fold ``f`` over the leaves of a tree, left to right, starting from ``initial``.

    Same as ``functools.reduce(f, tree_leaves(tree), initial)``.

    >>> tree_reduce(lambda acc, x: acc + x, [1, (2, 3)], 0)
    6
    """
    return functools.reduce(f, tree_leaves(tree), initial)
