"""Checkpoints: round trips (property tests), atomic saves, mismatches, bad files, no pickle."""

from __future__ import annotations

import builtins
import importlib
import json
import math
import os
import pickle
import stat
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import functional_nn as fnn
from functional_nn.checkpoint import (
    FORMAT,
    VERSION,
    CheckpointError,
    load,
    load_metadata,
    read_info,
    save,
)
from functional_nn.checkpoint.record import from_json, from_tree, to_treedef
from functional_nn.layers import mlp
from functional_nn.tree import leaf_paths
from tests.conftest import same_bits


@attrs.frozen
class Pair:
    """A plain attrs node."""

    left: object
    right: object


@attrs.frozen
class Tagged:
    """An attrs node with a static field."""

    value: object
    tag: object = fnn.static_field(default="t")


class Point(NamedTuple):
    """A named-tuple node."""

    x: object
    y: object


class Outer:
    """A namespace holding a nested node class."""

    @attrs.frozen
    class Inner:
        """An attrs node whose qualname has a dot."""

        w: object


@attrs.frozen
class AdamState:
    """An optimizer state nested in a training state."""

    count: int
    mu: fnn.Sequential
    nu: fnn.Sequential


@attrs.frozen
class TrainState:
    """A training state: parameters, optimizer state, a step count and the last loss."""

    params: fnn.Sequential
    opt_state: tuple[object, ...]
    step: int
    loss: float


# --- helpers --------------------------------------------------------------------------------


def assert_same(loaded: object, tree: object) -> None:
    """Bit-identical (:func:`same_bits`), arrays of the same dtype and shape and read-only."""
    assert same_bits(loaded, tree)
    for x, y in zip(fnn.tree_leaves(loaded), fnn.tree_leaves(tree), strict=True):
        if isinstance(x, np.ndarray | np.generic):
            assert isinstance(y, np.ndarray | np.generic)
            assert (x.dtype.str, x.shape) == (y.dtype.str, y.shape)
        if isinstance(x, np.ndarray):
            assert not x.flags.writeable


def checkpoint_in(directory: Path, tree: object, name: str = "model.npz") -> Path:
    path = directory / name
    save(path, tree)
    return path


def members(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def record_of(path: Path) -> dict[str, object]:
    out: dict[str, object] = json.loads(members(path)["__structure__"].tobytes())
    return out


def write_npz(path: Path, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
    with open(path, "wb") as file:
        np.savez(file, **arrays)  # type: ignore[arg-type]


def rewrite(path: Path, edit: Callable[[dict[str, object]], object]) -> None:
    """Rewrite a checkpoint's structure record through ``edit``."""
    arrays = members(path)
    record = record_of(path)
    text = json.dumps(edit(record))
    arrays["__structure__"] = np.frombuffer(text.encode(), np.uint8)
    write_npz(path, arrays)


def expect_error(path: Path, *fragments: str, like: object = None) -> str:
    with pytest.raises(CheckpointError) as info:
        load(path, like=like)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    return message


@pytest.fixture(autouse=True)
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to unpickle during a test fails it."""
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("a checkpoint was unpickled")
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


# --- strategies -----------------------------------------------------------------------------

DTYPES = [np.dtype(d) for d in ("?", "i1", "u2", "<i4", ">i4", "<i8", "<f2", "<f4", "<f8",
                                ">f8", "<c8", "<c16")]
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
arrays: st.SearchStrategy[npt.NDArray[np.generic]] = st.sampled_from(DTYPES).flatmap(
    lambda dt: hnp.arrays(dt, SHAPES))
leaves: st.SearchStrategy[object] = st.one_of(
    arrays,
    arrays.map(np.transpose),  # Fortran order and views
    st.sampled_from(DTYPES).flatmap(lambda dt: hnp.arrays(dt, ())).map(lambda a: a[()]),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.booleans(),
    st.complex_numbers(),
)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4))
static_values: st.SearchStrategy[object] = st.recursive(
    json_scalars | st.sampled_from([math.inf, -math.inf]),
    lambda c: st.one_of(st.lists(c, max_size=3), st.lists(c, max_size=3).map(tuple),
                        st.dictionaries(st.text(max_size=3), c, max_size=3)),
    max_leaves=6)
metadata_values: st.SearchStrategy[object] = st.recursive(
    json_scalars,
    lambda c: st.one_of(st.lists(c, max_size=3),
                        st.dictionaries(st.text(max_size=3), c, max_size=3)),
    max_leaves=6)


def _nodes(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=4), children, max_size=3),
        st.builds(Pair, children, children),
        st.builds(Tagged, children, static_values),
        st.builds(Point, children, children),
        st.just(None),
    )


trees: st.SearchStrategy[object] = st.recursive(leaves, _nodes, max_leaves=10)


# --- round trips ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(trees, st.dictionaries(st.text(max_size=5), metadata_values, max_size=3))
def test_round_trip_is_bit_identical(tree: object, metadata: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tree.npz"
        save(path, tree, metadata=metadata)
        assert_same(load(path), tree)
        assert_same(load(path, like=tree), tree)
        assert load_metadata(path) == json.loads(json.dumps(metadata))
        keys = [p or "<root>" for p in fnn.tree_paths(tree)]
        assert sorted(members(path)) == sorted([*keys, "__structure__"])
        assert [leaf.key for leaf in read_info(path).leaves] == keys
        first = path.read_bytes()
        save(path, tree, metadata=metadata)  # overwrite: deterministic bytes
        assert path.read_bytes() == first
        assert os.listdir(tmp) == ["tree.npz"]


def test_mlp_round_trip(tmp_path: Path) -> None:
    net = mlp([784, 16, 16, 10], seed=0)
    path = checkpoint_in(tmp_path, net)
    loaded = load(path)
    assert isinstance(loaded, fnn.Sequential)
    assert_same(loaded, net)
    same: fnn.Sequential = load(path, like=net)
    assert_same(same, net)
    info = read_info(path)
    assert info.size == fnn.param_count(net) == 13002
    assert info.structure.startswith("Sequential(layers=(Dense(w=float32[784,16], b=float32[16])")
    assert [(leaf.key, leaf.shape) for leaf in info.leaves][:2] == [
        ("layers[0].w", (784, 16)), ("layers[0].b", (16,))]
    assert info.version == VERSION


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_train_state_round_trip_and_resume(tmp_path: Path, dtype: type[np.floating]) -> None:
    net = mlp([5, 4, 3], seed=1, dtype=dtype)
    zeros = fnn.tree_map(np.zeros_like, net)
    state = TrainState(net, (AdamState(7, net, zeros), None, {"lr": 0.5}), step=7, loss=0.25)
    path = tmp_path / "state.ckpt"  # used exactly: no .npz appended
    save(path, state, metadata={"sizes": [5, 4, 3], "optimizer": {"name": "adam"}})
    assert os.listdir(tmp_path) == ["state.ckpt"]
    loaded = load(path)
    assert isinstance(loaded, TrainState)
    assert_same(loaded, state)
    assert type(loaded.step) is int
    assert type(loaded.loss) is float
    adam = loaded.opt_state[0]
    assert isinstance(adam, AdamState)
    assert type(adam.count) is int
    # resuming continues bit-identically: gradients of the loaded parameters equal the originals
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(dtype)
    y = np.arange(6) % 3
    assert_same(fnn.grad(loaded.params, x, y), fnn.grad(net, x, y))
    assert load_metadata(path) == {"sizes": [5, 4, 3], "optimizer": {"name": "adam"}}


@pytest.mark.parametrize("tree", [
    np.arange(3.0), 5, np.float32(1.5), {1: np.ones(2), 2: None}, {(1, "a"): 1.0, (0, "b"): 2},
    Tagged(np.ones(1), float("inf")), Tagged(1, (1, [2.0, None], {"k": "v"})), (), [], {},
    Outer.Inner(Point(np.int8(1), True)), {"w": None}, [None, (None,)],
])
def test_round_trip_examples(tmp_path: Path, tree: object) -> None:
    path = checkpoint_in(tmp_path, tree)
    assert_same(load(path), tree)
    assert_same(load(path, like=tree), tree)


def test_nan_static_value_round_trips(tmp_path: Path) -> None:
    loaded = load(checkpoint_in(tmp_path, Tagged(1.0, float("nan"))))
    assert isinstance(loaded, Tagged)
    assert isinstance(loaded.tag, float)
    assert loaded.tag != loaded.tag


def test_metadata_defaults_to_empty_and_is_read_without_classes(tmp_path: Path) -> None:
    assert load_metadata(checkpoint_in(tmp_path, [1])) == {}
    meta = {"model": {"sizes": (784, 16, 10), "activation": "relu"}, "epochs": 3, "lr": 0.1}
    path = tmp_path / "local.npz"

    @attrs.frozen
    class Local:
        w: object

    save(path, Local(np.ones(2)), metadata=meta)
    assert load_metadata(path) == json.loads(json.dumps(meta))
    assert read_info(path).structure == "Local(w=float64[2])"


# --- atomic saves ---------------------------------------------------------------------------


def test_failed_replace_leaves_the_old_checkpoint(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    old = mlp([3, 2], seed=0)
    path = checkpoint_in(tmp_path, old)
    before = path.read_bytes()

    def broken(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(CheckpointError, match="No space left"):
        save(path, mlp([3, 2], seed=1))
    assert os.listdir(tmp_path) == [path.name]
    assert path.read_bytes() == before
    assert_same(load(path), old)


@pytest.mark.parametrize("existing", [True, False])
def test_interrupt_mid_write_leaves_no_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             existing: bool) -> None:
    old = {"a": np.arange(4), "b": 1}
    path = tmp_path / "model.npz"
    if existing:
        save(path, old)
    before = sorted(os.listdir(tmp_path))
    real = np.lib.format.write_array
    calls: list[int] = []

    def interrupted(fp: object, array: npt.NDArray[np.generic], *args: object,
                    **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            fp.write(b"\x93NUMPY partial")  # type: ignore[attr-defined]
            raise KeyboardInterrupt
        real(fp, array, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(np.lib.format, "write_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(path, {"a": np.arange(5.0), "b": 2})
    assert sorted(os.listdir(tmp_path)) == before
    if existing:
        assert_same(load(path), old)


def test_fsync_failure_is_a_checkpoint_error(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(CheckpointError, match="Input/output error"):
        save(tmp_path / "m.npz", [1])
    assert os.listdir(tmp_path) == []


def test_file_modes(tmp_path: Path) -> None:
    path = checkpoint_in(tmp_path, [1])
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    path.chmod(0o640)
    save(path, [2])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_save_to_a_directory_or_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="directory"):
        save(tmp_path, [1])
    with pytest.raises(CheckpointError, match="No such file"):
        save(tmp_path / "missing" / "m.npz", [1])
    assert os.listdir(tmp_path) == []


# --- what cannot be saved -------------------------------------------------------------------


@pytest.mark.parametrize(("tree", "fragment"), [
    ({"a": "text"}, "leaf ['a'] is str"),
    ([np.array([object()])], "leaf [0] has dtype object"),
    ([np.array(["x"])], "leaf [0] has dtype <U1"),
    ([np.datetime64("2024-01-01")], "leaf [0] has dtype datetime64"),
    (Pair(2**63, 0), "leaf left is the int 9223372036854775808"),
    (Pair(np.ma.masked_array([1.0]), 0), "leaf left is MaskedArray"),
    (Tagged(1, np.ones(2)), "static field tag is ndarray"),
    ([Tagged(1, len)], "static field [0].tag is builtin_function_or_method"),
    ({"k": Tagged(1, {1: "a"})}, "static field ['k'].tag is a dict with non-string keys"),
    ({np.int64(3): 1}, "a dict key at <root> is int64"),
])
def test_unsavable_trees(tmp_path: Path, tree: object, fragment: str) -> None:
    path = tmp_path / "m.npz"
    with pytest.raises(CheckpointError) as info:
        save(path, tree)
    assert str(path) in str(info.value)
    assert fragment in str(info.value)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("metadata", "fragment"), [
    ({"lr": float("nan")}, "metadata['lr'] is nan"),
    ({"a": [1, {2: 3}]}, "metadata['a'][1] has the non-string key 2"),
    ({"s": {1, 2}}, "metadata['s'] is set"),
    ({"n": np.int64(1)}, "metadata['n'] is int64"),
    ([("a", 1)], "metadata must be a dict"),
])
def test_unsavable_metadata(tmp_path: Path, metadata: object, fragment: str) -> None:
    with pytest.raises(CheckpointError) as info:
        save(tmp_path / "m.npz", [1], metadata=metadata)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    assert os.listdir(tmp_path) == []


# --- mismatches with like= ------------------------------------------------------------------


def test_like_mismatches_name_the_path(tmp_path: Path) -> None:
    path = checkpoint_in(tmp_path, mlp([784, 16, 16, 10], seed=0))
    message = expect_error(path, "at layers: expected a tuple of 3, found a tuple of 5",
                           like=mlp([784, 32, 10], seed=0))
    assert "does not match like=" in message
    expect_error(path, "at layers[2].w: expected float32 array of shape (16, 17), found float32 "
                 "array of shape (16, 16)", like=mlp([784, 16, 17, 10], seed=0))
    expect_error(path, "at layers[0].w: expected float64 array of shape (784, 16), found float32",
                 like=mlp([784, 16, 16, 10], seed=0, dtype=np.float64))
    expect_error(path, "at layers[1]: expected functional_nn.layers:Tanh with fields [], found "
                 "functional_nn.layers:ReLU", like=mlp([784, 16, 16, 10], seed=0,
                                                       activation="tanh"))
    expect_error(path, "at <root>: expected a list of 1, found functional_nn.layers:Sequential "
                 "with fields ['layers']", like=[1])


def test_like_mismatches_of_leaf_types_and_static_fields(tmp_path: Path) -> None:
    path = checkpoint_in(tmp_path, Tagged({"step": 1, "x": np.float32(2)}, tag="a"))
    expect_error(path, "at value['step']: expected a Python float, found a Python int",
                 like=Tagged({"step": 1.0, "x": np.float32(2)}, tag="a"))
    expect_error(path, "at value['x']: expected numpy float64 scalar, found numpy float32",
                 like=Tagged({"step": 1, "x": np.float64(2)}, tag="a"))
    expect_error(path, "at <root>: expected static fields [('tag', 'b')], found [('tag', 'a')]",
                 like=Tagged({"step": 1, "x": np.float32(2)}, tag="b"))
    expect_error(path, "at value: expected a dict with keys ['step'], found a dict with keys "
                 "['step', 'x']", like=Tagged({"step": 1}, tag="a"))
    expect_error(path, "like= is not a tree a checkpoint can hold: leaf value['x'] is str",
                 like=Tagged({"step": 1, "x": "no"}, tag="a"))


# --- classes --------------------------------------------------------------------------------


def test_never_imports_a_module_named_by_the_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    name = "fnn_checkpoint_canary"
    (tmp_path / f"{name}.py").write_text(
        "import builtins\nbuiltins.fnn_checkpoint_canary_imported = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    thing = attrs.make_class("Thing", ["x"], frozen=True)
    thing.__module__ = name
    tree = {"t": thing(np.ones(2))}
    path = checkpoint_in(tmp_path, tree, "thing.npz")
    try:
        expect_error(path, f"class {name}:Thing is defined in module {name}, which is not "
                     f"imported; import {name} before loading")
        assert read_info(path).structure == "{'t': Thing(x=float64[2])}"
        assert name not in sys.modules
        assert not hasattr(builtins, "fnn_checkpoint_canary_imported")
        module = importlib.import_module(name)
        expect_error(path, f"module {name} has no class Thing")
        module.Thing = thing  # type: ignore[attr-defined]
        assert_same(load(path), tree)
        assert_same(load(path, like=tree), tree)
    finally:
        sys.modules.pop(name, None)
        builtins.__dict__.pop("fnn_checkpoint_canary_imported", None)


def test_local_classes_need_like(tmp_path: Path) -> None:
    @attrs.frozen
    class Local:
        w: object

    tree = Local(np.ones(3))
    path = checkpoint_in(tmp_path, tree)
    expect_error(path, "was defined inside a function", "pass like=")
    assert_same(load(path, like=tree), tree)


@pytest.mark.parametrize(("edit", "fragment"), [
    (lambda node: node.update(fields=["w", "bias"]),
     "class tests.test_checkpoint:Pair now has fields ['left', 'right'] and static fields [], "
     "but the checkpoint has ['w', 'bias']"),
    (lambda node: node.update({"class": "tests.test_checkpoint:Point"}),
     "class tests.test_checkpoint:Point is not an attrs class"),
    (lambda node: node.update({"class": "os:path"}), "module os has no class path"),
    (lambda node: node.update({"class": "functional_nn.nonexistent:X"}),
     "functional_nn has no module functional_nn.nonexistent"),
    (lambda node: node.update({"class": "os; rm -rf:X"}), "malformed class name"),
    (lambda node: node.update(fields=["x=__import__('os')", "right"]), "malformed field names"),
    (lambda node: node.update(fields=["left", "left"]), "malformed field names"),
])
def test_changed_or_bogus_classes(tmp_path: Path, edit: Callable[[dict[str, object]], None],
                                  fragment: str) -> None:
    path = checkpoint_in(tmp_path, Pair(np.ones(1), 2))

    def edit_tree(record: dict[str, object]) -> object:
        assert isinstance(record["tree"], dict)
        edit(record["tree"])
        return record

    rewrite(path, edit_tree)
    expect_error(path, fragment)


def test_the_record_is_the_trees_treedef_with_classes_named_not_looked_up() -> None:
    net = mlp([3, 4, 2], seed=0)
    record = from_json(from_tree(net)[0])
    assert isinstance(record.treedef, fnn.TreeDef)
    assert record.treedef == from_json(from_tree(mlp([5, 7, 2], seed=1))[0]).treedef
    assert record.treedef != fnn.tree_structure(net)  # stand-ins, until looked up
    assert to_treedef(record) == fnn.tree_structure(net)
    assert leaf_paths(record.treedef) == fnn.tree_paths(net)
    assert [leaf.key for leaf in record.leaves] == fnn.tree_paths(net)


# --- bad files ------------------------------------------------------------------------------


def _plain_npz(path: Path) -> None:
    write_npz(path, {"w": np.ones(3)})


def _pickled_member(path: Path) -> None:
    arrays = members(path)
    arrays["layers[0].b"] = np.array([{"evil": 1}], dtype=object)
    with open(path, "wb") as file:
        np.savez(file, allow_pickle=True, **arrays)


def _pickled_record(path: Path) -> None:
    arrays = members(path)
    arrays["__structure__"] = np.array([record_of(path)], dtype=object)
    with open(path, "wb") as file:
        np.savez(file, allow_pickle=True, **arrays)


def _drop(key: str) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        arrays = members(path)
        del arrays[key]
        write_npz(path, arrays)
    return apply


def _add(key: str) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        write_npz(path, {**members(path), key: np.zeros(1)})
    return apply


def _replace(key: str, value: npt.NDArray[np.generic]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        write_npz(path, {**members(path), key: value})
    return apply


def _record(edit: Callable[[dict[str, object]], object]) -> Callable[[Path], None]:
    return lambda path: rewrite(path, edit)


def _raw_member(path: Path) -> None:
    _drop("layers[0].b")(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("layers[0].b.npy", b"not an npy header")


def _add_raw(path: Path) -> None:
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("extra", b"raw bytes")


def _npy(path: Path) -> None:
    with open(path, "wb") as file:
        np.save(file, np.ones(3))


BAD_FILES: dict[str, tuple[Callable[[Path], object], str]] = {
    "garbage": (lambda p: p.write_bytes(b"\x00garbage" * 100), "not an npz file"),
    "empty": (lambda p: p.write_bytes(b""), "the file is empty"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
                  "not an npz file"),
    "a pickle": (lambda p: p.write_bytes(pickle.dumps({"w": 1})), "not an npz file"),
    "an npy": (_npy, "a .npy array, not an npz file"),
    "a plain npz": (_plain_npz, "no __structure__ record"),
    "a pickled array": (_pickled_member, "array 'layers[0].b' holds pickled Python objects"),
    "a pickled record": (_pickled_record, "'__structure__' holds pickled Python objects"),
    "a record of floats": (_replace("__structure__", np.ones(3)), "not a uint8 byte array"),
    "invalid JSON": (_replace("__structure__", np.frombuffer(b"{oops", np.uint8)),
                     "not valid JSON"),
    "not UTF-8": (_replace("__structure__", np.frombuffer(b"\xff\xfe", np.uint8)),
                  "not valid JSON"),
    "another format": (_record(lambda r: {**r, "format": "other"}),
                       "not a functional_nn checkpoint (format 'other')"),
    "a future version": (_record(lambda r: {**r, "version": VERSION + 1}),
                         f"unsupported checkpoint format version {VERSION + 1}"),
    "bad metadata": (_record(lambda r: {**r, "metadata": [1]}), "metadata"),
    "a malformed tree": (_record(lambda r: {**r, "tree": {"kind": "attrs"}}),
                         "malformed structure record"),
    "an unknown node": (_record(lambda r: {**r, "tree": {"kind": "set", "children": []}}),
                        "unknown node kind 'set'"),
    "an object dtype in the record": (
        _record(lambda r: json.loads(json.dumps(r).replace('"<f4"', '"|O"'))),
        "unsupported dtype '|O'"),
    "deep nesting": (_record(lambda r: {**r, "tree": json.loads("[" * 50 + "]" * 50)}),
                     "malformed structure record"),
    "a missing array": (_drop("layers[0].w"), "missing arrays ['layers[0].w']"),
    "an extra array": (_add("junk"), "unexpected arrays ['junk']"),
    "an extra raw member": (_add_raw, "unexpected arrays ['extra']"),
    "a raw member": (_raw_member, "member 'layers[0].b' is not a .npy array"),
    "a wrong shape": (_replace("layers[0].b", np.zeros(2, np.float32)),
                      "array layers[0].b is <f4 (2,), but the structure record says <f4 (3,)"),
    "a wrong dtype": (_replace("layers[0].b", np.zeros(3)), "is <f8 (3,), but the structure"),
}


LOAD_ONLY = {"a pickled array", "a raw member", "a wrong shape", "a wrong dtype"}  # leaf reads


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_are_checkpoint_errors(tmp_path: Path, case: str) -> None:
    path = checkpoint_in(tmp_path, mlp([4, 3, 2], seed=0))
    damage, fragment = BAD_FILES[case]
    damage(path)
    expect_error(path, fragment)
    if case not in LOAD_ONLY:
        for read in (load_metadata, read_info):
            with pytest.raises(CheckpointError, match=r"model\.npz"):
                read(path)


def test_missing_paths_and_directories(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.npz", "no such file")
    expect_error(tmp_path, "is a directory")
    with pytest.raises(CheckpointError, match="no such file"):
        load_metadata(tmp_path / "nope.npz")


def test_checkpoint_error_is_a_value_error() -> None:
    assert issubclass(CheckpointError, ValueError)
    assert FORMAT == "functional_nn.checkpoint"
