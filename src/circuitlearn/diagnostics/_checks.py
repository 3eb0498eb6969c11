"""Input checks shared by the diagnostics (each raises ``ValidationError``)."""

from __future__ import annotations

import numpy as np

from .._validation import finite_array
from ..errors import ValidationError
from ..hardware import SteppedCoupledLearning
from ..network import Network
from ..tasks import Task


def _check_net_task(net, task) -> None:
    if not isinstance(net, Network):
        raise ValidationError(f"net must be a circuitlearn.Network; got {type(net).__name__}")
    if not isinstance(task, Task):
        raise ValidationError(f"task must be a circuitlearn.Task; got {type(task).__name__}")
    task.check_network(net)


def _check_stepped(rule) -> SteppedCoupledLearning:
    if not isinstance(rule, SteppedCoupledLearning):
        raise ValidationError(
            "rule must be a circuitlearn.SteppedCoupledLearning (its taps and resistance map "
            f"define the tap state); got {type(rule).__name__}"
        )
    return rule


def _check_taps(taps, n_edges: int, n_taps: int) -> np.ndarray:
    """``taps`` as an int64 (E,) array of positions in ``[0, n_taps - 1]``."""
    arr = finite_array("taps", taps, ndim=1)
    if arr.shape != (n_edges,):
        raise ValidationError(
            f"taps must have shape ({n_edges},), one position per edge; got {arr.shape}"
        )
    if not np.all(arr == np.round(arr)):
        raise ValidationError("taps must be integer tap positions; got non-integer values")
    bad = np.flatnonzero((arr < 0) | (arr > n_taps - 1))
    if bad.size:
        raise ValidationError(
            f"taps must lie in [0, {n_taps - 1}] (the rule's {n_taps} positions); "
            f"taps[{bad[0]}] = {arr[bad[0]]:g}"
        )
    return arr.astype(np.int64)


def _check_trajectory(name: str, traj) -> np.ndarray:
    arr = finite_array(name, traj, ndim=2)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValidationError(f"{name} must have at least one row and one edge; got {arr.shape}")
    return arr


def _train_batch(task: Task, batch) -> tuple[np.ndarray, np.ndarray]:
    """The training inputs and targets of ``batch`` (indices; None: all)."""
    if batch is None:
        return task.x_train, task.y_train
    idx = np.asarray(batch)
    m = len(task.x_train)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValidationError(
            f"batch must be a non-empty 1-D array of training-example indices; got {batch!r:.80}"
        )
    bad = idx[(idx < 0) | (idx >= m)]
    if bad.size:
        raise ValidationError(
            f"batch holds index(es) {bad.tolist()[:5]} outside the {m} training examples 0..{m - 1}"
        )
    return task.x_train[idx], task.y_train[idx]
