"""Tests of the learning-rate schedules: boundary values, monotonicity, joins and validation."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functional_nn.optim import (
    Schedule,
    constant_schedule,
    cosine_decay,
    current_learning_rate,
    exponential_decay,
    join_schedules,
    linear_schedule,
    linear_warmup,
    piecewise_constant,
    sgd,
    step_decay,
    update,
    warmup_cosine_decay,
)

FAST = settings(max_examples=50, deadline=None)
values = st.floats(1e-6, 10.0)
steps = st.integers(1, 200)
factors = st.floats(0.01, 1.0) | st.just(0.0)  # no subnormal products


def is_non_increasing(schedule: Schedule, n: int) -> bool:
    xs = [schedule(t) for t in range(n)]
    return all(b <= a * (1 + 1e-15) for a, b in itertools.pairwise(xs))


@FAST
@given(init=values, rate=st.floats(0.01, 0.99), period=steps, staircase=st.booleans())
def test_exponential_decay(init: float, rate: float, period: int, staircase: bool) -> None:
    s = exponential_decay(init, rate, period, staircase=staircase)
    assert s(0) == init
    assert math.isclose(s(period), init * rate, rel_tol=1e-12)
    assert math.isclose(s(3 * period), init * rate**3, rel_tol=1e-12)
    assert is_non_increasing(s, 3 * period + 2)
    if staircase:
        assert s(period - 1) == init


@FAST
@given(init=values, size=steps, gamma=factors)
def test_step_decay(init: float, size: int, gamma: float) -> None:
    s = step_decay(init, size, gamma)
    assert s(0) == s(size - 1) == init
    assert math.isclose(s(size), init * gamma, rel_tol=1e-12)
    assert math.isclose(s(3 * size - 1), init * gamma**2, rel_tol=1e-12)
    assert is_non_increasing(s, 3 * size)


@FAST
@given(init=values, bounds=st.lists(st.integers(0, 50), min_size=1, max_size=4, unique=True),
       scale=factors)
def test_piecewise_constant(init: float, bounds: list[int], scale: float) -> None:
    s = piecewise_constant(init, dict.fromkeys(bounds, scale))
    for b in bounds:
        n_before = sum(c < b for c in bounds)
        assert math.isclose(s(b), init * scale ** (n_before + 1), rel_tol=1e-12)
        if b > 0:
            assert math.isclose(s(b - 1), init * scale**n_before, rel_tol=1e-12)
    assert is_non_increasing(s, max(bounds) + 2)


@FAST
@given(init=values, n=steps, alpha=st.floats(0.0, 1.0))
def test_cosine_decay(init: float, n: int, alpha: float) -> None:
    s = cosine_decay(init, n, alpha)
    assert s(0) == init
    assert math.isclose(s(n), alpha * init, rel_tol=1e-12, abs_tol=1e-15 * init)
    assert s(n + 10) == s(n)
    if n % 2 == 0:
        assert math.isclose(s(n // 2), init * (1 + alpha) / 2, rel_tol=1e-12)
    assert is_non_increasing(s, n + 3)


@FAST
@given(a=values, b=values, n=st.integers(0, 100))
def test_linear_schedule_and_warmup(a: float, b: float, n: int) -> None:
    s = linear_schedule(a, b, n)
    assert s(n) == s(n + 7) == b
    if n > 0:
        assert s(0) == a
        if n % 2 == 0:
            assert math.isclose(s(n // 2), (a + b) / 2, rel_tol=1e-12)
    w = linear_warmup(b, n)
    assert w(n) == b
    assert all(x <= y * (1 + 1e-15) for x, y in itertools.pairwise(w(t) for t in range(n + 2)))


@FAST
@given(peak=values, warmup=st.integers(0, 50), decay=st.integers(1, 100),
       end_fraction=st.floats(0.0, 1.0))
def test_warmup_cosine_decay(peak: float, warmup: int, decay: int, end_fraction: float) -> None:
    end = end_fraction * peak
    total = warmup + decay
    s = warmup_cosine_decay(0.0, peak, warmup, total, end)
    assert s(warmup) == peak
    if warmup > 0:
        assert s(0) == 0.0
        assert s(warmup - 1) <= peak
    assert math.isclose(s(total), end, rel_tol=1e-12, abs_tol=1e-15 * peak)
    assert s(total + 5) == s(total)
    assert is_non_increasing(lambda t: s(t + warmup), decay + 2)
    # continuity at the join: the step across the boundary is no bigger than the neighbours'
    if warmup > 1 and decay > 1:
        jump = abs(s(warmup) - s(warmup - 1))
        assert jump <= abs(s(warmup - 1) - s(warmup - 2)) * (1 + 1e-9)


@FAST
@given(v0=values, v1=values, v2=values, b1=st.integers(1, 30), gap=st.integers(1, 30))
def test_join_schedules_is_continuous_when_the_pieces_meet(v0: float, v1: float, v2: float,
                                                           b1: int, gap: int) -> None:
    b2 = b1 + gap
    pieces = [linear_schedule(v0, v1, b1), linear_schedule(v1, v2, gap), constant_schedule(v2)]
    s = join_schedules(pieces, [b1, b2])
    assert s(0) == v0
    assert s(b1) == v1  # the second piece starts at its own step 0
    assert s(b2) == v2
    ts = np.arange(b2 + 3)
    xs = np.array([s(int(t)) for t in ts])
    slopes = np.abs(np.diff(xs))
    assert slopes.max() <= max(abs(v1 - v0) / b1, abs(v2 - v1) / gap) * (1 + 1e-9)


def test_join_offsets_the_step() -> None:
    seen: list[int] = []

    def record(step: int) -> float:
        seen.append(step)
        return 1.0

    s = join_schedules([constant_schedule(0.5), record, record], [3, 5])
    for t in range(7):
        s(t)
    assert seen == [0, 1, 0, 1]


def test_a_schedule_drives_sgd() -> None:
    s = step_decay(1.0, 2, 0.5)
    opt = sgd(s)
    params = {"w": np.zeros(1)}
    state = opt.init(params)
    rates = []
    for _ in range(5):
        params, state = update(opt, params, {"w": np.ones(1)}, state)
        rates.append(current_learning_rate(state))
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.25]
    np.testing.assert_allclose(params["w"], -3.25)


@pytest.mark.parametrize(("build", "error", "message"), [
    (lambda: constant_schedule(float("nan")), ValueError, "value must be finite"),
    (lambda: exponential_decay(1.0, 0.0, 10), ValueError, "decay_rate must be positive"),
    (lambda: exponential_decay(1.0, 0.5, 0), ValueError, "transition_steps must be >= 1, got 0"),
    (lambda: exponential_decay(1.0, 0.5, 2.5),  # type: ignore[arg-type]
     TypeError, "transition_steps must be an integer"),
    (lambda: step_decay(1.0, 0), ValueError, "step_size must be >= 1"),
    (lambda: step_decay(1.0, 2, -0.5), ValueError, "gamma must be >= 0"),
    (lambda: piecewise_constant(1.0, {-1: 0.5}), ValueError, "boundary must be >= 0, got -1"),
    (lambda: cosine_decay(1.0, 0), ValueError, "decay_steps must be >= 1"),
    (lambda: cosine_decay(1.0, 10, alpha=1.5), ValueError, r"alpha must be in \[0, 1\]"),
    (lambda: linear_schedule(1.0, 0.0, -1), ValueError, "transition_steps must be >= 0"),
    (lambda: warmup_cosine_decay(0.0, 1.0, 10, 10), ValueError, "decay_steps must be > warmup"),
    (lambda: join_schedules([constant_schedule(1.0)], [3]), ValueError, "one boundary fewer"),
    (lambda: join_schedules([constant_schedule(1.0)] * 3, [5, 3]), ValueError,
     "non-decreasing"),
])
def test_bad_arguments_raise_clear_errors(build: Callable[[], object], error: type[Exception],
                                          message: str) -> None:
    with pytest.raises(error, match=message):
        build()


def test_negative_steps_are_rejected() -> None:
    for s in (constant_schedule(1.0), cosine_decay(1.0, 5), linear_warmup(1.0, 3),
              warmup_cosine_decay(0.0, 1.0, 2, 5)):
        with pytest.raises(ValueError, match="step must be >= 0"):
            s(-1)
