"""E5: does claim 1 survive nonlinear physics?

Synchronous coupled learning against ``Bernoulli(p)`` and ``Staggered(1 / p)`` at equal updates
per edge (full batch, so also equal examples per update per edge) on three nonlinear settings
(the regimes of the criteria):

- ``xor``: the 4 x 4 periodic transistor lattice (``gallery.transistor_torus``) learning XOR
  with a differential output (``tasks.xor``); the parameters are the 32 gate voltages;
- ``square``: the same lattice on ``y = scale x**2`` (``tasks.square``);
- ``diode``: the torus's 32 resistors with 8 diodes to ground (``gallery.diode_board``) on a
  teacher regression of the same board (``tasks.regression``); the parameters are the
  conductances.

Seed ``s`` draws the initial parameters, the task (square, diode) and the schedule streams;
the arms of one seed start from the same parameters, so they are paired by seed, and every
seed is its own network (no clusters).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..analysis import geo_mean_ci, mean_ci
from ..gallery import DIODE_BOARD_ROLES, diode_board, transistor_torus
from ..rules import CoupledLearning
from ..schedules import Bernoulli, Staggered, Synchronous, steps_for
from ..tasks import regression, square, xor
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
from .report import ci_text, criteria_section, figures_with_captions, md_table, mode_note

NAME = "e5"
TITLE = "E5: desynchronous learning on nonlinear networks (transistors, diodes)"
HEADING = "Extension — nonlinear networks (E5)"
CLAIM = (
    "E5 (claim 1, nonlinear): desynchronous coupled learning does not degrade learning on "
    "transistor and diode networks."
)
SETTINGS = {
    "xor": "transistor lattice, XOR",
    "square": "transistor lattice, y = x² regression",
    "diode": "diode-resistor board, teacher regression",
}
#: The error each setting is judged on: XOR's four examples are its training and test set.
METRIC = {"xor": "train_error", "square": "test_error", "diode": "test_error"}
ARM_LABELS = {"sync": "synchronous", "bernoulli": "Bernoulli", "staggered": "Staggered"}
#: Input voltage (V) of a true XOR bit and of x = 1 in the square task.
V_HIGH = 0.45


def schedule(arm: str, p: float):
    """The schedule of one arm: ``Synchronous()``, ``Bernoulli(p)`` or ``Staggered(1 / p)``."""
    if arm == "sync":
        return Synchronous()
    if arm == "bernoulli":
        return Bernoulli(p)
    return Staggered(period=round(1.0 / p))


def arm_label(arm: str, p: float) -> str:
    if arm == "bernoulli":
        return f"Bernoulli p = {p:g}"
    if arm == "staggered":
        return f"Staggered period {round(1.0 / p)}"
    return "synchronous"


def setup(setting: str, s: dict, seed: int):
    """Network, task, rule and initial parameters of one seed of one setting.

    Returns
    -------
    net, task, rule, k0
        ``k0`` is None for the diode board (the rule's default initial conductances) and the
        gate voltages (V, shape (32,)) drawn uniformly from ``gate_init`` for the transistors.
    """
    c = s[setting]
    if setting == "diode":
        net = diode_board()
        task = regression(
            net, n_train=c["n_train"], n_test=c["n_test"], seed=seed, roles=DIODE_BOARD_ROLES
        )
        return net, task, CoupledLearning(lr=c["lr"], eta=c["eta"]), None
    net = transistor_torus()
    if setting == "xor":
        task = xor(net, v_high=V_HIGH)
    else:
        task = square(net, c["n_train"], c["n_test"], seed=seed, v_high=V_HIGH, scale=c["scale"])
    lo, hi = net.elements[0].v_gate_range
    rule = CoupledLearning(lr=c["lr"], eta=c["eta"], k_min=max(lo, 1e-3), k_max=hi)
    k0 = np.random.default_rng(seed).uniform(*c["gate_init"], net.n_edges)
    return net, task, rule, k0


def lattice_setup(s: dict) -> dict:
    """What the transistor settings ran on, read from the objects ``setup`` builds (for the
    report): element parameters, gate bounds, node roles, rails and XOR's levels."""
    net, task, rule, _ = setup("xor", s, 0)
    el = net.elements[0]
    n_in = 2  # the variable inputs; the rails follow them
    return {
        "kp": el.kp,
        "vto": el.vto,
        "g_leak": el.g_leak,
        "gate_bounds": [rule.k_min, rule.k_max],
        "input_nodes": task.input_nodes[:n_in].tolist(),
        "rail_nodes": task.input_nodes[n_in:].tolist(),
        "rails": task.x_train[0, n_in:].tolist(),
        "output_nodes": task.output_nodes.tolist(),
        "v_high": V_HIGH,
        "levels": list(task.levels),
    }


def linear_floor(task) -> float:
    """Test MSE (V^2) of the best straight line through the test set of a one-input task:
    what a network without curvature could at best reach."""
    x, y = task.x_test[:, 0], task.y_test[:, 0]
    a = np.stack([x, np.ones_like(x)], axis=1)
    coef = np.linalg.lstsq(a, y, rcond=None)[0]
    return float(np.mean((a @ coef - y) ** 2))


def xor_margin(task, readout: np.ndarray) -> float:
    """The smallest distance (V) of a readout (M, 1) from the decision threshold (the midpoint
    of the two levels), positive on the correct side, negative when an example is wrong."""
    threshold = 0.5 * sum(task.levels)
    side = np.sign(task.y_train[:, 0] - threshold)
    return float(np.min((readout[:, 0] - threshold) * side))


def condition(c: dict) -> pd.DataFrame:
    """Every seed of one (setting, arm), for ``run_conditions``.

    Returns
    -------
    DataFrame
        ``seed``, final ``error`` (V^2, the setting's metric), ``accuracy`` (XOR, else NaN),
        ``margin`` (XOR: ``xor_margin`` at the end, V), ``floor`` (square: the straight
        line's test MSE, else NaN), ``curve`` (error at
        ``records + 1`` evenly spaced updates per edge).
    """
    s, setting, arm = c["settings"], c["setting"], c["arm"]
    cs = s[setting]
    sched = schedule(arm, s["p"])
    upe = cs["updates_per_edge"]
    grid = np.linspace(0.0, upe, s["records"] + 1)
    metric = METRIC[setting]
    rows = []
    for seed in range(cs["seeds"]):
        net, task, rule, k0 = setup(setting, s, seed)
        steps = steps_for(upe, sched, net.n_edges)
        (res,) = train_replicas(
            net,
            task,
            rule,
            sched,
            seeds=[seed],
            k0=k0,
            steps=steps,
            record_every=max(1, steps // s["records"]),
        )
        h = res.history
        rows.append(
            {
                "seed": seed,
                "error": float(h[metric].iloc[-1]),
                "accuracy": float(h["train_accuracy"].iloc[-1]) if setting == "xor" else np.nan,
                "margin": xor_margin(task, res.outputs(task.x_train))
                if setting == "xor"
                else np.nan,
                "floor": linear_floor(task) if setting == "square" else np.nan,
                "curve": np.interp(grid, h["updates_per_edge"], h[metric]).tolist(),
            }
        )
    frame = pd.DataFrame(rows)
    frame["setting"], frame["arm"] = setting, arm
    return frame


def _conditions(s: dict) -> list[dict]:
    # the desynchronous arms take twice the steps: first, so two workers stay balanced
    conds = [
        {"key": f"{setting}-{arm}", "settings": s, "setting": setting, "arm": arm}
        for setting in SETTINGS
        for arm in s["arms"]
    ]
    return sorted(conds, key=lambda c: c["arm"] == "sync")


def build_cells(s: dict, frames: dict) -> tuple[dict[str, list[Cell]], list[dict]]:
    """The criteria's cells and one table row per (setting, arm).

    ``frames`` maps ``"<setting>-<arm>"`` to that condition's frame.
    """
    p = s["p"]
    noninferior, learned, rows = [], [], []
    for setting, regime in SETTINGS.items():
        sync = frames[f"{setting}-sync"]
        for arm in s["arms"]:
            f = frames[f"{setting}-{arm}"]
            row = {
                "setting": setting,
                "arm": arm,
                "n": len(f),
                "error": geo_mean_ci(f["error"])[0],
            }
            if setting == "xor":
                acc = f["accuracy"].to_numpy(float)
                row["mean_accuracy"] = float(acc.mean())
                row["solved"] = int(np.sum(acc == 1.0))
                row["median_margin"] = float(np.median(f["margin"]))
                learned.append(Cell(regime, arm_label(arm, p), (acc == 1.0).astype(float)))
            if setting == "square":
                row["to_floor"] = geo_mean_ci(f["error"] / f["floor"])[0]
                row["below_floor"] = int(np.sum(f["error"] < f["floor"]))
            if arm != "sync":
                logs, _ = paired_log_ratios(f, sync, ["seed"])
                noninferior.append(Cell(regime, f"{arm_label(arm, p)} / synchronous", logs))
                m, lo, hi = np.exp(mean_ci(logs))
                row.update({"ratio": m, "ratio_low": lo, "ratio_high": hi})
            rows.append(row)
    return {"E5-noninferior": noninferior, "E5-xor-learned": learned}, rows


def run(ctx: Context) -> dict:
    """Run E5 (resuming finished conditions) and return its summary (also written to
    ``OUT/e5/summary.json``)."""
    t0 = time.perf_counter()
    s = load_settings("e5_nonlinear", ctx.quick)
    conds = _conditions(s)
    frames = {
        c["key"]: f for c, f in zip(conds, run_conditions(ctx, NAME, conds, condition), strict=True)
    }
    cells, rows = build_cells(s, frames)
    verdicts = judge_criteria("e5_nonlinear", cells)
    figures = [_curve_figure(ctx, s, frames)]
    return ctx.write_summary(
        NAME, TITLE, s, t0, rows=rows, verdicts=verdicts, figures=figures, lattice=lattice_setup(s)
    )


def _curve_figure(ctx: Context, s: dict, frames: dict) -> str:
    """Figure E5.1: error against updates per edge, every arm, each setting."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
    for ax, (setting, regime) in zip(axes, SETTINGS.items(), strict=True):
        upe = s[setting]["updates_per_edge"]
        grid = np.linspace(0.0, upe, s["records"] + 1)
        for i, arm in enumerate(s["arms"]):
            curves = np.stack(frames[f"{setting}-{arm}"]["curve"].map(np.asarray).to_list())
            logs = np.log(np.maximum(curves, 1e-300))
            centre = np.exp(logs.mean(axis=0))
            lo, hi = np.exp(np.quantile(logs, [0.25, 0.75], axis=0))
            ax.plot(grid, centre, color=f"C{i}", label=arm_label(arm, s["p"]))
            ax.fill_between(grid, lo, hi, color=f"C{i}", alpha=0.15, lw=0)
        if setting == "square":
            floor = float(np.exp(np.log(frames["square-sync"]["floor"]).mean()))
            ax.axhline(floor, color="0.3", ls=":", lw=1, label="best straight line")
        ax.set_yscale("log")
        ax.set_xlabel("updates per edge")
        ax.set_ylabel(f"{METRIC[setting].replace('_', ' ')} (V²)")
        ax.set_title(regime)
        ax.legend()
    return save_figure(fig, ctx, "e5_curves")


def _verdict(s: dict) -> str:
    return s["verdicts"]["claims"].get("E5 (claim 1, nonlinear)", "inconclusive")


def _findings(rows: list[dict]) -> str:
    """What the table says about learning itself (not the criteria), in numbers only."""
    parts = []
    xor_rows = [r for r in rows if r["setting"] == "xor"]
    if xor_rows:
        solved = ", ".join(
            f"{r['solved']} of {r['n']} ({ARM_LABELS[r['arm']]}, median margin "
            f"{1e3 * r['median_margin']:.1f} mV)"
            for r in xor_rows
        )
        parts.append(f"XOR was solved by {solved}.")
    sq = next((r for r in rows if r["setting"] == "square" and r["arm"] == "sync"), None)
    if sq is not None:
        parts.append(
            f"On y = x², synchronous training ends at {sq['to_floor']:.2f} times the best straight "
            f"line's test error (geometric mean), below it in {sq['below_floor']} of {sq['n']} "
            "seeds."
        )
    return "**What the runs show.** " + " ".join(parts) if parts else ""


def report(s: dict) -> tuple[str, str]:
    st = s["settings"]
    x, q, d = st["xor"], st["square"], st["diode"]
    table_rows = []
    for r in s["rows"]:
        extra = ""
        if r["setting"] == "xor":
            extra = (
                f"{r['solved']} of {r['n']} solved; mean accuracy {r['mean_accuracy']:.3f}; "
                f"median margin {1e3 * r['median_margin']:.1f} mV"
            )
        elif r["setting"] == "square":
            extra = (
                f"error / straight-line floor {r['to_floor']:.3f}; "
                f"{r['below_floor']} of {r['n']} below it"
            )
        ratio = "—"
        if "ratio" in r:
            ratio = ci_text(r["ratio"], r["ratio_low"], r["ratio_high"])
        table_rows.append(
            [
                SETTINGS[r["setting"]],
                arm_label(r["arm"], st["p"]),
                f"{r['error']:.3g}",
                ratio,
                extra,
                str(r["n"]),
            ]
        )
    table = md_table(
        [
            "setting",
            "arm",
            "final error (V², geo. mean)",
            "paired ratio / sync [95 % t CI]",
            "task measure",
            "seeds",
        ],
        table_rows,
    )
    lat = s["lattice"]
    rails = " and ".join(
        f"{v:g} V at node {n}" for v, n in zip(lat["rails"], lat["rail_nodes"], strict=True)
    )
    plus, minus = lat["output_nodes"]
    setup_text = " ".join(
        [
            "**Setup.** Coupled learning (the squared-drop rule acting on each edge's own",
            "parameter: gate voltage for a transistor, conductance for a resistor), full batch,",
            f"synchronous against Bernoulli(p = {st['p']:g}) and Staggered(period",
            f"{round(1 / st['p'])}) at equal updates per edge. Transistor lattice: the 4 × 4",
            f"periodic lattice with every edge a level-1 n-MOSFET (kp {lat['kp']:g} A/V², V_TO",
            f"{lat['vto']:g} V, off-state leak {lat['g_leak']:g} S), gates from",
            f"U({x['gate_init'][0]:g}, {x['gate_init'][1]:g}) V and clipped to",
            f"[{lat['gate_bounds'][0]:g}, {lat['gate_bounds'][1]:g}] V; inputs at nodes",
            f"{' and '.join(map(str, lat['input_nodes']))} (0 or {lat['v_high']:g} V), rails",
            f"{rails}, readout V({plus}) − V({minus}).",
            f"XOR: targets {lat['levels'][0]:g} V (00, 11) and {lat['levels'][1]:g} V (01, 10),",
            f"lr {x['lr']:g}, η {x['eta']:g}, {x['updates_per_edge']:g} updates per edge,",
            f"{x['seeds']} seeds; a seed solves XOR when all four examples are on the right side",
            f"of the threshold {sum(lat['levels']) / 2:g} V, and its margin is the smallest",
            "distance of a readout from that threshold. Square:",
            f"target {q['scale']:g}·x², input {lat['v_high']:g}·x V, {q['n_train']} training and",
            f"{q['n_test']} test points, lr {q['lr']:g}, {q['updates_per_edge']:g} updates per",
            f"edge, {q['seeds']} seeds. Diode board: 32 learnable resistors and 8 diodes to",
            f"ground, {d['n_train']} training and {d['n_test']} test examples from a teacher",
            f"board, lr {d['lr']:g} S/V², {d['updates_per_edge']:g} updates per edge,",
            f"{d['seeds']} seeds. Arms of one seed share initial parameters and task; every",
            "seed is its own network, so intervals are Student-t on paired log ratios",
            "(Bonferroni-adjusted in the criteria).",
        ]
    )
    caption = (
        "**Figure E5.1** — Error against updates per edge per arm (geometric mean over seeds; "
        "band: interquartile range). Left: XOR on the transistor lattice (training error of "
        f"the four examples, n = {x['seeds']} seeds); middle: y = x² on the same lattice "
        f"(test error, n = {q['seeds']}; dotted: the best straight line's test error, what no "
        "curvature gives); right: diode-resistor board, teacher regression (test error, "
        f"n = {d['seeds']})."
    )
    body = f"""{mode_note(s)}**Verdict: {_verdict(s)}.**

{setup_text}

{_findings(s["rows"])}

{criteria_section(s["verdicts"])}
{table}

{figures_with_captions(s["figures"], [caption])}

Command: `{s["command"]}` ({s["runtime_s"]:.0f} s).
"""
    return _verdict(s), body
