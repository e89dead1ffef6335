"""Scale-out on Dask: sweeps equal sequential runs bit for bit, survive failures and a killed
worker; the sharded gradient equals the whole batch's; the import hint without Dask."""

from __future__ import annotations

import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest

import functional_nn as fnn
from functional_nn import checkpoint, optim
from functional_nn.data import DatasetError, flatten_images, load_dataset
from functional_nn.recipes import Recipe, RunResult, train

pytest.importorskip("distributed", reason="needs the dask extra: pip install -e '.[dask]'")
import distributed
from distributed import Client

from functional_nn.distributed import (
    QUIET_SCHEDULER,
    ShardedData,
    SweepData,
    SweepResult,
    combine,
    connect,
    grid,
    scatter_data,
    scatter_shards,
    shard,
    sharded_value_and_grad,
    sweep,
    sweep_data,
    worker_environment,
    worker_pids,
)

# threadpoolctl has no type hints: a module handle is Any to mypy with or without it installed
threadpoolctl = pytest.importorskip("threadpoolctl", reason="needs the dask extra")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:distributed")

F = npt.NDArray[np.floating]


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """One local cluster of two single-threaded worker processes for the whole module."""
    # Dask leaves LocalCluster() and Client() unannotated: called through Any, not with an
    # ignore that would be unused (an error) where Dask is not installed
    untyped = cast("Any", distributed)
    with worker_environment(), untyped.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, scheduler_kwargs=QUIET_SCHEDULER,
            silence_logs=logging.CRITICAL) as cluster, untyped.Client(cluster) as dask:
        yield dask


@pytest.fixture(scope="module")
def data() -> SweepData:
    """A few hundred MNIST images when ``FUNCTIONAL_NN_DATA`` has them, else synthetic ones."""
    try:
        mnist = load_dataset("mnist", download=False) if os.environ.get("FUNCTIONAL_NN_DATA") \
            else None
    except DatasetError:
        mnist = None
    if mnist is not None:
        return SweepData(flatten_images(mnist.train_x[:600]), mnist.train_y[:600],
                         flatten_images(mnist.test_x[:200]), mnist.test_y[:200])
    rng = np.random.default_rng(0)
    x = rng.random((800, 784), dtype=np.float32)
    y = x[:, :10].argmax(axis=1)
    return SweepData(x[:600], y[:600], x[600:], y[600:])


def sequential(configs: Sequence[Recipe], d: SweepData) -> list[RunResult]:
    """The same runs one after another in this process, BLAS single-threaded like the workers."""
    with threadpoolctl.threadpool_limits(1):
        return [train(r, d.x, d.y, d.test_x, d.test_y, classes=d.classes) for r in configs]


def assert_same_run(result: SweepResult, reference: RunResult) -> None:
    """Bit-identical parameters and metrics (all but the seconds)."""
    assert result.status == "ok", result.message
    assert result.recipe == reference.recipe
    assert result.params is not None
    reference_params = fnn.unflatten(reference.state.params)
    for a, b in zip(fnn.array_leaves(result.params), fnn.array_leaves(reference_params),
                    strict=True):
        assert a.dtype == b.dtype
        assert a.tobytes() == b.tobytes()
    strip = [(r.epoch, r.train_loss, r.test_loss, r.test_accuracy) for r in result.history]
    assert strip == [(r.epoch, r.train_loss, r.test_loss, r.test_accuracy)
                     for r in reference.history]


# --- grid and results -----------------------------------------------------------------------


def test_grid_is_the_product_of_the_lists_in_order() -> None:
    configs = grid(learning_rate=[1e-3, 3e-3], seed=[0, 1], base=Recipe(epochs=1))
    assert [(r.learning_rate, r.seed, r.epochs) for r in configs] == [
        (1e-3, 0, 1), (1e-3, 1, 1), (3e-3, 0, 1), (3e-3, 1, 1)]
    assert [r.hidden for r in grid(hidden=[(16, 16), (32,)])] == [(16, 16), (32,)]
    assert grid() == [Recipe()]


@pytest.mark.parametrize(("lists", "match"), [
    ({"learning_rat": [1e-3]}, "unknown recipe field 'learning_rat'"),
    ({"seed": []}, "seed needs a non-empty list"),
    ({"optimizer": "adam"}, "optimizer needs a non-empty list"),
    ({"learning_rate": [-1.0]}, "learning rate must be positive"),
])
def test_bad_grids_are_named(lists: dict[str, list[object]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        grid(**lists)  # type: ignore[arg-type]


def test_bad_data_for_a_sweep_is_named() -> None:
    x, y = np.zeros((3, 4), np.float32), np.zeros(3, np.int64)
    with pytest.raises(TypeError, match=r"^data must be a Dataset or \(x, y, test_x, test_y\), "
                                        r"got str$"):
        sweep_data("abcd")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^data: test_y must be an array of samples, got list$"):
        sweep_data((x, y, x, [0, 0, 0]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^data: x has 3 samples but y has 2$"):
        sweep_data((x, y[:2], x, y))


# --- sweeps ---------------------------------------------------------------------------------


def test_a_sweep_equals_sequential_runs_bit_for_bit(client: Client, data: SweepData,
                                                    tmp_path: Path) -> None:
    configs = grid(hidden=[(16, 16), (128, 64)], learning_rate=[1e-3, 3e-3],
                   base=Recipe(epochs=2, batch_size=32))
    results = sweep(configs, data=data, client=client)
    assert [r.index for r in results] == [0, 1, 2, 3]
    for result, reference in zip(results, sequential(configs, data), strict=True):
        assert_same_run(result, reference)
        assert result.worker in worker_pids(client)
    assert pickle.loads(pickle.dumps(results[0])).to_dict() == results[0].to_dict()
    runs = tmp_path / "new" / ".." / "runs"  # the path still leads there after the sweep
    saved = sweep(configs[:2], data=data, client=client, out_dir=str(runs))
    for result, done in zip(saved, results[:2], strict=True):
        assert result.params is None
        assert result.checkpoint == str(runs / f"run-{result.index:04d}.npz")
        assert done.params is not None
        loaded = checkpoint.load(result.checkpoint, like=done.params)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(
            fnn.array_leaves(loaded), fnn.array_leaves(done.params), strict=True))


@pytest.mark.skipif(not os.environ.get("FUNCTIONAL_NN_DATA"),
                    reason="FUNCTIONAL_NN_DATA is not set")
def test_a_sweep_without_data_trains_on_mnist(client: Client) -> None:
    (result,) = sweep([Recipe(hidden=(8,), epochs=1, batch_size=256)], client=client)
    assert result.status == "ok", result.message
    assert result.test_accuracy > 0.8


def test_failed_and_diverged_runs_are_reported_and_the_others_finish(
        client: Client, data: SweepData) -> None:
    good = Recipe(hidden=(16,), epochs=1, seed=3)
    configs = [good, Recipe(hidden=(2**40,), epochs=1),  # cannot allocate: train raises
               Recipe(hidden=(16,), learning_rate=1e30, epochs=1),  # diverges at once
               Recipe(hidden=(16,), epochs=1, seed=4)]
    shared = scatter_data(client, data)  # scattered once, for any number of sweeps
    results = sweep(configs, data=shared, client=client)
    assert [r.status for r in results] == ["ok", "failed", "diverged", "ok"]
    assert "MemoryError" in results[1].message
    assert "diverged at step" in results[2].message
    assert results[1].params is None
    assert results[2].params is None
    reference = sequential([configs[0], configs[3]], data)
    assert_same_run(results[0], reference[0])
    assert_same_run(results[3], reference[1])
    assert results[2].to_dict()["test_accuracy"] is None


def test_a_sweep_that_saves_nothing_leaves_no_folder_it_made(client: Client, data: SweepData,
                                                              tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    out_dir = tmp_path / "kept" / "made" / "deep"
    diverging = [Recipe(hidden=(16,), learning_rate=1e30, epochs=1, seed=seed) for seed in (0, 1)]
    results = sweep(diverging, data=data, client=client, out_dir=str(out_dir))
    assert [r.status for r in results] == ["diverged", "diverged"]
    assert list(tmp_path.rglob("*")) == [tmp_path / "kept"]  # it was there before


def test_an_out_dir_that_is_a_file_is_named_before_any_run(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("kept")
    nothing = cast("Client", object())  # any use of the client would fail otherwise
    with pytest.raises(NotADirectoryError, match=r"^out_dir .*file exists and is not a folder$"):
        sweep([Recipe()], client=nothing, out_dir=str(tmp_path / "file"))
    with pytest.raises(OSError, match=r"^cannot create out_dir .*file/deep: Not a directory$"):
        sweep([Recipe()], client=nothing, out_dir=str(tmp_path / "file" / "deep"))
    assert (tmp_path / "file").read_text() == "kept"


def test_a_sweep_without_a_client_starts_a_local_cluster(data: SweepData) -> None:
    configs = grid(seed=[0, 1], base=Recipe(hidden=(8,), epochs=1))
    results = sweep(configs, data=(data.x, data.y, data.test_x, data.test_y), workers=1)
    for result, reference in zip(results, sequential(configs, data), strict=True):
        assert_same_run(result, reference)


# --- the sharded gradient -------------------------------------------------------------------


def batch(dtype: type[np.floating], n: int = 37) -> tuple[fnn.Sequential, F, npt.NDArray[
        np.int64]]:
    """A small network and a batch of ``n`` samples in ``dtype``."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 20)).astype(dtype)
    return fnn.mlp([20, 32, 16, 5], seed=0, dtype=dtype), x, x[:, :5].argmax(axis=1)


def assert_close(a: object, b: object, rtol: float) -> None:
    """Every leaf within ``rtol`` of the reference, relative to the reference's largest entry."""
    for x, y in zip(fnn.array_leaves(a), fnn.array_leaves(b), strict=True):
        assert x.dtype == y.dtype
        exact = np.asarray(y, dtype=np.float64)
        assert np.max(np.abs(np.asarray(x, dtype=np.float64) - exact)) <= rtol * np.max(
            np.abs(exact))


def test_shards_are_contiguous_and_nearly_equal() -> None:
    x, y = np.arange(14).reshape(7, 2), np.arange(7)
    parts = shard(x, y, 3)
    assert [p[1].tolist() for p in parts] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [len(p[1]) for p in shard(x, y, 9)] == [1] * 7 + [0, 0]
    with pytest.raises(ValueError, match="positive integer"):
        shard(x, y, 0)


def test_bad_arguments_to_the_sharded_helpers_are_named() -> None:
    part = (1.0, np.ones(2))
    with pytest.raises(ValueError, match=r"^parts: combine needs the \(loss, grads\) of at least "
                                         r"one shard$"):
        combine([], [])
    with pytest.raises(ValueError, match=r"^counts: each shard's number of samples must be a "
                                         r"positive integer, got 0$"):
        combine([part], [0])
    with pytest.raises(ValueError, match=r"^counts: 2 counts for 1 parts$"):
        combine([part], [1, 2])
    with pytest.raises(TypeError, match=r"^index: a batch of sharded data is a 1-D integer array "
                                        r"of row numbers, got list$"):
        ShardedData((), (0, 2)).rows([0, 1])  # type: ignore[arg-type]


@pytest.mark.parametrize(("dtype", "rtol"), [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_the_sharded_gradient_equals_the_whole_batch_gradient(
        client: Client, dtype: type[np.floating], rtol: float, k: int) -> None:
    params, x, y = batch(dtype)  # 37 rows: shards of unequal sizes for k = 2, 3, 4
    loss, grads = fnn.value_and_grad(params, x, y)
    vg = sharded_value_and_grad(client, k)
    value, sharded = vg(params, x, y)
    assert value == pytest.approx(loss, rel=rtol)
    assert_close(sharded, grads, rtol)
    again = vg(params, x, y)  # deterministic: the same bits every time
    assert again[0] == value
    assert all(a.tobytes() == b.tobytes() for a, b in zip(
        fnn.array_leaves(again[1]), fnn.array_leaves(sharded), strict=True))


def test_the_gradient_of_persisted_shards_takes_row_numbers(client: Client) -> None:
    params, x, y = batch(np.float64, n=50)
    data = scatter_shards(client, shard(x, y, 3))
    vg = sharded_value_and_grad(client, data)
    rows = np.array([49, 3, 17, 16, 40, 0, 33])  # rows from every shard, in any order
    value, grads = vg(params, rows, rows)
    loss, reference = fnn.value_and_grad(params, x[rows], y[rows])
    assert value == pytest.approx(loss, rel=1e-12)
    assert_close(grads, reference, 1e-12)
    full = vg(params, data.index(), data.index())  # the full batch: whole shards, no rows sent
    assert_close(full[1], fnn.grad(params, x, y), 1e-12)
    with pytest.raises(ValueError, match="row numbers as both x and y"):
        vg(params, rows, y[rows])
    with pytest.raises(ValueError, match="empty batch"):
        vg(params, rows[:0], rows[:0])
    with pytest.raises(IndexError, match=r"row numbers must lie in \[0, 50\)"):
        vg(params, np.array([50]), np.array([50]))


@pytest.mark.parametrize("persisted", [False, True])
def test_fit_with_the_sharded_gradient_matches_fit_in_one_process(
        client: Client, persisted: bool) -> None:
    params, x, y = batch(np.float32, n=96)
    opt = optim.sgd(0.1)
    state = fnn.TrainState(params, opt.init(params))
    reference = fnn.fit(fnn.train_step(opt), state,
                        fnn.epochs(x, y, batch_size=32, seed=0, count=2))
    if persisted:  # data on the workers once; batches of row numbers in the same order
        data = scatter_shards(client, shard(x, y, 2))
        vg = sharded_value_and_grad(client, data)
        stream = fnn.epochs(data.index(), data.index(), batch_size=32, seed=0, count=2)
    else:
        vg = sharded_value_and_grad(client, 2)
        stream = fnn.epochs(x, y, batch_size=32, seed=0, count=2)
    final = fnn.fit(fnn.train_step(opt, value_and_grad=vg), state, stream)
    assert final.step == reference.step == 6
    assert final.loss == pytest.approx(reference.loss, rel=1e-5)
    assert_close(final.params, reference.params, 1e-5)


# --- a worker dies --------------------------------------------------------------------------


def processing(client: Client) -> int:
    """How many tasks the scheduler has handed to workers."""
    tasks: dict[str, list[object]] = cast("Any", client).processing()  # unannotated in Dask
    return sum(len(keys) for keys in tasks.values())


def test_a_killed_worker_loses_no_runs(client: Client) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4000, 200)).astype(np.float32)
    y = x[:, :10].argmax(axis=1)
    d = SweepData(x, y, x[:500], y[:500])
    configs = grid(seed=[0, 1, 2, 3], base=Recipe(hidden=(512, 512), epochs=2))  # ~1 s each
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(sweep, configs, data=d, client=client)
        deadline = time.monotonic() + 60
        while processing(client) < 2:  # both workers are training
            assert time.monotonic() < deadline
            assert not running.done()
            time.sleep(0.02)
        victim, pid = next(iter(worker_pids(client).items()))
        os.kill(pid, signal.SIGKILL)
        results = running.result(timeout=120)
    for result, reference in zip(results, sequential(configs, d), strict=True):
        assert_same_run(result, reference)
    assert victim not in {r.worker for r in results}
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it


# --- connecting -----------------------------------------------------------------------------


def test_a_server_that_is_not_a_scheduler_is_named_within_the_timeout() -> None:
    # The kernel completes the TCP connect for a listening socket that never accepts: a server
    # that never answers Dask's handshake. The child's own timeout keeps a hang out of the suite.
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        code = ("from functional_nn.distributed import connect\n"
                "try:\n"
                f"    connect({address!r}, timeout=1)\n"
                "except OSError as error:\n"
                "    print(error)\n")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=False, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"cannot reach the Dask scheduler at {address}: no Dask handshake "
                           "after 1 s\n")


def test_the_handshake_connects_as_the_client_would(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the dask config's security (a TLS scheduler's certificates), not without it."""
    seen: dict[str, object] = {}

    async def refuse(address: str, **kwargs: object) -> None:
        seen.update(kwargs)
        raise OSError("refused")

    monkeypatch.setattr(distributed.comm, "connect", refuse)
    with pytest.raises(OSError, match="cannot reach the Dask scheduler at tcp://h:1: refused"):
        connect("tcp://h:1", timeout=1)
    security: Any = distributed.Security  # untyped
    assert seen == {"timeout": 1, **security().get_connection_args("client")}


# --- without Dask ---------------------------------------------------------------------------


def test_importing_without_dask_says_how_to_install_it() -> None:
    code = ("import sys; sys.modules['distributed'] = None\n"
            "import functional_nn, functional_nn.recipes, functional_nn.cli.sweep\n"
            "import functional_nn.distributed")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 1
    assert "ImportError" in done.stderr
    assert "pip install 'functional_nn[dask]'" in done.stderr
