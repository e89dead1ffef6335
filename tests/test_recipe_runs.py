"""Recipes: validation, JSON round trip, and deterministic runs."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn import optim
from functional_nn.recipes import (
    OPTIMIZERS,
    SCHEDULES,
    EpochRecord,
    Recipe,
    build_optimizer,
    build_params,
    epoch_plan,
    epoch_stream,
    train,
)
from tests.conftest import same_bits


@given(st.builds(Recipe, hidden=st.lists(st.integers(1, 64), max_size=3),
                 model=st.sampled_from([None, "conv3x3-4,relu,maxpool2,flatten,dense10"]),
                 optimizer=st.sampled_from(OPTIMIZERS), schedule=st.sampled_from(SCHEDULES),
                 learning_rate=st.floats(1e-5, 1.0), batch_size=st.integers(1, 512),
                 epochs=st.integers(1, 20), seed=st.integers(0, 2**31),
                 weight_decay=st.sampled_from([0.0, 1e-4]), clip=st.sampled_from([0.0, 1.0])))
def test_recipes_round_trip_through_json_data(recipe: Recipe) -> None:
    assert Recipe(**recipe.to_dict()) == recipe  # type: ignore[arg-type]
    params = fnn.mlp([3, 2], seed=0)
    opt = build_optimizer(recipe, steps_per_epoch=7)
    assert optim.current_learning_rate(opt.init(params)) >= 0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"hidden": (16, 0)}, "hidden sizes must be positive integers, got (16, 0)"),
    ({"optimizer": "adagrad"}, "unknown optimizer 'adagrad'; choose from sgd"),
    ({"schedule": "linear"}, "unknown schedule 'linear'"),
    ({"learning_rate": -1.0}, "learning rate must be positive and finite, got -1.0"),
    ({"batch_size": 0}, "batch size must be a positive integer, got 0"),
    ({"epochs": -2}, "epochs must be a positive integer, got -2"),
    ({"activation": "gelu"}, "unknown activation 'gelu'"),
    ({"seed": -1}, "seed must be >= 0, got -1"),
    ({"model": "conv3x3-4,rleu,dense10"}, "token 2 'rleu' is not a layer"),
])
def test_bad_recipes_are_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=re.escape(match)):
        Recipe(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"hidden": (1.5,)}, "hidden sizes must be integers, got (1.5,)"),
    ({"batch_size": 2.0}, "batch size must be an integer, got 2.0"),
])
def test_values_of_the_wrong_kind_are_type_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(TypeError, match=re.escape(match)):
        Recipe(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_runs_are_deterministic_and_learn(name: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 5)).astype(np.float32)
    y = x.argmax(axis=1)
    lr = {"sgd": 0.5, "momentum": 0.05}.get(name, 1e-2)
    recipe = Recipe(hidden=(16,), optimizer=name, learning_rate=lr,
                    schedule="cosine", batch_size=16, epochs=4, seed=1, clip=5.0)
    a, b = (train(recipe, x, y, x, y, classes=5) for _ in range(2))
    assert [r.test_accuracy for r in a.history] == [r.test_accuracy for r in b.history]
    assert same_bits(a.state.params, b.state.params)
    assert a.state.step == 4 * 19
    assert a.test_accuracy > 0.7


def _toy() -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    return x, x.argmax(axis=1)


def test_the_epoch_stream_is_the_fold_of_fit_iter_cut_into_epochs() -> None:
    x, y = _toy()
    recipe = Recipe(hidden=(8,), batch_size=16, epochs=2, seed=2)
    seen: list[tuple[int, int, int]] = []

    def watch(states: Iterator[fnn.TrainState[Any, Any]], epoch: int,
              steps: int) -> Iterator[fnn.TrainState[Any, Any]]:
        for state in states:
            seen.append((epoch, steps, state.step))
            yield state

    stream = epoch_stream(recipe, x, y, x, y, classes=4, watch=watch)
    epochs = list(stream)
    assert [e.record.epoch for e in epochs] == [1, 2]
    assert [(e.record.steps, e.record.step) for e in epochs] == [(4, 4), (4, 8)]
    assert seen == [(e, 4, s) for e, s in [(0, 1), (0, 2), (0, 3), (0, 4),
                                            (1, 5), (1, 6), (1, 7), (1, 8)]]
    assert epochs[0].record.train_loss == float(epochs[0].losses.mean())
    # the same bits as the public fold over the same batches
    optimizer = build_optimizer(recipe, 4)
    params = fnn.flatten(build_params(recipe, 4, 4))
    start = fnn.TrainState(params, optimizer.init(params), 0)
    expected = fnn.fit(fnn.train_step(optimizer), start,
                       fnn.epochs(x, y, batch_size=16, seed=2, count=2))
    assert same_bits(epochs[-1].state, expected)
    untimed = [attrs.evolve(r, seconds=0.0) for r in train(recipe, x, y, x, y, classes=4).history]
    assert untimed == [attrs.evolve(e.record, seconds=0.0) for e in epochs]


def test_a_step_limit_cuts_the_last_epoch_short() -> None:
    x, y = _toy()
    recipe = Recipe(hidden=(), batch_size=16, epochs=3)
    records = [e.record for e in epoch_stream(recipe, x, y, x, y, classes=4, max_steps=6)]
    assert [(r.steps, r.step) for r in records] == [(4, 4), (2, 6)]
    assert epoch_plan(4, 3, 6) == [4, 2]


def test_no_training_samples_is_an_error_at_once() -> None:
    x, y = _toy()
    with pytest.raises(ValueError, match="no training samples"):
        epoch_stream(Recipe(), x[:0], y[:0], x, y, classes=4)


def test_epoch_records_round_trip_through_json_and_read_old_files() -> None:
    record = EpochRecord(epoch=2, steps=10, step=20, train_loss=0.5, test_loss=math.inf,
                         test_accuracy=0.75, seconds=1.23456)
    data = record.to_json()
    assert data == {"epoch": 2, "steps": 10, "step": 20, "train_loss": 0.5, "test_loss": None,
                    "test_accuracy": 0.75, "seconds": 1.235}
    back = EpochRecord.from_json(json.loads(json.dumps(data)))
    assert math.isnan(back.test_loss)
    assert attrs.evolve(back, test_loss=math.inf) == attrs.evolve(record, seconds=1.235)
    old = {**data, "loss": 0.5}
    del old["train_loss"]
    assert EpochRecord.from_json(old).train_loss == 0.5
    with pytest.raises(KeyError):
        EpochRecord.from_json({"epoch": 1})
