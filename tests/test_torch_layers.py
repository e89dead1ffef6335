"""Conv2D, pooling (padded too), LayerNorm and BatchNorm against real PyTorch in float64:
outputs, input and parameter gradients for a random cotangent, and BatchNorm's running
statistics. Skipped when torch is not installed (it is never a dependency)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn.rules import Context, next_state, out_like, rule_for
from functional_nn.rules.conv import conv_output_shape, conv_pads

torch: Any = pytest.importorskip("torch", reason="torch is not installed (optional check)")
F: Any = torch.nn.functional


TRAINING = Context(training=True)


def ours(layer: object, x: np.ndarray, v: np.ndarray,
         ctx: Context = TRAINING) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Output, input gradient and parameter gradients (leaf order) of one of our layers."""
    rule = rule_for(layer)
    y, residual = rule.forward(layer, x, ctx)
    out = out_like(layer)
    gx = rule.vjp(layer, residual, v.copy(), out, ctx)
    assert gx is not None
    return y, gx, fnn.tree_leaves(out)


def nchw(a: np.ndarray) -> Any:
    return torch.tensor(a.transpose(0, 3, 1, 2).copy(), requires_grad=True)


def nhwc(t: Any) -> np.ndarray:
    return np.asarray(t.detach().numpy().transpose(0, 2, 3, 1))


paddings = st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 2),
                     st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                               st.tuples(st.integers(0, 2), st.integers(0, 2))))


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@settings(max_examples=30)
@given(seed=st.integers(0, 2**31), k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       channels=st.tuples(st.integers(1, 3), st.integers(1, 4)), padding=paddings,
       stride=st.tuples(st.integers(1, 3), st.integers(1, 2)),
       dilation=st.sampled_from([(1, 1), (2, 1), (2, 2)]), batch=st.integers(1, 3))
def test_conv2d_matches_torch(seed: int, k: tuple[int, int], channels: tuple[int, int],
                              padding: object, stride: tuple[int, int],
                              dilation: tuple[int, int], batch: int) -> None:
    rng = np.random.default_rng(seed)
    if padding == "same":
        stride = (1, 1)
    layer = fnn.Conv2D(rng.standard_normal((*k, *channels)), rng.standard_normal(channels[1]),
                       stride=stride, padding=padding, dilation=dilation)  # type: ignore[arg-type]
    (top, bottom), (left, right) = conv_pads(layer)
    h = max(5, dilation[0] * (k[0] - 1) + 1 - top - bottom)
    w = max(4, dilation[1] * (k[1] - 1) + 1 - left - right)
    x = rng.standard_normal((batch, h, w, channels[0]))
    v = rng.standard_normal((batch, *conv_output_shape(layer, h, w), channels[1]))
    y, gx, (gw, gb) = ours(layer, x, v)

    tx = nchw(x)
    tw = torch.tensor(layer.w.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    tb = torch.tensor(layer.b.copy(), requires_grad=True)
    if padding == "same":  # torch's own "same", to check our convention for odd totals
        ty = F.conv2d(tx, tw, tb, stride=stride, padding="same", dilation=dilation)
    else:
        ty = F.conv2d(F.pad(tx, (left, right, top, bottom)), tw, tb, stride=stride,
                      dilation=dilation)
    ty.backward(nchw(v))
    np.testing.assert_allclose(y, nhwc(ty), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gx, nhwc(tx.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gw, tw.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31), window=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
       size=st.tuples(st.integers(0, 4), st.integers(0, 4)), ties=st.booleans(),
       kind=st.sampled_from(["max", "avg"]))
def test_pooling_matches_torch(seed: int, window: tuple[int, int],
                               stride: tuple[int, int] | None, size: tuple[int, int],
                               ties: bool, kind: str) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, window[0] + size[0], window[1] + size[1], 3))
    if ties:  # ReLU outputs: many equal maxima, where the first one must get the gradient
        x = np.maximum(x, 0)
    layer = (fnn.MaxPool2D if kind == "max" else fnn.AvgPool2D)(window, stride)
    y0 = fnn.forward(layer, x)
    v = rng.standard_normal(y0.shape)
    y, gx, _ = ours(layer, x, v)
    tx = nchw(x)
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    ty = pool(tx, window, layer.stride)
    ty.backward(nchw(v))
    np.testing.assert_allclose(y, nhwc(ty), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, nhwc(tx.grad), rtol=1e-12, atol=1e-12)


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31), window=st.integers(2, 3), stride=st.integers(1, 2),
       padding=st.integers(0, 1), size=st.tuples(st.integers(0, 3), st.integers(0, 3)),
       kind=st.sampled_from(["max", "avg"]))
def test_zero_padding_then_pooling_matches_torchs_padded_pooling(
        seed: int, window: int, stride: int, padding: int, size: tuple[int, int],
        kind: str) -> None:
    # torch pads max pooling with -inf and counts average pooling's zeros: a ZeroPad2D before
    # the pool is the same on non-negative inputs (after a ReLU) and for every average
    rng = np.random.default_rng(seed)
    x = np.abs(rng.standard_normal((2, window + size[0], window + size[1], 3)))
    pool = fnn.MaxPool2D(window, stride) if kind == "max" else fnn.AvgPool2D(window, stride)
    net = fnn.Sequential((fnn.ZeroPad2D(padding), pool))
    v = rng.standard_normal(fnn.forward(net, x).shape)
    y, gx, _ = ours(net, x, v)
    tx = nchw(x)
    torch_pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    ty = torch_pool(tx, window, stride, padding)
    ty.backward(nchw(v))
    np.testing.assert_allclose(y, nhwc(ty), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, nhwc(tx.grad), rtol=1e-12, atol=1e-12)


@settings(max_examples=20)
@given(seed=st.integers(0, 2**31),
       shape=st.sampled_from([(1, 3), (4, 5), (2, 3, 3, 4), (1, 2, 2, 1)]))
def test_layer_norm_matches_torch(seed: int, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    c = shape[-1]
    layer = fnn.LayerNorm(rng.uniform(0.5, 1.5, c), rng.standard_normal(c), eps=1e-3)
    x, v = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(shape)
    y, gx, (g_gamma, g_beta) = ours(layer, x, v)
    tx = torch.tensor(x, requires_grad=True)
    tg = torch.tensor(layer.gamma.copy(), requires_grad=True)
    tb = torch.tensor(layer.beta.copy(), requires_grad=True)
    ty = F.layer_norm(tx, (c,), tg, tb, 1e-3)
    ty.backward(torch.tensor(v))
    for a, b in [(y, ty), (gx, tx.grad), (g_gamma, tg.grad), (g_beta, tb.grad)]:
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-9, atol=1e-11)


@settings(max_examples=20)
@given(seed=st.integers(0, 2**31), training=st.booleans(),
       shape=st.sampled_from([(2, 3), (5, 4), (2, 3, 3, 4), (1, 2, 3, 2)]))
def test_batch_norm_matches_torch(seed: int, training: bool, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    c = shape[-1]
    layer = fnn.BatchNorm(rng.uniform(0.5, 1.5, c), rng.standard_normal(c), momentum=0.3,
                          eps=1e-3)
    state = fnn.BatchNormState(rng.standard_normal(c), rng.uniform(0.5, 2.0, c))
    x, v = rng.standard_normal(shape) * 2 - 1, rng.standard_normal(shape)
    ctx = Context(training=training, state=state)
    y, gx, (g_gamma, g_beta) = ours(layer, x, v, ctx)
    new = next_state(layer, rule_for(layer).forward(layer, x, ctx)[1], ctx)

    def channels_first(a: np.ndarray) -> Any:
        return torch.tensor(np.moveaxis(a, -1, 1).copy(), requires_grad=True)

    tx = channels_first(x)
    tg = torch.tensor(layer.gamma.copy(), requires_grad=True)
    tb = torch.tensor(layer.beta.copy(), requires_grad=True)
    mean, var = torch.tensor(state.mean.copy()), torch.tensor(state.var.copy())
    ty = F.batch_norm(tx, mean, var, tg, tb, training=training, momentum=0.3, eps=1e-3)
    ty.backward(channels_first(v))
    back = [np.moveaxis(t.detach().numpy(), 1, -1) for t in (ty, tx.grad)]
    for a, b in [(y, back[0]), (gx, back[1]), (g_gamma, tg.grad.numpy()),
                 (g_beta, tb.grad.numpy()), (new.mean, mean.numpy()), (new.var, var.numpy())]:
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
