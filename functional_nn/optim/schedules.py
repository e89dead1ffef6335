"""Learning-rate schedules: pure functions from the step count to a learning rate.

A schedule is any ``Callable[[int], float]``; step ``t`` is the number of updates done before
the current one, so the first update uses ``schedule(0)``. Every optimizer accepts a schedule
wherever it accepts a learning rate.
"""

from __future__ import annotations

import bisect
import itertools
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias

from .._validators import check, non_negative, positive

__all__ = [
    "Schedule",
    "constant_schedule",
    "cosine_decay",
    "exponential_decay",
    "join_schedules",
    "linear_schedule",
    "linear_warmup",
    "piecewise_constant",
    "step_decay",
    "warmup_cosine_decay",
]

Schedule: TypeAlias = Callable[[int], float]
"""A learning rate as a function of the number of earlier updates."""


def _steps(name: str, value: object, minimum: int = 0) -> int:
    """A non-negative (or at least ``minimum``) integer number of steps."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def _step(step: int) -> int:
    if step < 0:
        raise ValueError(f"a schedule's step must be >= 0, got {step!r}")
    return step


def _finite(name: str, value: object) -> float:
    return check(name, value, math.isfinite, "finite")


def constant_schedule(value: float) -> Schedule:
    """The same value at every step: ``η_t = value``.

    >>> constant_schedule(0.1)(1000)
    0.1
    """
    v = _finite("value", value)

    def schedule(step: int) -> float:
        _step(step)
        return v

    return schedule


def exponential_decay(init_value: float, decay_rate: float, transition_steps: int,
                      staircase: bool = False) -> Schedule:
    """``η_t = init_value · decay_rate^(t / transition_steps)``; with ``staircase`` the exponent
    is ``⌊t / transition_steps⌋``.

    Same as ``optax.exponential_decay`` (with no ``transition_begin`` or ``end_value``).

    >>> s = exponential_decay(1.0, 0.5, 2)
    >>> [round(s(t), 4) for t in range(5)]
    [1.0, 0.7071, 0.5, 0.3536, 0.25]
    >>> [exponential_decay(1.0, 0.5, 2, staircase=True)(t) for t in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """
    init = _finite("init_value", init_value)
    rate = positive("decay_rate", decay_rate)
    period = _steps("transition_steps", transition_steps, 1)

    def schedule(step: int) -> float:
        t = _step(step)
        exponent = t // period if staircase else t / period
        return init * rate**exponent

    return schedule


def step_decay(init_value: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``η_t = init_value · gamma^⌊t / step_size⌋``: multiply by ``gamma`` every ``step_size``.

    Same as ``torch.optim.lr_scheduler.StepLR`` stepped once per update.

    >>> [step_decay(1.0, 2, 0.5)(t) for t in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """
    init = _finite("init_value", init_value)
    size = _steps("step_size", step_size, 1)
    g = non_negative("gamma", gamma)

    def schedule(step: int) -> float:
        return init * g ** (_step(step) // size)

    return schedule


def piecewise_constant(init_value: float,
                       boundaries_and_scales: Mapping[int, float]) -> Schedule:
    """``η_t = init_value · ∏ {scale : boundary ≤ t}``: multiply by each scale from its boundary.

    Same as ``optax.piecewise_constant_schedule`` and PyTorch's ``MultiStepLR`` (with a single
    ``gamma`` for every scale).

    >>> s = piecewise_constant(1.0, {2: 0.5, 4: 0.1})
    >>> [s(t) for t in range(6)]
    [1.0, 1.0, 0.5, 0.5, 0.05, 0.05]
    """
    init = _finite("init_value", init_value)
    bounds = sorted(_steps("boundary", b) for b in boundaries_and_scales)
    values = [init]
    for b in bounds:
        values.append(values[-1] * non_negative(f"scale at {b}", boundaries_and_scales[b]))

    def schedule(step: int) -> float:
        return values[bisect.bisect_right(bounds, _step(step))]

    return schedule


def linear_schedule(init_value: float, end_value: float, transition_steps: int) -> Schedule:
    """From ``init_value`` to ``end_value`` linearly over ``transition_steps``, then constant:
    ``η_t = init + (end − init) · min(t, T) / T``.

    >>> [linear_schedule(0.0, 1.0, 4)(t) for t in range(6)]
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    init = _finite("init_value", init_value)
    end = _finite("end_value", end_value)
    steps = _steps("transition_steps", transition_steps)

    def schedule(step: int) -> float:
        t = _step(step)
        if t >= steps:
            return end
        return init + (end - init) * (t / steps)

    return schedule


def linear_warmup(peak_value: float, warmup_steps: int, init_value: float = 0.0) -> Schedule:
    """A linear ramp from ``init_value`` to ``peak_value`` over ``warmup_steps``, then constant.

    Same as ``linear_schedule(init_value, peak_value, warmup_steps)``.

    >>> [linear_warmup(1.0, 2)(t) for t in range(4)]
    [0.0, 0.5, 1.0, 1.0]
    """
    return linear_schedule(init_value, peak_value, warmup_steps)


def _cosine(init: float, end: float, steps: int) -> Schedule:
    def schedule(step: int) -> float:
        t = min(_step(step), steps)
        c = 0.5 * (1.0 + math.cos(math.pi * t / steps))
        return c * init + (1.0 - c) * end  # exactly init at t = 0 and end from t = steps on

    return schedule


def cosine_decay(init_value: float, decay_steps: int, alpha: float = 0.0) -> Schedule:
    """Half a cosine from ``init_value`` down to ``alpha · init_value`` over ``decay_steps``:
    ``η_t = init · ((1 − α) · ½(1 + cos(π · min(t, T) / T)) + α)``.

    Loshchilov & Hutter, *SGDR: Stochastic Gradient Descent with Warm Restarts* (2017), without
    restarts; same as ``optax.cosine_decay_schedule`` and PyTorch's ``CosineAnnealingLR``
    with ``eta_min = alpha · init_value`` (until ``T``).

    >>> s = cosine_decay(1.0, 4, alpha=0.1)
    >>> [round(s(t), 4) for t in range(6)]
    [1.0, 0.8682, 0.55, 0.2318, 0.1, 0.1]
    """
    init = _finite("init_value", init_value)
    steps = _steps("decay_steps", decay_steps, 1)
    a = check("alpha", alpha, lambda x: 0.0 <= x <= 1.0, "in [0, 1]")
    return _cosine(init, a * init, steps)


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """``schedules[i]`` from ``boundaries[i-1]`` on, evaluated at the steps since that boundary.

    ``η_t = schedules[i](t − boundaries[i−1])`` where ``i`` is the number of boundaries ≤ t.
    Same as ``optax.join_schedules``.

    >>> s = join_schedules([constant_schedule(1.0), linear_schedule(1.0, 0.0, 2)], [3])
    >>> [s(t) for t in range(6)]
    [1.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    """
    parts = list(schedules)
    bounds = [_steps("boundary", b) for b in boundaries]
    if len(parts) != len(bounds) + 1:
        raise ValueError(f"join_schedules needs one boundary fewer than schedules, got "
                         f"{len(parts)} schedules and {len(bounds)} boundaries")
    if any(b1 > b2 for b1, b2 in itertools.pairwise(bounds)):
        raise ValueError(f"boundaries must be non-decreasing, got {bounds}")
    for i, s in enumerate(parts):
        if not callable(s):
            raise TypeError(f"schedule {i} is {type(s).__name__}, not callable")
    offsets = [0, *bounds]

    def schedule(step: int) -> float:
        i = bisect.bisect_right(bounds, _step(step))
        return parts[i](step - offsets[i])

    return schedule


def warmup_cosine_decay(init_value: float, peak_value: float, warmup_steps: int,
                        decay_steps: int, end_value: float = 0.0) -> Schedule:
    """A linear warmup from ``init_value`` to ``peak_value`` over ``warmup_steps``, then a
    cosine decay to ``end_value``, reached at step ``decay_steps`` (which counts the warmup).

    Same as ``optax.warmup_cosine_decay_schedule`` (with ``exponent=1``).

    >>> s = warmup_cosine_decay(0.0, 1.0, warmup_steps=2, decay_steps=4, end_value=0.1)
    >>> [round(s(t), 4) for t in range(6)]
    [0.0, 0.5, 1.0, 0.55, 0.1, 0.1]
    """
    warmup = _steps("warmup_steps", warmup_steps)
    total = _steps("decay_steps", decay_steps)
    if total <= warmup:
        raise ValueError(f"decay_steps must be > warmup_steps ({warmup}), got {total}")
    peak = _finite("peak_value", peak_value)
    end = _finite("end_value", end_value)
    return join_schedules(
        [linear_schedule(init_value, peak, warmup), _cosine(peak, end, total - warmup)],
        [warmup])


def validated(schedule: Schedule, step: int) -> float:
    """``schedule(step)`` checked to be a finite learning rate ≥ 0."""
    lr: object = schedule(step)
    if not ((type(lr) is float or isinstance(lr, numbers.Real)) and 0.0 <= float(lr) < math.inf):
        raise ValueError(f"the learning-rate schedule gave {lr!r} at step {step}; "
                         "a learning rate must be >= 0 and finite")
    return float(lr)
