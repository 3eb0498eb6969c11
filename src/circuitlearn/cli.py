"""Command line: ``circuitlearn train | demo | sweep | reproduce | plot | bench``.

Every user mistake ends in one line ``error: ...`` on stderr and exit code 2, found before any
work starts (configs, specs, options and every output path are checked first); an interrupt
exits with 130. Text is printed without rich markup, so ``[network]`` or ``pip install
'circuitlearn[dask]'`` arrive whole.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand

from ._validation import check_output_dir, check_output_file, check_text_file, in_range
from ._version import __version__
from .errors import TrainingDiverged, TrainingInterrupted, ValidationError

#: Exit codes: a user mistake, an interrupt (128 + SIGINT).
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _is_usage_error(exc: BaseException) -> bool:
    # Click's (or Typer's vendored click's) UsageError and ClickException, found by their
    # interface so that every supported Typer version is covered.
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


class _App(typer.Typer):
    """A Typer app whose command-line errors are one line on stderr.

    Click prints usage mistakes (a bad option value, a missing argument) as a usage block;
    here they become ``error: ...`` with exit code 2, and Ctrl-C becomes exit code 130.
    """

    def __call__(self, *args, **kwargs):
        if args or kwargs:  # called as a plain click command (e.g. by a test harness)
            return super().__call__(*args, **kwargs)
        command = typer.main.get_command(self)
        try:
            code = command.main(args=sys.argv[1:], prog_name="circuitlearn", standalone_mode=False)
        except KeyboardInterrupt as exc:
            _report_interrupt(exc)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if isinstance(exc, typer.Abort) or type(exc).__name__ == "Abort":
                _report_interrupt(exc)  # older click: Ctrl-C outside a command body
                sys.exit(EXIT_INTERRUPTED)
            if not _is_usage_error(exc):
                raise
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
                print(ctx.get_help())  # a bare "circuitlearn": the help, as click shows it
                sys.exit(exc.exit_code)
            where = ctx.command_path if ctx is not None else "circuitlearn"
            _print_error(f"{exc.format_message()} (see: {where} --help)")
            sys.exit(exc.exit_code)
        if code == EXIT_INTERRUPTED:  # Typer turns Ctrl-C outside a command body into 130
            _report_interrupt(KeyboardInterrupt())
        sys.exit(code if isinstance(code, int) else 0)


class _Command(TyperCommand):
    """A command whose usage line shows arguments as ``SPEC``, not ``{SPEC}``."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


app = _App(
    help="Simulate resistor networks that learn by coupled learning, synchronously or not.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain click help: rich markup would eat "[base]", "[grid]" in the help texts.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# markup=False: nothing printed is parsed for [style] tags, so "[network]" stays in messages.
console = Console(markup=False, highlight=False)
err_console = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)


def _print_error(message: str, label: str = "error") -> None:
    # One line: newlines inside a message (e.g. a TOML parser's) are folded into it.
    line = " ".join(str(message).split())
    err_console.print(Text.assemble((f"{label}:", "bold red"), " ", line))


_interrupt_reported = False


def _report_interrupt(exc: BaseException) -> None:
    """Print one ``interrupted: ...`` line, once per process (the exception's message if any:
    a sweep says what it saved)."""
    global _interrupt_reported
    if _interrupt_reported:
        return
    _interrupt_reported = True
    if not isinstance(exc, KeyboardInterrupt):  # an Abort wrapping the KeyboardInterrupt
        exc = exc.__context__ or exc
    _print_error(str(exc) or "stopped by Ctrl-C", label="interrupted")


def _fail(exc: Exception | str) -> None:
    _print_error(str(exc))
    raise typer.Exit(code=EXIT_USAGE)


@contextlib.contextmanager
def _user_errors(reading: Path | None = None) -> Iterator[None]:
    """Turn the mistakes a user can make into one-line errors (exit 2), never a traceback;
    Ctrl-C into one ``interrupted:`` line and exit code 130. ``reading``: the input file the
    command parses (named when it turns out not to be UTF-8 text)."""
    try:
        yield
    except KeyboardInterrupt as exc:
        _report_interrupt(exc)
        raise typer.Exit(code=EXIT_INTERRUPTED) from None
    except ValidationError as exc:
        _fail(exc)
    except UnicodeDecodeError as exc:
        what = f"{str(reading)!r} is" if reading is not None else "a file given is"
        _fail(f"{what} not UTF-8 text ({exc.reason} at byte {exc.start}): give a TOML file")
    except OSError as exc:
        # Paths are checked before any work, so this is a race or a full disk: name the path.
        path = exc.filename if exc.filename is not None else "a file"
        _fail(f"cannot use {str(path)!r}: {exc.strerror or exc}")


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


def _cell(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _summary_table(title: str, rows: dict[str, dict]) -> Table:
    table = Table(title=title)
    cols = list(dict.fromkeys(c for row in rows.values() for c in row))
    table.add_column("run", no_wrap=True, min_width=14)
    for c in cols:
        table.add_column(c, justify="right")
    for label, row in rows.items():
        table.add_row(label, *(_cell(row.get(c, math.nan)) for c in cols))
    return table


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


@app.command(cls=_Command)
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
    from . import store
    from .checkpoints import Checkpoint
    from .config import load_config, run_config

    with _user_errors(reading=config):
        in_range("--checkpoint-every", checkpoint_every, 0, None, integer=True)
        cfg = load_config(check_text_file("config file", config))
        out = out or Path("runs") / config.stem
        ckpt = Checkpoint.beside(out, cfg)
        loop = ckpt.load() if resume else None
        # resuming replaces the partial (incomplete) run that the interruption saved
        replace = overwrite or (resume and store.is_incomplete(out))
        check_output_dir("--out", out, overwrite=replace)
        if checkpoint_every:
            ckpt.check_writable()
        try:
            result = run_config(
                cfg,
                progress=None if not quiet else False,
                checkpoint=ckpt.save if checkpoint_every else None,
                checkpoint_every=checkpoint_every or None,
                resume=loop,
            )
        except TrainingInterrupted as exc:
            store.save(exc.result, out, overwrite=replace)
            step = int(exc.result.history["step"].iloc[-1])
            last = ckpt.step()
            more = (
                f"; rerun the same command with --resume to continue from step {last}"
                if last is not None
                else ""
            )
            raise KeyboardInterrupt(
                f"stopped after step {step} of {cfg['train'].get('steps', '?')}: the partial "
                f"run is saved in {out}/ (marked incomplete){more}"
            ) from None
        except TrainingDiverged as exc:
            _print_error(str(exc))
            raise typer.Exit(code=1) from None
        store.save(result, out, overwrite=replace)
        ckpt.remove()
    console.print(_summary_table(f"{config.name}", {"final": _final_numbers(result)}))
    console.print(f"results in {out}/")


@app.command(cls=_Command)
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

    with _user_errors():
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
    console.print(_summary_table(title, rows))
    console.print(f"figure: {figure}")
    console.print(f"runs:   {out}/seed-*/")


def _has_distributed() -> bool:
    import importlib.util

    return importlib.util.find_spec("distributed") is not None


def _print_plan(plan, spec: Path, out: Path) -> None:
    table = Table(title=f"{spec.name}: {len(plan)} runs planned in {out}/ (dry run)")
    for col in plan.columns:
        table.add_column(str(col))
    for row in plan.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    console.print(table)
    done = int(plan["done"].sum())
    console.print(f"{len(plan) - done} of {len(plan)} runs to do ({done} already done)")


@app.command(cls=_Command)
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
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            metavar="N",
            help="Parallel workers, at least 1; N > 1 starts a Dask LocalCluster of N "
            "processes (default: a process pool over all CPUs).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Dask scheduler address (tcp://HOST:PORT) of a running cluster.",
        ),
    ] = None,
    dask: Annotated[
        bool | None,
        typer.Option(
            "--dask/--processes",
            help="Force a Dask LocalCluster, or a plain process pool (default: Dask when "
            "--workers N > 1 is given).",
        ),
    ] = None,
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

    with _user_errors(reading=spec):
        if workers is not None:
            in_range("--workers", workers, 1, None, integer=True)
        if dask is not None and scheduler is not None:
            raise ValidationError("give --dask/--processes or --scheduler, not both")
        check_text_file("sweep spec", spec)
        out = out or Path("sweeps") / spec.stem
        check_output_dir("--out", out, overwrite=True)  # an existing sweep is resumed
        if dry_run:
            _print_plan(sweep_mod.plan(spec, out, extend=extend), spec, out)
            return
        if dask is None:
            dask = workers is not None and workers > 1 and _has_distributed()
        try:
            table = sweep_mod.sweep(
                spec,
                out,
                workers=workers,
                scheduler=scheduler or ("local-dask" if dask else None),
                progress=False if quiet else None,
                extend=extend,
            )
        except sweep_mod.SweepError as exc:
            _print_error(str(exc))
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
    console.print(_summary_table(f"{spec.name}: final values, mean ± 95% CI over seeds", rows))
    console.print(
        f"{len(table)} runs in {out}/runs/ (table: circuitlearn.sweep_table({str(out)!r}))"
    )


@app.command(cls=_Command)
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

    with _user_errors():
        if results.is_dir():  # plot_results names a missing or wrong RESULTS itself
            check_output_dir("--out", out or results / "plots", overwrite=True)
        paths = plot_results(results, out, formats.lower())
    for path in paths:
        console.print(f"wrote {path}")


@app.command(cls=_Command)
def reproduce(
    experiment: Annotated[
        str | None,
        typer.Argument(
            metavar="EXPERIMENT",
            help="e1, e2, e3 or e4 (default: all four, then the report).",
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Smoke-test settings: every step in a minute or two.")
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
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", metavar="N", help="Worker processes (default: all CPUs)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
    report_only: Annotated[
        bool,
        typer.Option("--report-only", help="Run nothing: rewrite results.md from OUT's summaries."),
    ] = False,
) -> None:
    """Reproduce the desynchronous-learning experiments (E1 idealised, E2 stepped hardware,
    E3 mini-batch analogy, E4 fully asynchronous) and write results.md with its figures."""
    from .experiments import EXPERIMENTS, default_out
    from .experiments import reproduce as run_reproduce

    with _user_errors():
        if experiment is not None:
            experiment = experiment.strip().lower()  # "E1" names the same experiment as "e1"
            if experiment not in EXPERIMENTS:
                raise ValidationError(
                    f"unknown experiment {experiment!r}: choose from {list(EXPERIMENTS)} "
                    "(or none for all)"
                )
        if workers is not None:
            in_range("--workers", workers, 1, None, integer=True)
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
            docs=docs,
            verbose=not quiet,
            report_only=report_only,
        )
    console.print(f"report: {report}")


@app.command(cls=_Command)
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

    with _user_errors():
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
