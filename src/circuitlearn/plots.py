"""Figures (matplotlib): learning curves, confidence bands over seeds, final error against a
swept parameter, and the network drawn with its conductances.

Every function takes an optional ``ax`` (or ``axes``) and returns the ``Figure``, so it works
in scripts (``fig.savefig``), in Jupyter (the figure displays itself), and inside larger
figures. ``plot_results`` writes the standard figures of a run or sweep directory; it backs
``circuitlearn plot RUN_OR_SWEEP_DIR``.

Statistics over seeds: runs that share every grid value except their seeds (grid keys ending
in ``seed``) are replicates. Bands and error bars are two-sided Student-t confidence intervals
of the mean (95 % by default). Errors are averaged in log space (geometric mean, with the
interval taken on ``log10`` of the error), which keeps bands positive on a log axis;
accuracies are averaged as they are.
"""

from __future__ import annotations

import math
import tomllib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._validation import check_conductances
from .errors import ValidationError

YLABELS = {
    "train_error": "train error, mean squared (V$^2$)",
    "test_error": "test error, mean squared (V$^2$)",
    "train_accuracy": "train accuracy (fraction correct)",
    "test_accuracy": "test accuracy (fraction correct)",
}

XLABELS = {
    "updates_per_edge": "updates per edge",
    "step": "training step",
    "updates": "updates per edge (counted)",
    "wall_time": "wall time (s)",
    "schedule.p": "update probability per edge per step, p",
    "schedule.count": "edges updated per step",
    "schedule.rate": "clock rate (events per edge per step)",
    "rule.taps": "potentiometer taps",
    "rule.lr": "learning rate (S/V$^2$)",
    "rule.eta": "nudge $\\eta$",
    "rule.noise": "drop noise (V)",
    "train.batch_size": "batch size (examples)",
    "network.n_nodes": "nodes",
}

#: Short names for legends (``p = 0.5``).
SHORT = {"schedule.p": "p", "schedule.count": "count", "schedule.rate": "rate"}

FORMATS = ("png", "pdf")


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _new_axes(ax, figsize=(6.4, 4.4)):
    if ax is None:
        fig, ax = _plt().subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def _label(key: str) -> str:
    return XLABELS.get(key, YLABELS.get(key, key.replace("_", " ")))


def _short(key: str) -> str:
    return SHORT.get(key, key.split(".")[-1].replace("_", " "))


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


def _need_columns(frame: pd.DataFrame, name: str, columns: Iterable[str | None]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"{name} must be a pandas DataFrame; got {type(frame).__name__}")
    for col in columns:
        if col is not None and col not in frame.columns:
            raise ValidationError(
                f"{name} has no column {col!r}; its columns are {list(map(str, frame.columns))}"
            )


def _is_error(y: str) -> bool:
    return y.endswith("error")


# ---------------------------------------------------------------------------- learning curves
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
    fig, ax = _new_axes(ax, (6, 4))
    for label, hist in histories.items():
        _need_columns(hist, f"histories[{label!r}]", (x, y))
        ax.plot(hist[x], hist[y], label=label)
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    if log if log is not None else _is_error(y):
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
    _need_columns(history, "history", (x, "train_error"))
    acc = [
        c for c in ("train_accuracy", "test_accuracy") if c in history and history[c].notna().any()
    ]
    n = 2 if acc else 1
    if axes is None:
        fig, axes = _plt().subplots(1, n, figsize=(6.2 * n, 4.2), layout="constrained")
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
        a.set_xlabel(_label(x))
        a.grid(alpha=0.3)
        a.legend()
    if title:
        fig.suptitle(_wrap(title, 45 * n), fontsize="medium")
    return fig


# ---------------------------------------------------------------------------- statistics
def _mean_ci(values: np.ndarray, level: float, log: bool) -> tuple[float, float, float, int]:
    """(centre, low, high, n) of the finite values: the mean and its Student-t interval, in
    log10 space when ``log`` (errors), collapsing to the single value when n = 1."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if log:
        v = np.log10(np.clip(v[v > 0], 1e-300, None)) if v.size else v
    n = v.size
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(v.mean())
    half = (
        float(stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    )
    lo, hi = m - half, m + half
    if log:
        return 10.0**m, 10.0**lo, 10.0**hi, n
    return m, lo, hi, n


def _check_level(level) -> float:
    from ._validation import in_range

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


def _colours(n: int, cmap: str = "viridis"):
    from matplotlib import colormaps

    cm = colormaps[cmap]
    if n == 1:
        return [cm(0.15)]
    return [cm(0.05 + 0.85 * i / (n - 1)) for i in range(n)]


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
    _need_columns(histories, "histories", (x, y, by))
    level = _check_level(level)
    log = _is_error(y) if log is None else bool(log)
    fig, ax = _new_axes(ax, (7, 4.6))
    groups = _groups(histories, by)
    for (value, g), colour in zip(groups, _colours(len(groups), cmap), strict=True):
        stats_rows = [(xv, *_mean_ci(sub[y].to_numpy(), level, log)) for xv, sub in g.groupby(x)]
        if not stats_rows:
            continue
        xs, mid, lo, hi, _n = (np.array(c, dtype=float) for c in zip(*stats_rows, strict=True))
        n_runs = g[run].nunique() if run in g else int(max(_n))
        label = "all runs" if by is None else f"{_short(by)} = {_fmt(value)}"
        ax.plot(xs, mid, color=colour, label=f"{label} (n = {n_runs})")
        ax.fill_between(xs, lo, hi, color=colour, alpha=0.22, linewidth=0)
    ax.set_xlabel(_label(x))
    ax.set_ylabel(("geometric mean " if log else "mean ") + _label(y))
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
    _need_columns(table, "table", (x, y, by))
    level = _check_level(level)
    log = _is_error(y) if log is None else bool(log)
    fig, ax = _new_axes(ax, (6.4, 4.6))
    groups = _groups(table, by)
    colours = _colours(len(groups), cmap) if by is not None else ["C0"]
    numeric = pd.api.types.is_numeric_dtype(table[x])
    for (value, g), colour in zip(groups, colours, strict=True):
        rows = []
        for xv, sub in _groups(g, x):
            if xv is None:
                continue
            rows.append((xv, *_mean_ci(sub[y].to_numpy(), level, log)))
        if not rows:
            continue
        xs = [r[0] for r in rows]
        pos = np.asarray(xs, dtype=float) if numeric else np.arange(len(xs), dtype=float)
        mid, lo, hi = (np.array([r[i] for r in rows], dtype=float) for i in (1, 2, 3))
        label = None if by is None else f"{_short(by)} = {_fmt(value)}"
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
            ax.set_xticks(pos, [_fmt(v) for v in xs], rotation=20, ha="right")
    ax.set_xlabel(_label(x))
    ax.set_ylabel(f"final {_label(y)}")
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


# ---------------------------------------------------------------------------- the network
def _check_net_k(net, k, name="k") -> np.ndarray:
    from .network import Network

    if not isinstance(net, Network):
        raise ValidationError(f"net must be a circuitlearn.Network; got {type(net).__name__}")
    return check_conductances(k, net.n_edges, name)


def _segments(net) -> np.ndarray:
    pos = net.layout()
    return pos[net.edges]  # (E, 2, 2)


def _draw_nodes(ax, net, task, size: float) -> None:
    pos = net.layout()
    if net.n_nodes <= 400:
        ax.scatter(pos[:, 0], pos[:, 1], s=size, color="0.55", zorder=3, linewidths=0)
    if task is None:
        return
    roles = (
        ("input_nodes", "s", "tab:red", "input"),
        ("output_nodes", "D", "tab:blue", "output"),
        ("ground_nodes", "v", "black", "ground (0 V)"),
    )
    for attr, marker, colour, label in roles:
        nodes = np.asarray(getattr(task, attr), dtype=int)
        nodes = nodes[(nodes >= 0) & (nodes < net.n_nodes)]
        if nodes.size:
            ax.scatter(
                pos[nodes, 0],
                pos[nodes, 1],
                marker=marker,
                s=size * 3.5,
                color=colour,
                edgecolors="white",
                linewidths=0.6,
                zorder=4,
                label=label,
            )
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=3,
        frameon=False,
        fontsize="small",
        handletextpad=0.3,
    )


def _frame(ax) -> None:
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def _colorbar(fig, mappable, ax, label: str):
    """A colour bar with plain-number tick labels (also on the minor ticks of a narrow log
    scale)."""
    from matplotlib.ticker import FuncFormatter

    bar = fig.colorbar(mappable, ax=ax, label=label, shrink=0.85)
    plain = FuncFormatter(lambda v, _pos: f"{v:.3g}")
    bar.ax.yaxis.set_major_formatter(plain)
    norm = mappable.norm
    if getattr(norm, "vmax", None) and norm.vmin and norm.vmax / norm.vmin < 100:
        bar.ax.yaxis.set_minor_formatter(plain)
    return bar


def _widths(frac: np.ndarray, width: tuple[float, float]) -> np.ndarray:
    return width[0] + (width[1] - width[0]) * np.clip(frac, 0.0, 1.0)


def _k_norm(*ks: np.ndarray):
    from matplotlib.colors import LogNorm

    lo = min(float(k.min()) for k in ks)
    hi = max(float(k.max()) for k in ks)
    if hi / lo < 1.05:  # (nearly) uniform: a range of +-10 % around it
        lo, hi = lo / 1.1, hi * 1.1
    return LogNorm(vmin=lo, vmax=hi)


def network(
    net,
    k,
    ax=None,
    task=None,
    norm=None,
    cmap: str = "viridis",
    width: tuple[float, float] = (0.6, 6.0),
    colorbar: bool = True,
    title: str | None = None,
):
    """Draw the network with each edge's width and colour set by its conductance.

    Parameters
    ----------
    net : Network
        Drawn at ``net.layout()`` (its positions, or a spring layout).
    k : array, shape (E,)
        Conductances (S), strictly positive.
    ax : Axes, optional
    task : Task, optional
        Marks the input, output and ground nodes.
    norm : matplotlib Normalize, optional
        Colour scale of ``k`` (default: logarithmic over the range of ``k``); pass one to
        share a scale between panels.
    cmap : str
        Colormap (low conductance dark, high bright with the default).
    width : (float, float)
        Line widths (points) of the lowest and highest conductance on the scale.
    colorbar : bool
        Add a colour bar, labelled in siemens.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection

    k = _check_net_k(net, k)
    fig, ax = _new_axes(ax, (5.6, 4.8))
    norm = _k_norm(k) if norm is None else norm
    frac = np.asarray(norm(k), dtype=float)
    cm = colormaps[cmap]
    lines = LineCollection(
        _segments(net), colors=cm(frac), linewidths=_widths(frac, width), capstyle="round"
    )
    lines.set_zorder(1)
    ax.add_collection(lines)
    ax.autoscale_view()
    _draw_nodes(ax, net, task, size=18 if net.n_nodes <= 100 else 6)
    _frame(ax)
    if colorbar:
        _colorbar(fig, ScalarMappable(norm=norm, cmap=cm), ax, "conductance k (S)")
    if title:
        ax.set_title(title)
    return fig


def network_change(
    net,
    k0,
    k1,
    task=None,
    axes=None,
    cmap: str = "viridis",
    change_cmap: str = "RdBu_r",
    width: tuple[float, float] = (0.6, 6.0),
    title: str | None = None,
):
    """Three panels: the network before training, after training (one shared conductance
    scale), and the change, coloured by the ratio ``k1 / k0`` (red: conductance rose, blue:
    fell) with width growing with ``|log10(k1 / k0)|``.

    Parameters
    ----------
    net : Network
    k0, k1 : array, shape (E,)
        Conductances (S) before and after training (``TrainResult.initial_conductances`` and
        ``TrainResult.conductances``).
    task : Task, optional
        Marks the input, output and ground nodes.
    axes : three Axes, optional
    cmap, change_cmap : str
        Colormaps of the conductances and of the change.
    width : (float, float)
        Line widths (points) at the ends of each colour scale.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import LogNorm

    k0 = _check_net_k(net, k0, "k0")
    k1 = _check_net_k(net, k1, "k1")
    if axes is None:
        fig, axes = _plt().subplots(1, 3, figsize=(16, 5.0), layout="constrained")
    axes = np.asarray(axes).ravel()
    if axes.size != 3:
        raise ValidationError(f"axes must hold three Axes; got {axes.size}")
    fig = axes[0].figure
    shared = _k_norm(k0, k1)
    network(net, k0, ax=axes[0], task=task, norm=shared, cmap=cmap, width=width, colorbar=False)
    network(net, k1, ax=axes[1], task=task, norm=shared, cmap=cmap, width=width, colorbar=False)
    axes[0].set_title("before training")
    axes[1].set_title("after training")
    _colorbar(
        fig,
        ScalarMappable(norm=shared, cmap=colormaps[cmap]),
        axes[:2].tolist(),
        "conductance k (S)",
    )
    ratio = k1 / k0
    decades = np.abs(np.log10(ratio))
    top = max(float(decades.max()), 1e-3)
    rnorm = LogNorm(vmin=10.0**-top, vmax=10.0**top)
    cm = colormaps[change_cmap]
    ax = axes[2]
    lines = LineCollection(
        _segments(net),
        colors=cm(rnorm(ratio)),
        linewidths=_widths(decades / top, width),
        capstyle="round",
    )
    lines.set_zorder(1)
    ax.add_collection(lines)
    ax.autoscale_view()
    _draw_nodes(ax, net, task, size=18 if net.n_nodes <= 100 else 6)
    _frame(ax)
    ax.set_title("change")
    _colorbar(
        fig,
        ScalarMappable(norm=rnorm, cmap=cm),
        ax,
        "conductance ratio k$_\\mathrm{after}$ / k$_\\mathrm{before}$",
    )
    if title:
        fig.suptitle(_wrap(title, 120), fontsize="medium")
    return fig


# ---------------------------------------------------------------------------- directories
def _flatten(cfg: Mapping, prefix: str = "") -> dict:
    out = {}
    for key, val in cfg.items():
        if isinstance(val, Mapping):
            out.update(_flatten(val, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = val
    return out


def _cell(value):
    if isinstance(value, Mapping):
        inner = ", ".join(f"{k}={_cell(v)}" for k, v in value.items() if k != "kind")
        return f"{value.get('kind', '')}({inner})"
    if isinstance(value, (list, tuple)):
        return str(list(value))
    return value


def _lookup(cfg: Mapping, key: str):
    node = cfg
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def is_sweep_dir(path: str | Path) -> bool:
    """True for a sweep output directory (``sweep.toml`` beside ``runs/``)."""
    path = Path(path)
    return (path / "sweep.toml").is_file() and (path / "runs").is_dir()


def _scan_sweep(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table and histories of a sweep directory from the run directories alone."""
    from .store import is_complete

    runs = []
    skipped = 0
    for run_dir in sorted((out / "runs").iterdir()):
        if run_dir.name.startswith(".") or not run_dir.is_dir():
            continue
        if not is_complete(run_dir):
            skipped += 1
            continue
        with (run_dir / "config.toml").open("rb") as fh:
            cfg = tomllib.load(fh)
        runs.append((run_dir.name, cfg, pd.read_parquet(run_dir / "history.parquet")))
    if skipped:
        warnings.warn(f"skipped {skipped} incomplete run(s) in {out / 'runs'}", stacklevel=3)
    keys: list[str] = []
    try:
        with (out / "sweep.toml").open("rb") as fh:
            grid = _flatten(tomllib.load(fh).get("grid", {}))
        for key in grid:
            keys.extend(part.strip() for part in key.split("|"))
    except (OSError, tomllib.TOMLDecodeError):
        pass
    if not keys and runs:  # no grid on record: the config values that differ between runs
        flat = pd.DataFrame([_flatten(cfg) for _, cfg, _ in runs]).astype(str)
        keys = [c for c in flat.columns if flat[c].nunique() > 1]
    rows, frames = [], []
    for run_id, cfg, hist in runs:
        front = {"run_id": run_id, **{k: _cell(_lookup(cfg, k)) for k in keys}}
        last = hist.iloc[-1]
        row = dict(front, steps=int(last["step"]))
        for col in (
            "updates_per_edge",
            "train_error",
            "test_error",
            "train_accuracy",
            "test_accuracy",
        ):
            if col in hist:
                row[col] = float(last[col])
        rows.append(row)
        frames.append(hist.assign(**front))
    table = pd.DataFrame(rows)
    histories = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return table, histories


def read_sweep(out: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(table, histories)`` of a sweep directory, as ``cl.sweep_table`` and
    ``cl.sweep_histories`` give them.

    Uses ``circuitlearn.sweep`` when it can read the runs; otherwise (a directory assembled
    by hand with ``cl.save``, without ``summary.json``) reads every complete run directory,
    with the grid keys from ``sweep.toml`` (or, without one, the config keys that differ
    between runs).
    """
    out = Path(out)
    if not is_sweep_dir(out):
        raise ValidationError(
            f"{str(out)!r} is not a sweep directory: it needs sweep.toml and runs/"
        )
    try:
        from .sweep import sweep_histories, sweep_table
    except ImportError:  # pragma: no cover - sweep module absent
        sweep_table = None
    if sweep_table is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                table = sweep_table(out)
            except Exception:  # noqa: BLE001 - fall back on the plain run directories
                table = pd.DataFrame()
        if len(table):
            return table, sweep_histories(out)
    table, histories = _scan_sweep(out)
    if table.empty:
        raise ValidationError(f"sweep directory {str(out)!r} holds no complete run yet")
    return table, histories


def _replicate(key: str) -> bool:
    return key.split(".")[-1].endswith("seed")


def grid_columns(table: pd.DataFrame) -> list[str]:
    """The grid columns of a sweep table (everything but ``run_id`` and the metrics)."""
    from .sweep import METRICS

    metrics = {"run_id", *METRICS}
    return [c for c in table.columns if c not in metrics]


def main_axis(table: pd.DataFrame) -> str | None:
    """The grid column to colour by: ``schedule.p`` when it varies, else the first varied
    non-seed column, else None."""
    varied = [c for c in grid_columns(table) if table[c].astype(str).nunique() > 1]
    if "schedule.p" in varied:
        return "schedule.p"
    rest = [c for c in varied if not _replicate(c)]
    return rest[0] if rest else None


def _prepare_p(frame: pd.DataFrame) -> pd.DataFrame:
    """Synchronous runs count as ``p = 1`` when ``schedule.p`` is an axis."""
    if "schedule.p" not in frame or "schedule.kind" not in frame:
        return frame
    frame = frame.copy()
    sync = frame["schedule.kind"].astype(str).eq("Synchronous") & frame["schedule.p"].isna()
    frame.loc[sync, "schedule.p"] = 1.0
    return frame


def _save(fig, stem: Path, formats: Sequence[str]) -> list[Path]:
    paths = []
    for fmt in formats:
        path = stem.parent / f"{stem.name}.{fmt}"  # not with_suffix: "lr-0.2" has a dot
        fig.savefig(path, dpi=130)
        paths.append(path)
    _plt().close(fig)
    return paths


def _check_formats(formats) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    formats = tuple(formats)
    allowed = ("png", "pdf", "svg")
    bad = [f for f in formats if f not in allowed]
    if bad or not formats:
        raise ValidationError(f"formats must be one or more of {list(allowed)}; got {formats!r}")
    return formats


def run_figures(run_dir: str | Path, out: str | Path | None = None, formats=FORMATS) -> list[Path]:
    """Write the figures of one run directory: ``learning_curves`` and ``network``
    (before / after / change), each in every format.

    Parameters
    ----------
    run_dir : path
        A run written by ``cl.save``.
    out : path, optional
        Output directory (default ``run_dir/plots``).
    formats : sequence of str or comma-separated str
        ``png``, ``pdf``, ``svg``.

    Returns
    -------
    list of Path
        The files written.
    """
    from .store import load

    formats = _check_formats(formats)
    run_dir = Path(run_dir)
    result = load(run_dir)
    out = Path(out) if out is not None else run_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    label = _run_label(result.config, run_dir.name)
    paths = _save(run_curves(result.history, title=label), out / "learning_curves", formats)
    fig = network_change(
        result.network,
        result.initial_conductances,
        result.conductances,
        task=result.task,
        title=label,
    )
    paths += _save(fig, out / "network", formats)
    return paths


def _run_label(config: Mapping, fallback: str) -> str:
    """A short title: the run's name, its rule and schedule (without the conductance
    bounds)."""
    if not isinstance(config, Mapping):
        return fallback
    bits = [str(config.get("name", fallback))]
    for section in ("rule", "schedule"):
        table = config.get(section)
        if isinstance(table, Mapping) and table:
            shown = {k: v for k, v in table.items() if k not in ("k_min", "k_max")}
            bits.append(str(_cell(shown)))
    return ", ".join(bits)


def _wrap(text: str, width: int = 90) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) if text else text


def sweep_figures(
    sweep_dir: str | Path, out: str | Path | None = None, formats=FORMATS, by: str | None = None
) -> list[Path]:
    """Write the figures of a sweep directory.

    - ``curves_<metric>``: learning curves coloured by ``by`` with confidence bands over
      seeds (one file per combination of the other grid axes, suffixed with its values);
    - ``final_<metric>``: final error (and accuracy, for classification) against ``by``,
      one line per combination of the other axes;
    - ``network``: before / after / change of a representative run (the run whose final
      error is the median of the sweep's).

    Parameters
    ----------
    sweep_dir : path
        Holds ``sweep.toml`` and ``runs/<run_id>/``.
    out : path, optional
        Output directory (default ``sweep_dir/plots``).
    formats : sequence of str or comma-separated str
    by : str, optional
        Grid column to colour by (default: ``schedule.p`` if it varies, else the first
        varied non-seed column).

    Returns
    -------
    list of Path
    """
    from .store import load

    formats = _check_formats(formats)
    sweep_dir = Path(sweep_dir)
    table, histories = read_sweep(sweep_dir)
    table, histories = _prepare_p(table), _prepare_p(histories)
    out = Path(out) if out is not None else sweep_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    by = main_axis(table) if by is None else by
    _need_columns(table, "the sweep table", (by,))
    others = [
        c
        for c in grid_columns(table)
        if c != by
        and not _replicate(c)
        and not (by == "schedule.p" and c == "schedule.kind")
        and table[c].astype(str).nunique() > 1
    ]
    metric = "test_error" if table["test_error"].notna().any() else "train_error"
    metrics = [metric] + [m for m in ("test_accuracy",) if m in table and table[m].notna().any()]
    paths: list[Path] = []
    # learning curves: one figure per combination of the other axes
    combos = histories.groupby(others, dropna=False, sort=True) if others else [((), histories)]
    for key, sub in combos:
        key = key if isinstance(key, tuple) else (key,)
        suffix = "".join(
            f"_{c.split('.')[-1]}-{_fmt(v)}".replace("/", "-").replace(" ", "")
            for c, v in zip(others, key, strict=True)
        )
        for m in metrics:
            fig = curves_with_bands(sub, by=by, y=m)
            if others:
                fig.suptitle(
                    ", ".join(f"{c} = {_fmt(v)}" for c, v in zip(others, key, strict=True))
                )
            paths += _save(fig, out / f"curves_{m}{suffix}", formats)
    # final value against the main axis
    if by is not None:
        tab = table
        hue = None
        if others:
            tab = table.copy()
            hue = " / ".join(others)
            tab[hue] = tab[others].astype(str).agg(", ".join, axis=1)
        for m in metrics:
            paths += _save(final_vs(tab, x=by, y=m, by=hue), out / f"final_{m}", formats)
    # network of a representative run
    finals = table[metric].to_numpy(dtype=float)
    ok = np.flatnonzero(np.isfinite(finals))
    if ok.size:
        order = ok[np.argsort(finals[ok], kind="stable")]
        row = table.iloc[order[(order.size - 1) // 2]]
        result = load(sweep_dir / "runs" / str(row["run_id"]))
        grid = ", ".join(f"{c} = {_fmt(row[c])}" for c in grid_columns(table))
        fig = network_change(
            result.network,
            result.initial_conductances,
            result.conductances,
            task=result.task,
            title=f"representative run (median final {metric.replace('_', ' ')}): {grid}",
        )
        paths += _save(fig, out / "network", formats)
    return paths


def plot_results(path: str | Path, out: str | Path | None = None, formats=FORMATS) -> list[Path]:
    """Write the standard figures of a run directory or a sweep directory (see
    ``run_figures`` and ``sweep_figures``); returns the files written."""
    path = Path(path)
    if not path.is_dir():
        raise ValidationError(f"{str(path)!r} is not a directory: give a run or sweep directory")
    if is_sweep_dir(path):
        return sweep_figures(path, out, formats)
    if (path / "config.toml").is_file() or (path / "history.parquet").is_file():
        return run_figures(path, out, formats)
    raise ValidationError(
        f"{str(path)!r} is neither a run directory (config.toml, history.parquet, ...) nor a "
        "sweep directory (sweep.toml and runs/)"
    )


__all__ = [
    "curves_with_bands",
    "final_vs",
    "grid_columns",
    "is_sweep_dir",
    "learning_curves",
    "main_axis",
    "network",
    "network_change",
    "plot_results",
    "read_sweep",
    "run_curves",
    "run_figures",
    "sweep_figures",
]
