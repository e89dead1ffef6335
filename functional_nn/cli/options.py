"""Command-line options every sub-command shares, and the parsers of their values.

The parsers are argparse ``type=`` functions: they turn text into a value and check it with
the library's own validators (:mod:`functional_nn._validators`), so ``--lr -1`` and
``Recipe(learning_rate=-1)`` fail with the same words; argparse makes the failure a usage
error (exit status 2) that names the option.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias, TypeVar

from .. import _validators as validators
from ..data import DATASETS
from ..data.datasets import ENV_VAR
from ..specs import check_spec

__all__ = [
    "Subparsers",
    "add_data_options",
    "add_json_option",
    "hidden_sizes",
    "network_spec",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
]

N = TypeVar("N", int, float)

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What each sub-command module's ``add_parser`` adds its parser to."""


def add_data_options(parser: argparse.ArgumentParser, *, dataset_help: str) -> None:
    """``--dataset``, ``--data-dir`` and ``--no-download``, shared by every sub-command."""
    parser.add_argument("--dataset", choices=sorted(DATASETS), default=None, help=dataset_help)
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help=f"folder holding a <dataset>/ folder of IDX files (default: "
                             f"${ENV_VAR}, else ~/.cache/functional_nn)")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading missing data files")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json``: one JSON object on stdout, human lines on stderr."""
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON object on stdout (and the "
                             "human-readable lines on stderr)")


def _number(kind: type[N], validate: Callable[[str, N], N], expected: str) -> Callable[[str], N]:
    """An option parser: ``text`` as a ``kind``, checked by one of the library's validators."""
    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        try:
            return validate("", value)
        except (TypeError, ValueError) as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return parse


positive_int: Callable[[str], int] = _number(int, validators.positive_int, "a positive integer")
"""An integer >= 1."""
non_negative_int: Callable[[str], int] = _number(int, validators.non_negative_int, "an integer")
"""An integer >= 0."""
positive_float: Callable[[str], float] = _number(float, validators.positive, "a number")
"""A finite number > 0."""
non_negative_float: Callable[[str], float] = _number(float, validators.non_negative, "a number")
"""A finite number >= 0."""


def hidden_sizes(text: str) -> tuple[int, ...]:
    """Comma-separated hidden layer sizes, e.g. ``16,16``; ``''`` or ``none`` for no hidden layer.

    >>> hidden_sizes("16, 16"), hidden_sizes("none")
    ((16, 16), ())
    """
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 16,16, got {text!r}") from None
    try:
        return validators.sizes("hidden layer sizes", values)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def network_spec(text: str) -> str:
    """A network spec (:mod:`functional_nn.specs`), in its canonical spelling.

    >>> network_spec("conv3x3-8, relu, maxpool2, flatten, dense10")
    'conv3x3-8,relu,maxpool2,flatten,dense10'
    """
    try:
        return check_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
