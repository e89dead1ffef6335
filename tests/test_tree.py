"""Pytree laws: round trips, functor laws, leaf order, paths, static fields, errors."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn import tree as pytree
from functional_nn.testing import strategies as fst
from functional_nn.testing.strategies import Node as Pair
from tests.conftest import same_bits

# array leaves and Python scalars, in every kind of node
trees = fst.pytrees(st.one_of(fst.arrays(), st.integers(-5, 5),
                              st.floats(-1, 1, allow_nan=False)), max_leaves=12)


@given(trees)
def test_flatten_unflatten_round_trip(tree: object) -> None:
    leaves, treedef = fnn.tree_flatten(tree)
    assert same_bits(fnn.tree_unflatten(treedef, leaves), tree)
    assert treedef.num_leaves == len(leaves)


@given(trees)
def test_map_identity_is_identity(tree: object) -> None:
    assert same_bits(fnn.tree_map(lambda x: x, tree), tree)


@given(trees)
def test_map_composes(tree: object) -> None:
    def f(x: object) -> object:
        return np.asarray(x) * 2.0

    def g(x: object) -> object:
        return np.asarray(x) + 1.0

    assert same_bits(fnn.tree_map(f, fnn.tree_map(g, tree)), fnn.tree_map(lambda x: f(g(x)), tree))


@given(trees)
def test_leaf_order_is_stable_and_paths_unique(tree: object) -> None:
    leaves = fnn.tree_leaves(tree)
    assert [id(x) for x in leaves] == [id(x) for x in fnn.tree_leaves(tree)]
    paths = fnn.tree_paths(tree)
    assert len(paths) == len(leaves)
    assert len(paths) == len(set(paths))
    assert [p for p, _ in fnn.tree_leaves_with_path(tree)] == paths


class _Row(tuple[int, int]):
    """A tuple subclass that is not a named tuple: a leaf."""


class _Pair(NamedTuple):
    first: object
    second: object


@given(trees, st.sampled_from([None, "named", "subclass"]))
def test_leaves_are_the_leaves_of_flatten(tree: object, wrap: str | None) -> None:
    if wrap == "named":
        tree = _Pair(tree, [tree])
    elif wrap == "subclass":
        tree = {"row": _Row((1, 2)), "tree": tree}
    leaves = fnn.tree_leaves(tree)
    assert [id(x) for x in leaves] == [id(x) for x in fnn.tree_flatten(tree)[0]]


@given(trees)
def test_map_with_path_sees_the_paths(tree: object) -> None:
    assert fnn.tree_leaves(fnn.tree_map_with_path(lambda p, x: p, tree)) == fnn.tree_paths(tree)


@given(trees)
def test_tree_reduce_counts_leaves(tree: object) -> None:
    assert fnn.tree_reduce(lambda n, _: n + 1, tree, 0) == len(fnn.tree_leaves(tree))


def test_static_fields_are_structure_not_leaves() -> None:
    a, b = Pair(1, 2, tag="p"), Pair(1, 2, tag="q")
    assert fnn.tree_leaves(a) == [1, 2]
    assert fnn.tree_structure(a) != fnn.tree_structure(b)
    assert fnn.tree_map(lambda x: x * 10, b) == Pair(10, 20, tag="q")
    assert "tag='q'" in repr(fnn.tree_structure(b))


def test_dicts_are_flattened_in_sorted_key_order() -> None:
    assert fnn.tree_leaves({"b": 1, "a": 2, "c": 3}) == [2, 1, 3]


def test_named_tuples_are_nodes() -> None:
    class Point(NamedTuple):
        x: int
        y: int

    mapped = fnn.tree_map(lambda v: v + 1, Point(1, 2))
    assert mapped == Point(2, 3)
    assert type(mapped) is Point
    assert fnn.tree_paths(Point(1, 2)) == ["x", "y"]


def test_paths_of_a_network_are_readable() -> None:
    net = fnn.mlp([4, 3, 2], seed=0)
    assert fnn.tree_paths(net) == ["layers[0].w", "layers[0].b", "layers[2].w", "layers[2].b"]


def test_treedef_repr_and_equality() -> None:
    t = fnn.tree_structure(fnn.mlp([4, 3, 2], seed=0))
    assert repr(t) == "TreeDef(Sequential(layers=(Dense(w=*, b=*), ReLU(), Dense(w=*, b=*))))"
    assert t == fnn.tree_structure(fnn.mlp([5, 7, 2], seed=1))  # shapes are not structure
    assert t != fnn.tree_structure(fnn.mlp([4, 3, 3, 2], seed=0))


def test_map_over_different_structures_names_the_first_difference() -> None:
    a = fnn.mlp([4, 3, 2], seed=0)
    b = fnn.Sequential((a.layers[0], fnn.Tanh(), a.layers[2]))
    with pytest.raises(fnn.TreeStructureError, match=r"at layers\[1\]: ReLU vs Tanh"):
        fnn.tree_map(lambda x, y: x, a, b)
    with pytest.raises(fnn.TreeStructureError, match=r"at \['k'\]: a leaf vs None"):
        fnn.tree_map(lambda x, y: x, {"k": 1}, {"k": None})
    with pytest.raises(fnn.TreeStructureError, match="keys"):
        fnn.tree_map(lambda x, y: x, {"k": 1}, {"j": 1})


def test_structure_helpers_describe_locate_and_name_paths() -> None:
    a = fnn.tree_structure(fnn.mlp([4, 3, 2], seed=0))
    b = fnn.tree_structure(fnn.Sequential((fnn.mlp([4, 3, 2], seed=0).layers[0], fnn.Tanh())))
    assert pytree.describe(a, (f"L{i}" for i in range(4))) == (
        "Sequential(layers=(Dense(w=L0, b=L1), ReLU(), Dense(w=L2, b=L3)))")
    assert pytree.describe(a) == repr(a).removeprefix("TreeDef(")[:-1]
    assert pytree.first_difference(a, a) is None
    where = pytree.first_difference(a, b)
    assert where is not None
    assert (where[0], where[1].kind, len(where[1].children)) == ("layers", pytree.TUPLE, 3)
    assert pytree.leaf_paths(a) == ["layers[0].w", "layers[0].b", "layers[2].w", "layers[2].b"]
    assert pytree.child_paths(a) == [".layers"]
    assert pytree.field_layout(Pair) == (("left", "right"), ("tag",))
    assert pytree.field_layout(dict) is None


def test_unflatten_checks_the_leaf_count() -> None:
    treedef = fnn.tree_structure((1, 2))
    with pytest.raises(ValueError, match="has 2 leaves, got 3"):
        fnn.tree_unflatten(treedef, [1, 2, 3])


def test_map_keeps_the_static_type() -> None:
    net = fnn.mlp([4, 3, 2], seed=0)
    doubled: fnn.Sequential = fnn.tree_map(lambda w: w * 2, net)  # mypy: a Sequential
    assert isinstance(doubled, fnn.Sequential)
    assert isinstance(doubled.layers[0], fnn.Dense)


def test_rebuilt_leaves_never_alias_an_array_someone_can_still_write() -> None:
    net = fnn.mlp([4, 3, 2], seed=0)
    mine = np.ones((4, 3), np.float32)
    rebuilt = fnn.tree_map(lambda w: mine if w.shape == (4, 3) else w, net)
    mine[0, 0] = 7  # the caller keeps writing its own array
    w = fnn.array_leaves(rebuilt)[0]
    assert w[0, 0] == 1
    assert not w.flags.writeable
    assert mine.flags.writeable  # the caller's array keeps its flags
    base = np.zeros((4, 3), np.float32)
    view = base[:]
    view.flags.writeable = False  # read-only, but its base is not
    assert not np.shares_memory(fnn.Dense(view, np.zeros(3, np.float32)).w, base)


def test_frozen_leaves_pass_through_without_a_copy() -> None:
    net = fnn.mlp([4, 3, 2], seed=0)
    again = fnn.tree_map(lambda w: w, net)
    for a, b in zip(fnn.array_leaves(net), fnn.array_leaves(again), strict=True):
        assert np.shares_memory(a, b)


def test_leaves_cannot_be_made_writable_again() -> None:
    net = fnn.mlp([4, 3, 2], seed=0)
    grads = fnn.grad(net, np.ones((2, 4), np.float32), np.array([0, 1]))
    doubled = fnn.tree_map(lambda w: w * 2, net)
    for tree in (net, grads, doubled, fnn.Dense(np.ones((2, 2)), np.ones(2))):
        for leaf in fnn.array_leaves(tree):
            with pytest.raises(ValueError, match="cannot set WRITEABLE flag"):
                leaf.flags.writeable = True


@given(st.lists(st.booleans(), min_size=1, max_size=4))
def test_bool_masks_shaped_like_params(flags: list[bool]) -> None:
    net = fnn.mlp([3] * (len(flags) + 1), seed=0)
    mask = fnn.tree_map(lambda w: w.ndim == 2, net)
    assert fnn.tree_leaves(mask) == [True, False] * len(flags)
