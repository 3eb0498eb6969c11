"""Shared machinery of the experiments: settings, cached results, parallel conditions, figures.

Every experiment reads its settings from ``<module>.toml`` beside this file: a ``[full]``
table, and a ``[quick]`` table whose keys override it for ``--quick``. Its measured results
go under ``OUT/<experiment>/``: one Parquet file per *condition* (a batch of replicas trained
together), written atomically (``store.atomic_write``) and named by the hash of the
condition (``store.canonical_hash``), so a rerun skips what is done; its figures go to
``OUT/figures/`` (PNG and PDF) and its numbers to ``OUT/<experiment>/summary.json``, from
which its ``report`` writes its section of ``results.md``. Statistics come from
``circuitlearn.analysis``, Markdown formatting from ``report``.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..ensemble import train_many
from ..executors import make_executor
from ..store import atomic_write, canonical_hash, json_safe
from .criteria import Cell, claim_verdicts, judge, load_criteria

HERE = Path(__file__).resolve().parent
FIGURE_FORMATS = ("png", "pdf")


@dataclass
class Context:
    """Where and how an experiment runs.

    Attributes
    ----------
    out : Path
        Output root (``--out``); each experiment writes under ``out / name``.
    quick : bool
        Use the ``[quick]`` settings (a smoke run of every step, minutes at most).
    workers : int or None
        Parallel worker processes (None: every CPU).
    scheduler : str or None
        Address of a running Dask scheduler (``tcp://HOST:PORT``): the conditions run on its
        workers instead of local processes.
    command : str
        The command line that reproduces this output (quoted in the report).
    verbose : bool
        Print progress lines to stderr.
    """

    out: Path
    quick: bool = False
    workers: int | None = None
    scheduler: str | None = None
    command: str = "circuitlearn reproduce"
    verbose: bool = True
    started: float = field(default_factory=time.perf_counter)
    #: Conditions computed (not read from disk) in this invocation, per experiment.
    computed: dict[str, int] = field(default_factory=dict)

    @property
    def figures(self) -> Path:
        path = self.out / "figures"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def dir(self, name: str) -> Path:
        """``out / name``, created."""
        path = self.out / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, message: str) -> None:
        if self.verbose:
            elapsed = time.perf_counter() - self.started
            print(f"[{elapsed:7.1f} s] {message}", file=sys.stderr, flush=True)

    def command_for(self, experiment: str) -> str:
        """The command that reruns one experiment into the same output directory."""
        quick = " --quick" if self.quick else ""
        return f"circuitlearn reproduce {experiment}{quick} --out {self.out}"

    def write_summary(
        self, name: str, title: str, settings: dict, t0: float, **results: Any
    ) -> dict:
        """Write ``out / name / summary.json`` (what the report reads) and return it.

        Every summary carries the experiment's name, title, the command that reruns it, the
        mode, its settings and its run time (since ``t0``, a ``time.perf_counter()`` value),
        besides the experiment's own ``results``.
        """
        summary = {
            "name": name,
            "title": title,
            "command": self.command_for(name),
            "quick": self.quick,
            "settings": settings,
            **results,
            "runtime_s": time.perf_counter() - t0,
        }
        write_json(summary, self.dir(name) / "summary.json")
        return summary


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, val in over.items():
        if isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], val)
        else:
            out[key] = copy.deepcopy(val)
    return out


def load_settings(name: str, quick: bool) -> dict:
    """Settings of experiment ``name`` from ``name.toml``: ``[full]``, updated by ``[quick]``.

    Parameters
    ----------
    name : str
        Module name, e.g. ``"e1_idealised"``.
    quick : bool

    Returns
    -------
    dict
    """
    with (HERE / f"{name}.toml").open("rb") as fh:
        doc = tomllib.load(fh)
    return _merge(doc["full"], doc.get("quick", {})) if quick else copy.deepcopy(doc["full"])


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to Parquet atomically (``store.atomic_write``)."""
    atomic_write(path, frame.to_parquet(index=False))


def write_json(data: Any, path: Path) -> None:
    """Write ``data`` as JSON atomically (NaN and infinities become null)."""
    atomic_write(path, json.dumps(json_safe(data), indent=1, sort_keys=False))


def run_conditions(
    ctx: Context,
    experiment: str,
    conditions: Sequence[dict],
    fn: Callable[[dict], pd.DataFrame],
) -> list[pd.DataFrame]:
    """Compute ``fn(condition)`` for every condition not yet on disk, in parallel.

    Parameters
    ----------
    ctx : Context
    experiment : str
        Subdirectory of ``ctx.out``.
    conditions : sequence of dict
        Each needs a unique ``"key"`` (a file-name-safe string) and is passed to ``fn`` whole;
        its result is cached as ``OUT/<experiment>/conditions/<key>-<hash>.parquet``, the hash
        taken over the whole condition, so changed settings are recomputed.
    fn : callable
        A module-level function (it runs in worker processes) returning a DataFrame.

    Returns
    -------
    list of DataFrame
        One per condition, in order.
    """
    cache = ctx.dir(experiment) / "conditions"
    paths = [cache / f"{c['key']}-{condition_hash(c)}.parquet" for c in conditions]
    todo = [c for c, p in zip(conditions, paths, strict=True) if not p.is_file()]
    ctx.computed[experiment] = ctx.computed.get(experiment, 0) + len(todo)
    if todo:
        ctx.log(
            f"{experiment}: {len(todo)} of {len(conditions)} conditions to run "
            f"({len(conditions) - len(todo)} already on disk)"
        )
        items = [
            {"condition": c, "path": str(p), "fn": fn}
            for c, p in zip(conditions, paths, strict=True)
            if not p.is_file()
        ]
        workers = ctx.workers
        if workers is None:
            workers = min(os.cpu_count() or 1, len(items))
        executor = make_executor(max(1, min(workers, len(items))), scheduler=ctx.scheduler)
        failures = []
        done = 0
        try:
            for item, _, error in executor.run(_run_condition, items):
                done += 1
                if error is not None:
                    failures.append(f"{item['condition']['key']}: {error!r}")
                ctx.log(f"{experiment}: {done}/{len(items)} {item['condition']['key']}")
        finally:
            executor.close()
        if failures:
            raise RuntimeError(
                f"{len(failures)} {experiment} conditions failed (rerun to retry them):\n"
                + "\n".join(failures)
            )
    return [pd.read_parquet(p) for p in paths]


def condition_hash(condition: dict) -> str:
    """Hash of a condition's canonical JSON (``store.canonical_hash``): a cached result is
    reused only for exactly the same condition (settings included)."""
    return canonical_hash(condition)


def _run_condition(item: dict) -> str:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        frame = item["fn"](item["condition"])
    write_frame(frame, Path(item["path"]))
    return item["path"]


def train_replicas(nets, tasks, rule, schedule, seeds, **kwargs) -> list:
    """Train the replicas of one condition in one stacked computation
    (``ensemble.train_many``), without a progress bar.

    Parameters
    ----------
    nets, tasks : one, or one per replica
    rule, schedule : shared by every replica
    seeds : sequence of int
        One training seed per replica.
    **kwargs
        ``steps``, ``batch_size``, ``record_every``, ``record_state`` as in ``train``.

    Returns
    -------
    list of TrainResult
    """
    return train_many(nets, tasks, rule, schedule, seeds=seeds, progress=False, **kwargs)


def paired_log_ratios(
    a: pd.DataFrame, b: pd.DataFrame, keys: Sequence[str], column: str = "error"
) -> tuple[np.ndarray, pd.Index]:
    """Paired ``log(a / b)`` of ``column`` over the ``keys`` (e.g. network and seed) both
    frames hold, in key order, and those keys.

    Returns
    -------
    logs : array, shape (n,)
    index : pandas.Index
        The shared keys (a MultiIndex for several), one per log ratio.
    """
    ea, eb = a.set_index(list(keys))[column], b.set_index(list(keys))[column]
    idx = ea.index.intersection(eb.index).sort_values()
    return np.log(ea.loc[idx].to_numpy(float) / eb.loc[idx].to_numpy(float)), idx


def judge_criteria(module: str, cells: dict[str, list[Cell]]) -> dict:
    """Verdicts of experiment ``module``'s pre-registered criteria from its measured cells.

    Parameters
    ----------
    module : str
        Module name, e.g. ``"e1_idealised"``: its criteria are the ``[[criteria]]`` of
        ``module.toml``.
    cells : dict
        Criterion id -> the cells measured for it. Every criterion must be given (an empty
        list for one that could not be measured, e.g. in quick mode).

    Returns
    -------
    dict
        ``{"criteria": [...], "claims": {claim: verdict}}``, JSON-ready, for the summary and
        ``report.criteria_section``.
    """
    crits = load_criteria(HERE / f"{module}.toml")
    unknown = sorted(set(cells) - {c.id for c in crits})
    if unknown:
        raise ValueError(f"{module}: cells for unknown criteria {unknown}")
    missing = sorted({c.id for c in crits} - set(cells))
    if missing:
        raise ValueError(f"{module}: no cells given for criteria {missing}")
    judged = [judge(c, cells[c.id]) for c in crits]
    return {"criteria": [j.to_dict() for j in judged], "claims": claim_verdicts(judged)}


def save_figure(fig, ctx: Context, stem: str) -> str:
    """Write ``fig`` as ``figures/<stem>.png`` and ``.pdf``; return the PNG path relative
    to ``ctx.out`` (as the report links it)."""
    import matplotlib.pyplot as plt

    for fmt in FIGURE_FORMATS:
        fig.savefig(ctx.figures / f"{stem}.{fmt}", dpi=150 if fmt == "png" else None)
    plt.close(fig)
    return f"figures/{stem}.png"


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend, with readable defaults."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 10,
            "axes.labelsize": 10,
            "legend.fontsize": 8,
            "figure.dpi": 100,
        }
    )
    return plt
