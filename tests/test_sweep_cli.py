"""``functional-nn sweep``: the grid from option lists, the ranked table, ``--out`` and
``--json``, and one-line errors for bad values, missing data and an unreachable scheduler."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from functional_nn.cli import sweep as sweep_cli
from functional_nn.data import (
    DATASETS,
    DataFile,
    DatasetError,
    DatasetSpec,
    load_dataset,
    register_dataset,
    write_idx,
)
from functional_nn.data.registry import FILE_NAMES

pytest.importorskip("distributed", reason="needs the dask extra: pip install -e '.[dask]'")

import distributed

from functional_nn.distributed import QUIET_SCHEDULER, worker_environment
from tests.conftest import DATA

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:distributed")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of one local cluster of two worker processes for the whole module."""
    # LocalCluster() is unannotated in Dask: called through Any, not with an ignore that would be
    # unused (an error) where Dask is not installed
    with worker_environment(), cast("Any", distributed).LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, scheduler_kwargs=QUIET_SCHEDULER,
            silence_logs=logging.CRITICAL) as cluster:
        yield str(cluster.scheduler_address)


def has_mnist() -> bool:
    """Whether ``FUNCTIONAL_NN_DATA`` holds MNIST."""
    try:
        return bool(DATA) and load_dataset(
            "mnist", download=False) is not None
    except DatasetError:
        return False


@pytest.fixture(scope="module")
def data_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Options naming a small dataset: 300 MNIST images, else a registered synthetic one."""
    if has_mnist():
        return ["--dataset", "mnist", "--limit", "300", "--no-download"]
    folder = tmp_path_factory.mktemp("data")
    (folder / "sweep-tiny").mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (400, 8, 8), dtype=np.uint8)
    labels = (images.reshape(400, -1)[:, :10].argmax(axis=1)).astype(np.uint8)
    for name, array in zip(FILE_NAMES, (images[:300], labels[:300], images[300:],
                                        labels[300:]), strict=True):
        write_idx(folder / "sweep-tiny" / name, array)
    if "sweep-tiny" not in DATASETS:
        tri, trl, tei, tel = (DataFile(name) for name in FILE_NAMES)  # no checksums
        register_dataset(DatasetSpec("sweep-tiny", ("http://unused.invalid/",), tri, trl, tei,
                                     tel))
    return ["--dataset", "sweep-tiny", "--data-dir", str(folder), "--no-download"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``main(argv)``: the exit status, stdout and stderr."""
    status = sweep_cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def accuracies(rows: list[dict[str, object]]) -> list[float]:
    """The finished runs' test accuracies, in the given order."""
    return [float(str(r["test_accuracy"])) for r in rows if r["status"] == "ok"]


def test_json_output_and_file_hold_every_run_ranked(
        scheduler: str, data_args: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "results.json"
    status, out, err = run(["--lr", "1e-3,3e-3", "--seed", "0,1", "--epochs", "1", *data_args,
                            "--scheduler", scheduler, "--out", str(out_file), "--json"], capsys)
    assert status == 0, err
    printed = json.loads(out)  # stdout is the JSON alone; the table went to stderr
    assert printed["runs"] == printed["finished"] == 4
    assert printed["varied"] == ["learning_rate", "seed"]
    results = printed["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4]
    assert accuracies(results) == sorted(accuracies(results), reverse=True)
    assert sorted((r["recipe"]["learning_rate"], r["recipe"]["seed"]) for r in results) == [
        (1e-3, 0), (1e-3, 1), (3e-3, 0), (3e-3, 1)]
    assert json.loads(out_file.read_text())["results"] == results
    assert "rank  accuracy" in err


def test_the_table_is_sorted_and_csv_written_with_failures_reported(
        scheduler: str, data_args: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "results.csv"
    status, out, err = run(["--lr", "1e-3,1e30", "--hidden", "16,16;8", "--epochs", "1",
                            *data_args, "--scheduler", scheduler, "--out", str(out_file)],
                           capsys)
    assert status == 0, err
    lines = out.splitlines()
    header = lines.index(next(line for line in lines if line.lstrip().startswith("rank")))
    assert lines[header].split()[-2:] == ["hidden", "lr"]
    table = [line.split() for line in lines[header + 1:header + 5]]
    assert [row[0] for row in table] == ["1", "2", "-", "-"]  # the diverged runs come last
    finished = [float(row[1].rstrip("%")) for row in table[:2]]
    assert finished == sorted(finished, reverse=True)
    assert [row[5] for row in table] == ["ok", "ok", "diverged", "diverged"]
    assert err.count("warning: run") == 2
    rows = list(csv.DictReader(out_file.open()))
    assert len(rows) == 4
    assert {r["hidden"] for r in rows} == {"16,16", "8"}
    assert [r["status"] for r in rows] == ["ok", "ok", "diverged", "diverged"]


def test_checkpoints_folders_no_run_saved_to_are_removed_again(
        scheduler: str, data_args: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    made = tmp_path / "made"
    status, out, _ = run(["--lr", "1e30", "--epochs", "1", *data_args, "--scheduler", scheduler,
                          "--checkpoints", str(made / "deep")], capsys)
    assert status == 1
    assert "0 of 1 runs finished" in out
    assert not made.exists()
    status, _, err = run(["--epochs", "1", *data_args, "--scheduler", scheduler,
                          "--checkpoints", f"{__file__}/deep"], capsys)
    assert status == 1
    assert err == (f"functional-nn: error: cannot create the checkpoint folder {__file__}/deep: "
                   f"{__file__} is not a folder\n")


def test_hidden_sizes_split_on_semicolons_and_options_repeat() -> None:
    parser = argparse.ArgumentParser()
    sweep_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["sweep", "--hidden", "16,16;32", "--hidden", "none",
                              "--lr", "1e-3", "--lr", "3e-3,1e-3", "--optimizer", "sgd"])
    configs, varied = sweep_cli.build_grid(args)
    assert [(r.hidden, r.learning_rate) for r in configs] == [
        ((16, 16), 1e-3), ((16, 16), 3e-3), ((32,), 1e-3), ((32,), 3e-3), ((), 1e-3),
        ((), 3e-3)]
    assert {r.optimizer for r in configs} == {"sgd"}
    assert varied == ["hidden", "learning_rate"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--lr", "-1"], "--lr: must be positive and finite, got -1.0"),
    (["--lr", "1e-3,abc"], "--lr: expected a number, got 'abc'"),
    (["--workers", "0"], "--workers: must be a positive integer, got 0"),
    (["--optimizer", "adam,adagrad"], "--optimizer: unknown value 'adagrad'"),
    (["--hidden", "16,0"], "--hidden: hidden layer sizes must be positive integers"),
    (["--epochs", "1,,2"], "--epochs: empty value"),
    (["--out", "results.txt"], "--out: write a .json or a .csv file"),
    (["--checkpoints", __file__], "--checkpoints: " + __file__ + " exists and is not a folder"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_values_are_one_line_and_exit_2(argv: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(argv, capsys)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("functional-nn: error: ")
    assert message in err


def test_missing_data_and_an_unreachable_scheduler_are_one_line(
        data_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["--data-dir", str(tmp_path), "--no-download"], capsys)
    assert status == 1
    assert err.count("\n") == 1
    assert "dataset 'mnist' not found" in err
    status, _, err = run([*data_args, "--scheduler", "tcp://127.0.0.1:9", "--timeout", "0.5"],
                         capsys)
    assert status == 1
    assert err.count("\n") == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err


def test_a_server_that_is_not_a_scheduler_is_one_line_within_the_timeout() -> None:
    if not has_mnist():  # the child loads its data before it connects
        pytest.skip("needs MNIST in FUNCTIONAL_NN_DATA")
    # A listening socket that never accepts: the TCP connect succeeds, no handshake follows
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        done = subprocess.run([sys.executable, "-m", "functional_nn.cli.sweep", "--limit", "100",
                               "--no-download", "--scheduler", address, "--timeout", "1"],
                              capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 1
    assert done.stderr == (f"functional-nn: error: cannot reach the Dask scheduler at {address}: "
                           "no Dask handshake after 1 s\n")


def test_python_dash_m_runs_a_local_cluster(tmp_path: Path) -> None:
    bad = subprocess.run([sys.executable, "-m", "functional_nn.cli.sweep", "--lr", "-1"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("functional-nn: error: --lr:")
    if not has_mnist():
        pytest.skip("the full run needs MNIST in FUNCTIONAL_NN_DATA")
    done = subprocess.run([sys.executable, "-m", "functional_nn.cli.sweep", "--seed", "0,1",
                           "--epochs", "1", "--limit", "200", "--workers", "1", "--json"],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [r["status"] for r in json.loads(done.stdout)["results"]] == ["ok", "ok"]
