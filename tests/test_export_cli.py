"""``functional-nn export``: tiny saved checkpoints to ONNX models that onnxruntime runs as
``forward`` does, and to safetensors files that hold the checkpoint's bits; every mistake one
line, and nothing written."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import checkpoint, optim
from functional_nn.cli.main import main
from tests.conftest import ok, one_json, run_cli, same_bits

EXTRA = "needs the export extra: pip install -e '.[export]'"
ort: Any = pytest.importorskip("onnxruntime", reason=EXTRA)
pytest.importorskip("onnx", reason=EXTRA)
pytest.importorskip("safetensors", reason=EXTRA)

from functional_nn import export  # noqa: E402  (after the skips: it needs the extra)

METADATA = {"dataset": "mnist", "architecture": {"filters": [2], "batch_norm": True},
            "config": {"learning_rate": 0.001}, "history": [{"epoch": 1}]}


def trained_convnet() -> fnn.TrainState[Any, Any]:
    """A TrainState of a small BatchNorm convnet on a Flat, with running statistics far from
    their start (as after training)."""
    params = fnn.flatten(fnn.convnet(seed=0, filters=(2,), batch_norm=True, hidden=(4,)))
    rng = np.random.default_rng(0)
    state = fnn.tree_map(lambda a: a + rng.uniform(0.1, 0.5, a.shape).astype(a.dtype),
                         fnn.init_state(params))
    opt = optim.adam(1e-3)
    return fnn.TrainState(params, opt.init(params), step=3, model_state=state)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """``cnn.npz`` (that convnet, recording its dataset), ``mlp.npz`` (bare parameters, no
    metadata) and ``odd.npz`` (a convnet recording nothing)."""
    checkpoint.save(tmp_path / "cnn.npz", trained_convnet(), metadata=METADATA)
    checkpoint.save(tmp_path / "mlp.npz", fnn.mlp([784, 8, 10], seed=0))
    checkpoint.save(tmp_path / "odd.npz", fnn.convnet((9, 9, 3), 2, seed=0, filters=(2,)))
    return tmp_path


def session(path: Path) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``functional-nn export ARGV`` in this process: the exit status, stdout and stderr."""
    status = main(["export", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_convnet_checkpoint_runs_in_onnxruntime_as_in_forward(saved: Path) -> None:
    # the one run as a user runs it: a fresh process, the input shape from the checkpoint
    result = ok(run_cli("export", "cnn.npz", "cnn.onnx", cwd=saved))
    assert result.stdout == ("wrote cnn.onnx: input 'input' float32 (batch, 28, 28, 1), "
                             "output 'logits'\n")
    state = trained_convnet()
    x = np.random.default_rng(1).random((5, 28, 28, 1), dtype=np.float32)
    want = fnn.forward(state.params, x, state=state.model_state)
    (got,) = session(saved / "cnn.onnx").run(["logits"], {"input": x})
    assert float(np.abs(got - want).max() / np.abs(want).max()) <= 1e-5


def test_an_mlp_exports_probabilities_with_its_input_size_from_its_first_layer(
        saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = saved / "mlp.onnx"
    status, stdout, _ = run(capsys, str(saved / "mlp.npz"), str(out), "--probabilities",
                            "--json")
    assert status == 0
    assert one_json(stdout) == {"checkpoint": str(saved / "mlp.npz"), "out": str(out),
                                "format": "onnx", "input_shape": [784],
                                "output": "probabilities"}
    x = np.random.default_rng(2).random((3, 784), dtype=np.float32)
    (got,) = session(out).run(None, {"input": x})
    want = fnn.softmax(fnn.forward(checkpoint.load(saved / "mlp.npz"), x))
    assert float(np.abs(got - want).max()) <= 1e-5


def test_safetensors_hold_the_checkpoints_bits_and_its_record(
        saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = saved / "cnn.safetensors"
    status, stdout, _ = run(capsys, str(saved / "cnn.npz"), str(out))
    assert status == 0
    assert stdout.startswith(f"wrote {out}: 10 tensors (params, model_state), "
                             "model_state.1.mean, model_state.1.var, params.layers.0.w, ...")
    state = trained_convnet()
    like = {"params": fnn.unflatten(state.params), "model_state": state.model_state}
    assert same_bits(export.from_safetensors(out, like=like), like)
    metadata = export.safetensors_metadata(out)
    assert {k: json.loads(metadata[k]) for k in ("dataset", "architecture", "config")} == {
        k: METADATA[k] for k in ("dataset", "architecture", "config")}
    assert "history" not in metadata
    assert metadata["contents"] == "params, model_state"
    assert metadata["structure"].startswith("Sequential(layers=(Conv2D(w=*, b=*, stride=(1, 1)")
    # without model state, the parameters' own paths
    status, _, _ = run(capsys, str(saved / "mlp.npz"), str(saved / "mlp.st"), "--format",
                       "safetensors")
    assert status == 0
    mlp = fnn.mlp([784, 8, 10], seed=0)
    assert same_bits(export.from_safetensors(saved / "mlp.st", like=mlp), mlp)
    assert export.weight_keys(mlp) == ["layers.0.w", "layers.0.b", "layers.2.w", "layers.2.b"]


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["mlp.npz", "mlp.bin"], 2, "cannot tell the format of {dir}/mlp.bin from its extension: "
                                "name it .onnx or .safetensors, or pass --format"),
    (["mlp.npz", "mlp.safetensors", "--probabilities"], 2,
     "--probabilities and --input-shape are for ONNX"),
    (["odd.npz", "odd.onnx"], 2, "{dir}/odd.npz does not record its input shape and its first "
                                 "layer (Conv2D) does not tell it: pass --input-shape"),
    (["odd.npz", "odd.onnx", "--input-shape", "9,9"], 1,
     "{dir}/odd.npz: the network does not run on inputs of shape (batch, 9, 9): layers[0] "
     "(Conv2D): Conv2D expects inputs of shape (batch, height, width, 3)"),
    (["mlp.npz", "mlp.onnx", "--input-shape", "99999999999,99999999"], 1,
     "{dir}/mlp.npz: inputs of shape (batch, 99999999999, 99999999) do not fit in memory"),
    (["mlp.npz", "mlp.onnx", "--input-shape", "28,x"], 2,
     "argument --input-shape: expected comma-separated positive sizes"),
    (["mlp.npz", "mlp.npz", "--format", "onnx"], 1,
     "the checkpoint and the export would be the same file"),
    (["none.npz", "none.onnx"], 1, "{dir}/none.npz: no such file"),
    (["mlp.npz", "nowhere/mlp.onnx"], 1, "the folder {dir}/nowhere does not exist"),
])
def test_every_mistake_is_one_line_and_writes_nothing(
        saved: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int,
        message: str) -> None:
    before = sorted(p.name for p in saved.iterdir())
    status, stdout, stderr = run(capsys, *(str(saved / a) if a.endswith(
        (".npz", ".bin", ".onnx", ".safetensors")) else a for a in argv))
    assert status == code
    assert stdout == ""
    (line,) = stderr.splitlines()
    assert line.startswith("functional-nn: error: ")
    assert message.format(dir=saved) in line, line
    assert sorted(p.name for p in saved.iterdir()) == before


def test_a_model_over_protobufs_limit_is_one_line_naming_the_checkpoint(
        saved: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    monkeypatch.setattr(sys.modules["functional_nn.export.onnx_model"], "PROTOBUF_LIMIT", 1000)
    status, _, stderr = run(capsys, str(saved / "mlp.npz"), str(saved / "mlp.onnx"))
    assert status == 1
    assert stderr == (f"functional-nn: error: {saved / 'mlp.npz'}: the ONNX model would be "
                      "larger than protobuf's 2 GB limit (0.0 GB of weights); export "
                      ".safetensors instead\n")
    assert not (saved / "mlp.onnx").exists()


def test_out_of_memory_suggests_what_export_can_change(
        saved: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    def exhausted(*args: object, **options: object) -> None:
        raise MemoryError("Unable to allocate 9.0 GiB")

    monkeypatch.setattr("functional_nn.cli.export.to_onnx", exhausted)
    status, _, stderr = run(capsys, str(saved / "mlp.npz"), str(saved / "mlp.onnx"))
    assert status == 1
    assert stderr == ("functional-nn: error: out of memory (Unable to allocate 9.0 GiB); an "
                      "export needs a few times the network's size in memory: free some, or "
                      "give a smaller --input-shape\n")


def test_the_odd_convnet_exports_with_its_input_shape_given(
        saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, _ = run(capsys, str(saved / "odd.npz"), str(saved / "odd.onnx"),
                       "--input-shape", "9,9,3")
    assert status == 0
    [given] = session(saved / "odd.onnx").get_inputs()
    assert given.shape == ["batch", 9, 9, 3]


def test_without_the_extra_the_error_says_how_to_install_it(
        saved: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    monkeypatch.setitem(sys.modules, "safetensors", None)  # as if not installed
    status, _, stderr = run(capsys, str(saved / "mlp.npz"), str(saved / "mlp.safetensors"))
    assert status == 1
    assert stderr.startswith("functional-nn: error: safetensors export needs safetensors (")
    assert stderr.rstrip().endswith("install it with: pip install 'functional_nn[export]'")
    assert not (saved / "mlp.safetensors").exists()
