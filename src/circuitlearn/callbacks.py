"""Things the training loop calls after each recorded step; the loop itself knows no screen.

A callback is any callable ``callback(step, state, row) -> bool | None`` (``state`` the
``RuleState``, ``row`` the recorded values, arrays over replicas in ``train_many``); returning
False stops the run early. A callback may also have ``close()``, called when the run ends.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time

import numpy as np


class Ticker:
    """A count going to ``total``, shown as a rich bar on a terminal, otherwise as one log line
    on stderr at most every ``every_s`` seconds (batch jobs, ``nohup``): the one progress
    display of training runs and sweeps.

    Parameters
    ----------
    label : str
        Shown first (``"training"``, ``"sweep"``).
    total : int
        The count at the end.
    unit : str
        What is counted, after ``done/total`` (``"steps"``, ``"runs done"``).
    done : int
        The count at the start (a resumed sweep).
    every_s : float
        Seconds between two log lines when stderr is not a terminal.
    tty : bool, optional
        Force the bar (True) or the log lines (False); default: whether stderr is a terminal.
    """

    def __init__(
        self,
        label: str,
        total: int,
        unit: str,
        done: int = 0,
        every_s: float = 10.0,
        tty: bool | None = None,
    ):
        self.label, self.total, self.unit, self.done = label, total, unit, done
        self.every_s = every_s
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.t0 = self.last = time.perf_counter()
        self._bar = None
        self.note = ""

    def line(self, text: str) -> None:
        """One line on stderr (log mode only: a terminal shows the bar)."""
        if not self.tty:
            print(f"{self.label}: {text}", file=sys.stderr, flush=True)

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        """Move to ``done``; ``note`` follows the count (``"train error 0.0123"``)."""
        self.done, self.note = done, note
        if self.tty:
            if self._bar is None:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )

                self._bar = Progress(
                    TextColumn(self.label),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn(f"{self.unit} {{task.fields[note]}}"),
                    TimeElapsedColumn(),
                    TimeRemainingColumn(),
                    console=Console(stderr=True),
                    transient=True,
                )
                self._task = self._bar.add_task(self.label, total=self.total, note=note)
                self._bar.start()
            self._bar.update(self._task, completed=done, note=note)
            return
        now = time.perf_counter()
        if force or now - self.last >= self.every_s:  # short runs stay quiet
            self.last = now
            elapsed = _dt.timedelta(seconds=int(now - self.t0))
            sep = ", " if note else ""
            self.line(f"{done}/{self.total} {self.unit}{sep}{note}, {elapsed} elapsed")

    def close(self, final_line: bool = False) -> None:
        """Stop the bar (or print the last line when ``final_line``)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif final_line:
            self.update(self.done, self.note, force=True)


class Progress:
    """The training loop's progress callback: a ``Ticker`` of steps with the train error.

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
        self.ticker = Ticker(label, total, "steps", every_s=every_s)

    def __call__(self, step, state, row) -> None:
        err = float(np.nanmean(row["train_error"]))
        self.ticker.update(step, f"train error {err:.4g}")

    def close(self) -> None:
        self.ticker.close()


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
