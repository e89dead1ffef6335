"""FIFOs, devices and symbolic links where a file is read or written: a FIFO is refused at once
(an ordinary open waits for a writer forever), a socket or device is never replaced by the atomic
writer (renaming over ``/dev/null`` would destroy it), and a symbolic link is written through."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import _atomic as atomic
from functional_nn import checkpoint

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@needs_fifo
def test_open_regular_refuses_a_fifo_a_folder_and_a_missing_file(fifo: Path) -> None:
    with pytest.raises(OSError, match="not a regular file"):
        atomic.open_regular(fifo)
    with pytest.raises(IsADirectoryError):
        atomic.open_regular(fifo.parent)
    with pytest.raises(FileNotFoundError):
        atomic.open_regular(fifo.parent / "missing")
    (fifo.parent / "plain").write_bytes(b"abc")
    with atomic.open_regular(fifo.parent / "plain") as file:
        assert file.read() == b"abc"


@needs_fifo
def test_writing_over_a_fifo_is_refused_and_the_fifo_kept(fifo: Path) -> None:
    with pytest.raises(checkpoint.CheckpointError, match=r"pipe.*not a regular file"):
        checkpoint.save(fifo, fnn.mlp([2, 2], seed=0))
    assert fifo.is_fifo()
    assert os.listdir(fifo.parent) == ["pipe"]  # no temporary file left


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets on this system")
def test_writing_over_a_socket_is_refused_and_the_socket_kept(tmp_path: Path) -> None:
    # a socket stands for every file that is not a regular one (a device such as /dev/null
    # too), without a test that would destroy a device if the writer regressed
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(OSError, match="not a regular file"):
            atomic.write_bytes(path, b"x")
        assert path.is_socket()


def test_a_symbolic_link_is_written_through(tmp_path: Path) -> None:
    target, link = tmp_path / "real.npz", tmp_path / "link.npz"
    link.symlink_to(target)  # dangling: the write creates its target
    net = fnn.mlp([2, 3], seed=0)
    checkpoint.save(link, net)
    assert link.is_symlink()
    assert target.is_file()
    checkpoint.save(link, fnn.mlp([2, 3], seed=1))  # and replaces it, keeping the link
    assert link.is_symlink()
    loaded = checkpoint.load(target, like=net)
    assert np.array_equal(fnn.array_leaves(loaded)[0], fnn.array_leaves(fnn.mlp([2, 3], seed=1))[0])


# Each reader, in a child with a time limit: a regression hangs there, not the suite.
READERS = {
    "checkpoint.load": "from functional_nn import checkpoint\n"
                       "try:\n    checkpoint.load(PATH)\n"
                       "except checkpoint.CheckpointError as e:\n    print(e)",
    "checkpoint.read_info": "from functional_nn import checkpoint\n"
                            "try:\n    checkpoint.read_info(PATH)\n"
                            "except checkpoint.CheckpointError as e:\n    print(e)",
}


@needs_fifo
@pytest.mark.parametrize("reader", sorted(READERS))
def test_readers_refuse_a_fifo_at_once(fifo: Path, reader: str) -> None:
    code = f"PATH = {str(fifo)!r}\n" + READERS[reader]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "pipe" in done.stdout
    assert "not a regular file" in done.stdout


@needs_fifo
@pytest.mark.parametrize("command", [["evaluate"], ["predict", "--index", "0"], ["plot"]])
def test_the_command_line_refuses_a_fifo_at_once(fifo: Path, command: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "functional_nn", *command, str(fifo)],
                          capture_output=True, text=True, timeout=120, check=False,
                          cwd=fifo.parent)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pipe" in lines[0], done.stderr
