"""E2: stepped hardware on the emulated lab board, synchronous against desynchronous (claim 2).

The board is ``gallery.lab_board()`` (16 edges) learning Iris with the lab's node roles
(``gallery.LAB_IRIS_ROLES``, one output, "levels" encoding), one training example at a time
(online, ``b = 1``), with ``SteppedCoupledLearning``: every updating edge moves its
potentiometer one tap, up or down, as its comparator says. Replica ``i`` of every condition
uses Iris split ``i`` and training seed ``i``, so conditions are compared seed by seed.

Three parts:

- **main**: 128 taps, no noise; synchronous against ``Bernoulli(p)``; final test errors,
  Mann-Whitney test, and the tap trajectories at every step with their recurrence statistics
  (revisited states, exact cycles, stalls, spread).
- **cycles**: the same in full batch, where the synchronous network is a deterministic map
  on a finite state space and must end in an exact cycle.
- **map**: the change of the final error from synchronous to desynchronous over tap count,
  ``p`` and drop noise (and a noise-free full-batch row).

"Final error" of a stepped network is the mean over the last ``tail`` of the updates per
edge: the taps never stop moving, so a single last value would be a random draw of the
oscillation.

Replicas of a condition are trained together by ``ensemble.train_many`` (one stacked batched
computation); conditions run in parallel processes and are cached on disk one by one.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import fdr_bh, mann_whitney, ratio_ci, summarize_periods, tap_dynamics
from .common import (
    Context,
    load_settings,
    pyplot,
    run_conditions,
    save_figure,
    tail_mean,
    train_replicas,
)

NAME = "e2"
TITLE = "E2: stepped hardware on the emulated lab board"
CURVE_POINTS = 101
#: Largest trajectory (replicas x steps x edges) kept in memory at once.
MAX_TRAJ_ENTRIES = 4_000_000


def _schedule(p: float):
    from ..schedules import Bernoulli, Synchronous

    return Synchronous() if p == 1.0 else Bernoulli(p)


def condition_key(mode: str, taps: int, noise: float, p: float, part: str) -> str:
    """File-name-safe key of one condition."""
    return f"{part}_{mode}_taps{taps}_noise{noise:g}_p{p:g}"


def stepped_condition(c: dict) -> pd.DataFrame:
    """Train every replica of one condition and return one row per replica.

    Parameters
    ----------
    c : dict
        ``mode`` ("online" or "full"), ``taps``, ``noise`` (V), ``p``, ``seeds`` (count),
        ``updates_per_edge``, ``tail``, ``eta``, ``r_min``, ``r_max``,
        ``records_per_update``; with ``state`` true every step is recorded with the taps
        and ``window`` (updates per edge) sets the recurrence analysis; ``traj_path``
        (optional) receives replica 0's trajectory as ``.npz``.

    Returns
    -------
    DataFrame
        ``seed``, tail means ``test_error``, ``train_error``, ``test_accuracy``; ``curve``
        (test error on ``CURVE_POINTS`` equally spaced updates per edge); with ``state``
        the ``tap_dynamics`` columns.
    """
    from ..gallery import LAB_IRIS_ROLES, lab_board
    from ..hardware import SteppedCoupledLearning
    from ..tasks import iris

    net = lab_board()
    p = float(c["p"])
    upe = c["updates_per_edge"]
    steps = math.ceil(upe / p - 1e-9)
    rule = SteppedCoupledLearning(
        eta=c["eta"], taps=c["taps"], r_min=c["r_min"], r_max=c["r_max"], noise=c["noise"]
    )
    batch = 1 if c["mode"] == "online" else None
    state = bool(c.get("state", False))
    record_every = 1 if state else max(1, round(1.0 / (p * c["records_per_update"])))
    seeds = list(range(c["seeds"]))
    chunk = len(seeds)
    if state:
        chunk = max(1, min(len(seeds), MAX_TRAJ_ENTRIES // ((steps + 1) * net.n_edges)))
    grid = np.linspace(0.0, upe, CURVE_POINTS)
    rows = []
    for start in range(0, len(seeds), chunk):
        part = seeds[start : start + chunk]
        tasks = [iris(net, seed=i, **LAB_IRIS_ROLES) for i in part]
        results = train_replicas(
            net,
            tasks,
            rule,
            _schedule(p),
            steps=steps,
            batch_size=batch,
            seeds=part,
            record_every=record_every,
            record_state=state,
        )
        for i, res in zip(part, results, strict=True):
            h = res.history
            row = {
                "seed": i,
                "test_error": tail_mean(h, "test_error", c["tail"]),
                "train_error": tail_mean(h, "train_error", c["tail"]),
                "test_accuracy": tail_mean(h, "test_accuracy", c["tail"]),
                "last_test_error": float(h["test_error"].iloc[-1]),
                "curve": np.interp(grid, h["updates_per_edge"], h["test_error"]).tolist(),
            }
            if state:
                taps = res.trajectory["taps"]
                window = max(1, math.ceil(c["window"] / p))
                dyn = tap_dynamics(taps, window=window, updates_per_step=p)
                dyn["period"] = -1 if dyn["period"] is None else dyn["period"]
                dyn["modal_return"] = -1 if dyn["modal_return"] is None else dyn["modal_return"]
                row.update(dyn)
                if i == 0 and c.get("traj_path"):
                    path = Path(c["traj_path"])
                    path.parent.mkdir(parents=True, exist_ok=True)
                    np.savez_compressed(
                        path,
                        taps=taps.astype(np.int16),
                        updates_per_edge=h["updates_per_edge"].to_numpy(),
                        test_error=h["test_error"].to_numpy(),
                    )
            rows.append(row)
    frame = pd.DataFrame(rows)
    for key in ("mode", "taps", "noise", "p"):
        frame[key] = c[key]
    return frame


def _conditions(ctx: Context, s: dict) -> list[dict]:
    common = {
        k: s[k] for k in ("eta", "r_min", "r_max", "updates_per_edge", "tail", "records_per_update")
    }
    traj_dir = ctx.dir(NAME) / "trajectories"
    conds = []
    m = s["main"]
    for p in m["ps"]:
        key = condition_key("online", m["taps"], m["noise"], p, "main")
        conds.append(
            {
                **common,
                "key": key,
                "part": "main",
                "mode": "online",
                "taps": m["taps"],
                "noise": m["noise"],
                "p": p,
                "seeds": m["seeds"],
                "state": True,
                "window": m["window"],
                "traj_path": str(traj_dir / f"{key}.npz"),
            }
        )
    cy = s["cycles"]
    for taps in cy["taps"]:
        for p in cy["ps"]:
            key = condition_key("full", taps, 0.0, p, "cycles")
            conds.append(
                {
                    **common,
                    "key": key,
                    "part": "cycles",
                    "mode": "full",
                    "taps": taps,
                    "noise": 0.0,
                    "p": p,
                    "seeds": cy["seeds"],
                    "state": True,
                    "window": cy["window"],
                    "traj_path": str(traj_dir / f"{key}.npz"),
                }
            )
    mp = s["map"]
    modes = [("online", n) for n in mp["noise"]]
    if mp.get("full_batch"):
        modes.append(("full", 0.0))
    for mode, noise in modes:
        for taps in mp["taps"]:
            for p in mp["ps"]:
                key = condition_key(mode, taps, noise, p, "map")
                conds.append(
                    {
                        **common,
                        "key": key,
                        "part": "map",
                        "mode": mode,
                        "taps": taps,
                        "noise": noise,
                        "p": p,
                        "seeds": mp["seeds"],
                    }
                )
    # longest first: better packing on the workers
    conds.sort(key=lambda c: -(c["taps"] ** 0 / c["p"]) * (3 if c["noise"] else 1))
    return conds


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
def _p_label(p: float) -> str:
    return "synchronous" if p == 1.0 else f"Bernoulli p = {p:g}"


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
        axes[0].plot(grid, med, color=c, label=_p_label(p))
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
        ax.set_xticks(range(1, len(ps) + 1), [_p_label(p) for p in ps])
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


def _fig_trajectories(ctx: Context, s: dict) -> str:
    plt = pyplot()
    traj_dir = ctx.dir(NAME) / "trajectories"
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
            f"online {m['taps']} taps\n{_p_label(p)}",
            frames[condition_key("online", m["taps"], m["noise"], p, "main")],
        )
        for p in m["ps"]
    ]
    groups += [
        (f"full batch {t} taps\n{_p_label(p)}", frames[condition_key("full", t, 0.0, p, "cycles")])
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


def run(ctx: Context) -> dict:
    """Run E2 (resuming finished conditions) and return its summary (also written to
    ``OUT/e2/summary.json``)."""
    t0 = time.perf_counter()
    s = load_settings("e2_stepped", ctx.quick)
    conds = _conditions(ctx, s)
    got = run_conditions(ctx, NAME, conds, stepped_condition)
    frames = {c["key"]: f for c, f in zip(conds, got, strict=True)}
    res = analyse(frames, s)
    figures = [
        _fig_main(ctx, frames, s, res),
        _fig_trajectories(ctx, s),
        _fig_dynamics(ctx, frames, s),
        _fig_map(ctx, res, s),
    ]
    return ctx.write_summary(NAME, TITLE, s, t0, **res, figures=figures)
