"""Known datasets: file names, download mirrors and checksums."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import attrs

from .. import _validators as validators
from .._atomic import open_regular
from .idx import DatasetError

__all__ = [
    "DATASETS",
    "FILE_NAMES",
    "Checksum",
    "ChecksumError",
    "DataFile",
    "DatasetSpec",
    "get_dataset",
    "register_dataset",
]

# Train images, train labels, test images, test labels (the MNIST family's names).
FILE_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# Their decompressed sizes in the MNIST family: 60,000 and 10,000 28x28 images and labels.
FILE_SIZES = (16 + 60000 * 28 * 28, 8 + 60000, 16 + 10000 * 28 * 28, 8 + 10000)
_BLOCK = 1 << 20


class ChecksumError(DatasetError):
    """A file's bytes do not match the checksum the registry expects."""


def _check_algorithm(_: object, __: attrs.Attribute[str], value: str) -> None:
    """Reject hash names ``hashlib`` does not know, at registry build time."""
    if value not in hashlib.algorithms_available:
        raise ValueError(f"unknown hash algorithm {value!r}")


def _check_name(_: object, __: attrs.Attribute[str], value: str) -> None:
    """The spec's folder under the data folder: no path that leads out of it, nor the data
    folder itself."""
    validators.folder_name("dataset name", value)


def _lower(value: str) -> str:
    """Normalise a hex digest to lower case."""
    return value.lower()


def _mirror_tuple(urls: Sequence[str]) -> tuple[str, ...]:
    """Freeze mirror base URLs, each ending in ``/`` so file names append cleanly."""
    return tuple(url if url.endswith("/") else url + "/"
                 for url in validators.urls("mirrors", urls))


@attrs.frozen
class Checksum:
    """A hex digest and the ``hashlib`` algorithm that produced it."""

    algorithm: str = attrs.field(validator=_check_algorithm)
    hexdigest: str = attrs.field(converter=_lower)

    def of(self, data: bytes | bytearray | memoryview) -> str:
        """Return the hex digest of ``data`` under this checksum's algorithm."""
        return hashlib.new(self.algorithm, data).hexdigest()

    def of_file(self, path: str | os.PathLike[str]) -> str:
        """The hex digest of the file at ``path``, read a block at a time."""
        digest = hashlib.new(self.algorithm)
        with open_regular(path) as file:
            while block := file.read(_BLOCK):
                digest.update(block)
        return digest.hexdigest()

    def __str__(self) -> str:
        """Render as ``algorithm:hexdigest``."""
        return f"{self.algorithm}:{self.hexdigest}"


@attrs.frozen
class DataFile:
    """One file of a dataset, the checksums it may match and its decompressed size.

    ``content`` is of the decompressed IDX bytes, so any recompression verifies;
    ``archive`` is of the publisher's file exactly as downloaded (checked first, on the file
    as stored, before anything is decompressed). ``size``, when known, is the size of the
    decompressed file: a file whose header declares another is refused before it is read.
    """

    name: str
    content: Checksum | None = None
    archive: Checksum | None = None
    size: int | None = None

    @property
    def raw_name(self) -> str:
        """The file name without a ``.gz`` suffix (a decompressed copy)."""
        return self.name.removesuffix(".gz")

    def verify(self, path: str | os.PathLike[str], decode: Callable[[], bytearray], *,
               source: str) -> bytearray:
        """The decompressed file, from ``decode()``, if the file at ``path`` matches a checksum.

        The archive checksum is checked on the file as stored, so a file that matches it,
        or mismatches it with no content checksum to fall back on, is never decompressed to
        be verified. Raises ``ChecksumError`` on a mismatch.
        """
        found: list[str] = []
        if self.archive is not None:
            actual = self.archive.of_file(path)
            if actual == self.archive.hexdigest:
                return decode()
            found.append(f"{self.archive.algorithm}:{actual} (file as stored)")
        if self.content is None:
            if not found:
                return decode()  # nothing known to check against
            raise self._mismatch(source, found)
        data = decode()
        actual = self.content.of(data)
        if actual == self.content.hexdigest:
            return data
        raise self._mismatch(source, [f"{self.content.algorithm}:{actual} (decompressed)",
                                      *found])

    def _mismatch(self, source: str, found: list[str]) -> ChecksumError:
        return ChecksumError(f"{source}: checksum mismatch for {self.name}: expected "
                             f"{self._expected()}, got {' / '.join(found)}")

    def _expected(self) -> str:
        """Describe the accepted checksums for error messages."""
        parts = []
        if self.content is not None:
            parts.append(f"{self.content} (decompressed)")
        if self.archive is not None:
            parts.append(f"{self.archive} (publisher's .gz)")
        return " or ".join(parts)


@attrs.frozen
class DatasetSpec:
    """A named dataset: its sub-folder name, mirrors (tried in order) and four files."""

    name: str = attrs.field(validator=_check_name)
    mirrors: tuple[str, ...] = attrs.field(converter=_mirror_tuple)
    train_images: DataFile
    train_labels: DataFile
    test_images: DataFile
    test_labels: DataFile
    homepage: str = ""

    @property
    def files(self) -> tuple[DataFile, DataFile, DataFile, DataFile]:
        """The four files: train images, train labels, test images, test labels."""
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


def _spec(
    name: str,
    mirrors: tuple[str, ...],
    *,
    content: tuple[str, ...] = (),
    archive: tuple[str, ...] = (),
    algorithm: str = "md5",
    homepage: str = "",
) -> DatasetSpec:
    """Build a spec for the standard four MNIST-style file names."""
    tri, trl, tei, tel = (
        DataFile(
            name=fname,
            content=Checksum(algorithm, content[i]) if content else None,
            archive=Checksum("md5", archive[i]) if archive else None,
            size=FILE_SIZES[i],
        )
        for i, fname in enumerate(FILE_NAMES)
    )
    return DatasetSpec(name, mirrors, tri, trl, tei, tel, homepage=homepage)


_REGISTRY: dict[str, DatasetSpec] = {}

# Read-only live view: register_dataset additions show up here.
DATASETS: Mapping[str, DatasetSpec] = MappingProxyType(_REGISTRY)


def register_dataset(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Add ``spec`` to ``DATASETS`` (refusing to overwrite unless ``replace``)."""
    if spec.name in _REGISTRY and not replace:
        raise DatasetError(f"dataset {spec.name!r} is already registered (pass replace=True)")
    _REGISTRY[spec.name] = spec
    return spec


def get_dataset(name: str) -> DatasetSpec:
    """Look up a registered dataset, or raise ``DatasetError`` listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(repr(n) for n in sorted(_REGISTRY))
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {known}") from None


# Mirrors follow torchvision/datasets/mnist.py. Content checksums were checked
# against real decompressed files; archive MD5s are the publishers' .gz files.
register_dataset(
    _spec(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        algorithm="sha256",
        content=(
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
        archive=(
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
        homepage="http://yann.lecun.com/exdb/mnist/",
    )
)
register_dataset(
    _spec(
        "fashion-mnist",
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            # The publisher's own repository also ships the files.
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        content=(
            "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "9018921c3c673c538a1fc5bad174d6f9",
            "8181f5470baa50b63fa0f6fddb340f0a",
            "15d484375f8d13e6eb1aabb0c3f46965",
        ),
        archive=(
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    )
)
register_dataset(
    _spec(
        "kmnist",
        ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        # Only the publisher's archive checksums are known: a decompressed or
        # recompressed copy cannot be verified (load it with verify=False).
        archive=(
            "bdb82020997e1d708af4cf47b453dcf7",
            "e144d726b3acfaa3e44228e80efcd344",
            "5c965bf0a639b31b8f53240b1b52f4d7",
            "7320c461ea6c1c855c0b718fb2a4b134",
        ),
        homepage="https://github.com/rois-codh/kmnist",
    )
)
