"""E2's numbers and figures, from the per-condition frames of ``e2_stepped``.

A condition is named by ``condition_key(mode, taps, noise, p, part)``; ``analyse`` turns the
frames of every condition into the three parts of the summary (main, cycles, regime map) and
``figures`` draws them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import fdr_bh, mann_whitney, ratio_ci, summarize_periods
from .common import Context, pyplot, save_figure
from .report import schedule_label

#: Points of the stored learning curve of every replica (equally spaced updates per edge).
CURVE_POINTS = 101


def condition_key(mode: str, taps: int, noise: float, p: float, part: str) -> str:
    """File-name-safe key of one condition."""
    return f"{part}_{mode}_taps{taps}_noise{noise:g}_p{p:g}"


# ---------------------------------------------------------------------------- analysis
def _compare(frame: pd.DataFrame, ref: pd.DataFrame, column: str = "test_error") -> dict:
    a = frame.set_index("seed")[column]
    b = ref.set_index("seed")[column]
    seeds = a.index.intersection(b.index)
    rc = ratio_ci(a.loc[seeds].to_numpy(), b.loc[seeds].to_numpy())
    mw = mann_whitney(a.to_numpy(), b.to_numpy())
    return {
        "ratio": rc["ratio"],
        "ratio_low": rc["low"],
        "ratio_high": rc["high"],
        "change": rc["change"],
        "p_wilcoxon": rc["p_wilcoxon"],
        "n": rc["n"],
        "median": mw["median_a"],
        "median_sync": mw["median_b"],
        "p_mw": mw["p"],
        "p_desync_lower": mw["p_a_less"],
    }


def _dynamics_summary(frame: pd.DataFrame) -> dict:
    periods = [None if p < 0 else int(p) for p in frame["period"]]
    per = summarize_periods(periods)
    return {
        "n": len(frame),
        "revisit_fraction_median": float(frame["revisit_fraction"].median()),
        "distinct_per_update_median": float(frame["distinct_per_update"].median()),
        "stall_fraction_median": float(frame["stall_fraction"].median()),
        "tap_spread_median": float(frame["tap_spread"].median()),
        "moves_per_step_median": float(frame["moves_per_step"].median()),
        "modal_return_median": float(frame.loc[frame["modal_return"] > 0, "modal_return"].median())
        if (frame["modal_return"] > 0).any()
        else math.nan,
        "cycling": per["cycling"],
        "periods": per["periods"],
        "median_period": per["median_period"],
        "test_error_median": float(frame["test_error"].median()),
        "test_accuracy_median": float(frame["test_accuracy"].median()),
    }


def analyse(frames: dict[str, pd.DataFrame], s: dict) -> dict:
    """Numbers of the three parts from the per-condition frames (keyed by condition key)."""
    m = s["main"]
    main = {p: frames[condition_key("online", m["taps"], m["noise"], p, "main")] for p in m["ps"]}
    sync = main[1.0]
    main_rows = []
    for p, f in main.items():
        row = {"p": p, **_dynamics_summary(f)}
        if p != 1.0:
            row.update(_compare(f, sync))
            row["accuracy_change"] = float(
                f["test_accuracy"].median() - sync["test_accuracy"].median()
            )
        main_rows.append(row)
    cy = s["cycles"]
    cycle_rows = []
    for taps in cy["taps"]:
        ref = frames[condition_key("full", taps, 0.0, 1.0, "cycles")]
        for p in cy["ps"]:
            f = frames[condition_key("full", taps, 0.0, p, "cycles")]
            row = {"taps": taps, "p": p, **_dynamics_summary(f)}
            if p != 1.0:
                row.update(_compare(f, ref))
            cycle_rows.append(row)
    mp = s["map"]
    modes = [("online", n) for n in mp["noise"]]
    if mp.get("full_batch"):
        modes.append(("full", 0.0))
    map_rows = []
    for mode, noise in modes:
        for taps in mp["taps"]:
            ref = frames[condition_key(mode, taps, noise, 1.0, "map")]
            for p in mp["ps"]:
                if p == 1.0:
                    continue
                f = frames[condition_key(mode, taps, noise, p, "map")]
                cmp_ = _compare(f, ref)
                map_rows.append(
                    {
                        "mode": mode,
                        "noise": noise,
                        "taps": taps,
                        "p": p,
                        **cmp_,
                        "accuracy_sync": float(ref["test_accuracy"].median()),
                        "accuracy": float(f["test_accuracy"].median()),
                    }
                )
    # significance over the whole map: Benjamini-Hochberg on the paired Wilcoxon p-values
    reject = fdr_bh([r["p_wilcoxon"] for r in map_rows], q=0.05)
    for r, rej in zip(map_rows, reject, strict=True):
        r["significant"] = bool(rej)
        r["effect"] = "no difference" if not rej else ("better" if r["ratio"] < 1 else "worse")
    headline_p = 0.5 if 0.5 in main else [p for p in main if p != 1.0][0]
    head = next(r for r in main_rows if r["p"] == headline_p)
    better = [r for r in map_rows if r["effect"] == "better"]
    worse = [r for r in map_rows if r["effect"] == "worse"]
    if head["median"] < head["median_sync"] and head["p_mw"] < 0.05:
        verdict = "supported"
    elif better:
        verdict = "supported only in a stated regime"
    else:
        verdict = "not supported"
    return {
        "main": main_rows,
        "headline_p": headline_p,
        "headline": head,
        "cycles": cycle_rows,
        "map": map_rows,
        "n_better": len(better),
        "n_worse": len(worse),
        "n_cells": len(map_rows),
        "verdict": verdict,
    }


# ---------------------------------------------------------------------------- figures
def _fig_main(ctx: Context, frames: dict, s: dict, res: dict) -> str:
    plt = pyplot()
    m = s["main"]
    ps = m["ps"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), layout="constrained")
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(ps)))
    grid = np.linspace(0, s["updates_per_edge"], CURVE_POINTS)
    for c, p in zip(colours, ps, strict=True):
        f = frames[condition_key("online", m["taps"], m["noise"], p, "main")]
        curves = np.array(f["curve"].tolist())
        med = np.median(curves, axis=0)
        q1, q3 = np.percentile(curves, [25, 75], axis=0)
        axes[0].plot(grid, med, color=c, label=schedule_label(p))
        axes[0].fill_between(grid, q1, q3, color=c, alpha=0.2, lw=0)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("updates per edge")
    axes[0].set_ylabel("test error (V$^2$)")
    axes[0].set_title("learning curves: median, band = quartiles")
    axes[0].legend()
    for ax, col, lab in (
        (axes[1], "test_error", "final test error (V$^2$)"),
        (axes[2], "test_accuracy", "final test accuracy (fraction correct)"),
    ):
        data = [frames[condition_key("online", m["taps"], m["noise"], p, "main")][col] for p in ps]
        ax.boxplot(data, showfliers=False)
        rng = np.random.default_rng(0)
        for i, d in enumerate(data):
            ax.scatter(
                i + 1 + rng.uniform(-0.15, 0.15, len(d)), d, s=10, alpha=0.6, color=colours[i]
            )
        ax.set_xticks(range(1, len(ps) + 1), [schedule_label(p) for p in ps])
        ax.set_ylabel(lab)
        if col == "test_error":
            ax.set_yscale("log")
    h = res["headline"]
    axes[1].set_title(
        f"final error over the last {100 * s['tail']:g} % of updates\n"
        f"Mann-Whitney p = {h['p_mw']:.2g} (p = {res['headline_p']:g} vs sync, "
        f"n = {m['seeds']} each)"
    )
    axes[2].set_title("final test accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"E2 lab board (16 edges), Iris online, {m['taps']} taps, "
        f"{s['updates_per_edge']:g} updates per edge"
    )
    return save_figure(fig, ctx, "e2_sync_vs_desync")


def _fig_trajectories(ctx: Context, s: dict, traj_dir: Path) -> str:
    plt = pyplot()
    m, cy = s["main"], s["cycles"]
    desync_p = 0.5 if 0.5 in m["ps"] else [p for p in m["ps"] if p != 1.0][0]
    panels = [
        (condition_key("online", m["taps"], m["noise"], 1.0, "main"), "online, synchronous"),
        (
            condition_key("online", m["taps"], m["noise"], desync_p, "main"),
            f"online, Bernoulli p = {desync_p:g}",
        ),
    ]
    ct = cy["taps"][-1]
    cyc_p = [p for p in cy["ps"] if p != 1.0][0]
    panels += [
        (condition_key("full", ct, 0.0, 1.0, "cycles"), f"full batch ({ct} taps), synchronous"),
        (
            condition_key("full", ct, 0.0, cyc_p, "cycles"),
            f"full batch ({ct} taps), Bernoulli p = {cyc_p:g}",
        ),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(16, 6.5), layout="constrained")
    for j, (key, title) in enumerate(panels):
        with np.load(traj_dir / f"{key}.npz") as z:
            taps, upe = z["taps"], z["updates_per_edge"]
        ax = axes[0, j]
        ax.plot(upe, taps, lw=0.6)
        ax.set_title(title)
        ax.set_xlabel("updates per edge")
        ax.set_ylabel("tap position (of each edge)")
        ax.grid(alpha=0.3)
        zoom = upe >= upe[-1] - 20
        ax = axes[1, j]
        ax.plot(upe[zoom], taps[zoom] - taps[zoom].mean(axis=0), lw=0.8, marker=".", ms=2)
        ax.set_title("last 20 updates per edge (each edge minus its mean)")
        ax.set_xlabel("updates per edge")
        ax.set_ylabel("tap offset (taps)")
        ax.grid(alpha=0.3)
    fig.suptitle("E2 tap trajectories of the 16 edges (replica 0)")
    return save_figure(fig, ctx, "e2_tap_trajectories")


def _fig_dynamics(ctx: Context, frames: dict, s: dict) -> str:
    plt = pyplot()
    m, cy = s["main"], s["cycles"]
    groups = [
        (
            f"online {m['taps']} taps\n{schedule_label(p)}",
            frames[condition_key("online", m["taps"], m["noise"], p, "main")],
        )
        for p in m["ps"]
    ]
    groups += [
        (
            f"full batch {t} taps\n{schedule_label(p)}",
            frames[condition_key("full", t, 0.0, p, "cycles")],
        )
        for t in cy["taps"]
        for p in cy["ps"]
    ]
    cols = [
        ("revisit_fraction", "revisited states (fraction of moves)", False),
        ("distinct_per_update", "distinct tap states per update per edge", True),
        ("tap_spread", "tap spread over the window (taps, std)", False),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), layout="constrained")
    for ax, (col, lab, log) in zip(axes, cols, strict=True):
        data = [g[col].to_numpy() for _, g in groups]
        ax.boxplot(data, showfliers=False)
        rng = np.random.default_rng(0)
        for i, d in enumerate(data):
            ax.scatter(i + 1 + rng.uniform(-0.15, 0.15, len(d)), d, s=8, alpha=0.5)
        ax.set_xticks(
            range(1, len(groups) + 1), [g for g, _ in groups], rotation=60, ha="right", fontsize=7
        )
        ax.set_ylabel(lab)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"E2 what the networks do in tap space over the last {m['window']:g} updates per edge"
    )
    return save_figure(fig, ctx, "e2_dynamics")


def _fig_map(ctx: Context, res: dict, s: dict) -> str:
    plt = pyplot()
    from matplotlib.colors import TwoSlopeNorm

    rows = pd.DataFrame(res["map"])
    panels = [
        (mode, noise)
        for mode, noise in rows[["mode", "noise"]].drop_duplicates().itertuples(index=False)
    ]
    taps = sorted(rows["taps"].unique())
    ps = sorted(rows["p"].unique(), reverse=True)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.9 * len(panels) + 1, 3.6), layout="constrained", squeeze=False
    )
    lim = max(0.1, float(np.nanmax(np.abs(np.log2(rows["ratio"])))))
    norm = TwoSlopeNorm(vmin=-lim, vcenter=0.0, vmax=lim)
    im = None
    for ax, (mode, noise) in zip(axes[0], panels, strict=True):
        sub = rows[(rows["mode"] == mode) & (rows["noise"] == noise)]
        z = np.full((len(ps), len(taps)), np.nan)
        for _, r in sub.iterrows():
            z[ps.index(r["p"]), taps.index(r["taps"])] = np.log2(r["ratio"])
        im = ax.imshow(z, cmap="RdBu_r", norm=norm, aspect="auto")
        for _, r in sub.iterrows():
            i, j = ps.index(r["p"]), taps.index(r["taps"])
            star = "*" if r["significant"] else ""
            ax.text(j, i, f"{100 * r['change']:+.0f}%{star}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(taps)), [str(t) for t in taps])
        ax.set_yticks(range(len(ps)), [f"{p:g}" for p in ps])
        ax.set_xlabel("potentiometer taps")
        ax.set_ylabel("update probability p")
        label = f"online, noise {noise:g} V" if mode == "online" else "full batch, no noise"
        ax.set_title(label)
    fig.colorbar(im, ax=axes[0, -1], label="log$_2$(final error desync / sync)")
    fig.suptitle(
        "E2 regime map: change of the final test error, desynchronous vs synchronous "
        "(blue: desync better; * significant, Wilcoxon with BH-FDR 5 %)"
    )
    return save_figure(fig, ctx, "e2_regime_map")


def figures(ctx: Context, frames: dict, s: dict, res: dict, traj_dir: Path) -> list[str]:
    """Draw E2's four figures; return their paths relative to ``ctx.out``."""
    return [
        _fig_main(ctx, frames, s, res),
        _fig_trajectories(ctx, s, traj_dir),
        _fig_dynamics(ctx, frames, s),
        _fig_map(ctx, res, s),
    ]
