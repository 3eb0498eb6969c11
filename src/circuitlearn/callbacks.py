"""Things the training loop calls after each recorded step; the loop itself knows no screen.

A callback is any callable ``callback(step, state, row) -> bool | None`` (``state`` the
``RuleState``, ``row`` the recorded values, arrays over replicas in ``train_many``); returning
False stops the run early. A callback may also have ``close()``, called when the run ends.
"""

from __future__ import annotations

import sys
import time

import numpy as np


class Progress:
    """Progress of a run: a rich bar on a terminal, else a one-line log record on stderr at most
    every ``every_s`` seconds (batch jobs, ``nohup``).

    Parameters
    ----------
    total : int
        Steps in the run.
    label : str
        Shown before the numbers.
    every_s : float
        Seconds between two log records when stderr is not a terminal.
    """

    def __init__(self, total: int, label: str = "training", every_s: float = 10.0):
        self.total, self.label, self.every_s = total, label, every_s
        self.tty = sys.stderr.isatty()
        self._bar = None
        self._t0 = self._last = time.perf_counter()

    def __call__(self, step, state, row) -> None:
        err = float(np.nanmean(row["train_error"]))
        if self.tty:
            if self._bar is None:
                from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

                self._bar = Progress(
                    TextColumn(self.label),
                    BarColumn(),
                    TextColumn("{task.completed}/{task.total} steps"),
                    TextColumn("err {task.fields[err]:.3g}"),
                    TimeRemainingColumn(),
                    transient=True,
                )
                self._task = self._bar.add_task(self.label, total=self.total, err=err)
                self._bar.start()
            self._bar.update(self._task, completed=step, err=err)
            return
        now = time.perf_counter()
        if now - self._last >= self.every_s:  # short runs stay quiet
            self._last = now
            print(
                f"{self.label}: step {step}/{self.total}, train error {err:.4g}, "
                f"{now - self._t0:.0f} s elapsed",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def progress_for(enabled: bool | None, steps: int, label: str = "training") -> Progress | None:
    """The default progress callback: ``enabled=None`` means on for runs of >= 200 steps."""
    if enabled is None:
        enabled = steps >= 200
    return Progress(steps, label) if enabled else None


class EarlyStop:
    """Stop once ``metric`` (a history column) is at or below ``threshold`` in every replica."""

    def __init__(self, threshold: float, metric: str = "train_error"):
        self.threshold, self.metric = float(threshold), metric

    def __call__(self, step, state, row) -> bool:
        return not bool(np.all(np.asarray(row[self.metric]) <= self.threshold))
