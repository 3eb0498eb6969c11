"""``results.md``: the report of ``circuitlearn reproduce``, written from the measured numbers.

Every number in the report is read from the experiments' ``summary.json`` files under the
output directory; the wording around them is chosen from those numbers (verdicts, which
regimes help). Nothing in the report is typed in by hand, so rerunning ``reproduce``
regenerates it from whatever the simulations measure.

Each experiment module writes its own section (``report(summary) -> (verdict, body)``); this
module holds the Markdown helpers they share and the assembler (``render``), which puts the
sections of the registered experiments (``circuitlearn.experiments.EXPERIMENTS``) in order
under a common head.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import numpy as np

from .._version import __version__

__all__ = [
    "ci_text",
    "criteria_section",
    "figures_with_captions",
    "fmt",
    "load_summaries",
    "md_table",
    "mode_note",
    "pct",
    "pval_text",
    "ratio_text",
    "render",
    "schedule_label",
    "write_report",
]


# ---------------------------------------------------------------------------- Markdown helpers
def fmt(x: float | None, digits: int = 3) -> str:
    """A number for a Markdown table: ``digits`` significant digits, ``n/a`` for None/NaN."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{x:.{digits}g}"


def pct(x: float | None, digits: int = 1) -> str:
    """A relative change (0.05) as a signed percentage (``+5.0 %``)."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{100 * x:+.{digits}f} %"


def ci_text(x, lo, hi, digits: int = 3) -> str:
    """``x [lo, hi]`` with ``digits`` significant digits."""
    return f"{fmt(x, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def ratio_text(x, lo, hi) -> str:
    """A ratio and its interval to three decimals (``n/a`` when not finite)."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.3f} [{lo:.3f}, {hi:.3f}]"


def pval_text(p) -> str:
    """A p-value: two significant digits, scientific below 1e-4."""
    if p is None or not math.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def schedule_label(p: float) -> str:
    """``synchronous`` for p = 1 (``schedules.synchronous_if_one``), else ``Bernoulli p = ...``."""
    return "synchronous" if p == 1.0 else f"Bernoulli p = {p:g}"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def figures_with_captions(paths: list[str], captions: list[str]) -> str:
    """Each figure (PNG embedded) followed by its numbered caption and a link to its PDF.

    Parameters
    ----------
    paths : list of str
        PNG paths relative to the report (as ``common.save_figure`` returns them).
    captions : list of str
        One caption per figure, in order (Markdown; it should start with "Figure X.n").
    """
    out = []
    for path, caption in zip(paths, captions, strict=True):
        pdf = str(Path(path).with_suffix(".pdf"))
        out.append(f"![{Path(path).stem}]({path})\n\n{caption} ([PDF]({pdf}))")
    return "\n\n".join(out)


def mode_note(summary: dict) -> str:
    """A warning block for summaries from ``--quick`` runs (empty otherwise)."""
    if summary.get("quick"):
        return (
            "> **Quick mode**: these numbers come from the smoke-test settings "
            "(`--quick`): few seeds and short runs. They show that the pipeline works, "
            "not what the full experiment finds.\n\n"
        )
    return ""


def _estimate_text(cell: dict) -> str:
    return ci_text(cell["estimate"], cell["low"], cell["high"])


def criteria_section(verdicts: dict) -> str:
    """The pre-registered criteria, each cell measured for them and the verdicts that follow.

    Parameters
    ----------
    verdicts : dict
        ``{"criteria": [Judgement.to_dict(), ...], "claims": {claim: verdict}}`` as
        ``common.judge_criteria`` writes it into a summary.
    """
    crit = verdicts["criteria"]
    head = md_table(
        ["criterion", "claim", "hypothesis (stated before the run)", "decision rule", "verdict"],
        [
            [f"`{c['id']}`", c["claim"], c["statement"], c["rule"], f"**{c['verdict']}**"]
            for c in crit
        ],
    )
    rows = []
    for c in crit:
        for cell in c["cells"]:
            n = str(cell["n"])
            if cell.get("clusters"):
                n += f" ({cell['clusters']} clusters)"
            rows.append(
                [
                    f"`{c['id']}`",
                    cell["regime"],
                    cell["label"],
                    _estimate_text(cell),
                    f"{100 * cell['level']:.2f} %",
                    n,
                    cell["outcome"],
                ]
            )
    cells = md_table(
        ["criterion", "regime", "comparison", "estimate [interval]", "level", "n", "outcome"],
        rows,
    )
    claims = "\n".join(
        f"- **Claim {claim}: {verdict}.**" for claim, verdict in verdicts["claims"].items()
    )
    return (
        f"**Pre-registered criteria** (from the experiment's TOML file, fixed before the run; "
        f"the verdicts below are computed from them):\n\n{head}\n\n{claims}\n\n"
        f"<details><summary>Every cell ({len(rows)})</summary>\n\n{cells}\n\n</details>\n"
    )


# ---------------------------------------------------------------------------- the assembler
def load_summaries(out: str | Path, experiments: Iterable[ModuleType]) -> dict[str, dict]:
    """The ``summary.json`` of every experiment found under ``out``, by name."""
    out = Path(out)
    found = {}
    for module in experiments:
        path = out / module.NAME / "summary.json"
        if path.is_file():
            found[module.NAME] = json.loads(path.read_text())
    return found


def render(out: str | Path, experiments: Iterable[ModuleType]) -> str:
    """The Markdown report for the summaries under ``out``.

    Parameters
    ----------
    out : path
        The output directory of ``reproduce``.
    experiments : iterable of module
        The experiment modules in report order, each with ``NAME``, ``HEADING``, ``CLAIM``
        (None for an experiment that tests no claim) and ``report(summary)``.
    """
    out = Path(out)
    experiments = list(experiments)
    sums = load_summaries(out, experiments)
    meta = {}
    if (out / "reproduce.json").is_file():
        meta = json.loads((out / "reproduce.json").read_text())
    sections, rows = [], []
    for module in experiments:
        name = module.NAME
        if name not in sums:
            sections.append(
                f"## {module.HEADING}\n\nNot run in this output directory "
                f"(`circuitlearn reproduce {name}`).\n"
            )
            continue
        verdict, body = module.report(sums[name])
        claim = f"*{module.CLAIM}*\n\n" if module.CLAIM else ""
        sections.append(f"## {module.HEADING}\n\n{claim}{body}")
        claims = sums[name].get("verdicts", {}).get("claims")
        if claims:  # every claim label the criteria decide, each with its verdict
            verdict = "<br>".join(
                f"{label}: **{v}**" if len(claims) > 1 else f"**{v}**"
                for label, v in claims.items()
            )
        else:
            verdict = f"**{verdict}**"
        if module.CLAIM:
            rows.append(
                [
                    module.CLAIM.split(":")[0],
                    module.CLAIM.split(": ", 1)[1],
                    verdict,
                    f"[{name.upper()}](#{_anchor(module.HEADING)})",
                ]
            )
    quick = any(s.get("quick") for s in sums.values())
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    overview = md_table(["", "claim", "verdict", "details"], rows) if rows else ""
    runtimes = meta.get("runtimes", {})
    quick_txt = "**Quick mode: smoke-test settings, not the full experiment.** " if quick else ""
    rt = ", ".join(f"{k.upper()} {v / 60:.1f} min" for k, v in runtimes.items())
    head = f"""# Desynchronous learning in coupled-learning resistor networks: results

*Generated by `circuitlearn reproduce` from the measured numbers — do not edit by hand.*
Command: `{meta.get("command", "circuitlearn reproduce")}`; circuitlearn {__version__}; {stamp}.
{quick_txt}Run times: {rt or "n/a"}.

How the verdicts are reached: every experiment states its acceptance criteria in its TOML
file before it runs (the claim, the hypothesis, the statistic, the bound, the minimum effect,
the family-wise confidence level); each verdict below is computed from those criteria and the
measured cells, and each section prints its criteria beside the numbers (docs/design.md §1).
Errors are compared as paired ratios (geometric means of per-seed ratios); seeds pair the runs
across arms, and where several seeds share a network the network is the cluster of a cluster
bootstrap. Intervals are widened by Bonferroni over each criterion's cells. Hardware
parameters that the published work does not give (board wiring, tap count, 100 Ω–10 kΩ) are
documented assumptions (docs/design.md §10).

{overview}
"""
    return head + "\n" + "\n".join(sections)


def _anchor(title: str) -> str:
    keep = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -")
    return keep.replace(" ", "-")


def write_report(out: str | Path, experiments: Iterable[ModuleType]) -> Path:
    """Write ``out/results.md`` from the summaries under ``out`` and return its path."""
    out = Path(out)
    path = out / "results.md"
    path.write_text(render(out, experiments))
    return path
