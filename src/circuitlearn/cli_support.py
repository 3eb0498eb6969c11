"""How the command line talks to its user: one-line errors and exit codes, the consoles, tables.

Every user mistake ends in one line ``error: ...`` on stderr and exit code ``EXIT_USAGE`` (2);
an interrupt prints one ``interrupted: ...`` line and exits with ``EXIT_INTERRUPTED`` (130).
``App`` does this for click's own usage errors, ``user_errors`` for the commands' bodies.
Nothing is printed with rich markup, so ``[network]`` arrives whole. Used by ``cli.py``, which
holds the commands.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand

from .errors import ValidationError

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "App",
    "Command",
    "console",
    "err_console",
    "format_cell",
    "print_error",
    "summary_table",
    "user_errors",
]

#: Exit codes: a user mistake, an interrupt (128 + SIGINT).
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _is_usage_error(exc: BaseException) -> bool:
    # Click's (or Typer's vendored click's) UsageError and ClickException, found by their
    # interface so that every supported Typer version is covered.
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


class App(typer.Typer):
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
            _exit_interrupted()
        except Exception as exc:
            if isinstance(exc, typer.Abort) or type(exc).__name__ == "Abort":
                _report_interrupt(exc)  # older click: Ctrl-C outside a command body
                _exit_interrupted()
            if not _is_usage_error(exc):
                raise
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
                print(ctx.get_help())  # a bare "circuitlearn": the help, as click shows it
                sys.exit(exc.exit_code)
            where = ctx.command_path if ctx is not None else "circuitlearn"
            print_error(f"{exc.format_message()} (see: {where} --help)")
            sys.exit(exc.exit_code)
        if code == EXIT_INTERRUPTED:  # Typer turns Ctrl-C outside a command body into 130
            _report_interrupt(KeyboardInterrupt())
            _exit_interrupted()
        sys.exit(code if isinstance(code, int) else 0)


def _exit_interrupted() -> None:
    """Exit with ``EXIT_INTERRUPTED``, ignoring any further Ctrl-C: a second one typed while a
    sweep winds down has nothing left to stop, and the default handler would kill the exiting
    process by SIGINT instead of the clean exit code."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(EXIT_INTERRUPTED)


class Command(TyperCommand):
    """A command whose usage line shows arguments as ``SPEC``, not ``{SPEC}``."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


# markup=False: nothing printed is parsed for [style] tags, so "[network]" stays in messages.
console = Console(markup=False, highlight=False)
err_console = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)


def print_error(message: str, label: str = "error") -> None:
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
    print_error(str(exc) or "stopped by Ctrl-C", label="interrupted")


def _fail(exc: Exception | str) -> None:
    print_error(str(exc))
    raise typer.Exit(code=EXIT_USAGE)


@contextlib.contextmanager
def user_errors(reading: Path | None = None) -> Iterator[None]:
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


def format_cell(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def summary_table(title: str, rows: dict[str, dict]) -> Table:
    table = Table(title=title)
    cols = list(dict.fromkeys(c for row in rows.values() for c in row))
    table.add_column("run", no_wrap=True, min_width=14)
    for c in cols:
        table.add_column(c, justify="right")
    for label, row in rows.items():
        table.add_row(label, *(format_cell(row.get(c, math.nan)) for c in cols))
    return table
