"""Download tests against a real HTTP server on 127.0.0.1 serving generated IDX files."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import socket
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import attrs
import numpy as np
import pytest

from functional_nn.data import (
    Checksum,
    DataFile,
    DatasetError,
    DatasetSpec,
    DownloadError,
    load_dataset,
)
from functional_nn.data.download import default_progress, download_file, stderr_progress
from functional_nn.data.idx import encode_idx, gzip_bound
from functional_nn.data.registry import FILE_NAMES


@attrs.define
class Route:
    """What the server sends for one path: a body, optionally lying about its length."""

    body: bytes
    claimed_length: int | None = None  # a larger Content-Length, then hang up
    delay: float = 0.0
    endless: bytes = b""  # after the body, send this again and again (no Content-Length)
    pause: float = 0.0  # between two of them
    sent: list[int] = attrs.Factory(lambda: [0])  # bytes of the endless part sent


@attrs.define
class Server:
    """A threaded HTTP server on an ephemeral loopback port that counts requests."""

    routes: dict[str, Route] = attrs.Factory(dict)
    requests: list[str] = attrs.Factory(list)
    port: int = 0

    def url(self, prefix: str) -> str:
        """Base URL of a mirror served under ``/prefix/``."""
        return f"http://127.0.0.1:{self.port}/{prefix}/"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one GET: 404 for unknown paths, else the route's (maybe short) body."""
        self.requests.append(handler.path)
        route = self.routes.get(handler.path)
        if route is None:
            handler.send_error(404)
            return
        time.sleep(route.delay)
        handler.send_response(200)
        if not route.endless:
            handler.send_header("Content-Length", str(route.claimed_length or len(route.body)))
        handler.end_headers()
        handler.wfile.write(route.body)
        handler.close_connection = True  # hang up even when the body is short
        # An endless body, bounded here only so that a broken client cannot hang the test.
        for _ in range(10_000 if route.endless else 0):
            try:
                handler.wfile.write(route.endless)
            except OSError:  # the client hung up: what it should do
                return
            route.sent[0] += len(route.endless)
            time.sleep(route.pause)


@pytest.fixture
def server() -> Iterator[Server]:
    """Run a ``Server`` for the duration of a test."""
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            """Delegate to the test server's state."""
            state.handle(self)

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    class QuietServer(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            """A client hanging up on purpose (timeouts, short bodies) is not news."""

    httpd = QuietServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    # A short poll interval keeps shutdown (once per test) fast.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@attrs.frozen
class Fake:
    """A generated dataset: its spec (checksums of its IDX bytes) and gzip bodies."""

    spec: DatasetSpec
    bodies: dict[str, bytes]
    arrays: dict[str, np.ndarray]


def make_fake(name: str = "fake", *, seed: int = 0, n_train: int = 6, n_test: int = 4) -> Fake:
    """Generate tiny random MNIST-shaped IDX files and a spec that verifies them."""
    rng = np.random.default_rng(seed)
    arrays = dict(
        zip(
            FILE_NAMES,
            [
                rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
                rng.integers(0, 10, n_train, dtype=np.uint8),
                rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
                rng.integers(0, 10, n_test, dtype=np.uint8),
            ],
            strict=True,
        )
    )
    raw = {fname: encode_idx(a) for fname, a in arrays.items()}
    tri, trl, tei, tel = (
        DataFile(fname, content=Checksum("sha256", hashlib.sha256(raw[fname]).hexdigest()))
        for fname in FILE_NAMES
    )
    spec = DatasetSpec(name, ("http://unused.invalid/",), tri, trl, tei, tel)
    bodies = {fname: gzip.compress(data, mtime=0) for fname, data in raw.items()}
    return Fake(spec, bodies, arrays)


def serve(server: Server, prefix: str, bodies: dict[str, bytes]) -> str:
    """Publish ``bodies`` under ``/prefix/`` and return that mirror's base URL."""
    for fname, body in bodies.items():
        server.routes[f"/{prefix}/{fname}"] = Route(body)
    return server.url(prefix)


def quiet(url: str, done: int, total: int | None) -> None:
    """A progress callback that shows nothing."""


def files_in(folder: Path) -> list[str]:
    """Names of everything left in ``folder`` (temporaries included), sorted."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def closed_port_url() -> str:
    """A loopback URL on a port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing/"


def test_falls_back_to_second_mirror(server: Server, tmp_path: Path) -> None:
    """A 404 on the first mirror moves on to the second, which succeeds."""
    fake = make_fake()
    mirrors = [server.url("missing"), serve(server, "good", fake.bodies)]
    data = load_dataset(fake.spec, data_dir=tmp_path, mirrors=mirrors, progress=quiet)
    np.testing.assert_array_equal(data.train_x, fake.arrays[FILE_NAMES[0]])
    np.testing.assert_array_equal(data.test_y, fake.arrays[FILE_NAMES[3]])
    assert data.train_y.dtype == np.int64
    assert files_in(tmp_path / "fake") == sorted(FILE_NAMES)
    assert sum(r.startswith("/missing/") for r in server.requests) == 4
    assert sum(r.startswith("/good/") for r in server.requests) == 4


def test_second_call_uses_cache(server: Server, tmp_path: Path) -> None:
    """Once downloaded, loading again makes no request at all."""
    fake = make_fake()
    mirrors = [serve(server, "good", fake.bodies)]
    first = load_dataset(fake.spec, data_dir=tmp_path, mirrors=mirrors, progress=quiet)
    server.requests.clear()
    second = load_dataset(fake.spec, data_dir=tmp_path, mirrors=mirrors, progress=quiet)
    assert server.requests == []
    np.testing.assert_array_equal(first.train_x, second.train_x)


def test_wrong_bytes_fail_checksum_and_leave_nothing(server: Server, tmp_path: Path) -> None:
    """A mirror serving a different (valid) file is rejected; nothing is cached."""
    fake, other = make_fake(), make_fake(seed=1)
    mirrors = [serve(server, "evil", other.bodies)]
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        load_dataset(fake.spec, data_dir=tmp_path, mirrors=mirrors, progress=quiet)
    assert mirrors[0] + FILE_NAMES[0] in str(info.value)
    assert files_in(tmp_path / "fake") == []


def test_connection_closed_mid_file_leaves_nothing(server: Server, tmp_path: Path) -> None:
    """A body shorter than its Content-Length is a failed download, not a file."""
    fake = make_fake()
    mirrors = [serve(server, "short", fake.bodies)]
    for fname, body in fake.bodies.items():
        server.routes[f"/short/{fname}"] = Route(body[: len(body) // 2], len(body))
    with pytest.raises(DownloadError, match="connection closed after"):
        load_dataset(fake.spec, data_dir=tmp_path, mirrors=mirrors, progress=quiet)
    assert files_in(tmp_path / "fake") == []


def test_interrupt_mid_download_leaves_nothing(server: Server, tmp_path: Path) -> None:
    """KeyboardInterrupt during streaming propagates and removes the temp file."""
    fake = make_fake()
    mirrors = [serve(server, "good", fake.bodies)]

    def interrupt(url: str, done: int, total: int | None) -> None:
        """Simulate Ctrl-C after the first chunk arrives."""
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_dataset(fake.spec, data_dir=tmp_path, mirrors=mirrors, progress=interrupt)
    assert files_in(tmp_path / "fake") == []


def test_all_mirrors_fail_lists_urls(server: Server, tmp_path: Path) -> None:
    """The error lists every URL tried, why it failed, and how to install by hand."""
    fake = make_fake()
    mirrors = [server.url("missing"), closed_port_url()]
    with pytest.raises(DownloadError) as info:
        load_dataset(fake.spec, data_dir=tmp_path, mirrors=mirrors, progress=quiet)
    message = str(info.value)
    for mirror in mirrors:
        assert mirror + FILE_NAMES[0] in message
    assert "HTTP 404" in message
    assert "ConnectionRefusedError" in message
    assert "data_dir=" in message
    assert "FUNCTIONAL_NN_DATA" in message
    assert str(tmp_path / "fake") in message
    assert files_in(tmp_path / "fake") == []


def test_timeout_is_reported(server: Server, tmp_path: Path) -> None:
    """A mirror slower than ``timeout`` fails with a timeout reason."""
    fake = make_fake()
    serve(server, "slow", fake.bodies)
    for route in server.routes.values():
        route.delay = 1.0
    with pytest.raises(DownloadError, match=r"timed out \(timeout=0.1s\)"):
        load_dataset(
            fake.spec, data_dir=tmp_path, mirrors=[server.url("slow")], progress=quiet, timeout=0.1
        )


def test_download_false_never_requests(server: Server, tmp_path: Path) -> None:
    """With download=False, missing files are an error and the network is untouched."""
    fake = make_fake()
    mirrors = [serve(server, "good", fake.bodies)]
    with pytest.raises(DatasetError) as info:
        load_dataset(fake.spec, data_dir=tmp_path, mirrors=mirrors, download=False)
    assert not isinstance(info.value, DownloadError)
    message = str(info.value)
    assert str(tmp_path / "fake") in message
    assert all(fname in message for fname in FILE_NAMES)
    assert "download=True" in message
    assert server.requests == []


def test_download_file_progress_and_result(server: Server, tmp_path: Path) -> None:
    """download_file reports progress up to the full size and returns check's result."""
    body = bytes(range(256)) * 1000
    server.routes["/blob/x.bin"] = Route(body)
    seen: list[tuple[int, int | None]] = []

    def record(url: str, done: int, total: int | None) -> None:
        """Remember each progress report."""
        seen.append((done, total))

    size = download_file(
        [server.url("blob") + "x.bin"],
        tmp_path / "x.bin",
        check=lambda path, url: path.stat().st_size,
        progress=record,
    )
    assert size == len(body)
    assert seen[-1] == (len(body), len(body))
    assert (tmp_path / "x.bin").read_bytes() == body
    assert files_in(tmp_path) == ["x.bin"]


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"mirrors": "http://127.0.0.1:9/x/"}, TypeError,
     "mirrors must be a sequence of URLs (str), got 'http://127.0.0.1:9/x/'"),
    ({"mirrors": [5]}, TypeError, "mirrors must be a sequence of URLs (str), got [5]"),
    ({"timeout": 0}, ValueError, "timeout must be positive and finite, got 0"),
    ({"timeout": -1}, ValueError, "timeout must be positive and finite, got -1"),
    ({"timeout": float("nan")}, ValueError, "timeout must be positive and finite, got nan"),
    ({"deadline": -1}, ValueError, "deadline must be None or > 0, got -1"),
    ({"deadline": 0}, ValueError, "deadline must be None or > 0, got 0"),
])
def test_bad_download_options_are_refused_up_front(server: Server, tmp_path: Path,
                                                   options: dict[str, object],
                                                   error: type[Exception], message: str) -> None:
    """Named in one line before anything is fetched, not once per mirror (nor a letter each)."""
    fake = make_fake()
    given: dict[str, object] = {"mirrors": [serve(server, "good", fake.bodies)], **options}
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        load_dataset(fake.spec, data_dir=tmp_path, progress=quiet, **given)  # type: ignore[arg-type]
    assert server.requests == []
    assert files_in(tmp_path) == []


def test_download_file_refuses_a_bad_timeout_before_making_folders(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^timeout must be positive and finite, got 0$"):
        download_file([closed_port_url()], tmp_path / "new" / "x.bin", check=lambda p, u: None,
                      timeout=0)
    assert files_in(tmp_path) == []


def test_download_file_names_a_destination_with_a_nul_byte(tmp_path: Path) -> None:
    dest = f"{tmp_path}/new\0/x.bin"
    with pytest.raises(DatasetError, match=f"^{re.escape(repr(dest))}: not a usable path"):
        download_file([closed_port_url()], dest, check=lambda p, u: None)
    assert files_in(tmp_path) == []


def test_no_mirrors_is_a_clear_error(tmp_path: Path) -> None:
    """An empty mirror list fails with a message saying so."""
    with pytest.raises(DownloadError, match="no mirror URLs configured"):
        download_file([], tmp_path / "x.bin", check=lambda path, url: None)


def test_stderr_progress_draws_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The terminal progress line shows the file name, percent, and ends with a newline."""
    stderr_progress("http://h/a/file.gz", 50, 100)
    stderr_progress("http://h/a/file.gz", 100, 100)
    err = capsys.readouterr().err
    assert "file.gz:  50%" in err
    assert err.endswith("100% (0.0/0.0 MB)\n")


class FakeTTY(io.StringIO):
    """A stderr stand-in that claims to be a terminal."""

    def isatty(self) -> bool:
        """Pretend to be interactive."""
        return True


def test_default_progress_only_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress is drawn by default only when stderr is a terminal."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert default_progress() is None
    monkeypatch.setattr(sys, "stderr", FakeTTY())
    assert default_progress() is stderr_progress


def test_failed_download_leaves_no_new_folders(tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: the connection is refused at once
    dest = tmp_path / "typo" / "deeper" / "file.gz"
    with pytest.raises(DownloadError, match=f"127.0.0.1:{port}"):
        download_file([f"http://127.0.0.1:{port}/file.gz"], dest, check=lambda p, u: None,
                      timeout=2)
    assert list(tmp_path.iterdir()) == []



@pytest.mark.parametrize("path", ["new1/../new2/file.gz", "new1/./../new2/./deeper/file.gz",
                                  "kept/../new1/../kept/new2/file.gz"])
def test_failed_download_through_dot_dot_leaves_no_new_folders(tmp_path: Path, path: str
                                                                ) -> None:
    """Every folder the download made goes, though past a ``..`` it is no parent of the next;
    a folder that was there before stays."""
    (tmp_path / "kept").mkdir()
    with pytest.raises(DownloadError, match="every mirror failed"):
        download_file([closed_port_url() + "file.gz"], tmp_path / path, check=lambda p, u: None,
                      timeout=2)
    assert files_in(tmp_path) == ["kept"]
    assert files_in(tmp_path / "kept") == []


def test_a_successful_download_through_dot_dot_keeps_the_path_it_was_given(
        server: Server, tmp_path: Path) -> None:
    """``new1/../new2`` needs ``new1`` to lead to the file: both stay."""
    body = b"payload"
    server.routes["/m/x.bin"] = Route(body)
    given = tmp_path / "new1" / ".." / "new2" / "x.bin"
    download_file([server.url("m") + "x.bin"], given, check=lambda p, u: None)
    assert files_in(tmp_path) == ["new1", "new2"]
    assert given.read_bytes() == body

# --- bodies that would never end, or take forever -------------------------------------------


def sized_fake(size: bool = True) -> tuple[Fake, bytes]:
    """A fake dataset whose first file's size is in its spec, and an IDX header of that file."""
    fake = make_fake()
    data = encode_idx(fake.arrays[FILE_NAMES[0]])
    first = attrs.evolve(fake.spec.train_images, size=len(data) if size else None)
    return attrs.evolve(fake, spec=attrs.evolve(fake.spec, train_images=first)), data[:16]


def most_seen() -> tuple[list[int], Callable[[str, int, int | None], None]]:
    seen = [0]

    def record(url: str, done: int, total: int | None) -> None:
        seen[0] = max(seen[0], done)

    return seen, record


@pytest.mark.parametrize("compressed", [True, False])
def test_an_endless_body_is_cut_off_at_the_size_its_header_declares(
        server: Server, tmp_path: Path, compressed: bool) -> None:
    fake, header = sized_fake(size=False)
    body = header + bytes(1 << 16)
    if compressed:  # an endless gzip stream: deflate of zeros, never finished
        packer = zlib.compressobj(1, zlib.DEFLATED, 31)
        body = packer.compress(header + bytes(1 << 20)) + packer.flush(zlib.Z_SYNC_FLUSH)
        filler = packer.compress(bytes(1 << 22)) + packer.flush(zlib.Z_SYNC_FLUSH)
    else:
        filler = bytes(1 << 16)
    route = Route(body, endless=filler)
    server.routes["/endless/" + FILE_NAMES[0]] = route
    seen, record = most_seen()
    with pytest.raises(DownloadError, match="the body is longer than"):
        load_dataset(fake.spec, data_dir=tmp_path, mirrors=[server.url("endless")],
                     progress=record, timeout=5)
    declared = 16 + 6 * 28 * 28
    assert seen[0] <= (gzip_bound(declared) if compressed else declared)
    assert route.sent[0] < 64 << 20  # the server was stopped by the client hanging up
    assert files_in(tmp_path / "fake") == []


def test_a_body_that_is_no_idx_file_is_refused_on_its_first_bytes(server: Server,
                                                                  tmp_path: Path) -> None:
    fake, _ = sized_fake()
    route = Route(b"<html>" + b" " * 1000, endless=b"<p>not a data file</p>" * 1000)
    server.routes["/html/" + FILE_NAMES[0]] = route
    seen, record = most_seen()
    with pytest.raises(DownloadError, match="bad IDX magic"):
        load_dataset(fake.spec, data_dir=tmp_path, mirrors=[server.url("html")],
                     progress=record, timeout=5)
    assert seen[0] == 0  # refused before a byte was written
    assert files_in(tmp_path / "fake") == []


def test_a_content_length_beyond_the_registry_size_is_refused_unread(server: Server,
                                                                     tmp_path: Path) -> None:
    fake, header = sized_fake()
    server.routes["/big/" + FILE_NAMES[0]] = Route(header, claimed_length=10**10)
    seen, record = most_seen()
    with pytest.raises(DownloadError, match=r"would be 10000000000 bytes \(its Content-Length\)"):
        load_dataset(fake.spec, data_dir=tmp_path, mirrors=[server.url("big")],
                     progress=record, timeout=5)
    assert seen[0] == 0


def test_a_slow_mirror_fails_at_the_deadline(server: Server, tmp_path: Path) -> None:
    fake, header = sized_fake(size=False)
    server.routes["/slow/" + FILE_NAMES[0]] = Route(header, endless=b"\0" * 100, pause=0.05)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"took longer than the deadline of 0\.5 s"):
        load_dataset(fake.spec, data_dir=tmp_path, mirrors=[server.url("slow")],
                     progress=quiet, timeout=5, deadline=0.5)
    assert time.monotonic() - started < 5  # the deadline, not the 5 s per-read timeout
    assert files_in(tmp_path / "fake") == []
