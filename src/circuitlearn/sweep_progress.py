"""What a sweep shows while it runs, and how it answers Ctrl-C.

``SweepProgress``: a rich progress bar on a terminal, otherwise one line to stderr at most every
``LOG_EVERY`` seconds (for logs and batch jobs). ``Interrupts``: while active, the first SIGINT
asks the executor to stop starting runs and the second stops at once. ``in_worker_bootstrap``:
whether this process is a worker re-running the main script, where a sweep must not start.

Used by ``circuitlearn.sweep``; nothing here runs a training run.
"""

from __future__ import annotations

import datetime as _dt
import multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .executors import Executor

__all__ = ["LOG_EVERY", "Interrupts", "SweepProgress", "in_worker_bootstrap"]

#: Seconds between progress lines when stderr is not a terminal.
LOG_EVERY = 10.0


def _clock(seconds: float) -> str:
    return str(_dt.timedelta(seconds=int(seconds)))


class SweepProgress:
    """A rich bar on a terminal; otherwise one line to stderr at most every LOG_EVERY s."""

    def __init__(self, enabled: bool | None, total: int, done: int, where: str):
        self.mode = None if enabled is False else "bar"
        if enabled is None and not sys.stderr.isatty():
            self.mode = "log"
        self.total, self.done, self.failed = total, done, 0
        self.t0 = time.monotonic()
        self.last = self.t0
        self.bar = None
        if self.mode == "bar":
            self.bar = Progress(
                TextColumn("sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("runs {task.fields[note]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.bar.start()
            self.task = self.bar.add_task(
                "sweep", total=total, completed=done, note=f"({done} already done, {where})"
            )
        elif self.mode == "log":
            todo = total - done
            self._line(f"sweep: {todo} of {total} runs to do ({done} already done, {where})")

    def _line(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def advance(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        if self.bar is not None:
            self.bar.advance(self.task)
            if self.failed:
                self.bar.update(self.task, note=f"({self.failed} failed)")
        elif self.mode == "log" and time.monotonic() - self.last >= LOG_EVERY:
            self.log()

    def log(self) -> None:
        self.last = time.monotonic()
        failed = f", {self.failed} failed" if self.failed else ""
        self._line(
            f"sweep: {self.done}/{self.total} runs done{failed}, "
            f"{_clock(self.last - self.t0)} elapsed"
        )

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
        elif self.mode == "log":
            self.log()


class Interrupts:
    """While active (main thread only): the first SIGINT asks the executor to stop starting
    runs; the second raises KeyboardInterrupt; a third gets the previous handler."""

    def __init__(self, executor: Executor):
        self.executor = executor
        self.count = 0
        self.previous: Any = None
        self.active = False

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is not signal.SIG_IGN:  # e.g. started in the background with nohup
                self.previous = previous
                signal.signal(signal.SIGINT, self._handle)
                self.active = True
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count == 1:
            self.executor.request_stop()
            # os.write, not print: a signal handler must not re-enter a buffered stream
            os.write(
                2,
                b"\nsweep: Ctrl-C: finishing the runs in progress, starting no more "
                b"(Ctrl-C again to stop now)\n",
            )
            return
        self._restore()
        raise KeyboardInterrupt

    def _restore(self) -> None:
        if self.active:
            signal.signal(signal.SIGINT, self.previous or signal.default_int_handler)
            self.active = False

    def __exit__(self, *exc: object) -> None:
        self._restore()


def in_worker_bootstrap() -> bool:
    """True while a worker process re-runs the main script (spawn or fork server)."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        return True
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            return True
        frame = frame.f_back
    return False
