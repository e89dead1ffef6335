"""The usual optimizers, each a :func:`~.base.chain` of the transforms in :mod:`.transforms`.

Each one follows the PyTorch optimizer of the same name with the same settings step for step:
the same parameters after every step, up to floating-point round-off. ``learning_rate`` is a
float or a schedule (see :mod:`.schedules`).
"""

from __future__ import annotations

from typing import TypeAlias

from .._validators import unit_interval
from .base import EmptyState, Mask, Optimizer, chain
from .masking import add_decayed_weights
from .transforms import (
    LearningRate,
    ScaleByAdamState,
    ScaleByLearningRateState,
    ScaleByRmsState,
    TraceState,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    trace,
)

__all__ = [
    "AdamState",
    "AdamWState",
    "MomentumState",
    "RmspropState",
    "SgdState",
    "adam",
    "adamw",
    "momentum",
    "rmsprop",
    "sgd",
]

SgdState: TypeAlias = tuple[ScaleByLearningRateState]


def sgd(learning_rate: LearningRate) -> Optimizer[SgdState]:
    """Stochastic gradient descent: ``p ← p − η·g``.

    Robbins & Monro, *A Stochastic Approximation Method* (1951); ``torch.optim.SGD`` with
    ``momentum=0``. Same as ``chain(scale_by_learning_rate(learning_rate))``.
    """
    return chain(scale_by_learning_rate(learning_rate))


MomentumState: TypeAlias = tuple[TraceState, ScaleByLearningRateState]


def momentum(learning_rate: LearningRate, beta: float = 0.9,
             nesterov: bool = False) -> Optimizer[MomentumState]:
    """SGD with momentum, PyTorch's way: ``v ← β·v + g``, then ``p ← p − η·v``, or with
    Nesterov ``p ← p − η·(g + β·v)``.

    Polyak, *Some methods of speeding up the convergence of iteration methods* (1964);
    Sutskever et al. (2013) for Nesterov's form. ``torch.optim.SGD(momentum=beta,
    nesterov=nesterov)`` with ``dampening=0``. Same as
    ``chain(trace(beta, nesterov), scale_by_learning_rate(learning_rate))``.
    """
    unit_interval("beta", beta)  # trace would name it decay
    return chain(trace(beta, nesterov), scale_by_learning_rate(learning_rate))


AdamState: TypeAlias = tuple[ScaleByAdamState, ScaleByLearningRateState]


def adam(learning_rate: LearningRate, b1: float = 0.9, b2: float = 0.999,
         eps: float = 1e-8) -> Optimizer[AdamState]:
    """Adam: ``m ← b1·m + (1−b1)·g``, ``v ← b2·v + (1−b2)·g²``,
    ``p ← p − η·m̂ / (√v̂ + eps)`` with ``m̂ = m/(1−b1^t)``, ``v̂ = v/(1−b2^t)``.

    Kingma & Ba, *Adam: A Method for Stochastic Optimization* (ICLR 2015); ``torch.optim.Adam``
    (eps outside the square root). Same as
    ``chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))``.
    """
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))


AdamWState: TypeAlias = tuple[ScaleByAdamState, EmptyState, ScaleByLearningRateState]


def adamw(learning_rate: LearningRate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.01, mask: Mask | None = None) -> Optimizer[AdamWState]:
    """Adam with decoupled weight decay: ``p ← p − η·(m̂ / (√v̂ + eps) + λ·p)``, which is
    PyTorch's ``p ← p − η·λ·p`` followed by the Adam step (``η`` the scheduled rate).

    Loshchilov & Hutter, *Decoupled Weight Decay Regularization* (ICLR 2019);
    ``torch.optim.AdamW``. ``mask`` (see :func:`~.transforms.add_decayed_weights`) picks the
    leaves to decay, e.g. ``lambda path, leaf: not path.endswith(".b")`` spares the biases.
    Same as ``chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))``.
    """
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))


RmspropState: TypeAlias = tuple[ScaleByRmsState, ScaleByLearningRateState]


def rmsprop(learning_rate: LearningRate, alpha: float = 0.99,
            eps: float = 1e-8) -> Optimizer[RmspropState]:
    """RMSprop: ``v ← α·v + (1−α)·g²``, ``p ← p − η·g / (√v + eps)``.

    Tieleman & Hinton, *Lecture 6.5 — RMSprop* (COURSERA, 2012); ``torch.optim.RMSprop``
    with its defaults ``momentum=0, centered=False``. Same as
    ``chain(scale_by_rms(alpha, eps), scale_by_learning_rate(learning_rate))``.
    """
    return chain(scale_by_rms(alpha, eps), scale_by_learning_rate(learning_rate))
