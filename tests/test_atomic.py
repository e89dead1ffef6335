"""The atomic writer under signals and crashes: SIGTERM and SIGHUP clean up like Ctrl-C, and
what a killed writer left is removed by the next write, never what a live writer is writing."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import _atomic as atomic
from functional_nn import checkpoint

# A child that saves over ``old.npz`` and signals itself halfway through writing the arrays.
CHILD = """
import os, signal, sys
import numpy as np
from functional_nn import checkpoint
real = np.lib.format.write_array
calls = []
def write(fp, array, *args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        fp.write(b"\\x93NUMPY partial" * 1000)
        os.kill(os.getpid(), getattr(signal, sys.argv[2]))
    real(fp, array, *args, **kwargs)
np.lib.format.write_array = write
checkpoint.save(sys.argv[1], {"a": np.arange(1000.0), "b": np.ones(1000)})
print("survived")
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_signal_mid_save_leaves_the_old_file_and_no_temporary(tmp_path: Path,
                                                                 name: str) -> None:
    path = tmp_path / "old.npz"
    checkpoint.save(path, fnn.mlp([3, 2], seed=0))
    before = path.read_bytes()
    result = subprocess.run([sys.executable, "-c", CHILD, str(path), name], capture_output=True,
                            text=True, timeout=120, check=False)
    # The process still dies of the signal, as it would have: after cleaning up.
    assert result.returncode == -getattr(signal, name), result.stderr
    assert "survived" not in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["old.npz"]
    assert path.read_bytes() == before


def test_a_program_handling_sigterm_itself_keeps_its_handler(tmp_path: Path) -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda s, f: seen.append(s))
    try:
        with atomic.replacing(tmp_path / "x") as staged:
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
            os.kill(os.getpid(), signal.SIGTERM)
            staged.file.write(b"done")
        assert seen == [signal.SIGTERM]
        assert (tmp_path / "x").read_bytes() == b"done"
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_default_handlers_are_restored(tmp_path: Path) -> None:
    before = {s: signal.getsignal(s) for s in atomic.SIGNALS}
    atomic.write_bytes(tmp_path / "x", b"1")
    assert {s: signal.getsignal(s) for s in atomic.SIGNALS} == before


def test_the_next_save_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    stale = tmp_path / ".model.npz.k1ll3d_0.tmp"
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / ".model.npz.bak.k1ll3d_0.tmp"  # another target's: not ours to remove
    other.write_bytes(b"x")
    checkpoint.save(path, [np.ones(2)])
    assert sorted(os.listdir(tmp_path)) == sorted(["model.npz", other.name])


def test_a_live_writers_temporary_is_never_removed(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    live = tmp_path / ".model.npz.w0rking_.tmp"
    live.write_bytes(b"being written")
    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as its writer holds it
        checkpoint.save(path, [np.ones(2)])
        assert live.exists()
    checkpoint.save(path, [np.ones(3)])  # its writer is gone now
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
