"""Clients and clusters: a local cluster on 127.0.0.1 by default, a scheduler address otherwise.

Some of ``distributed``'s functions carry no type hints (``Client()``, ``scatter``, ``close``,
``as_completed``, ``Future.done``), so every call into them goes through a small typed function
here and no ``Any`` reaches a public signature: public functions take a ``distributed.Client``
and return ``distributed.Future[T]``. Those calls go through :func:`_untyped` rather than
``# type: ignore[no-untyped-call]``: without Dask installed mypy sees ``distributed`` as
``Any`` and would call every such ignore unused, and the type check must pass either way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import dask.config
import distributed
from distributed import Client, Future

__all__ = [
    "QUIET_SCHEDULER",
    "WORKER_ENV",
    "cancel_pending",
    "client_for",
    "close",
    "connect",
    "finished",
    "local_client",
    "pin_blas",
    "scatter",
    "scatter_each",
    "submit",
    "this_worker",
    "worker_environment",
    "worker_pids",
]

T = TypeVar("T")


def _untyped(value: object) -> Any:
    """``value`` as ``Any``: how this module calls the functions Dask leaves unannotated."""
    return value


QUIET_SCHEDULER: dict[str, object] = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}
"""No dashboard, and the scheduler's small HTTP server on a free port of 127.0.0.1 (not 8787)."""

WORKER_ENV: dict[str, str] = {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "MALLOC_TRIM_THRESHOLD_": str(32 << 20), "MALLOC_MMAP_THRESHOLD_": str(32 << 20)}
"""What worker processes start with: single-threaded BLAS, and glibc's heap kept for arrays
up to 32 MiB. Dask's default ``MALLOC_TRIM_THRESHOLD_=65536`` also freezes the mmap threshold
at 128 KiB, so every larger temporary becomes a fresh ``mmap`` with page faults: training steps
ran about 3x slower in workers than in a plain process."""


@contextlib.contextmanager
def worker_environment(env: Mapping[str, str] = WORKER_ENV) -> Iterator[None]:
    """Nannies created inside start (and restart) their worker processes with ``env``.

    Sets ``distributed.nanny.pre-spawn-environ``, and ``os.environ`` meanwhile (the nanny
    prefers values already there, and copies them into this process anyway).
    """
    saved = {name: os.environ.get(name) for name in env}
    spawn = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **env}
    os.environ.update(env)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn}):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def local_client(workers: int = 2, threads_per_worker: int = 1, *,
                 memory_limit: str | int | None = "auto",
                 log_level: int = logging.WARNING) -> Client:
    """A client of a new ``LocalCluster`` of worker processes on 127.0.0.1 (no dashboard).

    Closing the client closes the cluster. Worker processes start with :data:`WORKER_ENV`:
    single-threaded BLAS, so ``workers`` processes share the cores without oversubscribing.
    """
    for name, value in (("workers", workers), ("threads_per_worker", threads_per_worker)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    with worker_environment():
        client: Client = _untyped(distributed.Client)(
            n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
            host="127.0.0.1", dashboard_address=None, memory_limit=memory_limit,
            silence_logs=log_level, scheduler_kwargs=QUIET_SCHEDULER)
    return client


# How much longer than the timeout a handshake may take, so that a port nobody listens on
# fails with the connect's own message (it gives up at the timeout) rather than with ours.
_HANDSHAKE_GRACE = 0.25


def connect(address: str, *, timeout: float = 10.0) -> Client:
    """A client of the scheduler at ``address`` (``tcp://host:8786``), or ``OSError`` after
    about ``timeout`` seconds.

    ``distributed.Client``'s timeout bounds the TCP connect but not Dask's handshake after it,
    so a server that accepts and never answers (an HTTP server on that port) would hold the
    client forever. A bounded handshake of its own comes first; the client gets the time left.
    """
    deadline = time.monotonic() + timeout
    try:
        _handshake(address, timeout)
        left = max(deadline - time.monotonic(), 0.1)  # it answered: the client will be quick
        client: Client = _untyped(distributed.Client)(address, timeout=left)
    except (OSError, TimeoutError, ValueError) as error:  # ValueError: not an address
        reason = str(error) or type(error).__name__
        raise OSError(f"cannot reach the Dask scheduler at {address}: {reason}") from None
    return client


def _handshake(address: str, timeout: float) -> None:
    """Connect to ``address`` and exchange Dask's handshake within ``timeout`` seconds (plus
    a grace), else ``TimeoutError``; the connection is closed either way.

    Runs on an event loop of its own in another thread, so it works under a caller's running
    loop (Jupyter) too. Cancelling a pending read aborts the half-made connection.
    """
    # TLS and the like as the client would use them: the dask config's, through Security
    options = _untyped(distributed).Security().get_connection_args("client")

    async def shake() -> None:
        try:
            comm = await asyncio.wait_for(_untyped(distributed.comm).connect(
                address, timeout=timeout, **options), timeout + _HANDSHAKE_GRACE)
        except TimeoutError:
            raise TimeoutError(f"no Dask handshake after {timeout:g} s") from None
        await comm.close()

    with concurrent.futures.ThreadPoolExecutor(1, "fnn-handshake") as pool:
        pool.submit(asyncio.run, shake()).result()


@contextlib.contextmanager
def client_for(client: Client | None = None, *, address: str | None = None,
               workers: int | None = None) -> Iterator[Client]:
    """``client`` itself, else a client of ``address``, else of a new local cluster.

    A client made here is closed on exit (with its local cluster); one passed in stays open.
    """
    if client is not None:
        yield client
        return
    made = connect(address) if address is not None else local_client(workers or 2)
    try:
        yield made
    finally:
        close(made)


def submit(client: Client, func: Callable[..., T], *args: object, key: str | None = None,
           retries: int = 0) -> Future[T]:
    """``client.submit(func, *args)``, never cached by value (``pure=False``); ``key`` names it."""
    if key is None:
        return client.submit(func, *args, pure=False, retries=retries)
    return client.submit(func, *args, key=key, retries=retries)


def scatter(client: Client, value: T, *, broadcast: bool = False) -> Future[T]:
    """Send ``value`` to the workers once (to every worker with ``broadcast``): its future."""
    future: Future[T] = _untyped(client).scatter(value, broadcast=broadcast, hash=False)
    return future


def scatter_each(client: Client, values: Sequence[T]) -> list[Future[T]]:
    """Send each value to one worker, spreading them over the workers: their futures."""
    futures: list[Future[T]] = _untyped(client).scatter(list(values), hash=False)
    return futures


def finished(futures: Iterable[Future[T]]) -> Iterator[Future[T]]:
    """The futures in the order they finish (``distributed.as_completed``)."""
    done: Iterator[Future[T]] = iter(_untyped(distributed).as_completed(list(futures)))
    return done


def cancel_pending(futures: Iterable[Future[Any]]) -> None:
    """Cancel each of the futures that has not finished yet."""
    for future in futures:
        if not _untyped(future).done():
            _untyped(future).cancel()


def close(client: Client) -> None:
    """Close ``client`` (and the local cluster it started, if any)."""
    _untyped(client).close()


def worker_pids(client: Client) -> dict[str, int]:
    """Each worker's address and process id."""
    pids = client.run(os.getpid)
    return {str(address): int(pid) for address, pid in pids.items()}


def this_worker() -> str:
    """The address of the worker running the caller, or ``"local"`` outside a worker."""
    try:
        return str(distributed.get_worker().address)
    except ValueError:
        return "local"


class _Pool(Protocol):
    """One of threadpoolctl's library controllers (threadpoolctl has no type hints)."""

    num_threads: int


class _Pools(Protocol):
    """The part of threadpoolctl's ``ThreadpoolController`` used here."""

    lib_controllers: list[_Pool]

    def limit(self, *, limits: int) -> object: ...


@functools.cache
def _blas_pools() -> _Pools | None:
    """threadpoolctl's controller of this process's BLAS pools, or ``None`` without it."""
    try:  # optional and untyped: a module handle (Any) checks the same with or without it
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return None
    pools: _Pools = threadpoolctl.ThreadpoolController().select(user_api="blas")
    return pools


def pin_blas(threads: int | None) -> None:
    """Run BLAS with ``threads`` threads in this process from now on (``None``: leave it).

    OpenBLAS's float32 matrix products can round differently with another thread count, so
    workers and an in-process reference must agree on it for bit-identical runs. Uses
    ``threadpoolctl`` when installed; without it, workers keep ``OPENBLAS_NUM_THREADS`` (1
    under Dask's nanny). Process-wide: with a threaded (``processes=False``) cluster it pins
    the client's process too.
    """
    pools = _blas_pools()
    if threads is None or pools is None:
        return
    if any(pool.num_threads != threads for pool in pools.lib_controllers):
        pools.limit(limits=threads)
