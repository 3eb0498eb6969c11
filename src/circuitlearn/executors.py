"""Executors: where the runs of a sweep happen.

One small interface, ``Executor.run(fn, items)`` yielding ``(item, result, error)`` as tasks
finish, and ``close()``; a new backend is a new subclass. ``SerialExecutor`` runs in this
process, ``ProcessExecutor`` in a local process pool (restarted if a worker dies),
``DaskExecutor`` on a Dask ``LocalCluster`` or an existing cluster.

Stopping: ``request_stop()`` (the sweep calls it on the first Ctrl-C) makes ``run`` start no
more tasks; the ones already running finish and are yielded. ``close()`` ends everything at
once, terminating worker processes that are still busy. Local worker processes ignore SIGINT,
so a Ctrl-C in the terminal reaches only the process that drives them.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
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
    #: Set by :meth:`request_stop`; ``run`` implementations check it before starting a task.
    stop_requested = False

    @abstractmethod
    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Outcome]:
        """Call ``fn(item)`` for every item, in any order and place.

        Yields
        ------
        (item, result, error)
            As each item finishes: ``error`` is None on success, else the exception (and
            ``result`` None). Closing the generator early cancels what has not started.
        """

    def request_stop(self) -> None:
        """Ask :meth:`run` to start no more tasks; running ones finish and are yielded.

        Safe to call from a signal handler: it only sets :attr:`stop_requested`.
        """
        self.stop_requested = True

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
            if self.stop_requested:
                return
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


def _ignore_sigint() -> None:
    # Ctrl-C goes to the whole terminal process group: the driving process decides what a
    # Ctrl-C means (finish the runs in flight, or stop); workers must not die with tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_GUARD = re.compile(r"""__name__\s*==\s*['"]__main__['"]|['"]__main__['"]\s*==\s*__name__""")


def unguarded_main_script() -> str | None:
    """The main script's path if it lacks an ``if __name__ == "__main__":`` guard, else None.

    Worker processes started by spawn or a fork server import the main script again; without
    the guard, a script that starts a sweep at its top level starts it again in every worker,
    and the workers die while starting.
    """
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if not path:
        return None
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return None
    return None if _GUARD.search(text) else str(path)


def guard_message(script: str | None) -> str:
    """The error for worker processes that die while starting."""
    where = f"the script {script!r}" if script else "the main script"
    return (
        f"the worker processes died while starting: each imports {where} again, and a script "
        'that calls cl.sweep must do so under `if __name__ == "__main__":` (or use workers=1)'
    )


class ProcessExecutor(Executor):
    """Local worker processes (``concurrent.futures.ProcessPoolExecutor``).

    At most ``workers`` tasks are submitted at a time, so :meth:`request_stop` takes effect
    at the next free slot. Workers ignore SIGINT.

    Parameters
    ----------
    workers : int
        Number of processes.
    max_restarts : int
        If a worker process dies (killed, out of memory) the pool breaks; it is restarted and
        the unfinished tasks resubmitted, at most this many times before they are reported
        as failed.

    Raises
    ------
    ValidationError
        From :meth:`run`, when the pool breaks before any task finished and the main script
        has no ``if __name__ == "__main__":`` guard (the workers re-ran it).
    """

    name = "local processes"

    def __init__(self, workers: int, max_restarts: int = 3):
        self.workers = workers
        self.max_restarts = max_restarts
        self._pool: ProcessPoolExecutor | None = None

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Outcome]:
        pending = dict(enumerate(items))  # not finished yet
        queue = list(pending)  # not submitted yet, in order
        restarts = 0
        finished = 0
        ctx = _mp_context()
        while queue and not self.stop_requested:
            pool = ProcessPoolExecutor(
                max_workers=min(self.workers, len(queue)),
                mp_context=ctx,
                initializer=_ignore_sigint,
            )
            self._pool = pool
            inflight: dict[Any, int] = {}
            broken = False
            try:
                while queue or inflight:
                    while queue and len(inflight) < self.workers and not self.stop_requested:
                        i = queue.pop(0)
                        try:
                            inflight[pool.submit(fn, pending[i])] = i
                        except BrokenProcessPool:
                            queue.insert(0, i)
                            broken = True
                            break
                    if broken or not inflight:
                        break
                    done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i = inflight.pop(fut)
                        try:
                            result = fut.result()
                        except BrokenProcessPool:
                            broken = True
                            queue.insert(0, i)
                            continue
                        except Exception as exc:
                            del pending[i]
                            finished += 1
                            yield items[i], None, exc
                            continue
                        del pending[i]
                        finished += 1
                        yield items[i], result, None
                    if broken:
                        queue[:0] = sorted(inflight.values())
                        inflight.clear()
                        break
            finally:
                self._shutdown(graceful=not broken and not inflight)
            if broken and queue:
                if finished == 0 and (script := unguarded_main_script()) is not None:
                    raise ValidationError(guard_message(script))
                restarts += 1
                if restarts > self.max_restarts:
                    why = (
                        guard_message(None) + ", or they were killed or ran out of memory"
                        if finished == 0
                        else f"a worker process died {restarts} times (killed or out of memory?)"
                    )
                    err = RuntimeError(why)
                    for i in queue:
                        yield pending.pop(i), None, err
                    queue.clear()

    def _shutdown(self, graceful: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if graceful:
            pool.shutdown(wait=True)
            return
        # Busy workers would finish their task first: end them now. (The pool keeps its
        # processes in a private dict; there is no public way to stop a running task.)
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(timeout=5)

    def close(self) -> None:
        self._shutdown(graceful=False)


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
                if self.stop_requested:  # the rest is cancelled below
                    break
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
