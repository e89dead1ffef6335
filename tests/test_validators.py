"""The argument validators: each returns what it checked, or names the value in its error."""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs
import numpy as np
import pytest

from functional_nn import _validators as v


@pytest.mark.parametrize(("check", "value", "expected"), [
    (v.positive, 2, 2.0),
    (v.non_negative, 0, 0.0),
    (v.unit_interval, 0.9, 0.9),
    (v.positive_int, np.int64(3), 3),
    (v.non_negative_int, 0, 0),
    (v.sizes, [16, np.int32(8)], (16, 8)),
    (v.folder_name, "fashion-mnist", "fashion-mnist"),
    (v.urls, ["http://h/"], ("http://h/",)),
    (v.urls, (u for u in ["http://h/", "http://g/"]), ("http://h/", "http://g/")),
])
def test_valid_values_come_back_converted(check: Callable[[str, object], object], value: object,
                                          expected: object) -> None:
    result = check("x", value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(("check", "value", "error", "message"), [
    (v.positive, 0.0, ValueError, "lr must be positive and finite, got 0.0"),
    (v.positive, float("inf"), ValueError, "lr must be positive and finite, got inf"),
    (v.positive, True, TypeError, "lr must be a real number, got True"),
    (v.non_negative, -1, ValueError, "lr must be >= 0 and finite, got -1"),
    (v.unit_interval, 1.0, ValueError, "lr must be in [0, 1), got 1.0"),
    (v.positive_int, 0, ValueError, "lr must be a positive integer, got 0"),
    (v.positive_int, 1.0, TypeError, "lr must be an integer, got 1.0"),
    (v.non_negative_int, -2, ValueError, "lr must be >= 0, got -2"),
    (v.sizes, (1, 0), ValueError, "lr must be positive integers, got (1, 0)"),
    (v.sizes, "16", TypeError, "lr must be integers, got '16'"),
    (v.folder_name, "../x", ValueError, "lr must be one folder name (not empty, '.' or '..', "
                                        "no '/' or NUL), got '../x'"),
    (v.folder_name, 3, TypeError, "lr must be a string, got 3"),
    (v.urls, "http://h/", TypeError, "lr must be a sequence of URLs (str), got 'http://h/'"),
    (v.urls, [5], TypeError, "lr must be a sequence of URLs (str), got [5]"),
])
def test_errors_name_the_value(check: Callable[[str, object], object], value: object,
                               error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        check("lr", value)


def test_without_a_name_the_message_starts_at_must() -> None:
    with pytest.raises(ValueError, match=r"^must be positive and finite, got -1$"):
        v.positive("", -1)
    with pytest.raises(ValueError, match=r"^unknown value 'x'; choose from a, b$"):
        v.one_of("", "x", ("a", "b"))


def test_attrs_fields_are_named_in_words() -> None:
    @attrs.frozen
    class Config:
        batch_size: int = attrs.field(validator=v.as_attrs_validator(v.positive_int))

    assert Config(4).batch_size == 4
    with pytest.raises(ValueError, match="batch size must be a positive integer, got 0"):
        Config(0)
