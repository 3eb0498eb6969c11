"""Sweeps: many training runs over a grid of config values, resumable, local or on Dask.

``cl.sweep(spec, out)`` runs every point of a sweep spec (see ``circuitlearn.grid``) that is
not already complete in ``out``. Each point becomes one run directory
``OUT/runs/<run_id>/``, landed atomically by ``store.atomic_dir``: ``store.save`` files plus
``summary.json`` (final metrics, grid values, wall time and a SHA-256 of every file). A rerun
skips complete runs and removes and reruns anything incomplete or corrupt, so an interrupted
sweep resumes where it stopped and a finished run is never computed twice. ``plan`` says what
a sweep would do without doing it; ``circuitlearn.results`` reads the results.

An existing sweep directory holds one spec: running a different one into it is refused,
unless ``extend=True`` and the new spec keeps every point of the old one (the same base
config with more grid values).

Runs execute on an :class:`Executor` (``executors.py``): in-process (``workers=1``), local
processes (the default), or a Dask cluster (``scheduler="local-dask"`` starts a
``LocalCluster``; ``scheduler="tcp://HOST:PORT"`` connects to a running one). A new backend
is a new ``Executor`` subclass.

The first Ctrl-C (SIGINT) stops starting runs, lets the runs in flight finish and raises
:class:`SweepInterrupted`; a second one stops at once (worker processes are terminated).
The progress display and the Ctrl-C handling live in ``sweep_progress.py``.

``circuitlearn.sweep`` is this module, and calling it runs :func:`sweep`:
``cl.sweep(spec, out)`` and ``cl.sweep.Executor`` both work.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import socket
import sys
import time
import types
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from . import config, store
from ._version import __version__
from .errors import ValidationError
from .executors import (  # noqa: F401  (re-exported: the sweep's public names)
    SCHEDULERS,
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)
from .grid import (  # noqa: F401  (re-exported)
    SweepPoint,
    config_hash,
    load_spec,
    same_spec,
    spec_difference,
    sweep_points,
)
from .results import (  # noqa: F401  (re-exported)
    METRICS,
    RUNS_DIR,
    SPEC_FILE,
    SUMMARY_FILE,
    cell,
    check_run,
    read_summary,
    read_sweep,
    summarize,
    sweep_histories,
    sweep_table,
)
from .sweep_progress import Interrupts, SweepProgress, in_worker_bootstrap

__all__ = [
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "SweepError",
    "SweepInterrupted",
    "SweepPoint",
    "load_spec",
    "make_executor",
    "plan",
    "summarize",
    "sweep",
    "sweep_histories",
    "sweep_points",
    "sweep_table",
]

LOCK_FILE = ".sweep.lock"
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


class SweepInterrupted(KeyboardInterrupt):
    """The sweep was stopped by Ctrl-C; every finished run is saved.

    A ``KeyboardInterrupt``, so code that catches ``Exception`` does not swallow it; the
    command line turns it into its message on stderr and exit code 130.

    Attributes
    ----------
    saved, total : int
        Runs of the sweep complete on disk, and points in the sweep.
    """

    def __init__(self, saved: int, total: int):
        self.saved = saved
        self.total = total
        super().__init__(
            f"interrupted: {saved} of {total} runs saved; rerun the same command to resume"
        )

    def __str__(self) -> str:
        return str(self.args[0])


# --------------------------------------------------------------------------------------------
# One run, on whatever process the executor picks.


def _land(result: Any, summary: dict, final: Path, overwrite: bool) -> None:
    with store.atomic_dir(final, overwrite=overwrite) as stage:
        store.write_run(result, stage)
        summary["files"] = {name: store.file_sha256(stage / name) for name in store.FILES}
        (stage / SUMMARY_FILE).write_text(json.dumps(summary, indent=1))


def _run_point(item: dict) -> dict:
    """Train one sweep point and land it atomically in ``runs_dir/run_id``.

    Runs on a worker. If another execution of the same point landed first (a task retried
    after its worker was presumed dead), this one is discarded, so a run directory is
    written exactly once.
    """
    final = Path(item["runs_dir"]) / item["run_id"]
    if check_run(final, item["config_hash"]) is None:
        return {**read_summary(final), "landed": False}
    started = _dt.datetime.now(_dt.UTC).isoformat()
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):  # parallelism is across runs; results bit-reproducible
        result = config.run_config(item["config"], progress=False)
    wall = time.perf_counter() - t0
    last = result.final
    summary = store.json_safe(
        {
            "run_id": item["run_id"],
            "index": item["index"],
            "sweep": item.get("sweep"),
            "config_hash": item["config_hash"],
            "grid": item["grid"],
            "config": item["config"],
            "steps": int(result.config["train"]["steps"]),
            "final": {k: last[k] for k in _FINAL_KEYS if k in last.index},
            "wall_time": wall,
            "started": started,
            "finished": _dt.datetime.now(_dt.UTC).isoformat(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": uuid.uuid4().hex,
            "circuitlearn": __version__,
        }
    )
    try:
        _land(result, summary, final, overwrite=False)
    except FileExistsError:  # the first execution wins; a broken directory is replaced
        if check_run(final, item["config_hash"]) is None:
            return {**read_summary(final), "landed": False}
        _land(result, summary, final, overwrite=True)
    return {**summary, "landed": True}


# --------------------------------------------------------------------------------------------
# The sweep directory: one spec, one writer.


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


def _check_existing(out: Path, spec: dict, points: list[SweepPoint], extend: bool) -> None:
    """Refuse to run ``spec`` into ``out`` if ``out`` holds another sweep (see module doc)."""
    saved_path = out / SPEC_FILE
    if not saved_path.is_file():
        runs = out / RUNS_DIR
        if runs.is_dir() and any(not p.name.startswith(".") for p in runs.iterdir()):
            raise ValidationError(
                f"--out: {str(out)!r} holds runs/ but no {SPEC_FILE}, so it is not a sweep "
                "this spec can resume: choose another --out"
            )
        return
    try:
        saved = load_spec(saved_path)
    except ValidationError as exc:
        raise ValidationError(
            f"--out: {str(saved_path)!r} is unreadable ({exc}): choose another --out"
        ) from None
    if same_spec(saved, spec):
        return
    what = spec_difference(saved, spec)
    if not extend:
        raise ValidationError(
            f"--out: {str(out)!r} holds a different sweep (its {SPEC_FILE} differs in {what}): "
            "choose another --out, or pass extend=True (--extend) to add grid values to it"
        )
    try:
        old = {p.run_id for p in sweep_points(saved)}
    except ValidationError as exc:
        raise ValidationError(
            f"--extend: the sweep in {str(out)!r} cannot be expanded any more ({exc}): "
            "choose another --out"
        ) from None
    lost = old - {p.run_id for p in points}
    if lost:
        raise ValidationError(
            f"--extend: {len(lost)} of the {len(old)} points of the sweep in {str(out)!r} are "
            f"not points of the new spec (it changes {what}); --extend only adds grid values "
            "to the same base config: choose another --out"
        )


def plan(spec: dict | str | Path, out: str | Path, extend: bool = False) -> pd.DataFrame:
    """What :func:`sweep` would do, without doing it (``circuitlearn sweep --dry-run``).

    Parameters
    ----------
    spec, out, extend
        As for :func:`sweep`.

    Returns
    -------
    pandas.DataFrame
        One row per point, in grid order: ``run_id``, one column per grid key (cells as in
        ``sweep_table``) and ``done`` (True if a complete run is already in ``out``).

    Raises
    ------
    ValidationError
        As :func:`sweep` would, before running anything: a bad spec or point, or ``out``
        refused (a file, not writable, or holding a different sweep).
    """
    points = sweep_points(spec)
    spec = load_spec(spec)
    out = store.check_output_dir("--out", out, exist_ok=True)
    if out.is_dir():
        _check_existing(out, spec, points, extend)
    runs = out / RUNS_DIR
    rows = [
        {
            "run_id": p.run_id,
            **{k: cell(v) for k, v in p.grid.items()},
            "done": check_run(runs / p.run_id, p.config_hash) is None,
        }
        for p in points
    ]
    keys = list(points[0].grid) if points else []
    return pd.DataFrame(rows, columns=["run_id", *keys, "done"])


# --------------------------------------------------------------------------------------------
# The sweep.


def sweep(
    spec: dict | str | Path,
    out: str | Path,
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
    extend: bool = False,
) -> pd.DataFrame:
    """Run every point of a sweep that is not already complete in ``out``.

    Parameters
    ----------
    spec : dict or path
        The sweep spec (parsed ``SWEEP.toml`` or its path): ``[base]`` run config, ``[grid]``
        axes, optional ``[sweep]`` with ``name``. See ``circuitlearn.grid``.
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
        True: a rich progress bar on stderr. False: nothing. None (default): the bar when
        stderr is a terminal, else a line ``sweep: 6/12 runs done, 0:00:08 elapsed`` at most
        every 10 s.
    extend : bool
        Allow a spec that differs from the one ``out`` already holds, if it keeps every
        point of it (more grid values for the same base config); it replaces the saved spec.

    Returns
    -------
    pandas.DataFrame
        The tidy table of this sweep's runs, in grid order (see ``results.sweep_table``).

    Raises
    ------
    ValidationError
        Before anything runs: a bad spec or point, bad ``workers``/``scheduler``, ``out`` a
        file or not writable, ``out`` holding a different sweep (without ``extend``), or
        another sweep holding ``out``. Also when worker processes die while starting
        because the calling script lacks an ``if __name__ == "__main__":`` guard.
    SweepError
        Some runs failed; every other run is saved, and a rerun retries only the failed ones.
    SweepInterrupted
        Ctrl-C: finished runs are saved; rerunning the same call resumes.
    """
    if in_worker_bootstrap():
        # A worker is re-running a script that calls cl.sweep at its top level. Leave
        # quietly: the sweep's own process reports the missing guard once.
        raise SystemExit(1)
    points = sweep_points(spec)
    spec = load_spec(spec)
    executor = make_executor(workers, scheduler)  # checks the arguments; starts nothing yet
    own_executor = not isinstance(scheduler, Executor)
    given = store.check_output_dir("--out", out, exist_ok=True)
    if given.is_dir():
        _check_existing(given, spec, points, extend)
    out = given.resolve()
    runs = out / RUNS_DIR
    runs.mkdir(parents=True, exist_ok=True)
    failures: dict[str, str] = {}
    interrupted = False
    with _locked(out):
        _check_existing(out, spec, points, extend)  # again, now that no one else can write
        store.write_toml(out / SPEC_FILE, spec)
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
        if items:
            executor.stop_requested = False
            bar = SweepProgress(progress, len(points), len(points) - len(items), executor.name)
            outcomes = None
            interrupts = Interrupts(executor)
            try:
                with interrupts:
                    outcomes = executor.run(_run_point, items)
                    for item, _, error in outcomes:
                        if error is not None:
                            failures[item["run_id"]] = f"{type(error).__name__}: {error}"
                        bar.advance(failed=error is not None)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                if outcomes is not None:
                    outcomes.close()  # stops what is still running (pools are terminated)
                if own_executor:
                    executor.close()
                bar.stop()
            interrupted = interrupted or interrupts.count > 0
        _remove_leftovers(runs)
    if interrupted:
        saved = sum(check_run(runs / p.run_id, p.config_hash) is None for p in points)
        raise SweepInterrupted(saved, len(points))
    if failures:
        raise SweepError(failures, len(points))
    return sweep_table(out)


# ``import circuitlearn.sweep`` gives this module, and ``cl.sweep(...)`` still runs a sweep:
# the module is callable.
class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
