"""What a recorded stepped run did in tap space.

A trajectory is an integer array ``(T, E)`` of potentiometer positions, one row per recorded
step (``TrainResult.trajectory["taps"]``).

- ``best_visited``, ``saturation``, ``tap_msd``: the best state a run visited, how much of its
  time sat at an end tap, how far it moved in tap space per step.
- Recurrence: ``revisit_fraction`` is the fraction of rows equal to an earlier row,
  ``cycle_period`` the exact period of a trajectory that ends in a cycle, ``return_times`` the
  gaps between successive visits of one state, and ``tap_dynamics`` gathers them, with stalls
  (steps where no tap moved) and spread; ``summarize_periods`` pools periods over runs.

Units: errors in V^2, taps in positions (integers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._validation import in_range
from ..errors import ValidationError
from ._checks import _check_trajectory

__all__ = [
    "best_visited",
    "collapse_repeats",
    "cycle_period",
    "distinct_states",
    "return_times",
    "revisit_fraction",
    "saturation",
    "summarize_periods",
    "tap_dynamics",
    "tap_msd",
]


def best_visited(history: pd.DataFrame, metric: str = "train_error", tail: float | None = None):
    """The lowest value of ``metric`` over the recorded rows of a run: the quality of the best
    state it visited (as opposed to where it sits on average).

    Parameters
    ----------
    history : pandas.DataFrame
        A run's history (``TrainResult.history``).
    metric : str
        A history column (default ``"train_error"``, V^2).
    tail : float, optional
        Only the last fraction ``tail`` in (0, 1] of the rows (e.g. 0.25 for the last quarter);
        None: every row.

    Returns
    -------
    float
        ``min_t metric(t)``; ``history.loc[history[metric].idxmin()]`` gives its row.
    """
    if not isinstance(history, pd.DataFrame):
        raise ValidationError(
            "history must be a pandas DataFrame (TrainResult.history); got "
            f"{type(history).__name__}"
        )
    if metric not in history.columns:
        raise ValidationError(f"metric {metric!r} is not a history column: {list(history.columns)}")
    values = history[metric].to_numpy(dtype=float)
    if tail is not None:
        tail = in_range("tail", tail, 0, 1, low_open=True)
        values = values[len(values) - max(1, int(np.ceil(tail * len(values)))) :]
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValidationError(f"history column {metric!r} has no finite value")
    return float(values.min())


def saturation(taps_trajectory, taps: int) -> float:
    """Fraction of edge-time spent at an end tap.

    ``sat = (1 / (T E)) sum_{t, j} [s_j(t) = 0 or s_j(t) = taps - 1]`` over a recorded
    trajectory ``s`` (T rows, E edges).

    Parameters
    ----------
    taps_trajectory : array of int, shape (T, E)
        Tap positions, one row per recorded step (``TrainResult.trajectory["taps"]``).
    taps : int
        Number of tap positions of the rule (``rule.taps``).

    Returns
    -------
    float
        In [0, 1]. Edges that never learn (between two fixed nodes) count as not saturated.
    """
    traj = _check_trajectory("taps_trajectory", taps_trajectory)
    n = in_range("taps", taps, 2, None, integer=True)
    if traj.min() < 0 or traj.max() > n - 1:
        raise ValidationError(
            f"taps_trajectory holds positions outside [0, {n - 1}]: does taps={n} match the rule?"
        )
    return float(np.mean((traj == 0) | (traj == n - 1)))


def tap_msd(taps_trajectory, lags: int | Sequence[int] = 1):
    """Tap-space mean-squared displacement.

    ``MSD(l) = (1 / (T - l)) sum_{t=0}^{T-l-1} ||s(t + l) - s(t)||^2`` (taps^2): the squared
    Euclidean distance in tap space (summed over edges) between rows ``l`` apart, averaged
    over the trajectory.

    Parameters
    ----------
    taps_trajectory : array of int, shape (T, E)
        Tap positions, one row per recorded step.
    lags : int or sequence of int
        Lags in recorded rows (>= 1, < T). The lag unit is the recording interval: record every
        step (``train(..., record_state=True, record_every=1)``) to get the displacement per
        *step*; divide by E for the per-edge value.

    Returns
    -------
    float or ndarray
        ``MSD(lags)`` (taps^2), a float for an int ``lags``, else an array (L,).
    """
    traj = _check_trajectory("taps_trajectory", taps_trajectory)
    single = np.ndim(lags) == 0
    lag_list = [lags] if single else list(lags)
    if not lag_list:
        raise ValidationError("lags must name at least one lag")
    out = np.empty(len(lag_list))
    for i, lag in enumerate(lag_list):
        lag = in_range("lags", lag, 1, traj.shape[0] - 1, integer=True)
        d = traj[lag:] - traj[:-lag]
        out[i] = np.mean(np.sum(d**2, axis=1))
    return float(out[0]) if single else out


def _rows(traj) -> np.ndarray:
    t = np.asarray(traj)
    if t.ndim != 2:
        raise ValueError(f"a trajectory must have shape (T, E); got {t.shape}")
    return np.ascontiguousarray(t)


def _state_ids(traj) -> np.ndarray:
    """Integer id of each row's state: equal rows get equal ids, (T,)."""
    t = _rows(traj)
    if t.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    _, ids = np.unique(t, axis=0, return_inverse=True)
    return ids.ravel()


def distinct_states(traj) -> int:
    """Number of distinct rows (tap states) of a trajectory ``(T, E)``."""
    ids = _state_ids(traj)
    return int(np.unique(ids).size)


def revisit_fraction(traj) -> float:
    """Fraction of the rows of ``traj`` (T, E) that equal an earlier row.

    A network that settles on one state or cycles scores close to 1; a trajectory that keeps
    finding new states scores 0. NaN for an empty trajectory.
    """
    ids = _state_ids(traj)
    if ids.size == 0:
        return math.nan
    return float(1.0 - np.unique(ids).size / ids.size)


def return_times(traj) -> np.ndarray:
    """Steps between successive visits of the same state, over the whole trajectory.

    Returns
    -------
    ndarray of int
        One entry per revisit (``len == T - distinct_states``), in order of the revisits.
    """
    ids = _state_ids(traj)
    last: dict[int, int] = {}
    gaps = []
    for t, s in enumerate(ids.tolist()):
        if s in last:
            gaps.append(t - last[s])
        last[s] = t
    return np.asarray(gaps, dtype=np.int64)


def cycle_period(traj, min_repeats: int = 2, max_period: int | None = None) -> int | None:
    """Exact period of the cycle a trajectory ends in, or None.

    The trajectory ends in a cycle of period ``P`` if its last ``min_repeats * P`` rows
    repeat with period ``P``. A stalled trajectory (the last rows all equal) has period 1.

    Parameters
    ----------
    traj : array, shape (T, E)
    min_repeats : int
        How many full periods must be seen (>= 2).
    max_period : int, optional
        Longest period tried (default ``T // min_repeats``).

    Returns
    -------
    int or None
        The smallest such ``P``.
    """
    if min_repeats < 2:
        raise ValueError("min_repeats must be at least 2")
    ids = _state_ids(traj)
    n = ids.size
    top = n // min_repeats if max_period is None else min(max_period, n // min_repeats)
    if n == 0:
        return None
    # A period P needs the last state to recur P rows earlier: try only those P.
    candidates = (n - 1) - np.flatnonzero(ids[: n - 1] == ids[-1])[::-1]
    for p in candidates[candidates <= top].tolist():
        tail = ids[n - min_repeats * p :]
        if np.array_equal(tail[p:], tail[:-p]):
            return int(p)
    return None


def collapse_repeats(traj) -> np.ndarray:
    """``traj`` (T, E) without rows equal to the row before: the sequence of distinct
    consecutive states (steps where nothing moved are dropped)."""
    t = _rows(traj)
    if t.shape[0] < 2:
        return t
    keep = np.ones(t.shape[0], dtype=bool)
    keep[1:] = np.any(t[1:] != t[:-1], axis=1)
    return t[keep]


def tap_dynamics(traj, window: int | None = None, updates_per_step: float = 1.0) -> dict:
    """Recurrence and exploration statistics of a tap trajectory.

    Recurrence is measured on the sequence of *changes*: consecutive equal rows (steps where
    no tap moved, frequent when few edges update per step) are collapsed first, so a
    revisit means coming back to a state after leaving it. Steps without any move are
    counted separately as stalls.

    Parameters
    ----------
    traj : int array, shape (T, E)
        Tap positions at consecutive steps.
    window : int, optional
        Analyse only the last ``window`` rows (default: all).
    updates_per_step : float
        Expected updates per edge per step of the schedule (to express rates per update).

    Returns
    -------
    dict
        ``steps`` (rows analysed), ``changes`` (rows after collapsing repeats),
        ``revisit_fraction`` (of the collapsed rows, those equal to an earlier one),
        ``distinct_states``, ``distinct_per_update`` (distinct states per update per edge),
        ``period`` (exact period of the collapsed sequence's terminal cycle, or None),
        ``modal_return`` (most common return time in collapsed rows; None without
        revisits), ``stall_fraction`` (steps where no tap moved), ``moves_per_step`` (taps
        moved per step, mean) and ``tap_spread`` (standard deviation of each tap over the
        window, mean over edges, in taps).
    """
    t = _rows(traj)
    if window is not None:
        t = t[-window:]
    steps = t.shape[0]
    moves = np.abs(np.diff(t, axis=0)).sum(axis=1) if steps > 1 else np.zeros(0)
    c = collapse_repeats(t)
    gaps = return_times(c)
    n_distinct = distinct_states(c) if c.shape[0] else 0
    modal = None
    if gaps.size:
        vals, counts = np.unique(gaps, return_counts=True)
        modal = int(vals[np.argmax(counts)])
    upd = steps * updates_per_step
    return {
        "steps": int(steps),
        "changes": int(c.shape[0]),
        "revisit_fraction": revisit_fraction(c),
        "distinct_states": n_distinct,
        "distinct_per_update": n_distinct / upd if upd else math.nan,
        "period": cycle_period(c) if c.shape[0] >= 4 else None,
        "modal_return": modal,
        "stall_fraction": float(np.mean(moves == 0)) if moves.size else math.nan,
        "moves_per_step": float(moves.mean()) if moves.size else math.nan,
        "tap_spread": float(t.std(axis=0).mean()) if steps else math.nan,
    }


def summarize_periods(periods: Sequence[int | None]) -> dict:
    """Share of trajectories that end in an exact cycle, and the periods seen.

    Returns
    -------
    dict
        ``cycling`` (fraction with a period), ``periods`` (sorted distinct periods),
        ``median_period`` (NaN if none cycles).
    """
    ps = [p for p in periods if p is not None]
    return {
        "cycling": len(ps) / len(periods) if len(periods) else math.nan,
        "periods": sorted(set(ps)),
        "median_period": float(np.median(ps)) if ps else math.nan,
    }
