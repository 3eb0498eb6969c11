"""All statistics of circuitlearn: comparisons of training runs over seeds, and recurrence
analysis of stepped trajectories. Sweeps, figures and experiments compute their intervals
here and nowhere else.

Three kinds of helpers:

- **Comparisons over seeds**: Student-t confidence intervals of a mean (``mean_ci``),
  geometric means of errors with their intervals (``geo_mean_ci``; ``log_band`` for whole
  learning curves), paired ratios of final errors (``ratio_ci``), and the Mann-Whitney U test
  with a common-language effect size (``mann_whitney``).
- **Tables of runs**: ``summarize`` (mean and 95 % interval of a final metric per grid point
  of a sweep table) and ``tail_mean`` (the mean of a history column over its last updates).
- **Tap-space dynamics** of the stepped hardware: a trajectory is an integer array ``(T, E)``
  of potentiometer positions, one row per step. ``revisit_fraction`` is the fraction of rows
  equal to an earlier row, ``cycle_period`` the exact period of a trajectory that ends in a
  cycle, ``return_times`` the gaps between successive visits of one state, and
  ``tap_dynamics`` gathers them, with stalls (steps where no tap moved) and spread.

Errors are positive and span decades, so their comparisons are made on ``log`` errors:
``ratio_ci`` returns the geometric mean of per-seed ratios ``a_i / b_i`` with the t interval
taken on ``log(a_i / b_i)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "collapse_repeats",
    "cycle_period",
    "distinct_states",
    "fdr_bh",
    "geo_mean_ci",
    "is_replicate",
    "log_band",
    "mann_whitney",
    "mean_ci",
    "ratio_ci",
    "return_times",
    "revisit_fraction",
    "summarize",
    "summarize_periods",
    "tail_mean",
    "tap_dynamics",
]


def _finite(values) -> np.ndarray:
    v = np.asarray(values, dtype=float).ravel()
    return v[np.isfinite(v)]


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval of the finite ``values``.

    Parameters
    ----------
    values : array_like
        Samples (NaN and infinities are dropped).
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    tuple of float
        ``(mean, low, high)``; the interval collapses to the mean for one sample and is all
        NaN for none.
    """
    v = _finite(values)
    n = v.size
    if n == 0:
        return math.nan, math.nan, math.nan
    m = float(v.mean())
    if n == 1:
        return m, m, m
    half = float(_t_half_width(v.std(ddof=1), n, level))
    return m, m - half, m + half


def geo_mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Geometric mean of positive ``values`` with the t interval taken on their logs.

    Returns
    -------
    tuple of float
        ``(geometric mean, low, high)``; non-positive and non-finite values are dropped.
    """
    v = _finite(values)
    v = v[v > 0]
    m, lo, hi = mean_ci(np.log(v), level)
    return math.exp(m), math.exp(lo), math.exp(hi)


def _t_half_width(std: np.ndarray | float, n: int, level: float):
    """Half-width of the two-sided Student-t interval of a mean of ``n`` samples."""
    from scipy import stats

    return stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n)


def log_band(values, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geometric mean over axis 0 of positive ``values`` and its Student-t interval: the band
    of a learning curve over seeds.

    Parameters
    ----------
    values : array_like, shape (n, T)
        One row per seed (errors, positive; values below 1e-300 are clipped to it).
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    (centre, low, high) : ndarray, each shape (T,)
        The interval is taken on the logs; it collapses to the centre for one row.
    """
    v = np.log(np.clip(np.asarray(values, dtype=float), 1e-300, None))
    n = v.shape[0]
    m = v.mean(axis=0)
    if n < 2:
        return np.exp(m), np.exp(m), np.exp(m)
    half = _t_half_width(v.std(axis=0, ddof=1), n, level)
    return np.exp(m), np.exp(m - half), np.exp(m + half)


def tail_mean(history: pd.DataFrame, column: str, fraction: float) -> float:
    """Mean of ``column`` over the last ``fraction`` of the recorded updates per edge.

    Parameters
    ----------
    history : DataFrame
        A run's history (``TrainResult.history``), with ``updates_per_edge``.
    column : str
        E.g. ``"test_error"`` (V^2).
    fraction : float
        Share of the run, in updates per edge, to average over (0.2: the last 20 %).

    Returns
    -------
    float
        NaN when no record falls in the tail.
    """
    upe = history["updates_per_edge"].to_numpy()
    start = upe[-1] * (1.0 - fraction)
    vals = history[column].to_numpy()[upe >= start - 1e-9]
    return float(np.mean(vals)) if vals.size else math.nan


def is_replicate(key: str) -> bool:
    """True for a grid key that only picks a replicate: its last part ends in ``seed``
    (``train.seed``, ``network.seed``)."""
    return key.split(".")[-1].endswith("seed")


def summarize(
    table: pd.DataFrame, by: Sequence[str] | None = None, metric: str | None = None
) -> pd.DataFrame:
    """Mean and 95 % confidence interval of a final metric per group of grid values.

    Parameters
    ----------
    table : DataFrame
        One row per run (``cl.sweep_table``): ``run_id``, the grid columns (dotted config
        keys such as ``schedule.p``) and the final metrics (plain names such as
        ``test_error``).
    by : list of str, optional
        Columns to group by; default every grid column except seeds (keys ending in
        ``seed``), which are treated as replicates.
    metric : str, optional
        Default ``test_error``, or ``train_error`` when no run has a test set.

    Returns
    -------
    pandas.DataFrame
        The group columns, ``n``, ``<metric>_mean``, ``<metric>_ci95`` (half-width of the
        Student-t interval; NaN for n = 1), ``train_error_mean`` and, for classification
        tasks, ``test_accuracy_mean``.
    """
    grid = [c for c in table.columns if "." in str(c)]
    by = [c for c in grid if not is_replicate(c)] if by is None else list(by)
    if metric is None:
        metric = "test_error" if table["test_error"].notna().any() else "train_error"
    groups = table.groupby(by, dropna=False, sort=False) if by else [((), table)]
    rows = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        vals = g[metric].dropna().to_numpy(dtype=float)
        n = len(vals)
        ci = float(_t_half_width(vals.std(ddof=1), n, 0.95)) if n > 1 else math.nan
        row = dict(zip(by, key, strict=True))
        row.update({"n": n, f"{metric}_mean": vals.mean() if n else math.nan, f"{metric}_ci95": ci})
        if metric != "train_error":
            row["train_error_mean"] = g["train_error"].mean()
        if "test_accuracy" in g:
            row["test_accuracy_mean"] = g["test_accuracy"].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def ratio_ci(a, b, level: float = 0.95) -> dict:
    """Paired ratio of ``a`` to ``b`` (e.g. final errors of two schedules on the same seeds).

    Parameters
    ----------
    a, b : array_like, shape (n,)
        Positive values; entry ``i`` of both belongs to the same seed. Pairs with a
        non-finite or non-positive member are dropped.
    level : float
        Confidence level.

    Returns
    -------
    dict
        ``ratio`` (geometric mean of ``a_i / b_i``), ``low``, ``high`` (its t interval),
        ``change`` (``ratio - 1``: +0.1 means ``a`` is 10 % larger), ``n`` (pairs used) and
        ``p_wilcoxon`` (two-sided Wilcoxon signed-rank p-value of the log ratios, NaN for
        fewer than 2 pairs or all-zero differences).
    """
    from scipy import stats

    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"a and b must be paired: shapes {a.shape} and {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    lr = np.log(a[ok] / b[ok])
    m, lo, hi = mean_ci(lr, level)
    p = math.nan
    if lr.size >= 2 and np.any(lr != 0):
        p = float(stats.wilcoxon(lr).pvalue)
    r = math.exp(m) if lr.size else math.nan
    return {
        "ratio": r,
        "low": math.exp(lo) if lr.size else math.nan,
        "high": math.exp(hi) if lr.size else math.nan,
        "change": r - 1.0,
        "n": int(lr.size),
        "p_wilcoxon": p,
    }


def mann_whitney(a, b) -> dict:
    """Two-sided Mann-Whitney U test of samples ``a`` against ``b``.

    Returns
    -------
    dict
        ``median_a``, ``median_b``, ``u`` (the statistic of ``a``), ``p`` (two-sided
        p-value), ``p_a_less`` (common-language effect size: the probability that a random
        ``a`` is below a random ``b``, ties counted half), ``n_a``, ``n_b``.
    """
    from scipy import stats

    a, b = _finite(a), _finite(b)
    if a.size == 0 or b.size == 0:
        nan = math.nan
        return {
            "median_a": nan,
            "median_b": nan,
            "u": nan,
            "p": nan,
            "p_a_less": nan,
            "n_a": int(a.size),
            "n_b": int(b.size),
        }
    res = stats.mannwhitneyu(a, b, alternative="two-sided")
    less = (a[:, None] < b[None, :]).mean() + 0.5 * (a[:, None] == b[None, :]).mean()
    return {
        "median_a": float(np.median(a)),
        "median_b": float(np.median(b)),
        "u": float(res.statistic),
        "p": float(res.pvalue),
        "p_a_less": float(less),
        "n_a": int(a.size),
        "n_b": int(b.size),
    }


def fdr_bh(pvalues, q: float = 0.05) -> np.ndarray:
    """Benjamini-Hochberg false-discovery control over many tests.

    Parameters
    ----------
    pvalues : array_like, shape (n,)
        p-values; NaN counts as not significant.
    q : float
        False-discovery rate.

    Returns
    -------
    ndarray of bool, shape (n,)
        True where the null hypothesis is rejected.
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    ok = np.isfinite(p)
    out = np.zeros(p.shape, dtype=bool)
    m = int(ok.sum())
    if m == 0:
        return out
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(p[idx], kind="stable")]
    passed = p[order] <= q * np.arange(1, m + 1) / m
    if passed.any():
        k = int(np.flatnonzero(passed).max())
        out[order[: k + 1]] = True
    return out


# ---------------------------------------------------------------------------- tap space
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


# The diagnostics of the mechanism (trap, escape, exploration, function space, noise, cluster
# intervals) live in their own module; they are part of ``cl.analysis`` for users.
from .diagnostics import (  # noqa: E402
    FunctionSpaceCovariance,
    LocalMinimum,
    NoiseEstimate,
    best_visited,
    cluster_ci,
    escape,
    function_space_covariance,
    local_minimum,
    output_jacobian,
    saturation,
    tap_msd,
    update_noise,
)

__all__ += [
    "FunctionSpaceCovariance",
    "LocalMinimum",
    "NoiseEstimate",
    "best_visited",
    "cluster_ci",
    "escape",
    "function_space_covariance",
    "local_minimum",
    "output_jacobian",
    "saturation",
    "tap_msd",
    "update_noise",
]
