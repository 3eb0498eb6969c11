"""Benchmarks of the nonlinear settle (``circuitlearn.nonlinear``): Newton against the linear
solve on the same graph, against ngspice's ``.op`` on the same netlist, and the factorisations
a warm-started settle needs during training.

The benchmark circuit: a random planar graph (``gallery.planar_with_edges``) whose random
spanning tree is made of resistors (log-uniform in [1e-5, 1e-3] S) and whose other edges are
diodes and n-MOSFETs in equal parts (gates uniform in [1, 4] V); 3 input nodes at voltages in
[0, 1] V and 1 ground node.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import minimum_spanning_tree

from ..elements import Diode, Resistor, Transistor
from ..gallery import planar_with_edges
from ..network import Network
from ..nonlinear import NewtonSolver
from ..physics import LaplacianSolver
from ..spice import dc_operating_point, node_name, to_spice

#: Inputs and grounds of the benchmark circuit.
N_IN, N_GROUND = 3, 1
#: The chord mixes benchmarked: diodes and transistors (non-symmetric Jacobian, SuperLU),
#: diodes only (symmetric Jacobian, the linear solver's backends).
MIXES = (("diode", "transistor"), ("diode",))


def nonlinear_circuit(
    n_edges: int, seed: int = 0, kinds: tuple[str, ...] = ("diode", "transistor")
) -> tuple[Network, np.ndarray, np.ndarray, np.ndarray]:
    """The benchmark circuit of about ``n_edges`` edges: ``(net, theta (E,), fixed nodes (4,),
    fixed values (4,))``; the chords (edges off the resistor spanning tree) cycle through
    ``kinds``."""
    base = planar_with_edges(n_edges, seed=seed)
    rng = np.random.default_rng(seed)
    e, n = base.edges, base.n_nodes
    w = sp.coo_matrix((rng.random(len(e)) + 1e-3, (e[:, 0], e[:, 1])), shape=(n, n))
    tree = minimum_spanning_tree(w).tocoo()
    tree_keys = set(
        zip(np.minimum(tree.row, tree.col), np.maximum(tree.row, tree.col), strict=True)
    )
    laws = {"resistor": Resistor(), "diode": Diode(), "transistor": Transistor()}
    elements, chord = [], 0
    for a, b in e.tolist():
        if (min(a, b), max(a, b)) in tree_keys:
            elements.append(laws["resistor"])
        else:
            elements.append(laws[kinds[chord % len(kinds)]])
            chord += 1
    net = Network(n, e, base.positions, elements)
    theta = np.where(
        [isinstance(el, Resistor) for el in elements],
        np.exp(rng.uniform(np.log(1e-5), np.log(1e-3), len(e))),
        rng.uniform(1.0, 4.0, len(e)),
    )
    fixed = rng.permutation(n)[: N_IN + N_GROUND]
    values = np.concatenate([rng.uniform(0.0, 1.0, N_IN), np.zeros(N_GROUND)])
    return net, theta, fixed, values


def _best(fn, reps: int) -> float:
    """Shortest of ``reps`` timed calls of ``fn`` (s): the least disturbed on a busy machine."""
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return float(best)


def settle_comparison(
    n_edges: int,
    seed: int = 0,
    reps: int = 3,
    ngspice: bool = True,
    kinds: tuple[str, ...] = ("diode", "transistor"),
) -> dict:
    """Times (s) of one settle of the benchmark circuit of about ``n_edges`` edges, measured
    in this process, each the best of ``reps``:

    - ``newton_cold``: ``NewtonSolver`` built, parameters set, settled from a cold start
      (what ``cl.solve`` does);
    - ``newton_warm``: one settle after every parameter moved a little (gates by up to
      10 mV, conductances by up to 1 %), warm started from the previous state: a training
      step's settle;
    - ``linear_cold``: the same graph with every edge a resistor, ``LaplacianSolver`` built
      and settled (what ``cl.solve`` does on a linear network);
    - ``linear_warm``: the linear network refactored and solved for new conductances;
    - ``ngspice``: ngspice's ``.op`` on ``to_spice``'s netlist (the netlist written
      beforehand; the subprocess, parsing and reading back included), None without ngspice;

    and ``edges``, ``iterations`` (Newton, cold), ``factorizations`` (cold), ``deviation``
    (largest |V_ours - V_ngspice| over the largest fixed voltage).
    """
    net, theta, fixed, values = nonlinear_circuit(n_edges, seed, kinds)
    linear = Network(net.n_nodes, net.edges, net.positions)
    k = np.where([isinstance(el, Resistor) for el in net.elements], theta, 1e-4)
    out: dict = {"edges": net.n_edges}

    def cold():
        s = NewtonSolver(net, fixed)
        s.set_parameters(theta)
        return s, s.settle(values)

    out["newton_cold"] = _best(cold, reps)
    solver, v = cold()
    out["iterations"], out["factorizations"] = solver.last_iterations, solver.n_factorizations
    rng = np.random.default_rng(1)
    resistor = np.array([isinstance(el, Resistor) for el in net.elements])
    lo, hi = 0.0, 5.0

    def nudged():
        step = np.where(
            resistor,
            theta * rng.uniform(-0.01, 0.01, theta.size),
            rng.uniform(-0.01, 0.01, theta.size),
        )
        return np.clip(theta + step, np.where(resistor, 1e-9, lo), np.where(resistor, np.inf, hi))

    def warm():
        solver.set_parameters(nudged())
        solver.settle(values)

    out["newton_warm"] = _best(warm, reps)

    def linear_cold():
        s = LaplacianSolver(linear, fixed)
        s.set_conductances(k)
        return s.settle(values)

    out["linear_cold"] = _best(linear_cold, reps)
    lin = LaplacianSolver(linear, fixed)
    lin.set_conductances(k)

    def linear_warm():
        lin.update(k * rng.uniform(0.99, 1.01, k.size))
        lin.settle(values)

    out["linear_warm"] = _best(linear_warm, reps)
    out["ngspice"] = out["deviation"] = None
    if ngspice and shutil.which("ngspice") is not None:
        netlist = to_spice(net, theta, fixed, values)
        out["ngspice"] = _best(lambda: dc_operating_point(netlist, timeout=600), reps)
        op = dc_operating_point(netlist, timeout=600)
        theirs = np.array([op[node_name(i)] for i in range(net.n_nodes)])
        out["deviation"] = float(np.abs(v - theirs).max() / np.abs(values).max())
    return out


def factorizations_per_settle(
    n_edges: int,
    steps: int = 30,
    batch: int = 4,
    seed: int = 0,
    kinds: tuple[str, ...] = ("diode", "transistor"),
    chord: bool = True,
) -> tuple[float, float]:
    """Average Jacobian factorisations and Newton iterations per settled state over a
    training-like sequence: ``steps`` updates of every parameter by a small random amount
    (gates by up to 10 mV, conductances by up to 1 %), each followed by the settle of
    ``batch`` examples, each warm started from its own state of the previous step (the first
    step's cold starts excluded); ``chord``: steps tried with the last factorisation first
    (``NewtonSolver``'s default)."""
    net, theta, fixed, _ = nonlinear_circuit(n_edges, seed, kinds)
    rng = np.random.default_rng(seed + 1)
    x = np.concatenate([rng.uniform(0.0, 1.0, (batch, N_IN)), np.zeros((batch, N_GROUND))], axis=1)
    resistor = np.array([isinstance(el, Resistor) for el in net.elements])
    solver = NewtonSolver(net, fixed, chord=chord)
    solver.set_parameters(theta)
    solver.settle(x)
    f0, s0 = solver.n_factorizations, solver.n_settles
    iterations = 0
    for _ in range(steps):
        step = np.where(
            resistor,
            theta * rng.uniform(-0.01, 0.01, theta.size),
            rng.uniform(-0.01, 0.01, theta.size),
        )
        theta = np.where(resistor, np.maximum(theta + step, 1e-9), np.clip(theta + step, 0, 5))
        solver.set_parameters(theta)
        for m in range(batch):
            # the batch's states, one example at a time, each from its own previous state
            solver.settle_one(x[m], v0=solver._last[m])
            iterations += solver.last_iterations
    settles = solver.n_settles - s0
    return (solver.n_factorizations - f0) / settles, iterations / settles


def section_nonlinear(sizes: tuple[int, ...], out: list[str], summary: dict) -> None:
    """The report's section on the nonlinear settle."""
    out += [
        "## Nonlinear settle: Newton vs the linear solve and vs ngspice",
        "",
        "Random planar graph; a resistor spanning tree, the other edges (chords) diodes and "
        "n-MOSFETs in equal parts, or diodes only (`bench.nonlinear.nonlinear_circuit`); "
        "3 inputs, 1 ground. Cold: "
        "solver built and settled from scratch (`cl.solve`); warm: one settle after a small "
        "change of every parameter, from the previous state (a training step). Linear: the "
        "same graph, all resistors. ngspice: `.op` on the `cl.to_spice` netlist (process "
        "start and parsing included). Best of 3.",
        "",
        "| chords | edges | Newton cold ms | iterations | Newton warm ms | linear cold ms "
        "| linear warm ms "
        "| Newton / linear (cold) | ngspice ms | ngspice / Newton (cold) | deviation "
        "| factorisations / settle (warm) | iterations / settle (warm) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kinds in MIXES:
        for size in sizes:
            _row(size, kinds, out, summary)
    out.append("")


def _row(size: int, kinds: tuple[str, ...], out: list[str], summary: dict) -> None:
    """One table row: the circuit of about ``size`` edges with chords of ``kinds``."""
    r = settle_comparison(size, kinds=kinds)
    fps, ips = factorizations_per_settle(size, kinds=kinds)
    mix = " + ".join(kinds)
    sp_ms = "—" if r["ngspice"] is None else f"{r['ngspice'] * 1e3:.1f}"
    dev = "—" if r["deviation"] is None else f"{r['deviation']:.0e}"
    ratio = None if r["ngspice"] is None else r["ngspice"] / r["newton_cold"]
    out.append(
        f"| {mix} | {r['edges']:,} | {r['newton_cold'] * 1e3:.1f} | {r['iterations']} "
        f"| {r['newton_warm'] * 1e3:.1f} | {r['linear_cold'] * 1e3:.1f} "
        f"| {r['linear_warm'] * 1e3:.2f} | {r['newton_cold'] / r['linear_cold']:.1f}x "
        f"| {sp_ms} | {'—' if ratio is None else f'{ratio:.1f}x'} | {dev} "
        f"| {fps:.2f} | {ips:.2f} |"
    )
    summary.setdefault("nonlinear", []).append((mix, r["edges"], ratio, fps))


def targets_lines(summary: dict) -> list[str]:
    """The report's target lines for the nonlinear settle."""
    rows = summary.get("nonlinear", [])
    if not rows:
        return []
    big = [(mix, e, ratio) for mix, e, ratio, _ in rows if e >= 5_000 and ratio is not None]
    parts = [
        f"{mix} {e:,} edges: {ratio:.1f}x {'(met)' if ratio >= 10 else '(not met)'}"
        for mix, e, ratio in big
    ]
    fps = max(f for *_, f in rows)
    lines = []
    if parts:
        lines.append("6. ngspice `.op` / Newton settle at 10^4 edges (>= 10x): " + "; ".join(parts))
    lines.append(
        f"7. Factorisations per warm-started settle during training (<= 3): at most {fps:.2f} "
        f"{'(met)' if fps <= 3 else '(not met)'}"
    )
    return lines
