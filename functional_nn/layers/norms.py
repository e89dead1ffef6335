"""Normalisation and regularisation layers: LayerNorm, BatchNorm (with its state) and Dropout.

Data only: the maths is in ``rules/norms.py`` and ``rules/dropout.py``.
"""

from __future__ import annotations

import math

import attrs

from .._array import Array, readonly
from ..tree import STATIC

__all__ = ["BatchNorm", "BatchNormState", "Dropout", "LayerNorm"]

_STATIC = {STATIC: True}


def _check_eps(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{type(instance).__name__}: eps must be > 0 and finite, got {value!r}")


def _check_affine(kind: str, gamma: Array, beta: Array) -> None:
    if gamma.ndim != 1 or gamma.shape != beta.shape:
        raise ValueError(f"{kind} needs gamma and beta of one shape (features,), got "
                         f"{gamma.shape} and {beta.shape}")
    if gamma.dtype != beta.dtype:
        raise ValueError(f"{kind} needs gamma and beta of one dtype, got {gamma.dtype} and "
                         f"{beta.dtype}")


def _check_layer_norm(instance: LayerNorm, attribute: attrs.Attribute[float],
                      value: float) -> None:
    _check_affine("LayerNorm", instance.gamma, instance.beta)
    _check_eps(instance, attribute, value)


@attrs.frozen
class LayerNorm:
    """Layer normalisation over the last axis (features, or an image's channels).

    ``μ = mean(x)``, ``σ² = mean((x − μ)²)`` over the last axis, per sample (and pixel);
    ``x̂ = (x − μ) / √(σ² + ε)`` and ``y = γ · x̂ + β``. The same in training and at inference.
    Gradient: ``dβ = Σ g``, ``dγ = Σ g·x̂`` (over all but the last axis) and, with
    ``h = γ·g``, ``dx = (h − mean(h) − x̂ · mean(h·x̂)) / √(σ² + ε)`` (means over the last
    axis). Ba, Kiros and Hinton, *Layer Normalization* (2016); PyTorch's
    ``LayerNorm(features, eps)`` (biased variance, as here).
    """

    gamma: Array = attrs.field(converter=readonly)
    beta: Array = attrs.field(converter=readonly)
    eps: float = attrs.field(default=1e-5, metadata=_STATIC, validator=_check_layer_norm)


def _check_batch_norm(instance: BatchNorm, attribute: attrs.Attribute[float],
                      value: float) -> None:
    _check_affine("BatchNorm", instance.gamma, instance.beta)
    m = instance.momentum
    if isinstance(m, bool) or not isinstance(m, int | float) or not 0 <= m <= 1:
        raise ValueError(f"BatchNorm: momentum must be in [0, 1], got {m!r}")
    _check_eps(instance, attribute, value)


@attrs.frozen
class BatchNorm:
    """Batch normalisation of the last axis (features, or channels), over every other axis
    (the batch, and the pixels of an image: PyTorch's ``BatchNorm1d`` and ``BatchNorm2d``).

    Training: ``μ``, ``σ²`` are the batch's mean and (biased) variance per channel, over the
    ``m`` values of that channel; ``x̂ = (x − μ) / √(σ² + ε)``, ``y = γ · x̂ + β``; the
    running statistics (a :class:`BatchNormState`, threaded through training as model state,
    not a parameter) become ``mean ← (1 − momentum)·mean + momentum·μ`` and
    ``var ← (1 − momentum)·var + momentum·σ²·m/(m − 1)`` (unbiased, as PyTorch keeps it).
    Gradient: ``dβ = Σ g``, ``dγ = Σ g·x̂`` and
    ``dx = γ/√(σ² + ε) · (g − mean(g) − x̂·mean(g·x̂))``.
    Inference: ``y = γ · (x − mean)/√(var + ε) + β`` with the running statistics (pass the
    state: ``forward(params, x, state=...)``); ``dx = γ/√(var + ε) · g``.
    Ioffe and Szegedy, *Batch Normalization* (2015); PyTorch's ``BatchNorm2d(channels, eps,
    momentum)``, whose conventions (momentum 0.1, unbiased running variance) these are.
    """

    gamma: Array = attrs.field(converter=readonly)
    beta: Array = attrs.field(converter=readonly)
    momentum: float = attrs.field(default=0.1, metadata=_STATIC)
    eps: float = attrs.field(default=1e-5, metadata=_STATIC, validator=_check_batch_norm)


def _check_state(instance: BatchNormState, attribute: attrs.Attribute[Array],
                 value: Array) -> None:
    if instance.mean.ndim != 1 or instance.mean.shape != value.shape:
        raise ValueError(f"BatchNormState needs mean and var of one shape (features,), got "
                         f"{instance.mean.shape} and {value.shape}")


@attrs.frozen
class BatchNormState:
    """A :class:`BatchNorm`'s running statistics: ``mean`` and unbiased ``var`` per channel.

    Model state, not a parameter: made by :func:`functional_nn.init_state` (zeros and ones,
    as PyTorch starts), updated by every training step, read at inference.
    """

    mean: Array = attrs.field(converter=readonly)
    var: Array = attrs.field(converter=readonly, validator=_check_state)


def _check_rate(instance: Dropout, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"Dropout: rate must be in [0, 1), got {value!r}")


@attrs.frozen
class Dropout:
    """Inverted dropout: in training, each element is zeroed with probability ``rate`` and the
    rest scaled by ``1/(1 − rate)`` (so the expected output is the input); at inference, the
    identity. The mask comes from the context's explicit key alone (``ctx.rng()``): a training
    step's key is ``(seed, step)`` plus the layer's index, so a run and its resume draw the
    same masks. Srivastava et al., *Dropout* (2014); PyTorch's ``Dropout(p=rate)``.
    """

    rate: float = attrs.field(default=0.5, metadata=_STATIC, validator=_check_rate)
