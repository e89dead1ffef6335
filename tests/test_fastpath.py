"""The private fast paths give the same bits as the general ones, and stay pure.

* the fused MLP value-and-grad (``_fastmlp``) vs the rule table;
* optimizer transforms on flat trees vs the same transforms leaf by leaf;
* the fused update-and-apply of the aliases (``optim._fused``) vs chain + ``apply_updates``;
* kernels split into blocks and threads vs one call;
* recycled buffers are never ones that a live array still sees.

No timing here: speed is measured by ``benchmarks/``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn import _fastmlp, _flat, _kernels, optim
from functional_nn.losses import softmax_cross_entropy
from tests.strategies import networks

Net = tuple[fnn.Sequential, np.ndarray, np.ndarray]


def bits(tree: object) -> list[bytes]:
    return [np.asarray(leaf).tobytes() for leaf in fnn.tree_leaves(tree)]


def unrecorded(tree: Any) -> Any:
    """The same values in fresh separate arrays: a tree the fast paths do not recognise."""
    def copy(leaf: object) -> object:
        if isinstance(leaf, np.ndarray):
            out = leaf.copy()
            out.flags.writeable = False
            return out
        return leaf
    return fnn.tree_map(copy, tree)


def generic_value_and_grad(params: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, Any]:
    """The rule-table path of ``value_and_grad``, spelled out."""
    rule = fnn.rules.rule_for(params)
    logits, residual = rule.forward(params, x)
    value, g = softmax_cross_entropy(logits, y)
    return value, rule.vjp(params, residual, g, False)[0]


@settings(max_examples=40, deadline=None)
@given(networks(dtype=np.float32), st.booleans())
def test_fused_mlp_gradient_is_bit_identical_to_the_rules(case: Net, float64: bool) -> None:
    net, x, y = case
    if float64:
        net = fnn.tree_map(lambda a: a.astype(np.float64), net)
    assert _fastmlp.plan_for(net) is not None
    fast = fnn.value_and_grad(net, x, y)
    slow = generic_value_and_grad(net, x, y)
    assert fast[0] == slow[0]
    assert bits(fast[1]) == bits(slow[1])
    assert fnn.tree_structure(fast[1]) == fnn.tree_structure(net)
    assert _flat.lookup(fast[1]) is not None
    assert all(not leaf.flags.writeable for leaf in fnn.array_leaves(fast[1]))


def test_plans_only_for_builtin_mlps() -> None:
    net = fnn.mlp([3, 4, 2], seed=0)
    assert _fastmlp.plan_for(net) is not None
    assert _fastmlp.plan_for(fnn.Sequential((fnn.ReLU(), *net.layers))) is None
    assert _fastmlp.plan_for(net.layers[0]) is None  # not a Sequential
    mixed = fnn.Sequential((net.layers[0], fnn.ReLU(), fnn.Dense(
        np.ones((4, 2)), np.zeros(2))))
    assert _fastmlp.plan_for(mixed) is None  # two dtypes


def test_a_reregistered_rule_turns_the_fused_path_off() -> None:
    net = fnn.mlp([3, 4, 2], seed=0)
    x, y = np.ones((2, 3), np.float32), np.array([0, 1])
    dense = fnn.rules.rule_for(net.layers[0])
    calls: list[int] = []

    def forward(layer: object, x: np.ndarray) -> tuple[np.ndarray, object]:
        calls.append(1)
        return dense.forward(layer, x)

    fnn.register(object, forward, dense.vjp)  # a rule for a base class changes nothing
    fnn.rules._RULES.pop(object)
    assert _fastmlp.plan_for(net) is not None
    fnn.register(fnn.Dense, forward, dense.vjp)  # type: ignore[arg-type]
    try:
        assert _fastmlp.plan_for(net) is None
        fnn.value_and_grad(net, x, y)
        assert calls == [1, 1]
    finally:
        fnn.register(fnn.Dense, dense.forward, dense.vjp)  # type: ignore[arg-type]
    assert _fastmlp.plan_for(net) is not None


OPTIMIZERS: list[Callable[[], optim.Optimizer[Any]]] = [
    lambda: optim.adam(1e-2),
    lambda: optim.adam(optim.warmup_cosine_decay(0.0, 1e-2, 3, 12), b1=0.8, eps=1e-6),
    lambda: optim.adamw(3e-3, weight_decay=0.1),
    lambda: optim.sgd(optim.exponential_decay(0.1, 0.5, 4)),
    lambda: optim.momentum(0.05),
    lambda: optim.momentum(0.05, 0.8, nesterov=True),
    lambda: optim.rmsprop(1e-3),
    lambda: optim.chain(optim.clip_by_global_norm(0.5), optim.adam(1e-2)),
    lambda: optim.adamw(1e-2, mask=lambda path, leaf: leaf.ndim > 1),
]


def stream(n: int, seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    x = np.random.default_rng(seed).standard_normal((64, 6)).astype(np.float32)
    return itertools.islice(fnn.epochs(x, x.argmax(axis=1) % 3, batch_size=16, seed=seed,
                                       count=99), n)


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_flat_fused_training_equals_leaf_by_leaf_training(
        make: Callable[[], optim.Optimizer[Any]]) -> None:
    opt = make()
    params = fnn.mlp([6, 8, 5, 3], seed=4)
    fast = fnn.TrainState(params, opt.init(params))
    slow = fast
    for x, y in stream(12):
        fast = fnn.train_step(opt)(fast, (x, y))
        # the general path: separate arrays (no flat records), the rule table, chain + apply
        value, grads = generic_value_and_grad(unrecorded(slow.params), x, y)
        updates, state = opt.update(unrecorded(grads), unrecorded(slow.opt_state),
                                    unrecorded(slow.params))
        slow = fnn.TrainState(optim.apply_updates(unrecorded(slow.params), unrecorded(updates)),
                              state, slow.step + 1, value)
        assert fast.loss == slow.loss
        assert bits(fast) == bits(slow)
        assert fnn.tree_structure(fast) == fnn.tree_structure(slow)
    assert _flat.lookup(fast.params) is not None
    assert all(not leaf.flags.writeable for leaf in fnn.array_leaves(fast.params))


@pytest.mark.parametrize("make", OPTIMIZERS[:6])
def test_fused_update_equals_chain_then_apply(make: Callable[[], optim.Optimizer[Any]]) -> None:
    opt = make()
    assert getattr(opt.update, optim._fused.FUSED, None) is not None
    params = fnn.mlp([6, 8, 3], seed=1)
    state = opt.init(params)
    x, y = next(stream(1))
    _, grads = fnn.value_and_grad(params, x, y)
    for _ in range(5):
        fused = optim.update(opt, params, grads, state)
        updates, chained_state = opt.update(grads, state, params)
        chained = (optim.apply_updates(params, updates), chained_state)
        assert bits(fused) == bits(chained)
        assert fnn.tree_structure(fused) == fnn.tree_structure(chained)
        params, state = fused


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 4), st.sampled_from([16, 64, 1000]))
def test_split_kernels_equal_one_call(n: int, threads: int, block: int) -> None:
    rng = np.random.default_rng(n)
    g, m, p = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    v = np.abs(rng.standard_normal(n)).astype(np.float32)
    f = np.float32
    scalars = (f(0.1), f(0.999), f(0.001), f(3e-9), f(0.2), f(-0.01))

    def outputs() -> list[np.ndarray]:
        return [np.empty(n, np.float32) for _ in range(3)]

    whole = outputs()
    _kernels.run(_kernels.adam_apply, [g, m, v, p, *whole], *scalars)  # one call: n is small
    saved = _kernels.THREADS, _kernels.MIN_PARALLEL, _kernels.BLOCK
    try:
        _kernels.THREADS, _kernels.MIN_PARALLEL, _kernels.BLOCK = threads, 1, block
        split = outputs()
        _kernels.run(_kernels.adam_apply, [g, m, v, p, *split], *scalars)
    finally:
        _kernels.THREADS, _kernels.MIN_PARALLEL, _kernels.BLOCK = saved
    assert [a.tobytes() for a in whole] == [a.tobytes() for a in split]


def test_threaded_training_equals_single_threaded() -> None:
    def train() -> Any:
        opt = optim.adam(1e-2)
        params = fnn.mlp([6, 40, 3], seed=2)
        return fnn.fit(fnn.train_step(opt), fnn.TrainState(params, opt.init(params)),
                       stream(6))

    saved = _kernels.THREADS, _kernels.MIN_PARALLEL, _kernels.BLOCK
    try:
        _kernels.THREADS = 1
        single = train()
        _kernels.THREADS, _kernels.MIN_PARALLEL, _kernels.BLOCK = 2, 1, 32
        threaded = train()
    finally:
        _kernels.THREADS, _kernels.MIN_PARALLEL, _kernels.BLOCK = saved
    assert bits(single) == bits(threaded)


def test_buffers_still_seen_are_never_recycled() -> None:
    saved = _flat._MIN_SPARE
    _flat._MIN_SPARE = 1  # recycle even tiny buffers
    try:
        opt = optim.adam(1e-2)
        params = fnn.mlp([6, 8, 3], seed=0)
        state = fnn.TrainState(params, opt.init(params))
        step = fnn.train_step(opt)
        kept: list[tuple[np.ndarray, bytes]] = []
        for i, batch in enumerate(stream(30)):
            state = step(state, batch)
            if i % 5 == 0:  # keep one leaf (a view) of some states; drop the rest
                leaf = fnn.array_leaves(state.params)[0]
                kept.append((leaf, leaf.tobytes()))
                mu = fnn.array_leaves(state.opt_state[0].mu)[-1]
                kept.append((mu[1:], mu[1:].tobytes()))
        assert all(a.tobytes() == saved_bytes for a, saved_bytes in kept)
        assert sum(len(s) for s in _flat._SPARE.values()) > 0  # recycling did happen
    finally:
        _flat._MIN_SPARE = saved


def test_flat_trees_are_read_only_and_records_follow_the_tree() -> None:
    net = fnn.mlp([4, 3, 2], seed=0)
    layout = _flat.layout_of(net)
    assert layout is not None
    zeros = _flat.zeros(layout)
    record = _flat.lookup(zeros)
    assert record is not None
    assert record[0] is layout
    assert not record[1].flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        fnn.array_leaves(zeros)[0][0, 0] = 1
    assert _flat.lookup(fnn.tree_map(lambda a: a, zeros)) is None  # a rebuilt tree: no record
    assert _flat.layout_of({"a": np.ones(2)}) is None  # dicts can change: never flat
    assert _flat.layout_of(net.layers[1]) is None  # no leaves
    # a tuple root takes no weak reference: built flat but unrecorded, and still correct
    pair = (np.ones(2, np.float32), np.zeros((2, 2), np.float32))
    pair_layout = _flat.layout_of(pair)
    assert pair_layout is not None
    built = _flat.build(pair_layout, _flat.gather(pair_layout, pair))
    assert _flat.lookup(built) is None
    assert bits(built) == bits(pair)


def test_optimizer_inputs_are_untouched_on_the_fast_path() -> None:
    opt = optim.adamw(1e-2, weight_decay=0.1)
    params = fnn.mlp([6, 8, 3], seed=0)
    state = opt.init(params)
    x, y = next(stream(1))
    for _ in range(3):
        _, grads = fnn.value_and_grad(params, x, y)
        before = bits((params, grads, state))
        new_params, new_state = optim.update(opt, params, grads, state)
        assert bits((params, grads, state)) == before
        assert _flat.lookup(new_params) is not None
        params, state = new_params, new_state
