"""The dataset a command works on, loaded with every data problem turned into one hint line.

A missing, damaged or undownloadable file becomes a :class:`~.errors.CliError` that says
where the command looked and how to put the files there (``--data-dir`` or the environment).
"""

from __future__ import annotations

import os

from ..data import (
    Dataset,
    DatasetError,
    DownloadError,
    channels_last,
    dataset_dir,
    get_dataset,
    load_dataset,
)
from ..data.datasets import ENV_VAR, stored_files
from .errors import CliError, one_line

__all__ = ["class_count", "image_shape", "load_data"]


def _layout_hint(name: str) -> str:
    """How to put a dataset's files where the CLI looks for them."""
    files = ", ".join(f.name for f in get_dataset(name).files)
    return (f"pass --data-dir DIR or set {ENV_VAR}=DIR, where DIR{os.sep}{name}{os.sep} holds "
            f"{files} (gzipped or not)")


def load_data(name: str, data_dir: str | None, *, download: bool = True) -> Dataset:
    """Load a registered dataset, turning every data problem into one ``CliError`` line."""
    folder = dataset_dir(name, data_dir)
    if not download:
        try:
            stored = stored_files(get_dataset(name), folder)
        except DatasetError as error:  # a folder or a broken link where a file should be
            raise CliError(f"{one_line(str(error))}; {_layout_hint(name)}") from None
        missing = [file for file, path in stored.items() if path is None]
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


def image_shape(data: Dataset) -> tuple[int, ...]:
    """The shape of one of the dataset's images as a convnet takes it: (rows, cols, channels)."""
    shape: tuple[int, ...] = channels_last(data.test_x[:1]).shape[1:]
    return shape
