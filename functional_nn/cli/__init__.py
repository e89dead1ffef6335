"""The ``functional-nn`` command line: train, evaluate, predict and plot from one command.

A shell over the library's public API; nothing in the library imports it. This module holds
what every sub-command shares: the errors that :mod:`.main` turns into one line on stderr,
the routing of human and JSON output, safe file writes, and loading a dataset with hints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO, TypeAlias

from .. import _atomic as atomic
from ..data import (
    DATASETS,
    Dataset,
    DatasetError,
    DownloadError,
    dataset_dir,
    get_dataset,
    load_dataset,
)
from ..data.datasets import ENV_VAR

__all__ = [
    "PROG",
    "CliError",
    "Interrupted",
    "Output",
    "Subparsers",
    "UsageError",
    "add_data_options",
    "add_json_option",
    "check_writable",
    "class_count",
    "load_data",
    "one_line",
    "write_json",
    "write_text",
]

PROG = "functional-nn"

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What each sub-command module's ``add_parser`` adds its parser to."""


class CliError(Exception):
    """A mistake the user can fix: printed as one line, exit status ``code``."""

    code = 1


class UsageError(CliError):
    """A bad option value or a missing argument (exit status 2, as argparse uses)."""

    code = 2


class Interrupted(CliError):
    """Ctrl-C: the message says what was left as it was (exit status 130 = 128 + SIGINT)."""

    code = 130


def one_line(message: str) -> str:
    """A library message squeezed onto one line."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


class Output:
    """Where text goes: human lines to stdout, or to stderr when stdout carries ``--json``."""

    def __init__(self, as_json: bool = False, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def say(self, line: str = "") -> None:
        """A human line; flushed at once so a pipe sees progress as it happens."""
        stream = self.stderr if self.as_json else self.stdout
        print(line, file=stream, flush=True)

    def warn(self, line: str) -> None:
        """A warning, always on stderr."""
        print(f"{PROG}: warning: {line}", file=self.stderr, flush=True)

    def result(self, obj: dict[str, object]) -> None:
        """The one JSON object of ``--json`` mode, on stdout."""
        print(json.dumps(obj, allow_nan=False), file=self.stdout, flush=True)


def check_writable(path: str, what: str) -> None:
    """Fail early unless a file could be created at ``path`` (touching nothing there)."""
    target = Path(path)
    if target.is_dir():
        raise CliError(f"cannot write the {what} to {path}: it is a directory")
    folder = target.parent
    if not folder.is_dir():
        raise CliError(f"cannot write the {what} to {path}: the folder {folder} does not exist")
    try:  # a real probe: os.access misjudges root, ACLs and read-only mounts
        fd, probe = tempfile.mkstemp(prefix=".functional-nn-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise CliError(f"cannot write the {what} to {path}: {error.strerror or error}") from None


def write_text(path: str, text: str) -> None:
    """Write ``text`` atomically: a failure leaves any old file as it was."""
    try:
        atomic.write_text(path, text)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None


def write_json(path: str, obj: dict[str, object]) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def _layout_hint(name: str) -> str:
    """How to put a dataset's files where the CLI looks for them."""
    files = ", ".join(f.name for f in get_dataset(name).files)
    return (f"pass --data-dir DIR or set {ENV_VAR}=DIR, where DIR{os.sep}{name}{os.sep} holds "
            f"{files} (gzipped or not)")


def load_data(name: str, data_dir: str | None, *, download: bool = True) -> Dataset:
    """Load a registered dataset, turning every data problem into one ``CliError`` line."""
    folder = dataset_dir(name, data_dir)
    if not download:
        missing = [f.name for f in get_dataset(name).files
                   if not (folder / f.name).is_file() and not (folder / f.raw_name).is_file()]
        if missing:
            what = "none of its files" if len(missing) == 4 else f"no {', '.join(missing)}"
            raise CliError(f"dataset {name!r} not found: {what} in {folder}; "
                           f"{_layout_hint(name)}")
    try:
        return load_dataset(name, data_dir=data_dir, download=download)
    except DownloadError as error:
        lines = str(error).splitlines()
        tried = "; ".join(line.strip(" -") for line in lines[1:] if line.startswith("  - "))
        raise CliError(f"{lines[0].rstrip(':;')}: {tried}; {_layout_hint(name)}") from None
    except DatasetError as error:
        raise CliError(f"{one_line(str(error).split(chr(10))[0])}; delete a damaged file to "
                       f"download it again, or {_layout_hint(name)}") from None
    except OSError as error:
        raise CliError(f"cannot read dataset {name!r} in {folder}: "
                       f"{error.strerror or error}") from None


def class_count(data: Dataset) -> int:
    """The number of classes: one more than the largest label."""
    return int(max(data.train_y.max(initial=0), data.test_y.max(initial=0))) + 1



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
