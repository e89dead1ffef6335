"""Tests of functional_nn.optim: PyTorch equivalence, properties, purity, dtypes and types.

The trajectories are compared with float64 transcriptions of PyTorch's algorithms in
``torch_reference.py`` and, when torch is installed, with ``torch.optim`` itself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from functional_nn._array import Array
from functional_nn.flat import flatten, unflatten
from functional_nn.layers import Dense, Sequential, mlp
from functional_nn.maps import tree_map
from functional_nn.optim import (
    AccumulateState,
    AdamState,
    AdamWState,
    EmptyState,
    MaskedState,
    Optimizer,
    ScaleByAdamState,
    ScaleByLearningRateState,
    SgdState,
    accumulate,
    adam,
    adamw,
    add_decayed_weights,
    apply_updates,
    chain,
    clip_by_global_norm,
    current_learning_rate,
    exponential_decay,
    global_norm,
    identity,
    masked,
    momentum,
    rmsprop,
    scale,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    sgd,
    trace,
    update,
    warmup_cosine_decay,
)
from functional_nn.tree import TreeStructureError, tree_leaves
from tests.torch_reference import reference_trajectory, torch_trajectory

P = TypeVar("P")
S = TypeVar("S")
Tree = dict[str, Array]

NAMES = ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"]
FAST = settings(max_examples=25, deadline=None)


def make(name: str, lr: float | Callable[[int], float], **h: float) -> Optimizer[Any]:
    """Our optimizer ``name`` with the hyperparameters the reference takes."""
    if name == "sgd":
        return sgd(lr)
    if name in ("momentum", "nesterov"):
        return momentum(lr, h.get("beta", 0.9), nesterov=name == "nesterov")
    if name == "adam":
        return adam(lr, h.get("b1", 0.9), h.get("b2", 0.999), h.get("eps", 1e-8))
    if name == "adamw":
        return adamw(lr, h.get("b1", 0.9), h.get("b2", 0.999), h.get("eps", 1e-8),
                     h.get("weight_decay", 0.01))
    return rmsprop(lr, h.get("alpha", 0.99), h.get("eps", 1e-8))


def run(opt: Optimizer[S], params: P, grads: list[P]) -> list[P]:
    """The parameters after each step."""
    state = opt.init(params)
    out = []
    for g in grads:
        params, state = update(opt, params, g, state)
        out.append(params)
    return out


def random_like(tree: P, seed: int, scale: float = 1.0) -> P:
    rng = np.random.default_rng(seed)
    return tree_map(lambda p: np.asarray(scale * rng.standard_normal(p.shape), p.dtype), tree)


def dict_tree(shapes: list[tuple[int, ...]], seed: int, dtype: type = np.float64) -> Tree:
    rng = np.random.default_rng(seed)
    return {f"p{i}": np.asarray(rng.standard_normal(s), dtype) for i, s in enumerate(shapes)}


def leaves(tree: object) -> list[Array]:
    """The leaves of a tree of arrays (typed as such)."""
    return cast("list[Array]", tree_leaves(tree))


def arrays_of(tree: object) -> list[Array]:
    return [leaf for leaf in tree_leaves(tree) if isinstance(leaf, np.ndarray)]


def assert_trees_close(a: object, b: object, rtol: float = 1e-12, atol: float = 1e-14) -> None:
    for x, y in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


shapes_st = st.lists(array_shapes(min_dims=0, max_dims=2, max_side=4), min_size=1, max_size=4)
seed_st = st.integers(0, 2**32 - 1)
hyper_st = st.fixed_dictionaries({
    "beta": st.floats(0.0, 0.99), "b1": st.floats(0.0, 0.99), "b2": st.floats(0.5, 0.9999),
    "eps": st.sampled_from([1e-8, 1e-6, 1e-3]), "weight_decay": st.floats(0.0, 0.5),
    "alpha": st.floats(0.5, 0.999)})


# --- PyTorch equivalence -----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(shapes=shapes_st, seed=seed_st, lr=st.floats(1e-4, 1.0), hyper=hyper_st,
       scheduled=st.booleans(), as_flat=st.booleans())
def test_matches_pytorch_algorithm(name: str, shapes: list[tuple[int, ...]], seed: int,
                                   lr: float, hyper: dict[str, float], scheduled: bool,
                                   as_flat: bool) -> None:
    """Leaf by leaf on a dict, or over the one buffer of a Flat: the reference's numbers."""
    params = dict_tree(shapes, seed)
    grads = [random_like(params, seed + 1 + t) for t in range(20)]
    schedule = exponential_decay(lr, 0.7, 4) if scheduled else lr
    opt = make(name, schedule, **hyper)
    if as_flat:
        flat_steps = run(opt, flatten(params), [flatten(g) for g in grads])
        ours = [unflatten(p) for p in flat_steps]
    else:
        ours = run(opt, params, grads)
    ref = reference_trajectory(name, [*params.values()], [[*g.values()] for g in grads],
                               schedule, **hyper)
    for step, (mine, theirs) in enumerate(zip(ours, ref, strict=True)):
        for x, y in zip(mine.values(), theirs, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_real_torch(name: str, dtype: type) -> None:
    pytest.importorskip("torch", reason="torch is not installed (optional check)")
    params = mlp([5, 4, 3], seed=1, dtype=dtype)
    grads = [random_like(params, 10 + t) for t in range(20)]
    hyper = {"beta": 0.8, "b1": 0.85, "b2": 0.99, "eps": 1e-6, "weight_decay": 0.1,
             "alpha": 0.9}
    lr = warmup_cosine_decay(0.0, 0.05, 3, 20)
    ours = run(make(name, lr, **hyper), params, grads)
    theirs = torch_trajectory(name, leaves(params), [leaves(g) for g in grads], lr, **hyper)
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (2e-5, 1e-6)
    for mine, ref in zip(ours, theirs, strict=True):
        for x, y in zip(leaves(mine), ref, strict=True):
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


# --- properties --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "rmsprop"])
@FAST
@given(shapes=shapes_st, seed=seed_st, lr=st.floats(0.0, 10.0))
def test_zero_gradient_leaves_params_unchanged(name: str, shapes: list[tuple[int, ...]],
                                               seed: int, lr: float) -> None:
    params = dict_tree(shapes, seed)
    zeros = tree_map(np.zeros_like, params)
    for new in run(make(name, lr), params, [zeros] * 3):
        assert_trees_close(new, params, rtol=0, atol=0)


@FAST
@given(shapes=shapes_st, seed=seed_st, lr=st.floats(1e-4, 1.0))
def test_adam_first_step_moves_each_parameter_by_the_learning_rate(
        shapes: list[tuple[int, ...]], seed: int, lr: float) -> None:
    params = dict_tree(shapes, seed)
    grads = tree_map(lambda g: np.where(np.abs(g) < 1e-3, 1e-3, g), random_like(params, seed + 1))
    (new,) = run(adam(lr), params, [grads])
    for p, q, g in zip(params.values(), new.values(), grads.values(), strict=True):
        step = q - p
        np.testing.assert_allclose(np.abs(step), lr, rtol=1e-4)
        assert np.all(np.sign(step) == -np.sign(g))


@FAST
@given(shapes=shapes_st, seed=seed_st, size=st.floats(1e-3, 1e3), max_norm=st.floats(1e-2, 10.0))
def test_clip_by_global_norm_bounds_the_norm(shapes: list[tuple[int, ...]], seed: int,
                                             size: float, max_norm: float) -> None:
    grads = random_like(dict_tree(shapes, seed), seed + 1, size)
    clip = clip_by_global_norm(max_norm)
    clipped, _ = clip.update(grads, clip.init(grads), grads)
    norm = global_norm(grads)
    assert global_norm(clipped) <= max_norm * (1 + 1e-12)
    if norm <= max_norm:
        assert all(a is b for a, b in zip(tree_leaves(clipped), tree_leaves(grads), strict=True))
    else:
        factor = max_norm / norm
        for a, b in zip(clipped.values(), grads.values(), strict=True):
            np.testing.assert_allclose(a, factor * b, rtol=1e-14)


@FAST
@given(shapes=shapes_st, seed=seed_st, flags=st.lists(st.booleans(), min_size=4, max_size=4))
def test_masked_leaves_pass_through_and_cost_no_state(shapes: list[tuple[int, ...]], seed: int,
                                                      flags: list[bool]) -> None:
    params = dict_tree(shapes, seed)
    keep = {k: flags[i] for i, k in enumerate(params)}
    grads = [random_like(params, seed + t) for t in range(3)]
    opts: list[Optimizer[Any]] = [
        masked(adam(0.1), lambda path, leaf: keep[path[2:-2]]),  # paths look like ['p0']
        masked(adam(0.1), keep), adam(0.1)]
    states = [opt.init(params) for opt in opts]
    for g in grads:
        outs = [opt.update(g, s, params) for opt, s in zip(opts, states, strict=True)]
        states = [s for _, s in outs]
        for key, selected in keep.items():
            if selected:
                for updates, _ in outs:
                    np.testing.assert_array_equal(updates[key], outs[2][0][key])
            else:
                assert outs[0][0][key] is g[key]
                assert outs[1][0][key] is g[key]
    n = sum(keep.values())
    assert len(arrays_of(states[0])) == len(arrays_of(states[1])) == 2 * n


def test_adamw_mask_spares_the_biases_of_an_mlp() -> None:
    params = mlp([4, 3, 2], seed=0, dtype=np.float64)
    grads = [random_like(params, t) for t in range(5)]
    no_bias = adamw(0.1, weight_decay=0.5, mask=lambda path, leaf: not path.endswith(".b"))
    by_tree = adamw(0.1, weight_decay=0.5,
                    mask=tree_map(lambda p: p.ndim == 2, params))
    masked_run = run(no_bias, params, grads)[-1]
    assert_trees_close(masked_run, run(by_tree, params, grads)[-1], rtol=0, atol=0)
    plain = run(adam(0.1), params, grads)[-1]
    decayed = run(adamw(0.1, weight_decay=0.5), params, grads)[-1]
    for i in (0, 2):
        a, b, c = masked_run.layers[i], plain.layers[i], decayed.layers[i]
        assert isinstance(a, Dense)
        assert isinstance(b, Dense)
        assert isinstance(c, Dense)
        np.testing.assert_array_equal(a.b, b.b)
        np.testing.assert_array_equal(a.w, c.w)
        assert not np.allclose(a.w, b.w)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=10, deadline=None)
@given(k=st.integers(1, 4), seed=seed_st)
def test_accumulation_equals_one_big_batch(name: str, k: int, seed: int) -> None:
    params = dict_tree([(3,), (2, 2)], seed)
    rng = np.random.default_rng(seed)
    data: list[Tree] = [{key: rng.standard_normal((4 * k, *p.shape)) for key, p in params.items()}
            for _ in range(3)]

    def grad(p: Tree, batch: Tree) -> Tree:  # linear in the data: a mean over the batch
        return {key: batch[key].mean(axis=0) + 0.1 * p[key] for key in p}

    big, acc = make(name, 0.05), accumulate(make(name, 0.05), k)
    p_big, s_big = params, big.init(params)
    p_acc, s_acc = params, acc.init(params)
    for batch in data:
        p_big, s_big = update(big, p_big, grad(p_big, batch), s_big)
        for j in range(k):
            micro: Tree = {key: x[4 * j:4 * (j + 1)] for key, x in batch.items()}
            before = p_acc
            p_acc, s_acc = update(acc, p_acc, grad(p_acc, micro), s_acc)
            if j < k - 1:
                assert_trees_close(p_acc, before, rtol=0, atol=0)
                assert s_acc.mini_step == j + 1
        assert_trees_close(p_acc, p_big, rtol=1e-12, atol=1e-13)
    assert s_acc.mini_step == 0


@pytest.mark.parametrize("make_transform", [
    identity, lambda: scale(-2.0), lambda: scale_by_learning_rate(0.3), lambda: trace(0.9),
    lambda: trace(0.5, nesterov=True), scale_by_adam, scale_by_rms,
    lambda: add_decayed_weights(0.1), lambda: clip_by_global_norm(0.5), lambda: adam(0.1),
    lambda: masked(adam(0.1), lambda path, leaf: leaf.ndim > 1)])
def test_chain_of_one_equals_the_transform(make_transform: Callable[[], Optimizer[Any]]
                                           ) -> None:
    params = mlp([3, 4, 2], seed=2, dtype=np.float64)
    alone, chained = make_transform(), chain(make_transform())
    s1, s2 = alone.init(params), chained.init(params)
    for t in range(3):
        g = random_like(params, t)
        u1, s1 = alone.update(g, s1, params)
        u2, s2 = chained.update(g, s2, params)
        assert type(u2) is Sequential
        assert_trees_close(u1, u2, rtol=0, atol=0)
        assert_trees_close(s1, s2[0], rtol=0, atol=0)


ALL: list[Callable[[], Optimizer[Any]]] = [
    lambda: sgd(0.1), lambda: momentum(0.1), lambda: momentum(0.1, nesterov=True),
    lambda: adam(0.1), lambda: adamw(0.1, mask=lambda path, leaf: leaf.ndim > 1),
    lambda: rmsprop(0.1), lambda: chain(clip_by_global_norm(0.1), adam(warmup_cosine_decay(
        0.0, 0.1, 2, 10))), lambda: accumulate(momentum(0.1), 2),
    lambda: masked(rmsprop(0.1), lambda path, leaf: path.endswith(".w"))]


@pytest.mark.parametrize("make_opt", ALL)
def test_float32_stays_float32(make_opt: Callable[[], Optimizer[Any]]) -> None:
    params = mlp([3, 4, 2], seed=0)  # float32
    opt = make_opt()
    state = opt.init(params)
    for t in range(4):
        grads = random_like(params, t)
        updates, state = opt.update(grads, state, params)
        params = apply_updates(params, updates)
        for leaf in arrays_of(params) + arrays_of(updates) + arrays_of(state):
            assert leaf.dtype == np.float32
        assert type(params) is Sequential


@pytest.mark.parametrize(("make", "name"), [(lambda: adam(1e-3), "Adam"),
                                            (lambda: adamw(1e-3), "Adam"),
                                            (lambda: rmsprop(1e-3), "RMSprop")])
def test_an_eps_that_is_zero_in_the_parameters_dtype_is_refused_at_init(
        make: Callable[[], Optimizer[Any]], name: str) -> None:
    half = {"w": np.ones(3, np.float16)}
    for params in (half, flatten(half)):
        with pytest.raises(ValueError, match=f"{name}'s eps 1e-08 is 0 in float16: zero "
                                             "gradients would give 0/0; train in float32"):
            make().init(params)
    opt = adam(1e-3, eps=1e-3)  # one float16 can hold: the update of a zero gradient is 0
    updates, _ = opt.update({"w": np.zeros(3, np.float16)}, opt.init(half), half)
    np.testing.assert_array_equal(updates["w"], 0.0)


def test_apply_updates_keeps_the_parameter_dtype() -> None:
    params: Tree = {"a": np.ones(3, np.float32), "b": np.ones(2, np.float64)}
    updates: Tree = {"a": np.full(3, 0.5), "b": np.full(2, 0.5, np.float32)}
    new = apply_updates(params, updates)
    assert new["a"].dtype == np.float32
    assert new["b"].dtype == np.float64
    np.testing.assert_array_equal(new["a"], 1.5)


def _readonly_copy(tree: P) -> P:
    def freeze(x: object) -> object:
        if isinstance(x, np.ndarray):
            y = x.copy()
            y.flags.writeable = False
            return y
        return x
    return tree_map(freeze, copy.deepcopy(tree))


@pytest.mark.parametrize("make_opt", ALL)
def test_inputs_are_never_modified(make_opt: Callable[[], Optimizer[Any]]) -> None:
    params = mlp([3, 4, 2], seed=0, dtype=np.float64)
    opt = make_opt()
    state = opt.init(params)
    for t in range(4):
        grads = random_like(params, t)
        frozen = _readonly_copy((params, grads, state))
        snapshot = copy.deepcopy(frozen)
        new_params, new_state = update(opt, *frozen)
        again = update(opt, *frozen)  # the same inputs give the same result
        assert_trees_close(again, (new_params, new_state), rtol=0, atol=0)
        assert_trees_close(frozen, snapshot, rtol=0, atol=0)
        assert new_state is not frozen[2]
        assert all(not leaf.flags.writeable for leaf in arrays_of(new_params))
        params, state = new_params, new_state


def test_writable_dict_inputs_are_never_modified() -> None:
    params = dict_tree([(3,), (2, 2), ()], 0)
    opt = chain(clip_by_global_norm(0.5), adamw(0.1))
    state = opt.init(params)
    for t in range(3):
        grads = random_like(params, t)
        before = copy.deepcopy((params, grads, state))
        new_params, new_state = update(opt, params, grads, state)
        assert_trees_close((params, grads, state), before, rtol=0, atol=0)
        params, state = new_params, new_state
    assert params["p2"].shape == ()


def test_generic_over_tree_types() -> None:
    trees: list[object] = [
        np.ones(3), (np.ones(2), [np.zeros((2, 2))]), {"x": {"y": np.ones(1)}, "z": None},
        Dense(np.ones((2, 3)), np.zeros(3)), mlp([2, 2], seed=0)]
    for params in trees:
        opt = chain(clip_by_global_norm(1.0), adamw(0.1, mask=lambda path, leaf: True))
        new, _ = update(opt, params, tree_map(np.ones_like, params), opt.init(params))
        assert type(new) is type(params)
        for a, b in zip(leaves(new), leaves(params), strict=True):
            assert a.shape == b.shape
            assert np.all(a < b)


def test_current_learning_rate_follows_the_schedule() -> None:
    schedule = exponential_decay(1.0, 0.5, 1)
    params = {"w": np.zeros(2)}
    opts: list[Optimizer[Any]] = [sgd(schedule), masked(adam(schedule), {"w": True}),
                                  chain(clip_by_global_norm(1.0), accumulate(adamw(schedule), 2))]
    for opt in opts:
        state = opt.init(params)
        assert current_learning_rate(state) == 1.0
        calls = 4 if "AccumulateState" in repr(state) else 2
        for _ in range(calls):
            _, state = opt.update(params, state, params)
        assert current_learning_rate(state) == 0.5
    assert current_learning_rate(sgd(0.3).init(params)) == 0.3
    with pytest.raises(ValueError, match="no ScaleByLearningRateState"):
        current_learning_rate(scale_by_adam().init(params))


def test_a_schedule_that_goes_negative_is_caught() -> None:
    opt = sgd(lambda step: 0.1 - step)
    params = {"w": np.zeros(1)}
    state = opt.init(params)
    _, state = opt.update(params, state, params)
    with pytest.raises(ValueError, match=r"gave -0\.9 at step 1"):
        opt.update(params, state, params)


def test_mismatched_trees_are_reported() -> None:
    params = {"a": np.ones(2), "b": np.ones(3)}
    opt = adam(0.1)
    with pytest.raises(TreeStructureError):
        opt.update({"a": np.ones(2)}, opt.init(params), {"a": np.ones(2)})
    with pytest.raises(TreeStructureError, match="mask"):
        masked(sgd(0.1), {"a": True}).init(params)
    with pytest.raises(TypeError, match="not an Optimizer"):
        chain(sgd(0.1), "adam")  # type: ignore[call-overload]


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), "0.1", None])
def test_a_schedule_is_checked_at_every_step(bad: object) -> None:
    params = {"w": np.ones(2)}
    opt = sgd(lambda step: 0.1 if step < 2 else bad)  # type: ignore[arg-type, return-value]
    state = opt.init(params)
    for _ in range(2):
        _, state = opt.update(params, state, params)
    with pytest.raises(ValueError, match=r"the learning-rate schedule gave .* at step 2; a "
                                         "learning rate must be >= 0 and finite"):
        opt.update(params, state, params)


@pytest.mark.parametrize(("build", "message"), [
    (lambda: sgd(-0.1), "learning_rate must be >= 0 and finite, got -0.1"),
    (lambda: sgd(float("nan")), "learning_rate must be >= 0"),
    (lambda: momentum(0.1, beta=1.0), "beta must be in"),
    (lambda: trace(1.0), "decay must be in"),
    (lambda: adam(0.1, b1=1.0), r"b1 must be in \[0, 1\), got 1.0"),
    (lambda: adam(0.1, b1=-0.1), "b1 must be in"),
    (lambda: adam(0.1, b2=1.5), "b2 must be in"),
    (lambda: adam(0.1, eps=0.0), "eps must be positive and finite, got 0.0"),
    (lambda: adamw(0.1, weight_decay=-1.0), "weight_decay must be >= 0"),
    (lambda: rmsprop(0.1, alpha=1.2), "alpha must be in"),
    (lambda: rmsprop(0.1, eps=-1e-8), "eps must be positive"),
    (lambda: clip_by_global_norm(0.0), "max_norm must be positive and finite, got 0.0"),
    (lambda: accumulate(sgd(0.1), 0), "every_k must be >= 1, got 0"),
    (lambda: scale(float("inf")), "step_size must be finite"),
])
def test_bad_hyperparameters_raise_clear_errors(build: Callable[[], object],
                                                message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_non_numbers_are_type_errors() -> None:
    with pytest.raises(TypeError, match="b1 must be a real number"):
        adam(0.1, b1="0.9")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="every_k must be an integer"):
        accumulate(sgd(0.1), 2.0)  # type: ignore[arg-type]


# --- static types (checked by mypy --strict; `type: ignore`s must stay needed) ------------------


def test_static_types() -> None:
    params: Sequential = mlp([3, 4, 2], seed=0, dtype=np.float64)
    grads: Sequential = tree_map(np.ones_like, params)
    opt: Optimizer[AdamState] = adam(1e-3)
    state: tuple[ScaleByAdamState, ScaleByLearningRateState] = opt.init(params)
    updates: Sequential = opt.update(grads, state, params)[0]
    new_params: Sequential = update(opt, params, grads, state)[0]
    new_state: AdamState = update(opt, params, grads, state)[1]
    assert isinstance(updates, Sequential)
    assert isinstance(new_params, Sequential)
    assert new_state[0].count == 1

    plain: Tree = {"w": np.ones(2)}
    new_plain: Tree = update(sgd(0.1), plain, plain, sgd(0.1).init(plain))[0]
    assert new_plain["w"][0] == 0.9

    combo: Optimizer[tuple[EmptyState, AccumulateState[AdamWState], MaskedState[SgdState]]]
    combo = chain(clip_by_global_norm(1.0), accumulate(adamw(0.1), 2),
                  masked(sgd(0.1), lambda path, leaf: leaf.ndim == 1))
    assert len(combo.init(params)) == 3

    def wrong_uses() -> None:  # never called: only mypy looks at it
        plain_sgd: Optimizer[SgdState] = sgd(0.1)
        plain_sgd.update(grads, state, params)  # type: ignore[arg-type]
        _: Tree = update(opt, params, grads, state)[0]  # type: ignore[assignment]
        __: SgdState = adam(0.1).init(params)  # type: ignore[assignment]
        adam("fast")  # type: ignore[arg-type]

    assert callable(wrong_uses)
