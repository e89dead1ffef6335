"""Hostile files for the tests of bounded reading: small on disk, huge once decoded.

A run of zeros is deflated once per 16 MiB block and the block's bytes repeated (after a full
flush a deflate stream forgets its history, so every block compresses to the same bytes): a
bomb of a few hundred MB is made in a few milliseconds, and nothing its size is ever in
memory. ``python -m tests.bombs DIR SIZE`` writes every kind into ``DIR`` (issue 14's
measurements use SIZE 3e9).
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import attrs
import numpy as np

from functional_nn import checkpoint
from functional_nn.layers import mlp

__all__ = ["Deflated", "checkpoint_bomb", "deflated", "gzip_bomb", "structure_bomb"]

_BLOCK = 1 << 24


def _segment(data: bytes) -> bytes:
    """``data`` deflated as a stream segment of its own (no history, not final)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(zlib.Z_FULL_FLUSH)


@attrs.frozen
class Deflated:
    """A raw deflate stream: ``head``, then ``block`` ``repeat`` times, then ``tail``; and the
    CRC-32 and size of the data it holds."""

    head: bytes
    block: bytes
    repeat: int
    tail: bytes
    crc: int
    size: int

    @property
    def packed(self) -> int:
        """The stream's size in bytes."""
        return len(self.head) + self.repeat * len(self.block) + len(self.tail)

    def pieces(self) -> Iterator[bytes]:
        """The stream, piece by piece."""
        yield self.head
        for _ in range(self.repeat):
            yield self.block
        yield self.tail


def deflated(head: bytes, count: int, fill: bytes = b"\0") -> Deflated:
    """Raw deflate of ``head`` and then ``count`` bytes of ``fill`` (one byte)."""
    block = fill * min(count, _BLOCK)
    repeat, rest = divmod(count, len(block)) if block else (0, 0)
    crc = zlib.crc32(head)
    for _ in range(repeat):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(block[:rest], crc)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    return Deflated(_segment(head), _segment(block) if repeat else b"", repeat,
                    _segment(block[:rest]) + final, crc, len(head) + count)


def gzip_bomb(path: Path, extra: int, shape: tuple[int, ...] = (60000, 28, 28)) -> Path:
    """A gzip IDX file whose header declares uint8 ``shape`` (MNIST's train images by
    default) and whose payload is that many zero bytes and ``extra`` more."""
    header = struct.pack(f">BBBB{len(shape)}I", 0, 0, 0x08, len(shape), *shape)
    stream = deflated(header, int(np.prod(shape)) + extra)
    with open(path, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        for piece in stream.pieces():
            out.write(piece)
        out.write(struct.pack("<II", stream.crc, stream.size & 0xFFFFFFFF))
    return path


def _npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _replace_member(path: Path, name: str, head: bytes, count: int, fill: bytes = b"\0") -> None:
    """Rewrite the zip at ``path`` with member ``name`` deflated: ``head`` and then ``count``
    bytes of ``fill``. Written by hand (zipfile would deflate it all, slowly)."""
    with zipfile.ZipFile(path) as source:
        kept = [(i.filename, source.read(i)) for i in source.infolist() if i.filename != name]
    bomb = deflated(head, count, fill)
    members = [*((n, 0, zlib.crc32(d), len(d), len(d), iter([d])) for n, d in kept),
               (name, 8, bomb.crc, bomb.packed, bomb.size, bomb.pieces())]
    central, offset = b"", 0
    with open(path, "wb") as out:
        for n, method, c, csize, usize, chunks in members:
            encoded = n.encode()
            local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, c, csize,
                                usize, len(encoded), 0) + encoded
            out.write(local)
            for chunk in chunks:
                out.write(chunk)
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0,
                                   0x21, c, csize, usize, len(encoded), 0, 0, 0, 0, 0,
                                   offset) + encoded
            offset += len(local) + csize
        out.write(central)
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members),
                              len(central), offset, 0))


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
    (folder / "mnist").mkdir(parents=True, exist_ok=True)
    gzip_bomb(folder / "mnist" / "train-images-idx3-ubyte.gz", size)
    checkpoint_bomb(folder / "weights-bomb.npz", size)
    structure_bomb(folder / "structure-bomb.npz", size // 3)
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            print(p, p.stat().st_size)
