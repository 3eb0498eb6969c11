"""E2's numbers, criteria cells, figures and report body, from the per-replica frame of
``e2_stepped`` (one row per replica and (board, task, setting), columns per arm).

Every comparison is a paired ratio over replicas (same task seed and training seed in both
arms). A *regime* is ``"<board> <task>, <setting>, p = <p>"``: the unit the pre-registered
criteria decide on, named the same way in every criterion of a claim.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import proportion_ci, ratio_ci
from .common import Context, judge_criteria, pyplot, save_figure
from .criteria import Cell
from .report import criteria_section, figures_with_captions, fmt, md_table, mode_note, ratio_text

#: The comparisons of every regime: name -> (numerator arm, denominator arm, normalisation).
#: ``{p}`` is the regime's p. "updates": equal updates per edge; "examples": equal examples.
COMPARISONS = {
    "B/A": ("B{p}", "A", "updates"),
    "B/C": ("B{p}", "C{p}", "updates"),
    "B/D": ("B{p}", "D{p}", "updates"),
    "B/E": ("B{p}", "E{p}", "updates"),
    "B/A (equal examples)": ("B{p}", "A_ex{p}", "examples"),
    "B/E (equal examples)": ("B{p}", "E_ex{p}", "examples"),
}
#: Criterion id -> the comparison whose log ratios are its cells.
RATIO_CRITERIA = {
    "C2-gain": "B/A",
    "C2-equal-examples": "B/A (equal examples)",
    "C2-beyond-minibatch": "B/D",
    "C2-beyond-stagger": "B/C",
}
#: Share of the run shown step by step in the zoom of Figure E2.3.
ZOOM_UPE = 0.05
#: A control "matches" desync when B / control is at least this (point estimate).
MATCH = 0.9


def regime_name(board: str, task: str, setting: str, p: float) -> str:
    """The regime label shared by every criterion of claim 2."""
    return f"{board} {task}, {setting}, p = {p:g}"


def log_ratio(frame: pd.DataFrame, num: str, den: str) -> np.ndarray:
    """Per-replica ``log(err_num / err_den)``; NaN where either is not positive."""
    a = frame[f"err_{num}"].to_numpy(float)
    b = frame[f"err_{den}"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(a / b)
    out[~((a > 0) & (b > 0))] = np.nan
    return out


def groups(frame: pd.DataFrame):
    """``((board, task, setting), rows)`` of each condition, in frame order."""
    keys = ["board", "task", "setting"]
    order = frame[keys].drop_duplicates().itertuples(index=False, name=None)
    for key in order:
        mask = np.logical_and.reduce([frame[k] == v for k, v in zip(keys, key, strict=True)])
        yield key, frame[mask]


def criteria_cells(frame: pd.DataFrame, ps) -> dict[str, list[Cell]]:
    """The cells of every E2 criterion: one per regime (condition x p)."""
    cells: dict[str, list[Cell]] = {
        k: [] for k in (*RATIO_CRITERIA, "C2-trap", "C2-escape")
    }  # fmt: skip
    for (board, task, setting), g in groups(frame):
        for p in ps:
            reg = regime_name(board, task, setting, p)
            for cid, comp in RATIO_CRITERIA.items():
                num, den, _ = COMPARISONS[comp]
                vals = log_ratio(g, num.format(p=f"{p:g}"), den.format(p=f"{p:g}"))
                cells[cid].append(Cell(reg, comp, vals))
            not_min = 1.0 - g["trap_minimum"].to_numpy(float)
            cells["C2-trap"].append(Cell(reg, "sync state at U not a local minimum", not_min))
            esc = g[f"escaped{p:g}"].to_numpy(float)
            cells["C2-escape"].append(Cell(reg, f"Bernoulli {p:g} escapes the sync state", esc))
    return cells


def _ratio(g: pd.DataFrame, num: str, den: str) -> dict:
    a, b = g[f"err_{num}"].to_numpy(float), g[f"err_{den}"].to_numpy(float)
    r = ratio_ci(a, b)
    return {"ratio": r["ratio"], "low": r["low"], "high": r["high"], "n": r["n"]}


def regime_rows(frame: pd.DataFrame, ps) -> list[dict]:
    """One summary row per regime: absolute errors, every comparison, the mechanism tests."""
    rows = []
    for (board, task, setting), g in groups(frame):
        for p in ps:
            q = f"{p:g}"
            row = {
                "regime": regime_name(board, task, setting, p),
                "board": board,
                "task": task,
                "setting": setting,
                "p": p,
                "taps": int(g["taps"].iloc[0]),
                "metric": g["metric"].iloc[0],
                "n": len(g),
                "sync_error": float(np.median(g["err_A"])),
                "desync_error": float(np.median(g[f"err_B{q}"])),
                "noise": float(g[f"noise{q}"].iloc[0]),
            }
            for comp, (num, den, _) in COMPARISONS.items():
                row[comp] = _ratio(g, num.format(p=q), den.format(p=q))
            best = ratio_ci(g[f"best_B{q}"].to_numpy(float), g["best_A"].to_numpy(float))
            row["best B/A"] = {"ratio": best["ratio"], "low": best["low"], "high": best["high"]}
            trap = proportion_ci(1.0 - g["trap_minimum"].to_numpy(float))
            esc = proportion_ci(g[f"escaped{q}"].to_numpy(float))
            row["not_minimum"] = {"fraction": trap[0], "low": trap[1], "high": trap[2]}
            row["escaped"] = {"fraction": esc[0], "low": esc[1], "high": esc[2]}
            row["escape_upe"] = float(np.nanmedian(g[f"escape_upe{q}"])) if esc[0] > 0 else None
            row["sat_A"] = float(np.mean(g["sat_A"]))
            row["sat_B"] = float(np.mean(g[f"sat_B{q}"]))
            row["msd_A"] = float(np.mean(g["msd_A"]))
            row["msd_B"] = float(np.mean(g[f"msd_B{q}"]))
            rows.append(row)
    return rows


def analyse(frame: pd.DataFrame, s: dict) -> dict:
    """Summary numbers of E2: the regime rows, the criteria verdicts, the headline regime."""
    ps = s["ps"]
    rows = regime_rows(frame, ps)
    verdicts = judge_criteria("e2_stepped", criteria_cells(frame, ps))
    finite = [r for r in rows if math.isfinite(r["B/A"]["ratio"])]
    best = min(finite, key=lambda r: r["B/A"]["ratio"]) if finite else rows[0]
    return {"regimes": rows, "verdicts": verdicts, "largest_gain": best["regime"]}


# ---------------------------------------------------------------------------- figures
def _fig_map(ctx: Context, res: dict, s: dict) -> str:
    plt = pyplot()
    rows = res["regimes"]
    ps = s["ps"]
    ylabels = list(dict.fromkeys(f"{r['board']} {r['task']}" for r in rows))
    xlabels = list(dict.fromkeys(r["setting"] for r in rows))
    passed = {
        c["regime"]
        for crit in res["verdicts"]["criteria"]
        if crit["id"] == "C2-gain"
        for c in crit["cells"]
        if c["outcome"] == "pass"
    }
    fig, axes = plt.subplots(
        len(ps), 1, figsize=(3.0 + 1.1 * len(xlabels), 1.2 + 0.8 * len(ylabels) * len(ps)),
        squeeze=False, layout="constrained",
    )  # fmt: skip
    im = None
    for ax, p in zip(axes[:, 0], ps, strict=True):
        grid = np.full((len(ylabels), len(xlabels)), np.nan)
        for r in rows:
            if r["p"] != p:
                continue
            i, j = ylabels.index(f"{r['board']} {r['task']}"), xlabels.index(r["setting"])
            ratio = r["B/A"]["ratio"]
            grid[i, j] = math.log2(ratio) if ratio and math.isfinite(ratio) else np.nan
            star = "*" if r["regime"] in passed else ""
            dark = math.isfinite(grid[i, j]) and abs(grid[i, j]) > 0.9
            ax.text(
                j, i, f"{ratio:.2f}{star}\n{r['sync_error']:.1e}", ha="center", va="center",
                fontsize=8, color="white" if dark else "black",
            )  # fmt: skip
        im = ax.imshow(grid, cmap="RdBu_r", vmin=-1.5, vmax=1.5, aspect="auto")
        ax.set_xticks(range(len(xlabels)), xlabels, rotation=30, ha="right")
        ax.set_yticks(range(len(ylabels)), ylabels)
        ax.set_title(f"Bernoulli p = {p:g} / synchronous")
    fig.colorbar(im, ax=axes[:, 0].tolist(), label="log2 of paired ratio B/A (tail error)")
    return save_figure(fig, ctx, "e2_regime_map")


def _fig_controls(ctx: Context, res: dict, s: dict) -> str:
    plt = pyplot()
    head = next(r for r in res["regimes"] if r["regime"] == res["largest_gain"])
    rows = [
        r
        for r in res["regimes"]
        if (r["board"], r["task"], r["setting"]) == (head["board"], head["task"], head["setting"])
    ]
    comps = list(COMPARISONS)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    width = 0.8 / max(1, len(rows))
    for k, r in enumerate(rows):
        x = np.arange(len(comps)) + (k - (len(rows) - 1) / 2) * width
        est = np.array([r[c]["ratio"] for c in comps], dtype=float)
        lo = np.array([r[c]["low"] for c in comps], dtype=float)
        hi = np.array([r[c]["high"] for c in comps], dtype=float)
        ax.errorbar(
            x, est, yerr=[est - lo, hi - est], fmt="o", capsize=3, label=f"p = {r['p']:g}"
        )  # fmt: skip
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(1.0 - 0.10, color="grey", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xticks(range(len(comps)), [c.replace(" (", "\n(") for c in comps], fontsize=8)
    ax.set_ylabel("paired ratio of tail error (desync B / control)")
    ax.legend(title="Bernoulli")
    fig.tight_layout()
    return save_figure(fig, ctx, "e2_controls")


def _fig_trajectories(ctx: Context, res: dict, s: dict, traj_dir: Path) -> str | None:
    plt = pyplot()
    head = next(r for r in res["regimes"] if r["regime"] == res["largest_gain"])
    key = f"{head['board']}_{head['task']}_{head['setting']}"
    path = traj_dir / (key.replace(" ", "-").replace("%", "pct") + ".npz")
    if not path.is_file():
        return None
    d = np.load(path)
    sync, desync = d["sync_taps"].astype(int), d["desync_taps"].astype(int)
    moving = np.ptp(sync[len(sync) // 2 :], axis=0) + np.ptp(desync[len(desync) // 2 :], axis=0)
    edges = np.sort(np.argsort(-moving, kind="stable")[:4])
    zoom = ZOOM_UPE * s["updates_per_edge"]
    fig, axes = plt.subplots(2, 2, figsize=(9, 5), sharey=True, layout="constrained")
    colors = plt.get_cmap("tab10").colors
    arms = ((sync, d["sync_upe"], "synchronous"),
            (desync, d["desync_upe"], f"Bernoulli p = {min(s['ps']):g}"))  # fmt: skip
    for row, (taps, upe, label) in zip(axes, arms, strict=True):
        last = upe >= upe[-1] - zoom
        for c, j in zip(colors, edges, strict=False):
            row[0].plot(upe, taps[:, j], color=c, lw=0.6, label=f"edge {j}")
            row[1].plot(upe[last], taps[last, j], color=c, lw=0.8, marker=".", ms=2)
        row[0].set_title(f"{label}: whole run")
        row[1].set_title(f"{label}: last {zoom:g} updates per edge, every step")
        row[0].set_ylabel("tap position")
    axes[0, 0].legend(ncol=2, fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("updates per edge")
    return save_figure(fig, ctx, "e2_tap_trajectories")


def figures(ctx: Context, frame: pd.DataFrame, s: dict, res: dict, traj_dir: Path) -> list[str]:
    """Figures E2.1 (regime map), E2.2 (controls), E2.3 (tap trajectories)."""
    paths = [_fig_map(ctx, res, s), _fig_controls(ctx, res, s)]
    traj = _fig_trajectories(ctx, res, s, traj_dir)
    return paths + ([traj] if traj else [])


# ---------------------------------------------------------------------------- report
def _passed(verdicts: dict, cid: str) -> dict[str, str]:
    crit = next(c for c in verdicts["criteria"] if c["id"] == cid)
    return crit["regimes"]


def _rt(d: dict) -> str:
    return ratio_text(d["ratio"], d["low"], d["high"])


def _frac(d: dict) -> str:
    return f"{d['fraction']:.2f} [{d['low']:.2f}, {d['high']:.2f}]"


def explanation(s: dict) -> str:
    """What the numbers say about the gain and its mechanism, regime by regime (words chosen
    from the measured cells, never typed in)."""
    v = s["verdicts"]
    rows = {r["regime"]: r for r in s["regimes"]}
    gain = _passed(v, "C2-gain")
    won = [r for r, o in gain.items() if o == "pass"]
    lost = [r for r, o in _passed(v, "C2-gain").items() if rows[r]["B/A"]["low"] > 1]
    out = [
        f"Desync beats sync by the pre-registered margin in {len(won)} of {len(gain)} "
        f"regimes" + (f" ({'; '.join(won)})" if won else "") + f"; sync is significantly "
        f"better (95 % interval of B/A above 1, uncorrected) in {len(lost)}"
        + (f" ({'; '.join(lost)})" if lost else "")
        + "."
    ]
    if won:
        by_d = [r for r in won if rows[r]["B/D"]["ratio"] >= MATCH]
        by_c = [r for r in won if rows[r]["B/C"]["ratio"] >= MATCH]
        by_e = [r for r in won if rows[r]["B/E"]["ratio"] >= MATCH]
        trapped = [r for r in won if rows[r]["not_minimum"]["fraction"] > 0.5]
        escaped = [r for r in won if rows[r]["escaped"]["fraction"] > 0.5]
        best_eq = [r for r in won if rows[r]["best B/A"]["high"] >= 1 >= rows[r]["best B/A"]["low"]]
        n = len(won)
        out.append(
            f"Where desync wins, a synchronous mini-batch of 1/p examples matches or beats it "
            f"(B/D ≥ {MATCH:g}) in {len(by_d)} of {n}, the deterministic staggered schedule in "
            f"{len(by_c)} of {n}, and synchronous comparator dither in {len(by_e)} of {n}; the "
            f"synchronous state is not a discrete local minimum in more than half of the "
            f"replicas in {len(trapped)} of {n}, desync started from it escapes in more than "
            f"half in {len(escaped)} of {n}, and the best train error visited in the tail is "
            f"indistinguishable between the arms (95 % interval of best B/A covers 1) in "
            f"{len(best_eq)} of {n}."
        )
    counts = ", ".join(
        f"{c['id']} in {sum(o == 'pass' for o in c['regimes'].values())}" for c in v["criteria"]
    )
    out.append(f"Regimes passing each criterion (of {len(gain)}): {counts}.")
    both = [r for r in won if r in _mech_pass(v)]
    out.append(
        "The gain and every mechanism criterion pass together in "
        + (f"{len(both)} regime(s): {'; '.join(both)}." if both else "no regime.")
    )
    return " ".join(out)


def _mech_pass(v: dict) -> set[str]:
    ids = [c["id"] for c in v["criteria"] if c["claim"] == "2 (mechanism)"]
    sets = [{r for r, o in _passed(v, i).items() if o == "pass"} for i in ids]
    return set.intersection(*sets) if sets else set()


def report_body(s: dict) -> str:
    """The Markdown body of E2's section, from its summary."""
    st = s["settings"]
    n = s["regimes"][0]["n"] if s["regimes"] else 0
    head = next(r for r in s["regimes"] if r["regime"] == s["largest_gain"])
    table = md_table(
        [
            "regime", "sync error (V²)", "B/A", "B/A equal examples", "B/C", "B/D", "B/E",
            "best visited B/A", "sync state not a minimum", "escaped", "at an end tap A / B",
            "tap MSD A / B (taps²)",
        ],
        [
            [
                r["regime"], fmt(r["sync_error"]), _rt(r["B/A"]),
                _rt(r["B/A (equal examples)"]), _rt(r["B/C"]), _rt(r["B/D"]), _rt(r["B/E"]),
                _rt(r["best B/A"]), _frac(r["not_minimum"]), _frac(r["escaped"]),
                f"{100 * r['sat_A']:.0f} % / {100 * r['sat_B']:.0f} %",
                f"{fmt(r['msd_A'], 2)} / {fmt(r['msd_B'], 2)}",
            ]
            for r in s["regimes"]
        ],
    )  # fmt: skip
    variants = "; ".join(
        f"{k} ({', '.join(f'{a} = {b}' for a, b in d.items())})" for k, d in st["variants"].items()
    )
    m = st["main"]
    setup = (
        f"**Setup.** Boards: the assumed 16-edge lab board and the 32-edge 4 × 4 torus. Tasks "
        f"on each: allostery (one example; its error is the train error), teacher regression "
        f"(10 train, 40 test examples) and Iris (levels, 30 train). Stepped coupled learning, "
        f"η = {st['eta']:g}, {st['r_min']:g}–{st['r_max']:g} Ω linear taps, started at the "
        f"middle tap. Arms at U = {st['updates_per_edge']:g} updates per edge: A synchronous "
        f"(one example per step); B Bernoulli(p), p in {st['ps']}; C Staggered(1/p) (every "
        f"edge once per 1/p steps, no randomness); D synchronous with a mini-batch of 1/p "
        f"examples; E synchronous with Gaussian noise on the measured drops, set so that an "
        f"edge's expected move in its signal's direction, averaged over the examples and "
        f"signal-carrying edges at the start, is p taps per step, as under Bernoulli(p). "
        f"Equal examples: B(p) at U has seen U/p examples, as have A and E run "
        f"to U/p updates per edge (A_ex, E_ex: the same runs read at the longer budget), and "
        f"C and D at U. With one example (allostery) D is A, step for step. Final error: "
        f"mean over the last {100 * st['tail']:g} % of the run. "
        f"Main setting: {m['taps']} taps, dead band {m['deadband_rel']:g}, offset "
        f"{m['offset_rel']:g} (fractions of the median initial comparator signal), "
        f"{m['sampling']} order, {m['ticks']} tick per example; one factor changed at a time: "
        f"{variants}. Trap test: is the tap state the synchronous board holds at U a discrete "
        f"local minimum of the training error over all single-tap moves "
        f"(`diagnostics.local_minimum`)? Escape test: Bernoulli(p) started from that state, "
        f"for {st['escape_upe']:g} updates per edge: does its training error reach "
        f"{100 * st['escape_delta']:g} % below the state's? (With a dead band or an offset the "
        f"escape run recalibrates both to the signal at its start.) {n} replicas per regime; "
        f"replica i has task seed i and training seed i in every arm (paired)."
    )
    captions = [
        f"**Figure E2.1 — Regime map.** Paired geometric-mean ratio B/A of the tail test error "
        f"(Bernoulli(p) over synchronous, equal updates per edge; colour log2, blue = desync "
        f"better) for every board and task (rows) and setting (columns), one panel per p; "
        f"below each ratio the median absolute synchronous error (V²); * = C2-gain passes "
        f"(Bonferroni over all regimes). n = {n} paired replicas per cell.",
        f"**Figure E2.2 — Controls in the regime with the largest gain** ({head['board']} "
        f"{head['task']}, {head['setting']}). Paired ratios of Bernoulli(p) to A "
        f"(synchronous), C (staggered), D (mini-batch 1/p), E (dither) at equal updates per "
        f"edge, and to A and E at equal examples; bars: 95 % t-intervals of the geometric "
        f"mean over n = {n} replicas (uncorrected); dashed line: the 10 % margin.",
        f"**Figure E2.3 — Tap trajectories** of the four edges that move most (in the second "
        f"half of the run), replica 0 of {head['board']} {head['task']}, {head['setting']}: "
        f"synchronous (top) and Bernoulli p = {min(st['ps']):g} (bottom), every step; left "
        f"the whole run of {st['updates_per_edge']:g} updates per edge, right its last "
        f"{100 * ZOOM_UPE:g} %. One replica, n = 1: an illustration, not a statistic.",
    ]
    figs = figures_with_captions(s["figures"], captions[: len(s["figures"])])
    return f"""{mode_note(s)}{setup}

{criteria_section(s["verdicts"])}
**What explains the gain.** {explanation(s)}

<details><summary>Every regime ({len(s["regimes"])}): medians, paired ratios [95 % t-interval,
uncorrected], trap and escape fractions [Clopper-Pearson 95 %], fraction of edge-time at an
end tap and tap-space mean-squared displacement per edge over {st["record_upe"]:g} updates
per edge, both in the tail</summary>

{table}

</details>

{figs}

Command: `{s["command"]}` ({s["runtime_s"]:.0f} s).
"""
