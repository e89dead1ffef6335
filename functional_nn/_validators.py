"""Argument validators: each returns the value it checked, or raises an error that names it.

One set, so that a bad value reads the same wherever it is given (a recipe's field, a command
line option): ``TypeError`` when the value is not of the kind asked for (``b1 must be a real
number, got 'x'``), ``ValueError`` when it is out of range (``learning rate must be positive
and finite, got -1.0``). With an empty name the message starts at ``must be``, for callers that
name the value themselves (argparse puts ``argument --lr:`` in front).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
import numpy as np

__all__ = [
    "as_attrs_validator",
    "check",
    "folder_name",
    "non_negative",
    "non_negative_int",
    "one_of",
    "positive",
    "positive_int",
    "real",
    "sizes",
    "unit_interval",
    "urls",
]


def _must(name: str, requirement: str, value: object) -> str:
    return f"{name} must be {requirement}, got {value!r}".lstrip()


def real(name: str, value: object) -> float:
    """``value`` as a float; ``TypeError`` unless it is a real number (``bool`` is not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(_must(name, "a real number", value))
    return float(value)


def check(name: str, value: object, ok: Callable[[float], bool], requirement: str) -> float:
    """``value`` as a float, or a ``ValueError`` such as ``eps must be > 0, got -1.0``."""
    x = real(name, value)
    if not ok(x):
        raise ValueError(_must(name, requirement, value))
    return x


def positive(name: str, value: object) -> float:
    """A finite number > 0."""
    return check(name, value, lambda x: 0.0 < x < math.inf, "positive and finite")


def non_negative(name: str, value: object) -> float:
    """A finite number >= 0."""
    return check(name, value, lambda x: 0.0 <= x < math.inf, ">= 0 and finite")


def unit_interval(name: str, value: object) -> float:
    """A number in [0, 1), such as a decay rate."""
    return check(name, value, lambda x: 0.0 <= x < 1.0, "in [0, 1)")


def _integer(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(_must(name, "an integer", value))
    return int(value)


def positive_int(name: str, value: object) -> int:
    """An integer >= 1 (numpy integers too, returned as ``int``)."""
    n = _integer(name, value)
    if n < 1:
        raise ValueError(_must(name, "a positive integer", value))
    return n


def non_negative_int(name: str, value: object) -> int:
    """An integer >= 0."""
    n = _integer(name, value)
    if n < 0:
        raise ValueError(_must(name, ">= 0", value))
    return n


def one_of(name: str, value: object, choices: Sequence[str]) -> str:
    """One of ``choices``: ``unknown optimizer 'adagrad'; choose from sgd, adam``."""
    if not isinstance(value, str) or value not in choices:
        subject = f"unknown {name}" if name else "unknown value"
        raise ValueError(f"{subject} {value!r}; choose from {', '.join(choices)}")
    return value


def sizes(name: str, value: object) -> tuple[int, ...]:
    """A sequence of positive integers (layer sizes) as a tuple of ``int``."""
    items = tuple(value) if isinstance(value, list | tuple) else value
    if not isinstance(items, tuple) or not all(
            isinstance(s, int | np.integer) and not isinstance(s, bool) for s in items):
        raise TypeError(_must(name, "integers", value))
    if any(s < 1 for s in items):
        raise ValueError(_must(name, "positive integers", value))
    return tuple(int(s) for s in items)


def urls(name: str, value: object) -> tuple[str, ...]:
    """URL strings (any iterable of them) as a tuple; one string is refused, not read as its
    letters."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(_must(name, "a sequence of URLs (str)", value))
    items = tuple(value)
    if not all(isinstance(url, str) for url in items):
        raise TypeError(_must(name, "a sequence of URLs (str)", list(items)))
    return items


def folder_name(name: str, value: object) -> str:
    """One folder's name, to join to a parent: a path of its own (``../x``, ``/abs``, ``''``
    or ``.``) would put the folder somewhere else than under that parent."""
    if not isinstance(value, str):
        raise TypeError(_must(name, "a string", value))
    separators = {os.sep, os.altsep or os.sep, "/", "\0"}
    if value in ("", ".", "..") or any(s in value for s in separators):
        raise ValueError(_must(name, "one folder name (not empty, '.' or '..', no '/' or NUL)",
                               value))
    return value


def as_attrs_validator(validate: Callable[[str, Any], object]
                       ) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    """An attrs field validator that runs ``validate`` under the field's name.

    The name is spelled as words (``batch_size`` → ``batch size must be ...``).
    """
    def run(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        validate(attribute.name.replace("_", " "), value)
    return run
