"""Export: ONNX models that onnxruntime runs to the numbers ``forward`` gives, and safetensors
files that give the same bits back.

Random networks cover every built-in layer kind (Conv2D with every padding form, strides and
dilations on non-square images, ZeroPad2D, both pools, BatchNorm with running statistics,
LayerNorm, Flatten, Dropout, Dense, the activations), as trees and as Flats.
``hypothesis.target`` steers the search toward the largest difference; ``pytest tests/test_export.py
--hypothesis-show-statistics`` shows the largest one found.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import assume, given, settings, target
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn.rules.conv import conv_output_shape
from functional_nn.testing import strategies as fst
from tests.conftest import same_bits

EXTRA = "needs the export extra: pip install -e '.[export]'"
onnx: Any = pytest.importorskip("onnx", reason=EXTRA)
ort: Any = pytest.importorskip("onnxruntime", reason=EXTRA)
pytest.importorskip("safetensors", reason=EXTRA)

from functional_nn import export  # noqa: E402  (after the skips: it needs the extra)

TOLERANCE = 1e-5  # float32 round-off, relative to the output's largest magnitude
Net = tuple[fnn.Sequential, object, tuple[int, ...]]  # a network, its model state, input shape


def session(model: Any) -> Any:
    """An onnxruntime session of one thread (the test machine is shared)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def relative_difference(got: np.ndarray, want: np.ndarray) -> float:
    """The largest difference, relative to the largest magnitude of ``want``."""
    assert got.shape == want.shape
    return float(np.abs(got - want).max() / max(float(np.abs(want).max()), 1e-30))


# --- random networks of every built-in kind --------------------------------------------------


class _Draw:
    """Parameters for one network, from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def normal(self, *shape: int, scale: float = 1.0) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def dense(self, n_in: int, n_out: int) -> fnn.Dense:
        return fnn.Dense(self.normal(n_in, n_out, scale=(2 / n_in) ** 0.5),
                         self.normal(n_out, scale=0.3))

    def norm(self, kind: str, c: int, eps: float) -> tuple[object, object]:
        """A LayerNorm or a BatchNorm with running statistics far from their start."""
        gamma, beta = 1 + self.normal(c, scale=0.3), self.normal(c, scale=0.3)
        if kind == "layer":
            return fnn.LayerNorm(gamma, beta, eps), None
        state = fnn.BatchNormState(self.normal(c, scale=0.5),
                                   self.rng.uniform(0.3, 2.0, c).astype(np.float32))
        return fnn.BatchNorm(gamma, beta, eps=eps), state


ACTIVATIONS = st.sampled_from([fnn.ReLU, fnn.Sigmoid, fnn.Tanh])
NORMS = st.sampled_from([None, "batch", "layer"])
EPS = st.sampled_from([1e-5, 1e-3])


@st.composite
def conv_block(draw: st.DrawFn, p: _Draw, h: int, w: int, c: int
               ) -> tuple[list[tuple[object, object]], tuple[int, int, int]]:
    """Conv2D, maybe a norm, an activation, maybe a pool: layers (with states) and the shape."""
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride, dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))), (
        draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = draw(st.sampled_from(["valid", "same", "int", "pair", "pairs"]))
    padding: Any = {"valid": "valid", "same": "same", "int": draw(st.integers(0, 2)),
                    "pair": (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
                    "pairs": ((draw(st.integers(0, 2)), draw(st.integers(0, 2))),
                              (draw(st.integers(0, 2)), draw(st.integers(0, 2))))}[pads]
    if padding == "same":
        stride = (1, 1)
    out = draw(st.integers(1, 4))
    conv = fnn.Conv2D(p.normal(*k, c, out, scale=(2 / (k[0] * k[1] * c)) ** 0.5),
                      p.normal(out, scale=0.3), stride=stride, padding=padding,
                      dilation=dilation)
    h, w = conv_output_shape(conv, h, w)
    assume(h >= 1 and w >= 1)
    layers: list[tuple[object, object]] = [(conv, None)]
    norm = draw(NORMS)
    if norm:
        layers.append(p.norm(norm, out, draw(EPS)))
    layers.append((draw(ACTIVATIONS)(), None))
    if draw(st.booleans()):
        (top, bottom), (left, right) = frame = draw(st.tuples(
            st.tuples(st.integers(0, 1), st.integers(0, 1)),
            st.tuples(st.integers(0, 1), st.integers(0, 1))))
        layers.append((fnn.ZeroPad2D(frame), None))
        h, w = h + top + bottom, w + left + right
    pool = draw(st.sampled_from([None, fnn.MaxPool2D, fnn.AvgPool2D]))
    window = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if pool is not None and window[0] <= h and window[1] <= w:
        layer = pool(window, (draw(st.integers(1, 2)), draw(st.integers(1, 2))))
        layers.append((layer, None))
        h, w = (h - window[0]) // layer.stride[0] + 1, (w - window[1]) // layer.stride[1] + 1
    return layers, (h, w, out)


@st.composite
def networks(draw: st.DrawFn) -> Net:
    """A random network of every built-in kind, its model state and its input shape."""
    p = _Draw(draw(st.integers(0, 2**32 - 1)))
    layers: list[tuple[object, object]] = []
    if draw(st.booleans()):  # a convnet on non-square images
        shape: tuple[int, ...] = (draw(st.integers(4, 9)), draw(st.integers(4, 9)),
                                  draw(st.integers(1, 3)))
        h, w, c = shape
        for _ in range(draw(st.integers(1, 2))):
            block, (h, w, c) = draw(conv_block(p, h, w, c))
            layers += block
        layers.append((fnn.Flatten(), None))
        features = h * w * c
    else:
        features = draw(st.integers(1, 8))
        shape = (features,)
    for _ in range(draw(st.integers(0, 2))):
        width = draw(st.integers(1, 6))
        layers.append((p.dense(features, width), None))
        norm = draw(NORMS)
        if norm:
            layers.append(p.norm(norm, width, draw(EPS)))
        layers.append((draw(ACTIVATIONS)(), None))
        if draw(st.booleans()):
            layers.append((fnn.Dropout(0.5), None))
        features = width
    layers.append((p.dense(features, draw(st.integers(2, 5))), None))
    states = tuple(state for _, state in layers)
    net = fnn.Sequential(tuple(layer for layer, _ in layers))
    return net, (None if all(s is None for s in states) else states), shape


def roundoff(params: fnn.Sequential, x: np.ndarray, state: object, probabilities: bool,
             seed: int) -> float:
    """How far float32 round-off can move the network's output, relative to its largest
    magnitude: the network run in float64 with each layer's input and parameters nudged by
    float32's unit round-off (relative 2**-24, random signs), against the run without (the
    backward error of float32 arithmetic, pushed through the network). ~1e-7 for most
    networks; far more where the network amplifies round-off (a LayerNorm of a few nearly
    equal features), where any two float32 implementations differ as much."""
    rng = np.random.default_rng(seed)

    def nudged(a: np.ndarray) -> np.ndarray:
        return a * (1 + 2.0**-24 * rng.choice([-1.0, 1.0], a.shape))

    layers = [fnn.tree_map(lambda a: a.astype(np.float64), layer) for layer in params.layers]
    states = [None if s is None else fnn.tree_map(lambda a: a.astype(np.float64), s)
              for s in (state if isinstance(state, tuple) else (None,) * len(layers))]

    def run(nudge: bool) -> np.ndarray:
        h: np.ndarray = x.astype(np.float64)
        for layer, layer_state in zip(layers, states, strict=True):
            if nudge:
                h, layer = nudged(h), fnn.tree_map(nudged, layer)
            h = fnn.rules.rule_for(layer).forward(layer, h, fnn.Context(state=layer_state))[0]
        h = nudged(h) if nudge else h
        return fnn.softmax(h) if probabilities else h

    exact = run(False)
    return max(relative_difference(run(True), exact) for _ in range(2))


@settings(max_examples=60)
@given(networks(), st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_onnxruntime_runs_every_network_as_forward_does(
        net: Net, as_flat: bool, probabilities: bool, seed: int) -> None:
    """To float32 round-off: 1e-5 of the largest output, plus eight times the round-off this
    network amplifies (:func:`roundoff`: ~1e-7 for most)."""
    params, state, shape = net
    tree: object = fnn.flatten(params) if as_flat else params
    model = export.onnx_model(tree, input_shape=shape, probabilities=probabilities, state=state)
    onnx.checker.check_model(model, full_check=True)
    run = session(model)
    rng = np.random.default_rng(seed)
    largest = worst = 0.0
    for batch in (1, 3):  # one model for every batch size
        x = rng.standard_normal((batch, *shape)).astype(np.float32)
        want = fnn.forward(params, x, state=state)
        if probabilities:
            want = fnn.softmax(want)
        (got,) = run.run(None, {export.INPUT: x})
        assert got.dtype == want.dtype == np.float32
        difference = relative_difference(got, want)
        tolerance = TOLERANCE + 8 * roundoff(params, x, state, probabilities, seed)
        assert difference <= tolerance, (difference, tolerance, params)
        largest = max(largest, difference)
        worst = max(worst, difference / tolerance)
    target(largest, label="relative difference, onnxruntime vs forward")
    target(worst, label="difference / tolerance")


@settings(max_examples=20)
@given(fst.mlps(dtypes=(np.float32,)), st.integers(1, 4))
def test_onnxruntime_runs_the_library_mlps(params: fnn.Sequential, batch: int) -> None:
    first = params.layers[0]
    assert isinstance(first, fnn.Dense)
    features = first.w.shape[0]
    run = session(export.onnx_model(params, input_shape=(features,)))
    x = np.random.default_rng(batch).standard_normal((batch, features)).astype(np.float32)
    (got,) = run.run(None, {"input": x})
    assert relative_difference(got, fnn.forward(params, x)) <= TOLERANCE


def test_flatten_keeps_the_channels_last_order() -> None:
    # a Dense that reads one feature of a 2x3x2 image: the pixel (1, 2), channel 1
    w = np.zeros((12, 1), np.float32)
    w[(1 * 3 + 2) * 2 + 1, 0] = 1
    net = fnn.Sequential((fnn.Conv2D(np.eye(2, dtype=np.float32)[None, None], np.zeros(2,
                          np.float32)), fnn.Flatten(), fnn.Dense(w, np.zeros(1, np.float32))))
    x = np.arange(12, dtype=np.float32).reshape(1, 2, 3, 2)
    (got,) = session(export.onnx_model(net, input_shape=(2, 3, 2))).run(None, {"input": x})
    assert got.tolist() == [[x[0, 1, 2, 1]]] == fnn.forward(net, x).tolist()


def test_the_model_names_its_input_and_output_with_a_dynamic_batch() -> None:
    net = fnn.convnet((6, 5, 2), 3, seed=0, filters=(2,), dropout=0.5)
    run = session(export.onnx_model(net, input_shape=(6, 5, 2), probabilities=True,
                                    metadata={"architecture": '{"filters": [2]}'}))
    [given_input], [output] = run.get_inputs(), run.get_outputs()
    assert (given_input.name, given_input.shape, given_input.type) == (
        "input", ["batch", 6, 5, 2], "tensor(float)")
    assert (output.name, output.shape) == ("probabilities", ["batch", 3])
    model = export.onnx_model(net, input_shape=(6, 5, 2), metadata={"seed": "0"})
    assert model.graph.output[0].name == "logits"
    assert {p.key: p.value for p in model.metadata_props} == {"seed": "0"}
    assert "layers.0.w" in {t.name for t in model.graph.initializer}


# --- layer kinds of one's own ---------------------------------------------------------------


@attrs.frozen
class Gain:
    """y = x * gain, gain a vector along the last axis."""

    gain: fnn.Array = attrs.field(converter=fnn.readonly)


@attrs.frozen
class LoudGain(Gain):
    """A kind whose base class has the rules."""


@attrs.frozen
class Unexportable:
    """A kind with a forward rule but no export rule."""


def _gain_forward(layer: Gain, x: fnn.Array, ctx: fnn.Context) -> tuple[fnn.Array, fnn.Array]:
    return x * layer.gain, x


def _gain_vjp(layer: Gain, x: fnn.Array, g: fnn.Array, out: Gain,
              ctx: fnn.Context) -> fnn.Array:
    fnn.rules.sum_to(g * x, out.gain)
    return g * layer.gain


def _identity(layer: Unexportable, x: fnn.Array, ctx: fnn.Context) -> tuple[fnn.Array, None]:
    return x, None


def _identity_vjp(layer: Unexportable, residual: None, g: fnn.Array, out: Unexportable,
                  ctx: fnn.Context) -> fnn.Array:
    return g


def _gain_to_onnx(layer: Gain, x: export.Value, graph: export.Graph) -> export.Value:
    gain = graph.constant("gain", layer.gain)
    return export.Value(graph.node("Mul", [graph.channels_last(x), gain]))


fnn.register(Gain, _gain_forward, _gain_vjp)
fnn.register(Unexportable, _identity, _identity_vjp)


def _gain_net(kind: type[Gain]) -> fnn.Sequential:
    """A conv, then ``kind`` per channel in the middle of a channels-first stack."""
    rng = np.random.default_rng(0)
    return fnn.Sequential((
        fnn.Conv2D(rng.standard_normal((3, 3, 1, 2)).astype(np.float32), np.ones(2, np.float32)),
        kind(np.array([0.5, -2.0], np.float32)), fnn.MaxPool2D(2), fnn.Flatten(),
        fnn.Dense(rng.standard_normal((8, 3)).astype(np.float32), np.zeros(3, np.float32))))


def test_a_layer_kind_of_ones_own_exports_through_its_registered_rule() -> None:
    export.register_onnx(Gain, _gain_to_onnx)
    net = _gain_net(Gain)
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 1)).astype(np.float32)
    (got,) = session(export.onnx_model(net, input_shape=(6, 6, 1))).run(None, {"input": x})
    assert relative_difference(got, fnn.forward(net, x)) <= TOLERANCE


def test_a_layer_kind_without_an_export_rule_is_named_with_its_place() -> None:
    net = fnn.Sequential((fnn.Dense(np.ones((2, 2), np.float32), np.zeros(2, np.float32)),
                          Unexportable()))
    assert fnn.forward(net, np.ones((1, 2), np.float32)).shape == (1, 2)  # it runs, but:
    with pytest.raises(export.ExportError, match=r"^no ONNX export rule for layer kind "
                       r"Unexportable \(at layers\.1\); register one with "
                       r"functional_nn\.export\.register_onnx\(Unexportable, rule\)$"):
        export.onnx_model(net, input_shape=(2,))


def test_a_kind_without_a_rule_of_its_own_uses_its_nearest_base_classs() -> None:
    export.register_onnx(Gain, _gain_to_onnx)  # as the library's own rules: the MRO
    assert export.onnx_rule_for(LoudGain(np.ones(2))) is _gain_to_onnx


@attrs.frozen
class BadOp(Unexportable):
    """A kind whose export rule emits an op that ONNX does not have."""


def _bad_op_to_onnx(layer: BadOp, x: export.Value, graph: export.Graph) -> export.Value:
    return export.Value(graph.node("NoSuchOp", [graph.channels_last(x)]))


def test_an_invalid_graph_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from functional_nn.export import graph

    monkeypatch.setattr(graph, "_ONNX_RULES", dict(graph._ONNX_RULES))  # BadOp's rule: here only
    export.register_onnx(BadOp, _bad_op_to_onnx)
    with pytest.raises(export.ExportError, match=r"^the exported graph is not valid ONNX: No "
                       r"Op registered for NoSuchOp .* Bad node spec") as error:
        export.onnx_model(fnn.Sequential((BadOp(),)), input_shape=(2,))
    assert "\n" not in str(error.value)
    assert "  " not in str(error.value)


MLP = fnn.mlp([4, 3], seed=0)
BATCH_NORM = fnn.Sequential((fnn.BatchNorm(np.ones(4, np.float32), np.zeros(4, np.float32)),))


@pytest.mark.parametrize(("params", "options", "message"), [
    (BATCH_NORM, {}, "BatchNorm at inference needs its running statistics"),
    (MLP, {"input_shape": (5,)}, r"inputs of shape \(batch, 5\).*Dense expects inputs of shape "
                                 r"\(batch, 4\)"),
    (fnn.mlp([4, 3], seed=0, dtype=np.float64), {},
     "ONNX export takes float32 parameters, but layers.0.w is float64"),
    (MLP, {"input_shape": (0, 4)}, "input_shape must be the positive sizes"),
    (MLP, {"metadata": {"seed": 0}}, "metadata holds strings only"),
    (MLP, {"input_shape": (99999999999, 99999999)}, r"inputs of shape \(batch, 99999999999, "
                                                    r"99999999\) do not fit in memory: one is "
                                                    r"4e\+10 GB of float32"),
], ids=["batch norm without state", "wrong input shape", "float64", "bad input shape",
        "bad metadata", "input shape past numpy's index range"])
def test_what_cannot_be_exported_is_one_clear_line(params: object, options: dict[str, Any],
                                                   message: str) -> None:
    with pytest.raises(export.ExportError, match=message) as error:
        export.onnx_model(params, **{"input_shape": (4,), **options})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("metadata", ["abc", [("a", "b")], 3])
def test_metadata_that_is_not_a_dict_is_one_line(tmp_path: Path, metadata: Any) -> None:
    message = (r"^metadata must be a dict of str to str \(JSON-encode other values\), got a "
               rf"{type(metadata).__name__}: ")
    with pytest.raises(TypeError, match=message):
        export.to_onnx(MLP, tmp_path / "net.onnx", input_shape=(4,), metadata=metadata)
    with pytest.raises(TypeError, match=message):
        export.to_safetensors(MLP, tmp_path / "net.safetensors", metadata=metadata)
    assert os.listdir(tmp_path) == []


def test_to_onnx_writes_the_model_atomically(tmp_path: Path) -> None:
    path = tmp_path / "net.onnx"
    export.to_onnx(fnn.mlp([3, 2], seed=0), path, input_shape=(3,))
    assert onnx.load(str(path)).graph.input[0].name == "input"
    with pytest.raises(export.ExportError, match="network does not run"):
        export.to_onnx(fnn.mlp([4, 2], seed=0), path, input_shape=(3,))
    assert onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[1].dim_value == 3
    with pytest.raises(export.ExportError, match="it is a directory"):
        export.to_onnx(fnn.mlp([3, 2], seed=0), tmp_path, input_shape=(3,))
    assert sorted(os.listdir(tmp_path)) == ["net.onnx"]


def test_a_model_over_protobufs_limit_is_refused_before_it_is_built(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the limit lowered to this network's 60 bytes of weights: gigabytes not needed
    monkeypatch.setattr(sys.modules["functional_nn.export.onnx_model"], "PROTOBUF_LIMIT", 60)
    with pytest.raises(export.ExportError, match=r"^the ONNX model would be larger than "
                       r"protobuf's 2 GB limit \(0\.0 GB of weights\); export \.safetensors "
                       r"instead$"):
        export.to_onnx(fnn.mlp([4, 3], seed=0), tmp_path / "net.onnx", input_shape=(4,))
    assert os.listdir(tmp_path) == []
    export.to_onnx(fnn.mlp([4, 2], seed=0), tmp_path / "net.onnx", input_shape=(4,))  # 40 bytes


def test_a_model_that_protobuf_cannot_serialise_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # weights under the limit, a model over it (the graph's own constants): as protobuf fails
    from google.protobuf.message import EncodeError

    def fail(*args: object) -> None:
        raise EncodeError("Failed to serialize proto")

    monkeypatch.setattr(sys.modules["functional_nn.export.onnx_model"], "_build", fail)
    with pytest.raises(export.ExportError, match=r"^the ONNX model would be larger than "
                       r"protobuf's 2 GB limit; export \.safetensors instead$"):
        export.to_onnx(fnn.mlp([4, 3], seed=0), tmp_path / "net.onnx", input_shape=(4,))
    assert os.listdir(tmp_path) == []


# --- safetensors ----------------------------------------------------------------------------


def _random_bits(tree: Any, seed: int) -> Any:
    """``tree`` with every float32 leaf's bits random: NaNs with payloads, infinities, -0.0,
    subnormals included."""
    rng = np.random.default_rng(seed)
    return fnn.tree_map(lambda a: rng.integers(0, 2**32, a.shape, dtype=np.uint32).view(
        a.dtype) if a.dtype == np.float32 else a, tree)


@settings(max_examples=25)
@given(networks(), st.booleans(), st.integers(0, 2**32 - 1))
def test_safetensors_give_the_bits_back(tmp_path_factory: pytest.TempPathFactory, net: Net,
                                        as_flat: bool, seed: int) -> None:
    params, state, _ = net
    tree = {"params": _random_bits(fnn.flatten(params) if as_flat else params, seed),
            "model_state": state}
    path = tmp_path_factory.mktemp("weights") / "net.safetensors"
    export.to_safetensors(tree, path, metadata={"architecture": '{"sizes": [1, 2]}'})
    back = export.from_safetensors(path, like=tree)
    assert same_bits(back, tree)
    assert isinstance(back["params"], fnn.Flat) == as_flat
    assert export.safetensors_metadata(path) == {"architecture": '{"sizes": [1, 2]}'}


@settings(max_examples=25)
@given(fst.pytrees())
def test_safetensors_of_any_tree_of_arrays_round_trip(tmp_path_factory: pytest.TempPathFactory,
                                                      tree: object) -> None:
    path = tmp_path_factory.mktemp("trees") / "tree.safetensors"
    export.to_safetensors(tree, path)
    assert same_bits(export.from_safetensors(path, like=tree), tree)
    assert export.safetensors_metadata(path) == {}


def test_the_keys_are_the_dotted_tree_paths(tmp_path: Path) -> None:
    net = fnn.convnet((6, 6, 1), 2, seed=0, filters=(2,), batch_norm=True)
    assert export.weight_keys(fnn.flatten(net)) == export.weight_keys(net) == [
        "layers.0.w", "layers.0.b", "layers.1.gamma", "layers.1.beta", "layers.6.w",
        "layers.6.b"]
    assert export.weight_keys({"params": net, "model_state": fnn.init_state(net)})[:2] == [
        "model_state.1.mean", "model_state.1.var"]
    assert export.weight_keys(np.zeros(2)) == ["<root>"]
    with pytest.raises(export.ExportError, match=r"leaf a is a int, not an array"):
        export.to_safetensors({"a": 1}, tmp_path / "x.safetensors")
    with pytest.raises(export.ExportError, match=r"both be named '0\.a'"):
        export.weight_keys({"0": {"a": np.zeros(1)}, "0.a": np.zeros(1)})


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "net.safetensors"
    export.to_safetensors(fnn.mlp([4, 3, 2], seed=0), path)
    return path


@pytest.mark.parametrize(("like", "message"), [
    (fnn.mlp([4, 3, 2, 2], seed=0), r"net\.safetensors: has no tensor layers\.4\.w"),
    (fnn.mlp([4, 2], seed=0), r"net\.safetensors: layers\.0\.w is F32\[4, 3\] in the file but "
                              r"F32\[4, 2\] in the tree"),
    (fnn.mlp([4, 3, 2], seed=0, dtype=np.float64), r"layers\.0\.w is F32\[4, 3\] in the file "
                                                   r"but F64\[4, 3\]"),
    (fnn.mlp([4, 3], seed=0).layers[0], r"has no tensor w"),
    ({"layers": [fnn.mlp([4, 3], seed=0).layers[0]]}, r"holds layers\.2\.b, which the tree has "
                                                      r"no leaf for \(2 such tensors\)"),
])
def test_a_tree_of_another_structure_is_named_at_its_first_difference(
        saved: Path, like: object, message: str) -> None:
    with pytest.raises(export.ExportError, match=message) as error:
        export.from_safetensors(saved, like=like)
    assert "\n" not in str(error.value)


def _header(header: bytes, size: int | None = None) -> bytes:
    return (len(header) if size is None else size).to_bytes(8, "little") + header


HOSTILE: dict[str, bytes] = {
    "empty": b"",
    "short": b"\x01\x02",
    "random bytes": bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
    "a header longer than the file": _header(b"{}", size=2**40),
    "a header of 2**63 bytes": _header(b"{}", size=2**63),
    "a header that is not JSON": _header(b"{not json"),
    "a tensor past the end": _header(b'{"w":{"dtype":"F32","shape":[2],'
                                     b'"data_offsets":[0,8]}}') + b"\x00" * 4,
    "a tensor of the wrong size": _header(b'{"w":{"dtype":"F32","shape":[1000000,1000000],'
                                          b'"data_offsets":[0,8]}}') + b"\x00" * 8,
    "an unknown dtype": _header(b'{"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}')
                        + b"\x00" * 8,
    "metadata not strings": _header(b'{"__metadata__":{"a":[1]}}'),
    "an npz checkpoint": b"PK\x03\x04" + b"\x00" * 60,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_or_corrupt_file_is_one_line_naming_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(HOSTILE[name])
    like = {"w": np.zeros(2, np.float32)}
    for read in (lambda: export.from_safetensors(path, like=like),
                 lambda: export.safetensors_metadata(path)):
        with pytest.raises(export.ExportError) as error:
            read()
        assert str(error.value).startswith(f"{path}: ")
        assert "\n" not in str(error.value)


def test_a_missing_file_or_a_folder_is_one_line(tmp_path: Path) -> None:
    like = fnn.mlp([2, 2], seed=0)
    with pytest.raises(export.ExportError, match=r"cannot read .*nothing\.safetensors: No such"):
        export.from_safetensors(tmp_path / "nothing.safetensors", like=like)
    with pytest.raises(export.ExportError, match=r"it is a directory"):
        export.to_safetensors(like, tmp_path)
    for read in (lambda: export.from_safetensors(tmp_path, like=like),
                 lambda: export.safetensors_metadata(tmp_path)):
        with pytest.raises(export.ExportError, match=rf"cannot read {tmp_path}: is a directory$"):
            read()


# In a child with a time limit: a reader that waits on the FIFO hangs there, not the suite.
FIFO_READERS = ("from_safetensors(PATH, like=fnn.mlp([3, 2], seed=0))",
                "safetensors_metadata(PATH)")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("read", FIFO_READERS)
def test_a_fifo_is_refused_at_once(tmp_path: Path, read: str) -> None:
    path = tmp_path / "f.safetensors"
    os.mkfifo(path)
    code = (f"import functional_nn as fnn\nfrom functional_nn.export import *\n"
            f"PATH = {str(path)!r}\ntry:\n    {read}\nexcept ExportError as e:\n    print(e)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"cannot read {path}: not a regular file (a FIFO, device or socket)\n"


def test_a_missing_library_names_the_extra() -> None:
    with pytest.raises(export.MissingExtra, match=r"ONNX export needs no_such_module .*; "
                       r"install it with: pip install 'functional_nn\[export\]'"):
        export.errors.require("no_such_module", "ONNX export")
