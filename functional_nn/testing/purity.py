"""assert_pure: a function changes none of its arguments, repeats its bits, and draws nothing
from numpy's global random generator."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

import numpy as np

from ..tree import tree_flatten, tree_leaves_with_path

__all__ = ["Impure", "assert_pure"]

A = ParamSpec("A")
R = TypeVar("R")


class Impure(AssertionError):
    """A function mutated an argument, gave other bits the second time, or used the global RNG."""


def _fingerprint(tree: object) -> list[tuple[str, object]]:
    """Each leaf's path with its bytes, shape and dtype (arrays) or its repr (anything else)."""
    out: list[tuple[str, object]] = []
    for path, leaf in tree_leaves_with_path(tree):
        if isinstance(leaf, np.ndarray):
            out.append((path, (leaf.dtype.str, leaf.shape, leaf.tobytes())))
        else:
            out.append((path, repr(leaf)))
    return out


def _global_rng() -> tuple[object, ...]:
    """numpy's global RandomState, as comparable values."""
    # reading the legacy global state is the point: it is what np.random.rand & co. draw from
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # noqa: NPY002
    return kind, np.asarray(keys).tobytes(), pos, has_gauss, gauss


def _first_change(before: list[tuple[str, object]], after: list[tuple[str, object]]) -> str:
    for (path, a), (_, b) in zip(before, after, strict=False):
        if a != b:
            return path or "<root>"
    return "its structure"


def assert_pure(f: Callable[A, R], /, *args: A.args, **kwargs: A.kwargs) -> R:
    """Call ``f(*args, **kwargs)`` twice; raise :class:`Impure` when it mutates an argument (any
    array leaf of any argument tree), gives different bits (or structure) the second time, or
    draws from numpy's global RNG. Returns the first result.

    >>> assert_pure(np.add, np.ones(2), 1.0)
    array([2., 2.])
    """
    name = getattr(f, "__qualname__", repr(f))
    inputs = {**{f"argument {i}": a for i, a in enumerate(args)},
              **{f"argument {k!r}": v for k, v in kwargs.items()}}
    before = {where: _fingerprint(value) for where, value in inputs.items()}
    results = []
    for call in ("first", "second"):
        rng_state = _global_rng()
        results.append(f(*args, **kwargs))
        if _global_rng() != rng_state:
            raise Impure(f"{name} drew from numpy's global RNG on its {call} call; take a seed "
                         "or a numpy Generator instead")
        for where, value in inputs.items():
            now = _fingerprint(value)
            if now != before[where]:
                raise Impure(f"{name} mutated {where} at {_first_change(before[where], now)} "
                             f"on its {call} call")
    first, second = results
    if tree_flatten(first)[1] != tree_flatten(second)[1] or _fingerprint(first) != _fingerprint(
            second):
        where = _first_change(_fingerprint(first), _fingerprint(second))
        raise Impure(f"{name} gave different results on two calls with the same arguments "
                     f"(first difference at {where})")
    return first
