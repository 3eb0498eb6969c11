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

from ..analysis import tail_mean, tap_dynamics
from ..gallery import LAB_IRIS_ROLES, lab_board
from ..hardware import SteppedCoupledLearning
from ..schedules import steps_for, synchronous_if_one
from ..tasks import iris
from .common import Context, load_settings, run_conditions, train_replicas
from .e2_analysis import CURVE_POINTS, analyse, condition_key, figures
from .report import (
    figure_links,
    fmt,
    md_table,
    mode_note,
    pct,
    pval_text,
    ratio_text,
    schedule_label,
)

NAME = "e2"
TITLE = "E2: stepped hardware on the emulated lab board"
#: Heading of this experiment's section in ``results.md``.
HEADING = "Claim 2 — desync improves stepped hardware (E2)"
#: The published claim this experiment tests (None: an extension that tests no claim).
CLAIM = (
    "Claim 2: with discrete, stepped hardware, desynchronous updates improve the final "
    "error (a synchronous stepped network stalls or cycles; a desynchronous one explores)."
)
#: Largest trajectory (replicas x steps x edges) kept in memory at once.
MAX_TRAJ_ENTRIES = 4_000_000


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
    net = lab_board()
    p = float(c["p"])
    upe = c["updates_per_edge"]
    schedule = synchronous_if_one(p)
    steps = steps_for(upe, schedule, net.n_edges)
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
            schedule,
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


def run(ctx: Context) -> dict:
    """Run E2 (resuming finished conditions) and return its summary (also written to
    ``OUT/e2/summary.json``)."""
    t0 = time.perf_counter()
    s = load_settings("e2_stepped", ctx.quick)
    conds = _conditions(ctx, s)
    got = run_conditions(ctx, NAME, conds, stepped_condition)
    frames = {c["key"]: f for c, f in zip(conds, got, strict=True)}
    res = analyse(frames, s)
    paths = figures(ctx, frames, s, res, ctx.dir(NAME) / "trajectories")
    return ctx.write_summary(NAME, TITLE, s, t0, **res, figures=paths)


# ---------------------------------------------------------------------------- report
def _dynamics_row(r: dict, label: str) -> list:
    """One row of E2's dynamics tables (final error, ratio to sync, tap-space recurrence)."""
    desync = r["p"] != 1
    return [
        label,
        r["n"],
        fmt(r["test_error_median"]),
        fmt(r["test_accuracy_median"]),
        ratio_text(r.get("ratio"), r.get("ratio_low"), r.get("ratio_high")) if desync else "1",
        pval_text(r.get("p_mw")) if desync else "-",
        fmt(r["revisit_fraction_median"]),
        fmt(r["distinct_per_update_median"]),
        f"{100 * r['cycling']:.0f} %"
        + (f" (period {', '.join(map(str, r['periods']))})" if r["periods"] else ""),
        fmt(r["tap_spread_median"]),
    ]


def report(s: dict) -> tuple[str, str]:
    st = s["settings"]
    m = st["main"]
    head = s["headline"]
    hp = s["headline_p"]
    main_rows = [_dynamics_row(r, schedule_label(r["p"])) for r in s["main"]]
    dyn_header = [
        "schedule",
        "seeds",
        "median final test error (V²)",
        "median test accuracy",
        "paired ratio to sync [95 % CI]",
        "Mann-Whitney p",
        "revisited states (median)",
        "distinct states / update / edge",
        "ending in an exact cycle",
        "tap spread (taps)",
    ]
    main_table = md_table(dyn_header, main_rows)
    cyc_rows = [
        _dynamics_row(r, f"{r['taps']} taps, {schedule_label(r['p'])}") for r in s["cycles"]
    ]
    cyc_table = md_table(dyn_header, cyc_rows)
    # regime map: one pivot per (mode, noise)
    maps = []
    combos = []
    for r in s["map"]:
        key = (r["mode"], r["noise"])
        if key not in combos:
            combos.append(key)
    ps = sorted({r["p"] for r in s["map"]}, reverse=True)
    for mode, noise in combos:
        sub = [r for r in s["map"] if r["mode"] == mode and r["noise"] == noise]
        taps = sorted({r["taps"] for r in sub})
        rows = []
        for t in taps:
            row = [str(t)]
            for p in ps:
                cell = next((r for r in sub if r["taps"] == t and r["p"] == p), None)
                if cell is None:
                    row.append("-")
                    continue
                mark = {"better": " **↓**", "worse": " ↑", "no difference": ""}[cell["effect"]]
                row.append(f"{pct(cell['change'], 0)}{mark}")
            rows.append(row)
        label = f"online, drop noise {noise:g} V" if mode == "online" else "full batch, no noise"
        maps.append(
            f"*{label}* (change of the final test error, desync vs sync; **↓** desync "
            "significantly better, ↑ significantly worse: paired Wilcoxon test with "
            "Benjamini-Hochberg FDR 5 % over the map)\n\n"
            + md_table(["taps"] + [f"p = {p:g}" for p in ps], rows)
        )
    better = [r for r in s["map"] if r["effect"] == "better"]
    worse = [r for r in s["map"] if r["effect"] == "worse"]

    def where(cells):
        if not cells:
            return "nowhere"
        groups: dict = {}
        for r in cells:
            lab = f"online, noise {r['noise']:g} V" if r["mode"] == "online" else "full batch"
            groups.setdefault(lab, []).append(
                f"{r['taps']} taps/p = {r['p']:g} ({pct(r['change'], 0)})"
            )
        return "; ".join(f"{k}: {', '.join(v)}" for k, v in groups.items())

    def taps_of(cells, mode):
        return sorted({r["taps"] for r in cells if r["mode"] == mode})

    def span(cells, mode):
        ch = sorted(abs(r["change"]) * 100 for r in cells if r["mode"] == mode)
        return f"{ch[0]:.0f} %" if ch[0] == ch[-1] else f"{ch[0]:.0f}–{ch[-1]:.0f} %"

    regime = []
    for mode, label in (("online", "online (one example at a time)"), ("full", "full batch")):
        tb, tw = taps_of(better, mode), taps_of(worse, mode)
        if tb:
            regime.append(
                f"{label}, desync helps at {', '.join(map(str, tb))} taps (by {span(better, mode)})"
            )
        if tw:
            regime.append(
                f"{label}, desync hurts at {', '.join(map(str, tw))} taps (by {span(worse, mode)})"
            )
        if not tb and not tw and any(r["mode"] == mode for r in s["map"]):
            regime.append(f"{label}, no significant difference at any tap count")
    regime_txt = "In short: " + "; ".join(regime) + "." if regime else ""
    verdict = s["verdict"]
    sync_row = next(r for r in s["main"] if r["p"] == 1)
    cyc_sync = [r for r in s["cycles"] if r["p"] == 1]
    cyc_desync = [r for r in s["cycles"] if r["p"] != 1]
    mech = (
        f"**What the synchronous network does instead of converging.** Online, over the last "
        f"{m['window']:g} updates per edge, the synchronous board comes back to an earlier tap "
        f"state in a median {100 * sync_row['revisit_fraction_median']:.1f} % of its moves "
        f"and visits {fmt(sync_row['distinct_per_update_median'])} distinct states per update per "
        f"edge; desynchronous (p = {hp:g}) revisits {100 * head['revisit_fraction_median']:.1f} % "
        f"and visits {fmt(head['distinct_per_update_median'])}. Every synchronous update moves "
        "every edge by one tap, so the board can never hold still: near its optimum it "
        "oscillates in lock-step. In full batch the synchronous board is a deterministic map on "
        "a finite state space and it ends in an exact cycle in "
        + ", ".join(
            f"{100 * r['cycling']:.0f} % of runs at {r['taps']} taps (periods "
            f"{', '.join(map(str, r['periods'])) or 'none'})"
            for r in cyc_sync
        )
        + "; desynchronous runs end in a cycle in "
        + ", ".join(f"{100 * r['cycling']:.0f} % at {r['taps']} taps" for r in cyc_desync)
        + ". "
        + _cycle_cost(cyc_sync, cyc_desync)
    )
    verdict_txt = (
        f"**Verdict: {verdict}.** At the default {m['taps']} taps (online, no noise) the "
        f"median final test error is {fmt(head['median_sync'])} V² synchronous and "
        f"{fmt(head['median'])} V² with Bernoulli p = {hp:g} (paired ratio "
        f"{ratio_text(head['ratio'], head['ratio_low'], head['ratio_high'])}, "
        f"Mann-Whitney p = {pval_text(head['p_mw'])}, {head['n']} seeds each; probability that a "
        f"desynchronous run ends lower than a synchronous one: {head['p_desync_lower']:.2f}). "
        f"Across the regime map desynchronous learning is significantly better in "
        f"{len(better)} of {s['n_cells']} cells — {where(better)} — and significantly worse "
        f"in {len(worse)} — {where(worse)}. {regime_txt}"
    )
    setup = " ".join(
        [
            "**Setup.** The assumed 16-edge lab board (3 × 3 lattice plus four diagonals; the",
            "published wiring is not known to us) learning Iris with the lab's node roles",
            '("levels" encoding), one example at a time (online, b = 1). Stepped coupled',
            "learning: every updating edge moves its digital potentiometer one tap",
            f"({st['r_min']:g}–{st['r_max']:g} Ω, both assumed) as its comparator of the squared",
            f"clamped and free drops says; η = {st['eta']:g}. Every run to",
            f"{st['updates_per_edge']:g} updates per edge. The final error of a stepped network",
            f"is the mean test error over the last {100 * st['tail']:g} % of updates (the taps",
            "never stop moving). Replica i uses Iris split i and training seed i in every",
            "condition (pairs across conditions). In the regime map a cell counts as",
            "significantly better or worse when the Wilcoxon signed-rank test of the paired",
            "log ratios passes the Benjamini-Hochberg false-discovery control at 5 % over all",
            "cells of the map.",
        ]
    )
    body = f"""{mode_note(s)}{setup}

{verdict_txt}

{mech}

**Online, {m["taps"]} taps, no noise** (tap statistics over the last {m["window"]:g}
updates per edge):

{main_table}

**Full batch, no noise** (the deterministic synchronous map):

{cyc_table}

**Regime map** ({st["map"]["seeds"]} seeds per cell, same seeds for sync and desync):

{chr(10).join(m_ + chr(10) for m_ in maps)}
{figure_links(s)}

Command: `{s["command"]}` ({s["runtime_s"]:.0f} s).
"""
    return verdict, body


def _cycle_cost(cyc_sync: list[dict], cyc_desync: list[dict]) -> str:
    """Whether cycling costs error in full batch, from the measured ratios and spreads."""
    parts, higher = [], []
    for r in cyc_desync:
        sync = next((c for c in cyc_sync if c["taps"] == r["taps"]), None)
        if sync is None or r.get("ratio") is None:
            continue
        if r["ratio_low"] > 1:
            how = f"{100 * (r['ratio'] - 1):.0f} % higher than"
        elif r["ratio_high"] < 1:
            how = f"{100 * (1 - r['ratio']):.0f} % lower than"
        else:
            how = "no different from"
        higher.append(r["ratio_low"] > 1)
        parts.append(
            f"at {r['taps']} taps desynchronous runs end {how} the synchronous ones "
            f"(tap spread {fmt(r['tap_spread_median'])} against "
            f"{fmt(sync['tap_spread_median'])} taps)"
        )
    if not parts:
        return ""
    lead = (
        "Cycling alone does not make the synchronous board worse: in full batch "
        if all(higher)
        else "In full batch "
    )
    text = lead + "; ".join(parts) + "."
    if all(c["cycling"] == 1 and c["periods"] == [2] for c in cyc_sync):
        text += (
            " Its period-2 cycle keeps every tap within one step of a fixed state, while the "
            "desynchronous board keeps wandering."
        )
    return text
