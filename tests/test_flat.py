"""Flat trees: round trips, errors, and the one path run over one buffer or leaf by leaf.

Every optimizer and composition must give the same parameters on a ``Flat`` as on the tree it
stores (the same elementwise formula, so the same bits), and its number of Python calls per
update must not grow with the number of leaves.
"""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, cast

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn import optim
from functional_nn._array import is_frozen
from functional_nn.flat import Flat, flatten, layout_of, owned_flats, unflatten
from functional_nn.testing.strategies import Node as Pair
from functional_nn.tree import tree_flatten, tree_leaves


@attrs.frozen(slots=False)
class _DictNode:
    """An attrs node without slots: its fields live in ``__dict__``."""

    left: object
    right: object


def float_trees() -> st.SearchStrategy[object]:
    arrays = st.tuples(st.lists(st.integers(0, 3), max_size=3).map(tuple),
                       st.integers(0, 2**31)).map(
        lambda s: np.random.default_rng(s[1]).standard_normal(s[0]).astype(np.float32))
    return st.recursive(arrays, lambda kids: st.one_of(
        st.lists(kids, min_size=1, max_size=3).map(tuple),
        st.lists(kids, min_size=1, max_size=3),
        st.dictionaries(st.text("abc", min_size=1, max_size=2), kids, min_size=1, max_size=3),
        st.builds(Pair, kids, kids, st.sampled_from(["p", "q"])),
        st.builds(_DictNode, kids, kids)), max_leaves=8)


@given(float_trees())
def test_flatten_round_trips_with_read_only_views(tree: object) -> None:
    flat = flatten(tree)
    back = flat.tree
    assert fnn.tree_structure(back) == fnn.tree_structure(tree)
    for a, b in zip(tree_leaves(back), tree_leaves(tree), strict=True):
        assert isinstance(a, np.ndarray)
        assert isinstance(b, np.ndarray)
        assert a.tobytes() == b.tobytes()
        assert a.shape == b.shape
        assert (is_frozen(a) and np.shares_memory(a, flat.buffer)) or a.size == 0
    assert is_frozen(flat.buffer)
    assert tree_leaves(flat) == [flat.buffer]  # a pytree with one leaf
    assert flatten(back).layout is flat.layout  # one layout per structure
    assert unflatten(tree) is tree


def test_flatten_names_what_cannot_be_flat() -> None:
    with pytest.raises(ValueError, match=r"leaf \['b'\] is float64 but the first leaf"):
        flatten({"a": np.zeros(2, np.float32), "b": np.zeros(2)})
    with pytest.raises(ValueError, match=r"leaf \[1\] is a int, not an array"):
        flatten((np.zeros(2), 3))
    with pytest.raises(ValueError, match="none"):
        flatten(fnn.ReLU())
    flat = flatten(np.zeros(3))
    with pytest.raises(TypeError, match="Flat already"):
        flatten(flat)
    with pytest.raises(ValueError, match=r"buffer of shape \(3,\)"):
        Flat(flat.layout, np.zeros(4))


def test_a_flat_buffer_cannot_be_written() -> None:
    source = np.ones(3)
    flat = Flat(flatten(np.zeros(3)).layout, source)
    source[0] = 5  # the Flat copied the writable array
    assert flat.buffer[0] == 1
    with pytest.raises(ValueError, match="read-only"):
        flat.tree[0] = 2
    with pytest.raises(ValueError, match="cannot set WRITEABLE"):
        flat.buffer.flags.writeable = True


def test_owned_flats_freeze_fresh_arrays_without_copying_them() -> None:
    layout = flatten((np.zeros(2), np.zeros((1, 3)))).layout
    fresh = [np.arange(5.0), np.ones(5)]
    flats = owned_flats(layout, iter(fresh))
    assert len(flats) == 2
    for flat, array in zip(flats, fresh, strict=True):
        assert type(flat) is Flat
        assert flat.layout is layout
        assert np.shares_memory(flat.buffer, array)
        assert is_frozen(flat.buffer)
        with pytest.raises(ValueError, match="cannot set WRITEABLE"):
            flat.buffer.flags.writeable = True
    assert flats[0].tree[1].tolist() == [[2.0, 3.0, 4.0]]


def _net(layers: int, dtype: type = np.float32) -> fnn.Sequential:
    return fnn.mlp([5] + [4] * layers + [3], seed=layers, dtype=dtype)


def test_value_and_grad_of_a_flat_is_the_flat_of_the_gradient() -> None:
    net = _net(2)
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    y = np.arange(6) % 3
    value, grads = fnn.value_and_grad(flatten(net), x, y)
    tree_value, tree_grads = fnn.value_and_grad(net, x, y)
    assert isinstance(grads, Flat)
    assert grads.layout is layout_of(net)
    assert value == tree_value
    assert grads.buffer.tobytes() == flatten(tree_grads).buffer.tobytes()
    assert fnn.forward(flatten(net), x).tobytes() == fnn.forward(net, x).tobytes()


def _no_bias(path: str, leaf: object) -> bool:
    return not path.endswith(".b")


OPTIMIZERS: dict[str, Callable[[], optim.Optimizer[Any]]] = {
    "sgd": lambda: optim.sgd(0.1),
    "momentum": lambda: optim.momentum(0.1, 0.9),
    "nesterov": lambda: optim.momentum(0.1, 0.9, nesterov=True),
    "adam": lambda: optim.adam(0.01),
    "adamw": lambda: optim.adamw(0.01, weight_decay=0.1),
    "adamw_mask": lambda: optim.adamw(0.01, weight_decay=0.1, mask=_no_bias),
    "rmsprop": lambda: optim.rmsprop(0.01),
    "masked": lambda: optim.masked(optim.adam(0.01), _no_bias),
    "accumulate": lambda: optim.accumulate(optim.adam(0.01), 2),
    "schedule": lambda: optim.adam(optim.warmup_cosine_decay(0.0, 0.01, 2, 10)),
    "clip": lambda: optim.chain(optim.clip_by_global_norm(0.5), optim.adam(0.01)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@settings(max_examples=5)
@given(seed=st.integers(0, 2**31))
def test_training_a_flat_gives_the_bits_of_training_the_tree(name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    stream = list(fnn.batches(x, y, batch_size=4, seed=seed, epoch=0))
    opt = OPTIMIZERS[name]()
    step = fnn.train_step(opt)
    tree = _net(2)
    on_tree = fnn.fit(step, fnn.TrainState(tree, opt.init(tree)), stream)
    flat = flatten(tree)
    on_flat = fnn.fit(step, fnn.TrainState(flat, opt.init(flat)), stream)
    assert isinstance(on_flat.params, Flat)
    expected = flatten(on_tree.params).buffer
    if name == "clip":  # the global norm sums the leaves in another order: round-off
        np.testing.assert_allclose(on_flat.params.buffer, expected, rtol=1e-5, atol=1e-7)
    else:
        assert on_flat.params.buffer.tobytes() == expected.tobytes()
    assert on_flat.loss == pytest.approx(on_tree.loss, rel=1e-5)


def _calls(f: Callable[[], object]) -> int:
    """The number of Python and builtin calls made while running ``f``."""
    count = 0

    def profile(frame: FrameType, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    gc.disable()  # a collection could run finalizers (more calls) inside f
    sys.setprofile(profile)
    try:
        f()
    finally:
        sys.setprofile(None)
        gc.enable()
    return count


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "rmsprop", "clip", "accumulate",
                                  "schedule"])
def test_calls_per_update_do_not_grow_with_the_number_of_leaves(name: str) -> None:
    counts = []
    for layers in (1, 6):
        params = flatten(_net(layers))
        opt = OPTIMIZERS[name]()
        grads = fnn.tree_map(lambda a: a * 0.5, params)
        state = opt.init(params)
        for _ in range(2):  # through an accumulation boundary too
            params, state = optim.update(opt, params, grads, state)
        counts.append(_calls(functools.partial(optim.update, opt, params, grads, state)))
    assert counts[0] == counts[1], counts
    assert len(tree_leaves(_net(6))) > 3 * len(tree_leaves(_net(1)))


def test_layer_kinds_registered_by_users_train_on_a_flat() -> None:
    import attrs

    @attrs.frozen
    class Double:
        pass

    def forward(layer: Double, x: fnn.Array, ctx: fnn.Context) -> tuple[fnn.Array, None]:
        return x * 2, None

    def vjp(layer: Double, residual: None, g: fnn.Array, out: Double,
            ctx: fnn.Context) -> fnn.Array | None:
        return g * 2 if ctx.input_grad else None

    fnn.register(Double, forward, vjp)
    net = fnn.Sequential((*_net(1, np.float64).layers, Double()))
    x = np.random.default_rng(0).standard_normal((3, 5))
    y = np.array([0, 1, 2])
    fnn.testing.check_grads(fnn.loss, net, x, y)
    grads = fnn.grad(flatten(net), x, y)
    assert grads.buffer.tobytes() == flatten(fnn.grad(net, x, y)).buffer.tobytes()
    assert len(tree_flatten(grads)[0]) == 1


def test_a_flat_state_round_trips_through_a_checkpoint(tmp_path: Path) -> None:
    from functional_nn import checkpoint

    opt = optim.adam(0.01)
    flat = flatten(_net(2))
    x = np.random.default_rng(0).standard_normal((8, 5)).astype(np.float32)
    y = np.arange(8) % 3
    stream = list(fnn.batches(x, y, batch_size=4, seed=0, epoch=0)) * 3
    step = fnn.train_step(opt)
    middle = fnn.fit(step, fnn.TrainState(flat, opt.init(flat)), stream[:3])
    checkpoint.save(tmp_path / "run.npz", middle)
    keys = [leaf.key for leaf in checkpoint.read_info(tmp_path / "run.npz").leaves]
    assert "params.tree.layers[0].w" in keys  # saved as the tree, keyed by its paths
    for loaded in (cast("fnn.TrainState[Flat[fnn.Sequential], Any]",
                        checkpoint.load(tmp_path / "run.npz")),
                   checkpoint.load(tmp_path / "run.npz", like=middle)):
        assert isinstance(loaded.params, Flat)
        assert loaded.params.layout is flat.layout
        resumed = fnn.fit(step, loaded, stream[3:])
        straight = fnn.fit(step, middle, stream[3:])
        assert resumed.params.buffer.tobytes() == straight.params.buffer.tobytes()
