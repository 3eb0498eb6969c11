"""What a sweep shows while it runs, and how it answers Ctrl-C.

``SweepProgress``: a rich progress bar on a terminal, otherwise one line to stderr at most every
``LOG_EVERY`` seconds (for logs and batch jobs). ``Interrupts``: while active, the first SIGINT
asks the executor to stop starting runs and the second stops at once. ``in_worker_bootstrap``:
whether this process is a worker re-running the main script, where a sweep must not start.

Used by ``circuitlearn.sweep``; nothing here runs a training run.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from typing import Any

from .callbacks import Ticker
from .executors import Executor

__all__ = ["LOG_EVERY", "Interrupts", "SweepProgress", "in_worker_bootstrap"]

#: Seconds between progress lines when stderr is not a terminal.
LOG_EVERY = 10.0


class SweepProgress:
    """The runs of a sweep on a ``callbacks.Ticker``: a bar on a terminal, otherwise a first
    line, one line at most every ``LOG_EVERY`` seconds and a last line."""

    def __init__(self, enabled: bool | None, total: int, done: int, where: str):
        self.ticker = None
        self.failed = 0
        if enabled is False:
            return
        # enabled=True asks for the bar even off a terminal; None decides by the terminal
        tty = None if enabled is None else True
        self.ticker = Ticker("sweep", total, "runs done", done=done, every_s=LOG_EVERY, tty=tty)
        self.ticker.line(f"{total - done} of {total} runs to do ({done} already done, {where})")
        self.ticker.update(done, f"({done} already done, {where})" if self.ticker.tty else "")

    def advance(self, failed: bool) -> None:
        self.failed += failed
        if self.ticker is not None:
            note = f"{self.failed} failed" if self.failed else ""
            self.ticker.update(self.ticker.done + 1, note)

    def log(self) -> None:
        if self.ticker is not None:
            self.ticker.update(self.ticker.done, self.ticker.note, force=True)

    def stop(self) -> None:
        if self.ticker is not None:
            self.ticker.close(final_line=True)


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
