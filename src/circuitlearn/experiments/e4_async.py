"""E4: fully asynchronous learning (``PoissonClocks``) against ``Bernoulli(p)``.

``PoissonClocks(rate)`` is event driven: every edge has its own exponential clock, events
come one edge at a time and the physics is re-settled before each, so no two edges ever
update from the same settled state. ``Bernoulli(p)`` updates a random subset of edges from
one settled state per step. Both run to the same number of updates per edge; pairs share
the network, task and training seed.

Two settings: the idealised rule on small random planar networks (full batch; allostery and
regression), and the stepped lab board on Iris, online, as in E2.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from ..analysis import geo_mean_ci, log_band, ratio_ci, tail_mean
from ..gallery import LAB_IRIS_ROLES, lab_board
from ..hardware import SteppedCoupledLearning
from ..schedules import PoissonClocks, steps_for, synchronous_if_one
from ..tasks import iris
from .common import Context, load_settings, pyplot, run_conditions, save_figure, train_replicas
from .report import (
    ci_text,
    figure_links,
    md_table,
    mode_note,
    pct,
    pval_text,
    ratio_text,
    schedule_label,
)

NAME = "e4"
TITLE = "E4: fully asynchronous (PoissonClocks) against Bernoulli"
#: Heading of this experiment's section in ``results.md``.
HEADING = "Extension — fully asynchronous updates (E4)"
#: The published claim this experiment tests (None: an extension that tests no claim).
CLAIM = None
METRIC = {"allostery": "train_error", "regression": "test_error", "iris": "test_error"}


def _schedule(kind: str, value: float):
    return PoissonClocks(rate=value) if kind == "poisson" else synchronous_if_one(value)


def continuous_condition(c: dict) -> pd.DataFrame:
    """Idealised coupled learning of every (instance, seed) replica of one schedule.

    Returns
    -------
    DataFrame
        ``instance``, ``seed``, final ``error`` (the task's metric, V^2) and ``curve``.
    """
    from ..network import Network
    from ..rules import CoupledLearning
    from ..tasks import allostery, regression

    s = c["settings"]
    cs = s["continuous"]
    sched = _schedule(c["kind"], c["value"])
    upe = cs["updates_per_edge"]
    rows = []
    grid = np.linspace(0.0, upe, cs["records"] + 1)
    metric = METRIC[c["task"]]
    for i in range(cs["instances"]):
        net = Network.random(cs["n_nodes"], seed=i)
        task = allostery(net, seed=i) if c["task"] == "allostery" else regression(net, seed=i)
        steps = steps_for(upe, sched, net.n_edges)
        results = train_replicas(
            net,
            task,
            CoupledLearning(lr=cs["lr"][c["task"]], eta=cs["eta"]),
            sched,
            steps=steps,
            seeds=list(range(cs["run_seeds"])),
            record_every=max(1, steps // cs["records"]),
        )
        for r, res in enumerate(results):
            h = res.history
            rows.append(
                {
                    "instance": i,
                    "seed": r,
                    "error": float(h[metric].iloc[-1]),
                    "curve": np.interp(grid, h["updates_per_edge"], h[metric]).tolist(),
                }
            )
    frame = pd.DataFrame(rows)
    frame["task"], frame["kind"], frame["value"] = c["task"], c["kind"], c["value"]
    return frame


def stepped_condition(c: dict) -> pd.DataFrame:
    """The lab board on Iris, online, stepped, for one schedule (one row per seed)."""

    s = c["settings"]
    ss = s["stepped"]
    net = lab_board()
    sched = _schedule(c["kind"], c["value"])
    upe = ss["updates_per_edge"]
    steps = steps_for(upe, sched, net.n_edges)
    seeds = list(range(ss["seeds"]))
    tasks = [iris(net, seed=i, **LAB_IRIS_ROLES) for i in seeds]
    results = train_replicas(
        net,
        tasks,
        SteppedCoupledLearning(eta=ss["eta"], taps=ss["taps"]),
        sched,
        steps=steps,
        batch_size=1,
        seeds=seeds,
        record_every=max(1, steps // 500),
    )
    grid = np.linspace(0.0, upe, 101)
    rows = []
    for i, res in zip(seeds, results, strict=True):
        h = res.history
        rows.append(
            {
                "instance": 0,
                "seed": i,
                "error": tail_mean(h, "test_error", s["tail"]),
                "accuracy": tail_mean(h, "test_accuracy", s["tail"]),
                "curve": np.interp(grid, h["updates_per_edge"], h["test_error"]).tolist(),
            }
        )
    frame = pd.DataFrame(rows)
    frame["task"], frame["kind"], frame["value"] = "iris-stepped", c["kind"], c["value"]
    return frame


def _label(kind: str, value: float) -> str:
    return f"PoissonClocks (rate {value:g})" if kind == "poisson" else schedule_label(value)


def run(ctx: Context) -> dict:
    """Run E4 (resuming finished conditions) and return its summary (also written to
    ``OUT/e4/summary.json``)."""
    t0 = time.perf_counter()
    s = load_settings("e4_async", ctx.quick)
    scheds = [("poisson", float(s["rate"]))] + [("bernoulli", float(p)) for p in s["ps"]]
    conds = []
    for task in s["continuous"]["tasks"]:
        for kind, value in scheds:
            conds.append(
                {
                    "key": f"{task}_{kind}{value:g}",
                    "settings": s,
                    "task": task,
                    "kind": kind,
                    "value": value,
                    "fn": "continuous",
                }
            )
    for kind, value in scheds:
        conds.append(
            {
                "key": f"iris-stepped_{kind}{value:g}",
                "settings": s,
                "task": "iris-stepped",
                "kind": kind,
                "value": value,
                "fn": "stepped",
            }
        )
    cont = [c for c in conds if c["fn"] == "continuous"]
    step = [c for c in conds if c["fn"] == "stepped"]
    frames = {}
    for group, fn in ((step, stepped_condition), (cont, continuous_condition)):
        for c, f in zip(group, run_conditions(ctx, NAME, group, fn), strict=True):
            frames[c["key"]] = f
    rows = []
    tasks = list(s["continuous"]["tasks"]) + ["iris-stepped"]
    for task in tasks:
        pois = frames[f"{task}_poisson{float(s['rate']):g}"]
        pe = pois.set_index(["instance", "seed"])["error"]
        gm = geo_mean_ci(pe)
        rows.append(
            {
                "task": task,
                "schedule": _label("poisson", s["rate"]),
                "n": len(pe),
                "error": gm[0],
                "error_low": gm[1],
                "error_high": gm[2],
                "ratio": math.nan,
                "ratio_low": math.nan,
                "ratio_high": math.nan,
                "p_wilcoxon": math.nan,
            }
        )
        for p in s["ps"]:
            f = frames[f"{task}_bernoulli{float(p):g}"].set_index(["instance", "seed"])["error"]
            idx = pe.index.intersection(f.index)
            rc = ratio_ci(pe.loc[idx].to_numpy(), f.loc[idx].to_numpy())
            gm = geo_mean_ci(f)
            rows.append(
                {
                    "task": task,
                    "schedule": _label("bernoulli", p),
                    "n": len(f),
                    "error": gm[0],
                    "error_low": gm[1],
                    "error_high": gm[2],
                    "ratio": rc["ratio"],
                    "ratio_low": rc["low"],
                    "ratio_high": rc["high"],
                    "p_wilcoxon": rc["p_wilcoxon"],
                }
            )
    figures = [_figure(ctx, s, frames, tasks, scheds)]
    ratios = [r for r in rows if math.isfinite(r["ratio"])]
    worst = max(ratios, key=lambda r: abs(math.log(r["ratio"])))
    return ctx.write_summary(
        NAME, TITLE, s, t0, rows=rows, largest_difference=worst, figures=figures
    )


def _figure(ctx: Context, s: dict, frames: dict, tasks: list[str], scheds) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(4.6 * len(tasks), 4), layout="constrained", squeeze=False
    )
    colours = ["C3"] + list(plt.get_cmap("viridis")(np.linspace(0, 0.85, len(scheds) - 1)))
    for ax, task in zip(axes[0], tasks, strict=True):
        stepped = task == "iris-stepped"
        upe = s["stepped" if stepped else "continuous"]["updates_per_edge"]
        for col, (kind, value) in zip(colours, scheds, strict=True):
            f = frames[f"{task}_{kind}{value:g}"]
            arr = np.array(f["curve"].tolist())
            grid = np.linspace(0, upe, arr.shape[1])
            mid, lo, hi = log_band(arr)
            ax.plot(
                grid,
                mid,
                color=col,
                lw=2 if kind == "poisson" else 1.2,
                ls="-" if kind == "poisson" else "--",
                label=_label(kind, value),
            )
            ax.fill_between(grid, lo, hi, color=col, alpha=0.15, lw=0)
        ax.set_yscale("log")
        ax.set_xlabel("updates per edge")
        metric = "test error" if task != "allostery" else "train error"
        ax.set_ylabel(f"{metric} (V$^2$), geometric mean, 95 % CI")
        if stepped:
            ax.set_title(f"Iris, lab board, stepped ({s['stepped']['taps']} taps), online")
        else:
            ax.set_title(f"{task}, {s['continuous']['n_nodes']}-node network, continuous")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("E4 fully asynchronous PoissonClocks against Bernoulli(p), equal updates per edge")
    return save_figure(fig, ctx, "e4_poisson_vs_bernoulli")


# ---------------------------------------------------------------------------- report
def report(s: dict) -> tuple[str, str]:
    st = s["settings"]
    rows = [
        [
            r["task"],
            r["schedule"],
            r["n"],
            ci_text(r["error"], r["error_low"], r["error_high"]),
            ratio_text(r["ratio"], r["ratio_low"], r["ratio_high"]),
            pval_text(r["p_wilcoxon"]),
        ]
        for r in s["rows"]
    ]
    table = md_table(
        [
            "task",
            "schedule",
            "runs",
            "final error (V²), geo. mean [95 % CI]",
            "PoissonClocks / this schedule [95 % CI]",
            "Wilcoxon p",
        ],
        rows,
    )
    w = s["largest_difference"]
    ratios = [r for r in s["rows"] if r["ratio"] is not None and math.isfinite(r["ratio"])]
    sig = [
        r
        for r in s["rows"]
        if math.isfinite(r["ratio"] or math.nan) and (r["ratio_low"] > 1 or r["ratio_high"] < 1)
    ]
    if sig:
        sig_txt = "; ".join(f"{r['task']} vs {r['schedule']}: {pct(r['ratio'] - 1)}" for r in sig)
        statement = (
            "Significant differences (95 % CI of the ratio excludes 1; "
            f"{len(ratios)} comparisons, not corrected for multiplicity): {sig_txt}."
        )
    else:
        statement = "No difference is significant (every 95 % CI of the ratio contains 1)."
    cs, ss = st["continuous"], st["stepped"]
    lrs = ", ".join(f"{t} {v:g}" for t, v in cs["lr"].items())
    setup = " ".join(
        [
            f"**Setup.** PoissonClocks(rate = {st['rate']:g}) re-settles the network before every",
            "single-edge event; Bernoulli(p) updates many edges from one settled state. Idealised",
            f"rule (lr = {lrs} S/V², full batch) on random {cs['n_nodes']}-node networks,",
            f"{cs['instances']} networks × {cs['run_seeds']} seeds, {cs['updates_per_edge']:g}",
            f"updates per edge; stepped lab board on Iris online ({ss['taps']} taps),",
            f"{ss['seeds']} seeds, {ss['updates_per_edge']:g} updates per edge (final error: mean",
            f"over the last {100 * st['tail']:g} %). Pairs share network, task and seed.",
        ]
    )
    body = f"""{mode_note(s)}{setup}

**Result.** The largest difference is {w["task"]} against {w["schedule"]}: PoissonClocks ends at
{ratio_text(w["ratio"], w["ratio_low"], w["ratio_high"])} times its final error. {statement}

{table}

{figure_links(s)}

Command: `{s["command"]}` ({s["runtime_s"]:.0f} s).
"""
    return "", body
