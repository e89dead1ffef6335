"""The ONNX export rules of the built-in layer kinds (the protocol: :mod:`.graph`).

Each computes what the kind's forward rule computes at inference (``functional_nn/rules/``),
as ONNX operators: ``Dense`` is ``MatMul`` then ``Add`` (``x @ w``, then ``+ b``, in that
order); ``Conv2D`` is ``Conv`` with the weight transposed from ``(kh, kw, in, out)`` to ONNX's
``(out, in, kh, kw)`` and the library's own padding (:func:`~functional_nn.rules.conv.
conv_pads`); the pools are ``MaxPool`` and ``AveragePool`` without padding (windows that do
not fit are dropped, as here); ``ZeroPad2D`` is ``Pad`` of the channels-last tensor;
``Flatten`` is ONNX's ``Flatten`` of the channels-last tensor, so feature ``(i·W + j)·C + k``
is pixel ``(i, j)``, channel ``k``, as the next ``Dense`` expects; ``LayerNorm`` is
``LayerNormalization`` over the last axis; ``BatchNorm`` is ``BatchNormalization`` in
inference form with the running statistics of the model state; ``Dropout`` is the identity.
``Sequential`` and ``Flat`` export their layers in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np

from ..flat import Flat
from ..layers import (
    AvgPool2D,
    BatchNorm,
    BatchNormState,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    LayerNorm,
    MaxPool2D,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    ZeroPad2D,
)
from ..rules import Context, rule_for
from ..rules.conv import conv_pads
from .graph import Graph, Value, onnx_rule_for, register_onnx

__all__: list[str] = []


def _dense(layer: Dense, x: Value, graph: Graph) -> Value:
    product = graph.node("MatMul", [graph.channels_last(x), graph.constant("w", layer.w)])
    return Value(graph.node("Add", [product, graph.constant("b", layer.b)]))


def _elementwise(op: str) -> Callable[[object, Value, Graph], Value]:
    def rule(layer: object, x: Value, graph: Graph) -> Value:
        return Value(graph.node(op, [x.name]), x.channels_first)  # any layout will do
    return rule


def _conv(layer: Conv2D, x: Value, graph: Graph) -> Value:
    kh, kw = layer.w.shape[:2]
    (top, bottom), (left, right) = conv_pads(layer)
    weight = graph.constant("w", layer.w.transpose(3, 2, 0, 1))
    y = graph.node("Conv", [graph.channels_first(x), weight, graph.constant("b", layer.b)],
                   kernel_shape=[kh, kw], strides=list(layer.stride),
                   dilations=list(layer.dilation), pads=[top, left, bottom, right])
    return Value(y, channels_first=True)


def _pool(op: str) -> Callable[[MaxPool2D | AvgPool2D, Value, Graph], Value]:
    def rule(layer: MaxPool2D | AvgPool2D, x: Value, graph: Graph) -> Value:
        y = graph.node(op, [graph.channels_first(x)], kernel_shape=list(layer.window),
                       strides=list(layer.stride))
        return Value(y, channels_first=True)
    return rule


def _zero_pad(layer: ZeroPad2D, x: Value, graph: Graph) -> Value:
    (top, bottom), (left, right) = layer.padding  # ONNX: every axis' begin, then every end
    pads = graph.constant("pads", np.array([0, top, left, 0, 0, bottom, right, 0], np.int64))
    return Value(graph.node("Pad", [graph.channels_last(x), pads], mode="constant"))


def _flatten(layer: Flatten, x: Value, graph: Graph) -> Value:
    return Value(graph.node("Flatten", [graph.channels_last(x)], axis=1))


def _dropout(layer: Dropout, x: Value, graph: Graph) -> Value:
    return x  # the identity at inference


def _layer_norm(layer: LayerNorm, x: Value, graph: Graph) -> Value:
    y = graph.node("LayerNormalization", [graph.channels_last(x),
                                          graph.constant("gamma", layer.gamma),
                                          graph.constant("beta", layer.beta)],
                   axis=-1, epsilon=float(layer.eps))
    return Value(y)


def _batch_norm(layer: BatchNorm, x: Value, graph: Graph) -> Value:
    state = graph.state
    assert isinstance(state, BatchNormState)  # the network ran on graph.sample with it
    dtype = layer.gamma.dtype  # the forward rule reads the statistics in the layer's dtype
    # BatchNormalization normalises axis 1: a (batch, features) input is that already
    first = graph.sample.ndim > 2
    name = graph.channels_first(x) if first else x.name
    y = graph.node("BatchNormalization", [name, graph.constant("gamma", layer.gamma),
                                          graph.constant("beta", layer.beta),
                                          graph.constant("mean", state.mean.astype(dtype)),
                                          graph.constant("var", state.var.astype(dtype))],
                   epsilon=float(layer.eps))
    return Value(y, channels_first=first)


def _sequential(seq: Sequential, x: Value, graph: Graph) -> Value:
    sample, states = graph.sample, cast("tuple[object, ...] | None", graph.state)
    for i, layer in enumerate(seq.layers):
        state = None if states is None else states[i]
        child = graph.child(f"layers.{i}", sample, state)
        x = onnx_rule_for(layer, child.path)(layer, x, child)
        context = Context() if state is None else Context(state=state)
        sample = rule_for(layer).forward(layer, sample, context)[0]  # the next one's input
    return x


def _flat(flat: Flat[Any], x: Value, graph: Graph) -> Value:
    tree = flat.tree  # the parameters' paths are the tree's, as in a safetensors file
    return onnx_rule_for(tree, graph.path)(tree, x, graph)


register_onnx(Dense, _dense)
register_onnx(ReLU, _elementwise("Relu"))
register_onnx(Sigmoid, _elementwise("Sigmoid"))
register_onnx(Tanh, _elementwise("Tanh"))
register_onnx(Conv2D, _conv)
register_onnx(MaxPool2D, _pool("MaxPool"))
register_onnx(AvgPool2D, _pool("AveragePool"))
register_onnx(Flatten, _flatten)
register_onnx(ZeroPad2D, _zero_pad)
register_onnx(Dropout, _dropout)
register_onnx(LayerNorm, _layer_norm)
register_onnx(BatchNorm, _batch_norm)
register_onnx(Sequential, _sequential)
register_onnx(Flat, _flat)
