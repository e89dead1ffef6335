"""Hostile checkpoints: compressed members, sizes that disagree with the record and oversized
records are refused before the bytes are read (tracemalloc sees numpy's and zlib's
allocations), and a file that only looks like a zip gets no advice about pickles."""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from functional_nn import checkpoint
from functional_nn.checkpoint import CheckpointError
from functional_nn.checkpoint.npz import MAX_RECORD
from functional_nn.layers import mlp
from tests.bombs import checkpoint_bomb, structure_bomb

BOMB = 200_000_000  # bytes a member inflates to, from 0.2 MB on disk


def peak(action: Callable[[], object]) -> tuple[str, int]:
    """The message of the ``CheckpointError`` that ``action`` raises and the most memory it
    held meanwhile."""
    tracemalloc.start()
    try:
        action()
    except CheckpointError as error:
        return str(error), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    raise AssertionError("no CheckpointError raised")


@pytest.mark.parametrize("read", [checkpoint.load, checkpoint.read_info])
def test_a_compressed_member_is_refused_unread(tmp_path: Path,
                                               read: Callable[[Path], object]) -> None:
    path = checkpoint_bomb(tmp_path / "bomb.npz", BOMB)
    assert path.stat().st_size < 1 << 20
    message, used = peak(lambda: read(path))
    assert message == (f"{path}: member 'layers[0].w' is compressed (deflate); a checkpoint's "
                       "members are stored uncompressed, so it was not written by functional_nn")
    assert used < 1 << 20


@pytest.mark.parametrize("read", [checkpoint.load, checkpoint.read_info,
                                  checkpoint.load_metadata])
def test_a_padded_compressed_record_is_refused_unread(tmp_path: Path,
                                                      read: Callable[[Path], object]) -> None:
    path = structure_bomb(tmp_path / "bomb.npz", BOMB)
    message, used = peak(lambda: read(path))
    assert "member '__structure__' is compressed (deflate)" in message
    assert used < 1 << 20


def rewrite(path: Path, **members: np.ndarray) -> None:
    """Replace members of the (stored) archive at ``path``."""
    with zipfile.ZipFile(path) as archive:
        kept = {i.filename: archive.read(i) for i in archive.infolist()
                if i.filename.removesuffix(".npy") not in members}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in kept.items():
            archive.writestr(name, data)
        for key, array in members.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, array)


def test_a_record_larger_than_the_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    checkpoint.save(path, mlp([4, 2], seed=0))
    with zipfile.ZipFile(path) as archive:
        record = np.lib.format.read_array(archive.open("__structure__.npy")).tobytes()
    padded = np.frombuffer(record + b" " * MAX_RECORD, np.uint8)  # still valid JSON
    rewrite(path, __structure__=padded)
    del padded
    message, used = peak(lambda: checkpoint.read_info(path))
    assert f"more than the {MAX_RECORD} a checkpoint may hold" in message
    assert used < 1 << 20


def test_save_refuses_a_record_that_load_would_refuse(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="more than the 33554432 a checkpoint may hold"):
        checkpoint.save(tmp_path / "m.npz", [1], metadata={"pad": " " * MAX_RECORD})
    assert list(tmp_path.iterdir()) == []


def test_a_large_member_of_the_wrong_shape_is_refused_before_its_data(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    checkpoint.save(path, mlp([784, 16, 10], seed=0))
    rewrite(path, **{"layers[0].w": np.zeros(10_000_000, np.float32)})  # 40 MB, stored
    message, used = peak(lambda: checkpoint.load(path))
    assert message == (f"{path}: array layers[0].w is <f4 (10000000,), but the structure "
                       "record says <f4 (784, 16)")
    assert used < 1 << 20


def test_a_member_longer_than_its_header_says(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    checkpoint.save(path, mlp([4, 2], seed=0))
    with zipfile.ZipFile(path) as archive:
        kept = {i.filename: archive.read(i) for i in archive.infolist()}
    kept["layers[0].b.npy"] += bytes(8)  # data the header does not account for
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in kept.items():
            archive.writestr(name, data)
    size = len(kept["layers[0].b.npy"])
    with pytest.raises(CheckpointError, match=rf"member 'layers\[0\]\.b' is {size} bytes, but "
                       rf"its \.npy header says {size - 8}"):
        checkpoint.load(path)


def test_a_file_that_only_starts_like_a_zip_gets_no_advice_about_pickles(
        tmp_path: Path) -> None:
    path = tmp_path / "fake.npz"
    path.write_bytes(b"PK" + b"\x00not a zip at all" * 100)
    for read in (checkpoint.load, checkpoint.read_info):
        with pytest.raises(CheckpointError) as info:
            read(path)
        message = str(info.value)
        assert message.startswith(f"{path}: not a checkpoint (not an npz file")
        assert "pickle" not in message


def test_a_valid_checkpoint_still_loads_bit_identical(tmp_path: Path) -> None:
    net = mlp([5, 3, 2], seed=1)
    path = tmp_path / "ok.npz"
    checkpoint.save(path, {"net": net, "f": np.asfortranarray(np.arange(6.0).reshape(2, 3))},
                    metadata={"a": [1, 2]})
    back = checkpoint.load(path)
    assert isinstance(back, dict)
    assert back["f"].tobytes(order="A") == np.asfortranarray(np.arange(6.0).reshape(2, 3)
                                                             ).tobytes(order="A")
    assert back["f"].flags.f_contiguous
    assert json.dumps(checkpoint.load_metadata(path)) == '{"a": [1, 2]}'


@pytest.mark.parametrize("flag", [0x01, 0x20, 0x40])  # encrypted, patched, strong encryption
def test_a_member_flagged_in_a_way_no_checkpoint_is_written_is_refused(tmp_path: Path,
                                                                       flag: int) -> None:
    path = tmp_path / "net.npz"
    checkpoint.save(path, mlp([3, 2], seed=0))
    data = bytearray(path.read_bytes())
    entry = data.find(b"PK\x01\x02")  # the first central-directory entry
    data[entry + 8] |= flag  # its general-purpose flags
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"net\.npz"):
        checkpoint.load(path)
