"""The training fold: batches, fold laws, determinism, divergence, and real MNIST."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn import optim
from functional_nn.train import Batch, epochs, steps_per_epoch
from tests.conftest import needs_data, same_bits

State = fnn.TrainState[fnn.Sequential, object]
Step = Callable[[State, Batch], State]


def toy(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small separable problem: the class is the index of the largest of 3 features."""
    x = np.random.default_rng(seed).standard_normal((n, 3)).astype(np.float32)
    return x, x.argmax(axis=1)


def start(seed: int = 0, opt: optim.Optimizer[Any] | None = None) -> tuple[State, Step]:
    optimizer: optim.Optimizer[Any] = opt or optim.adam(1e-2)
    params = fnn.mlp([3, 8, 3], seed=seed)
    state: State = fnn.TrainState(params=params, opt_state=optimizer.init(params), step=0)
    return state, fnn.train_step(optimizer)


@given(st.integers(1, 50), st.integers(1, 12), st.integers(0, 99), st.booleans())
def test_batches_cover_every_sample_once(n: int, size: int, seed: int, drop_last: bool) -> None:
    x, y = np.arange(n)[:, None], np.arange(n)
    got = list(fnn.batches(x, y, batch_size=size, seed=seed, epoch=0, drop_last=drop_last))
    seen = np.concatenate([b[1] for b in got]) if got else np.array([], int)
    assert len(got) == steps_per_epoch(n, size, drop_last=drop_last)
    assert len(set(seen.tolist())) == len(seen)
    assert len(seen) == (n - n % size if drop_last else n)
    assert all(np.array_equal(bx[:, 0], by) for bx, by in got)


def test_batches_depend_on_seed_and_epoch_only() -> None:
    x, y = toy(30)

    def labels(seed: int, epoch: int) -> list[list[int]]:
        return [b[1].tolist() for b in fnn.batches(x, y, batch_size=7, seed=seed, epoch=epoch)]

    assert labels(1, 2) == labels(1, 2)
    assert labels(1, 2) != labels(1, 3)
    assert labels(1, 2) != labels(2, 2)


@given(st.integers(0, 25))
def test_epochs_resume_at_any_step(start_step: int) -> None:
    x, y = toy(10)
    full = list(epochs(x, y, batch_size=3, seed=5, count=3))
    rest = list(epochs(x, y, batch_size=3, seed=5, count=3, start_step=start_step))
    assert len(rest) == max(len(full) - start_step, 0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(full[start_step:], rest, strict=True))


def test_batches_reject_bad_arguments() -> None:
    x, y = toy(10)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        list(fnn.batches(x, y, batch_size=0, seed=0, epoch=0))
    with pytest.raises(ValueError, match="x has 10 samples but y has 9"):
        list(fnn.batches(x, y[:9], batch_size=2, seed=0, epoch=0))
    with pytest.raises(TypeError, match="batch_size must be an integer, got True"):
        list(fnn.batches(x, y, batch_size=True, seed=0, epoch=0))
    with pytest.raises(TypeError, match="x must be an array of samples, got list"):
        list(fnn.batches(x.tolist(), y, batch_size=2, seed=0, epoch=0))
    with pytest.raises(TypeError, match="y must be an array of samples, got ndarray of 0 "):
        list(fnn.batches(x, np.array(3), batch_size=2, seed=0, epoch=0))
    with pytest.raises(ValueError, match="count must be >= 0, got -1"):
        list(epochs(x, y, batch_size=2, seed=0, count=-1))
    with pytest.raises(ValueError, match="start_step must be >= 0, got -2"):
        list(epochs(x, y, batch_size=2, seed=0, count=1, start_step=-2))


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 12), st.integers(0, 12))
def test_fit_over_a_concatenation_is_fit_of_fits(k1: int, k2: int) -> None:
    x, y = toy()
    stream = list(itertools.islice(epochs(x, y, batch_size=8, seed=0, count=10), k1 + k2))
    state, step = start()
    whole = fnn.fit(step, state, stream)
    parts = fnn.fit(step, fnn.fit(step, state, stream[:k1]), stream[k1:])
    assert same_bits(whole, parts)
    assert whole.step == parts.step == k1 + k2


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10))
def test_last_of_fit_iter_is_fit(k: int) -> None:
    x, y = toy()
    stream: list[Batch] = list(itertools.islice(epochs(x, y, batch_size=8, seed=1, count=5), k))
    state, step = start()
    states = list(fnn.fit_iter(step, state, stream))
    assert len(states) == k + 1
    assert states[0] is state
    assert same_bits(states[-1], fnn.fit(step=step, state=state, batches=stream))
    assert [s.step for s in states] == list(range(k + 1))


def test_training_is_deterministic_and_learns() -> None:
    x, y = toy(200)
    runs = []
    for _ in range(2):
        state, step = start(seed=3)
        runs.append(fnn.fit(step, state, epochs(x, y, batch_size=16, seed=3, count=15)))
    assert same_bits(runs[0], runs[1])
    assert runs[0].loss == runs[1].loss
    assert fnn.accuracy(runs[0].params, x, y) > 0.9


def test_state_records_the_loss_before_the_update() -> None:
    x, y = toy(8)
    state, step = start()
    assert math.isnan(state.loss)
    after = step(state, (x, y))
    assert after.loss == fnn.loss(state.params, x, y)
    assert after.step == 1


def test_divergence_stops_the_fold_with_the_last_finite_state() -> None:
    x, y = toy(64)
    x = x * 1e3
    state, step = start(opt=optim.sgd(1e6))
    with pytest.raises(fnn.TrainingDiverged) as caught:
        fnn.fit(step, state, epochs(x, y, batch_size=8, seed=0, count=50))
    err = caught.value
    assert err.state.step == err.step
    assert all(np.isfinite(a).all() for a in fnn.array_leaves(err.state.params))
    assert "diverged at step" in str(err)


def test_train_step_accepts_a_custom_value_and_grad() -> None:
    calls = []

    def counting(
        params: fnn.Sequential, x: np.ndarray, y: np.ndarray
    ) -> tuple[float, fnn.Sequential]:
        calls.append(len(x))
        return fnn.value_and_grad(params, x, y)

    x, y = toy(8)
    optimizer = optim.sgd(0.1)
    params = fnn.mlp([3, 8, 3], seed=0)
    step = fnn.train_step(optimizer, value_and_grad=counting)
    state = fnn.fit(step, fnn.TrainState(params, optimizer.init(params)), [(x, y), (x, y)])
    assert calls == [8, 8]
    assert state.step == 2


@needs_data
def test_origin_network_learns_real_mnist() -> None:
    from functional_nn.data import flatten_images, load_dataset

    data = load_dataset("mnist", download=False)
    x, y = flatten_images(data.train_x), data.train_y
    optimizer = optim.adam(1e-3)
    params = fnn.mlp([784, 16, 16, 10], seed=0)
    state = fnn.TrainState(params=params, opt_state=optimizer.init(params), step=0)
    state = fnn.fit(fnn.train_step(optimizer), state, epochs(x, y, batch_size=32, seed=0, count=1))
    assert state.step == 1875
    acc = fnn.accuracy(state.params, flatten_images(data.test_x), data.test_y)
    assert acc > 0.90


def test_nan_in_the_inputs_is_named_as_data_not_divergence() -> None:
    opt = optim.sgd(0.1)
    params = fnn.flatten(fnn.mlp([3, 2], seed=0))
    x = np.ones((4, 3), np.float32)
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity in its inputs") as info:
        fnn.fit(fnn.train_step(opt), fnn.TrainState(params, opt.init(params)),
                [(x, np.array([0, 1, 0, 1]))])
    assert not isinstance(info.value, fnn.TrainingDiverged)



def test_a_step_names_a_batch_or_state_that_is_not_one() -> None:
    net = fnn.flatten(fnn.mlp([3, 2], seed=0))
    opt = fnn.optim.adam(1e-3)
    step = fnn.train_step(opt)
    state = fnn.TrainState(net, opt.init(net))
    x, y = np.ones((2, 3), np.float32), np.zeros(2, np.int64)
    for batch, shown in [(x, "ndarray"), ((x, y, y), "a tuple of 3"), (None, "NoneType")]:
        with pytest.raises(TypeError, match=f"a batch is a pair \\(x, y\\), got {shown}"):
            step(state, batch)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a step takes a TrainState, got tuple"):
        step((net, state.opt_state, 0), (x, y))  # type: ignore[arg-type]


@pytest.mark.parametrize(("step", "error"), [("a", TypeError), (1.5, TypeError), (None, TypeError),
                                             (True, TypeError), (-1, ValueError)])
def test_a_state_step_is_a_non_negative_integer(step: object, error: type[Exception]) -> None:
    net = fnn.flatten(fnn.mlp([3, 2], seed=0))
    with pytest.raises(error, match=f"TrainState.step must be .*, got {re.escape(repr(step))}"):
        fnn.TrainState(net, None, step)  # type: ignore[arg-type]
    assert fnn.TrainState(net, None, np.int64(3)).step == 3  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [
    lambda: fnn.train_step(None),  # type: ignore[call-overload]
    lambda: fnn.optim.accumulate("x", 2),  # type: ignore[arg-type]
    lambda: fnn.optim.masked("x", lambda path, leaf: True),  # type: ignore[arg-type]
    lambda: fnn.optim.chain(fnn.optim.sgd(0.1), 3),  # type: ignore[call-overload]
])
def test_what_takes_an_optimizer_names_one_that_is_not(make: Callable[[], object]) -> None:
    with pytest.raises(TypeError, match=r"is (NoneType|str|int), not an Optimizer"):
        make()
