"""Hostile files for the tests of bounded reading: small on disk, huge once decoded.

Each maker streams its output (nothing the size of the decoded bomb is ever in memory), so a
test can build a bomb of a few hundred MB in a fraction of a second, and the measurements of
issue 14 one of 3 GB: ``python -m tests.bombs DIR SIZE`` writes every kind into ``DIR``.
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from functional_nn import checkpoint
from functional_nn.layers import mlp

__all__ = ["CountingReader", "checkpoint_bomb", "deflated_zeros", "gzip_bomb",
           "structure_bomb"]

_CHUNK = 1 << 24


class CountingReader(io.RawIOBase):
    """A file opened for reading that counts the bytes read through it."""

    def __init__(self, path: str | Path) -> None:
        self.file = open(path, "rb")  # noqa: SIM115 -- closed with this reader
        self.count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self.file.readinto(buffer)
        self.count += n
        return n

    def close(self) -> None:
        self.file.close()
        super().close()


def deflated_zeros(out: BinaryIO, size: int, *, head: bytes = b"", wbits: int = -15) -> int:
    """Write ``head`` then ``size`` zero bytes, deflated, to ``out``; return their CRC-32."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    crc = zlib.crc32(head)
    out.write(packer.compress(head))
    zeros = bytes(min(size, _CHUNK))
    left = size
    while left:
        n = min(left, len(zeros))
        out.write(packer.compress(zeros[:n]))
        crc = zlib.crc32(zeros[:n], crc)
        left -= n
    out.write(packer.flush())
    return crc


def gzip_bomb(path: Path, extra: int, shape: tuple[int, ...] = (60000, 28, 28)) -> Path:
    """A gzip IDX file whose header declares uint8 ``shape`` (MNIST's train images by
    default) and whose payload is that many zero bytes and ``extra`` more."""
    header = struct.pack(f">BBBB{len(shape)}I", 0, 0, 0x08, len(shape), *shape)
    with open(path, "wb") as out:
        deflated_zeros(out, int(np.prod(shape)) + extra, head=header, wbits=31)
    return path


def _npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _replace_member(path: Path, name: str, head: bytes, count: int, fill: bytes = b"\0") -> None:
    """Rewrite the zip at ``path`` with member ``name`` deflated: ``head``, then ``count``
    bytes of ``fill``, streamed."""
    with zipfile.ZipFile(path) as source:
        kept = [(i, source.read(i)) for i in source.infolist() if i.filename != name]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for info, data in kept:
            archive.writestr(info, data)
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            member.write(head)
            chunk = fill * min(count, _CHUNK)
            left = count
            while left:
                n = min(left, len(chunk))
                member.write(chunk[:n])
                left -= n


def checkpoint_bomb(path: Path, size: int) -> Path:
    """A checkpoint of a 784-16-10 network whose first weight is a deflated member of
    ``size`` zero bytes: its ``.npy`` header claims ``size / 4`` float32 values."""
    checkpoint.save(path, mlp([784, 16, 10], seed=0))
    _replace_member(path, "layers[0].w.npy", _npy_header((size // 4,)), size - size % 4)
    return path


def structure_bomb(path: Path, padding: int) -> Path:
    """A checkpoint whose (deflated) structure record is its JSON followed by ``padding``
    spaces: valid JSON (spaces, not zeros), 1000 times smaller on disk than in memory."""
    checkpoint.save(path, mlp([784, 16, 10], seed=0))
    with zipfile.ZipFile(path) as archive:
        member = archive.read("__structure__.npy")
    record = np.lib.format.read_array(io.BytesIO(member)).tobytes()
    head = _npy_header((len(record) + padding,), "|u1") + record
    _replace_member(path, "__structure__.npy", head, padding, b" ")
    return path


if __name__ == "__main__":
    folder, size = Path(sys.argv[1]), int(float(sys.argv[2]))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mnist").mkdir(exist_ok=True)
    gzip_bomb(folder / "mnist" / "train-images-idx3-ubyte.gz", size)
    checkpoint_bomb(folder / "weights-bomb.npz", size)
    structure_bomb(folder / "structure-bomb.npz", size // 3)
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            print(p, p.stat().st_size)
