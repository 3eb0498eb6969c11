"""Sweeps: many training runs over a grid of config values, resumable, local or on Dask.

A sweep spec (``SWEEP.toml``) is a run config plus the axes to vary::

    [sweep]
    name = "desync"                      # optional

    [base]                               # a run config (see ``circuitlearn.config``)
    network = {kind = "random", n_nodes = 64, seed = 0}
    task = {kind = "regression", n_inputs = 3, n_outputs = 2}
    rule = {kind = "CoupledLearning", lr = 0.5, eta = 0.5}
    schedule = {kind = "Bernoulli", p = 1.0}
    train = {updates_per_edge = 500, seed = 0}

    [grid]                               # the Cartesian product of every axis
    "schedule.p" = [1.0, 0.5, 0.1]
    "train.seed" = [0, 1, 2]
    # whole sub-tables:   rule = [{kind = "CoupledLearning", lr = 0.5, eta = 0.5}, ...]
    # paired axis (zip):  "rule.taps|train.steps" = [[16, 400], [128, 2000]]

Every point is validated before anything runs. Each point becomes one run directory
``OUT/runs/<run_id>/`` (``run_id`` = a readable prefix plus a hash of the point's full
validated config), written atomically: ``store.save`` files plus ``summary.json`` (final
metrics, grid values, wall time and a SHA-256 of every file). A rerun skips complete runs and
removes and reruns anything incomplete or corrupt, so an interrupted sweep resumes where it
stopped and a finished run is never computed twice.

Runs execute on an :class:`Executor` (``executors.py``): in-process (``workers=1``), local
processes (the default), or a Dask cluster (``scheduler="local-dask"`` starts a ``LocalCluster``;
``scheduler="tcp://HOST:PORT"`` connects to a running one). A new backend is a new
``Executor`` subclass.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import socket
import sys
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import store
from .config import SECTIONS, read_toml, validate_config
from .errors import ValidationError
from .executors import (  # noqa: F401  (re-exported: the sweep's public names)
    SCHEDULERS,
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)

__all__ = [
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "SweepError",
    "SweepPoint",
    "load_spec",
    "make_executor",
    "summarize",
    "sweep",
    "sweep_histories",
    "sweep_points",
    "sweep_table",
]

SPEC_KEYS = ("sweep", "base", "grid")
SWEEP_KEYS = ("name",)
RUNS_DIR = "runs"
SPEC_FILE = "sweep.toml"
SUMMARY_FILE = "summary.json"
LOCK_FILE = ".sweep.lock"
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
_FINAL_KEYS = ("step", "updates_per_edge", "updates", *METRICS[2:6])


class SweepError(RuntimeError):
    """Some sweep points failed; the others were written and a rerun retries the failed ones.

    Attributes
    ----------
    failures : dict of str to str
        ``run_id`` -> the error, for every failed point.
    """

    def __init__(self, failures: dict[str, str], total: int):
        self.failures = dict(failures)
        shown = "\n".join(f"  {rid}: {err}" for rid, err in list(self.failures.items())[:10])
        more = f"\n  ... and {len(self.failures) - 10} more" if len(self.failures) > 10 else ""
        super().__init__(
            f"{len(self.failures)} of {total} sweep runs failed (the others are saved; "
            f"rerun the sweep to retry the failed ones):\n{shown}{more}"
        )


# --------------------------------------------------------------------------------------------
# The spec: parse, expand, validate.


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep grid.

    Attributes
    ----------
    index : int
        Position in the grid (Cartesian order, last axis fastest).
    run_id : str
        Directory name under ``OUT/runs``: readable prefix + hash of ``config``.
    config : dict
        The point's validated run config.
    grid : dict
        Dotted key -> this point's value, for every grid axis.
    config_hash : str
        SHA-256 (hex) of the canonical JSON of ``config``.
    """

    index: int
    run_id: str
    config: dict
    grid: dict
    config_hash: str


def _flatten_grid(table: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, val in table.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"grid keys must be non-empty strings; got {key!r}")
        full = f"{prefix}{key}"
        if isinstance(val, dict):  # unquoted dotted keys in TOML: [grid.schedule] p = [...]
            flat.update(_flatten_grid(val, f"{full}."))
        else:
            if full in flat:
                raise ValidationError(f"grid axis {full!r} is given twice")
            flat[full] = val
    return flat


def _axis_paths(key: str) -> list[tuple[str, ...]]:
    paths = []
    for part in key.split("|"):
        path = tuple(part.strip().split("."))
        if any(not p for p in path):
            raise ValidationError(f"grid key {key!r}: {part!r} is not a dotted config key")
        if path[0] not in SECTIONS:
            raise ValidationError(
                f"unknown grid key {key!r}: {path[0]!r} is not a config section; allowed "
                f'first parts are {list(SECTIONS)} (e.g. "schedule.p", "train.seed")'
            )
        paths.append(path)
    return paths


def load_spec(spec: dict | str | Path) -> dict[str, Any]:
    """Read a sweep spec (a dict or a TOML path) and return it normalised.

    Parameters
    ----------
    spec : dict or path
        ``{"sweep": {...}, "base": {...}, "grid": {...}}`` as parsed from ``SWEEP.toml``.

    Returns
    -------
    dict
        Deep copy with all three tables present and the grid flattened to dotted keys
        (``"a.b|c.d"`` for a paired axis), each mapping to a non-empty list.

    Raises
    ------
    ValidationError
        Unknown tables or keys, a grid key outside the config sections, an empty or
        non-list axis, or a paired axis whose entries do not match its keys.
    """
    if isinstance(spec, (str, Path)):
        spec = read_toml(spec, "sweep spec")
    if not isinstance(spec, dict):
        raise ValidationError(f"a sweep spec must be a table (dict); got {type(spec).__name__}")
    for key in spec:
        if key not in SPEC_KEYS:
            raise ValidationError(
                f"unknown key {key!r} at the top of the sweep spec: allowed are "
                f"{list(SPEC_KEYS)} ([base] is the run config, [grid] the axes)"
            )
    meta = spec.get("sweep", {})
    base = spec.get("base", {})
    grid = spec.get("grid", {})
    for name, table in (("sweep", meta), ("base", base), ("grid", grid)):
        if not isinstance(table, dict):
            raise ValidationError(f"sweep spec key {name!r} must be a table [{name}]")
    for key in meta:
        if key not in SWEEP_KEYS:
            raise ValidationError(
                f"unknown key sweep.{key} in the sweep spec: allowed are {list(SWEEP_KEYS)}"
            )
    if "name" in meta and not isinstance(meta["name"], str):
        raise ValidationError(f"sweep.name must be a string; got {meta['name']!r}")
    flat = _flatten_grid(grid)
    seen: dict[tuple[str, ...], str] = {}
    for key, values in flat.items():
        paths = _axis_paths(key)
        for path in paths:
            if path in seen:
                raise ValidationError(
                    f"grid key {'.'.join(path)!r} appears in two axes ({seen[path]!r}, {key!r})"
                )
            seen[path] = key
        if not isinstance(values, list) or not values:
            raise ValidationError(
                f"grid.{key!r} must be a non-empty list of values; got {values!r:.80}"
            )
        if len(paths) > 1:
            for entry in values:
                if not isinstance(entry, list) or len(entry) != len(paths):
                    raise ValidationError(
                        f"paired grid axis {key!r} needs lists of {len(paths)} values, one per "
                        f"key; got {entry!r:.80}"
                    )
    return {"sweep": copy.deepcopy(meta), "base": copy.deepcopy(base), "grid": copy.deepcopy(flat)}


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, allow_nan=True)


def config_hash(config: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of a validated run config."""
    return hashlib.sha256(_canonical(config).encode()).hexdigest()


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "table"))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "list"
    return str(value)


_ABBREV = {"updates_per_edge": "upe", "batch_size": "batch", "n_nodes": "nodes"}


def _run_id(grid: dict[str, Any], digest: str) -> str:
    parts = []
    for key, val in grid.items():
        label = _ABBREV.get(key.split(".")[-1], key.split(".")[-1])
        parts.append(f"{label}-{_short(val)}" if isinstance(val, dict) else f"{label}{_short(val)}")
    prefix = re.sub(r"[^A-Za-z0-9.+_-]+", "-", "_".join(parts))[:60].strip("-._") or "run"
    if not prefix[0].isalnum():
        prefix = f"run-{prefix}"
    return f"{prefix}-{digest[:12]}"


def _assign(cfg: dict, path: tuple[str, ...], value: Any, key: str) -> None:
    node = cfg
    for part in path[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ValidationError(f"grid key {key!r}: {part!r} is not a table in the base config")
        node = nxt
    node[path[-1]] = copy.deepcopy(value)


def sweep_points(spec: dict | str | Path) -> list[SweepPoint]:
    """Expand a sweep spec into its validated points, in grid order.

    Raises
    ------
    ValidationError
        For a bad spec, or for the first point whose config is invalid (the message names
        the point's grid values and the offending key), or for duplicate points.
    """
    spec = load_spec(spec)
    axes = [(key, _axis_paths(key), values) for key, values in spec["grid"].items()]
    points: list[SweepPoint] = []
    ids: dict[str, int] = {}
    for index, combo in enumerate(itertools.product(*(values for _, _, values in axes))):
        grid: dict[str, Any] = {}
        assignments = []
        for (key, paths, _), value in zip(axes, combo, strict=True):
            vals = value if len(paths) > 1 else [value]
            for path, val in zip(paths, vals, strict=True):
                grid[".".join(path)] = val
                assignments.append((path, val, key))
        cfg = copy.deepcopy(spec["base"])
        try:
            # whole sub-tables first, then the keys inside them
            for path, val, key in sorted(assignments, key=lambda a: len(a[0])):
                _assign(cfg, path, val, key)
            cfg = validate_config(cfg)
        except ValidationError as exc:
            where = ", ".join(f"{k}={_short(v)}" for k, v in grid.items()) or "the base config"
            raise ValidationError(f"sweep point {index} ({where}): {exc}") from None
        digest = config_hash(cfg)
        rid = _run_id(grid, digest)
        if rid in ids:
            raise ValidationError(
                f"sweep points {ids[rid]} and {index} have the same config: remove the "
                "duplicate grid values"
            )
        ids[rid] = index
        points.append(SweepPoint(index, rid, cfg, grid, digest))
    return points


# --------------------------------------------------------------------------------------------
# One run, on whatever process the executor picks.


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_summary(run_dir: str | Path) -> dict:
    """The ``summary.json`` of a sweep run (raises if missing or unreadable)."""
    with (Path(run_dir) / SUMMARY_FILE).open("rb") as fh:
        summary = json.load(fh)
    if not isinstance(summary, dict):
        raise ValueError("summary.json is not an object")
    return summary


def check_run(run_dir: str | Path, expected_hash: str | None = None) -> str | None:
    """Why ``run_dir`` is not a complete sweep run, or None if it is.

    Complete means: ``store.is_complete``, a readable ``summary.json`` naming this run, and
    every file's SHA-256 equal to the one recorded when the run was written (so a truncated
    or altered Parquet file is caught even when it still parses).
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
            if _sha256(run_dir / name) != digest:
                return f"{name} does not match its checksum"
        except OSError as exc:
            return f"{name} unreadable ({exc})"
    return None


def _run_point(item: dict) -> dict:
    """Train one sweep point and land it atomically in ``runs_dir/run_id``.

    Runs on a worker. The run is written under a hidden staging name and renamed into place
    only when complete; if another execution of the same point landed first (a task retried
    after its worker was presumed dead), this one is discarded, so a run directory is
    written exactly once.
    """
    from threadpoolctl import threadpool_limits

    from ._version import __version__
    from .config import run_config

    runs = Path(item["runs_dir"])
    final = runs / item["run_id"]
    if check_run(final, item["config_hash"]) is None:
        return {**read_summary(final), "landed": False}
    token = uuid.uuid4().hex
    started = _dt.datetime.now(_dt.UTC).isoformat()
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):  # parallelism is across runs; results bit-reproducible
        result = run_config(item["config"], progress=False)
    wall = time.perf_counter() - t0
    last = result.final
    final_row = {k: last[k] for k in _FINAL_KEYS if k in last.index}
    summary = store.json_safe(
        {
            "run_id": item["run_id"],
            "index": item["index"],
            "sweep": item.get("sweep"),
            "config_hash": item["config_hash"],
            "grid": item["grid"],
            "config": item["config"],
            "steps": int(result.config["train"]["steps"]),
            "final": final_row,
            "wall_time": wall,
            "started": started,
            "finished": _dt.datetime.now(_dt.UTC).isoformat(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": token,
            "circuitlearn": __version__,
        }
    )
    stage = runs / f".{item['run_id']}.{token}"
    try:
        store.save(result, stage)
        summary["files"] = {name: _sha256(stage / name) for name in store.FILES}
        with (stage / SUMMARY_FILE).open("w") as fh:
            json.dump(summary, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(stage)
        try:
            os.rename(stage, final)  # fails if `final` exists: the first execution wins
        except OSError:
            if check_run(final, item["config_hash"]) is None:
                return {**read_summary(final), "landed": False}
            shutil.rmtree(final, ignore_errors=True)
            os.rename(stage, final)
        _fsync_dir(runs)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return {**summary, "landed": True}


# --------------------------------------------------------------------------------------------
# The sweep.


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` (released by the OS if this process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    fh = (out / LOCK_FILE).open("a")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ValidationError(
                f"another sweep is writing to {str(out)!r} right now: wait for it or pick "
                "another --out"
            ) from None
        yield
    finally:
        fh.close()


def _remove_leftovers(runs: Path) -> None:
    """Remove staging directories (``.name.*``) left by runs that died while writing."""
    for entry in runs.iterdir():
        if entry.name.startswith(".") and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def _write_spec(out: Path, spec: dict) -> None:
    tmp = out / f".{SPEC_FILE}.{uuid.uuid4().hex}"
    try:
        store.write_toml(tmp, spec)
        os.replace(tmp, out / SPEC_FILE)
    finally:
        tmp.unlink(missing_ok=True)


def _progress(enabled: bool | None) -> Any:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs {task.fields[note]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def sweep(
    spec: dict | str | Path,
    out: str | Path,
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Run every point of a sweep that is not already complete in ``out``.

    Parameters
    ----------
    spec : dict or path
        The sweep spec (parsed ``SWEEP.toml`` or its path): ``[base]`` run config, ``[grid]``
        axes, optional ``[sweep]`` with ``name``. See the module docstring.
    out : path
        Output directory: ``out/sweep.toml`` (the spec) and ``out/runs/<run_id>/``.
    workers : int, optional
        Parallel workers (default: the number of CPUs). ``1`` runs in this process.
    scheduler : str, distributed.Client or Executor, optional
        None: local processes (or in-process for ``workers=1``). ``"local-dask"``: start a
        Dask ``LocalCluster`` of ``workers`` processes. ``"tcp://HOST:PORT"``: a running
        Dask cluster (``out`` must be on a file system its workers share). A
        ``distributed.Client`` or an :class:`Executor` instance is used as given.
    progress : bool, optional
        Rich progress bar (runs done / total, ETA); default: on when stderr is a terminal.

    Returns
    -------
    pandas.DataFrame
        The tidy table of this sweep's runs, in grid order (see :func:`sweep_table`).

    Raises
    ------
    ValidationError
        A bad spec or point (before anything runs), bad ``workers``/``scheduler``, or another
        sweep holding ``out``.
    SweepError
        Some runs failed; every other run is saved, and a rerun retries only the failed ones.
    """
    points = sweep_points(spec)
    spec = load_spec(spec)
    executor = make_executor(workers, scheduler)  # checks the arguments; starts nothing yet
    own_executor = not isinstance(scheduler, Executor)
    out = Path(out).resolve()
    runs = out / RUNS_DIR
    runs.mkdir(parents=True, exist_ok=True)
    failures: dict[str, str] = {}
    with _locked(out):
        _write_spec(out, spec)
        _remove_leftovers(runs)
        todo = []
        for point in points:
            run_dir = runs / point.run_id
            if run_dir.exists() or run_dir.is_symlink():
                why = check_run(run_dir, point.config_hash)
                if why is None:
                    continue
                warnings.warn(
                    f"run {point.run_id} in {runs} is incomplete or corrupt ({why}): "
                    "removing it and running it again",
                    stacklevel=2,
                )
                if run_dir.is_dir() and not run_dir.is_symlink():
                    shutil.rmtree(run_dir)
                else:
                    run_dir.unlink()
            todo.append(point)
        items = [
            {
                "index": p.index,
                "run_id": p.run_id,
                "config": p.config,
                "grid": p.grid,
                "config_hash": p.config_hash,
                "sweep": spec["sweep"].get("name"),
                "runs_dir": str(runs),
            }
            for p in todo
        ]
        bar = _progress(progress)
        if items:
            task = None
            if bar is not None:
                bar.start()
                task = bar.add_task(
                    "sweep",
                    total=len(points),
                    completed=len(points) - len(items),
                    note=f"({len(points) - len(items)} already done, {executor.name})",
                )
            try:
                for item, _, error in executor.run(_run_point, items):
                    if error is not None:
                        failures[item["run_id"]] = f"{type(error).__name__}: {error}"
                    if bar is not None:
                        bar.advance(task)
                        if failures:
                            bar.update(task, note=f"({len(failures)} failed)")
            finally:
                if own_executor:
                    executor.close()
                if bar is not None:
                    bar.stop()
        _remove_leftovers(runs)
    if failures:
        raise SweepError(failures, len(points))
    table = sweep_table(out)
    order = {p.run_id: p.index for p in points}
    table = table[table["run_id"].isin(order)]
    table = table.iloc[np.argsort([order[r] for r in table["run_id"]], kind="stable")]
    keep = ["run_id", *[k for p in points[:1] for k in p.grid], *METRICS]
    table = table[[c for c in table.columns if c in keep]]
    return table.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Reading results.


def _cell(value: Any) -> Any:
    """A grid value as a table cell: sub-tables become labels like ``Bernoulli(p=0.5)``."""
    if isinstance(value, dict):
        inner = ", ".join(f"{k}={_cell(v)}" for k, v in value.items() if k != "kind")
        return f"{value.get('kind', '')}({inner})"
    if isinstance(value, list):
        return json.dumps(value)
    return value


def _lookup(config: dict, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _complete_runs(out: Path) -> list[tuple[Path, dict]]:
    runs = Path(out) / RUNS_DIR
    if not Path(out).is_dir():
        raise ValidationError(f"sweep directory {str(out)!r} does not exist")
    found = []
    if not runs.is_dir():
        return found
    for run_dir in sorted(runs.iterdir()):
        if run_dir.name.startswith(".") or not run_dir.is_dir():
            continue
        why = check_run(run_dir)
        if why is not None:
            warnings.warn(
                f"skipping run {run_dir.name}: {why} (rerun the sweep to recompute it)",
                stacklevel=3,
            )
            continue
        found.append((run_dir, read_summary(run_dir)))
    found.sort(key=lambda rs: (rs[1].get("index", 0), rs[0].name))
    return found


def _grid_keys(out: Path, summaries: list[dict]) -> list[str]:
    keys: list[str] = []
    with contextlib.suppress(Exception):
        for key in load_spec(Path(out) / SPEC_FILE)["grid"]:
            keys.extend(".".join(p) for p in _axis_paths(key))
    for summary in summaries:
        keys.extend(summary.get("grid", {}))
    return list(dict.fromkeys(keys))


def sweep_table(out: str | Path) -> pd.DataFrame:
    """One row per complete run of the sweep in ``out``.

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
        when the task is a classification, and ``wall_time`` (s). Incomplete or corrupt runs
        are left out with a warning, never read.
    """
    found = _complete_runs(Path(out))
    summaries = [s for _, s in found]
    keys = _grid_keys(Path(out), summaries)
    rows = []
    for s in summaries:
        grid = s.get("grid", {})
        row: dict[str, Any] = {"run_id": s["run_id"]}
        for key in keys:
            row[key] = _cell(grid[key] if key in grid else _lookup(s.get("config", {}), key))
        final = s.get("final", {})
        row["steps"] = s.get("steps")
        for key in (
            "updates_per_edge",
            "train_error",
            "test_error",
            "train_accuracy",
            "test_accuracy",
        ):
            row[key] = final.get(key)
        row["wall_time"] = s.get("wall_time")
        rows.append(row)
    table = pd.DataFrame(rows, columns=["run_id", *keys, *METRICS])
    for key in METRICS:
        if key.endswith("accuracy") and table[key].isna().all():
            table = table.drop(columns=key)
        elif key != "steps":
            table[key] = pd.to_numeric(table[key], errors="coerce").astype(float)
    return table.reset_index(drop=True)


def sweep_histories(out: str | Path) -> pd.DataFrame:
    """Every complete run's history in one long table.

    Returns
    -------
    pandas.DataFrame
        ``run_id``, the grid columns (as in :func:`sweep_table`), then the history columns
        (``step``, ``updates_per_edge``, ``train_error``, ``test_error``, ...): ready for
        learning curves with confidence bands grouped by the grid axes.
    """
    out = Path(out)
    found = _complete_runs(out)
    keys = _grid_keys(out, [s for _, s in found])
    frames = []
    for run_dir, s in found:
        hist = pd.read_parquet(run_dir / "history.parquet")
        grid = s.get("grid", {})
        front = {"run_id": s["run_id"]}
        for key in keys:
            front[key] = _cell(grid[key] if key in grid else _lookup(s.get("config", {}), key))
        for i, (col, val) in enumerate(front.items()):
            hist.insert(i, col, [val] * len(hist))
        frames.append(hist)
    if not frames:
        return pd.DataFrame(
            columns=["run_id", *keys, "step", "updates_per_edge", "train_error", "test_error"]
        )
    return pd.concat(frames, ignore_index=True)


def _is_replicate(key: str) -> bool:
    return key.split(".")[-1].endswith("seed")


def summarize(
    table: pd.DataFrame, by: Sequence[str] | None = None, metric: str | None = None
) -> pd.DataFrame:
    """Mean and 95 % confidence interval of a final metric per group of grid values.

    Parameters
    ----------
    table : DataFrame
        From :func:`sweep_table`.
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
    from scipy import stats

    grid = [c for c in table.columns if c != "run_id" and c not in METRICS]
    by = [c for c in grid if not _is_replicate(c)] if by is None else list(by)
    if metric is None:
        metric = "test_error" if table["test_error"].notna().any() else "train_error"
    groups = table.groupby(by, dropna=False, sort=False) if by else [((), table)]
    rows = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        vals = g[metric].dropna().to_numpy(dtype=float)
        n = len(vals)
        ci = (
            float(stats.t.ppf(0.975, n - 1) * vals.std(ddof=1) / math.sqrt(n))
            if n > 1
            else math.nan
        )
        row = dict(zip(by, key, strict=True))
        row.update({"n": n, f"{metric}_mean": vals.mean() if n else math.nan, f"{metric}_ci95": ci})
        if metric != "train_error":
            row["train_error_mean"] = g["train_error"].mean()
        if "test_accuracy" in g:
            row["test_accuracy_mean"] = g["test_accuracy"].mean()
        rows.append(row)
    return pd.DataFrame(rows)
