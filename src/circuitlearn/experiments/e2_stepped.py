"""E2: stepped hardware, synchronous against desynchronous, around the mechanism (claim 2).

Claim 2 says that desynchronous updates improve a stepped board *because* a synchronous
stepped network stalls or cycles while a desynchronous one explores. E2 tests the gain and,
separately, the mechanism, with the controls that could explain the gain otherwise:

- boards: ``gallery.lab_board()`` (16 edges) and ``gallery.torus_board()`` (32 edges);
- tasks on each board: allostery (one example), teacher regression (10 examples) and Iris;
- arms at equal updates per edge ``U``: **A** synchronous, one example per step;
  **B** ``Bernoulli(p)``; **C** ``Staggered(1/p)`` (fewer simultaneous moves, no randomness);
  **D** synchronous with a mini-batch of ``1/p`` examples (the data B averages per move);
  **E** synchronous with comparator dither matched to ``p`` (any noise, ``dither_noise``);
- the same comparisons at equal examples (clock ticks): B at ``U`` has seen ``U / p``
  examples, like A and E run to ``U / p`` updates per edge (one long run read at both
  budgets) and like C and D at ``U``;
- settings: a main one and, one at a time, tap count, dead band, comparator offset, fixed
  (cyclic) example order and clock ticks per example;
- mechanism: the trap test (``diagnostics.local_minimum`` on the synchronous state at
  ``U``), the escape test (B started from that state), best-visited error and saturation.

Every condition is one (board, task, setting) with all its arms; replica ``i`` uses task seed
``i`` and training seed ``i`` in every arm, so arms are compared replica by replica. The
numbers, criteria cells and figures are in ``e2_analysis``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import tail_mean
from ..diagnostics import best_visited, local_minimum, saturation, tap_msd
from ..gallery import LAB_IRIS_ROLES, TORUS_ROLES, lab_board, torus_board
from ..hardware import SteppedCoupledLearning
from ..measure import TaskSystem
from ..schedules import Bernoulli, Staggered, Synchronous
from ..tasks import allostery, iris, regression
from .common import Context, load_settings, run_conditions, train_replicas
from .e2_analysis import analyse, figures, report_body

NAME = "e2"
TITLE = "E2: stepped hardware, synchronous against desynchronous, around the mechanism"
#: Heading of this experiment's section in ``results.md``.
HEADING = "Claim 2 — desync improves stepped hardware (E2)"
#: The published claim this experiment tests (None: an extension that tests no claim).
CLAIM = (
    "Claim 2: with discrete, stepped hardware, desynchronous updates improve the final "
    "error (a synchronous stepped network stalls or cycles; a desynchronous one explores)."
)

BOARDS = {"lab": lab_board, "torus": torus_board}
#: Replicas whose tasks set the matched dither of a condition (``dither_noise``).
DITHER_TASKS = 8
#: Iris on the torus: its four inputs and ground, and the first of its two outputs ("levels"
#: encoding has one output).
TORUS_IRIS_ROLES = {**TORUS_ROLES, "output_nodes": TORUS_ROLES["output_nodes"][:1]}


def make_task(board: str, task: str, seed: int):
    """Task ``task`` on board ``board`` for replica ``seed`` (its split, teacher, roles)."""
    net = BOARDS[board]()
    if task == "allostery":
        return allostery(net, seed=seed)
    if task == "regression":
        return regression(net, n_train=10, n_test=40, seed=seed)
    if task == "iris":
        roles = LAB_IRIS_ROLES if board == "lab" else TORUS_IRIS_ROLES
        return iris(net, seed=seed, **roles)
    raise ValueError(f"unknown task {task!r}")


def expected_move(clamped, free, sigma: float, draws: np.ndarray) -> float:
    """Mean expected move, in the direction of its noise-free signal, of a comparator whose
    two drops carry Gaussian noise of s.d. ``sigma`` (V): the mean over the entries of
    ``E[sign(c~) sign(c)]``, ``c = dVc^2 - dVf^2`` and ``c~`` its noisy reading, estimated
    with the standard normal ``draws`` (2, n, K): K per entry, independent between entries,
    the same for every sigma (common random numbers, so the bisection sees a smooth curve).

    Parameters
    ----------
    clamped, free : ndarray, shape (n,)
        Clamped and free drops (V) of the entries (examples x edges) that carry a signal.
    """
    c = (clamped[:, None] + sigma * draws[0]) ** 2 - (free[:, None] + sigma * draws[1]) ** 2
    truth = np.sign(clamped**2 - free**2)[:, None]
    return float(np.mean(np.sign(c) * truth))


def dither_noise(net, tasks, rule: SteppedCoupledLearning, p: float, draws: int = 64) -> float:
    """Drop noise (V) whose comparator dither matches ``Bernoulli(p)``'s expected move.

    A Bernoulli(p) edge moves, in expectation, ``p`` taps per step in its signal's direction.
    With Gaussian noise of s.d. ``sigma`` on both measured drops, a synchronous edge moves
    every step but sometimes the wrong way: its expected move is ``E[sign(c~) sign(c)]``.
    ``sigma`` is set (by bisection in ``log sigma``) so that the mean of that expected move
    over the training examples and signal-carrying edges, at the initial state, equals ``p``
    (``expected_move``). One value per condition: the median over (at most) the first
    ``DITHER_TASKS`` replicas' tasks.
    """
    k0 = 1.0 / rule.resistance(np.full(net.n_edges, (rule.taps - 1) // 2))
    sigmas = []
    for task in tasks[:DITHER_TASKS]:
        system = TaskSystem(net, task)
        system.settle(k0)
        sig = system.signals(task.x_train, task.y_train, rule.eta, examples=True)
        c, f = np.asarray(sig.clamped), np.asarray(sig.free)  # (M, E): one replica, squeezed
        diff = np.abs(c**2 - f**2)
        live = diff > 64 * np.finfo(float).eps * max(float(np.max(c**2)), 1e-300)
        if not live.any():
            continue
        z = np.random.default_rng(0).normal(size=(2, int(live.sum()), draws))
        lo, hi = -9.0, 2.0  # log10 of sigma (V): 1 nV moves right, 100 V moves at random
        for _ in range(24):
            mid = (lo + hi) / 2
            if expected_move(c[live], f[live], 10.0**mid, z) > p:
                lo = mid
            else:
                hi = mid
        sigmas.append(10.0 ** ((lo + hi) / 2))
    return float(np.median(sigmas)) if sigmas else 0.0


def _arm(res_list, metric: str, tail: float, budget: float | None = None) -> dict:
    """Tail-mean ``metric`` and train error of each replica, over the run up to ``budget``
    updates per edge (None: the whole run)."""
    test, train, best = [], [], []
    for res in res_list:
        h = res.history
        if budget is not None:
            h = h[h["updates_per_edge"] <= budget + 1e-9]
        test.append(tail_mean(h, metric, tail))
        train.append(tail_mean(h, "train_error", tail))
        best.append(best_visited(h, "train_error", tail=tail))
    return {"err": test, "train": train, "best": best}


def stepped_condition(c: dict) -> pd.DataFrame:
    """Run every arm of one (board, task, setting) and return one row per replica.

    Parameters
    ----------
    c : dict
        ``board``, ``task``, ``setting`` (its name), ``taps``, ``deadband_rel``,
        ``offset_rel``, ``sampling``, ``ticks``, ``ps``, ``replicas``, ``updates_per_edge``,
        ``tail``, ``record_upe``, ``escape_upe``, ``escape_delta``, ``eta``, ``r_min``,
        ``r_max``; ``traj_path`` receives replica 0's tap trajectories (sync and the smallest
        p) as ``.npz``.

    Returns
    -------
    DataFrame
        One row per replica: ``err_<arm>`` (tail-mean test error, train error for allostery,
        V^2), ``train_<arm>``, ``best_<arm>`` (best-visited train error in the tail) for arms
        ``A``, ``A_ex<p>``, ``B<p>``, ``C<p>``, ``D<p>``, ``E<p>``, ``E_ex<p>``; the trap test
        (``trap_minimum``, ``trap_error``, ``trap_improving``), the escape test
        (``escaped<p>``, ``escape_upe<p>``), saturation ``sat_A``, ``sat_B<p>``, tap-space
        mean-squared displacement per edge per ``record_upe`` updates per edge in the tail
        ``msd_A``, ``msd_B<p>`` (taps^2), and the dither ``noise<p>`` (V).
    """
    net = BOARDS[c["board"]]()
    seeds = list(range(c["replicas"]))
    tasks = [make_task(c["board"], c["task"], i) for i in seeds]
    metric = "test_error" if tasks[0].x_test is not None else "train_error"
    rule = SteppedCoupledLearning(
        eta=c["eta"],
        taps=c["taps"],
        r_min=c["r_min"],
        r_max=c["r_max"],
        deadband_rel=c["deadband_rel"],
        offset_rel=c["offset_rel"],
    )
    u, tail, ps = c["updates_per_edge"], c["tail"], c["ps"]
    kw = {"sampling": c["sampling"], "ticks_per_example": c["ticks"]}
    every = max(1, round(c["record_upe"]))
    long_upe = u / min(ps)

    def run(r, schedule, steps, batch=1, rec=every, state=False, k0=None):
        return train_replicas(
            net, tasks, r, schedule, seeds, steps=int(round(steps)), batch_size=batch,
            record_every=max(1, int(round(rec))), record_state=state, k0=k0, **kw,
        )  # fmt: skip

    rows: dict[str, list] = {"seed": seeds}

    def put(name, arm):
        rows[f"err_{name}"] = arm["err"]
        rows[f"train_{name}"] = arm["train"]
        rows[f"best_{name}"] = arm["best"]

    # A: one long synchronous run, read at U (equal updates) and at U/p (equal examples)
    sync = run(rule, Synchronous(), long_upe, state=True)
    put("A", _arm(sync, metric, tail, u))
    for p in ps:
        put(f"A_ex{p:g}", _arm(sync, metric, tail, u / p))
    traj: dict[str, np.ndarray] = {}
    attract, sat_a, msd_a = [], [], []
    for res in sync:
        taps, step = res.trajectory["taps"], np.asarray(res.trajectory["step"])
        at_u = step <= round(u)
        attract.append(taps[at_u][-1].astype(np.int64))
        tail_rows = step[at_u] >= (1 - tail) * u
        sat_a.append(saturation(taps[at_u][tail_rows], c["taps"]))
        msd_a.append(tap_msd(taps[at_u][tail_rows], 1) / net.n_edges)
    rows["sat_A"] = sat_a
    rows["msd_A"] = msd_a
    # the trap test on the state the synchronous board holds at U
    trap = [local_minimum(net, t, rule, s) for t, s in zip(tasks, attract, strict=True)]
    rows["trap_minimum"] = [float(t.is_minimum) for t in trap]
    rows["trap_error"] = [t.error for t in trap]
    rows["trap_improving"] = [t.n_improving for t in trap]
    k_star = np.stack([1.0 / rule.resistance(s) for s in attract])
    for p in ps:
        period = max(1, round(1 / p))
        res_b = run(rule, Bernoulli(p), u / p, rec=every / p, state=True)
        put(f"B{p:g}", _arm(res_b, metric, tail))
        sat_b, msd_b = [], []
        for res in res_b:
            taps, step = res.trajectory["taps"], np.asarray(res.trajectory["step"])
            sat_b.append(saturation(taps[step >= (1 - tail) * u / p], c["taps"]))
            msd_b.append(tap_msd(taps[step >= (1 - tail) * u / p], 1) / net.n_edges)
        rows[f"sat_B{p:g}"] = sat_b
        rows[f"msd_B{p:g}"] = msd_b
        put(f"C{p:g}", _arm(run(rule, Staggered(period), u / p, rec=every / p), metric, tail))
        put(f"D{p:g}", _arm(run(rule, Synchronous(), u, batch=period), metric, tail))
        noise = dither_noise(net, tasks, rule, p)
        rows[f"noise{p:g}"] = [noise] * len(seeds)
        dithered = replace(rule, noise=noise)
        res_e = run(dithered, Synchronous(), u / p)
        put(f"E{p:g}", _arm(res_e, metric, tail, u))
        put(f"E_ex{p:g}", _arm(res_e, metric, tail))
        # the escape test: B from the synchronous attractor, one record per update per edge
        threshold = (1 - c["escape_delta"]) * np.asarray(rows["trap_error"])
        res_x = run(rule, Bernoulli(p), c["escape_upe"] / p, rec=1 / p, k0=k_star)
        hit, when = [], []
        for res, th in zip(res_x, threshold, strict=True):
            h = res.history
            below = h.index[h["train_error"].to_numpy() <= th]
            hit.append(float(len(below) > 0))
            when.append(float(h.loc[below[0], "updates_per_edge"]) if len(below) else np.nan)
        rows[f"escaped{p:g}"] = hit
        rows[f"escape_upe{p:g}"] = when
    if c.get("traj_path"):
        # replica 0 of A and of B at the smallest p again, recorded at every step (a
        # recording interval of several steps would alias a lock-step cycle away)
        for name, sch in (("sync", Synchronous()), ("desync", Bernoulli(min(ps)))):
            one = train_replicas(
                net, tasks[0], rule, sch, [0], steps=int(round(u / sch.updates_per_step(1))),
                batch_size=1, record_every=1, record_state=True, **kw,
            )[0]  # fmt: skip
            traj[f"{name}_taps"] = one.trajectory["taps"].astype(np.int16)
            traj[f"{name}_upe"] = np.asarray(one.trajectory["step"]) * sch.updates_per_step(1)
        path = Path(c["traj_path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **traj)
    frame = pd.DataFrame(rows)
    for key in ("board", "task", "setting", "taps"):
        frame[key] = c[key]
    frame["metric"] = metric
    return frame


def setting_of(s: dict, name: str) -> dict:
    """The factors of setting ``name``: the main setting, with one variant's change."""
    return {**s["main"], **(s["variants"][name] if name != "main" else {})}


def conditions(ctx: Context, s: dict) -> list[dict]:
    """One condition per (board, task, setting) named in ``s["boards"]``."""
    shared = (
        "eta", "r_min", "r_max", "updates_per_edge", "tail", "record_upe", "ps", "replicas",
        "escape_upe", "escape_delta",
    )  # fmt: skip
    traj_dir = ctx.dir(NAME) / "trajectories"
    conds = []
    for board, spec in s["boards"].items():
        names = spec["settings"]
        names = ["main", *s["variants"]] if names == "all" else list(names)
        for task in spec["tasks"]:
            for name in names:
                key = f"{board}_{task}_{name}".replace(" ", "-").replace("%", "pct")
                conds.append(
                    {
                        **{k: s[k] for k in shared},
                        **setting_of(s, name),
                        "key": key,
                        "board": board,
                        "task": task,
                        "setting": name,
                        "traj_path": str(traj_dir / f"{key}.npz"),
                    }
                )
    # largest first: better packing on the workers (torus and fine taps run longest)
    conds.sort(key=lambda c: -(BOARDS[c["board"]]().n_edges * (1 + c["ticks"] / 4)))
    return conds


def run(ctx: Context) -> dict:
    """Run E2 (resuming finished conditions) and return its summary (also written to
    ``OUT/e2/summary.json``)."""
    t0 = time.perf_counter()
    s = load_settings("e2_stepped", ctx.quick)
    conds = conditions(ctx, s)
    got = run_conditions(ctx, NAME, conds, stepped_condition)
    frame = pd.concat(got, ignore_index=True)
    res = analyse(frame, s)
    paths = figures(ctx, frame, s, res, ctx.dir(NAME) / "trajectories")
    return ctx.write_summary(NAME, TITLE, s, t0, **res, figures=paths)


def report(s: dict) -> tuple[str, str]:
    """``(verdict, body)`` of E2's section: the verdict is the claims' criteria verdicts."""
    claims = s["verdicts"]["claims"]
    verdict = " | ".join(f"{k}: {v}" for k, v in claims.items())
    return verdict, f"**Verdict: {verdict}.**\n\n" + report_body(s)
