"""Reading sweep directories: the one reader behind ``cl.sweep_table``, ``cl.sweep_histories``
and the sweep figures.

A sweep directory::

    OUT/
      sweep.toml               the spec (see ``circuitlearn.grid``)
      runs/<run_id>/           an ordinary run directory (``store.save``) plus, when the
                               sweep runner wrote it, summary.json (final metrics, grid
                               values, wall time, a SHA-256 of every file)

Only the points of the directory's current ``sweep.toml`` are read. A run written by the
sweep runner belongs to it when its ``run_id`` is one of the spec's points and it passes
:func:`check_run` (files complete, checksums match). A run saved by hand with ``cl.save``
(no ``summary.json``) belongs to it when its config's values at the grid keys are one of
the grid's points. Incomplete or corrupt runs are left out with a warning, never read.
"""

from __future__ import annotations

import json
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from . import store
from .analysis import is_replicate, summarize  # noqa: F401  (re-exported: sweep names)
from .errors import ValidationError
from .grid import axis_keys, expand_grid, load_spec, sweep_points
from .store import canonical_hash

__all__ = [
    "METRICS",
    "RUNS_DIR",
    "SPEC_FILE",
    "SUMMARY_FILE",
    "SweepResults",
    "SweepRun",
    "cell",
    "check_run",
    "is_replicate",
    "is_sweep_dir",
    "read_summary",
    "read_sweep",
    "summarize",
    "sweep_histories",
    "sweep_table",
]

RUNS_DIR = "runs"
SPEC_FILE = "sweep.toml"
SUMMARY_FILE = "summary.json"
#: Columns of ``sweep_table`` besides ``run_id`` and the grid columns.
METRICS = (
    "steps",
    "updates_per_edge",
    "train_error",
    "test_error",
    "train_accuracy",
    "test_accuracy",
    "wall_time",
)
_FINAL = ("updates_per_edge", "train_error", "test_error", "train_accuracy", "test_accuracy")


# --------------------------------------------------------------------------------------------
# One run of a sweep.


def read_summary(run_dir: str | Path) -> dict:
    """The ``summary.json`` of a sweep run (raises if missing or unreadable)."""
    with (Path(run_dir) / SUMMARY_FILE).open("rb") as fh:
        summary = json.load(fh)
    if not isinstance(summary, dict):
        raise ValueError("summary.json is not an object")
    return summary


def check_run(run_dir: str | Path, expected_hash: str | None = None) -> str | None:
    """Why ``run_dir`` is not a complete sweep run, or None if it is.

    Complete means: ``store.is_complete``, a readable ``summary.json`` naming this run (and,
    given ``expected_hash``, this config), and every file's SHA-256 equal to the one recorded
    when the run was written (so a truncated or altered Parquet file is caught even when it
    still parses).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return "not a directory"
    if not store.is_complete(run_dir):
        return "run files missing or unreadable"
    try:
        summary = read_summary(run_dir)
    except (OSError, ValueError) as exc:
        return f"summary.json missing or unreadable ({exc})"
    if summary.get("run_id") != run_dir.name:
        return "summary.json names another run"
    if expected_hash is not None and summary.get("config_hash") != expected_hash:
        return "its config differs from the sweep point's"
    files = summary.get("files")
    if not isinstance(files, dict) or SUMMARY_FILE in files or not set(store.FILES) <= set(files):
        return "summary.json lacks file checksums"
    for name, digest in files.items():
        try:
            if store.file_sha256(run_dir / name) != digest:
                return f"{name} does not match its checksum"
        except OSError as exc:
            return f"{name} unreadable ({exc})"
    return None


def cell(value: Any) -> Any:
    """A grid value as a table cell: sub-tables become labels like ``Bernoulli(p=0.5)``,
    lists their JSON text; numbers and strings are kept."""
    if isinstance(value, dict):
        inner = ", ".join(f"{k}={cell(v)}" for k, v in value.items() if k != "kind")
        return f"{value.get('kind', '')}({inner})"
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return value


def _lookup(config: dict, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# --------------------------------------------------------------------------------------------
# A whole sweep directory.


@dataclass(frozen=True)
class SweepRun:
    """One complete run of a sweep directory that is a point of its current spec.

    Attributes
    ----------
    run_id : str
        The run directory's name.
    path : Path
        The run directory (``cl.load(path)`` reads it).
    index : int
        The point's position in the current spec's grid.
    grid : dict
        Dotted grid key -> this run's value (as the spec spells it).
    config : dict
        The run's config.
    summary : dict or None
        ``summary.json`` for runs the sweep runner wrote; None for runs saved by hand.
    """

    run_id: str
    path: Path
    index: int
    grid: dict
    config: dict
    summary: dict | None = field(repr=False)

    def history(self) -> pd.DataFrame:
        """The run's learning curve (``history.parquet``)."""
        return pd.read_parquet(self.path / "history.parquet")

    def row(self, keys: Sequence[str]) -> dict[str, Any]:
        """``run_id``, the grid cells for ``keys`` and the final metrics (see METRICS)."""
        row: dict[str, Any] = {"run_id": self.run_id}
        row.update({k: cell(self.grid.get(k)) for k in keys})
        if self.summary is not None:
            final = self.summary.get("final", {})
            row["steps"] = self.summary.get("steps")
            row.update({k: final.get(k) for k in _FINAL})
            row["wall_time"] = self.summary.get("wall_time")
        else:
            last = self.history().iloc[-1]
            row["steps"] = int(last["step"])
            row.update({k: float(last[k]) if k in last.index else None for k in _FINAL})
            row["wall_time"] = float(last["wall_time"]) if "wall_time" in last.index else None
        return row


@dataclass(frozen=True)
class SweepResults:
    """What a sweep directory holds, restricted to its current spec's points.

    Attributes
    ----------
    path : Path
        The sweep directory.
    spec : dict
        The normalised spec from ``sweep.toml`` (``grid.load_spec``).
    grid_keys : list of str
        The dotted config keys the grid varies, in grid order.
    runs : list of SweepRun
        The complete runs, in grid order.
    n_points : int
        Number of points of the spec (``len(runs)`` when the sweep is complete).
    """

    path: Path
    spec: dict
    grid_keys: list[str]
    runs: list[SweepRun]
    n_points: int

    @cached_property
    def table(self) -> pd.DataFrame:
        """One row per run (see :func:`sweep_table`)."""
        rows = [run.row(self.grid_keys) for run in self.runs]
        table = pd.DataFrame(rows, columns=["run_id", *self.grid_keys, *METRICS])
        for key in METRICS:
            if key.endswith("accuracy") and table[key].isna().all():
                table = table.drop(columns=key)
            elif key != "steps":
                table[key] = pd.to_numeric(table[key], errors="coerce").astype(float)
        return table.reset_index(drop=True)

    @cached_property
    def histories(self) -> pd.DataFrame:
        """Every run's history in one long table (see :func:`sweep_histories`)."""
        frames = []
        for run in self.runs:
            hist = run.history()
            front = {"run_id": run.run_id, **{k: cell(run.grid.get(k)) for k in self.grid_keys}}
            for i, (col, val) in enumerate(front.items()):
                hist.insert(i, col, [val] * len(hist))
            frames.append(hist)
        if not frames:
            return pd.DataFrame(
                columns=[
                    "run_id",
                    *self.grid_keys,
                    "step",
                    "updates_per_edge",
                    "train_error",
                    "test_error",
                ]
            )
        return pd.concat(frames, ignore_index=True)

    def run(self, run_id: str) -> SweepRun:
        """The run named ``run_id`` (KeyError if it is not a complete run of this sweep)."""
        for run in self.runs:
            if run.run_id == run_id:
                return run
        raise KeyError(run_id)


def is_sweep_dir(path: str | Path) -> bool:
    """True for a sweep output directory (``sweep.toml`` beside ``runs/``)."""
    path = Path(path)
    return (path / SPEC_FILE).is_file() and (path / RUNS_DIR).is_dir()


def read_sweep(path: str | Path) -> SweepResults:
    """Read a sweep directory: its spec and the complete runs of the spec's points.

    Parameters
    ----------
    path : path
        A sweep directory (``sweep.toml`` and ``runs/``), written by ``cl.sweep`` or
        assembled by hand with ``cl.save``.

    Returns
    -------
    SweepResults
        ``.spec``, ``.grid_keys``, ``.runs`` (each with ``run_id``, ``path``, ``grid``,
        ``config``, ``summary`` and ``history()``), ``.table`` and ``.histories``.

    Raises
    ------
    ValidationError
        ``path`` does not exist, or has no readable ``sweep.toml``.

    Warns
    -----
    UserWarning
        For each point's run that is incomplete or corrupt (skipped), and once for run
        directories that are not points of the current spec (left out).
    """
    out = Path(path)
    if not out.is_dir():
        raise ValidationError(f"sweep directory {str(out)!r} does not exist")
    if not (out / SPEC_FILE).is_file():
        raise ValidationError(
            f"{str(out)!r} is not a sweep directory: it has no {SPEC_FILE} (circuitlearn "
            "sweep writes one)"
        )
    spec = load_spec(out / SPEC_FILE)
    keys = axis_keys(spec)
    grids = expand_grid(spec)
    try:
        points = {p.run_id: p for p in sweep_points(spec)}
    except ValidationError:  # a hand-made spec need not expand to valid configs
        points = {}
    by_values = {canonical_hash(g, 64): i for i, g in enumerate(grids)}
    runs: list[SweepRun] = []
    outside = []
    runs_dir = out / RUNS_DIR
    for run_dir in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
        if run_dir.name.startswith(".") or not run_dir.is_dir():
            continue
        if run_dir.name in points or (run_dir / SUMMARY_FILE).exists():
            point = points.get(run_dir.name)
            if point is None:
                outside.append(run_dir.name)
                continue
            why = check_run(run_dir, point.config_hash)
            if why is None:
                summary = read_summary(run_dir)
                runs.append(
                    SweepRun(
                        run_dir.name, run_dir, point.index, point.grid, summary["config"], summary
                    )
                )
                continue
        elif store.is_complete(run_dir):
            with (run_dir / "config.toml").open("rb") as fh:
                config = tomllib.load(fh)
            grid = {k: _lookup(config, k) for k in keys}
            index = by_values.get(canonical_hash(grid, 64))
            if index is None:
                outside.append(run_dir.name)
            else:
                runs.append(SweepRun(run_dir.name, run_dir, index, grids[index], config, None))
            continue
        else:
            why = "run files missing or unreadable"
        warnings.warn(
            f"skipping run {run_dir.name}: {why} (rerun the sweep to recompute it)",
            stacklevel=3,
        )
    if outside:
        warnings.warn(
            f"left out {len(outside)} run(s) in {runs_dir} that are not points of "
            f"{out / SPEC_FILE} (e.g. {outside[0]})",
            stacklevel=3,
        )
    runs.sort(key=lambda r: (r.index, r.run_id))
    return SweepResults(out, spec, keys, runs, len(grids))


def sweep_table(out: str | Path) -> pd.DataFrame:
    """One row per complete run of the sweep in ``out``, in grid order.

    Parameters
    ----------
    out : path
        A sweep output directory.

    Returns
    -------
    pandas.DataFrame
        Columns ``run_id``; one per grid key (dotted names, e.g. ``schedule.p``; sub-table
        values as labels like ``Bernoulli(p=0.5)``); ``steps``, ``updates_per_edge``,
        ``train_error``, ``test_error`` (V^2, final), ``train_accuracy``/``test_accuracy``
        when the task is a classification, and ``wall_time`` (s). Only points of the
        directory's current spec; incomplete or corrupt runs are left out with a warning.
    """
    return read_sweep(out).table


def sweep_histories(out: str | Path) -> pd.DataFrame:
    """Every complete run's history in one long table.

    Returns
    -------
    pandas.DataFrame
        ``run_id``, the grid columns (as in :func:`sweep_table`), then the history columns
        (``step``, ``updates_per_edge``, ``train_error``, ``test_error``, ...): ready for
        learning curves with confidence bands grouped by the grid axes.
    """
    return read_sweep(out).histories
