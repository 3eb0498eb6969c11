"""Command line: ``circuitlearn train | demo | sweep | reproduce | plot | bench``.

Every user mistake ends in one line ``error: ...`` on stderr and exit code 2, found before any
work starts (configs, specs, options and every output path are checked first); an interrupt
exits with 130. Text is printed without rich markup, so ``[network]`` or ``pip install
'circuitlearn[dask]'`` arrive whole. The error handling, consoles and tables are in
``cli_support.py``; this module holds the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ._validation import check_output_dir, check_output_file, check_text_file, in_range
from ._version import __version__
from .cli_support import (  # noqa: F401  (EXIT_*: the exit codes, named here as before)
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    App,
    Command,
    console,
    format_cell,
    print_error,
    summary_table,
    user_errors,
)
from .errors import TrainingDiverged, ValidationError

app = App(
    help="Simulate resistor networks that learn by coupled learning, synchronously or not.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain click help: rich markup would eat "[base]", "[grid]" in the help texts.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.print(f"circuitlearn {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Simulate resistor networks that learn by coupled learning, synchronously or not."""


def _final_numbers(result) -> dict:
    last = result.final
    out = {
        "updates/edge": float(last["updates_per_edge"]),
        "train error (V^2)": float(last["train_error"]),
        # Tasks without test data (allostery) have NaN here; the table prints "-".
        "test error (V^2)": float(last["test_error"]),
    }
    if "test_accuracy" in last:
        out["test accuracy"] = float(last["test_accuracy"])
    return out


@app.command(cls=Command)
def train(
    config: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="TOML run config (see examples/).")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Directory for the results (default: runs/<name>)."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output directory.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    checkpoint_every: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Save a checkpoint next to --out every N steps (0: never); an interrupted or "
            "killed run continues from it with --resume.",
        ),
    ] = 1000,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the interrupted run into --out from its last checkpoint: the result "
            "is bit for bit the one an uninterrupted run gives.",
        ),
    ] = False,
) -> None:
    """Train one network as CONFIG describes and save the run. Ctrl-C saves the partial run
    (marked incomplete) and keeps the last checkpoint for --resume."""
    from .checkpoints import train_into
    from .config import load_config

    with user_errors(reading=config):
        in_range("--checkpoint-every", checkpoint_every, 0, None, integer=True)
        cfg = load_config(check_text_file("config file", config))
        out = out or Path("runs") / config.stem
        try:
            result = train_into(
                cfg,
                out,
                overwrite=overwrite,
                resume=resume,
                checkpoint_every=checkpoint_every,
                progress=None if not quiet else False,
            )
        except TrainingDiverged as exc:
            print_error(str(exc))
            raise typer.Exit(code=1) from None
    console.print(summary_table(f"{config.name}", {"final": _final_numbers(result)}))
    console.print(f"results in {out}/")


@app.command(cls=Command)
def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", help="Output directory.")
    ] = Path("circuitlearn-demo"),
    steps: Annotated[
        int,
        typer.Option(metavar="N", help="Synchronous steps; Bernoulli(0.5) gets twice as many."),
    ] = 2000,
    seed: Annotated[
        int, typer.Option(metavar="S", help="Seed of the data split and the schedule.")
    ] = 0,
    seeds: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Repeat over seeds S..S+N-1: the table gives means over seeds and the figure "
            "95% confidence bands.",
        ),
    ] = 1,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Write into an existing --out that is not a demo output (its demo files are "
            "replaced, other files are kept).",
        ),
    ] = False,
) -> None:
    """Train the 16-edge lab network on Iris, synchronously and with Bernoulli(0.5), print both
    test accuracies and final errors, and draw the two learning curves (OUT/seed-S/ holds
    the runs of seed S, OUT/learning_curves.png the figure)."""
    import numpy as np

    from .demo import check_demo_out, run_demo

    with user_errors():
        check_demo_out(out, overwrite, seeds=range(seed, seed + seeds), name="--out")
        results, figure = run_demo(out, steps, seed, seeds=seeds, overwrite=overwrite)
    finals = {label: [_final_numbers(r) for r in runs] for label, runs in results.items()}
    title = "Iris on the 16-edge lab network (levels encoding)"
    if seeds == 1:
        rows = {label: vals[0] for label, vals in finals.items()}
    else:
        rows = {}
        for label, vals in finals.items():
            acc = np.array([v["test accuracy"] for v in vals])
            err = np.array([v["test error (V^2)"] for v in vals])
            rows[label] = {
                "seeds": len(vals),
                "mean test accuracy": float(acc.mean()),
                "sd": float(acc.std(ddof=1)),
                "min": float(acc.min()),
                "mean test error (V^2)": float(err.mean()),
            }
        title += f", seeds {seed}..{seed + seeds - 1}"
    console.print(summary_table(title, rows))
    console.print(f"figure: {figure}")
    console.print(f"runs:   {out}/seed-*/")


def _has_distributed() -> bool:
    import importlib.util

    return importlib.util.find_spec("distributed") is not None


WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-w",
        metavar="N",
        help="Parallel workers, at least 1; N > 1 starts a Dask LocalCluster of N "
        "processes (default: a process pool over all CPUs).",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        metavar="ADDRESS",
        help="Dask scheduler address (tcp://HOST:PORT) of a running cluster.",
    ),
]
DaskOption = Annotated[
    bool | None,
    typer.Option(
        "--dask/--processes",
        help="Force a Dask LocalCluster, or a plain process pool (default: Dask when "
        "--workers N > 1 is given).",
    ),
]


def _scheduler(workers: int | None, scheduler: str | None, dask: bool | None) -> str | None:
    """The executor choice of ``--workers/--scheduler/--dask`` (checked), as ``make_executor``
    reads it."""
    if workers is not None:
        in_range("--workers", workers, 1, None, integer=True)
    if dask is not None and scheduler is not None:
        raise ValidationError("give --dask/--processes or --scheduler, not both")
    if scheduler is not None:
        return scheduler
    if dask is None:
        dask = workers is not None and workers > 1 and _has_distributed()
    return "local-dask" if dask else None


def _print_plan(plan, spec: Path, out: Path) -> None:
    table = Table(title=f"{spec.name}: {len(plan)} runs planned in {out}/ (dry run)")
    for col in plan.columns:
        table.add_column(str(col))
    for row in plan.itertuples(index=False):
        table.add_row(*(format_cell(v) for v in row))
    console.print(table)
    done = int(plan["done"].sum())
    console.print(f"{len(plan) - done} of {len(plan)} runs to do ({done} already done)")


@app.command(cls=Command)
def sweep(
    spec: Annotated[
        Path,
        typer.Argument(metavar="SPEC", help="TOML sweep spec: [base] config, [grid] axes."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Sweep directory (default: sweeps/<SPEC name>)."
        ),
    ] = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    dask: DaskOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Run nothing: list the grid points and which are already done."
        ),
    ] = False,
    extend: Annotated[
        bool,
        typer.Option(
            "--extend",
            help="Add this spec's points to a sweep directory that holds another spec.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run every point of a sweep grid not yet complete in --out (an interrupted sweep resumes
    where it stopped) and print the final error per grid point, mean ± 95% CI over seeds."""
    from . import sweep as sweep_mod

    with user_errors(reading=spec):
        scheduler = _scheduler(workers, scheduler, dask)
        check_text_file("sweep spec", spec)
        out = out or Path("sweeps") / spec.stem
        check_output_dir("--out", out, overwrite=True)  # an existing sweep is resumed
        if dry_run:
            _print_plan(sweep_mod.plan(spec, out, extend=extend), spec, out)
            return
        try:
            table = sweep_mod.sweep(
                spec,
                out,
                workers=workers,
                scheduler=scheduler,
                progress=False if quiet else None,
                extend=extend,
            )
        except sweep_mod.SweepError as exc:
            print_error(str(exc))
            raise typer.Exit(code=1) from None
    summary = sweep_mod.summarize(table)
    rows = {}
    for i, row in summary.iterrows():
        label = ", ".join(f"{k}={row[k]}" for k in summary.columns[: summary.columns.get_loc("n")])
        cells = {"n": int(row["n"])}
        for col in summary.columns[summary.columns.get_loc("n") + 1 :]:
            name = col.removesuffix("_mean")
            if col.endswith("_ci95"):
                continue
            mean = row[col]
            ci = row.get(f"{name}_ci95")
            if mean != mean:
                cells[name] = "-"
            else:
                cells[name] = f"{mean:.4g}" if ci is None or ci != ci else f"{mean:.4g} ± {ci:.2g}"
        rows[label or f"all ({i})"] = cells
    console.print(summary_table(f"{spec.name}: final values, mean ± 95% CI over seeds", rows))
    console.print(
        f"{len(table)} runs in {out}/runs/ (table: circuitlearn.sweep_table({str(out)!r}))"
    )


@app.command(cls=Command)
def plot(
    results: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_OR_SWEEP_DIR",
            help="A run directory (train --out) or a sweep directory (sweep --out).",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Directory for the figures (default: RUN_OR_SWEEP_DIR/plots).",
        ),
    ] = None,
    formats: Annotated[
        str,
        typer.Option("--format", "-f", metavar="FORMATS", help="Comma-separated: png, pdf, svg."),
    ] = "png,pdf",
) -> None:
    """Draw the figures of a run (learning curves; the network before / after training and
    the change) or of a sweep (learning curves coloured by p with 95% confidence bands over
    seeds, final error against p, the network of a representative run)."""
    import matplotlib

    matplotlib.use("Agg")
    from .plots import plot_results

    with user_errors():
        if results.is_dir():  # plot_results names a missing or wrong RESULTS itself
            check_output_dir("--out", out or results / "plots", overwrite=True)
        paths = plot_results(results, out, formats.lower())
    for path in paths:
        console.print(f"wrote {path}")


@app.command(cls=Command)
def reproduce(
    experiment: Annotated[
        str | None,
        typer.Argument(
            metavar="EXPERIMENT",
            help="e1, e2, e3, e4 or iris (default: all of them, then the report).",
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Smoke-test settings: every step in under a minute.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Output directory (default runs/reproduce or runs/reproduce-quick); "
            "finished runs found there are reused.",
        ),
    ] = None,
    docs: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Also copy results.md and its figures here (e.g. docs)."),
    ] = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    dask: DaskOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
    report_only: Annotated[
        bool,
        typer.Option("--report-only", help="Run nothing: rewrite results.md from OUT's summaries."),
    ] = False,
) -> None:
    """Reproduce the desynchronous-learning experiments (E1 idealised, E2 stepped hardware,
    E3 mini-batch analogy, E4 fully asynchronous, iris on the 16-edge board) and write
    results.md with its figures; every verdict follows from the criteria in the TOML files."""
    from .experiments import EXPERIMENTS, default_out
    from .experiments import reproduce as run_reproduce

    with user_errors():
        if experiment is not None:
            experiment = experiment.strip().lower()  # "E1" names the same experiment as "e1"
            if experiment not in EXPERIMENTS:
                raise ValidationError(
                    f"unknown experiment {experiment!r}: choose from {list(EXPERIMENTS)} "
                    "(or none for all)"
                )
        scheduler = _scheduler(workers, scheduler, dask)
        check_output_dir("--out", out or default_out(quick), overwrite=True)
        if docs is not None:
            check_output_dir("--docs", docs, overwrite=True)
            check_output_dir("--docs", docs / "figures", overwrite=True)
            check_output_file("--docs", docs / "results.md")
        report = run_reproduce(
            experiment,
            quick=quick,
            out=out,
            workers=workers,
            scheduler=scheduler,
            docs=docs,
            verbose=not quiet,
            report_only=report_only,
        )
    console.print(f"report: {report}")


@app.command(cls=Command)
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="10^4 and 10^5 edges only (under a minute).")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="FILE", help="Also write the markdown report here."),
    ] = None,
) -> None:
    """Time a training step against the floor (one numeric refactor + one solve), the
    per-example approach, desynchronous low-rank updates, ensembles and memory, and print the
    markdown table (ratios measured in this process)."""
    from .bench import run_bench

    with user_errors():
        if out is not None:
            check_output_file("--out", out)
        report = run_bench(quick, log=lambda s: print(s, file=sys.stderr, flush=True))
        print(report)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(report)
            console.print(f"report: {out}")


def main() -> None:
    """Entry point of the ``circuitlearn`` script and of ``python -m circuitlearn``."""
    app()
