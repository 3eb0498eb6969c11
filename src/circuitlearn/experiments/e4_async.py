"""E4: fully asynchronous learning (``PoissonClocks``) against ``Bernoulli(p)``, data rate matched.

``PoissonClocks(rate)`` is event driven: every edge has its own exponential clock, events
come one edge at a time and the physics is re-settled before each, so no two edges ever
update from the same settled state. ``Bernoulli(p)`` updates a random subset of edges from
one settled state per step.

The training loop presents one batch per step (the *data clock*) and the schedule decides who
updates within it (the *edge clock*). ``PoissonClocks(rate r)`` fires ``r`` events per edge per
step, all on that step's batch, so online it sees ``1 / r`` examples per update per edge, as
``Bernoulli(p = r)`` does. The matched comparison is therefore ``PoissonClocks(rate p)``
against ``Bernoulli(p)``: equal updates per edge *and* equal examples. On the online stepped
board the rate is swept ({1, 0.5, 0.1}), which also measures what the data clock alone does
to the asynchronous board (criterion ``E4-datarate``). In full batch every event sees the
whole training set at any rate, so one PoissonClocks arm matches every ``Bernoulli(p)``.

Two settings (the regimes of the criteria): the idealised rule on small random planar
networks (full batch; allostery and regression; several seeds per network, so intervals are
cluster bootstraps over networks), and the stepped lab board on Iris, online, as in E2 (one
split per seed). Pairs share network, task and training seed.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from ..analysis import cluster_ci, geo_mean_ci, mean_ci, tail_mean
from ..gallery import LAB_IRIS_ROLES, lab_board
from ..hardware import SteppedCoupledLearning
from ..schedules import PoissonClocks, steps_for, synchronous_if_one
from ..tasks import iris
from .common import (
    Context,
    judge_criteria,
    load_settings,
    paired_log_ratios,
    pyplot,
    run_conditions,
    save_figure,
    train_replicas,
)
from .criteria import Cell
from .report import (
    ci_text,
    criteria_section,
    figures_with_captions,
    md_table,
    mode_note,
    schedule_label,
)

NAME = "e4"
TITLE = "E4: fully asynchronous (PoissonClocks) against Bernoulli, data rate matched"
#: Heading of this experiment's section in ``results.md``.
HEADING = "Extension — fully asynchronous updates (E4)"
#: The question this experiment decides (its label heads the overview row).
CLAIM = (
    "E4 (asynchrony): at equal updates per edge and equal examples, fully asynchronous "
    "updating (PoissonClocks) learns as well as Bernoulli(p)."
)
METRIC = {"allostery": "train_error", "regression": "test_error", "iris": "test_error"}
SETTINGS = {
    "continuous": "continuous rule, full batch",
    "stepped": "stepped lab board, online",
}


def _schedule(kind: str, value: float):
    return PoissonClocks(rate=value) if kind == "poisson" else synchronous_if_one(value)


def _key(task: str, kind: str, value: float) -> str:
    return f"{task}_{kind}{value:g}"


def matched_rate(setting: str, p: float, rates) -> float:
    """The PoissonClocks rate that sees as many examples per update per edge as Bernoulli(p).

    Online (``"stepped"``) that is ``p`` itself; in full batch (``"continuous"``) every event
    sees the whole training set, so any rate matches and the first one serves.
    """
    rates = [float(r) for r in rates]
    if float(p) in rates:
        return float(p)
    if setting == "continuous":
        return rates[0]
    raise ValueError(f"stepped: no PoissonClocks rate {p:g} to match Bernoulli p = {p:g}")


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
                    "examples": float(h["examples"].iloc[-1]),
                    "curve": np.interp(grid, h["updates_per_edge"], h[metric]).tolist(),
                }
            )
    frame = pd.DataFrame(rows)
    frame["task"], frame["kind"], frame["value"] = c["task"], c["kind"], c["value"]
    return frame


def stepped_condition(c: dict) -> pd.DataFrame:
    """The lab board on Iris, online, stepped, for one schedule (one row per seed; seed s
    draws the Iris split and the training streams, so each seed is its own cluster)."""
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
                "instance": i,
                "seed": i,
                "error": tail_mean(h, "test_error", s["tail"]),
                "accuracy": tail_mean(h, "test_accuracy", s["tail"]),
                "examples": float(h["examples"].iloc[-1]),
                "curve": np.interp(grid, h["updates_per_edge"], h["test_error"]).tolist(),
            }
        )
    frame = pd.DataFrame(rows)
    frame["task"], frame["kind"], frame["value"] = "iris", c["kind"], c["value"]
    return frame


def condition(c: dict) -> pd.DataFrame:
    """One condition of either setting (``c["setting"]``), for ``run_conditions``."""
    if c["setting"] == "stepped":
        return stepped_condition(c)
    return continuous_condition(c)


def _conditions(s: dict) -> list[dict]:
    """Every condition, the slow PoissonClocks ones first so two workers stay balanced."""
    conds = []
    for setting, tasks in (("continuous", s["continuous"]["tasks"]), ("stepped", ["iris"])):
        arms = [("poisson", float(r)) for r in s[setting]["rates"]]
        arms += [("bernoulli", float(p)) for p in s["ps"]]
        for task in tasks:
            for kind, value in arms:
                conds.append(
                    {
                        "key": f"{setting}-{_key(task, kind, value)}",
                        "settings": s,
                        "setting": setting,
                        "task": task,
                        "kind": kind,
                        "value": value,
                    }
                )
    # Longest first: continuous PoissonClocks (one settle per event on the larger networks),
    # then the stepped ones (slower at low rate: more steps for the same events).
    return sorted(
        conds, key=lambda c: (c["kind"] != "poisson", c["setting"] != "continuous", c["value"])
    )


def paired_logs(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Paired ``log(a / b)`` of final errors over the (instance, seed) pairs both arms ran,
    and the instance (network) of each pair: the clusters.

    Returns
    -------
    logs, clusters : arrays, shape (n,)
    """
    logs, idx = paired_log_ratios(a, b, ["instance", "seed"])
    return logs, np.asarray(idx.get_level_values("instance"))


def paired_ratio(logs: np.ndarray, clusters: np.ndarray, level: float = 0.95) -> dict:
    """Geometric-mean ratio and its interval: a cluster bootstrap when some cluster holds
    several pairs, else a Student-t interval on the logs (every pair its own cluster)."""
    ok = np.isfinite(logs)
    logs, clusters = logs[ok], clusters[ok]
    shared = len(np.unique(clusters)) < len(clusters)
    if shared and len(np.unique(clusters)) >= 2:
        m, lo, hi = cluster_ci(logs, clusters, level)
    else:
        m, lo, hi = mean_ci(logs, level)
    return {"ratio": math.exp(m), "low": math.exp(lo), "high": math.exp(hi), "n": int(ok.sum())}


def _cell_clusters(setting: str, clusters: np.ndarray) -> np.ndarray | None:
    # Stepped: each seed is its own split, so no two pairs share anything but the board.
    return clusters if setting == "continuous" else None


def build_cells(s: dict, frames: dict) -> tuple[dict[str, list[Cell]], list[dict]]:
    """The criteria's cells and the table rows from the condition frames.

    ``frames`` maps ``"<setting>-<task>_<kind><value>"`` to that condition's frame.

    Returns
    -------
    cells : dict
        Criterion id -> list of ``Cell`` (``E4-matched``: PoissonClocks(rate matched to p) /
        Bernoulli(p) per setting, task and p; ``E4-datarate``: stepped PoissonClocks rate 1 /
        rate r for every swept r < 1).
    rows : list of dict
        One per setting, task and p: both arms' geometric-mean errors, the matched ratio and
        the rate-1 (unmatched, the old comparison) ratio, each with its 95 % interval.
    """
    matched, datarate, rows = [], [], []
    for setting, tasks in (("continuous", s["continuous"]["tasks"]), ("stepped", ["iris"])):
        rates = [float(r) for r in s[setting]["rates"]]
        regime = SETTINGS[setting]
        for task in tasks:
            f = {k[len(setting) + 1 :]: v for k, v in frames.items() if k.startswith(setting)}
            for p in s["ps"]:
                p = float(p)
                r = matched_rate(setting, p, rates)
                bern = f[_key(task, "bernoulli", p)]
                pois = f[_key(task, "poisson", r)]
                logs, cl = paired_logs(pois, bern)
                matched.append(
                    Cell(
                        regime,
                        f"{task}: PoissonClocks (rate {r:g}) / {schedule_label(p)}",
                        logs,
                        _cell_clusters(setting, cl),
                    )
                )
                row = {
                    "setting": setting,
                    "task": task,
                    "p": p,
                    "rate": r,
                    "n": len(logs),
                    "clusters": len(np.unique(cl)),
                    "error": geo_mean_ci(bern["error"])[0],
                    "error_poisson": geo_mean_ci(pois["error"])[0],
                    "examples_per_update": float(bern["examples"].mean())
                    / s[setting]["updates_per_edge"],
                    "examples_per_update_poisson": float(pois["examples"].mean())
                    / s[setting]["updates_per_edge"],
                    **{f"matched_{k}": v for k, v in paired_ratio(logs, cl).items()},
                }
                one = f.get(_key(task, "poisson", 1.0))
                if one is not None:
                    lg, c1 = paired_logs(one, bern)
                    row.update({f"rate1_{k}": v for k, v in paired_ratio(lg, c1).items()})
                rows.append(row)
            if setting == "stepped" and 1.0 in rates:
                for r in sorted((x for x in rates if x < 1.0), reverse=True):
                    logs, cl = paired_logs(
                        f[_key(task, "poisson", 1.0)], f[_key(task, "poisson", r)]
                    )
                    datarate.append(
                        Cell(regime, f"{task}: PoissonClocks rate 1 / rate {r:g}", logs, None)
                    )
    return {"E4-matched": matched, "E4-datarate": datarate}, rows


def run(ctx: Context) -> dict:
    """Run E4 (resuming finished conditions) and return its summary (also written to
    ``OUT/e4/summary.json``)."""
    t0 = time.perf_counter()
    s = load_settings("e4_async", ctx.quick)
    conds = _conditions(s)
    frames = {
        c["key"]: f for c, f in zip(conds, run_conditions(ctx, NAME, conds, condition), strict=True)
    }
    cells, rows = build_cells(s, frames)
    verdicts = judge_criteria("e4_async", cells)
    figures = [_figure(ctx, s, verdicts, rows), _curve_figure(ctx, s, frames)]
    return ctx.write_summary(NAME, TITLE, s, t0, rows=rows, verdicts=verdicts, figures=figures)


def _figure(ctx: Context, s: dict, verdicts: dict, rows: list[dict]) -> str:
    """Figure E4.1: matched paired ratio per setting, task and p (criterion intervals)."""
    plt = pyplot()
    crit = next(c for c in verdicts["criteria"] if c["id"] == "E4-matched")
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8), layout="constrained", sharey=True)
    for ax, setting in zip(axes, ("continuous", "stepped"), strict=True):
        regime = SETTINGS[setting]
        ax.axhspan(0.9, 1.1, color="0.9", lw=0, label="equivalence margin [0.9, 1.1]")
        ax.axhline(1.0, color="0.4", lw=0.8)
        cells = [c for c in crit["cells"] if c["regime"] == regime]
        tasks = list(dict.fromkeys(r["task"] for r in rows if r["setting"] == setting))
        for t_i, task in enumerate(tasks):
            mine = [c for c in cells if c["label"].startswith(f"{task}:")]
            ps = [r["p"] for r in rows if r["setting"] == setting and r["task"] == task]
            x = np.arange(len(ps)) + 0.12 * (t_i - (len(tasks) - 1) / 2)
            est = np.array([c["estimate"] for c in mine], float)
            lo = np.array([c["low"] for c in mine], float)
            hi = np.array([c["high"] for c in mine], float)
            ax.errorbar(
                x,
                est,
                yerr=[est - lo, hi - est],
                fmt="o-",
                color=f"C{t_i}",
                capsize=3,
                label=f"{task}: PoissonClocks (matched rate) / Bernoulli",
            )
            if setting == "stepped":
                mine_rows = [r for r in rows if r["setting"] == setting and r["task"] == task]
                r1 = np.array([r.get("rate1_ratio", math.nan) for r in mine_rows], float)
                l1 = np.array([r.get("rate1_low", math.nan) for r in mine_rows], float)
                h1 = np.array([r.get("rate1_high", math.nan) for r in mine_rows], float)
                ax.errorbar(
                    x + 0.15,
                    r1,
                    yerr=[r1 - l1, h1 - r1],
                    fmt="s--",
                    color="0.5",
                    mfc="white",
                    capsize=3,
                    label=f"{task}: PoissonClocks rate 1 / Bernoulli (unmatched)",
                )
        ax.set_xticks(np.arange(len(s["ps"])), [f"{float(p):g}" for p in s["ps"]])
        ax.set_xlabel(
            "Bernoulli p (= matched PoissonClocks rate)" if setting == "stepped" else "Bernoulli p"
        )
        ax.set_title(regime)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel("paired ratio of final errors (dimensionless)")
    return save_figure(fig, ctx, "e4_matched_ratio")


def paired_curve(a: pd.DataFrame, b: pd.DataFrame, clusters: bool) -> tuple[np.ndarray, ...]:
    """Geometric-mean paired ratio of two arms' error curves at every grid point, with a 95 %
    Student-t interval over clusters (the mean log ratio of each network when ``clusters``,
    else over pairs).

    Returns
    -------
    ratio, low, high : arrays, shape (G,)
    """
    ia = a.set_index(["instance", "seed"])["curve"]
    ib = b.set_index(["instance", "seed"])["curve"]
    idx = ia.index.intersection(ib.index).sort_values()
    ca = np.array(ia.loc[idx].tolist(), float)
    cb = np.array(ib.loc[idx].tolist(), float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(ca / cb)
    if clusters:
        inst = np.asarray(idx.get_level_values("instance"))
        logs = np.array([logs[inst == g].mean(axis=0) for g in np.unique(inst)])
    out = np.array([mean_ci(logs[:, j]) for j in range(logs.shape[1])])
    return np.exp(out[:, 0]), np.exp(out[:, 1]), np.exp(out[:, 2])


def _curve_figure(ctx: Context, s: dict, frames: dict) -> str:
    """Figure E4.2: matched paired ratio against updates per edge, one panel per setting."""
    plt = pyplot()
    from matplotlib.ticker import StrMethodFormatter  # matplotlib only when drawing

    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8), layout="constrained")
    for ax, setting in zip(axes, ("continuous", "stepped"), strict=True):
        st = s[setting]
        tasks = st["tasks"] if setting == "continuous" else ["iris"]
        rates = [float(r) for r in st["rates"]]
        ax.axhspan(0.9, 1.1, color="0.9", lw=0)
        ax.axhline(1.0, color="0.4", lw=0.8)
        styles = ["-", "--", ":"]
        for t_i, task in enumerate(tasks):
            for p_i, p in enumerate(s["ps"]):
                p = float(p)
                r = matched_rate(setting, p, rates)
                a = frames[f"{setting}-{_key(task, 'poisson', r)}"]
                b = frames[f"{setting}-{_key(task, 'bernoulli', p)}"]
                ratio, lo, hi = paired_curve(a, b, clusters=setting == "continuous")
                grid = np.linspace(0.0, st["updates_per_edge"], len(ratio))
                colour = plt.get_cmap("viridis")(0.85 * p_i / max(1, len(s["ps"]) - 1))
                ax.plot(grid, ratio, styles[t_i % 3], color=colour,
                        label=f"{task}: rate {r:g} / {schedule_label(p)}")  # fmt: skip
                ax.fill_between(grid, lo, hi, color=colour, alpha=0.15, lw=0)
        ax.set_yscale("log")
        for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
            axis(StrMethodFormatter("{x:.3g}"))
        ax.set_xlabel("updates per edge")
        ax.set_title(SETTINGS[setting])
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("paired error ratio PoissonClocks / Bernoulli")
    return save_figure(fig, ctx, "e4_matched_ratio_curves")


# ---------------------------------------------------------------------------- report
def _verdict(s: dict) -> str:
    claims = s["verdicts"]["claims"]
    return claims.get("E4 (asynchrony)", "inconclusive")


def _ranges(rows: list[dict]) -> str:
    """The spread of the measured ratios per setting, in numbers only."""
    parts = []
    for setting, label in SETTINGS.items():
        mine = [r for r in rows if r["setting"] == setting]
        if not mine:
            continue
        m = [r["matched_ratio"] for r in mine]
        txt = f"{label}: matched ratios from {min(m):.3f} to {max(m):.3f}"
        one = [r["rate1_ratio"] for r in mine if "rate1_ratio" in r and r["rate"] != 1.0]
        if one:
            txt += f" (PoissonClocks at rate 1 instead: {min(one):.3f} to {max(one):.3f})"
        parts.append(txt)
    return "**Measured.** " + "; ".join(parts) + "."


def _examples(row: dict, key: str) -> str:
    # Full batch: every update sees the whole training set, however often it is presented.
    return "full batch" if row["setting"] == "continuous" else f"{row[key]:.3g}"


def report(s: dict) -> tuple[str, str]:
    st = s["settings"]
    cs, ss = st["continuous"], st["stepped"]
    table_rows = []
    for r in s["rows"]:
        rate1 = "n/a"
        if "rate1_ratio" in r:
            rate1 = ci_text(r["rate1_ratio"], r["rate1_low"], r["rate1_high"])
        table_rows.append(
            [
                SETTINGS[r["setting"]],
                r["task"],
                schedule_label(r["p"]),
                _examples(r, "examples_per_update"),
                f"{r['rate']:g}",
                _examples(r, "examples_per_update_poisson"),
                f"{r['error']:.3g}",
                f"{r['error_poisson']:.3g}",
                ci_text(r["matched_ratio"], r["matched_low"], r["matched_high"]),
                rate1,
                f"{r['n']} ({r['clusters']} clusters)",
            ]
        )
    table = md_table(
        [
            "setting",
            "task",
            "Bernoulli arm",
            "examples per update per edge",
            "matched PoissonClocks rate",
            "its examples per update per edge",
            "Bernoulli final error (V², geo. mean)",
            "PoissonClocks final error (V², geo. mean)",
            "matched ratio PoissonClocks / Bernoulli [95 % CI]",
            "rate-1 ratio (unmatched) [95 % CI]",
            "pairs",
        ],
        table_rows,
    )
    lrs = ", ".join(f"{t} {v:g}" for t, v in cs["lr"].items())
    n_cells = ", ".join(f"{len(c['cells'])} for {c['id']}" for c in s["verdicts"]["criteria"])
    setup = " ".join(
        [
            "**Setup.** The loop presents one batch per step (the data clock); PoissonClocks(rate",
            "r) fires r single-edge events per edge per step on that batch, re-settling the",
            "network before each, while Bernoulli(p) moves a random subset of edges from one",
            "settled state. Online, PoissonClocks(rate p) therefore sees 1/p examples per update",
            "per edge, as Bernoulli(p) does: that is the matched pair (the table shows the",
            "examples per update per edge measured in both arms). Continuous setting: idealised",
            f"rule (lr = {lrs} S/V², η = {cs['eta']:g}, full batch) on random {cs['n_nodes']}-node",
            f"networks, {cs['instances']} networks × {cs['run_seeds']} training seeds,",
            f"{cs['updates_per_edge']:g} updates per edge; in full batch every event sees the",
            "whole training set, so PoissonClocks at any rate is the same event sequence and",
            f"rate {float(cs['rates'][0]):g} matches every p. Stepped setting: the lab board",
            f"(16 edges, {ss['taps']} taps, η = {ss['eta']:g}) on Iris online, {ss['seeds']}",
            f"seeds (seed s = split s), {ss['updates_per_edge']:g} updates per edge, PoissonClocks",
            f"rate swept over {', '.join(f'{float(r):g}' for r in ss['rates'])}; final error =",
            f"mean test error over the last {100 * st['tail']:g} % of updates. Pairs share",
            "network, task and seed. Intervals of the continuous setting are cluster bootstraps",
            "over networks (seeds on one network are not independent); those of the stepped",
            "setting are Student-t on the paired logs (every seed its own split). The criteria",
            f"use Bonferroni-adjusted intervals over each one's cells ({n_cells}).",
        ]
    )
    fig_caption = (
        "**Figure E4.1** — Paired ratio of final errors, PoissonClocks at the data-rate-matched "
        "rate over Bernoulli(p) (p = 1 is synchronous), per setting (left: continuous rule, "
        f"full batch, n = {cs['instances'] * cs['run_seeds']} pairs in {cs['instances']} "
        "network clusters per point; right: stepped lab board online, "
        f"n = {ss['seeds']} seed-paired runs per point). Each pair shares network, task and "
        "training seed. Bars: the criterion's Bonferroni-adjusted intervals (cluster bootstrap "
        "on the left, Student-t on the right). Grey squares (right): the unmatched comparison "
        "PoissonClocks at rate 1 over Bernoulli(p), 95 % t intervals. Shaded: the pre-registered "
        "equivalence margin [0.9, 1.1]."
    )
    cs_pairs = cs["instances"] * cs["run_seeds"]
    caption2 = (
        "**Figure E4.2** — The matched paired ratio of Figure E4.1 along training: error of "
        "PoissonClocks (rate matched to p) over Bernoulli(p) at each number of updates per "
        "edge (continuous: training error for allostery, test error for regression, "
        f"n = {cs_pairs} pairs averaged within each of {cs['instances']} networks; stepped: "
        f"instantaneous test error, n = {ss['seeds']} seed-paired runs). Line style: task; "
        "colour: p. Bands: 95 % Student-t intervals over networks (left) or seeds (right), "
        "not adjusted for multiplicity. Shaded: the margin [0.9, 1.1]."
    )
    body = f"""{mode_note(s)}{setup}

{_ranges(s["rows"])}

{criteria_section(s["verdicts"])}
{table}

{figures_with_captions(s["figures"], [fig_caption, caption2])}

Command: `{s["command"]}` ({s["runtime_s"]:.0f} s).
"""
    return _verdict(s), body
