"""Network specs: a network written as one short string, built from it, and read back from it.

A spec is comma-separated layer tokens, first layer first. The Keras "simple MNIST convnet" is
``conv3x3-32,relu,maxpool2,conv3x3-64,relu,maxpool2,flatten,dropout0.5,dense10``:

==================================  ===========================================================
``conv<H>x<W>-<C>``                 Conv2D of C filters H×W, no padding; ``-same`` pads to keep
                                    the image size, ``-s<S>`` strides S (``conv5x5-32-same``)
``maxpool<W>``, ``avgpool<W>``      W×W pooling with stride W; ``-s<S>`` strides S instead
``dense<N>``                        Dense with N outputs (the last one: one per class)
``relu``, ``tanh``, ``sigmoid``     activations
``flatten``                         images to feature vectors
``dropout<P>``                      Dropout of rate P (``dropout0.5``)
``batchnorm``, ``layernorm``        BatchNorm, LayerNorm over the last axis
==================================  ===========================================================

A network whose first layer is Dense takes flat features (an image's pixels in row-major
order); any other takes channels-last images. The weights come from
``numpy.random.default_rng(seed)`` alone, drawn layer by layer as
:func:`~functional_nn.layers.mlp` and :func:`~functional_nn.layers.convnet` draw them (He init
for a layer whose activation is ReLU, Glorot for tanh and sigmoid), so
``network(spec_of(net), ...)`` rebuilds those networks to the bit.

>>> net = network("conv3x3-8,relu,maxpool2,flatten,dense10", (28, 28, 1), seed=0)
>>> spec_of(net), layer_shapes(net, (28, 28, 1))[-1]
('conv3x3-8,relu,maxpool2,flatten,dense10', (10,))
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

import attrs
import numpy as np
import numpy.typing as npt

from ._array import Array
from .data import channels_last, flatten_images
from .layers import (
    ACTIVATIONS,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    LayerNorm,
    MaxPool2D,
    Sequential,
    ZeroPad2D,
)
from .layers.nets import float_dtype, init_weight
from .rules.conv import conv_output_shape
from .rules.pooling import pool_output_shape
from .tree import STATIC

__all__ = ["SYNTAX", "SpecError", "batch_for", "blueprint", "check_spec", "layer_shapes", "network",
           "network_inputs", "sample_floats", "spec_of", "takes_images"]

SYNTAX = ("conv<H>x<W>-<C>[-same][-s<S>], maxpool<W>[-s<S>], avgpool<W>[-s<S>], dense<N>, "
          "relu, tanh, sigmoid, flatten, dropout<P>, batchnorm, layernorm")
"""The tokens of a spec, as error messages and ``--help`` show them."""

Shape = tuple[int, ...]

_TOKEN = re.compile(r"""
    conv(?P<kh>\d+)x(?P<kw>\d+)-(?P<filters>\d+)(?P<same>-same)?(?:-s(?P<conv_stride>\d+))?
  | (?P<pool>max|avg)pool(?P<window>\d+)(?:-s(?P<pool_stride>\d+))?
  | dense(?P<units>\d+)
  | dropout(?P<rate>[0-9.eE+-]+)
  | (?P<name>relu|tanh|sigmoid|flatten|batchnorm|layernorm)
""", re.VERBOSE)


class _Token(NamedTuple):
    """One parsed token: its kind, its integers (conv: kh, kw, filters, stride, same; pool:
    window, stride; dense: units) and Dropout's rate."""

    kind: str
    ints: tuple[int, ...] = ()
    rate: float = 0.0

    def text(self) -> str:
        """The token in its one canonical spelling."""
        if self.kind == "conv":
            kh, kw, filters, stride, same = self.ints
            return (f"conv{kh}x{kw}-{filters}" + "-same" * same
                    + (f"-s{stride}" if stride != 1 else ""))
        if self.kind in ("maxpool", "avgpool"):
            window, stride = self.ints
            return f"{self.kind}{window}" + (f"-s{stride}" if stride != window else "")
        if self.kind == "dense":
            return f"dense{self.ints[0]}"
        if self.kind == "dropout":
            return f"dropout{self.rate!r}"
        return self.kind


class SpecError(ValueError):
    """A spec that is not one, or a layer of it that does not fit its input."""


def _where(index: int, text: str) -> str:
    return f"token {index + 1} {text!r}"


def _token(index: int, text: str) -> _Token:
    """One token of a spec, parsed; ``SpecError`` naming it otherwise."""
    match = _TOKEN.fullmatch(text)
    if match is None:
        what = "is empty" if not text else "is not a layer"
        raise SpecError(f"{_where(index, text)} {what}; layers are {SYNTAX}")
    groups = match.groupdict()
    if groups["name"]:
        return _Token(groups["name"])
    if groups["rate"]:
        try:
            rate = float(groups["rate"])
        except ValueError:
            rate = math.nan
        if not 0 <= rate < 1:
            raise SpecError(f"{_where(index, text)}: the dropout rate must be in [0, 1)")
        return _Token("dropout", rate=rate)
    names = [n for n in ("kh", "kw", "filters", "conv_stride", "window", "pool_stride", "units")
             if groups[n] is not None]
    if any(int(groups[n]) < 1 for n in names):
        raise SpecError(f"{_where(index, text)}: sizes must be positive integers")
    if groups["units"]:
        return _Token("dense", (int(groups["units"]),))
    if groups["pool"]:
        window = int(groups["window"])
        return _Token(f"{groups['pool']}pool", (window, int(groups["pool_stride"] or window)))
    stride = int(groups["conv_stride"] or 1)
    if groups["same"] and stride != 1:
        raise SpecError(f"{_where(index, text)}: -same padding needs stride 1")
    return _Token("conv", (int(groups["kh"]), int(groups["kw"]), int(groups["filters"]), stride,
                           int(bool(groups["same"]))))


def _tokens(spec: object) -> list[_Token]:
    if not isinstance(spec, str):
        raise TypeError(f"a model spec must be a string, got {spec!r}")
    return [_token(i, text.strip()) for i, text in enumerate(spec.split(","))]


def check_spec(spec: object) -> str:
    """``spec`` in its canonical spelling; ``SpecError`` (a ``ValueError``) naming the first
    token that is not a layer.

    >>> check_spec("conv3x3-32, relu, maxpool2, dropout0.50, dense10")
    'conv3x3-32,relu,maxpool2,dropout0.5,dense10'
    """
    return ",".join(token.text() for token in _tokens(spec))


def _activations(tokens: Sequence[_Token]) -> list[str]:
    """Each token's activation for its weights' init: the first activation after it, else the
    last before it (the logits take the network's), else ReLU."""
    names = [t.kind if t.kind in ACTIVATIONS else "" for t in tokens]
    out: list[str] = []
    last = "relu"
    for i, name in enumerate(names):
        last = name or last
        out.append(next((n for n in names[i + 1:] if n), last))
    return out


Weight = Callable[[Shape, int, int, str], Array]
"""Makes a weight: ``(shape, fan_in, fan_out, activation) -> array``."""
Full = Callable[[int, float], Array]
"""Makes a bias or a norm's scale: ``(size, value) -> array``."""


def _check_images(shape: Shape) -> None:
    if len(shape) != 3:
        raise ValueError(f"needs images (height, width, channels) but gets features of shape "
                         f"{shape}")


def _layer(token: _Token, shape: Shape, first: bool, activation: str, weight: Weight,
           full: Full) -> object:
    """The layer of ``token`` for inputs of ``shape`` (per sample)."""
    kind, ints = token.kind, token.ints
    if kind == "conv":
        kh, kw, filters, stride, same = ints
        _check_images(shape)
        w = weight((kh, kw, shape[2], filters), kh * kw * shape[2], kh * kw * filters,
                   activation)
        return Conv2D(w, full(filters, 0.0), stride=stride, padding="same" if same else "valid")
    if kind == "dense":
        features = math.prod(shape) if first else shape[0]
        if not first and len(shape) != 1:
            raise ValueError(f"needs features but gets images {'x'.join(map(str, shape))}: "
                             "put flatten before it")
        return Dense(weight((features, ints[0]), features, ints[0], activation),
                     full(ints[0], 0.0))
    if kind in ("maxpool", "avgpool"):
        return (MaxPool2D if kind == "maxpool" else AvgPool2D)(*ints)
    if kind in ("batchnorm", "layernorm"):
        return (BatchNorm if kind == "batchnorm" else LayerNorm)(full(shape[-1], 1.0),
                                                                 full(shape[-1], 0.0))
    if kind == "dropout":
        return Dropout(token.rate)
    if kind == "flatten":
        return Flatten()
    return ACTIVATIONS[kind]()


def _next_shape(layer: object, shape: Shape, first: bool) -> Shape:
    """The per-sample shape of ``layer``'s output on inputs of ``shape``; ``ValueError`` when
    they do not fit it."""
    if isinstance(layer, Conv2D | MaxPool2D | AvgPool2D):
        _check_images(shape)
        if isinstance(layer, Conv2D):
            if shape[2] != layer.w.shape[2]:
                raise ValueError(f"takes {layer.w.shape[2]}-channel images but gets "
                                 f"{shape[2]} channels")
            rows, columns = conv_output_shape(layer, shape[0], shape[1])
            if rows < 1 or columns < 1:
                raise ValueError(f"does not fit a {shape[0]}x{shape[1]} image")
            return rows, columns, layer.w.shape[3]
        return (*pool_output_shape(layer, shape[0], shape[1]), shape[2])
    if isinstance(layer, Dense):
        features = math.prod(shape) if first else shape[0] if len(shape) == 1 else -1
        if features != layer.w.shape[0]:
            raise ValueError(f"takes {layer.w.shape[0]} features but gets "
                             f"{'x'.join(map(str, shape))}")
        return (layer.w.shape[1],)
    if isinstance(layer, Flatten):
        return (math.prod(shape),)
    if isinstance(layer, ZeroPad2D):
        _check_images(shape)
        (top, bottom), (left, right) = layer.padding
        return shape[0] + top + bottom, shape[1] + left + right, shape[2]
    if isinstance(layer, BatchNorm | LayerNorm) and shape[-1] != layer.gamma.shape[0]:
        raise ValueError(f"normalises {layer.gamma.shape[0]} features but gets {shape[-1]}")
    return shape


def layer_shapes(net: Sequential, input_shape: Sequence[int]) -> list[Shape]:
    """The per-sample shape of every layer's output on inputs of ``input_shape``;
    ``SpecError`` naming the first layer they do not fit (a Dense first layer takes the
    input flattened)."""
    shape, out = tuple(input_shape), list[Shape]()
    for i, layer in enumerate(net.layers):
        try:
            shape = _next_shape(layer, shape, i == 0)
        except ValueError as error:
            raise SpecError(f"layer {i + 1} ({_describe(layer)}): {error}") from None
        out.append(shape)
    return out


def sample_floats(net: Sequential, input_shape: Sequence[int]) -> int:
    """The numbers a forward pass keeps per sample: its input, every layer's output, and each
    convolution's im2col row of every output pixel (what a step's memory grows with)."""
    shapes = layer_shapes(net, input_shape)
    columns = sum(math.prod(out[:2]) * (math.prod(layer.w.shape[:3]) + 1)
                  for layer, out in zip(net.layers, shapes, strict=True)
                  if isinstance(layer, Conv2D))
    return math.prod(input_shape) + sum(map(math.prod, shapes)) + columns


def batch_for(net: Sequential, input_shape: Sequence[int], budget: int = 2**24,
              most: int = 4096) -> int:
    """A batch size for inference whose forward pass keeps about ``budget`` numbers at most
    (64 MB of float32), and at most ``most`` samples: a convnet's im2col matrices make 4096
    images at once several times slower than a few hundred (they no longer fit the caches).

    >>> batch_for(network("dense16,relu,dense10", (784,), seed=0), (784,))
    4096
    """
    try:
        return max(1, min(most, budget // sample_floats(net, input_shape)))
    except SpecError:  # inputs it does not take: let the forward pass say so
        return most


def _build(spec: str, input_shape: Sequence[int], weight: Weight, full: Full,
           classes: int | None) -> Sequential:
    tokens = _tokens(spec)
    shape, layers = tuple(input_shape), list[object]()
    for i, (token, activation) in enumerate(zip(tokens, _activations(tokens), strict=True)):
        try:
            layer = _layer(token, shape, i == 0, activation, weight, full)
            shape = _next_shape(layer, shape, i == 0)
        except ValueError as error:
            raise SpecError(f"{_where(i, token.text())}: {error}") from None
        layers.append(layer)
    if classes is not None and shape != (classes,):
        raise SpecError(f"the last layer gives outputs of shape {shape} but there are "
                        f"{classes} classes: end the model with dense{classes}")
    return Sequential(tuple(layers))


def network(spec: str, input_shape: Sequence[int], *, seed: int,
            dtype: npt.DTypeLike = np.float32, classes: int | None = None) -> Sequential:
    """The network ``spec`` describes, for samples of ``input_shape``, initialised from
    ``seed``; ``SpecError`` (a ``ValueError``) naming the first token at fault, or saying
    that the network does not give ``classes`` outputs (when given)."""
    dt = float_dtype("network", dtype)
    rng = np.random.default_rng(seed)
    return _build(spec, input_shape,
                  lambda shape, fan_in, fan_out, act: init_weight(rng, shape, fan_in, fan_out,
                                                                  act, dt),
                  lambda size, value: np.full(size, value, dt), classes)


def blueprint(spec: str, input_shape: Sequence[int], dtype: npt.DTypeLike = np.float32, *,
              classes: int | None = None) -> Sequential:
    """The structure of ``network(spec, input_shape, classes=classes)`` without its memory:
    every array is a read-only broadcast zero, so a spec can be counted and sized before it
    is built."""
    zero = np.zeros((), float_dtype("blueprint", dtype))
    zero.flags.writeable = False
    def weight(shape: Shape, fan_in: int, fan_out: int, activation: str) -> Array:
        return np.broadcast_to(zero, shape)

    return _build(spec, input_shape, weight, lambda size, value: np.broadcast_to(zero, (size,)),
                  classes)


def _describe(layer: object) -> str:
    try:
        return _token_of(layer).text()
    except ValueError:
        return type(layer).__name__


def _square(pair: tuple[int, int], what: str, layer: object) -> int:
    if pair[0] != pair[1]:
        raise ValueError(f"no spec token for {layer!r}: its {what} differs along the axes")
    return pair[0]


def _token_of(layer: object) -> _Token:
    """The token of ``layer``; ``ValueError`` when no token describes it."""
    name = next((n for n, kind in ACTIVATIONS.items() if type(layer) is kind), None)
    if name is not None:
        return _Token(name)
    if isinstance(layer, Flatten):
        return _Token("flatten")
    if isinstance(layer, Dense):
        return _Token("dense", (layer.w.shape[1],))
    if isinstance(layer, Dropout):
        return _Token("dropout", rate=float(layer.rate))
    if isinstance(layer, MaxPool2D | AvgPool2D):
        kind = "maxpool" if isinstance(layer, MaxPool2D) else "avgpool"
        return _Token(kind, (_square(layer.window, "window", layer),
                             _square(layer.stride, "stride", layer)))
    if isinstance(layer, Conv2D) and layer.padding in ("valid", "same") and (
            layer.dilation == (1, 1)):
        kh, kw, _, filters = layer.w.shape
        return _Token("conv", (kh, kw, filters, _square(layer.stride, "stride", layer),
                               int(layer.padding == "same")))
    if isinstance(layer, BatchNorm | LayerNorm) and all(
            getattr(layer, f.name) == f.default for f in attrs.fields(type(layer))
            if f.metadata.get(STATIC)):  # a token builds the defaults: momentum, eps
        return _Token(type(layer).__name__.lower())
    raise ValueError(f"no spec token for {_shown(layer)}")


def _shown(layer: object) -> str:
    """A layer's kind and static options, without its arrays."""
    kind = type(layer)
    if not attrs.has(kind):
        return kind.__name__
    options = [f"{f.name}={getattr(layer, f.name)!r}" for f in attrs.fields(kind)
               if f.metadata.get(STATIC)]
    return f"{type(layer).__name__}({', '.join(options)})"


def spec_of(net: Sequential) -> str:
    """The spec of ``net``: ``network(spec_of(net), ...)`` has its structure; ``ValueError``
    for a layer no token describes (explicit padding, dilation, ...)."""
    return ",".join(_token_of(layer).text() for layer in net.layers)


def takes_images(net: Sequential) -> bool:
    """Whether ``net`` takes channels-last images (any first layer but a Dense)."""
    return not (net.layers and isinstance(net.layers[0], Dense))


def network_inputs(net: Sequential, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """uint8 images ``(N, rows, cols)`` as ``net`` takes them, in [0, 1]: channels-last, or
    flattened for a network whose first layer is Dense."""
    return channels_last(images) if takes_images(net) else flatten_images(images)
