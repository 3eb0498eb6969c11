"""E1: idealised coupled learning, synchronous against desynchronous (claim 1).

Continuous coupled learning on 64-node random planar networks (``Network.random``), on
allostery, regression, Iris and a wide 8-input x 8-output regression (64 function dimensions
against about 112 edges), with ``Bernoulli(p)`` schedules (``p = 1`` is synchronous) and two
nudges (eta = 0.5 and 0.05). The test is built so that it could fail:

1. **Stability edge.** For each task and nudge, synchronous runs on a geometric grid of
   learning rates find the smallest lr at which most probe seeds are unstable (they diverge,
   or their training error rises from one step to the next by more than ``rise``): the
   *edge*.
2. **Arms at lr = edge / d** for d in ``divisors`` (a decade below the edge, and the edge
   itself for the best-lr comparison), each run to the largest budget; errors are read at
   every budget (updates per edge) on the same runs.
3. **Paired log ratios** (desync / sync), seed by seed: seed ``s`` fixes the network, the task
   and the training streams for every arm, and each seed is its own network, so the ratios
   are independent pairs (Student-t interval on the logs, no clusters).

The verdict follows from the pre-registered criteria in ``e1_idealised.toml``
(``C1-noninferior``: every cell below a 10 % margin, regimes named by lr / edge;
``C1-best-lr``: each arm at its own best lr). The runs go through
``common.run_conditions``: one condition per (task, nudge) for the probe and per (task,
nudge, lr) for the arms, each cached on disk, so a rerun resumes. The networks differ from
seed to seed (edge counts too), so they cannot be stacked into one ``train_many``
computation: each condition loops over its seeds.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from .. import tasks as task_makers
from ..analysis import geo_mean_ci, mean_ci
from ..errors import TrainingDiverged
from ..network import Network
from ..rules import CoupledLearning
from ..schedules import steps_for, synchronous_if_one
from ..train import train
from .common import (
    Context,
    judge_criteria,
    load_settings,
    pyplot,
    run_conditions,
    save_figure,
)
from .criteria import Cell
from .report import ci_text, criteria_section, figures_with_captions, fmt, md_table, mode_note

NAME = "e1"
MODULE = "e1_idealised"
TITLE = "E1: idealised simulation (continuous coupled learning)"
#: Heading of this experiment's section in ``results.md``.
HEADING = "Claim 1 — desync does not degrade idealised learning (E1)"
#: The published claim this experiment tests (None: an extension that tests no claim).
CLAIM = (
    "Claim 1: in idealised simulation, desynchronous updates do not degrade the final "
    "error (at equal updates per edge)."
)
#: The error each task is judged by (allostery has one example and no test set).
METRIC = {"allostery": "train_error", "regression": "test_error", "iris": "test_error"}
FLOOR = 1e-300  # errors are clipped to this before logs (a task learnt to round-off)


# ---------------------------------------------------------------------------- the runs
def make_task(spec: dict, net: Network, seed: int):
    """The task of ``spec`` (a ``[full.tasks.*]`` table: ``kind`` plus its arguments) on
    ``net``; ``seed`` draws its node roles, teacher and split (Iris: split and roles)."""
    kwargs = {k: v for k, v in spec.items() if k != "kind"}
    if spec["kind"] == "iris":
        return task_makers.iris(net, seed=seed, node_seed=seed, **kwargs)
    return getattr(task_makers, spec["kind"])(net, seed=seed, **kwargs)


def metric_of(spec: dict) -> str:
    """The judged error column of a task spec."""
    return METRIC[spec["kind"]]


def _instance(c: dict, seed: int):
    net = Network.random(c["n_nodes"], seed=seed)
    return net, make_task(c["task"], net, seed)


def train_to_budget(net, task, lr, eta, p, upe, record_upe, seed, callback=None):
    """One run of continuous coupled learning under ``synchronous_if_one(p)`` to ``upe``
    updates per edge, recorded every ``record_upe`` updates per edge.

    Returns
    -------
    history : DataFrame
        The run's history up to its end (or to its last record if it diverged).
    diverged : bool
    """
    schedule = synchronous_if_one(p)
    n_edges = net.n_edges
    steps = steps_for(upe, schedule, n_edges)
    every = max(1, steps_for(record_upe, schedule, n_edges))
    rule = CoupledLearning(lr=lr, eta=eta)
    try:
        res = train(
            net,
            task,
            rule,
            schedule,
            steps=steps,
            seed=seed,
            record_every=every,
            progress=False,
            callback=callback,
        )
    except TrainingDiverged as exc:
        hist = exc.result.history if exc.result is not None else pd.DataFrame()
        return hist, True
    return res.history, False


def probe_condition(c: dict) -> pd.DataFrame:
    """Synchronous runs of one (task, nudge) on the probe lr grid: one row per (lr, seed)
    saying whether the run was unstable (diverged, or its training error rose by more than
    ``rise`` from one step to the next)."""
    rows = []
    for seed in range(c["seeds"]):
        net, task = _instance(c, seed)
        for lr in c["lrs"]:
            state = {"prev": math.inf, "max_rise": 0.0, "upe": 0.0}

            def watch(step, _state, row, st=state):
                e = float(np.ravel(row["train_error"])[0])
                st["upe"] = float(np.ravel(row["updates_per_edge"])[0])
                if math.isfinite(st["prev"]) and st["prev"] > 0:
                    st["max_rise"] = max(st["max_rise"], e / st["prev"] - 1.0)
                st["prev"] = e
                return st["max_rise"] <= c["rise"]  # stop at the first rise

            _, diverged = train_to_budget(
                net, task, lr, c["eta"], 1.0, c["updates_per_edge"], 1.0, seed, watch
            )
            rows.append(
                {
                    "seed": seed,
                    "lr": float(lr),
                    "n_edges": net.n_edges,
                    "diverged": diverged,
                    "max_rise": state["max_rise"],
                    "unstable": diverged or state["max_rise"] > c["rise"],
                    "stopped_at": state["upe"],
                }
            )
    return pd.DataFrame(rows)


def arm_condition(c: dict) -> pd.DataFrame:
    """Every seed and p of one (task, nudge, lr): the judged error on the grid of updates per
    edge ``0, record_upe, ..., upe`` (``inf`` from the record where a run diverged on)."""
    grid = np.arange(0.0, c["updates_per_edge"] + c["record_upe"] / 2, c["record_upe"])
    metric = metric_of(c["task"])
    frames = []
    for seed in range(c["seeds"]):
        net, task = _instance(c, seed)
        for p in c["ps"]:
            hist, diverged = train_to_budget(
                net, task, c["lr"], c["eta"], p, c["updates_per_edge"], c["record_upe"], seed
            )
            err = np.full(grid.size, np.inf)
            acc = np.full(grid.size, np.nan)
            if len(hist):
                idx = np.rint(hist["updates_per_edge"].to_numpy() / c["record_upe"]).astype(int)
                keep = idx < grid.size
                vals = hist[metric].to_numpy(dtype=float)[keep]
                err[idx[keep]] = np.where(np.isfinite(vals), vals, np.inf)
                if "test_accuracy" in hist:
                    acc[idx[keep]] = hist["test_accuracy"].to_numpy(dtype=float)[keep]
            frames.append(
                pd.DataFrame(
                    {
                        "seed": seed,
                        "p": float(p),
                        "n_edges": net.n_edges,
                        "upe": grid,
                        "error": err,
                        "accuracy": acc,
                        "diverged": diverged,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------- statistics
def probe_grid(probe: dict) -> list[float]:
    """The probe's geometric lr grid (S/V^2)."""
    return [probe["lr_min"] * probe["factor"] ** i for i in range(probe["count"])]


def stability_edge(frame: pd.DataFrame, majority: float, factor: float) -> dict:
    """The smallest probe lr at which more than ``majority`` of the seeds are unstable.

    Parameters
    ----------
    frame : DataFrame
        ``probe_condition`` rows of one (task, nudge).
    majority : float
        Fraction of unstable seeds that marks the edge.
    factor : float
        Grid factor: when no grid lr is unstable, the edge is put one step beyond the grid
        and ``found`` is False.

    Returns
    -------
    dict
        ``edge`` (S/V^2), ``found``, ``below`` (the grid lr under the edge, None at the
        grid's start) and ``fractions`` (lr -> unstable fraction).
    """
    frac = frame.groupby("lr")["unstable"].mean().sort_index()
    lrs = list(frac.index)
    over = [lr for lr in lrs if frac[lr] > majority]
    if over:
        edge, found = over[0], True
    else:
        edge, found = lrs[-1] * factor, False
    below = [lr for lr in lrs if lr < edge]
    return {
        "edge": float(edge),
        "found": found,
        "below": float(below[-1]) if below else None,
        "fractions": {f"{lr:g}": float(v) for lr, v in frac.items()},
    }


def log_ratios(a, b, diverged_factor: float) -> np.ndarray:
    """Paired log ratios ``log(a / b)`` of errors in which ``inf`` marks a diverged run.

    A diverged ``a`` against a finished ``b`` counts as ``log(diverged_factor)``, the
    reverse as its negative, two diverged runs as a tie (0), so that a divergence weighs
    against its arm instead of dropping out of the comparison.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    bad_a, bad_b = ~np.isfinite(a), ~np.isfinite(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.log(np.clip(a, FLOOR, None)) - np.log(np.clip(b, FLOOR, None))
    cap = math.log(diverged_factor)
    out = np.where(bad_a & ~bad_b, cap, out)
    out = np.where(bad_b & ~bad_a, -cap, out)
    return np.where(bad_a & bad_b, 0.0, out)


def error_arrays(frame: pd.DataFrame, floor: float = 0.0) -> tuple[dict, np.ndarray]:
    """(task, eta, divisor, p) -> errors, shape (seeds, records), rows in seed order; and
    the grid of updates per edge. Finite errors below ``floor`` are raised to it: two runs
    that both learnt the task below the resolution tie instead of comparing round-off."""
    grid = np.sort(frame["upe"].unique())
    out = {}
    for key, g in frame.groupby(["task", "eta", "divisor", "p"]):
        wide = g.pivot(index="seed", columns="upe", values="error").sort_index()
        e = wide[grid].to_numpy()
        out[(key[0], float(key[1]), float(key[2]), float(key[3]))] = np.where(
            np.isfinite(e), np.maximum(e, floor), np.inf
        )
    return out, grid


def _col(grid: np.ndarray, upe: float) -> int:
    return int(np.argmin(np.abs(grid - upe)))


def _score(errors: np.ndarray) -> float:
    """Mean log error over seeds (inf when any run diverged): the best-lr criterion."""
    if not np.all(np.isfinite(errors)):
        return math.inf
    return float(np.mean(np.log(np.clip(errors, FLOOR, None))))


def _geo(errors: np.ndarray) -> float:
    """Geometric mean of the finite errors (NaN when none is finite)."""
    return geo_mean_ci(errors[np.isfinite(errors)])[0]


def regime_name(d: float) -> str:
    """The regime of lr = edge / d, as verdicts name it."""
    return "lr = edge" if d == 1 else f"lr = edge/{d:g}"


def analyse(frame: pd.DataFrame, s: dict) -> dict:
    """The criteria cells, ratio rows, best-lr rows, error rows and ratio curves.

    Parameters
    ----------
    frame : DataFrame
        All ``arm_condition`` rows, with ``task``, ``eta``, ``divisor`` and ``lr`` columns.
    s : dict
        The settings.
    """
    errs, grid = error_arrays(frame, s.get("error_floor", 0.0))
    ps = [float(p) for p in s["ps"]]
    desync = [p for p in ps if p != 1.0]
    cap = s["diverged_factor"]
    final = max(s["budgets"])
    cells = {"C1-noninferior": [], "C1-best-lr": []}
    ratios, errors, best, curves = [], [], [], []
    for task in s["run_tasks"]:
        for eta in map(float, s["etas"]):
            for d in map(float, s["divisors"]):
                for p in ps:
                    e = errs[(task, eta, d, p)]
                    for b in s["budgets"]:
                        col = e[:, _col(grid, b)]
                        gm, lo, hi = geo_mean_ci(col[np.isfinite(col)])
                        errors.append(
                            {
                                "task": task,
                                "eta": eta,
                                "divisor": d,
                                "p": p,
                                "budget": b,
                                "error": gm,
                                "error_low": lo,
                                "error_high": hi,
                                "diverged": int((~np.isfinite(col)).sum()),
                                "n": int(col.size),
                            }
                        )
                for p in desync:
                    lr_ = log_ratios(errs[(task, eta, d, p)], errs[(task, eta, d, 1.0)], cap)
                    for b in s["budgets"]:
                        v = lr_[:, _col(grid, b)]
                        m, lo, hi = mean_ci(v)
                        ratios.append(
                            {
                                "task": task,
                                "eta": eta,
                                "divisor": d,
                                "p": p,
                                "budget": b,
                                "ratio": math.exp(m),
                                "low": math.exp(lo),
                                "high": math.exp(hi),
                                "n": int(v.size),
                            }
                        )
                        if d in s["claim_divisors"]:
                            cells["C1-noninferior"].append(
                                Cell(
                                    regime_name(d),
                                    f"{task}, eta = {eta:g}, {b:g} updates per edge, "
                                    f"p = {p:g} / sync",
                                    v,
                                )
                            )
                    if d == s["curve_divisor"]:
                        cm = [mean_ci(lr_[:, j]) for j in range(grid.size)]
                        curves.append(
                            {
                                "task": task,
                                "eta": eta,
                                "p": p,
                                "upe": grid.tolist(),
                                "ratio": [math.exp(x[0]) for x in cm],
                                "low": [math.exp(x[1]) for x in cm],
                                "high": [math.exp(x[2]) for x in cm],
                            }
                        )
            # each arm at its own best lr, at the largest budget
            col = _col(grid, final)
            pick = {}
            for p in ps:
                scores = {d: _score(errs[(task, eta, float(d), p)][:, col]) for d in s["divisors"]}
                pick[p] = float(min(scores, key=lambda d: (scores[d], d)))
            sync_e = errs[(task, eta, pick[1.0], 1.0)][:, col]
            for p in desync:
                v = log_ratios(errs[(task, eta, pick[p], p)][:, col], sync_e, cap)
                m, lo, hi = mean_ci(v)
                best.append(
                    {
                        "task": task,
                        "eta": eta,
                        "p": p,
                        "divisor": pick[p],
                        "sync_divisor": pick[1.0],
                        "error": _geo(errs[(task, eta, pick[p], p)][:, col]),
                        "sync_error": _geo(sync_e),
                        "ratio": math.exp(m),
                        "low": math.exp(lo),
                        "high": math.exp(hi),
                        "n": int(v.size),
                    }
                )
                cells["C1-best-lr"].append(
                    Cell(
                        "each arm at its best lr",
                        f"{task}, eta = {eta:g}, p = {p:g} at {regime_name(pick[p])} / sync at "
                        f"{regime_name(pick[1.0])}",
                        v,
                    )
                )
    cells["C1-within-25"] = list(cells["C1-noninferior"])  # the same cells, a wider margin
    return {
        "cells": cells,
        "ratios": ratios,
        "errors": errors,
        "best": best,
        "curves": curves,
    }


# ---------------------------------------------------------------------------- figures
FINE_RATIO_TICKS = (0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
COARSE_RATIO_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def _ratio_ticks(ax) -> None:
    """Plain-number ticks on a log ratio axis: fine ones (0.9, 1.1) on a narrow range. The
    axis is cut at 0.01 and 100 (wider intervals run off the panel)."""
    lo, hi = ax.get_ylim()
    lo, hi = max(lo, 0.01), min(hi, 100.0)
    ax.set_ylim(lo, hi)
    _log_ticks(ax, "y", FINE_RATIO_TICKS if hi / lo < 4 else COARSE_RATIO_TICKS)


def _log_ticks(ax, axis: str, ticks, labels=None, most: int = 7) -> None:
    """Put plain-number ticks (no minor labels) at those of ``ticks`` inside the axis range,
    at most ``most`` of them, so that log axes read as numbers."""
    from matplotlib.ticker import NullFormatter

    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    inside = [(t, lab) for t, lab in zip(ticks, labels or ticks, strict=True) if lo <= t <= hi]
    if len(inside) > most:  # keep 1 and thin the rest evenly
        step = math.ceil(len(inside) / most)
        keep = {t for t, _ in inside[::step]} | {1.0}
        inside = [(t, lab) for t, lab in inside if t in keep]
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_minor_formatter(NullFormatter())
    setter = ax.set_yticks if axis == "y" else ax.set_xticks
    setter(
        [t for t, _ in inside], [lab if isinstance(lab, str) else f"{lab:g}" for _, lab in inside]
    )


def _panel_grid(plt, s: dict, height: float = 2.9):
    tasks, etas = list(s["run_tasks"]), s["etas"]
    fig, axes = plt.subplots(
        len(etas),
        len(tasks),
        figsize=(3.4 * len(tasks), height * len(etas)),
        layout="constrained",
        squeeze=False,
    )
    return fig, axes, tasks, etas


def _figures(ctx: Context, res: dict, edges: dict, s: dict) -> list[str]:
    from matplotlib.ticker import NullFormatter

    plt = pyplot()
    tol = 0.10
    desync = [float(p) for p in s["ps"] if p != 1.0]
    colours = dict(zip(desync, plt.get_cmap("viridis")(np.linspace(0.15, 0.75, len(desync))),
                       strict=True))  # fmt: skip
    paths = []

    # Figure E1.1: paired ratio against updates per edge at the middle lr
    fig, axes, tasks, etas = _panel_grid(plt, s)
    for i, eta in enumerate(etas):
        for j, task in enumerate(tasks):
            ax = axes[i, j]
            for cur in res["curves"]:
                if cur["task"] != task or cur["eta"] != eta:
                    continue
                x = np.asarray(cur["upe"])[1:]
                c = colours[cur["p"]]
                ax.plot(x, cur["ratio"][1:], color=c, label=f"p = {cur['p']:g}")
                ax.fill_between(x, cur["low"][1:], cur["high"][1:], color=c, alpha=0.25, lw=0)
            ax.axhspan(1 - tol, 1 + tol, color="0.88", zorder=0)
            ax.axhline(1.0, color="k", lw=0.7)
            for b in s["budgets"]:
                ax.axvline(b, color="0.6", lw=0.6, ls=":")
            ax.set_xscale("log")
            ax.set_yscale("log")
            _log_ticks(ax, "x", sorted({s["record_upe"], *s["budgets"]}))
            _ratio_ticks(ax)
            ax.set_xlabel("updates per edge")
            ax.set_ylabel("error ratio, desync / sync")
            ax.set_title(f"{task}, η = {eta:g}", fontsize=9)
            ax.grid(alpha=0.3)
            if i == 0 and j == 0:
                ax.legend(loc="best")
    paths.append(save_figure(fig, ctx, "e1_ratio_curves"))

    # Figure E1.2: final-error ratio against lr / edge
    fig, axes, tasks, etas = _panel_grid(plt, s)
    final = max(s["budgets"])
    for i, eta in enumerate(etas):
        for j, task in enumerate(tasks):
            ax = axes[i, j]
            for k, p in enumerate(desync):
                rows = [
                    r
                    for r in res["ratios"]
                    if r["task"] == task and r["eta"] == eta and r["p"] == p
                    and r["budget"] == final
                ]  # fmt: skip
                rows.sort(key=lambda r: -r["divisor"])
                x = np.array([1.0 / r["divisor"] for r in rows]) * (1.0 + 0.06 * (k - 0.5))
                y = np.array([r["ratio"] for r in rows])
                err = [y - [r["low"] for r in rows], [r["high"] for r in rows] - y]
                ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=colours[p],
                            label=f"p = {p:g}")  # fmt: skip
            ax.axhspan(1 - tol, 1 + tol, color="0.88", zorder=0, label="±10 %")
            ax.axhline(1.0, color="k", lw=0.7)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ds = sorted(s["divisors"], reverse=True)
            ax.set_xlim(0.7 / ds[0], 1.4 / ds[-1])
            _log_ticks(ax, "x", [1 / d for d in ds], [regime_name(d)[5:] for d in ds])
            _ratio_ticks(ax)
            ax.set_xlabel("lr / synchronous stability edge")
            ax.set_ylabel(f"error ratio at {final:g} upe")
            ax.set_title(f"{task}, η = {eta:g}", fontsize=9)
            ax.grid(alpha=0.3)
            if i == 0 and j == 0:
                ax.legend(loc="best")
    paths.append(save_figure(fig, ctx, "e1_ratio_vs_lr"))

    # Figure E1.3: error against lr per arm, with the stability edge
    fig, axes, tasks, etas = _panel_grid(plt, s)
    all_c = {**colours, 1.0: "k"}
    for i, eta in enumerate(etas):
        for j, task in enumerate(tasks):
            ax = axes[i, j]
            edge = edges[f"{task}|{eta:g}"]["edge"]
            for p in [float(q) for q in s["ps"]]:
                rows = [
                    r
                    for r in res["errors"]
                    if r["task"] == task and r["eta"] == eta and r["p"] == p
                    and r["budget"] == final
                ]  # fmt: skip
                rows.sort(key=lambda r: -r["divisor"])
                x = np.array([edge / r["divisor"] for r in rows])
                y = np.array([r["error"] for r in rows])
                label = "sync" if p == 1.0 else f"p = {p:g}"
                ax.plot(x, y, marker="o", color=all_c[p], label=label)
            ax.axvline(edge, color="tab:red", lw=1.0, ls="--", label="edge")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("learning rate (S/V²)")
            ax.set_ylabel(f"error at {final:g} upe (V²)")
            ax.set_title(f"{task}, η = {eta:g}", fontsize=9)
            ax.grid(alpha=0.3)
            if i == 0 and j == 0:
                ax.legend(loc="best")
    paths.append(save_figure(fig, ctx, "e1_error_vs_lr"))
    return paths


# ---------------------------------------------------------------------------- run
def _base(s: dict, task: str, eta: float) -> dict:
    return {"n_nodes": s["n_nodes"], "task": s["tasks"][task], "eta": float(eta)}


def run(ctx: Context) -> dict:
    """Run E1 (resuming finished conditions) and return its summary (also written to
    ``OUT/e1/summary.json``)."""
    t0 = time.perf_counter()
    s = load_settings(MODULE, ctx.quick)
    pr = s["probe"]
    final = max(s["budgets"])
    lrs = probe_grid(pr)
    probes = [
        {
            "key": f"probe-{task}-eta{eta:g}",
            "name": task,
            **_base(s, task, eta),
            "lrs": lrs,
            "seeds": pr["seeds"],
            "rise": pr["rise"],
            "updates_per_edge": final,
        }
        for task in s["run_tasks"]
        for eta in s["etas"]
    ]
    edges = {}
    for c, f in zip(probes, run_conditions(ctx, NAME, probes, probe_condition), strict=True):
        edges[f"{c['name']}|{c['eta']:g}"] = stability_edge(f, pr["majority"], pr["factor"])
    arms = []
    for task in s["run_tasks"]:
        for eta in s["etas"]:
            edge = edges[f"{task}|{eta:g}"]["edge"]
            for d in s["divisors"]:
                arms.append(
                    {
                        "key": f"arm-{task}-eta{eta:g}-d{d:g}",
                        "name": task,
                        **_base(s, task, eta),
                        "divisor": float(d),
                        "lr": edge / d,
                        "ps": [float(p) for p in s["ps"]],
                        "seeds": s["seeds"],
                        "updates_per_edge": final,
                        "record_upe": s["record_upe"],
                    }
                )
    frames = []
    for c, f in zip(arms, run_conditions(ctx, NAME, arms, arm_condition), strict=True):
        frames.append(f.assign(task=c["name"], eta=c["eta"], divisor=c["divisor"],
                               lr=c["lr"]))  # fmt: skip
    frame = pd.concat(frames, ignore_index=True)
    res = analyse(frame, s)
    verdicts = judge_criteria(MODULE, res.pop("cells"))
    figures = _figures(ctx, res, edges, s)
    n_edges = frame.groupby("task")["n_edges"].mean().to_dict()
    return ctx.write_summary(
        NAME,
        TITLE,
        s,
        t0,
        edges=edges,
        n_edges=n_edges,
        verdicts=verdicts,
        figures=figures,
        **res,
    )


# ---------------------------------------------------------------------------- report
def _find(rows, **keys) -> dict | None:
    for r in rows:
        if all(r[k] == v for k, v in keys.items()):
            return r
    return None


def _edge_table(s: dict) -> str:
    st = s["settings"]
    rows = []
    for task in st["run_tasks"]:
        for eta in st["etas"]:
            e = s["edges"][f"{task}|{eta:g}"]
            frac = e["fractions"]
            at = frac.get(f"{e['edge']:g}")
            below = frac.get(f"{e['below']:g}") if e["below"] is not None else None
            rows.append(
                [
                    task,
                    f"{eta:g}",
                    fmt(e["edge"]) + ("" if e["found"] else " (beyond the grid)"),
                    fmt(e["below"]) if e["below"] is not None else "-",
                    fmt(at) if at is not None else "-",
                    fmt(below) if below is not None else "-",
                    ", ".join(fmt(e["edge"] / d) for d in st["divisors"]),
                ]
            )
    return md_table(
        [
            "task",
            "η",
            "edge lr (S/V²)",
            "grid lr below",
            "unstable fraction at edge",
            "below",
            "lrs run (edge/d)",
        ],
        rows,
    )


def _ratio_table(s: dict) -> str:
    st = s["settings"]
    desync = [float(p) for p in st["ps"] if p != 1.0]
    header = ["task", "η", "lr", "sync error at " + ", ".join(f"{b:g}" for b in st["budgets"])]
    header += [f"p = {p:g}: ratio at {b:g} upe" for p in desync for b in st["budgets"]]
    rows = []
    for task in st["run_tasks"]:
        for eta in st["etas"]:
            for d in st["divisors"]:
                sync = [
                    _find(s["errors"], task=task, eta=float(eta), divisor=float(d), p=1.0, budget=b)
                    for b in st["budgets"]
                ]
                row = [task, f"{eta:g}", regime_name(d), ", ".join(fmt(r["error"]) for r in sync)]
                for p in desync:
                    for b in st["budgets"]:
                        r = _find(
                            s["ratios"], task=task, eta=float(eta), divisor=float(d), p=p, budget=b
                        )
                        row.append(ci_text(r["ratio"], r["low"], r["high"]))
                rows.append(row)
    return md_table(header, rows)


def _best_table(s: dict) -> str:
    rows = [
        [
            r["task"],
            f"{r['eta']:g}",
            f"{r['p']:g}",
            regime_name(r["divisor"]),
            regime_name(r["sync_divisor"]),
            fmt(r["error"]),
            fmt(r["sync_error"]),
            ci_text(r["ratio"], r["low"], r["high"]),
        ]
        for r in s["best"]
    ]
    return md_table(
        [
            "task",
            "η",
            "p",
            "desync's best lr",
            "sync's best lr",
            "desync error (V²)",
            "sync error (V²)",
            "paired ratio [95 % CI]",
        ],
        rows,
    )


def _divergences(s: dict) -> str:
    st = s["settings"]
    final = max(st["budgets"])
    parts = []
    for d in st["divisors"]:
        for p in [float(q) for q in st["ps"]]:
            rows = [
                r
                for r in s["errors"]
                if r["divisor"] == float(d) and r["p"] == p and r["budget"] == final
            ]
            n_div = sum(r["diverged"] for r in rows)
            n = sum(r["n"] for r in rows)
            if n_div:
                arm = "sync" if p == 1.0 else f"p = {p:g}"
                parts.append(f"{arm} at {regime_name(d)}: {n_div} of {n}")
    if not parts:
        return "No run diverged."
    return "Runs that diverged (non-finite error) before the largest budget: " + "; ".join(parts)


def _convergence(s: dict) -> str:
    """How far the synchronous error still fell over the last budget interval, at the lr
    where it was lowest, per task and nudge (from the numbers, for the reader to judge
    whether the largest budget is near convergence)."""
    st = s["settings"]
    b = sorted(st["budgets"])
    if len(b) < 2:
        return ""
    parts = []
    for task in st["run_tasks"]:
        for eta in st["etas"]:
            best = None
            for d in st["divisors"]:
                last = _find(s["errors"], task=task, eta=float(eta), divisor=float(d), p=1.0,
                             budget=b[-1])  # fmt: skip
                prev = _find(s["errors"], task=task, eta=float(eta), divisor=float(d), p=1.0,
                             budget=b[-2])  # fmt: skip
                if last["diverged"] or not (last["error"] > 0 and prev["error"] > 0):
                    continue
                if best is None or last["error"] < best[1]["error"]:
                    best = (d, last, prev)
            if best is None:
                continue
            d, last, prev = best
            parts.append(
                f"{task} (η = {eta:g}, {regime_name(d)}): ×{prev['error'] / last['error']:.3g}"
            )
    return (
        f"Synchronous error at {b[-2]:g} updates per edge divided by that at {b[-1]:g}, at the "
        f"lr where it is lowest (1 = converged; a large factor = still falling): "
        + "; ".join(parts)
        + "."
    )


def report(s: dict) -> tuple[str, str]:
    st = s["settings"]
    verdict = s["verdicts"]["claims"]["1"]
    desync = ", ".join(f"{p:g}" for p in st["ps"] if p != 1.0)
    budgets = ", ".join(f"{b:g}" for b in st["budgets"])
    etas = ", ".join(f"{e:g}" for e in st["etas"])
    divs = ", ".join(regime_name(d) for d in st["divisors"])
    pr = st["probe"]
    grid = probe_grid(pr)
    task_txt = []
    for name in st["run_tasks"]:
        t = st["tasks"][name]
        if t["kind"] == "iris":
            task_txt.append(f'{name} (Iris "{t["encoding"]}", {t["n_train"]} train / rest test)')
        elif t["kind"] == "allostery":
            task_txt.append(f"{name} ({t['n_inputs']} in, {t['n_outputs']} out, one example)")
        else:
            task_txt.append(
                f"{name} ({t['n_inputs']} in × {t['n_outputs']} out teacher regression, "
                f"{t['n_train']} train / {t['n_test']} test)"
            )
    n_edges = ", ".join(f"{t} {v:.0f}" for t, v in s["n_edges"].items())
    n = st["seeds"]
    final = max(st["budgets"])
    setup = (
        f"**Setup.** Continuous coupled learning on {st['n_nodes']}-node random planar networks "
        f"(mean edges per task: {n_edges}), full batch. Tasks: {'; '.join(task_txt)}; judged by "
        "the training error (allostery) or the test error (the others). **Stability edge**: "
        f"synchronous runs of {pr['seeds']} seeds on the lr grid {fmt(grid[0])} … "
        f"{fmt(grid[-1])} S/V² (factor {pr['factor']:g}) to {final:g} updates per edge; a seed "
        f"is unstable when it diverges or its training error rises by more than "
        f"{100 * pr['rise']:g} % in one step; the edge is the smallest grid lr where more than "
        f"{100 * pr['majority']:g} % of seeds are unstable. **Arms**: Bernoulli p in "
        f"{{{desync}}} against synchronous, η in {{{etas}}}, at {divs}, {n} seeds, errors read "
        f"at {budgets} updates per edge on the same runs. Seed s fixes network, task and "
        "training streams for every arm; each seed is its own network, so the per-seed log "
        "ratios are independent pairs (geometric-mean ratio, Student-t interval on the logs). "
        f"A diverged run counts as {st['diverged_factor']:g}× the error of a finished partner; "
        f"errors below {st.get('error_floor', 0.0):g} V² count as {st.get('error_floor', 0.0):g} "
        "(the task is learnt: both arms tie there instead of comparing round-off)."
    )
    captions = {
        "e1_ratio_curves": (
            f"Figure E1.1 — Paired error ratio desync / sync against updates per edge at "
            f"lr = edge/{st['curve_divisor']:g}, one line per p, per task (columns) and nudge "
            f"η (rows). Line: geometric mean over n = {n} seeds of the per-seed ratio (same "
            "network, task and training seed in both arms); band: pointwise 95 % Student-t "
            "interval on the log ratios; grey: ±10 %; dotted: the budgets judged."
        ),
        "e1_ratio_vs_lr": (
            f"Figure E1.2 — Paired error ratio desync / sync at {final:g} updates per edge "
            f"against lr relative to the synchronous stability edge; n = {n} seeds per point, "
            "bars: 95 % Student-t interval on the log ratios (per point, not corrected); "
            "grey: ±10 % (the margin of C1-noninferior). "
            + (
                "At lr = edge most probe seeds of the synchronous arm are unstable by "
                "construction (outside the claim's regimes). "
                if 1 in st["divisors"]
                else ""
            )
            + "Points of different p are dodged; the axis is cut at 0.01 and 100."
        ),
        "e1_error_vs_lr": (
            f"Figure E1.3 — Geometric-mean error at {final:g} updates per edge over those of "
            f"the n = {n} seeds that did not diverge, against the learning rate, one line per arm; "
            "dashed red: the synchronous stability edge found by the probe."
        ),
    }
    stems = [path.rsplit("/", 1)[-1].rsplit(".", 1)[0] for path in s["figures"]]
    figs = figures_with_captions(s["figures"], [f"*{captions.get(st, st)}*" for st in stems])
    body = f"""{mode_note(s)}**Verdict: {verdict}.**

{setup}

**Stability edge** (synchronous, per task and nudge):

{_edge_table(s)}

{criteria_section(s["verdicts"])}
**Paired error ratios** desync / sync (geometric mean over seeds [95 % interval, per cell]) at
every budget, with the synchronous geometric-mean error (V²) at each budget:

{_ratio_table(s)}

**Each arm at its own best lr** (lowest geometric-mean error at {final:g} updates per edge):

{_best_table(s)}

{_divergences(s)} {_convergence(s)}

{figs}

Command: `{s["command"]}` ({s["runtime_s"]:.0f} s).
"""
    return verdict, body
