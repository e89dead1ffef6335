"""Network specs: canonical spelling, spec → network → spec, the bits of mlp() and convnet(),
sizing without memory, and bad specs named by their token."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn.specs import (
    SpecError,
    blueprint,
    check_spec,
    layer_shapes,
    network,
    network_inputs,
    sample_floats,
    spec_of,
    takes_images,
)
from functional_nn.tree import array_leaves
from tests.conftest import same_bits

KERAS = "conv3x3-32,relu,maxpool2,conv3x3-64,relu,maxpool2,flatten,dropout0.5,dense10"


def _conv(kh: int, kw: int, filters: int, same: bool, stride: int) -> str:
    return f"conv{kh}x{kw}-{filters}" + ("-same" if same else f"-s{stride}" * (stride > 1))


def _pool(kind: str, window: int, stride: int) -> str:
    return f"{kind}pool{window}" + f"-s{stride}" * (stride != window)


ACTS = st.sampled_from(["relu", "tanh", "sigmoid"])
RATES = st.floats(0, 0.95).map(lambda r: f"dropout{r!r}")
IMAGE_TOKENS = st.one_of(
    st.builds(_conv, st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.booleans(),
              st.integers(1, 2)),
    st.builds(_pool, st.sampled_from(["max", "avg"]), st.integers(1, 2), st.integers(1, 2)),
    ACTS, RATES, st.sampled_from(["batchnorm", "layernorm"]))
FEATURE_TOKENS = st.one_of(st.integers(1, 5).map(lambda n: f"dense{n}"), ACTS, RATES,
                           st.sampled_from(["batchnorm", "layernorm"]))


@st.composite
def specs(draw: st.DrawFn) -> tuple[str, tuple[int, ...]]:
    """A canonical spec and a sample shape it may fit: conv layers on images, or an MLP."""
    classes = draw(st.integers(2, 4))
    features = draw(st.lists(FEATURE_TOKENS, max_size=3))
    if draw(st.booleans()):
        side, channels = draw(st.integers(4, 10)), draw(st.integers(1, 2))
        image = draw(st.lists(IMAGE_TOKENS, min_size=1, max_size=4))
        return ",".join([*image, "flatten", *features, f"dense{classes}"]), (side, side,
                                                                              channels)
    return ",".join([f"dense{draw(st.integers(1, 5))}", *features, f"dense{classes}"]), (
        draw(st.integers(1, 6)),)


@given(specs(), st.integers(0, 2**31))
def test_spec_to_network_to_spec_is_the_spec(case: tuple[str, tuple[int, ...]],
                                              seed: int) -> None:
    spec, shape = case
    assert check_spec(spec) == spec  # canonical already
    try:
        net = network(spec, shape, seed=seed)
    except SpecError:
        assume(False)  # a layer that does not fit these images: drawn, not a bug
        raise
    assert spec_of(net) == spec
    assert takes_images(net) == (len(shape) == 3)
    assert layer_shapes(net, shape)[-1] == (int(spec.rpartition("dense")[2]),)
    assert same_bits(network(spec, shape, seed=seed), net)  # the seed alone decides
    assert fnn.tree_structure(blueprint(spec, shape)) == fnn.tree_structure(net)
    x = np.zeros((2, *shape), np.float32)
    assert fnn.forward(net, x, state=fnn.init_state(net)).shape == (2, layer_shapes(
        net, shape)[-1][0])


def test_other_spellings_become_the_canonical_one() -> None:
    assert check_spec(" conv3x3-32 , relu,maxpool2-s2,dropout0.50,dropout.25, dense10 ") == (
        "conv3x3-32,relu,maxpool2,dropout0.5,dropout0.25,dense10")
    assert check_spec("conv5x5-8-s1,avgpool3-s3,dropout1e-1") == "conv5x5-8,avgpool3,dropout0.1"


@given(st.lists(st.integers(1, 20), min_size=1, max_size=3), st.integers(1, 30),
       st.integers(2, 10), st.sampled_from(["relu", "tanh", "sigmoid"]), st.integers(0, 2**31))
def test_the_spec_of_an_mlp_rebuilds_it_to_the_bit(hidden: list[int], inputs: int,
                                                   classes: int, activation: str,
                                                   seed: int) -> None:
    net = fnn.mlp([inputs, *hidden, classes], seed=seed, activation=activation)
    assert same_bits(network(spec_of(net), (inputs,), seed=seed), net)


@given(st.integers(0, 2**31), st.sampled_from(["valid", "same"]), st.booleans(),
       st.sampled_from([(), (8,)]), st.sampled_from([0.0, 0.5]))
def test_the_spec_of_a_convnet_rebuilds_it_to_the_bit(seed: int, padding: str, batch_norm: bool,
                                                      hidden: tuple[int, ...],
                                                      dropout: float) -> None:
    net = fnn.convnet((12, 12, 1), 3, seed=seed, filters=(2, 3), padding=padding,
                      batch_norm=batch_norm, hidden=hidden, dropout=dropout)
    assert same_bits(network(spec_of(net), (12, 12, 1), seed=seed), net)


def test_the_keras_convnet() -> None:
    net = network(KERAS, (28, 28, 1), seed=0)
    assert same_bits(net, fnn.convnet(seed=0))
    assert fnn.param_count(net) == 34826
    assert [s[-1] for s in layer_shapes(net, (28, 28, 1))] == [32, 32, 32, 64, 64, 64, 1600,
                                                               1600, 10]


def test_a_blueprint_sizes_a_network_without_its_memory() -> None:
    net = blueprint("flatten,dense100000000,relu,dense10", (28, 28, 1))
    assert fnn.param_count(net) == 784 * 10**8 + 10**8 + 10**9 + 10
    assert all(leaf.strides == (0,) * leaf.ndim for leaf in array_leaves(net))
    # input 784, every layer's output, and the conv's im2col row (9 + 1) per output pixel
    small = blueprint("conv3x3-4,flatten,dense10", (5, 5, 1))
    assert sample_floats(small, (5, 5, 1)) == 25 + 36 + 36 + 10 + 9 * 10


def test_network_inputs_follow_the_first_layer() -> None:
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert network_inputs(network("dense2", (3, 3, 1), seed=0), images).shape == (2, 9)
    assert network_inputs(network("conv2x2-1,flatten,dense2", (3, 3, 1), seed=0),
                          images).shape == (2, 3, 3, 1)


@pytest.mark.parametrize(("spec", "message"), [
    ("conv3x3-32,rleu,dense10", "token 2 'rleu' is not a layer; layers are conv<H>x<W>-<C>"),
    ("", "token 1 '' is empty"),
    ("dense10,,relu", "token 2 '' is empty"),
    ("conv3x3-0", "token 1 'conv3x3-0': sizes must be positive integers"),
    ("dropout1.5", "token 1 'dropout1.5': the dropout rate must be in [0, 1)"),
    ("dropout1.2.3", "token 1 'dropout1.2.3': the dropout rate must be in [0, 1)"),
    ("conv3x3-8-same-s2", "token 1 'conv3x3-8-same-s2': -same padding needs stride 1"),
    ("conv3x3-8,dense10", "token 2 'dense10': needs features but gets images 26x26x8: put "
                          "flatten before it"),
    ("flatten,conv3x3-8", "token 2 'conv3x3-8': needs images (height, width, channels) but "
                          "gets features of shape (784,)"),
    ("maxpool30", "token 1 'maxpool30': MaxPool2D's 30x30 window does not fit a 28x28 image"),
    ("conv29x29-1", "token 1 'conv29x29-1': does not fit a 28x28 image"),
])
def test_bad_specs_name_the_token_at_fault(spec: str, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        network(spec, (28, 28, 1), seed=0)
    assert "\n" not in str(caught.value)


def test_a_network_that_does_not_fit_names_its_layer() -> None:
    net = network(KERAS, (28, 28, 1), seed=0)
    with pytest.raises(SpecError, match=re.escape("layer 9 (dense10): takes 1600 features but "
                                                  "gets 2304")):
        layer_shapes(net, (32, 32, 1))
    with pytest.raises(SpecError, match=re.escape("layer 1 (conv3x3-32): takes 1-channel "
                                                  "images but gets 3 channels")):
        layer_shapes(net, (28, 28, 3))


def test_layers_no_token_describes_are_named() -> None:
    conv = fnn.layers.Conv2D(np.zeros((3, 3, 1, 2)), np.zeros(2), padding=1)
    with pytest.raises(ValueError, match=re.escape("no spec token for Conv2D(stride=(1, 1), "
                                                   "padding=((1, 1), (1, 1))")):
        spec_of(fnn.layers.Sequential((conv,)))
    with pytest.raises(ValueError, match="no spec token for BatchNorm"):
        spec_of(fnn.layers.Sequential((fnn.layers.BatchNorm(np.ones(2), np.zeros(2),
                                                            momentum=0.2),)))


def test_zero_padding_grows_the_image_and_has_no_token() -> None:
    net = fnn.Sequential((fnn.ZeroPad2D(((0, 1), (2, 3))), fnn.MaxPool2D(2), fnn.Flatten()))
    assert layer_shapes(net, (4, 5, 3)) == [(5, 10, 3), (2, 5, 3), (30,)]
    assert takes_images(net)
    with pytest.raises(ValueError, match=re.escape("no spec token for ZeroPad2D(padding=")):
        spec_of(net)
    with pytest.raises(SpecError, match=re.escape("layer 1 (ZeroPad2D): needs images")):
        layer_shapes(fnn.Sequential((fnn.ZeroPad2D(1),)), (7,))
