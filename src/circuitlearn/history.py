"""What a training run records: one history row per recorded step, for R replicas at once.

Columns: ``step``; ``updates_per_edge`` (expected, ``rate * step``); ``updates`` (realised
updates per edge, cumulative mean over edges); ``examples`` (examples presented, cumulative: a
batch held for several ticks counts once); ``train_error``, ``test_error`` (V^2);
``train_accuracy``, ``test_accuracy`` (classification tasks); ``wall_time`` (s since start).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .signals import RuleState
from .tasks import Task


class Recorder:
    """History rows and (optionally) conductance trajectories of R replicas.

    Parameters
    ----------
    tasks : list of Task
        One per replica; when they are all the same object the data are not copied R times.
    record_state : bool
        Keep ``k`` (and ``taps``) at every recorded step.
    """

    def __init__(self, tasks: list[Task], record_state: bool = False):
        t0 = tasks[0]
        self.task = t0  # scoring conventions (encoding, levels) are shared by the group
        same = all(t is t0 for t in tasks)

        def stack(name):
            return getattr(t0, name)[None] if same else np.stack([getattr(t, name) for t in tasks])

        self.x_tr, self.y_tr = stack("x_train"), stack("y_train")
        self.has_test = t0.has_test
        if self.has_test:
            self.x_te, self.y_te = stack("x_test"), stack("y_test")
        if t0.encoding is not None:  # the targets' classes, once
            self.lab_tr = t0.labels(self.y_tr)
            self.lab_te = t0.labels(self.y_te) if self.has_test else None
        self._arrays: dict[str, np.ndarray] | None = None
        self.record_state = record_state
        self.cols: dict[str, list] = {}
        self.traj_k: list[np.ndarray] = []
        self.traj_taps: list[np.ndarray] = []
        self.steps: list[int] = []
        self.t0 = time.perf_counter()
        self.last: dict[str, np.ndarray] = {}

    def record(self, system, step: int, rate: float, updates, examples, state: RuleState):
        """Append one row per replica from the settled ``system`` (a ``TaskSystem``)."""
        n = len(updates)
        out_tr = system.outputs(self.x_tr)
        if system.squeeze:
            out_tr = out_tr[None]
        row = {
            "step": np.full(n, step),
            "updates_per_edge": np.full(n, rate * step),
            "updates": np.asarray(updates, float) / system.n_edges,
            "examples": np.asarray(examples, np.int64).copy(),
            "train_error": np.atleast_1d(self.task.error(out_tr, self.y_tr)),
            "test_error": np.full(n, np.nan),
        }
        if self.has_test:
            out_te = system.outputs(self.x_te)
            out_te = out_te[None] if system.squeeze else out_te
            row["test_error"] = np.atleast_1d(self.task.error(out_te, self.y_te))
        if self.task.encoding is not None:  # Task.accuracy, with the targets' classes cached
            row["train_accuracy"] = np.mean(self.task.labels(out_tr) == self.lab_tr, axis=-1)
            row["test_accuracy"] = (
                np.mean(self.task.labels(out_te) == self.lab_te, axis=-1)
                if self.has_test
                else np.full(n, np.nan)
            )
        row["wall_time"] = np.full(n, time.perf_counter() - self.t0)
        for name, values in row.items():
            self.cols.setdefault(name, []).append(values)
        self._arrays = None
        self.steps.append(step)
        if self.record_state:
            self.traj_k.append(state.k.copy())
            if state.taps is not None:
                self.traj_taps.append(state.taps.copy())
        self.last = row
        return row

    def row(self, r: int) -> dict:
        """The last recorded row of replica ``r`` as plain Python numbers."""
        return {name: v[r].item() for name, v in self.last.items()}

    def history(self, r: int) -> pd.DataFrame:
        """Replica ``r``'s history."""
        if self._arrays is None:  # (rows, R) per column, stacked once for all replicas
            self._arrays = {name: np.stack(vals) for name, vals in self.cols.items()}
        frame = {name: a[:, r] for name, a in self._arrays.items()}
        frame["step"] = np.array(self.steps, dtype=np.int64)
        return pd.DataFrame(frame)

    def trajectory(self, r: int) -> dict | None:
        """Replica ``r``'s recorded ``k`` (and ``taps``), (rows, E), with their ``step``."""
        if not self.record_state:
            return None
        out = {"k": np.array([k[r] for k in self.traj_k]), "step": np.array(self.steps)}
        if self.traj_taps:
            out["taps"] = np.array([t[r] for t in self.traj_taps])
        return out
