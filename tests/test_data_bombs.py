"""Hostile data files: decompression bombs and lying headers are refused within the size the
header declares (measured with tracemalloc, which sees numpy's and zlib's allocations), and
things that are not files where a data file should be are named, not downloaded over."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from functional_nn.data import (
    Checksum,
    ChecksumError,
    DataFile,
    DatasetError,
    DatasetSpec,
    DownloadError,
    load_dataset,
    read_idx,
)
from functional_nn.data.idx import encode_idx
from functional_nn.data.registry import FILE_NAMES
from tests.bombs import gzip_bomb
from tests.conftest import run_cli

BOMB = 300_000_000  # decoded bytes past the declared payload: 300 MB from 0.3 MB on disk
SHAPE = (1000, 28, 28)  # what the bomb's header declares: 784 kB
BUDGET = 8 << 20  # no refusal may need more memory than this


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gzip_bomb(tmp_path_factory.mktemp("bomb") / FILE_NAMES[0], BOMB, SHAPE)


def peak(action: Callable[[], object]) -> tuple[BaseException, int]:
    """The error ``action`` raises and the most memory it held meanwhile."""
    tracemalloc.start()
    try:
        action()
    except Exception as error:
        return error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    raise AssertionError("no error raised")


def test_a_gzip_bomb_is_read_no_further_than_its_header_says(bomb: Path) -> None:
    assert bomb.stat().st_size < 1 << 20
    error, used = peak(lambda: read_idx(bomb))
    assert isinstance(error, DatasetError)
    assert str(error).startswith(f"{bomb}: extra bytes after payload in IDX file: header "
                                 "declares shape (1000, 28, 28)")
    assert used < BUDGET


def test_a_header_of_another_size_than_expected_is_refused_before_the_payload(
        bomb: Path) -> None:
    error, used = peak(lambda: read_idx(bomb, size=10008))
    assert "not the expected file: its IDX header declares shape (1000, 28, 28)" in str(error)
    assert "not 10008" in str(error)
    assert used < 1 << 20


def test_a_raw_file_longer_than_its_header_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "raw.idx"
    path.write_bytes(encode_idx(np.zeros(4, np.uint8)))
    os.truncate(path, BOMB)  # sparse: 300 MB that cost no disk
    error, used = peak(lambda: read_idx(path))
    assert f"but {BOMB - 8} are present" in str(error)
    assert used < 1 << 20


def test_a_header_no_gzip_file_of_that_size_can_hold(tmp_path: Path) -> None:
    path = tmp_path / "liar.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (10**9).to_bytes(4, "big")))
    error, used = peak(lambda: read_idx(path))
    assert "1000000000 payload bytes, more than a gzip file of" in str(error)
    assert used < 1 << 20


def spec_of(path: Path, *, content: bool, archive: bool, size: int | None) -> DatasetSpec:
    """A spec whose four files are real tiny IDX files, but the first is expected to be the
    genuine file a bomb took the place of."""
    genuine = encode_idx(np.zeros(SHAPE, np.uint8))
    first = DataFile(FILE_NAMES[0],
                     content=Checksum("sha256", hashlib.sha256(genuine).hexdigest())
                     if content else None,
                     archive=Checksum("md5", "0" * 32) if archive else None, size=size)
    for name in FILE_NAMES[1:]:
        data = encode_idx(np.zeros(1000 if "labels" in name else (1000, 28, 28), np.uint8))
        (path / name).write_bytes(data)
    train_labels, test_images, test_labels = (DataFile(name) for name in FILE_NAMES[1:])
    return DatasetSpec("fake", ("http://unused.invalid/",), first, train_labels, test_images,
                       test_labels)


@pytest.mark.parametrize(("content", "archive", "size", "message"), [
    (True, True, len(encode_idx(np.zeros(SHAPE, np.uint8))), "extra bytes after payload"),
    (True, False, None, "extra bytes after payload"),
    (False, True, None, "checksum mismatch"),  # refused on the file as stored
    (True, True, 47040016, "not the expected file"),
])
def test_load_dataset_refuses_a_bomb_within_bounded_memory(
        tmp_path: Path, bomb: Path, content: bool, archive: bool, size: int | None,
        message: str) -> None:
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / FILE_NAMES[0]).symlink_to(bomb)
    spec = spec_of(folder, content=content, archive=archive, size=size)
    error, used = peak(lambda: load_dataset(spec, data_dir=tmp_path, download=False))
    assert isinstance(error, DatasetError)
    assert message in str(error)
    # the other three files (2.4 MB) are read too
    assert used < BUDGET + 4 << 20


def test_an_archive_mismatch_is_found_before_decompressing(tmp_path: Path, bomb: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("decompressed before checking the archive checksum")

    monkeypatch.setattr(gzip, "GzipFile", never)
    monkeypatch.setattr(gzip, "decompress", never)
    monkeypatch.setattr(zlib, "decompress", never)
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / FILE_NAMES[0]).symlink_to(bomb)
    spec = spec_of(folder, content=False, archive=True, size=None)
    with pytest.raises(ChecksumError, match="file as stored"):
        load_dataset(spec, data_dir=tmp_path, download=False)


# --- what is not a file where one should be -------------------------------------------------


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def in_place(folder: Path, make: str) -> Path:
    target = folder / FILE_NAMES[0]
    if make == "directory":
        target.mkdir()
    elif make == "loop":
        target.symlink_to(folder / "other")
        (folder / "other").symlink_to(target)
    else:
        target.symlink_to(folder / "gone")
    return target


@pytest.mark.parametrize(("make", "message"), [
    ("directory", "a directory where the data file"),
    ("loop", "cannot reach the data file: Too many levels of symbolic links"),
    ("dangling", "a symbolic link to"),
])
def test_not_a_file_is_named_and_never_downloaded_over(tmp_path: Path, make: str,
                                                       message: str) -> None:
    folder = tmp_path / "fake"
    folder.mkdir()
    target = in_place(folder, make)
    spec = spec_of(folder, content=False, archive=False, size=None)
    with pytest.raises(DatasetError) as info:
        load_dataset(spec, data_dir=tmp_path, mirrors=[closed_port()])
    assert not isinstance(info.value, DownloadError)  # no mirror was blamed
    assert str(info.value).startswith(f"{target}: ")
    assert message in str(info.value)


@pytest.mark.parametrize("download", [True, False])
def test_the_cli_names_a_directory_in_place_of_a_data_file(tmp_path: Path,
                                                           download: bool) -> None:
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    in_place(folder, "directory")
    result = run_cli("train", "--data-dir", "data", *(() if download else ("--no-download",)),
                     cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert f"data/mnist/{FILE_NAMES[0]}: a directory where the data file" in line
    assert "mirror" not in line
