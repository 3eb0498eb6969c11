"""The published experiments on desynchronous learning, reproduced (``circuitlearn reproduce``).

=====  ===========================  =========================================================
name   module                       what it tests
=====  ===========================  =========================================================
e1     ``e1_idealised``             claim 1: desync does not degrade idealised learning
e2     ``e2_stepped``               claim 2: desync improves stepped hardware (and where)
e3     ``e3_minibatch``             claim 3: desync acts like mini-batching
e4     ``e4_async``                 fully asynchronous PoissonClocks against Bernoulli
iris   ``iris_board``               Iris >= 0.95 on the 16-edge lab board (issue item 7)
e5     ``e5_nonlinear``             claim 1 on transistor and diode networks
=====  ===========================  =========================================================

Each module's settings live in ``<module>.toml`` beside it (``[full]`` and ``[quick]``). Every
experiment writes its runs, ``summary.json`` and figures under the output directory, and
writes its own section of ``results.md`` from its summary (``report(summary)``);
``report.write_report`` assembles the sections: the report is generated from the measured
numbers, never written by hand. E2 and E3 keep their numbers and figures in
``e2_analysis``/``e3_analysis`` beside them. Adding an experiment means one new module with
``NAME``, ``TITLE``, ``HEADING``, ``CLAIM``, ``run`` and ``report``, listed in ``EXPERIMENTS``.

Examples
--------
>>> from circuitlearn.experiments import reproduce
>>> report = reproduce(["e2"], quick=True, out="runs/quick")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import ValidationError
from . import e1_idealised, e2_stepped, e3_minibatch, e4_async, e5_nonlinear, iris_board
from .common import Context, write_json
from .report import write_report

#: The experiments, by name, in report order: each module has ``NAME``, ``TITLE``,
#: ``HEADING``, ``CLAIM``, ``run(ctx) -> summary`` and ``report(summary) -> (verdict, body)``.
EXPERIMENTS = {
    m.NAME: m for m in (e1_idealised, e2_stepped, e3_minibatch, e4_async, iris_board, e5_nonlinear)
}

__all__ = ["EXPERIMENTS", "default_out", "publish", "reproduce", "run_experiment"]


def default_out(quick: bool) -> Path:
    """Default output directory: ``runs/reproduce`` (or ``runs/reproduce-quick``)."""
    return Path("runs") / ("reproduce-quick" if quick else "reproduce")


def _check_name(name: str) -> None:
    if name not in EXPERIMENTS:
        raise ValidationError(f"unknown experiment {name!r}: choose from {list(EXPERIMENTS)}")


def run_experiment(name: str, ctx: Context) -> dict:
    """Run one experiment by name and return its summary."""
    _check_name(name)
    return EXPERIMENTS[name].run(ctx)


def _command(names: Sequence[str] | None, quick: bool, out: Path, docs: Path | None) -> str:
    parts = ["circuitlearn reproduce"]
    if names and len(names) == 1:
        parts.append(names[0])
    if quick:
        parts.append("--quick")
    parts.append(f"--out {out}")
    if docs is not None:
        parts.append(f"--docs {docs}")
    return " ".join(parts)


def reproduce(
    experiments: Sequence[str] | str | None = None,
    quick: bool = False,
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    docs: str | Path | None = None,
    verbose: bool = True,
    report_only: bool = False,
) -> Path:
    """Run experiments and write the report.

    Parameters
    ----------
    experiments : str or sequence of str, optional
        Names from ``EXPERIMENTS`` (default: all, in order).
    quick : bool
        Small settings that run every step end to end in a minute or two.
    out : path, optional
        Output directory (default ``default_out(quick)``). Finished runs and conditions
        found there are reused, so an interrupted reproduction resumes.
    workers : int, optional
        Worker processes (default: every CPU).
    scheduler : str, optional
        Where the conditions run, as ``sweep`` takes it: ``"local-dask"`` (a Dask
        LocalCluster of ``workers`` processes), ``tcp://HOST:PORT`` (a running Dask
        cluster), ``"processes"`` or None (a local process pool).
    docs : path, optional
        Also publish the report: copy ``results.md`` and the figures to ``docs/results.md``
        and ``docs/figures/``.
    verbose : bool
        Progress lines on stderr.
    report_only : bool
        Run nothing: rewrite ``results.md`` (and publish it) from the summaries already in
        ``out``, e.g. after a change of the report's wording.

    Returns
    -------
    Path
        The written ``results.md`` (in ``out``).
    """
    if isinstance(experiments, str):
        experiments = [experiments]
    names = list(experiments) if experiments else list(EXPERIMENTS)
    for name in names:
        _check_name(name)
    out = Path(out) if out is not None else default_out(quick)
    docs = Path(docs) if docs is not None else None
    if report_only:
        if not any((out / name / "summary.json").is_file() for name in EXPERIMENTS):
            raise ValidationError(f"no experiment summaries in {out}: run reproduce first")
        report = write_report(out, EXPERIMENTS.values())
        if docs is not None:
            publish(out, docs)
        return report
    out.mkdir(parents=True, exist_ok=True)
    command = _command(experiments and names, quick, out, docs)
    ctx = Context(
        out=out,
        quick=quick,
        workers=workers,
        scheduler=scheduler,
        command=command,
        verbose=verbose,
    )
    t0 = time.perf_counter()
    runtimes = {}
    for name in names:
        ctx.log(f"{name}: start")
        t = time.perf_counter()
        run_experiment(name, ctx)
        runtimes[name] = time.perf_counter() - t
        ctx.log(f"{name}: done in {runtimes[name]:.1f} s")
    meta_path = out / "reproduce.json"
    meta = {}
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
    meta.update(
        {
            "command": command,
            "quick": quick,
            "experiments": names,
            "runtime_s": time.perf_counter() - t0,
        }
    )
    # An experiment whose conditions all came from disk took no measured run time now: the
    # report keeps the time of the invocation that computed them.
    previous = meta.setdefault("runtimes", {})
    for name, seconds in runtimes.items():
        if ctx.computed.get(name, 0) or name not in previous:
            previous[name] = seconds
    write_json(meta, meta_path)
    report = write_report(out, EXPERIMENTS.values())
    ctx.log(f"report: {report}")
    if docs is not None:
        publish(out, docs)
        ctx.log(f"published to {docs}/results.md")
    return report


def publish(out: str | Path, docs: str | Path) -> Path:
    """Copy ``out/results.md`` and the figures it embeds into ``docs``.

    Returns
    -------
    Path
        ``docs/results.md``.
    """
    out, docs = Path(out), Path(docs)
    (docs / "figures").mkdir(parents=True, exist_ok=True)
    for fig in sorted((out / "figures").glob("*")):
        if fig.suffix in (".png", ".pdf"):
            shutil.copy2(fig, docs / "figures" / fig.name)
    target = docs / "results.md"
    shutil.copy2(out / "results.md", target)
    return target
