"""Command line: ``circuitlearn train | demo | sweep | reproduce | plot | bench``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .errors import ValidationError

app = typer.Typer(
    help="Simulate resistor networks that learn by coupled learning, synchronously or not.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


def _summary_table(title: str, rows: dict[str, dict]) -> Table:
    table = Table(title=title)
    cols = list(next(iter(rows.values())))
    table.add_column("run", no_wrap=True, min_width=14)
    for c in cols:
        table.add_column(c, justify="right")
    for label, row in rows.items():
        cells = (f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values())
        table.add_row(label, *cells)
    return table


def _final_numbers(result) -> dict:
    last = result.final
    out = {
        "updates/edge": float(last["updates_per_edge"]),
        "train error (V^2)": float(last["train_error"]),
        "test error (V^2)": float(last["test_error"]),
    }
    if "test_accuracy" in last:
        out["test accuracy"] = float(last["test_accuracy"])
    return out


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="TOML run config (see examples/).")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory for the results.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train one network as CONFIG describes and save the run."""
    from .config import load_config, run_config
    from .store import save

    try:
        cfg = load_config(config)
        out = out or Path("runs") / config.stem
        if out.exists() and not overwrite:
            raise ValidationError(f"--out {out} already exists: pick another or pass --overwrite")
        result = run_config(cfg, progress=None if not quiet else False)
        save(result, out, overwrite=overwrite)
    except ValidationError as exc:
        _fail(exc)
    console.print(_summary_table(f"{config.name}", {"final": _final_numbers(result)}))
    console.print(f"results in {out}/")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path(
        "circuitlearn-demo"
    ),
    steps: Annotated[
        int, typer.Option(help="Synchronous steps; Bernoulli(0.5) gets twice as many.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the data split and the schedule.")] = 0,
    seeds: Annotated[
        int, typer.Option(help="Repeat over seeds seed..seed+N-1 and report the mean accuracy.")
    ] = 1,
) -> None:
    """Train the 16-edge lab network on Iris, synchronously and with Bernoulli(0.5), print
    both test accuracies and final errors, and write a figure of the two learning curves."""
    import numpy as np

    from .demo import run_demo

    finals: dict[str, list[dict]] = {}
    try:
        for s in range(seed, seed + seeds):
            results, fig_path = run_demo(out if s == seed else out / f"seed-{s}", steps, s)
            if s == seed:
                figure = fig_path
            for label, r in results.items():
                finals.setdefault(label, []).append(_final_numbers(r))
    except ValidationError as exc:
        _fail(exc)
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
    console.print(_summary_table(title, rows))
    console.print(f"figure: {figure}")
    console.print(f"runs:   {out}/")


def _has_distributed() -> bool:
    import importlib.util

    return importlib.util.find_spec("distributed") is not None


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="TOML sweep spec: [base] config, [grid] axes.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Sweep directory (default: sweeps/<SPEC name>)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="Parallel workers; N > 1 starts a Dask LocalCluster of N processes "
            "(default: a process pool over all CPUs).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address (tcp://HOST:PORT) of a running cluster."),
    ] = None,
    dask: Annotated[
        bool | None,
        typer.Option(
            "--dask/--processes",
            help="Force a Dask LocalCluster, or a plain process pool (default: Dask when "
            "--workers N > 1 is given).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    extend: Annotated[
        bool, typer.Option(help="Add grid values to the sweep already in --out.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the points and which are done; run none.")
    ] = False,
) -> None:
    """Run every point of a sweep grid not yet complete in --out (an interrupted sweep resumes
    where it stopped) and print the final error per grid point, mean ± 95% CI over seeds."""
    import sys

    from .sweep import SweepError, SweepInterrupted, plan, summarize
    from .sweep import sweep as run_sweep

    if dry_run:
        try:
            points = plan(spec, out or Path("sweeps") / spec.stem, extend=extend)
        except ValidationError as exc:
            _fail(exc)
        console.print(points.to_string(index=False))
        done = int(points["done"].sum())
        console.print(f"{len(points) - done} of {len(points)} runs to do ({done} already done)")
        return

    if dask is not None and scheduler is not None:
        _fail(ValidationError("give --dask/--processes or --scheduler, not both"))
    if dask is None:
        dask = workers is not None and workers > 1 and _has_distributed()
    out = out or Path("sweeps") / spec.stem
    try:
        table = run_sweep(
            spec,
            out,
            workers=workers,
            scheduler=scheduler or ("local-dask" if dask else None),
            progress=False if quiet else None,
            extend=extend,
        )
    except ValidationError as exc:
        _fail(exc)
    except SweepInterrupted as exc:
        print(exc, file=sys.stderr)
        raise typer.Exit(code=130) from None
    except SweepError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    summary = summarize(table)
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
            cells[name] = f"{mean:.4g}" if ci is None or ci != ci else f"{mean:.4g} ± {ci:.2g}"
        rows[label or f"all ({i})"] = cells
    console.print(_summary_table(f"{spec.name}: final values, mean ± 95% CI over seeds", rows))
    console.print(
        f"{len(table)} runs in {out}/runs/ (table: circuitlearn.sweep_table({str(out)!r}))"
    )


@app.command()
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
        typer.Option("--out", "-o", help="Directory for the figures (default: RESULTS/plots)."),
    ] = None,
    formats: Annotated[
        str, typer.Option("--format", "-f", help="Comma-separated: png, pdf, svg.")
    ] = "png,pdf",
) -> None:
    """Draw the figures of a run (learning curves; the network before / after training and
    the change) or of a sweep (learning curves coloured by p with 95% confidence bands over
    seeds, final error against p, the network of a representative run)."""
    import matplotlib

    matplotlib.use("Agg")
    from .plots import plot_results

    try:
        paths = plot_results(results, out, formats)
    except ValidationError as exc:
        _fail(exc)
    for path in paths:
        console.print(f"wrote {path}")


@app.command()
def reproduce(
    experiment: Annotated[
        str | None,
        typer.Argument(help="e1, e2, e3 or e4 (default: all four, then the report)."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Smoke-test settings: every step in a minute or two.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output directory (default runs/reproduce or runs/reproduce-quick); "
            "finished runs found there are reused.",
        ),
    ] = None,
    docs: Annotated[
        Path | None,
        typer.Option(help="Also copy results.md and its figures here (e.g. docs)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="Worker processes (default: all CPUs)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
    report_only: Annotated[
        bool,
        typer.Option("--report-only", help="Run nothing: rewrite results.md from OUT's summaries."),
    ] = False,
) -> None:
    """Reproduce the desynchronous-learning experiments (E1 idealised, E2 stepped hardware,
    E3 mini-batch analogy, E4 fully asynchronous) and write results.md with its figures."""
    from .experiments import reproduce as run_reproduce

    try:
        report = run_reproduce(
            experiment,
            quick=quick,
            out=out,
            workers=workers,
            docs=docs,
            verbose=not quiet,
            report_only=report_only,
        )
    except ValidationError as exc:
        _fail(exc)
    console.print(f"report: {report}")


@app.command()
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="10^4 and 10^5 edges only (under a minute).")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the markdown report here.")
    ] = None,
) -> None:
    """Time a training step against the floor (one numeric refactor + one solve), the
    per-example approach, desynchronous low-rank updates, ensembles and memory, and print the
    markdown table (ratios measured in this process)."""
    import sys

    from .bench import run_bench

    report = run_bench(quick, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(report)
    if out is not None:
        out.write_text(report)
        console.print(f"report: {out}")


def main() -> None:  # pragma: no cover
    app()
