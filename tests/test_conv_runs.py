"""Convnet runs: recipes with a model spec, bit-identical resume through a checkpoint (BatchNorm's
state and Dropout's keys included), and the command line on a tiny convnet: train, stop,
--resume, then evaluate, predict and plot with no architecture flags."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import checkpoint
from functional_nn.cli.config import resolve
from functional_nn.cli.errors import UsageError
from functional_nn.cli.options import network_spec
from functional_nn.data import channels_last, load_dataset
from functional_nn.recipes import RECIPES, Recipe, build_optimizer, build_params, epoch_stream
from functional_nn.specs import SpecError, network
from functional_nn.train import steps_per_epoch
from functional_nn.tree import array_leaves
from tests.conftest import DATA, needs_data, ok, one_json, run_cli, same_bits

TOY = Recipe(model="conv3x3-3,batchnorm,relu,maxpool2,flatten,dropout0.5,dense3", batch_size=8,
             epochs=3, learning_rate=1e-2, schedule="cosine", seed=4)


def _images(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((n, 8, 8, 1), dtype=np.float32)
    return x, (x[:, :4].sum(axis=(1, 2, 3)) > x[:, 4:].sum(axis=(1, 2, 3))).astype(np.int64)


def _like(recipe: Recipe, shape: tuple[int, ...], classes: int, samples: int) -> Any:
    """A state of ``recipe``'s run, the shape a checkpoint of it is read into."""
    flat = fnn.flatten(build_params(recipe, shape, classes))
    opt = build_optimizer(recipe, steps_per_epoch(samples, recipe.batch_size))
    return fnn.TrainState(flat, opt.init(flat), 0, 0.0, fnn.init_state(flat))


def test_a_recipe_builds_its_model_and_keeps_its_canonical_spelling() -> None:
    recipe = Recipe(model=" conv3x3-3 , relu,flatten,dense10 ")
    assert recipe.model == "conv3x3-3,relu,flatten,dense10"
    assert same_bits(build_params(recipe, (6, 6, 1), 10),
                     network("conv3x3-3,relu,flatten,dense10", (6, 6, 1), seed=0))
    with pytest.raises(SpecError, match=re.escape("there are 5 classes: end the model with "
                                                  "dense5")):
        build_params(recipe, (6, 6, 1), 5)
    old = {k: v for k, v in Recipe().to_dict().items() if k != "model"}
    assert Recipe(**old) == Recipe()  # type: ignore[arg-type]  # written before specs
    assert RECIPES["convnet"].model is not None


@pytest.mark.parametrize("stop", [3, 5, 7])  # mid-epoch, at an epoch's end, in epoch 2
def test_a_convnet_resumed_from_its_checkpoint_is_bit_identical(tmp_path: Path,
                                                                stop: int) -> None:
    x, y = _images()
    straight = list(epoch_stream(TOY, x, y, x[:10], y[:10], classes=3))
    stopped = list(epoch_stream(TOY, x, y, x[:10], y[:10], classes=3, max_steps=stop))
    checkpoint.save(tmp_path / "run.npz", stopped[-1].state)
    loaded = checkpoint.load(tmp_path / "run.npz", like=_like(TOY, (8, 8, 1), 3, len(x)))
    assert same_bits(loaded, stopped[-1].state)
    resumed = list(epoch_stream(TOY, x, y, x[:10], y[:10], classes=3, state=loaded))
    end = straight[-1].state
    assert resumed[-1].state.step == end.step == 15
    assert same_bits(resumed[-1].state, end)
    assert [e.record.test_accuracy for e in resumed] == [
        e.record.test_accuracy for e in straight[-len(resumed):]]
    # the running statistics moved, and are part of what was saved and restored
    (_, var) = array_leaves(end.model_state)
    assert not np.array_equal(var, np.ones_like(var))


def test_dropout_draws_its_masks_in_training_from_the_run_alone() -> None:
    x, y = _images()
    off = attrs.evolve(TOY, model="conv3x3-3,batchnorm,relu,maxpool2,flatten,dropout0.0,dense3")
    runs = [list(epoch_stream(recipe, x, y, x, y, classes=3))[-1].state
            for recipe in (TOY, TOY, off)]  # the same start and batches: only masks differ
    assert same_bits(runs[0], runs[1])
    assert not same_bits(runs[0].params, runs[2].params)


# --- the command line, on real MNIST ---------------------------------------------------------

SPEC = "maxpool4,conv3x3-2,batchnorm,relu,flatten,dropout0.25,dense10"
TINY = ("--model", SPEC, "--batch-size", "1000", "--epochs", "1", "--lr", "0.02", "--seed", "1")
"""A convnet of 534 parameters on 7x7 images (a 4x4 max-pool of MNIST's): quick steps."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny convnet's run, stopped at step 10 and resumed to step 20."""
    if not DATA:
        pytest.skip("FUNCTIONAL_NN_DATA is not set")
    folder = tmp_path_factory.mktemp("conv")
    ok(run_cli("train", *TINY, "--max-steps", "10", "--out", "tiny.npz", cwd=folder))
    assert checkpoint.load_metadata(folder / "tiny.npz")["steps"] == 10
    ok(run_cli("train", "--resume", "tiny.npz", "--max-steps", "20", cwd=folder))
    return folder / "tiny.npz"


@needs_data
def test_train_resume_of_a_convnet_is_the_straight_run_to_the_bit(tiny: Path) -> None:
    data = load_dataset("mnist", data_dir=DATA, download=False)
    recipe = Recipe(model=SPEC, batch_size=1000, epochs=1, learning_rate=0.02, seed=1)
    x, test_x = channels_last(data.train_x), channels_last(data.test_x)
    (straight,) = epoch_stream(recipe, x, data.train_y, test_x, data.test_y, max_steps=20)
    saved = checkpoint.load(tiny, like=_like(recipe, (28, 28, 1), 10, len(x)))
    assert saved.step == straight.state.step == 20
    assert same_bits(saved, straight.state)  # parameters, Adam's moments, BatchNorm's state
    meta = checkpoint.load_metadata(tiny)
    assert meta["architecture"] == {"spec": SPEC, "input_shape": [28, 28, 1], "parameters": 534}
    assert meta["test_accuracy"] == straight.record.test_accuracy


@needs_data
def test_evaluate_predict_and_plot_need_no_architecture_flags(tiny: Path) -> None:
    folder = tiny.parent
    meta = checkpoint.load_metadata(tiny)
    evaluation = one_json(ok(run_cli("evaluate", "tiny.npz", "--json", cwd=folder)).stdout)
    assert evaluation["test_accuracy"] == meta["test_accuracy"]  # BatchNorm's state restored
    assert evaluation["model"] == SPEC
    predicted = one_json(ok(run_cli("predict", "tiny.npz", "--index", "0,1", "--json",
                                    cwd=folder)).stdout)
    assert [p["label"] for p in predicted["predictions"]] == [7, 2]
    result = run_cli("plot", "tiny.npz", "-o", "plots", cwd=folder)
    if "plotting needs matplotlib" in result.stderr:
        pytest.skip("matplotlib is not installed (pip install -e '.[plot]')")
    ok(result)
    assert sorted(p.name for p in (folder / "plots").iterdir()) == [
        "accuracy.png", "confusion.png", "filters.png", "loss.png", "misclassified.png"]


@needs_data
def test_a_model_that_does_not_fit_the_data_is_one_line(tmp_path: Path) -> None:
    result = run_cli("train", "--model", "conv30x30-2,flatten,dense10", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "functional-nn: error: model conv30x30-2,flatten,dense10 does not fit mnist (28x28x1 "
        "images, 10 classes): token 1 'conv30x30-2': does not fit a 28x28 image"]
    assert not (tmp_path / "model.npz").exists()


def test_a_bad_spec_is_a_usage_error_naming_its_token() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(
            "token 2 'rleu' is not a layer; layers are conv<H>x<W>-<C>")):
        network_spec("conv3x3-2,rleu")
    with pytest.raises(UsageError, match=re.escape(
            "--hidden shapes an MLP but --model is the whole network")):
        resolve(None, {"model": "conv3x3-2,flatten,dense10", "hidden": (16,)})
    config = resolve("convnet", {"model": "dense10"})  # --model replaces the recipe's network
    assert config.recipe.model == "dense10"
    assert config.recipe.learning_rate == RECIPES["convnet"].learning_rate
