"""Load MNIST-style datasets from a local cache, downloading them when missing."""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt

from .. import _validators as validators
from .download import (
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    ProgressFn,
    checked_times,
    default_progress,
    download_file,
)
from .idx import (
    DatasetError,
    StrPath,
    declared_size,
    gzip_bound,
    nul_free,
    parse_idx,
    read_idx_data,
)
from .registry import ChecksumError, DataFile, DatasetSpec, get_dataset

__all__ = [
    "ENV_VAR",
    "Dataset",
    "channels_last",
    "dataset_dir",
    "default_data_dir",
    "flatten_images",
    "load_dataset",
    "one_hot",
    "stored_files",
    "validate_dataset",
]

ENV_VAR = "FUNCTIONAL_NN_DATA"

Images = npt.NDArray[np.uint8]
Labels = npt.NDArray[np.int64]


@attrs.frozen(eq=False)  # eq=False: arrays do not compare to a single bool
class Dataset:
    """Train/test images (uint8, ``(N, rows, cols)``) and labels (int64, ``(N,)``)."""

    train_x: Images
    train_y: Labels
    test_x: Images
    test_y: Labels


def default_data_dir() -> Path:
    """Return ``$FUNCTIONAL_NN_DATA``, else ``${XDG_CACHE_HOME:-~/.cache}/functional_nn``."""
    if env := os.environ.get(ENV_VAR):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "functional_nn"


def dataset_dir(name: str | DatasetSpec, data_dir: StrPath | None = None) -> Path:
    """Return the folder holding dataset ``name``'s files: ``<data_dir>/<name>/``."""
    spec = name if isinstance(name, DatasetSpec) else get_dataset(name)
    root = Path(nul_free(data_dir)).expanduser() if data_dir is not None else default_data_dir()
    return root / spec.name


def load_dataset(
    name: str | DatasetSpec = "mnist",
    *,
    data_dir: StrPath | None = None,
    download: bool = True,
    verify: bool = True,
    progress: ProgressFn | None = None,
    mirrors: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = DEFAULT_DEADLINE,
) -> Dataset:
    """Load a registered dataset (or an explicit ``DatasetSpec``) as read-only arrays.

    Files (``.gz`` or decompressed) are read from ``dataset_dir(name, data_dir)``;
    missing ones are downloaded from ``mirrors`` (default: the registry's) unless
    ``download=False``. ``verify=False`` skips checksums (files are still parsed
    strictly). ``progress=None`` draws a progress line only when stderr is a TTY.
    ``timeout`` bounds each network read and ``deadline`` each file's whole download.
    Every file is read as far as its header says and no further (see :mod:`.idx`).
    """
    spec = name if isinstance(name, DatasetSpec) else get_dataset(name)
    if mirrors is not None:
        spec = attrs.evolve(spec, mirrors=validators.urls("mirrors", mirrors))
    times = checked_times(timeout, deadline)  # before any file is read, cached ones too
    folder = dataset_dir(spec, data_dir)
    found = stored_files(spec, folder)
    missing = [f for f in spec.files if found[f.name] is None]
    if missing and not download:
        raise DatasetError(_missing_message(spec, folder, missing))
    show = progress if progress is not None else default_progress()
    # Local files decode in threads (zlib and hashlib release the GIL) while any
    # missing ones download in this thread.
    with ThreadPoolExecutor(max_workers=len(spec.files)) as pool:
        jobs: dict[str, Future[npt.NDArray[np.generic]]] = {
            f.name: pool.submit(_load_file, path, f, verify)
            for f in spec.files
            if (path := found[f.name]) is not None
        }
        fetched = {f.name: _download(spec, folder, f, verify, show, times) for f in missing}
        arrays = {**fetched, **{k: job.result() for k, job in jobs.items()}}
    files = [str(found[f.name] or folder / f.name) for f in spec.files]
    train_x, train_y, test_x, test_y = (arrays[f.name] for f in spec.files)
    dataset = Dataset(
        _as_images(train_x, files[0]),
        _as_labels(train_y, files[1]),
        _as_images(test_x, files[2]),
        _as_labels(test_y, files[3]),
    )
    validate_dataset(dataset, name=spec.name, files=files)
    return dataset


def stored_files(spec: DatasetSpec, folder: Path) -> dict[str, Path | None]:
    """Each of the spec's files by name: its stored copy in ``folder`` (the ``.gz`` name first,
    then the decompressed one), or ``None`` when there is none.

    Raises ``DatasetError`` when something other than a file is where one should be (a
    directory, a symbolic link to nothing or in a loop): that is no missing file to download.
    """
    return {f.name: _locate(folder, f) for f in spec.files}


def _locate(folder: Path, file: DataFile) -> Path | None:
    for candidate in dict.fromkeys((file.name, file.raw_name)):
        path = folder / candidate
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            if path.is_symlink():
                raise DatasetError(f"{path}: a symbolic link to {os.readlink(path)}, which "
                                   "does not exist; remove the link or restore its target"
                                   ) from None
            continue
        except OSError as error:  # a loop of links, a folder that cannot be searched
            raise DatasetError(f"{path}: cannot reach the data file: "
                               f"{error.strerror or error}") from None
        if stat.S_ISDIR(mode):
            raise DatasetError(f"{path}: a directory where the data file {candidate} should "
                               "be; move it away")
        if not stat.S_ISREG(mode):
            raise DatasetError(f"{path}: not a regular file, where the data file {candidate} "
                               "should be")
        return path
    return None


def _load_file(path: Path, file: DataFile, verify: bool) -> npt.NDArray[np.generic]:
    """Read, verify (unless told not to) and parse one stored file, bounded by its header."""
    source = str(path)

    def decode() -> bytearray:
        return read_idx_data(path, size=file.size if verify else None)

    if not verify:
        return parse_idx(decode(), source=source)
    try:
        data = file.verify(path, decode, source=source)
    except ChecksumError as exc:
        raise ChecksumError(
            f"{exc}\nThe file was left in place. If it is a damaged download, delete it "
            "to fetch it again; if it is your own data, pass verify=False."
        ) from None
    return parse_idx(data, source=source)


def _head_limit(file: DataFile, verify: bool) -> tuple[int | None, Callable[[bytes], int | None]]:
    """The most bytes a download of ``file`` may have, and the limit its first bytes set:
    what its IDX header declares (inside the gzip stream, for a ``.gz``)."""
    size = file.size if verify else None

    def limit(head: bytes) -> int | None:
        compressed = head[:2] == b"\x1f\x8b"
        if compressed:
            try:  # only as much as the header needs: the first chunk is never a bomb
                data = zlib.decompressobj(31).decompress(head, 4 + 4 * 255)
            except zlib.error as error:
                raise DatasetError(f"not a gzip file: {error}") from None
        else:
            data = head
        declared = declared_size(data)
        if declared is not None and size is not None and declared != size:
            raise DatasetError(f"not the expected file: its IDX header declares a file of "
                               f"{declared} bytes, not {size}")
        if declared is None or not compressed:
            return declared
        return gzip_bound(declared)

    return (None if size is None else gzip_bound(size)), limit


def _download(
    spec: DatasetSpec,
    folder: Path,
    file: DataFile,
    verify: bool,
    progress: ProgressFn | None,
    times: tuple[float, float | None],
) -> npt.NDArray[np.generic]:
    """Download one file from the spec's mirrors; return it parsed and verified."""

    def check(tmp: Path, url: str) -> npt.NDArray[np.generic]:
        """Verify and parse the temp download (the archive checksum first), naming the URL."""
        def decode() -> bytearray:
            return read_idx_data(tmp, size=file.size if verify else None)

        data = file.verify(tmp, decode, source=url) if verify else decode()
        return parse_idx(data, source=url)

    most, limit = _head_limit(file, verify)
    return download_file(
        [mirror + file.name for mirror in spec.mirrors],
        folder / file.name,
        check=check,
        timeout=times[0],
        deadline=times[1],
        progress=progress,
        hint=_manual_hint(spec, folder),
        max_bytes=most,
        limit=limit,
    )


def _manual_hint(spec: DatasetSpec, folder: Path) -> str:
    """Explain how to put the files in place by hand."""
    names = ", ".join(f.name for f in spec.files)
    source = f" (from {spec.homepage})" if spec.homepage else ""
    return (
        f"To install {spec.name!r} by hand, download {names}{source} and put them, gzipped "
        f"or decompressed, in {folder}{os.sep}, or pass data_dir=DIR (or set {ENV_VAR}=DIR) "
        f"where DIR holds a {spec.name}{os.sep} folder with those files."
    )


def _missing_message(spec: DatasetSpec, folder: Path, missing: Sequence[DataFile]) -> str:
    """Describe missing files when downloading is off."""
    names = ", ".join(f"{f.name} (or {f.raw_name})" for f in missing)
    return (
        f"dataset {spec.name!r}: missing in {folder}: {names}; download=False, so nothing "
        f"was fetched. Pass download=True to fetch them.\n{_manual_hint(spec, folder)}"
    )


def _as_images(array: npt.NDArray[np.generic], source: str) -> Images:
    """Check that ``array`` holds uint8 images ``(N, rows, cols)``."""
    if array.dtype != np.uint8 or array.ndim != 3:
        raise DatasetError(
            f"{source}: expected uint8 images of shape (N, rows, cols), "
            f"got {array.dtype} {array.shape}"
        )
    return array.view(np.uint8)


def _as_labels(array: npt.NDArray[np.generic], source: str) -> Labels:
    """Check that ``array`` holds integer labels ``(N,)``; return them as read-only int64."""
    if array.dtype.kind not in "iu" or array.ndim != 1:
        raise DatasetError(
            f"{source}: expected integer labels of shape (N,), got {array.dtype} {array.shape}"
        )
    labels = array.astype(np.int64)
    labels.flags.writeable = False
    return labels


def validate_dataset(
    dataset: Dataset, *, name: str = "dataset", files: Sequence[str] = ()
) -> Dataset:
    """Check that images and labels agree in length (and image shapes match); return it."""
    where = f" ({', '.join(files)})" if files else ""
    pairs = (("train", dataset.train_x, dataset.train_y), ("test", dataset.test_x, dataset.test_y))
    for split, x, y in pairs:
        if len(x) != len(y):
            raise DatasetError(
                f"dataset {name!r}: {split} images and labels disagree in length: "
                f"{len(x)} images vs {len(y)} labels{where}"
            )
    if dataset.train_x.shape[1:] != dataset.test_x.shape[1:]:
        raise DatasetError(
            f"dataset {name!r}: train images are {dataset.train_x.shape[1:]} but test images "
            f"are {dataset.test_x.shape[1:]}{where}"
        )
    return dataset


def flatten_images(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Flatten uint8 images ``(N, ...)`` to read-only float32 ``(N, features)`` in [0, 1].

    >>> flatten_images(np.array([[[0, 255], [51, 102]]], dtype=np.uint8))
    array([[0. , 1. , 0.2, 0.4]], dtype=float32)
    """
    n = images.shape[0]
    flat = images.reshape(n, int(np.prod(images.shape[1:])))  # explicit: works for N == 0
    # One pass straight to float32 (no float64 temporary); division is exact at 0 and 255.
    out = np.divide(flat, np.float32(255), dtype=np.float32)
    out.flags.writeable = False
    return out


def channels_last(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """uint8 images ``(N, rows, cols)`` (MNIST's) or ``(N, rows, cols, channels)`` as
    read-only float32 ``(N, rows, cols, channels)`` in [0, 1]: what ``Conv2D`` takes.

    >>> x = channels_last(np.array([[[0, 255], [51, 102]]], dtype=np.uint8))
    >>> x.shape, x.dtype, x[0, :, :, 0].tolist()
    ((1, 2, 2, 1), dtype('float32'), [[0.0, 1.0], [0.20000000298023224, 0.4000000059604645]])
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or images.dtype != np.uint8:
        raise DatasetError(f"channels_last needs uint8 images (N, rows, cols) or (N, rows, "
                           f"cols, channels), got {images.dtype} {images.shape}")
    shaped = images if images.ndim == 4 else images[..., None]  # a view: one channel
    # One pass straight to float32 (no float64 temporary), as flatten_images.
    out = np.divide(shaped, np.float32(255), dtype=np.float32)
    out.flags.writeable = False
    return out


def one_hot(labels: npt.NDArray[np.integer], classes: int = 10) -> npt.NDArray[np.float32]:
    """Encode integer labels ``(N,)`` as read-only float32 one-hot rows ``(N, classes)``.

    >>> one_hot(np.array([0, 2]), classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(f"one_hot needs 1-d integer labels, got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        bad = labels[(labels < 0) | (labels >= classes)][0]
        raise DatasetError(f"one_hot: label {bad} is outside [0, {classes})")
    out = np.zeros((labels.shape[0], classes), dtype=np.float32)
    out[np.arange(labels.shape[0]), labels] = 1.0
    out.flags.writeable = False
    return out
