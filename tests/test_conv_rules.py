"""The VJP rules of the image and normalisation layers, each checked directly against central
finite differences in float64, input gradient included, over hypothesis shapes (batch 1 too),
for every option: strides, each padding form, dilation, pooling windows (tiling and
overlapping), dropout with a fixed key, and both modes of each norm."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn.rules import Context, init_state, out_like, rule_for
from functional_nn.rules.conv import conv_output_shape, conv_pads
from functional_nn.testing import check_layer

TRAINING = Context(training=True)
INFERENCE = Context()
seeds = st.integers(0, 2**31)
paddings = st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 2),
                     st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                               st.tuples(st.integers(0, 2), st.integers(0, 2))))


@st.composite
def convs(draw: st.DrawFn) -> tuple[fnn.Conv2D, np.ndarray, int]:
    """A float64 Conv2D with any padding form, stride and dilation, and an input it fits."""
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(paddings)
    stride = (1, 1) if padding == "same" else draw(
        st.one_of(st.integers(1, 2), st.tuples(st.integers(1, 3), st.integers(1, 2))))
    dilations: list[int | tuple[int, int]] = [1, 1, (2, 1), 2]
    dilation = draw(st.sampled_from(dilations))
    layer = fnn.Conv2D(rng.standard_normal((kh, kw, cin, cout)), rng.standard_normal(cout),
                       stride=stride, padding=padding, dilation=dilation)
    (top, bottom), (left, right) = conv_pads(layer)
    (dh, dw) = layer.dilation
    # at least the dilated kernel's extent, less the padding: the smallest image it fits
    h = max(draw(st.integers(1, 6)), dh * (kh - 1) + 1 - top - bottom)
    w = max(draw(st.integers(1, 6)), dw * (kw - 1) + 1 - left - right)
    assert min(conv_output_shape(layer, h, w)) >= 1
    x = rng.standard_normal((draw(st.integers(1, 3)), h, w, cin))
    return layer, x, seed


@settings(max_examples=40)
@given(case=convs())
def test_conv2d_vjp(case: tuple[fnn.Conv2D, np.ndarray, int]) -> None:
    layer, x, seed = case
    check_layer(layer, x, seed=seed)


@pytest.mark.parametrize("padding", ["valid", "same", 1, (0, 2), ((2, 0), (1, 3))])
@pytest.mark.parametrize("stride", [1, 2, (2, 1)])
def test_conv2d_vjp_every_padding_form_and_stride(padding: object, stride: object) -> None:
    rng = np.random.default_rng(0)
    if padding == "same" and stride != 1:
        with pytest.raises(ValueError, match="needs stride 1"):
            fnn.Conv2D(np.zeros((3, 2, 2, 3)), np.zeros(3), stride=stride,  # type: ignore[arg-type]
                       padding="same")
        return
    layer = fnn.Conv2D(rng.standard_normal((3, 2, 2, 3)), rng.standard_normal(3),
                       stride=stride, padding=padding)  # type: ignore[arg-type]
    check_layer(layer, rng.standard_normal((1, 5, 6, 2)), seed=1)


@pytest.mark.parametrize(("cin", "width", "stride"), [(1, 9, 1), (1, 3, 2), (8, 5, 1), (8, 9, 2)])
def test_conv2d_vjp_both_im2col_copies(cin: int, width: int, stride: int) -> None:
    # few channels and a wide output: one copy per kernel offset; else one 6-D copy
    rng = np.random.default_rng(cin)
    layer = fnn.Conv2D(rng.standard_normal((2, 3, cin, 2)), rng.standard_normal(2),
                       stride=stride, padding=1, dilation=(1, 2))
    check_layer(layer, rng.standard_normal((1, 4, width, cin)), seed=2)


def test_conv2d_vjp_first_layer_skips_the_input_gradient() -> None:
    rng = np.random.default_rng(0)
    layer = fnn.Conv2D(rng.standard_normal((3, 3, 1, 2)), rng.standard_normal(2))
    check_layer(layer, rng.standard_normal((2, 5, 5, 1)),
              ctx=Context(training=True, input_grad=False))


@st.composite
def pools(draw: st.DrawFn) -> tuple[object, np.ndarray, int]:
    seed = draw(seeds)
    kind = draw(st.sampled_from([fnn.MaxPool2D, fnn.AvgPool2D]))
    window = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 2))))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))  # None: tiles; 1: overlaps
    layer = kind(window, stride)
    kh, kw = layer.window
    shape = (draw(st.integers(1, 3)), kh + draw(st.integers(0, 4)), kw + draw(st.integers(0, 4)),
             draw(st.integers(1, 3)))
    # distinct values 0.01 apart: a max-pool window with two values closer than the
    # finite-difference step would straddle the tie and fail a correct rule
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))) - 0.5 * np.prod(shape)
    return layer, 0.01 * values.reshape(shape), seed


@settings(max_examples=40)
@given(case=pools())
def test_pooling_vjp(case: tuple[object, np.ndarray, int]) -> None:
    layer, x, seed = case
    check_layer(layer, x, seed=seed)


def test_max_pool_gives_a_tie_to_the_first_maximum_only() -> None:
    layer = fnn.MaxPool2D(2)
    x = np.zeros((1, 2, 2, 1))  # four equal maxima (ReLU's zeros)
    y, residual = rule_for(layer).forward(layer, x, TRAINING)
    gx = rule_for(layer).vjp(layer, residual, np.ones_like(y), out_like(layer), TRAINING)
    assert gx is not None
    assert gx[0, :, :, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("window", [1, 2, (3, 2)])
@pytest.mark.parametrize("stride", [None, 1, 2])
def test_pooling_drops_windows_that_do_not_fit(window: int | tuple[int, int],
                                              stride: int | None) -> None:
    x = np.arange(2 * 7 * 5 * 3, dtype=np.float64).reshape(2, 7, 5, 3)
    for kind in (fnn.MaxPool2D, fnn.AvgPool2D):
        layer = kind(window, stride)
        (kh, kw), (sh, sw) = layer.window, layer.stride
        y = fnn.forward(layer, x)
        assert y.shape == (2, (7 - kh) // sh + 1, (5 - kw) // sw + 1, 3)
        reduce = np.max if kind is fnn.MaxPool2D else np.mean
        assert y[1, -1, -1, 2] == reduce(x[1, (y.shape[1] - 1) * sh:][:kh,
                                           (y.shape[2] - 1) * sw:][:, :kw, 2])


pads = st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                 st.tuples(st.integers(0, 2), st.integers(0, 2)))


@settings(max_examples=25)
@given(padding=pads, shape=st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4),
                                     st.integers(1, 3)), seed=seeds)
def test_zero_pad_frames_the_image_with_zeros_and_its_vjp_crops(
        padding: tuple[tuple[int, int], tuple[int, int]], shape: tuple[int, ...],
        seed: int) -> None:
    (top, bottom), (left, right) = padding
    layer = fnn.ZeroPad2D(padding)
    x = np.random.default_rng(seed).standard_normal(shape)
    y = fnn.forward(layer, x)
    n, h, w, c = shape
    assert y.shape == (n, top + h + bottom, left + w + right, c)
    np.testing.assert_array_equal(y[:, top:top + h, left:left + w], x)
    assert np.count_nonzero(y) == np.count_nonzero(x)  # the frame is zeros
    check_layer(layer, x, seed=seed)


@pytest.mark.parametrize(("padding", "pads"), [(2, ((2, 2), (2, 2))), ((1, 2), ((1, 1), (2, 2))),
                                             (((0, 1), (2, 0)), ((0, 1), (2, 0)))])
def test_zero_pad_takes_every_padding_form(padding: int | tuple[int, int],
                                           pads: tuple[tuple[int, int], tuple[int, int]]) -> None:
    assert fnn.ZeroPad2D(padding).padding == pads


@pytest.mark.parametrize("bad", ["same", -1, 1.5, True, (1, 2, 3), ((1, 2), (3,))])
def test_zero_pad_names_a_bad_padding(bad: object) -> None:
    with pytest.raises(ValueError, match=r"ZeroPad2D's padding must be .* got"):
        fnn.ZeroPad2D(bad)  # type: ignore[arg-type]


@settings(max_examples=25)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=seeds)
def test_flatten_vjp(shape: list[int], seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal(shape)
    y = fnn.forward(fnn.Flatten(), x)
    assert y.shape == (shape[0], int(np.prod(shape[1:])))
    assert y.tobytes() == x.tobytes()  # C order of the channels-last layout
    check_layer(fnn.Flatten(), x, seed=seed)


@settings(max_examples=25)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=seeds,
       rate=st.sampled_from([0.0, 0.25, 0.5, 0.9]), training=st.booleans())
def test_dropout_vjp_with_a_fixed_key(shape: list[int], seed: int, rate: float,
                                      training: bool) -> None:
    x = np.random.default_rng(seed).standard_normal(shape)
    ctx = Context(training=training, key=(seed, 3))
    check_layer(fnn.Dropout(rate), x, ctx=ctx, seed=seed)
    y = fnn.forward(fnn.Dropout(rate), x, ctx=ctx)
    if not training or rate == 0:
        assert y.tobytes() == x.tobytes()
    else:  # each element is dropped or scaled by 1 / (1 - rate)
        kept = y != 0
        np.testing.assert_allclose(y[kept], x[kept] / (1 - rate))


def test_dropout_draws_from_the_key_alone() -> None:
    x, layer = np.ones((64, 32)), fnn.Dropout(0.5)
    a, b, c = (fnn.forward(layer, x, ctx=Context(True, key)) for key in [(1, 2), (1, 2), (1, 3)])
    assert a.tobytes() == b.tobytes() != c.tobytes()
    assert 0.4 < (a == 0).mean() < 0.6
    with pytest.raises(ValueError, match="no key"):
        fnn.forward(layer, x, ctx=TRAINING)


def _norm(kind: type, c: int, rng: np.random.Generator) -> object:
    return kind(rng.uniform(0.5, 1.5, c), rng.standard_normal(c))


norm_shapes = st.one_of(st.tuples(st.integers(1, 4), st.integers(1, 4)),
                        st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3),
                                  st.integers(1, 3)))


@settings(max_examples=30)
@given(shape=norm_shapes, seed=seeds, training=st.booleans())
def test_layer_norm_vjp(shape: tuple[int, ...], seed: int, training: bool) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    ctx = TRAINING if training else INFERENCE
    check_layer(_norm(fnn.LayerNorm, shape[-1], rng), x, ctx=ctx, seed=seed, tol=1e-4)


@settings(max_examples=30)
@given(shape=norm_shapes, seed=seeds, training=st.booleans())
def test_batch_norm_vjp(shape: tuple[int, ...], seed: int, training: bool) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    layer = _norm(fnn.BatchNorm, shape[-1], rng)
    if training and x.size // shape[-1] < 2:
        with pytest.raises(ValueError, match="more than one value per channel"):
            fnn.forward(layer, x, ctx=TRAINING)
        return
    state = fnn.BatchNormState(rng.standard_normal(shape[-1]), rng.uniform(0.5, 2, shape[-1]))
    ctx = Context(training=training, state=state)
    check_layer(layer, x, ctx=ctx, seed=seed, tol=1e-4)


def test_batch_norm_normalises_per_channel_in_training_and_uses_the_state_at_inference() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 3, 2)) * [1.0, 5.0] + [2.0, -3.0]
    layer = fnn.BatchNorm(np.ones(2), np.zeros(2))
    y = fnn.forward(layer, x, ctx=TRAINING)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 1, 2)), 1, rtol=1e-4)
    state = fnn.BatchNormState(np.array([2.0, -3.0]), np.array([1.0, 25.0]))
    z = fnn.forward(layer, x, state=state)
    np.testing.assert_allclose(z, (x - [2.0, -3.0]) / np.sqrt(np.array([1.0, 25.0]) + 1e-5))
    with pytest.raises(ValueError, match="running statistics"):
        fnn.forward(layer, x)
    start = init_state(layer)
    assert isinstance(start, fnn.BatchNormState)
    assert start.mean.tolist() == [0, 0]
    assert start.var.tolist() == [1, 1]
