"""The named recipes: "origin" as the project defines it, "fast" reaching 98% on MNIST."""

from __future__ import annotations

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import optim
from functional_nn.recipes import RECIPES, build_optimizer, build_params, train
from functional_nn.specs import network_inputs
from functional_nn.train import steps_per_epoch
from tests.conftest import needs_data


def test_origin_recipe_is_the_origin_network() -> None:
    origin = RECIPES["origin"]
    assert origin.hidden == (16, 16)
    assert (origin.optimizer, origin.learning_rate) == ("adam", 1e-3)
    assert (origin.batch_size, origin.epochs, origin.schedule) == (32, 5, "constant")
    assert fnn.param_count(build_params(origin, 784, 10)) == 13002


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipes_build_and_step(name: str) -> None:
    recipe = RECIPES[name]
    params = build_params(recipe, (28, 28, 1), 10)
    opt = build_optimizer(recipe, steps_per_epoch(60000, recipe.batch_size))
    state = opt.init(params)
    assert optim.current_learning_rate(state) >= 0
    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28), dtype=np.uint8)
    x = network_inputs(params, images)  # flat pixels for an MLP, images for a convnet
    _, grads = fnn.value_and_grad(params, x, np.arange(8) % 10, ctx=fnn.Context(True, (0, 0)))
    new_params, _ = optim.update(opt, params, grads, state)
    assert fnn.tree_structure(new_params) == fnn.tree_structure(params)


@needs_data
def test_fast_recipe_reaches_98_percent_on_mnist() -> None:
    from functional_nn.data import flatten_images, load_dataset

    data = load_dataset("mnist", download=False)
    result = train(RECIPES["fast"], flatten_images(data.train_x), data.train_y,
                   flatten_images(data.test_x), data.test_y)
    assert result.test_accuracy >= 0.98
