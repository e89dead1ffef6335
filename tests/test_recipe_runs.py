"""Recipes: validation, JSON round trip, and deterministic runs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn import optim
from functional_nn.recipes import OPTIMIZERS, SCHEDULES, Recipe, build_optimizer, train


@given(st.builds(Recipe, hidden=st.lists(st.integers(1, 64), max_size=3),
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
    for la, lb in zip(fnn.array_leaves(a.state.params), fnn.array_leaves(b.state.params),
                      strict=True):
        assert la.tobytes() == lb.tobytes()
    assert a.state.step == 4 * 19
    assert a.test_accuracy > 0.7
