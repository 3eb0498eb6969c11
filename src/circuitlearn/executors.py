"""Executors: where the runs of a sweep happen.

One small interface, ``Executor.run(fn, items)`` yielding ``(item, result, error)`` as tasks
finish, and ``close()``; a new backend is a new subclass. ``SerialExecutor`` runs in this
process, ``ProcessExecutor`` in a local process pool (restarted if a worker dies),
``DaskExecutor`` on a Dask ``LocalCluster`` or an existing cluster.
"""

from __future__ import annotations

import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .errors import ValidationError

__all__ = [
    "SCHEDULERS",
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "make_executor",
]

Outcome = tuple[Any, Any, BaseException | None]


class Executor(ABC):
    """Runs independent tasks somewhere; the one interface every sweep backend implements.

    A backend subclasses this and implements :meth:`run`; :meth:`close` releases what the
    executor started. Executors are context managers.
    """

    #: Short name shown in messages.
    name = "executor"

    @abstractmethod
    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Outcome]:
        """Call ``fn(item)`` for every item, in any order and place.

        Yields
        ------
        (item, result, error)
            As each item finishes: ``error`` is None on success, else the exception (and
            ``result`` None). Closing the generator early cancels what has not started.
        """

    def close(self) -> None:
        """Release workers, pools or cluster connections this executor started."""
        return None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Run every task in this process, one after the other (``workers=1``)."""

    name = "in-process"

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Outcome]:
        for item in items:
            try:
                result = fn(item)
            except Exception as exc:  # a failed run is reported, the others go on
                yield item, None, exc
            else:
                yield item, result, None


def _mp_context() -> multiprocessing.context.BaseContext:
    # forkserver: workers fork from a clean server with circuitlearn preloaded, not from this
    # (possibly multi-threaded) process; it also keeps this process's lock file out of them.
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["circuitlearn.sweep"])
        return ctx
    return multiprocessing.get_context("spawn")


class ProcessExecutor(Executor):
    """Local worker processes (``concurrent.futures.ProcessPoolExecutor``).

    Parameters
    ----------
    workers : int
        Number of processes.
    max_restarts : int
        If a worker process dies (killed, out of memory) the pool breaks; it is restarted and
        the unfinished tasks resubmitted, at most this many times before they are reported
        as failed.
    """

    name = "local processes"

    def __init__(self, workers: int, max_restarts: int = 3):
        self.workers = workers
        self.max_restarts = max_restarts

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Outcome]:
        pending = dict(enumerate(items))
        restarts = 0
        ctx = _mp_context()
        while pending:
            pool = ProcessPoolExecutor(max_workers=min(self.workers, len(pending)), mp_context=ctx)
            futures = {pool.submit(fn, item): i for i, item in pending.items()}
            broken = False
            clean = False
            try:
                todo = set(futures)
                while todo:
                    done, todo = wait(todo, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i = futures[fut]
                        try:
                            result = fut.result()
                        except BrokenProcessPool:
                            broken = True
                            continue
                        except Exception as exc:
                            del pending[i]
                            yield items[i], None, exc
                            continue
                        del pending[i]
                        yield items[i], result, None
                clean = True
            finally:
                pool.shutdown(wait=clean, cancel_futures=True)
            if broken and pending:
                restarts += 1
                if restarts > self.max_restarts:
                    err = RuntimeError(
                        f"a worker process died {restarts} times (killed or out of memory?)"
                    )
                    for i in list(pending):
                        yield pending.pop(i), None, err


class DaskExecutor(Executor):
    """Run tasks on a Dask distributed cluster.

    Parameters
    ----------
    address : str, optional
        Scheduler of a running cluster, e.g. ``"tcp://10.0.0.5:8786"``. Without it (and
        without ``client``) a ``LocalCluster`` of ``n_workers`` single-threaded processes is
        started on the loopback interface and closed with the executor.
    client : distributed.Client, optional
        An existing client (left open on close).
    n_workers : int, optional
        Size of the started ``LocalCluster`` (default: the number of CPUs).

    Notes
    -----
    Workers write the runs themselves, so with a remote cluster the sweep's output directory
    must be on a file system every worker sees at the same path, and circuitlearn must be
    installed on the workers. Tasks on a worker that dies are rescheduled on another by the
    Dask scheduler (up to ``distributed.scheduler.allowed-failures`` times).
    """

    name = "dask"

    def __init__(
        self, address: str | None = None, *, client: Any = None, n_workers: int | None = None
    ):
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ValidationError(
                "the Dask backend needs dask.distributed: pip install 'circuitlearn[dask]'"
            ) from None
        self.address = address
        self.n_workers = n_workers
        self._client = client
        self._own_client = client is None
        self._cluster = None

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (connecting or starting the cluster on first use)."""
        if self._client is None:
            from distributed import Client, LocalCluster

            if self.address is None:
                self._cluster = LocalCluster(
                    n_workers=self.n_workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",  # loopback, any free port
                )
                self._client = Client(self._cluster)
                self.name = f"dask LocalCluster ({self.n_workers or os.cpu_count()} workers)"
            else:
                try:
                    self._client = Client(self.address, timeout="15s")
                except OSError as exc:
                    raise ValidationError(
                        f"cannot reach the Dask scheduler at {self.address!r}: {exc}"
                    ) from None
                self.name = f"dask cluster at {self.address}"
        return self._client

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Outcome]:
        from distributed import as_completed

        client = self.client
        futures = {client.submit(fn, item, pure=False): item for item in items}
        try:
            for fut in as_completed(list(futures)):
                item = futures.pop(fut)
                try:
                    result, error = fut.result(), None
                except Exception as exc:  # the run's own error, KilledWorker, CancelledError
                    result, error = None, exc
                fut.release()
                yield item, result, error
        finally:
            if futures:
                client.cancel(list(futures))

    def close(self) -> None:
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _is_dask_client(obj: Any) -> bool:
    return type(obj).__name__ == "Client" and hasattr(obj, "submit") and hasattr(obj, "cancel")


SCHEDULERS = ("processes", "local-dask", "in-process", "tcp://HOST:PORT")


def make_executor(workers: int | None = None, scheduler: Any = None) -> Executor:
    """Pick the executor for ``workers`` and ``scheduler`` (see :func:`sweep`).

    Nothing is started here: pools and clusters start when the executor first runs.
    """
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValidationError(f"workers must be an integer >= 1 or None; got {workers!r}")
    n = workers or os.cpu_count() or 1
    if isinstance(scheduler, Executor):
        return scheduler
    if _is_dask_client(scheduler):
        return DaskExecutor(client=scheduler)
    if scheduler is None:
        return SerialExecutor() if n == 1 else ProcessExecutor(n)
    if not isinstance(scheduler, str):
        raise ValidationError(
            f"scheduler must be one of {list(SCHEDULERS)}, a distributed.Client or an "
            f"Executor; got {type(scheduler).__name__}"
        )
    if scheduler == "processes":
        return ProcessExecutor(n)
    if scheduler == "in-process":
        return SerialExecutor()
    if scheduler in ("local-dask", "dask"):
        return DaskExecutor(n_workers=n)
    if "://" in scheduler:
        return DaskExecutor(scheduler)
    raise ValidationError(f"scheduler must be one of {list(SCHEDULERS)}; got {scheduler!r}")
