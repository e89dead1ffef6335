"""The ``functional-nn`` command line, run as a user runs it, on real MNIST.

Every command runs in a fresh ``python -m functional_nn`` process in a temporary folder. The
data comes from ``FUNCTIONAL_NN_DATA`` (a folder holding ``mnist/``); without it the tests
that need data are skipped.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import checkpoint
from functional_nn.cli.config import RunConfig, resolve
from functional_nn.cli.main import COMMANDS, build_parser
from functional_nn.cli.options import hidden_sizes
from functional_nn.data import flatten_images, load_dataset
from functional_nn.recipes import RECIPES, Recipe, build_optimizer, build_params
from tests.conftest import (
    DATA,
    QUICK,
    needs_data,
    needs_pillow,
    needs_tqdm,
    ok,
    one_json,
    run_cli,
    same_bits,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One quick training run (300 steps) with --json and --metrics; its folder and result."""
    if not DATA:
        pytest.skip("FUNCTIONAL_NN_DATA is not set")
    folder = tmp_path_factory.mktemp("cli")
    result = ok(run_cli("train", *QUICK, "--metrics", "metrics.json", "--json", cwd=folder))
    return folder, one_json(result.stdout)


# --- train ----------------------------------------------------------------------------------


@needs_data
def test_train_json_is_one_object_and_checkpoint_holds_the_run(
        trained: tuple[Path, dict[str, Any]]) -> None:
    folder, result = trained
    assert result["checkpoint"] == "model.npz"
    assert (folder / "model.npz").is_file()
    assert result["epochs"] == 1
    assert result["steps"] == 300
    assert 0.8 < result["test_accuracy"] < 1
    assert result["seconds"] > 0
    state = checkpoint.load(folder / "model.npz")
    assert isinstance(state, fnn.TrainState)
    assert state.step == 300
    assert isinstance(state.params, fnn.Flat)  # the run's state as it trained
    assert isinstance(fnn.unflatten(state.params), fnn.Sequential)
    meta = checkpoint.load_metadata(folder / "model.npz")
    assert meta["architecture"] == {"sizes": [784, 16, 16, 10], "activation": "relu",
                                    "spec": "dense16,relu,dense16,relu,dense10",
                                    "input_shape": [784], "parameters": 13002}
    assert meta["dataset"] == "mnist"
    assert meta["seed"] == 0
    assert meta["recipe"] == "origin"
    config = meta["config"]
    assert isinstance(config, dict)
    assert config == {**Recipe(epochs=1).to_dict(), "recipe": "origin", "dataset": "mnist",
                      "max_steps": 300}
    assert config["hidden"] == [16, 16]
    assert config["learning_rate"] == 1e-3
    assert meta["test_accuracy"] == result["test_accuracy"]
    assert meta["history"] == result["history"]


@needs_data
def test_metrics_json_records_epochs_configuration_and_result(
        trained: tuple[Path, dict[str, Any]]) -> None:
    folder, result = trained
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics == result
    (epoch,) = metrics["history"]
    assert epoch["epoch"] == 1
    assert epoch["steps"] == 300
    assert epoch["step"] == 300
    assert 0 < epoch["train_loss"] < 2.5
    assert epoch["seconds"] > 0
    assert epoch["test_accuracy"] == metrics["test_accuracy"]
    assert metrics["config"] == RunConfig(recipe=Recipe(epochs=1), max_steps=300).to_json()
    assert metrics["seed"] == 0
    assert len(metrics["loss_trace"]["loss"]) == 300
    mode = (folder / "metrics.json").stat().st_mode & 0o777
    assert mode == (folder / "model.npz").stat().st_mode & 0o777  # not mkstemp's 0600


@needs_data
def test_evaluate_reproduces_the_trained_accuracy_exactly(
        trained: tuple[Path, dict[str, Any]]) -> None:
    folder, result = trained
    evaluation = one_json(ok(run_cli("evaluate", "model.npz", "--json", cwd=folder)).stdout)
    assert evaluation["test_accuracy"] == result["test_accuracy"]
    assert evaluation["test_loss"] == result["test_loss"]
    confusion = np.array(evaluation["confusion"])
    assert confusion.shape == (10, 10)
    assert confusion.sum() == 10_000
    assert np.trace(confusion) == round(result["test_accuracy"] * 10_000)
    assert len(evaluation["precision"]) == len(evaluation["recall"]) == 10


@needs_data
def test_evaluate_prints_accuracy_per_class_and_confusion(
        trained: tuple[Path, dict[str, Any]]) -> None:
    folder, result = trained
    out = ok(run_cli("evaluate", "model.npz", cwd=folder)).stdout
    assert f"test accuracy {result['test_accuracy']:.2%}" in out
    assert "class  precision  recall" in out
    assert "confusion matrix" in out
    assert len(out.splitlines()) == 2 + 11 + 2 + 10


@needs_data
def test_train_flags_override_the_recipe_and_print_epoch_lines(tmp_path: Path) -> None:
    result = ok(run_cli("train", "--recipe", "origin", "--hidden", "none", "--optimizer", "sgd",
                        "--lr", "0.1", "--schedule", "warmup-cosine", "--warmup-epochs", "0.5",
                        "--clip", "1", "--weight-decay", "1e-4", "--batch-size", "64",
                        "--epochs", "2", "--max-steps", "1000", "--seed", "3",
                        "--out", "net.npz", cwd=tmp_path))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("training a 784-10 relu network (7,850 parameters) on mnist")
    assert [line.split(":")[0] for line in lines[2:4]] == ["epoch 1/2", "epoch 2/2"]
    assert lines[-1].startswith("saved net.npz: test accuracy")
    assert result.stderr == ""  # no TTY: no progress bar
    meta = checkpoint.load_metadata(tmp_path / "net.npz")
    assert meta["architecture"] == {"sizes": [784, 10], "activation": "relu", "spec": "dense10",
                                    "input_shape": [784], "parameters": 7850}
    recipe = Recipe(hidden=(), optimizer="sgd", learning_rate=0.1, schedule="warmup-cosine",
                    warmup_epochs=0.5, clip=1.0, weight_decay=1e-4, batch_size=64, epochs=2,
                    seed=3)
    assert meta["config"] == RunConfig(recipe=recipe, max_steps=1000).to_json()
    history = meta["history"]
    assert isinstance(history, list)
    assert [h["steps"] for h in history] == [938, 62]  # 60000/64 per epoch, then cut short


@needs_data
def test_evaluate_accepts_bare_parameters(tmp_path: Path) -> None:
    checkpoint.save(tmp_path / "bare.npz", fnn.mlp([784, 32, 10], seed=0))
    evaluation = one_json(ok(run_cli("evaluate", "bare.npz", "--json", cwd=tmp_path)).stdout)
    assert evaluation["dataset"] == "mnist"
    assert evaluation["sizes"] == [784, 32, 10]
    assert evaluation["epochs"] is None  # no training history recorded
    assert 0 <= evaluation["test_accuracy"] <= 1


@needs_data
@needs_tqdm
@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_progress_bar_on_a_terminal_shows_the_running_loss(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(  # long enough for the bar to redraw (every 0.2 s)
        [sys.executable, "-m", "functional_nn", "train", "--epochs", "1", "--max-steps", "1500"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process is done with it
            break
        if not chunk:
            break
        screen += chunk
    assert process.stdout is not None
    stdout = process.stdout.read().decode()
    assert process.wait(timeout=60) == 0
    os.close(leader)
    text = screen.decode()
    assert re.search(r"epoch 1/1: +\d+%\|.*\| \d+/1500 .*step/s, loss \d\.\d{4}\]", text), text
    assert stdout.splitlines()[2].startswith("epoch 1/1: loss")  # stdout stays clean


@needs_data
def test_console_script(trained: tuple[Path, dict[str, Any]]) -> None:
    script = shutil.which("functional-nn")
    if script is None:
        pytest.skip("the functional-nn console script is not on PATH (pip install -e .)")
    folder, _ = trained
    result = ok(run_cli("predict", "model.npz", "--index", "0", "--json", cwd=folder,
                        exe=(script,)))
    (prediction,) = one_json(result.stdout)["predictions"]
    assert prediction["label"] == 7


# --- predict --------------------------------------------------------------------------------


def write_pgm(path: Path, image: np.ndarray) -> None:
    """A binary PGM (P5), written by hand."""
    rows, columns = image.shape
    path.write_bytes(f"P5\n{columns} {rows}\n255\n".encode() + image.astype(np.uint8).tobytes())


@needs_data
@needs_pillow
def test_predict_pgm_png_and_index_agree(trained: tuple[Path, dict[str, Any]]) -> None:
    from PIL import Image

    folder, _ = trained
    test_x = load_dataset("mnist", data_dir=DATA, download=False).test_x
    write_pgm(folder / "seven.pgm", test_x[0])
    Image.fromarray(test_x[1]).save(folder / "two.png")
    result = ok(run_cli("predict", "model.npz", "seven.pgm", "two.png", "--index", "0,1",
                        "--json", cwd=folder))
    predictions = one_json(result.stdout)["predictions"]
    assert [p["source"] for p in predictions] == ["seven.pgm", "two.png", "mnist test image 0",
                                                 "mnist test image 1"]
    assert [p["label"] for p in predictions] == [None, None, 7, 2]
    for p in predictions:
        assert len(p["probabilities"]) == 10
        assert abs(sum(p["probabilities"]) - 1) < 1e-5
        assert p["predicted"] == int(np.argmax(p["probabilities"]))
    # The same pixels from a file or from the test set give the same probabilities.
    assert predictions[0]["probabilities"] == predictions[2]["probabilities"]
    assert predictions[1]["probabilities"] == predictions[3]["probabilities"]
    assert "warning" not in result.stderr  # 28×28 white-on-black grayscale: nothing to say


@needs_data
@needs_pillow
def test_predict_converts_resizes_and_warns_but_never_inverts_by_itself(
        trained: tuple[Path, dict[str, Any]]) -> None:
    from PIL import Image

    folder, _ = trained
    seven = load_dataset("mnist", data_dir=DATA, download=False).test_x[0]
    big = np.repeat(np.repeat(seven, 2, axis=0), 2, axis=1)
    Image.fromarray(np.stack([big] * 3, axis=-1)).save(folder / "rgb56.png")
    write_pgm(folder / "dark-on-light.pgm", 255 - seven)
    result = ok(run_cli("predict", "model.npz", "rgb56.png", "dark-on-light.pgm", cwd=folder))
    assert "rgb56.png: RGB image converted to 8-bit grayscale" in result.stderr
    assert "rgb56.png: 56×56 image resized to 28×28" in result.stderr
    assert "dark-on-light.pgm: mostly light" in result.stderr
    assert "--invert" in result.stderr
    assert result.stdout.startswith("rgb56.png: 7 with probability")
    inverted = ok(run_cli("predict", "model.npz", "dark-on-light.pgm", "--invert", "--json",
                          cwd=folder))
    original = ok(run_cli("predict", "model.npz", "--index", "0", "--json", cwd=folder))
    probabilities = [one_json(r.stdout)["predictions"][0]["probabilities"]
                     for r in (inverted, original)]
    assert probabilities[0] == probabilities[1]


# --- the pieces, in-process ------------------------------------------------------------------


def test_every_sub_command_is_registered_with_help() -> None:
    parser = build_parser()
    assert len(COMMANDS) == 6
    for command in ("train", "evaluate", "predict", "plot", "sweep", "export"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([command, "--help"])
        assert exit_info.value.code == 0


def test_hidden_sizes_parse() -> None:
    assert hidden_sizes("16,16") == (16, 16)
    assert hidden_sizes(" 128 ") == (128,)
    assert hidden_sizes("") == hidden_sizes("None") == ()


def test_recipe_values_are_overridden_only_by_given_flags() -> None:
    assert resolve(None, {}) == RunConfig(recipe=RECIPES["origin"])
    config = resolve("origin", {"lr": 0.5, "epochs": None, "hidden": (), "out": "x.npz",
                                "max_steps": 7, "dataset": "kmnist"})
    assert config == RunConfig(recipe=Recipe(learning_rate=0.5, hidden=()), max_steps=7,
                               dataset="kmnist")


@needs_data
def test_the_checkpoint_is_the_librarys_own_fold_to_the_bit(
        trained: tuple[Path, dict[str, Any]]) -> None:
    folder, _ = trained
    data = load_dataset("mnist", data_dir=DATA, download=False)
    x = flatten_images(data.train_x)
    recipe = Recipe(epochs=1)
    optimizer = build_optimizer(recipe, 1875)
    params = fnn.flatten(build_params(recipe, 784, 10))
    state = fnn.TrainState(params, optimizer.init(params), 0)
    batches = fnn.batches(x, data.train_y, batch_size=32, seed=0, epoch=0)
    expected = fnn.fit(fnn.train_step(optimizer), state, itertools.islice(batches, 300))
    saved = checkpoint.load(folder / "model.npz", like=expected)
    assert saved.step == expected.step == 300
    assert same_bits(saved, expected)
