"""Read and write IDX files (the MNIST container format), raw or gzip-compressed.

Layout: two zero bytes, a dtype code byte, an ndim byte, ndim big-endian uint32
sizes, then the big-endian payload in C order.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from .. import _atomic as atomic

__all__ = [
    "IDX_DTYPES",
    "DatasetError",
    "StrPath",
    "encode_idx",
    "idx_code",
    "parse_idx",
    "read_idx",
    "read_idx_bytes",
    "write_idx",
]

StrPath: TypeAlias = os.PathLike[str] | str

# IDX type code -> on-disk (big-endian) dtype.
IDX_DTYPES: dict[int, np.dtype[np.generic]] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# (kind, itemsize) -> IDX type code; byte order is normalised when writing.
_CODES: dict[tuple[str, int], int] = {(d.kind, d.itemsize): c for c, d in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DIM = 2**32 - 1


class DatasetError(ValueError):
    """A data file or dataset is missing, malformed, or fails verification."""


def read_idx(path: StrPath) -> npt.NDArray[np.generic]:
    """Read an IDX file (raw or gzip) into a read-only native-endian array."""
    _, data = read_idx_bytes(path)
    return parse_idx(data, source=str(path))


def read_idx_bytes(path: StrPath) -> tuple[bytes, bytes]:
    """Return ``(raw file bytes, decompressed IDX bytes)``; gzip is detected by magic."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    if not raw:
        raise DatasetError(f"{path}: empty file (expected an IDX file, raw or gzip)")
    if raw[:2] != _GZIP_MAGIC:
        return raw, raw
    return raw, _gunzip(raw, str(path))


def _gunzip(raw: bytes, source: str) -> bytes:
    """Decompress a whole gzip stream, turning every failure into ``DatasetError``."""
    try:
        # gzip.decompress checks the CRC and length trailer of every member.
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{source}: corrupt gzip stream: {exc}") from exc


def parse_idx(data: bytes, *, source: str = "<bytes>") -> npt.NDArray[np.generic]:
    """Parse decompressed IDX bytes into a read-only native-endian array."""
    disk, shape, offset = _parse_header(data, source)
    count = int(np.prod(shape, dtype=object))  # Python ints: no overflow on absurd headers
    expected = count * disk.itemsize
    found = len(data) - offset
    if found != expected:
        what = "truncated" if found < expected else "extra bytes after payload in"
        raise DatasetError(
            f"{source}: {what} IDX file: header declares shape {shape} of {disk.str} "
            f"= {expected} payload bytes, but {found} are present"
        )
    array = np.frombuffer(data, dtype=disk, count=count, offset=offset).reshape(shape)
    if not disk.isnative:
        array = array.astype(disk.newbyteorder("="))  # one copy, only when swapping
    array.flags.writeable = False
    return array


def _parse_header(data: bytes, source: str) -> tuple[np.dtype[np.generic], tuple[int, ...], int]:
    """Validate the IDX header; return ``(on-disk dtype, shape, payload offset)``."""
    if len(data) < 4:
        raise DatasetError(f"{source}: truncated IDX header: {len(data)} bytes, need at least 4")
    if data[:2] != b"\x00\x00":
        raise DatasetError(f"{source}: bad IDX magic {data[:2].hex()!r}, expected '0000'")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DatasetError(f"{source}: unknown IDX dtype code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DatasetError(f"{source}: IDX header declares 0 dimensions, need at least 1")
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DatasetError(
            f"{source}: truncated IDX header: {ndim} dimensions need {offset} bytes, "
            f"file has {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:offset])
    return IDX_DTYPES[code], shape, offset


def idx_code(dtype: npt.DTypeLike, *, source: str = "<array>") -> int:
    """Return the IDX type code for ``dtype`` or raise ``DatasetError``."""
    dt = np.dtype(dtype)
    code = _CODES.get((dt.kind, dt.itemsize))
    if code is None:
        names = ", ".join(d.newbyteorder("=").name for d in IDX_DTYPES.values())
        raise DatasetError(f"{source}: IDX cannot hold dtype {dt.name!r} (supported: {names})")
    return code


def encode_idx(array: npt.NDArray[np.generic], *, source: str = "<array>") -> bytes:
    """Serialise ``array`` to uncompressed IDX bytes."""
    arr = np.asarray(array)
    code = idx_code(arr.dtype, source=source)
    if not 1 <= arr.ndim <= 255:
        raise DatasetError(f"{source}: IDX needs 1..255 dimensions, got a {arr.ndim}-d array")
    if any(n > _MAX_DIM for n in arr.shape):
        raise DatasetError(f"{source}: IDX dimension sizes must fit in uint32, got {arr.shape}")
    header = struct.pack(f">BBBB{arr.ndim}I", 0, 0, code, arr.ndim, *arr.shape)
    payload = np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()
    return header + payload


def write_idx(path: StrPath, array: npt.NDArray[np.generic]) -> None:
    """Atomically write ``array`` as IDX; gzip-compressed when ``path`` ends with ``.gz``."""
    target = Path(path)
    data = encode_idx(array, source=str(path))
    if target.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)  # mtime=0: same array -> same bytes
    try:
        atomic.write_bytes(target, data)
    except OSError as error:
        raise DatasetError(f"{target}: cannot write: {error.strerror or error}") from None
