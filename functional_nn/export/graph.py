"""The ONNX export protocol: :class:`Value`, :class:`Graph`, and the table of export rules.

An export rule ``rule(layer, x, graph) -> y`` adds the nodes that compute ``layer`` on the
tensor ``x`` to the graph being built and returns the tensor they produce. ``x`` and ``y`` are
each a :class:`Value`: the name of a tensor in the graph and its layout. Our images are
channels-last ``(batch, height, width, channels)``, as :func:`~functional_nn.forward` sees
them; ONNX's convolutions and pooling are channels-first, so a value may be stored either way
and a rule asks for the layout it needs: ``graph.channels_last(x)`` or
``graph.channels_first(x)`` is the name of ``x`` in that layout, adding a ``Transpose`` the
first time, so a stack of convolutions transposes once at its start and once at its end. A
rule whose nodes work on any layout (an elementwise activation) keeps its input's.

``graph.node(op, inputs, **attributes)`` adds a node (default domain, opset 17) and returns
its output's name; ``graph.constant(name, array)`` adds an initializer named after the layer's
path (the parameter ``w`` of ``layers[2]`` is ``layers.2.w``, as in a safetensors file).
``graph.sample`` is the layer's input on a one-sample batch (channels-last: its shape and
dtype), and ``graph.state`` the layer's model state (BatchNorm's running statistics).

Register the rule of your own layer kind with :func:`register_onnx`, beside its forward and
VJP rules; exporting a network with a kind that has none raises :class:`ExportError` naming
the kind and its place in the network. For ``y = x * gain``, a vector along the last axis::

    def gain_to_onnx(layer: Gain, x: Value, graph: Graph) -> Value:
        gain = graph.constant("gain", layer.gain)
        return Value(graph.node("Mul", [graph.channels_last(x), gain]))

    register_onnx(Gain, gain_to_onnx)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from .._array import Array
from .errors import ExportError
from .paths import key

__all__ = ["Graph", "OnnxRule", "Value", "onnx_rule_for", "register_onnx"]

L = TypeVar("L")


@attrs.frozen
class Value:
    """A tensor of the graph: its ``name``, and whether it is stored channels-first (an
    image's channels moved from the last axis to axis 1, as ONNX's Conv wants)."""

    name: str
    channels_first: bool = False


class _Builder:
    """The nodes and initializers of one export, and the names they took (private to
    :func:`~functional_nn.export.onnx_model`, which makes one per call)."""

    def __init__(self, reserved: Sequence[str]) -> None:
        self.nodes: list[Any] = []  # onnx NodeProtos
        self.initializers: list[Any] = []  # onnx TensorProtos
        self.taken: set[str] = set(reserved)
        self.layouts: dict[tuple[str, bool], str] = {}  # (name, channels_first) -> transposed

    def fresh(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``... the first that no tensor or node has."""
        candidate, n = name, 0
        while candidate in self.taken:
            n += 1
            candidate = f"{name}_{n}"
        self.taken.add(candidate)
        return candidate


@attrs.frozen
class Graph:
    """The graph being built, as one layer's export rule sees it: its ``path`` in the network
    (``layers.2``), its input on a one-sample batch (``sample``, channels-last) and its model
    ``state``."""

    builder: _Builder = attrs.field(repr=False)
    path: str
    sample: Array = attrs.field(repr=False)
    state: object = None

    def child(self, name: str, sample: Array, state: object) -> Graph:
        """The graph as a sub-layer ``name`` (``layers.3``) sees it: for container rules."""
        return Graph(self.builder, key(self.path, name), sample, state)

    def node(self, op: str, inputs: Sequence[str], *, output: str | None = None,
             **attributes: Any) -> str:
        """Add an ONNX node ``op`` (``"Relu"``, ``"Conv"``...) of default-domain opset 17 on
        the tensors named ``inputs``; return the name of its (first) output."""
        from onnx import helper

        out = output or self.builder.fresh(key(self.path, op))
        name = self.builder.fresh(f"{key(self.path, op)}/node")
        self.builder.nodes.append(helper.make_node(op, list(inputs), [out], name=name,
                                                   **attributes))
        return out

    def constant(self, name: str, value: npt.ArrayLike) -> str:
        """Add ``value`` as an initializer named ``path.name``; return its name."""
        from onnx import numpy_helper

        unique = self.builder.fresh(key(self.path, name))
        array = np.ascontiguousarray(value)
        self.builder.initializers.append(numpy_helper.from_array(array, unique))
        return unique

    def channels_last(self, x: Value) -> str:
        """The name of ``x`` stored channels-last (its own, or a transpose of it)."""
        if not x.channels_first:
            return x.name
        rank = self.sample.ndim
        return self._transposed(x, False, [0, *range(2, rank), 1])

    def channels_first(self, x: Value) -> str:
        """The name of ``x`` (an image, or any tensor of rank 3 or more) stored
        channels-first: ``(batch, channels, height, width)``."""
        rank = self.sample.ndim
        if rank < 3:
            raise ExportError(f"{self.path or 'the network'}: a channels-first layer needs "
                              f"inputs of rank 3 or more, got shape {self.sample.shape}")
        if x.channels_first:
            return x.name
        return self._transposed(x, True, [0, rank - 1, *range(1, rank - 1)])

    def _transposed(self, x: Value, first: bool, perm: list[int]) -> str:
        cached = self.builder.layouts.get((x.name, first))
        if cached is None:
            cached = self.node("Transpose", [x.name], perm=perm)
            self.builder.layouts[(x.name, first)] = cached
        return cached


OnnxRule = Callable[[L, Value, Graph], Value]
"""``rule(layer, x, graph) -> y``: the nodes computing ``layer`` on ``x``, added to ``graph``."""

_ONNX_RULES: dict[type, OnnxRule[Any]] = {}


def register_onnx(kind: type[L], rule: OnnxRule[L]) -> None:
    """Register the ONNX export rule of a layer kind (replacing any earlier one)."""
    _ONNX_RULES[kind] = rule


def onnx_rule_for(layer: object, path: str = "") -> OnnxRule[Any]:
    """The export rule of ``layer``'s type or of its nearest registered base class;
    :class:`ExportError` naming the kind (and ``path``, its place in the network) if none."""
    for kind in type(layer).__mro__:
        rule = _ONNX_RULES.get(kind)
        if rule is not None:
            return rule
    where = f" (at {path})" if path else ""
    name = type(layer).__qualname__
    raise ExportError(f"no ONNX export rule for layer kind {name}{where}; register one with "
                      f"functional_nn.export.register_onnx({name}, rule)")
