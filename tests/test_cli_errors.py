"""Mistakes a person makes with ``functional-nn``: one line on stderr, the right exit status,
no traceback, and an existing checkpoint at ``--out`` left byte-identical.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import checkpoint
from functional_nn.cli.config import resolve
from functional_nn.cli.errors import UsageError
from functional_nn.data.registry import FILE_NAMES
from tests.conftest import DATA, needs_data, needs_pillow, run_cli


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """A checkpoint already at ``old.npz`` that no failed run may touch."""
    path = tmp_path / "old.npz"
    checkpoint.save(path, fnn.mlp([784, 16, 16, 10], seed=1), metadata={"dataset": "mnist"})
    return path


def fails(result: subprocess.CompletedProcess[str], code: int, *parts: str) -> str:
    """Assert exit status ``code`` and one ``functional-nn: error:`` line naming ``parts``."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("functional-nn: ")
    for part in parts:
        assert part in line, line
    return line


BAD_OPTIONS = [
    (["--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
    (["--epochs", "-3"], "argument --epochs: must be a positive integer"),
    (["--epochs", "1.5"], "argument --epochs: expected a positive integer, got '1.5'"),
    (["--hidden", "16,0"], "argument --hidden: hidden layer sizes must be positive integers"),
    (["--hidden", "16,x"], "argument --hidden: expected comma-separated positive integers"),
    (["--optimizer", "adagrad"], "argument --optimizer: invalid choice: 'adagrad'"),
    (["--batch-size", "0"], "argument --batch-size: must be a positive integer, got 0"),
    (["--lr", "-0.1"], "argument --lr: must be positive and finite, got -0.1"),
    (["--lr", "inf"], "argument --lr: must be positive and finite, got inf"),
    (["--schedule", "linear"], "argument --schedule: invalid choice"),
    (["--recipe", "fast-as-light"], "argument --recipe: invalid choice"),
    (["--dataset", "cifar"], "argument --dataset: invalid choice"),
    (["--max-steps", "0"], "argument --max-steps: must be a positive integer"),
    (["--epochs"], "argument --epochs: expected one argument"),
]


@pytest.mark.parametrize(("args", "message"), BAD_OPTIONS)
def test_bad_option_values_are_usage_errors(old: Path, args: list[str], message: str) -> None:
    before = old.read_bytes()
    result = run_cli("train", *args, "--out", old.name, cwd=old.parent)
    fails(result, 2, "functional-nn: error: ", message, "functional-nn train --help")
    assert old.read_bytes() == before
    assert result.stdout == ""


def test_a_warm_up_without_its_schedule_is_refused(old: Path) -> None:
    with pytest.raises(UsageError, match="but this run's schedule is cosine"):
        resolve("fast", {"schedule": "cosine", "warmup_epochs": 1.0})
    assert resolve("fast", {"schedule": "cosine"}).recipe.schedule == "cosine"
    assert resolve("fast", {"warmup_epochs": 1.0}).recipe.warmup_epochs == 1.0
    before = old.read_bytes()
    fails(run_cli("train", "--warmup-epochs", "0.5", "--out", old.name, cwd=old.parent), 2,
          "--warmup-epochs sets the warm-up of --schedule warmup-cosine, but this run's "
          "schedule is constant")
    assert old.read_bytes() == before


@pytest.mark.parametrize("args", [["bogus"], ["evaluate"], ["predict", "old.npz"],
                                  ["predict", "old.npz", "--index", "x"],
                                  ["predict", "old.npz", "--index", "-1"]])
def test_missing_or_bad_arguments_are_usage_errors(old: Path, args: list[str]) -> None:
    fails(run_cli(*args, cwd=old.parent), 2, "functional-nn: error: ")


def test_missing_data_says_how_to_fix_it(old: Path) -> None:
    before = old.read_bytes()
    result = run_cli("train", "--data-dir", "nothing-here", "--no-download", "--out", old.name,
                     cwd=old.parent)
    fails(result, 1, "dataset 'mnist' not found", "--data-dir DIR", "FUNCTIONAL_NN_DATA=DIR",
          f"DIR{os.sep}mnist{os.sep} holds {FILE_NAMES[0]}")
    assert old.read_bytes() == before


@needs_data
@pytest.mark.parametrize("damage", [b"", b"not an IDX file at all", b"\x1f\x8b\x08\x00trunc"])
def test_corrupt_data_files_are_named_with_a_fix(old: Path, damage: bytes) -> None:
    assert DATA is not None
    folder = old.parent / "data" / "mnist"
    folder.mkdir(parents=True)
    for name in FILE_NAMES[:3]:
        (folder / name).symlink_to(Path(DATA, "mnist", name).resolve())
    (folder / FILE_NAMES[3]).write_bytes(damage)
    before = old.read_bytes()
    result = run_cli("train", "--data-dir", "data", "--no-download", "--out", old.name,
                     cwd=old.parent)
    fails(result, 1, FILE_NAMES[3], "--data-dir DIR", "FUNCTIONAL_NN_DATA")
    assert old.read_bytes() == before


@pytest.mark.parametrize(("out", "message"), [
    ("no/such/folder/model.npz", "the folder no/such/folder does not exist"),
    (".", "cannot write the checkpoint to .: it is a directory"),
])
def test_unwritable_out_fails_before_training(old: Path, out: str, message: str) -> None:
    result = run_cli("train", "--out", out, cwd=old.parent)
    fails(result, 1, message)
    assert result.stdout == ""  # nothing was loaded or trained


def test_unwritable_metrics_fails_before_training(old: Path) -> None:
    before = old.read_bytes()
    result = run_cli("train", "--out", old.name, "--metrics", "gone/m.json", cwd=old.parent)
    fails(result, 1, "cannot write the metrics to gone/m.json")
    assert old.read_bytes() == before
    assert result.stdout == ""


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root may write into a read-only folder")
def test_read_only_folder_fails_before_training(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    fails(run_cli("train", "--out", "locked/model.npz", cwd=tmp_path), 1,
          "cannot write the checkpoint to locked/model.npz")


def test_checkpoint_that_does_not_exist(tmp_path: Path) -> None:
    fails(run_cli("evaluate", "missing.npz", cwd=tmp_path), 1, "missing.npz: no such file")


@pytest.mark.parametrize("content", [b"hello, I am a text file\n", b""])
def test_file_that_is_not_a_checkpoint(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "fake.npz").write_bytes(content)
    fails(run_cli("evaluate", "fake.npz", cwd=tmp_path), 1, "fake.npz: not a checkpoint")


def test_npz_that_is_not_a_functional_nn_checkpoint(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", w=np.zeros(3))
    fails(run_cli("evaluate", "other.npz", cwd=tmp_path), 1,
          "other.npz: not a functional_nn checkpoint")


def test_checkpoint_that_holds_no_network(tmp_path: Path) -> None:
    checkpoint.save(tmp_path / "dict.npz", {"w": np.zeros((2, 2))})
    fails(run_cli("predict", "dict.npz", "--index", "0", cwd=tmp_path), 1,
          "dict.npz: does not hold a network of Dense layers")


@needs_data
@pytest.mark.parametrize(("sizes", "message"), [
    ([100, 10], "the network takes 100 inputs but mnist images have 28×28 = 784 pixels"),
    ([784, 5], "the network has 5 outputs but mnist has 10 classes"),
])
def test_checkpoint_that_does_not_match_the_dataset(tmp_path: Path, sizes: list[int],
                                                    message: str) -> None:
    checkpoint.save(tmp_path / "small.npz", fnn.mlp(sizes, seed=0))
    fails(run_cli("evaluate", "small.npz", cwd=tmp_path), 1, "small.npz does not match mnist",
          message)


@needs_pillow  # reading an image file needs the images extra
def test_image_of_the_wrong_kind(old: Path) -> None:
    (old.parent / "notes.png").write_text("this is not a PNG\n")
    fails(run_cli("predict", old.name, "notes.png", cwd=old.parent), 1,
          "notes.png: not an image (expected a PNG or PGM file)")


@needs_pillow  # reading an image file needs the images extra
def test_truncated_image(old: Path) -> None:
    from PIL import Image

    Image.fromarray(np.arange(784, dtype=np.uint8).reshape(28, 28)).save(old.parent / "cut.png")
    data = (old.parent / "cut.png").read_bytes()
    (old.parent / "cut.png").write_bytes(data[: len(data) // 2])
    fails(run_cli("predict", old.name, "cut.png", cwd=old.parent), 1, "cut.png: unreadable image")


@needs_pillow  # reading an image file needs the images extra
def test_image_that_does_not_exist(old: Path) -> None:
    fails(run_cli("predict", old.name, "nope.pgm", cwd=old.parent), 1, "nope.pgm: no such file")


@needs_data
def test_index_out_of_range(old: Path) -> None:
    fails(run_cli("predict", old.name, "--index", "3,10000", cwd=old.parent), 2,
          "--index 10000 is out of range: the mnist test set has 10,000 images (0 to 9999)")


def test_plot_of_a_file_that_is_not_a_record(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"hello": 1}')
    fails(run_cli("plot", "x.json", cwd=tmp_path), 1, "x.json: not a metrics JSON")


@needs_data
def test_divergence_is_one_line_with_the_step_and_a_hint(old: Path) -> None:
    before = old.read_bytes()
    result = run_cli("train", "--optimizer", "sgd", "--lr", "1e4", "--max-steps", "300",
                     "--out", old.name, cwd=old.parent)
    fails(result, 1, "training diverged at step ", "try a lower --lr (now 10000)",
          "old.npz left untouched")
    assert old.read_bytes() == before


@needs_data
@pytest.mark.parametrize("after", ["training a ", "epoch 1/50"])
def test_ctrl_c_stops_cleanly_and_keeps_the_last_epoch(old: Path, after: str) -> None:
    before = old.read_bytes()
    env = {**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"}
    process = subprocess.Popen(
        [sys.executable, "-m", "functional_nn", "train", "--epochs", "50", "--json",
         "--out", old.name], cwd=old.parent, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        seen: list[str] = []
        while not (line := process.stderr.readline()).startswith(after):
            assert line, f"train ended early: {seen}"
            seen.append(line)
        process.send_signal(signal.SIGINT)  # as Ctrl-C does
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]  # after the run's own lines, if any came first
    assert last.startswith("functional-nn: interrupted at step ")
    assert "Traceback" not in stderr
    assert stdout == ""
    assert sorted(p.name for p in old.parent.iterdir()) == ["old.npz"]  # no temporary left
    if after == "training a ":  # before the first epoch ended: the old checkpoint is as it was
        assert last.endswith("; old.npz left untouched")
        assert old.read_bytes() == before
    else:  # the epoch whose line was printed is saved, and --resume continues it
        assert last.endswith("; old.npz holds epoch 1 (step 1,875): continue it with "
                             "'functional-nn train --resume old.npz'")
        assert checkpoint.load_metadata(old)["steps"] == 1875


@needs_data
def test_a_network_too_big_for_memory_is_one_line(old: Path) -> None:
    before = old.read_bytes()
    result = run_cli("train", "--hidden", "300000,300000", "--max-steps", "1", "--out", old.name,
                     cwd=old.parent)
    fails(result, 1, "out of memory", "--hidden")
    assert old.read_bytes() == before
