"""A checkpoint's zip archive, read without trusting it: nothing is read that the structure
record has not said how large it is.

A checkpoint's members are stored, never compressed, so that each member's size on disk is its
size in memory: a compressed member is refused before a byte of it is read (a 3 MB member may
inflate to 3 GB), members whose sizes add up to more than the file are refused (they would
overlap: many arrays made of the same bytes), and the structure record may be at most
:data:`MAX_RECORD` bytes. An array's ``.npy`` header is read and compared with its leaf's
record before its data, and then exactly its data is read. Nothing is ever unpickled.
"""

from __future__ import annotations

import os
import zipfile
from typing import IO

import numpy as np
import numpy.typing as npt

from .errors import CheckpointError, RecordError
from .leaves import LeafInfo, check_array

__all__ = ["MAX_RECORD", "Members"]

MAX_RECORD = 32 << 20
"""The largest structure record a checkpoint may hold, in bytes (its JSON, with the metadata).
A record of 100,000 leaves takes about 10 MB."""

_NPY = ".npy"
_METHODS = {zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
            zipfile.ZIP_LZMA: "lzma"}


class Members:
    """The members of an open checkpoint archive, by key (the name without ``.npy``)."""

    def __init__(self, name: str, file: IO[bytes]) -> None:
        self.name = name
        try:
            self.zip = zipfile.ZipFile(file)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError,
                EOFError, NotImplementedError) as error:
            # whatever the bytes are, they are not a zip archive
            raise CheckpointError(f"{name}: not a checkpoint (not an npz file: {error})"
                                  ) from None
        keys = [i.filename.removesuffix(_NPY) if i.filename.endswith(_NPY) else i.filename
                for i in infos]
        if len(set(keys)) != len(keys):
            raise CheckpointError(f"{name}: the checkpoint names an array twice")
        for key, info in zip(keys, infos, strict=True):
            if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                method = _METHODS.get(info.compress_type, f"method {info.compress_type}")
                raise CheckpointError(f"{name}: member {key!r} is compressed ({method}); a "
                                      "checkpoint's members are stored uncompressed, so it was "
                                      "not written by functional_nn")
        size = os.fstat(file.fileno()).st_size
        if sum(i.file_size for i in infos) > size:
            raise CheckpointError(f"{name}: its members add up to more than the file's {size} "
                                  "bytes: they overlap, so it was not written by functional_nn")
        self.members = dict(zip(keys, infos, strict=True))

    def close(self) -> None:
        """Close the archive (not the file it reads)."""
        self.zip.close()

    @property
    def keys(self) -> list[str]:
        """The members' keys, in the archive's order."""
        return list(self.members)

    def _header(self, key: str, fp: IO[bytes]) -> tuple[np.dtype[np.generic], tuple[int, ...],
                                                          bool]:
        """A member's ``.npy`` header: dtype, shape and Fortran order; refuses pickles."""
        if not self.members[key].filename.endswith(_NPY):
            raise CheckpointError(f"{self.name}: member {key!r} is not a .npy array")
        try:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except (ValueError, SyntaxError, EOFError, zipfile.BadZipFile) as error:
            raise CheckpointError(f"{self.name}: member {key!r} is not a .npy array "
                                  f"({error})") from None
        if dtype.hasobject:
            raise CheckpointError(f"{self.name}: array {key!r} holds pickled Python objects; "
                                  "checkpoints never unpickle")
        return dtype, tuple(shape), bool(fortran)

    def _read(self, key: str, expect: LeafInfo | None, limit: int | None = None
              ) -> npt.NDArray[np.generic]:
        info = self.members[key]
        try:
            with self.zip.open(info) as fp:
                dtype, shape, fortran = self._header(key, fp)
                if expect is not None:
                    check_array(expect, dtype, shape)
                count = int(np.prod(shape, dtype=np.int64))
                size = count * dtype.itemsize
                if limit is not None and size > limit:
                    raise CheckpointError(f"{self.name}: the structure record is {size} bytes, "
                                          f"more than the {limit} a checkpoint may hold")
                if info.file_size != fp.tell() + size:
                    raise CheckpointError(f"{self.name}: member {key!r} is {info.file_size} "
                                          f"bytes, but its .npy header says {fp.tell() + size}")
                data = fp.read(size)  # reading to the end checks the member's CRC
        except RecordError as error:
            raise CheckpointError(f"{self.name}: {error}") from None
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise CheckpointError(f"{self.name}: array {key!r} is unreadable: {error}"
                                  ) from None
        except (RuntimeError, NotImplementedError) as error:  # zipfile: encrypted, patched...
            raise CheckpointError(f"{self.name}: array {key!r} is stored in a way no checkpoint "
                                  f"is written: {error}") from None
        if len(data) != size:
            raise CheckpointError(f"{self.name}: array {key!r} is truncated")
        array = np.frombuffer(data, dtype=dtype, count=count)
        return array.reshape(shape, order="F" if fortran else "C")

    def record(self, key: str) -> bytes:
        """The structure record's bytes: a 1-d uint8 member of at most :data:`MAX_RECORD`."""
        raw = self._read(key, None, MAX_RECORD)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise CheckpointError(f"{self.name}: the structure record is not a uint8 byte array")
        return raw.tobytes()

    def array(self, info: LeafInfo) -> npt.NDArray[np.generic]:
        """The array of a leaf, whose header, then size, are checked against its record."""
        return self._read(info.key, info)
