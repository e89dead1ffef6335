"""Static types of the pytree API: tree_map by arity and result, TreeDef, static fields."""

from __future__ import annotations

from typing import Any, assert_type

import attrs
import numpy as np
import numpy.typing as npt

import functional_nn as fnn
from functional_nn import Array


def tree_map_keeps_the_type_of_trees_of_arrays(net: fnn.Sequential, grads: fnn.Sequential,
                                               d: dict[str, Array]) -> None:
    assert_type(fnn.tree_map(lambda w: w * 2, net), fnn.Sequential)
    assert_type(fnn.tree_map(lambda p, g: p - 0.1 * g, net, grads), fnn.Sequential)
    assert_type(fnn.tree_map(np.zeros_like, net), fnn.Sequential)
    assert_type(fnn.tree_map(lambda a: a + 1, d), dict[str, Array])
    assert_type(fnn.tree_map_with_path(lambda path, w: w * 2, net), fnn.Sequential)
    assert_type(fnn.tree_map_with_path(lambda path, w, g: w - g, net, grads), fnn.Sequential)


def tree_map_of_other_results_is_no_tree_of_arrays(net: fnn.Sequential,
                                                   d: dict[str, Array]) -> None:
    assert_type(fnn.tree_map(lambda a: a.shape, net), Any)  # a Sequential of shapes
    assert_type(fnn.tree_map(lambda w: w.ndim == 2, net), Any)  # a mask
    assert_type(fnn.tree_map(lambda a, b: a.dtype == b.dtype, net, net), Any)
    assert_type(fnn.tree_map_with_path(lambda path, w: path, net), Any)
    shapes: dict[str, tuple[int, ...]] = fnn.tree_map(lambda a: a.shape, d)
    assert_type(shapes, dict[str, tuple[int, ...]])


def lambdas_get_array_parameters(net: fnn.Sequential) -> None:
    # A lambda's parameters are arrays, so a body that is wrong for an array is rejected
    fnn.tree_map(lambda w: w.upper(), net)  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownLambdaType, reportUnknownMemberType]
    fnn.tree_map(lambda w, g: w @ g.keys(), net, net)  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownLambdaType, reportUnknownMemberType]
    fnn.tree_map_with_path(lambda path, w: path.shape, net)  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownLambdaType, reportUnknownMemberType]


def structures(net: fnn.Sequential, d: dict[str, Array]) -> None:
    leaves, treedef = fnn.tree_flatten(net)
    assert_type(leaves, list[object])
    assert_type(treedef, fnn.TreeDef[fnn.Sequential])
    assert_type(treedef.unflatten(leaves), fnn.Sequential)
    assert_type(fnn.tree_unflatten(treedef, leaves), fnn.Sequential)
    assert_type(fnn.tree_structure(d), fnn.TreeDef[dict[str, Array]])
    assert_type(fnn.tree_reduce(lambda n, leaf: n + 1, net, 0), int)
    assert_type(fnn.tree_leaves_with_path(net), list[tuple[str, object]])
    assert_type(fnn.array_leaves(net), list[npt.NDArray[np.generic]])
    _wrong: fnn.Sequential = fnn.tree_unflatten(  # type: ignore[assignment]
        fnn.tree_structure(d), leaves)  # pyright: ignore[reportAssignmentType]


@attrs.frozen
class LeakyReLU:
    """A layer with a hyperparameter: a static field with a default."""

    slope: float = fnn.static_field(default=0.01)


@attrs.frozen
class Named:
    """A static field without a default is a mandatory argument, as at run time."""

    w: Array
    name: str = fnn.static_field()
    tag: str = fnn.static_field(default="t", repr=False)


def static_fields(w: Array) -> None:
    assert_type(LeakyReLU().slope, float)
    assert_type(LeakyReLU(0.2), LeakyReLU)
    assert_type(Named(w, "dense").name, str)
    Named(w)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    LeakyReLU("steep")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


@attrs.frozen
class WrongDefault:
    """A default of the wrong type is rejected."""

    slope: float = fnn.static_field(default="steep")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
