"""Read and write IDX files (the MNIST container format), raw or gzip-compressed.

Layout: two zero bytes, a dtype code byte, an ndim byte, ndim big-endian uint32
sizes, then the big-endian payload in C order.

Reading is bounded by the header, whatever the file holds: the header is read (decompressed)
first, and the file is refused at once when the size it declares is not the one expected, not
what a raw file's size or a gzip file's (at most 1032 times its size) allows, or more memory
than there is; then exactly the declared payload is read, and one byte more to prove that
nothing follows. So a small gzip file that decompresses to gigabytes (a decompression bomb)
costs no more time and memory than the file its header describes.
"""

from __future__ import annotations

import gzip
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

from .. import _atomic as atomic
from .._memory import available_memory

__all__ = [
    "GZIP_RATIO",
    "IDX_DTYPES",
    "DatasetError",
    "StrPath",
    "declared_size",
    "encode_idx",
    "gzip_bound",
    "idx_code",
    "nul_free",
    "parse_idx",
    "read_idx",
    "read_idx_data",
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
_CHUNK = 1 << 20
_MAX_HEADER = 4 + 4 * 255
# IDX allows 255 dimensions, numpy fewer: 64 since numpy 2.0, 32 before.
_MAX_NDIM = 64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32
GZIP_RATIO = 1032
"""Deflate's largest possible compression ratio: a gzip file of n bytes holds at most
``GZIP_RATIO * n`` bytes (zlib's technical details)."""
Buffer: TypeAlias = bytes | bytearray | memoryview


class _Stream(Protocol):
    """A binary file open for reading: a raw file or a ``GzipFile``."""

    def read(self, size: int = -1, /) -> bytes: ...
    def readinto(self, buffer: memoryview, /) -> int: ...


class DatasetError(ValueError):
    """A data file or dataset is missing, malformed, or fails verification."""


def nul_free(path: StrPath) -> str:
    """``path`` as a string, or a ``DatasetError`` naming it when it holds a NUL byte, which no
    system call takes (in ``repr``, where the NUL shows)."""
    source = str(path)
    if "\0" in source:
        raise DatasetError(f"{source!r}: not a usable path: it holds a NUL byte")
    return source


def read_idx(path: StrPath, *, size: int | None = None) -> npt.NDArray[np.generic]:
    """Read an IDX file (raw or gzip) into a read-only native-endian array.

    ``size``, when given, is the number of bytes the (decompressed) file must have: a header
    declaring another size is refused before anything more is read.
    """
    return parse_idx(read_idx_data(path, size=size), source=str(path))


def read_idx_data(path: StrPath, *, size: int | None = None) -> bytearray:
    """The decompressed bytes of an IDX file (raw or gzip, detected by magic), read as the
    header says and no further: see the module's docstring; ``size`` as for :func:`read_idx`.
    """
    source = nul_free(path)
    try:
        # stat first: opening a FIFO would wait for a writer, forever.
        if not stat.S_ISREG(os.stat(path).st_mode):
            kind = "a directory" if os.path.isdir(path) else "not a regular file"
            raise DatasetError(f"{path}: {kind}, not an IDX file")
        file = open(path, "rb")  # noqa: SIM115 -- closed by the with statement below
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    with file:
        info = os.fstat(file.fileno())
        if info.st_size == 0:
            raise DatasetError(f"{path}: empty file (expected an IDX file, raw or gzip)")
        if file.read(2) != _GZIP_MAGIC:
            file.seek(0)
            return _read_bounded(file, source, size, info.st_size, compressed=False)
        file.seek(0)
        try:
            with gzip.GzipFile(fileobj=file) as stream:
                return _read_bounded(stream, source, size, info.st_size, compressed=True)
        except (OSError, EOFError, zlib.error) as exc:
            # GzipFile checks the CRC and length trailer of every member as it ends.
            raise DatasetError(f"{source}: corrupt gzip stream: {exc}") from exc


def _read_into(stream: _Stream, view: memoryview) -> int:
    """Fill ``view`` from ``stream``; the number of bytes read (fewer at the end of it)."""
    done = 0
    while done < len(view):
        n = stream.readinto(view[done:done + _CHUNK])
        if not n:
            break
        done += n
    return done


def _read_bounded(stream: _Stream, source: str, size: int | None, stored: int, *,
                  compressed: bool) -> bytearray:
    """The IDX file ``stream`` holds, refused as early as its header allows."""
    head = bytearray(4)
    got = _read_into(stream, memoryview(head))
    ndim = head[3] if got == 4 else 0
    if got == 4 and head[:2] == b"\x00\x00" and head[2] in IDX_DTYPES and ndim:
        head += bytes(4 * ndim)
        got += _read_into(stream, memoryview(head)[4:])
    disk, shape, offset = _parse_header(bytes(head[:got]), source)
    expected = int(np.prod(shape, dtype=object)) * disk.itemsize
    total = offset + expected
    what = f"header declares shape {shape} of {disk.str} = {expected} payload bytes"
    if size is not None and total != size:
        raise DatasetError(f"{source}: not the expected file: its IDX {what}, so the file "
                           f"would be {total} bytes, not {size}")
    if not compressed and total != stored:
        found = stored - offset
        kind = "truncated" if found < expected else "extra bytes after payload in"
        raise DatasetError(f"{source}: {kind} IDX file: {what}, but {found} are present")
    if compressed and total > GZIP_RATIO * stored:
        raise DatasetError(f"{source}: truncated IDX file: {what}, more than a gzip file of "
                           f"{stored} bytes can hold")
    room = available_memory()
    if room is not None and total > room:
        raise DatasetError(f"{source}: IDX {what}, more than the {room} bytes of memory "
                           "available")
    data = bytearray(total)
    data[:offset] = head
    found = _read_into(stream, memoryview(data)[offset:])
    if found < expected:
        raise DatasetError(f"{source}: truncated IDX file: {what}, but {found} are present")
    if stream.read(1):
        raise DatasetError(f"{source}: extra bytes after payload in IDX file: {what}, but "
                           "more follow")
    return data


def declared_size(head: Buffer) -> int | None:
    """The size of the (decompressed) IDX file whose first bytes are ``head``, once there are
    enough of them to tell (``None`` before); raises ``DatasetError`` when they are no IDX
    header."""
    if len(head) < 4 or (len(head) < 4 + 4 * head[3] and head[:2] == b"\x00\x00"):
        return None
    disk, shape, offset = _parse_header(bytes(head[:_MAX_HEADER]), "the file")
    return offset + int(np.prod(shape, dtype=object)) * disk.itemsize


def gzip_bound(size: int) -> int:
    """The most bytes a gzip file of ``size`` decompressed bytes takes, however it was made:
    deflate's stored blocks add 5 bytes per 64 KiB; the rest is room for headers."""
    return size + (size >> 10) + (1 << 16)


def parse_idx(data: Buffer, *, source: str = "<bytes>") -> npt.NDArray[np.generic]:
    """Parse decompressed IDX bytes into a read-only native-endian array."""
    disk, shape, offset = _parse_header(bytes(data[:_MAX_HEADER]), source)
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
    if ndim > _MAX_NDIM:
        raise DatasetError(f"{source}: IDX header declares {ndim} dimensions, more than the "
                           f"{_MAX_NDIM} an array can have")
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
    target = Path(nul_free(path))
    data = encode_idx(array, source=str(path))
    if target.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)  # mtime=0: same array -> same bytes
    try:
        atomic.write_bytes(target, data)
    except OSError as error:
        raise DatasetError(f"{target}: cannot write: {error.strerror or error}") from None
