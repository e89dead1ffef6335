"""Optimizers as optax-style gradient transformations, for any parameter tree.

An :class:`Optimizer` is a pair of pure functions ``init(params) -> state`` and
``update(grads, state, params) -> (updates, state)``; :func:`apply_updates` adds the updates
to the parameters and :func:`update` does both::

    opt = adamw(1e-3, weight_decay=0.01, mask=lambda path, leaf: not path.endswith(".b"))
    state = opt.init(params)
    params, state = update(opt, params, grads, state)

The optimizers (:func:`sgd`, :func:`momentum`, :func:`adam`, :func:`adamw`, :func:`rmsprop`)
match the PyTorch optimizers of the same names and are chains of small transforms, which can
be combined freely with :func:`chain`, :func:`masked`, :func:`clip_by_global_norm` and
:func:`accumulate`. A learning rate is a float or a schedule (a function of the step).
"""

from .accumulate import AccumulateState as AccumulateState
from .accumulate import accumulate as accumulate
from .alias import AdamState as AdamState
from .alias import AdamWState as AdamWState
from .alias import MomentumState as MomentumState
from .alias import RmspropState as RmspropState
from .alias import SgdState as SgdState
from .alias import adam as adam
from .alias import adamw as adamw
from .alias import momentum as momentum
from .alias import rmsprop as rmsprop
from .alias import sgd as sgd
from .base import EmptyState as EmptyState
from .base import InitFn as InitFn
from .base import Mask as Mask
from .base import MaskFn as MaskFn
from .base import Optimizer as Optimizer
from .base import UpdateFn as UpdateFn
from .base import apply_updates as apply_updates
from .base import chain as chain
from .base import identity as identity
from .base import update as update
from .clipping import clip_by_global_norm as clip_by_global_norm
from .clipping import global_norm as global_norm
from .masking import MaskedState as MaskedState
from .masking import add_decayed_weights as add_decayed_weights
from .masking import masked as masked
from .schedules import Schedule as Schedule
from .schedules import constant_schedule as constant_schedule
from .schedules import cosine_decay as cosine_decay
from .schedules import exponential_decay as exponential_decay
from .schedules import join_schedules as join_schedules
from .schedules import linear_schedule as linear_schedule
from .schedules import linear_warmup as linear_warmup
from .schedules import piecewise_constant as piecewise_constant
from .schedules import step_decay as step_decay
from .schedules import warmup_cosine_decay as warmup_cosine_decay
from .transforms import LearningRate as LearningRate
from .transforms import ScaleByAdamState as ScaleByAdamState
from .transforms import ScaleByLearningRateState as ScaleByLearningRateState
from .transforms import ScaleByRmsState as ScaleByRmsState
from .transforms import TraceState as TraceState
from .transforms import current_learning_rate as current_learning_rate
from .transforms import scale as scale
from .transforms import scale_by_adam as scale_by_adam
from .transforms import scale_by_learning_rate as scale_by_learning_rate
from .transforms import scale_by_rms as scale_by_rms
from .transforms import trace as trace

__all__ = [
    "AccumulateState",
    "AdamState",
    "AdamWState",
    "EmptyState",
    "InitFn",
    "LearningRate",
    "Mask",
    "MaskFn",
    "MaskedState",
    "MomentumState",
    "Optimizer",
    "RmspropState",
    "ScaleByAdamState",
    "ScaleByLearningRateState",
    "ScaleByRmsState",
    "Schedule",
    "SgdState",
    "TraceState",
    "UpdateFn",
    "accumulate",
    "adam",
    "adamw",
    "apply_updates",
    "chain",
    "clip_by_global_norm",
    "constant_schedule",
    "cosine_decay",
    "current_learning_rate",
    "exponential_decay",
    "global_norm",
    "identity",
    "join_schedules",
    "linear_schedule",
    "linear_warmup",
    "masked",
    "momentum",
    "piecewise_constant",
    "rmsprop",
    "scale",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_rms",
    "sgd",
    "step_decay",
    "trace",
    "update",
    "warmup_cosine_decay",
]
