"""The figures of ``circuitlearn plot``: the standard figure set of a run directory
(``run_figures``) and of a sweep directory (``sweep_figures``), in every requested format.

Sweep directories are read through ``circuitlearn.results`` (the one reader of sweeps): the
table of final values, the long table of histories, and the run directories.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import is_replicate
from ..errors import ValidationError
from ..results import METRICS, SweepResults, cell, is_sweep_dir
from ..results import read_sweep as _read_results
from ..store import load
from .circuit import network_change
from .curves import curves_with_bands, final_vs, run_curves
from .style import need_columns, pyplot, value_text

__all__ = [
    "FORMATS",
    "grid_columns",
    "is_sweep_dir",
    "main_axis",
    "plot_results",
    "read_sweep",
    "run_figures",
    "sweep_figures",
]

FORMATS = ("png", "pdf")


def _complete_sweep(path: Path) -> SweepResults:
    """The sweep in ``path``, refusing a directory that is not one or has no complete run."""
    if not is_sweep_dir(path):
        raise ValidationError(
            f"{str(path)!r} is not a sweep directory: it needs sweep.toml and runs/"
        )
    sweep = _read_results(path)
    if not sweep.runs:
        raise ValidationError(f"sweep directory {str(path)!r} holds no complete run yet")
    return sweep


def read_sweep(out: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(table, histories)`` of a sweep directory, as ``cl.sweep_table`` and
    ``cl.sweep_histories`` give them (kept for scripts that used it; the reader itself is
    ``circuitlearn.results.read_sweep``)."""
    sweep = _complete_sweep(Path(out))
    return sweep.table, sweep.histories


def grid_columns(table: pd.DataFrame) -> list[str]:
    """The grid columns of a sweep table (everything but ``run_id`` and the metrics)."""
    metrics = {"run_id", *METRICS}
    return [c for c in table.columns if c not in metrics]


def main_axis(table: pd.DataFrame) -> str | None:
    """The grid column to colour by: ``schedule.p`` when it varies, else the first varied
    non-seed column, else None."""
    varied = [c for c in grid_columns(table) if table[c].astype(str).nunique() > 1]
    if "schedule.p" in varied:
        return "schedule.p"
    rest = [c for c in varied if not is_replicate(c)]
    return rest[0] if rest else None


def _prepare_p(frame: pd.DataFrame) -> pd.DataFrame:
    """Synchronous runs count as ``p = 1`` when ``schedule.p`` is an axis."""
    if "schedule.p" not in frame or "schedule.kind" not in frame:
        return frame
    frame = frame.copy()
    sync = frame["schedule.kind"].astype(str).eq("Synchronous") & frame["schedule.p"].isna()
    frame.loc[sync, "schedule.p"] = 1.0
    return frame


def _follows(table: pd.DataFrame, column: str, by: str | None) -> bool:
    """True when ``column`` takes one value per value of ``by`` (a paired axis such as
    ``schedule.p|train.record_every``): it is no axis of its own to split figures by."""
    if by is None:
        return False
    return bool(
        (table.astype({column: str}).groupby(by, dropna=False)[column].nunique() <= 1).all()
    )


def _save(fig, stem: Path, formats: Sequence[str]) -> list[Path]:
    paths = []
    for fmt in formats:
        path = stem.parent / f"{stem.name}.{fmt}"  # not with_suffix: "lr-0.2" has a dot
        fig.savefig(path, dpi=130)
        paths.append(path)
    pyplot().close(fig)
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
            bits.append(str(cell(shown)))
    return ", ".join(bits)


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
    formats = _check_formats(formats)
    sweep_dir = Path(sweep_dir)
    sweep = _complete_sweep(sweep_dir)
    table, histories = sweep.table, sweep.histories
    table, histories = _prepare_p(table), _prepare_p(histories)
    out = Path(out) if out is not None else sweep_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    by = main_axis(table) if by is None else by
    need_columns(table, "the sweep table", (by,))
    others = [
        c
        for c in grid_columns(table)
        if c != by
        and not is_replicate(c)
        and not (by == "schedule.p" and c == "schedule.kind")
        and table[c].astype(str).nunique() > 1
        and not _follows(table, c, by)
    ]
    metric = "test_error" if table["test_error"].notna().any() else "train_error"
    metrics = [metric] + [m for m in ("test_accuracy",) if m in table and table[m].notna().any()]
    paths: list[Path] = []
    # learning curves: one figure per combination of the other axes
    combos = histories.groupby(others, dropna=False, sort=True) if others else [((), histories)]
    for key, sub in combos:
        key = key if isinstance(key, tuple) else (key,)
        suffix = "".join(
            f"_{c.split('.')[-1]}-{value_text(v)}".replace("/", "-").replace(" ", "")
            for c, v in zip(others, key, strict=True)
        )
        for m in metrics:
            fig = curves_with_bands(sub, by=by, y=m)
            if others:
                fig.suptitle(
                    ", ".join(f"{c} = {value_text(v)}" for c, v in zip(others, key, strict=True))
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
        result = load(sweep.run(str(row["run_id"])).path)
        grid = ", ".join(f"{c} = {value_text(row[c])}" for c in grid_columns(table))
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
