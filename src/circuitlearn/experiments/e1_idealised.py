"""E1: idealised coupled learning, synchronous against desynchronous (claim 1).

Continuous coupled learning on random planar networks (``Network.random``) of several sizes,
on three tasks (allostery, regression, Iris), with ``Bernoulli(p)`` schedules for every ``p``
in the settings (``p = 1`` is synchronous). Every run stops at the same number of updates per
edge. Seed ``s`` fixes the network, the task and the training streams, and is shared by every
``p``, so final errors are compared per seed (paired ratios).

The runs go through ``circuitlearn.sweep`` (one sweep directory per task under
``OUT/e1/``), so an interrupted reproduction resumes without recomputing finished runs.

Claim 1 is tested on the error the task is judged by: the training error for allostery (it
has one example and no test set), the test error for regression and Iris.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from ..analysis import geo_mean_ci, log_band, mean_ci, ratio_ci
from ..results import sweep_histories
from ..schedules import Bernoulli, steps_for
from ..store import canonical_hash
from ..sweep import sweep
from .common import Context, load_settings, pyplot, save_figure
from .report import ci_text, figure_links, md_table, mode_note, pct, pval_text, ratio_text

NAME = "e1"
TITLE = "E1: idealised simulation (continuous coupled learning)"
#: Heading of this experiment's section in ``results.md``.
HEADING = "Claim 1 — desync does not degrade idealised learning (E1)"
#: The published claim this experiment tests (None: an extension that tests no claim).
CLAIM = (
    "Claim 1: in idealised simulation, desynchronous updates do not degrade the final "
    "error (at equal updates per edge)."
)
METRIC = {"allostery": "train_error", "regression": "test_error", "iris": "test_error"}
SEED_KEYS = {
    "allostery": "network.seed|task.seed|train.seed",
    "regression": "network.seed|task.seed|train.seed",
    "iris": "network.seed|task.seed|task.node_seed|train.seed",
}


def sweep_spec(task: str, s: dict) -> dict:
    """The sweep spec of one task: sizes x seeds x p, every p to the same updates per edge.

    Parameters
    ----------
    task : str
        ``"allostery"``, ``"regression"`` or ``"iris"``.
    s : dict
        The experiment settings.

    Returns
    -------
    dict
        ``{"sweep", "base", "grid"}`` for ``circuitlearn.sweep``.
    """
    upe = s["updates_per_edge"]
    n_keys = SEED_KEYS[task].count("|") + 1
    ps = []
    for p in s["ps"]:
        # Bernoulli's rate does not depend on the network, whose size varies over the grid
        steps = steps_for(upe, Bernoulli(p), n_edges=1)
        ps.append([float(p), max(1, round(steps / s["records"]))])
    return {
        "sweep": {"name": f"e1-{task}"},
        "base": {
            "name": f"e1-{task}",
            "network": {"kind": "random", "n_nodes": s["sizes"][0], "seed": 0},
            "task": {"kind": task, **s["tasks"][task]},
            "rule": {"kind": "CoupledLearning", "lr": s["lr"][task], "eta": s["eta"]},
            "schedule": {"kind": "Bernoulli", "p": 1.0},
            "train": {"updates_per_edge": upe, "seed": 0},
        },
        "grid": {
            "network.n_nodes": list(s["sizes"]),
            SEED_KEYS[task]: [[i] * n_keys for i in range(s["seeds"])],
            "schedule.p|train.record_every": ps,
        },
    }


def _curves(hist: pd.DataFrame, metric: str, grid: np.ndarray) -> dict:
    """(n_nodes, p) -> array (seeds, len(grid)) of the metric interpolated on ``grid``."""
    out: dict = {}
    for (n, p), g in hist.groupby(["network.n_nodes", "schedule.p"]):
        rows = []
        for _, run in g.groupby("run_id"):
            run = run.sort_values("updates_per_edge")
            rows.append(np.interp(grid, run["updates_per_edge"], run[metric]))
        out[(int(n), float(p))] = np.array(rows)
    return out


def _monotone_violations(hist: pd.DataFrame, rel: float = 0.01) -> dict:
    """Per size: fraction of synchronous runs whose training error ever rises by more than
    ``rel`` (relative) between two records: a sign of a learning rate too large."""
    out = {}
    sync = hist[hist["schedule.p"] == 1.0]
    for n, g in sync.groupby("network.n_nodes"):
        bad = []
        for _, run in g.groupby("run_id"):
            e = run.sort_values("updates_per_edge")["train_error"].to_numpy()
            bad.append(bool(np.any(e[1:] > e[:-1] * (1 + rel))))
        out[int(n)] = float(np.mean(bad))
    return out


def analyse(tables: dict[str, pd.DataFrame], s: dict) -> tuple[list[dict], dict]:
    """Rows of the final-error table and the claim-1 cells.

    Returns
    -------
    rows : list of dict
        One per (task, size, p): geometric-mean final error with its 95 % CI, the paired
        ratio to ``p = 1`` with its CI and Wilcoxon p-value, and Iris test accuracy.
    claim : dict
        ``cells`` (one per task, size and claimed p) and the ``verdict``.
    """
    rows = []
    tol = s["tolerance"]
    for task, table in tables.items():
        metric = METRIC[task]
        for n in s["sizes"]:
            at_n = table[table["network.n_nodes"] == n]
            ref = at_n[at_n["schedule.p"] == 1.0].set_index("train.seed")[metric]
            for p in s["ps"]:
                cur = at_n[at_n["schedule.p"] == p].set_index("train.seed")[metric]
                gm, lo, hi = geo_mean_ci(cur.to_numpy())
                seeds = ref.index.intersection(cur.index)
                rc = ratio_ci(cur.loc[seeds].to_numpy(), ref.loc[seeds].to_numpy())
                row = {
                    "task": task,
                    "n_nodes": int(n),
                    "p": float(p),
                    "metric": metric,
                    "n": int(cur.notna().sum()),
                    "error": gm,
                    "error_low": lo,
                    "error_high": hi,
                    "ratio": rc["ratio"] if p != 1.0 else 1.0,
                    "ratio_low": rc["low"] if p != 1.0 else 1.0,
                    "ratio_high": rc["high"] if p != 1.0 else 1.0,
                    "p_wilcoxon": rc["p_wilcoxon"] if p != 1.0 else math.nan,
                }
                if "test_accuracy" in at_n:
                    acc = at_n[at_n["schedule.p"] == p]["test_accuracy"]
                    row["accuracy"], row["accuracy_low"], row["accuracy_high"] = mean_ci(acc)
                rows.append(row)
    cells = []
    for r in rows:
        if r["p"] in s["claim_ps"]:
            change = r["ratio"] - 1.0
            if abs(change) <= tol:
                verdict = "within"
            elif change < 0:
                verdict = "better"
            else:
                verdict = "worse"
            ci_inside = r["ratio_low"] >= 1 - tol and r["ratio_high"] <= 1 + tol
            cells.append(
                {
                    "task": r["task"],
                    "n_nodes": r["n_nodes"],
                    "p": r["p"],
                    "ratio": r["ratio"],
                    "ratio_low": r["ratio_low"],
                    "ratio_high": r["ratio_high"],
                    "change": change,
                    "cell": verdict,
                    "ci_inside": bool(ci_inside),
                    "n": r["n"],
                }
            )
    worse = [c for c in cells if c["cell"] == "worse"]
    if not worse:
        verdict = "supported"
    elif len(worse) == len(cells):
        verdict = "not supported"
    else:
        verdict = "supported only in a stated regime"
    return rows, {"cells": cells, "verdict": verdict, "tolerance": tol}


def _figures(ctx: Context, curves: dict, grid: np.ndarray, rows: list[dict], s: dict) -> list:
    plt = pyplot()
    tasks = list(s["tasks"])
    sizes = s["sizes"]
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(s["ps"])))
    fig, axes = plt.subplots(
        len(sizes),
        len(tasks),
        figsize=(4.2 * len(tasks), 3.3 * len(sizes)),
        layout="constrained",
        squeeze=False,
    )
    for i, n in enumerate(sizes):
        for j, task in enumerate(tasks):
            ax = axes[i, j]
            for c, p in zip(colours, s["ps"], strict=True):
                arr = curves[task].get((n, float(p)))
                if arr is None or not len(arr):
                    continue
                m, lo, hi = log_band(arr)
                label = "p = 1 (synchronous)" if p == 1.0 else f"p = {p:g}"
                ax.plot(grid, m, color=c, label=label)
                ax.fill_between(grid, lo, hi, color=c, alpha=0.2, lw=0)
            ax.set_yscale("log")
            ax.set_xlabel("updates per edge")
            metric = METRIC[task].replace("_", " ")
            ax.set_ylabel(f"{metric} (V$^2$)")
            ax.set_title(f"{task}, {n}-node random network")
            ax.grid(alpha=0.3)
            if i == 0 and j == 0:
                ax.legend()
    n_seeds = s["seeds"]
    lrs = ", ".join(f"{t} {v:g}" for t, v in s["lr"].items())
    fig.suptitle(
        f"E1 learning curves: geometric mean over {n_seeds} seeds, band = 95 % CI "
        f"(lr per task: {lrs} S/V$^2$; $\\eta$ = {s['eta']:g})"
    )
    paths = [save_figure(fig, ctx, "e1_learning_curves")]

    frame = pd.DataFrame(rows)
    fig, axes = plt.subplots(
        2, len(tasks), figsize=(4.2 * len(tasks), 6.4), layout="constrained", squeeze=False
    )
    markers = "osD^v"
    for j, task in enumerate(tasks):
        top, bot = axes[0, j], axes[1, j]
        for k, n in enumerate(sizes):
            g = frame[(frame["task"] == task) & (frame["n_nodes"] == n)].sort_values("p")
            yerr = [g["error"] - g["error_low"], g["error_high"] - g["error"]]
            top.errorbar(
                g["p"], g["error"], yerr=yerr, marker=markers[k % 5], capsize=3, label=f"{n} nodes"
            )
            yerr = [g["ratio"] - g["ratio_low"], g["ratio_high"] - g["ratio"]]
            bot.errorbar(
                g["p"], g["ratio"], yerr=yerr, marker=markers[k % 5], capsize=3, label=f"{n} nodes"
            )
        tol = s["tolerance"]
        bot.axhspan(1 - tol, 1 + tol, color="0.85", zorder=0, label=f"±{100 * tol:g} %")
        bot.axhline(1.0, color="k", lw=0.8)
        for ax in (top, bot):
            ax.set_xscale("log")
            ax.set_xlabel("update probability per edge per step, p")
            ax.grid(alpha=0.3, which="both")
        top.set_yscale("log")
        metric = METRIC[task].replace("_", " ")
        top.set_ylabel(f"final {metric} (V$^2$)")
        bot.set_ylabel(f"final {metric} / synchronous")
        top.set_title(f"{task}: final error at {s['updates_per_edge']:g} updates per edge")
        if j == 0:
            top.legend()
            bot.legend()
    fig.suptitle("E1 final error against p: geometric mean and paired ratio to p = 1, 95 % CI")
    paths.append(save_figure(fig, ctx, "e1_final_vs_p"))
    return paths


def run(ctx: Context) -> dict:
    """Run E1 (resuming finished runs) and return its summary (also written to
    ``OUT/e1/summary.json``)."""
    t0 = time.perf_counter()
    s = load_settings("e1_idealised", ctx.quick)
    base = ctx.dir(NAME)
    tables, curves = {}, {}
    grid = np.linspace(0.0, s["updates_per_edge"], s["records"] + 1)
    stability = {}
    for task in s["tasks"]:
        spec = sweep_spec(task, s)
        # one directory per spec: changed settings start a new sweep, the same ones resume
        out = base / f"{task}-{canonical_hash(spec, 8)}"
        ctx.log(f"e1: {task} sweep in {out}")
        progress = None if ctx.verbose else False  # a bar on a terminal, log lines otherwise
        tables[task] = sweep(spec, out, workers=ctx.workers, progress=progress)
        hist = sweep_histories(out)
        curves[task] = _curves(hist, METRIC[task], grid)
        stability[task] = _monotone_violations(hist)
    rows, claim = analyse(tables, s)
    figures = _figures(ctx, curves, grid, rows, s)
    return ctx.write_summary(
        NAME, TITLE, s, t0, rows=rows, claim=claim, stability=stability, figures=figures
    )


# ---------------------------------------------------------------------------- report
def report(s: dict) -> tuple[str, str]:
    st = s["settings"]
    claim = s["claim"]
    tol = claim["tolerance"]
    cells = claim["cells"]
    rows = []
    for r in s["rows"]:
        acc = ""
        if r.get("accuracy") is not None:
            acc = ci_text(r["accuracy"], r["accuracy_low"], r["accuracy_high"])
        rows.append(
            [
                r["task"],
                r["n_nodes"],
                f"{r['p']:g}",
                r["metric"].replace("_", " "),
                r["n"],
                ci_text(r["error"], r["error_low"], r["error_high"]),
                ratio_text(r["ratio"], r["ratio_low"], r["ratio_high"]) if r["p"] != 1 else "1",
                pval_text(r["p_wilcoxon"]),
                acc or "-",
            ]
        )
    table = md_table(
        [
            "task",
            "nodes",
            "p",
            "error",
            "seeds",
            "final error (V²), geo. mean [95 % CI]",
            "ratio to p = 1 [95 % CI]",
            "Wilcoxon p",
            "Iris test accuracy [95 % CI]",
        ],
        rows,
    )
    crow = []
    for c in cells:
        crow.append(
            [
                c["task"],
                c["n_nodes"],
                f"{c['p']:g}",
                ratio_text(c["ratio"], c["ratio_low"], c["ratio_high"]),
                pct(c["change"]),
                c["cell"],
                "yes" if c["ci_inside"] else "no",
            ]
        )
    ctable = md_table(
        [
            "task",
            "nodes",
            "p",
            "ratio to synchronous [95 % CI]",
            "change",
            f"within ±{100 * tol:g} %?",
            "CI inside ±10 %?",
        ],
        crow,
    )
    n_within = sum(c["cell"] == "within" for c in cells)
    n_better = sum(c["cell"] == "better" for c in cells)
    worse = [c for c in cells if c["cell"] == "worse"]
    verdict = claim["verdict"]
    lines = [
        f"**Verdict: {verdict}.** Of {len(cells)} task × size × p cells with p in "
        f"{{{', '.join(f'{p:g}' for p in st['claim_ps'])}}}, {n_within} are within "
        f"±{100 * tol:g} % of synchronous, {n_better} are better by more than "
        f"{100 * tol:g} % and {len(worse)} are worse by more than {100 * tol:g} %."
    ]
    if worse:
        w = ", ".join(
            f"{c['task']} at {c['n_nodes']} nodes, p = {c['p']:g} ({pct(c['change'])})"
            for c in worse
        )
        lines.append(f"Desynchronous learning is worse than the {100 * tol:g} % margin in: {w}.")
    inside = sum(c["ci_inside"] for c in cells)
    lines.append(
        f"The 95 % confidence interval of the ratio lies entirely inside ±{100 * tol:g} % in "
        f"{inside} of {len(cells)} cells; for the others {st['seeds']} seeds cannot exclude a "
        f"difference larger than {100 * tol:g} %."
    )
    stab = s.get("stability", {})
    lrs = ", ".join(f"{t} {v:g}" for t, v in st["lr"].items())
    bad = {f"{t} ({n} nodes)": v for t, d in stab.items() for n, v in d.items() if v > 0}
    if bad:
        stab_txt = ", ".join(f"{k}: {100 * v:.0f} %" for k, v in bad.items())
        lines.append(
            "Learning-rate check: the training error of some synchronous runs rose by more "
            f"than 1 % between two records ({stab_txt} of runs; lr = {lrs} S/V²): isolated "
            "rises, or a learning rate near the stability edge on some networks."
        )
    else:
        lines.append(
            f"Learning-rate check: with lr = {lrs} S/V² no synchronous run's training "
            "error ever rose by more than 1 % between two records (stable, no oscillation)."
        )
    al, rg, ir = st["tasks"]["allostery"], st["tasks"]["regression"], st["tasks"]["iris"]
    sizes = ", ".join(str(n) for n in st["sizes"])
    ps = ", ".join(f"{p:g}" for p in st["ps"])
    setup = " ".join(
        [
            f"**Setup.** Continuous coupled learning (lr = {lrs} S/V², η = {st['eta']:g})",
            f"on random planar networks of {sizes} nodes; tasks: allostery",
            f"({al['n_inputs']} inputs, {al['n_outputs']} outputs, one example; judged by the",
            f"training error), regression ({rg['n_inputs']} inputs, {rg['n_outputs']} outputs,",
            f"teacher network, {rg['n_train']} train / {rg['n_test']} test examples; test error)",
            f'and Iris ("levels" encoding, {ir["n_train"]} train / rest test; test error).',
            f"Schedules Bernoulli(p) with p in {{{ps}}} (p = 1 is synchronous), full batch,",
            f"every run to {st['updates_per_edge']:g} updates per edge. {st['seeds']} seeds;",
            "seed s fixes",
            "network, task and training streams for every p, so the ratio to synchronous is taken",
            "seed by seed (geometric mean of the per-seed ratios, Student-t 95 % CI on their logs;",
            "Wilcoxon signed-rank p-value).",
        ]
    )
    body = f"""{mode_note(s)}{setup}

{" ".join(lines)}

**Claim cells** (final error at equal updates per edge, desynchronous / synchronous):

{ctable}

**All final errors:**

{table}

{figure_links(s)}

Command: `{s["command"]}` ({s["runtime_s"]:.0f} s).
"""
    return verdict, body
