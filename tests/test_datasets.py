"""Tests for the registry, local loading, verification, helpers and the real MNIST."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from functional_nn.data import (
    DATASETS,
    Checksum,
    ChecksumError,
    DataFile,
    Dataset,
    DatasetError,
    DatasetSpec,
    dataset_dir,
    default_data_dir,
    flatten_images,
    get_dataset,
    load_dataset,
    one_hot,
    register_dataset,
    validate_dataset,
)
from functional_nn.data.idx import encode_idx
from functional_nn.data.registry import FILE_NAMES
from tests.conftest import needs_data


def fake_files(n_train: int = 5, n_test: int = 3, seed: int = 0) -> dict[str, bytes]:
    """Uncompressed IDX bytes of a tiny MNIST-shaped dataset, keyed by file name."""
    rng = np.random.default_rng(seed)
    arrays = [
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    ]
    return {fname: encode_idx(a) for fname, a in zip(FILE_NAMES, arrays, strict=True)}


def spec_for(files: dict[str, bytes], *, archive: dict[str, bytes] | None = None) -> DatasetSpec:
    """A spec whose content checksums are of ``files`` (or archive MD5s of ``archive``)."""

    def entry(fname: str) -> DataFile:
        """Checksum one file."""
        if archive is not None:
            return DataFile(fname, archive=Checksum("md5", hashlib.md5(archive[fname]).hexdigest()))
        return DataFile(fname, content=Checksum("sha256", hashlib.sha256(files[fname]).hexdigest()))

    tri, trl, tei, tel = (entry(f) for f in FILE_NAMES)
    return DatasetSpec("fake", ("http://unused.invalid/",), tri, trl, tei, tel)


def store(folder: Path, files: dict[str, bytes], *, gz: bool = True, level: int = 9) -> Path:
    """Write ``files`` into ``folder/fake`` (gzipped under .gz names, or decompressed)."""
    target = folder / "fake"
    target.mkdir(parents=True, exist_ok=True)
    for fname, data in files.items():
        if gz:
            (target / fname).write_bytes(gzip.compress(data, compresslevel=level, mtime=0))
        else:
            (target / fname.removesuffix(".gz")).write_bytes(data)
    return target


@pytest.mark.parametrize("gz", [True, False])
def test_loads_gz_or_raw(tmp_path: Path, gz: bool) -> None:
    """Both gzipped and decompressed copies load, read-only, with the right dtypes."""
    files = fake_files()
    store(tmp_path, files, gz=gz)
    data = load_dataset(spec_for(files), data_dir=tmp_path, download=False)
    assert data.train_x.shape == (5, 28, 28)
    assert data.test_x.shape == (3, 28, 28)
    assert (data.train_x.dtype, data.train_y.dtype) == (np.dtype(np.uint8), np.dtype(np.int64))
    assert all(not a.flags.writeable for a in attrs.astuple(data))


def test_recompressed_copy_verifies_by_content(tmp_path: Path) -> None:
    """Content checksums are of decompressed bytes, so any gzip level verifies."""
    files = fake_files()
    store(tmp_path, files, level=1)
    load_dataset(spec_for(files), data_dir=tmp_path, download=False)


def test_archive_checksum_fallback(tmp_path: Path) -> None:
    """With only an archive checksum, the exact archive verifies and a recompression does not."""
    files = fake_files()
    folder = store(tmp_path, files, level=9)
    spec = spec_for(files, archive={f: (folder / f).read_bytes() for f in FILE_NAMES})
    load_dataset(spec, data_dir=tmp_path, download=False)
    store(tmp_path, files, level=1)
    with pytest.raises(ChecksumError, match=r"publisher's \.gz"):
        load_dataset(spec, data_dir=tmp_path, download=False)


def test_checksum_mismatch_names_both_and_keeps_file(tmp_path: Path) -> None:
    """A mismatching file is reported with path and both checksums, and is not deleted."""
    expected, actual = fake_files(seed=0), fake_files(seed=1)
    folder = store(tmp_path, actual)
    spec = spec_for(expected)
    with pytest.raises(ChecksumError) as info:
        load_dataset(spec, data_dir=tmp_path, download=True)  # on-disk files: no download
    message = str(info.value)
    bad = next(f for f in FILE_NAMES if str(folder / f) in message)
    assert hashlib.sha256(expected[bad]).hexdigest() in message
    assert hashlib.sha256(actual[bad]).hexdigest() in message
    assert "verify=False" in message
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILE_NAMES)
    data = load_dataset(spec, data_dir=tmp_path, download=False, verify=False)
    assert data.train_x.shape == (5, 28, 28)


def test_lengths_must_agree(tmp_path: Path) -> None:
    """Images and labels of different lengths are rejected, naming dataset and files."""
    files = fake_files()
    files[FILE_NAMES[1]] = encode_idx(np.zeros(4, dtype=np.uint8))  # 5 images, 4 labels
    folder = store(tmp_path, files)
    with pytest.raises(DatasetError, match="5 images vs 4 labels") as info:
        load_dataset(spec_for(files), data_dir=tmp_path, download=False)
    assert "'fake'" in str(info.value)
    assert str(folder / FILE_NAMES[1]) in str(info.value)


def test_wrong_image_dtype_names_file(tmp_path: Path) -> None:
    """A structurally valid IDX file of the wrong kind is rejected by name."""
    files = fake_files()
    files[FILE_NAMES[0]] = encode_idx(np.zeros((5, 28, 28), dtype=np.float32))
    folder = store(tmp_path, files)
    with pytest.raises(DatasetError, match="expected uint8 images") as info:
        load_dataset(spec_for(files), data_dir=tmp_path, download=False, verify=False)
    assert str(folder / FILE_NAMES[0]) in str(info.value)


def test_too_many_dimensions_name_the_file_unverified(tmp_path: Path) -> None:
    """verify=False still parses strictly: 65 dimensions (more than numpy has) name the file."""
    files = fake_files()
    files[FILE_NAMES[1]] = b"\x00\x00\x08\x41" + b"\x00\x00\x00\x01" * 65 + b"\x00"
    folder = store(tmp_path, files)
    with pytest.raises(DatasetError, match="declares 65 dimensions") as info:
        load_dataset(spec_for(files), data_dir=tmp_path, download=False, verify=False)
    assert str(folder / FILE_NAMES[1]) in str(info.value)


def test_validate_dataset_checks_image_shapes() -> None:
    """Train and test images must share their per-image shape."""
    y = np.zeros(1, dtype=np.int64)
    data = Dataset(np.zeros((1, 2, 2), np.uint8), y, np.zeros((1, 3, 3), np.uint8), y)
    with pytest.raises(DatasetError, match="'toy': train images are"):
        validate_dataset(data, name="toy")


def test_unknown_name_lists_known() -> None:
    """A typo fails fast with the list of known datasets."""
    with pytest.raises(DatasetError, match="unknown dataset 'mnsit'") as info:
        load_dataset("mnsit", download=False)
    assert all(repr(name) in str(info.value) for name in DATASETS)


def test_registry_entries() -> None:
    """The three datasets are registered with four checksummed files and mirrors."""
    assert {"mnist", "fashion-mnist", "kmnist"} <= set(DATASETS)
    for spec in (DATASETS[n] for n in ("mnist", "fashion-mnist", "kmnist")):
        assert [f.name for f in spec.files] == list(FILE_NAMES)
        assert spec.mirrors
        assert all(m.endswith("/") for m in spec.mirrors)
        assert all(f.content is not None or f.archive is not None for f in spec.files)
    assert DATASETS["mnist"].mirrors[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"


def test_register_dataset_refuses_duplicates() -> None:
    """Registering an existing name needs replace=True."""
    with pytest.raises(DatasetError, match="already registered"):
        register_dataset(get_dataset("mnist"))
    assert register_dataset(get_dataset("mnist"), replace=True) is DATASETS["mnist"]


@pytest.mark.parametrize("name", ["../escape", "{tmp}/abs", "a/b", "", ".", "..", "a\0b"])
def test_a_spec_named_as_a_path_is_refused(tmp_path: Path, name: str) -> None:
    """A spec's name is its folder under data_dir: one that leads elsewhere never gets there."""
    name = name.format(tmp=tmp_path)  # absolute, but were it not refused it stays in tmp_path
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(ValueError, match=r"^dataset name must be one folder name .*, got "
                                         + re.escape(repr(name)) + "$"):
        load_dataset(attrs.evolve(get_dataset("mnist"), name=name), data_dir=data_dir,
                     mirrors=["http://127.0.0.1:9/"], timeout=1)
    assert list(tmp_path.iterdir()) == [data_dir]
    assert list(data_dir.iterdir()) == []


@pytest.mark.parametrize("download", [True, False])
def test_a_data_dir_with_a_nul_byte_is_named_in_one_line(tmp_path: Path, download: bool) -> None:
    data_dir = tmp_path / "a\0b"
    with pytest.raises(DatasetError, match=f"^{re.escape(repr(str(data_dir)))}: not a usable "
                                           "path: it holds a NUL byte$"):
        load_dataset("mnist", data_dir=data_dir, download=download,
                     mirrors=["http://127.0.0.1:9/"], timeout=1)
    assert list(tmp_path.iterdir()) == []


def test_checksum_rejects_unknown_algorithm() -> None:
    """A typo in a hash name fails when the registry entry is built."""
    with pytest.raises(ValueError, match="unknown hash algorithm 'sha-256'"):
        Checksum("sha-256", "00")


def test_data_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """data_dir beats $FUNCTIONAL_NN_DATA, which beats $XDG_CACHE_HOME, then ~/.cache."""
    monkeypatch.delenv("FUNCTIONAL_NN_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".cache" / "functional_nn"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "functional_nn"
    monkeypatch.setenv("FUNCTIONAL_NN_DATA", str(tmp_path / "env"))
    assert dataset_dir("kmnist") == tmp_path / "env" / "kmnist"
    assert dataset_dir("fashion-mnist", tmp_path / "arg") == tmp_path / "arg" / "fashion-mnist"


def test_missing_files_use_env_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without data_dir the error names the folder under $FUNCTIONAL_NN_DATA."""
    monkeypatch.setenv("FUNCTIONAL_NN_DATA", str(tmp_path))
    with pytest.raises(DatasetError, match="missing in") as info:
        load_dataset("kmnist", download=False)
    assert str(tmp_path / "kmnist") in str(info.value)


@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6)))
def test_flatten_images_property(images: npt.NDArray[np.uint8]) -> None:
    """Flattening keeps N, gives float32 in [0, 1] and equals x / 255."""
    flat = flatten_images(images)
    assert flat.dtype == np.float32
    assert flat.shape == (images.shape[0], int(np.prod(images.shape[1:])))
    expected = images.reshape(flat.shape).astype(np.float64) / 255
    np.testing.assert_allclose(flat, expected, rtol=1e-6)
    assert flat.size == 0 or (flat.min() >= 0 and flat.max() <= 1)


@given(st.lists(st.integers(0, 9), max_size=20))
def test_one_hot_property(values: list[int]) -> None:
    """Each row is a single 1 at the label's position."""
    labels = np.array(values, dtype=np.int64)
    encoded = one_hot(labels)
    assert encoded.dtype == np.float32
    assert encoded.shape == (len(values), 10)
    np.testing.assert_array_equal(encoded.sum(axis=1), np.ones(len(values)))
    np.testing.assert_array_equal(encoded.argmax(axis=1), labels)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([0, 10]), "label 10 is outside"),
        (np.array([-1]), "label -1 is outside"),
        (np.array([0.5]), "integer labels"),
        (np.zeros((2, 2), dtype=np.int64), "1-d"),
    ],
)
def test_one_hot_rejects_bad_labels(labels: npt.NDArray[np.integer], message: str) -> None:
    """Out-of-range, non-integer or multi-dimensional labels are refused by value."""
    with pytest.raises(DatasetError, match=message):
        one_hot(labels)


@needs_data
def test_real_mnist() -> None:
    """The real MNIST loads, verifies against the registry, and has the known counts."""
    data = load_dataset("mnist", download=False)
    assert data.train_x.shape == (60000, 28, 28)
    assert data.test_x.shape == (10000, 28, 28)
    assert (data.train_x.dtype, data.train_y.dtype) == (np.dtype(np.uint8), np.dtype(np.int64))
    assert data.train_y.shape == (60000,)
    assert data.test_y.shape == (10000,)
    assert np.bincount(data.train_y)[0] == 5923
    assert np.bincount(data.test_y)[0] == 980
    assert set(np.unique(data.train_y)) == set(range(10))
    flat = flatten_images(data.test_x)
    assert flat.shape == (10000, 784)
    assert (flat.min(), flat.max()) == (0.0, 1.0)
