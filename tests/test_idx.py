"""Tests for the IDX reader/writer: round trips, strict validation, atomic writes."""

from __future__ import annotations

import gzip
import os
import re
import struct
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from functional_nn.data import DatasetError, read_idx, write_idx
from functional_nn.data.idx import declared_size, encode_idx, parse_idx

IDX_NAMES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


def _dtypes() -> st.SearchStrategy[np.dtype[np.generic]]:
    """Every IDX dtype, in either byte order (the writer must normalise)."""
    return st.sampled_from(IDX_NAMES).flatmap(
        lambda name: st.sampled_from(
            [np.dtype(name).newbyteorder("<"), np.dtype(name).newbyteorder(">")]
        )
    )


def _idx_bytes(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    """Hand-build IDX bytes, independent of the writer under test."""
    return struct.pack(f">BBBB{len(shape)}I", 0, 0, code, len(shape), *shape) + payload


@settings(max_examples=60, deadline=None)
@given(
    array=_dtypes().flatmap(
        lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5))
    ),
    gz=st.booleans(),
)
def test_round_trip(array: npt.NDArray[np.generic], gz: bool) -> None:
    """write_idx then read_idx gives the same values, native-endian and read-only."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("a.idx.gz" if gz else "a.idx")
        write_idx(path, array)
        assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
        back = read_idx(path)
        assert [p.name for p in Path(tmp).iterdir()] == [path.name]  # no temp left behind
    native = array.dtype.newbyteorder("=")
    assert back.dtype == native
    assert back.dtype.isnative
    assert back.shape == array.shape
    assert not back.flags.writeable
    # Compare bytes so NaN payloads and -0.0 count too.
    assert back.tobytes() == array.astype(native).tobytes()


def test_known_bytes() -> None:
    """The writer emits the documented layout (big-endian header and payload)."""
    data = encode_idx(np.array([[1, -2]], dtype="<i2"))
    assert data == _idx_bytes(0x0B, (1, 2), b"\x00\x01\xff\xfe")


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    """A gzip file without .gz and a raw file with .gz both read correctly."""
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    (tmp_path / "gz_no_suffix").write_bytes(gzip.compress(encode_idx(array)))
    (tmp_path / "raw.gz").write_bytes(encode_idx(array))
    for name in ("gz_no_suffix", "raw.gz"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), array)


def test_uint8_is_zero_copy_and_read_only() -> None:
    """uint8 payloads need no byteswap: the array views the bytes directly."""
    array = parse_idx(_idx_bytes(0x08, (2,), b"\x07\x09"))
    assert array.dtype == np.uint8
    assert not array.flags.owndata
    with pytest.raises(ValueError, match="read-only"):
        array[0] = 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_idx_bytes(0x08, (2, 3), bytes(5)), "truncated IDX file"),
        (_idx_bytes(0x08, (2, 3), bytes(7)), "extra bytes"),
        (b"\x01\x00" + _idx_bytes(0x08, (1,), b"\x00")[2:], "bad IDX magic"),
        (_idx_bytes(0x0A, (1,), b"\x00"), "unknown IDX dtype code 0x0A"),
        (_idx_bytes(0x08, (), b""), "0 dimensions"),
        (_idx_bytes(0x08, (1,) * 65, b"\x00"), "65 dimensions, more than the"),
        (_idx_bytes(0x08, (1,) * 255, b"\x00"), "255 dimensions, more than the"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
        (b"\x00\x00", "truncated IDX header"),
        (gzip.compress(_idx_bytes(0x08, (4,), bytes(4)))[:-6], "corrupt gzip stream"),
        (b"\x1f\x8b\x08\x00garbage-garbage", "corrupt gzip stream"),
        (gzip.compress(_idx_bytes(0x0C, (2,), bytes(7))), "truncated IDX file"),
        (b"", "empty file"),
    ],
    ids=[
        "truncated",
        "padded",
        "magic",
        "dtype-code",
        "ndim-0",
        "ndim-65",
        "ndim-255",
        "short-dims",
        "short-header",
        "gzip-truncated",
        "gzip-garbage",
        "gzip-short-payload",
        "empty",
    ],
)
def test_corrupt_files_raise(tmp_path: Path, content: bytes, message: str) -> None:
    """Every malformation raises DatasetError naming the file and the problem."""
    path = tmp_path / "bad-file.idx"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_more_dimensions_than_numpy_has_are_a_dataset_error() -> None:
    """Parsed bytes too (a download's, or a file read with verify=False), named by source."""
    data = _idx_bytes(0x08, (1,) * 65, b"\x00")
    with pytest.raises(DatasetError, match=r"^deep\.idx: IDX header declares 65 dimensions"):
        parse_idx(data, source="deep.idx")
    with pytest.raises(DatasetError, match="65 dimensions"):
        declared_size(data)


def test_a_path_with_a_nul_byte_is_named_in_one_line(tmp_path: Path) -> None:
    """The NUL no system call takes shows in the path's repr, not as 'embedded null byte'."""
    path = f"{tmp_path}/a\0b.idx"
    message = f"^{re.escape(repr(path))}: not a usable path: it holds a NUL byte$"
    with pytest.raises(DatasetError, match=message):
        read_idx(path)
    with pytest.raises(DatasetError, match=message):
        write_idx(path, np.zeros(2, dtype=np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_missing_file_names_path(tmp_path: Path) -> None:
    """A file that cannot be read is a DatasetError naming it."""
    with pytest.raises(DatasetError, match="cannot read") as info:
        read_idx(tmp_path / "nope.idx")
    assert "nope.idx" in str(info.value)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros(3, dtype=np.int64), "cannot hold dtype 'int64'"),
        (np.zeros(3, dtype=np.uint16), "cannot hold dtype 'uint16'"),
        (np.zeros(3, dtype=np.bool_), "cannot hold dtype 'bool'"),
        (np.zeros(3, dtype=np.complex64), "cannot hold dtype 'complex64'"),
        (np.array(1, dtype=np.uint8), "1..255 dimensions"),
    ],
)
def test_write_rejects_unsupported(
    tmp_path: Path, array: npt.NDArray[np.generic], message: str
) -> None:
    """Arrays IDX cannot represent are refused up front, leaving no file or temp."""
    path = tmp_path / "out.idx.gz"
    with pytest.raises(DatasetError, match=message) as info:
        write_idx(path, array)
    assert str(path) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_written_file_gets_umask_mode(tmp_path: Path) -> None:
    """The temp file's private 0600 mode does not leak into the final file."""
    path = tmp_path / "a.idx"
    write_idx(path, np.arange(3, dtype=np.uint8))
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_write_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed rename keeps the old file intact and removes the temp file."""
    path = tmp_path / "a.idx"
    write_idx(path, np.arange(3, dtype=np.uint8))
    before = path.read_bytes()

    def fail(src: str, dst: str) -> None:
        """Simulate a crash at the rename step."""
        raise OSError("simulated failure")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(DatasetError, match="cannot write: simulated"):
        write_idx(path, np.arange(5, dtype=np.uint8))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.idx"]
