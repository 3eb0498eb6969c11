"""All statistics of circuitlearn: comparisons of training runs over seeds. Sweeps, figures and
experiments compute their intervals here and nowhere else.

Three kinds of helpers, plus re-exports:

- **Comparisons over seeds**: Student-t confidence intervals of a mean (``mean_ci``),
  geometric means of errors with their intervals (``geo_mean_ci``; ``log_band`` for whole
  learning curves), paired ratios of final errors (``ratio_ci``), and the Mann-Whitney U test
  with a common-language effect size (``mann_whitney``).
- **Tables of runs**: ``summarize`` (mean and 95 % interval of a final metric per grid point
  of a sweep table) and ``tail_mean`` (the mean of a history column over its last updates).
- **Clustered designs**: ``cluster_ci``, a cluster-bootstrap interval for designs where
  several values share a cluster (several seeds on one network).
- **Re-exported** from ``circuitlearn.diagnostics``: the tap-space dynamics of the stepped
  hardware (``revisit_fraction``, ``cycle_period``, ``return_times``, ``tap_dynamics``, ...;
  defined in ``diagnostics/trajectories.py``) and the diagnostics of the mechanism.

Errors are positive and span decades, so their comparisons are made on ``log`` errors:
``ratio_ci`` returns the geometric mean of per-seed ratios ``a_i / b_i`` with the t interval
taken on ``log(a_i / b_i)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ._validation import finite_array, in_range
from .errors import ValidationError

__all__ = [
    "cluster_ci",
    "fdr_bh",
    "geo_mean_ci",
    "is_replicate",
    "log_band",
    "mann_whitney",
    "mean_ci",
    "proportion_ci",
    "ratio_ci",
    "summarize",
    "tail_mean",
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


def proportion_ci(outcomes, level: float = 0.95) -> tuple[float, float, float]:
    """Fraction of successes and its exact (Clopper-Pearson) confidence interval.

    Parameters
    ----------
    outcomes : array_like of 0/1 or bool, shape (n,)
        One outcome per replica (NaN dropped).
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    tuple of float
        ``(fraction, low, high)``; NaN for no outcomes.
    """
    from scipy import stats

    v = _finite(outcomes)
    if v.size and not np.all((v == 0) | (v == 1)):
        raise ValidationError("outcomes must be 0/1 (or booleans)")
    n, k = int(v.size), int(v.sum())
    if n == 0:
        return math.nan, math.nan, math.nan
    alpha = 1 - level
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return k / n, low, high


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


def cluster_ci(
    values,
    clusters,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    statistic: Callable[[np.ndarray], float] = np.mean,
) -> tuple[float, float, float]:
    """A cluster-bootstrap confidence interval, for designs where several values share a
    cluster (e.g. several training seeds on one network).

    Each bootstrap replicate draws ``G`` clusters with replacement out of the ``G`` present
    and pools all their values; the interval is the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` percentiles of ``statistic`` over ``n_boot`` replicates. Resampling
    whole clusters keeps the between-cluster variance, which resampling single values (or a
    t interval over all of them) would treat as independent and so underestimate.

    Parameters
    ----------
    values : array_like, shape (n,)
        Finite values (e.g. log error ratios).
    clusters : array_like, shape (n,)
        Cluster label of each value (any hashable numbers or strings).
    level : float
        Confidence level in (0, 1).
    n_boot : int
        Bootstrap replicates (>= 100).
    seed : int
        Seeds the resampling.
    statistic : callable
        Maps a 1-D array to a number (default ``np.mean``).

    Returns
    -------
    tuple of float
        ``(estimate, low, high)`` with ``estimate = statistic(values)``. With one cluster the
        between-cluster spread cannot be estimated and ``low, high`` are NaN.
    """
    v = finite_array("values", values, ndim=1)
    c = np.asarray(clusters)
    if c.shape != v.shape:
        raise ValidationError(
            f"clusters must have one label per value, shape {v.shape}; got {c.shape}"
        )
    if v.size == 0:
        raise ValidationError("values is empty: give at least one value")
    level = in_range("level", level, 0, 1, low_open=True, high_open=True)
    n_boot = in_range("n_boot", n_boot, 100, None, integer=True)
    seed = in_range("seed", seed, 0, None, integer=True)
    if not callable(statistic):
        raise ValidationError(f"statistic must be callable; got {statistic!r}")
    estimate = float(statistic(v))
    _, inverse = np.unique(c, return_inverse=True)
    groups = [v[inverse == g] for g in range(inverse.max() + 1)]
    n_groups = len(groups)
    if n_groups < 2:
        return estimate, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_groups, (n_boot, n_groups))
    boot = np.empty(n_boot)
    if statistic is np.mean:  # pooled mean = sum of picked cluster sums / picked sizes
        sums = np.array([g.sum() for g in groups])
        sizes = np.array([g.size for g in groups], float)
        boot = sums[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    else:
        for b in range(n_boot):
            boot[b] = statistic(np.concatenate([groups[g] for g in picks[b]]))
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return estimate, float(low), float(high)


# The recurrence statistics of tap trajectories and the diagnostics of the mechanism (trap,
# escape, exploration, function space, noise) live in ``circuitlearn.diagnostics``; they are
# part of ``cl.analysis`` for users. Imported from the submodules, not the package, so that
# either of the two modules may be imported first.
from .diagnostics.function_space import (  # noqa: E402
    FunctionSpaceCovariance,
    function_space_covariance,
    output_jacobian,
)
from .diagnostics.noise import NoiseEstimate, update_noise  # noqa: E402
from .diagnostics.trajectories import (  # noqa: E402
    best_visited,
    collapse_repeats,
    cycle_period,
    distinct_states,
    return_times,
    revisit_fraction,
    saturation,
    summarize_periods,
    tap_dynamics,
    tap_msd,
)
from .diagnostics.traps import LocalMinimum, escape, local_minimum  # noqa: E402

__all__ += [
    "FunctionSpaceCovariance",
    "LocalMinimum",
    "NoiseEstimate",
    "best_visited",
    "collapse_repeats",
    "cycle_period",
    "distinct_states",
    "escape",
    "function_space_covariance",
    "local_minimum",
    "output_jacobian",
    "return_times",
    "revisit_fraction",
    "saturation",
    "summarize_periods",
    "tap_dynamics",
    "tap_msd",
    "update_noise",
]
