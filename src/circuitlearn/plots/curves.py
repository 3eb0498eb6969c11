"""Learning curves: one run's curves, labelled curves side by side, the mean over seeds with a
confidence band, and the final value against a swept parameter.

Every function takes an optional ``ax`` (or ``axes``) and returns the ``Figure``, so it works
in scripts (``fig.savefig``), in Jupyter (the figure displays itself), and inside larger
figures.

Statistics over seeds come from ``circuitlearn.analysis``: bands and error bars are two-sided
Student-t confidence intervals of the mean (95 % by default). Errors are averaged in log space
(``geo_mean_ci``: the geometric mean, with the interval taken on the log of the error), which
keeps bands positive on a log axis; accuracies are averaged as they are (``mean_ci``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._validation import in_range
from ..analysis import geo_mean_ci, mean_ci
from .style import (
    axis_label,
    colour_cycle,
    is_error,
    need_columns,
    new_axes,
    pyplot,
    short_name,
    value_text,
    wrap,
)

__all__ = ["curves_with_bands", "final_vs", "learning_curves", "run_curves"]


def learning_curves(
    histories: Mapping[str, pd.DataFrame],
    y: str = "test_error",
    x: str = "updates_per_edge",
    ax=None,
    log: bool | None = None,
):
    """One curve per labelled history.

    Parameters
    ----------
    histories : mapping of str to DataFrame
        Label -> a run's ``history`` (``TrainResult.history``).
    y : str
        Column to plot (``test_error`` V^2, ``train_error``, ``test_accuracy`` ...).
    x : str
        Column for the horizontal axis (default updates per edge).
    ax : matplotlib Axes, optional
    log : bool, optional
        Log y axis (default: for errors).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_axes(ax, (6, 4))
    for label, hist in histories.items():
        need_columns(hist, f"histories[{label!r}]", (x, y))
        ax.plot(hist[x], hist[y], label=label)
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    if log if log is not None else is_error(y):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def run_curves(history: pd.DataFrame, x: str = "updates_per_edge", axes=None, title=None):
    """Learning curves of one run: train and test error (V^2, log axis) and, for
    classification tasks, train and test accuracy beside them.

    Parameters
    ----------
    history : DataFrame
        ``TrainResult.history``.
    x : str
        Horizontal axis column.
    axes : sequence of Axes, optional
        One axis, or two when the history has accuracies.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    need_columns(history, "history", (x, "train_error"))
    acc = [
        c for c in ("train_accuracy", "test_accuracy") if c in history and history[c].notna().any()
    ]
    n = 2 if acc else 1
    if axes is None:
        fig, axes = pyplot().subplots(1, n, figsize=(6.2 * n, 4.2), layout="constrained")
    axes = np.atleast_1d(axes)
    fig = axes[0].figure
    for col, style in (("train_error", "-"), ("test_error", "--")):
        if col in history and history[col].notna().any():
            axes[0].plot(history[x], history[col], style, label=col.replace("_", " "))
    axes[0].set_yscale("log")
    axes[0].set_ylabel("error, mean squared (V$^2$)")
    if acc:
        for col, style in zip(acc, ("-", "--"), strict=False):
            axes[1].plot(history[x], history[col], style, label=col.replace("_", " "))
        axes[1].set_ylabel("accuracy (fraction correct)")
        axes[1].set_ylim(-0.02, 1.02)
    for a in axes[:n]:
        a.set_xlabel(axis_label(x))
        a.grid(alpha=0.3)
        a.legend()
    if title:
        fig.suptitle(wrap(title, 45 * n), fontsize="medium")
    return fig


def _centre_ci(values: np.ndarray, level: float, log: bool) -> tuple[float, float, float, int]:
    """``(centre, low, high, n)`` of one group: the geometric mean and its interval for
    errors (``log``), else the mean; ``n`` counts the values that entered."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)] if log else v[np.isfinite(v)]
    centre, low, high = geo_mean_ci(v, level) if log else mean_ci(v, level)
    return centre, low, high, int(v.size)


def _check_level(level) -> float:
    return in_range("level", level, 0, 1, low_open=True, high_open=True)


def _groups(frame: pd.DataFrame, by: str | None):
    """(value, sub-frame) pairs in sorted order of ``by`` (one group when None)."""
    if by is None:
        return [(None, frame)]
    keys = frame[by]
    try:
        order = sorted(keys.dropna().unique())
    except TypeError:
        order = list(dict.fromkeys(keys.dropna()))
    out = [(v, frame[keys == v]) for v in order]
    if keys.isna().any():
        out.append((None, frame[keys.isna()]))
    return out


def curves_with_bands(
    histories: pd.DataFrame,
    by: str | None = "schedule.p",
    y: str = "test_error",
    x: str = "updates_per_edge",
    ax=None,
    level: float = 0.95,
    log: bool | None = None,
    run: str = "run_id",
    cmap: str = "viridis",
):
    """Learning curves per value of ``by``: the mean over replicate runs (seeds) with a
    confidence band.

    Parameters
    ----------
    histories : DataFrame
        Long table, one row per recorded step of each run (``cl.sweep_histories``): a run
        identifier column ``run``, the ``by`` column, ``x`` and ``y``.
    by : str or None
        Grid column that sets the colour (default ``"schedule.p"``); None: one curve over
        every run.
    y, x : str
        Columns for the vertical (default test error, V^2) and horizontal (default updates
        per edge) axes. At each ``x`` the band pools every run of the group recorded there,
        so replicates should share their recording steps (they do in a sweep).
    ax : Axes, optional
    level : float
        Confidence level of the bands, in (0, 1).
    log : bool, optional
        Log y axis and log-space statistics; default for errors.
    run : str
        Column naming the run (only used to count replicates for the legend).
    cmap : str
        Matplotlib colormap for the values of ``by``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    need_columns(histories, "histories", (x, y, by))
    level = _check_level(level)
    log = is_error(y) if log is None else bool(log)
    fig, ax = new_axes(ax, (7, 4.6))
    groups = _groups(histories, by)
    for (value, g), colour in zip(groups, colour_cycle(len(groups), cmap), strict=True):
        stats_rows = [(xv, *_centre_ci(sub[y].to_numpy(), level, log)) for xv, sub in g.groupby(x)]
        if not stats_rows:
            continue
        xs, mid, lo, hi, _n = (np.array(c, dtype=float) for c in zip(*stats_rows, strict=True))
        n_runs = g[run].nunique() if run in g else int(max(_n))
        label = "all runs" if by is None else f"{short_name(by)} = {value_text(value)}"
        ax.plot(xs, mid, color=colour, label=f"{label} (n = {n_runs})")
        ax.fill_between(xs, lo, hi, color=colour, alpha=0.22, linewidth=0)
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(("geometric mean " if log else "mean ") + axis_label(y))
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(title=f"{int(round(level * 100))}% CI over seeds", fontsize="small")
    return fig


def final_vs(
    table: pd.DataFrame,
    x: str = "schedule.p",
    y: str = "test_error",
    by: str | None = None,
    ax=None,
    level: float = 0.95,
    log: bool | None = None,
    logx: bool | None = None,
    cmap: str = "tab10",
):
    """Final value of ``y`` against the grid value ``x``: each run as a faint dot, and the
    mean over replicates with its confidence interval.

    Parameters
    ----------
    table : DataFrame
        One row per run (``cl.sweep_table``), with columns ``x`` and ``y`` (final values).
    x : str
        Grid column for the horizontal axis (default ``"schedule.p"``).
    y : str
        Final metric (default ``test_error``, V^2).
    by : str or None
        Optional grid column: one line per value.
    ax : Axes, optional
    level : float
        Confidence level, in (0, 1).
    log : bool, optional
        Log y axis and log-space statistics; default for errors.
    logx : bool, optional
        Log x axis; default when every x is positive and they span 20x or more.
    cmap : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    need_columns(table, "table", (x, y, by))
    level = _check_level(level)
    log = is_error(y) if log is None else bool(log)
    fig, ax = new_axes(ax, (6.4, 4.6))
    groups = _groups(table, by)
    colours = colour_cycle(len(groups), cmap) if by is not None else ["C0"]
    numeric = pd.api.types.is_numeric_dtype(table[x])
    for (value, g), colour in zip(groups, colours, strict=True):
        rows = []
        for xv, sub in _groups(g, x):
            if xv is None:
                continue
            rows.append((xv, *_centre_ci(sub[y].to_numpy(), level, log)))
        if not rows:
            continue
        xs = [r[0] for r in rows]
        pos = np.asarray(xs, dtype=float) if numeric else np.arange(len(xs), dtype=float)
        mid, lo, hi = (np.array([r[i] for r in rows], dtype=float) for i in (1, 2, 3))
        label = None if by is None else f"{short_name(by)} = {value_text(value)}"
        if numeric:
            ax.scatter(g[x], g[y], color=colour, alpha=0.4, s=18, linewidths=0)
        ax.errorbar(
            pos,
            mid,
            yerr=[mid - lo, hi - mid],
            color=colour,
            marker="o",
            capsize=3,
            label=label,
        )
        if not numeric:
            ax.set_xticks(pos, [value_text(v) for v in xs], rotation=20, ha="right")
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(f"final {axis_label(y)}")
    if log:
        ax.set_yscale("log")
    if logx is None:
        vals = pd.to_numeric(table[x], errors="coerce").dropna() if numeric else pd.Series([])
        logx = bool(len(vals) and (vals > 0).all() and vals.max() / vals.min() >= 20)
    if logx:
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    stat = ("geometric mean" if log else "mean") + f" ± {int(round(level * 100))}% CI over seeds"
    ax.set_title(stat, fontsize="medium")
    if by is not None:
        ax.legend(fontsize="small")
    return fig
