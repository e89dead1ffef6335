"""Careless and hostile input to the command line: outputs that would overwrite each other,
layers no constructor would build, huge images, tampered histories, runs too large for the
machine, NaN inputs, and ``train --resume`` continuing a stopped run to the same bits."""

from __future__ import annotations

import errno
import importlib.metadata
import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import functional_nn as fnn
from _functional_nn_cli import main as launcher_main
from functional_nn import checkpoint
from functional_nn.checkpoint import CheckpointError
from functional_nn.cli.figures import write_figures
from functional_nn.layers import Dense, Sequential
from functional_nn.recipes import Recipe, train
from tests.conftest import needs_data, needs_pillow, ok, one_json, run_cli, same_bits


def fails(result: subprocess.CompletedProcess[str], code: int, *parts: str) -> str:
    """Exit status ``code`` and one ``functional-nn: error:`` line holding ``parts``."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert "Warning" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("functional-nn: ")
    for part in parts:
        assert part in line, line
    return line


# --- 4: outputs naming each other -----------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["--out", "same.npz", "--metrics", "same.npz"],
    ["--out", "same.npz", "--metrics", "./link.npz"],
    ["--out", "plots/loss.png", "--plots", "plots"],
    ["--out", "same.npz", "--plots", "same.npz"],
])
def test_outputs_that_are_one_file_are_refused_before_anything(tmp_path: Path,
                                                               args: list[str]) -> None:
    checkpoint.save(tmp_path / "same.npz", fnn.mlp([4, 2], seed=0))
    (tmp_path / "link.npz").symlink_to(tmp_path / "same.npz")
    before = (tmp_path / "same.npz").read_bytes()
    fails(run_cli("train", *args, cwd=tmp_path), 1, "would be the same file")
    assert (tmp_path / "same.npz").read_bytes() == before
    assert not (tmp_path / "plots").exists()


def test_evaluate_plots_may_not_overwrite_the_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "plots").mkdir()
    checkpoint.save(tmp_path / "plots" / "confusion.png", fnn.mlp([4, 2], seed=0))
    fails(run_cli("evaluate", "plots/confusion.png", "--plots", "plots", cwd=tmp_path), 1,
          "would be the same file")


LONG = "a" * 300  # past every common file system's 255-byte limit on one name


@pytest.mark.parametrize(("args", "message"), [
    (["export", "net.npz", f"{LONG}.onnx"], f"cannot write the export to {LONG}.onnx: "),
    (["train", "--out", f"{LONG}.npz"], f"cannot write the checkpoint to {LONG}.npz: "),
    (["train", "--plots", LONG], f"cannot create the plot folder {LONG}: "),
], ids=["export", "train", "train --plots"])
def test_a_name_too_long_for_the_file_system_is_one_line(tmp_path: Path, args: list[str],
                                                         message: str) -> None:
    checkpoint.save(tmp_path / "net.npz", fnn.mlp([4, 2], seed=0))
    line = fails(run_cli(*args, cwd=tmp_path), 1, message)
    assert line.endswith(f"{message}{os.strerror(errno.ENAMETOOLONG)}")
    assert os.listdir(tmp_path) == ["net.npz"]


# --- 5: layers no constructor would build, huge images, tampered histories ------------------


def unchecked_dense(w: np.ndarray, b: np.ndarray) -> Dense:
    """A Dense built past its constructor, as a tampered file would rebuild one."""
    layer = object.__new__(Dense)
    object.__setattr__(layer, "w", w)
    object.__setattr__(layer, "b", b)
    return layer


BAD_LAYERS = {
    "a bias of the wrong length": (np.ones((4, 3), np.float32), np.ones(2, np.float32),
                                   "got w (4, 3) and b (2,)"),
    "a 1-d weight": (np.ones(4, np.float32), np.ones(4, np.float32), "got w (4,) and b (4,)"),
    "a 3-d weight": (np.ones((4, 3, 2), np.float32), np.ones(2, np.float32), "got w (4, 3, 2)"),
    "bool arrays": (np.ones((4, 3), bool), np.ones(3, bool), "holds float64 arrays"),
    "complex arrays": (np.ones((4, 3), np.complex64), np.ones(3, np.complex64),
                       "expected a numeric array, got dtype complex64"),
}


@pytest.mark.parametrize("case", list(BAD_LAYERS))
def test_a_layer_no_constructor_would_build_is_refused_at_load(tmp_path: Path,
                                                               case: str) -> None:
    w, b, message = BAD_LAYERS[case]
    path = tmp_path / "bad.npz"
    checkpoint.save(path, Sequential((unchecked_dense(w, b),)))
    with pytest.raises(CheckpointError) as info:
        checkpoint.load(path)
    assert str(info.value).startswith(f"{path}: at layers[0]")
    assert "not a valid Dense" in str(info.value)
    assert message in str(info.value)


def test_evaluate_of_an_invalid_layer_is_one_line(tmp_path: Path) -> None:
    w, b, message = BAD_LAYERS["a bias of the wrong length"]
    checkpoint.save(tmp_path / "bad.npz", Sequential((unchecked_dense(w, b),)))
    fails(run_cli("evaluate", "bad.npz", cwd=tmp_path), 1,
          "bad.npz: at layers[0]: not a valid Dense", message)


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` gray pixels (and has no data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(
        ">I", zlib.crc32(b"IHDR" + ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + end


@needs_pillow
@pytest.mark.parametrize("side", [10000, 20000])
def test_a_huge_image_is_one_line_without_pillows_warning(tmp_path: Path, side: int) -> None:
    checkpoint.save(tmp_path / "m.npz", fnn.mlp([784, 10], seed=0))
    (tmp_path / "huge.png").write_bytes(png_header(side, side))
    fails(run_cli("predict", "m.npz", "huge.png", cwd=tmp_path), 1,
          "huge.png: ", "too large to be a digit")


TAMPERED: dict[str, dict[str, object]] = {
    "a trace without 'every'": {"loss_trace": {"loss": [1.0]}},
    "a trace of text": {"loss_trace": {"every": 1, "loss": ["x"]}},
    "a history of text": {"history": ["epoch one"]},
    "a history without steps": {"history": [{"epoch": 1}]},
}
GOOD_HISTORY = [{"epoch": 1, "steps": 1, "step": 1, "train_loss": 1.0, "test_loss": 1.0,
                 "test_accuracy": 0.5, "seconds": 0.1}]


@pytest.mark.parametrize("case", list(TAMPERED))
def test_plot_of_a_tampered_history_is_one_line_and_writes_nothing(tmp_path: Path,
                                                                   case: str) -> None:
    pytest.importorskip("matplotlib")
    record: dict[str, object] = {"history": GOOD_HISTORY}
    record.update(TAMPERED[case])
    (tmp_path / "m.json").write_text(json.dumps(record))
    checkpoint.save(tmp_path / "m.npz", fnn.mlp([784, 10], seed=0), metadata=record)
    for source in ("m.json", "m.npz"):
        fails(run_cli("plot", source, "-o", "out", "--no-download", cwd=tmp_path), 1,
              f"{source}: the run's")
        assert not (tmp_path / "out").exists()


def test_plot_that_fails_before_drawing_leaves_no_folder(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    checkpoint.save(tmp_path / "m.npz", fnn.mlp([784, 10], seed=0),
                    metadata={"history": GOOD_HISTORY})
    fails(run_cli("plot", "m.npz", "-o", "new/plots", "--no-download", "--data-dir", "nodata",
                  cwd=tmp_path), 1)
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("in the way")
    fails(run_cli("plot", "m.npz", "-o", "file/plots", cwd=tmp_path), 1,
          "cannot create the plot folder file/plots: file is not a folder")
    fails(run_cli("train", "--max-steps", "1", "--plots", "file/p", cwd=tmp_path), 1,
          "cannot create the plot folder file/p: file is not a folder")
    (tmp_path / "m.json").write_text(json.dumps({"history": GOOD_HISTORY}))
    fails(run_cli("plot", "m.json", "-o", "new/plots", cwd=tmp_path,
                  exe=(sys.executable, "-c", LIMITED_WRITES)), 1,
          "cannot write the plots into new/plots: File too large")
    assert not (tmp_path / "new").exists()


def test_plots_are_written_all_or_none(tmp_path: Path) -> None:
    (tmp_path / "loss.png").write_bytes(b"old")

    class Figure:
        def __init__(self, fail: bool) -> None:
            self.fail = fail

        def savefig(self, file: object, **kwargs: object) -> None:
            if self.fail:
                raise RuntimeError("matplotlib failed")
            file.write(b"new")  # type: ignore[attr-defined]

    with pytest.raises(RuntimeError):
        write_figures(str(tmp_path), [("loss.png", Figure(False)), ("b.png", Figure(True))])
    assert sorted(os.listdir(tmp_path)) == ["loss.png"]
    assert (tmp_path / "loss.png").read_bytes() == b"old"
    write_figures(str(tmp_path), [("loss.png", Figure(False)), ("b.png", Figure(False))])
    assert (tmp_path / "loss.png").read_bytes() == b"new"


# --- 7: a run too large for the machine -----------------------------------------------------


@needs_data
def test_a_run_too_large_for_memory_is_refused_before_it_is_built(tmp_path: Path) -> None:
    result = run_cli("train", "--hidden", "16,100000000", "--out", "m.npz", cwd=tmp_path,
                     timeout=60)
    fails(result, 1, "out of memory: training a 784-16-100000000-10 network "
          "(2,700,012,570 parameters) with adam at batch 32 needs about", "--hidden")
    assert not (tmp_path / "m.npz").exists()


# --- 8: NaN inputs, and an interrupt while starting up --------------------------------------


def test_nan_inputs_are_named_not_blamed_on_the_learning_rate() -> None:
    x = np.ones((8, 4), np.float32)
    x[5, 2] = np.nan
    y = np.arange(8) % 2
    with pytest.raises(ValueError, match="NaN or infinity \\(first in sample 5\\)") as info:
        train(Recipe(hidden=(3,), epochs=1, batch_size=4), x, y, x, y, classes=2)
    assert not isinstance(info.value, fnn.TrainingDiverged)


def test_the_command_starts_outside_the_package() -> None:
    (entry,) = [e for e in importlib.metadata.entry_points(group="console_scripts")
                if e.name == "functional-nn"]
    assert entry.value == "_functional_nn_cli:main"
    assert entry.load() is launcher_main


# Ctrl-C arriving while ``import numpy`` runs (the longest part of starting up): a real
# SIGINT, sent from an import hook so that it lands there every time.
STARTING = """
import os, signal, sys
class Hook:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Hook())
sys.argv = ["functional-nn", "train"]
from _functional_nn_cli import main
sys.exit(main())
"""


def test_an_interrupt_while_starting_up_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", STARTING], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 130, result.stderr
    assert result.stderr == "functional-nn: interrupted while starting\n"


# --- 9: train --resume ----------------------------------------------------------------------


QUICK2 = ("--epochs", "2", "--recipe", "fast")


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted two-epoch run."""
    folder = tmp_path_factory.mktemp("straight")
    if not os.environ.get("FUNCTIONAL_NN_DATA"):
        pytest.skip("FUNCTIONAL_NN_DATA is not set")
    ok(run_cli("train", *QUICK2, "--out", "full.npz", cwd=folder))
    return folder / "full.npz"


@needs_data
@pytest.mark.parametrize("stop", [150, 235, 300])  # mid-epoch, at its end, in the next one
def test_a_stopped_run_resumed_gives_the_bits_of_the_straight_run(tmp_path: Path,
                                                                  straight: Path,
                                                                  stop: int) -> None:
    ok(run_cli("train", *QUICK2, "--max-steps", str(stop), "--out", "part.npz", cwd=tmp_path))
    assert checkpoint.load_metadata(tmp_path / "part.npz")["steps"] == stop
    result = ok(run_cli("train", "--resume", "part.npz", "--json", cwd=tmp_path))
    assert one_json(result.stdout)["steps"] == 470
    resumed, full = checkpoint.load(tmp_path / "part.npz"), checkpoint.load(straight)
    assert same_bits(resumed, full)
    history = checkpoint.load_metadata(tmp_path / "part.npz")["history"]
    assert isinstance(history, list)
    assert [(h["epoch"], h["steps"], h["step"]) for h in history] == [(1, 235, 235),
                                                                     (2, 235, 470)]


@needs_data
def test_an_interrupted_run_keeps_its_last_epoch_and_resumes_to_the_same_bits(
        tmp_path: Path, straight: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"}
    process = subprocess.Popen(
        [sys.executable, "-m", "functional_nn", "train", *QUICK2, "--json", "--out",
         "run.npz"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        assert process.stderr is not None
        while not (line := process.stderr.readline()).startswith("epoch 1/2"):
            assert line, "train ended early"
        process.send_signal(signal.SIGTERM)  # as a batch system stops a job
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    if process.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "run.npz holds epoch 1 (step 235)" in stderr
    assert "functional-nn train --resume run.npz" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]
    ok(run_cli("train", "--resume", "run.npz", cwd=tmp_path))
    assert same_bits(checkpoint.load(tmp_path / "run.npz"), checkpoint.load(straight))


@needs_data
@pytest.mark.parametrize(("args", "code", "message"), [
    (["--lr", "0.5"], 2, "--lr 0.5 differs from the run in full.npz (0.004)"),
    (["--hidden", "32"], 2, "--hidden 32 differs from the run in full.npz (256,128)"),
    (["--dataset", "fashion-mnist"], 2, "--dataset fashion-mnist differs"),
    (["--max-steps", "10"], 2, "--max-steps 10: full.npz is at step 470 already"),
])
def test_resume_refuses_what_would_change_the_run(tmp_path: Path, straight: Path,
                                                  args: list[str], code: int,
                                                  message: str) -> None:
    (tmp_path / "full.npz").write_bytes(straight.read_bytes())
    before = (tmp_path / "full.npz").read_bytes()
    fails(run_cli("train", "--resume", "full.npz", *args, cwd=tmp_path), code, message)
    assert (tmp_path / "full.npz").read_bytes() == before


@needs_data
def test_resume_refuses_arrays_of_another_run_and_files_of_none(tmp_path: Path,
                                                                straight: Path) -> None:
    metadata = checkpoint.load_metadata(straight)
    state = checkpoint.load(straight)
    assert isinstance(state, fnn.TrainState)
    checkpoint.save(tmp_path / "other.npz", state.params, metadata=metadata)
    fails(run_cli("train", "--resume", "other.npz", cwd=tmp_path), 1,
          "other.npz does not hold a state of the run its metadata configures")
    checkpoint.save(tmp_path / "bare.npz", fnn.mlp([784, 10], seed=0))
    fails(run_cli("train", "--resume", "bare.npz", cwd=tmp_path), 1,
          "bare.npz: its metadata holds no run configuration")
    tampered = {**metadata, "data": {**metadata["data"], "blake2b": "0" * 32}}  # type: ignore[dict-item]
    checkpoint.save(tmp_path / "elsewhere.npz", checkpoint.load(straight), metadata=tampered)
    fails(run_cli("train", "--resume", "elsewhere.npz", cwd=tmp_path), 1,
          "elsewhere.npz was trained on other mnist data than this")


def test_plot_names_a_json_nested_too_deep_to_read(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 100_000, encoding="utf-8")
    fails(run_cli("plot", "deep.json", cwd=tmp_path), 1,
          "deep.json: neither a checkpoint nor a metrics JSON")


LIMITED_WRITES = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
from functional_nn.cli.main import main
raise SystemExit(main(sys.argv[1:]))
"""


@needs_data
def test_a_checkpoint_that_cannot_be_saved_is_named_not_blamed_on_the_data(
        tmp_path: Path) -> None:
    checkpoint.save(tmp_path / "model.npz", fnn.mlp([4, 2], seed=0))
    before = (tmp_path / "model.npz").read_bytes()  # 16-16's checkpoint is past the limit
    line = fails(run_cli("train", "--max-steps", "10", "--out", "model.npz", cwd=tmp_path,
                         exe=(sys.executable, "-c", LIMITED_WRITES)), 1)
    assert line == "functional-nn: error: cannot save model.npz: File too large"
    assert (tmp_path / "model.npz").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
