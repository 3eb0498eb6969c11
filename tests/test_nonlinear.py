"""Newton's settle of networks with diodes and transistors (``circuitlearn.nonlinear``).

The settled state is checked against Kirchhoff's current law written independently here,
against SciPy's root finder on tiny networks and against ngspice's DC operating point (skipped
where ngspice is missing); the Jacobian against finite differences; an all-resistor network
against the linear solve; warm starts against cold ones; bad input and non-convergence against
their messages.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st

import circuitlearn as cl
from circuitlearn.elements import Diode, Resistor, Transistor
from circuitlearn.nonlinear import NewtonSolver
from circuitlearn.spice import SPICE_V_T, dc_operating_point, node_name, to_spice

needs_ngspice = pytest.mark.skipif(
    shutil.which("ngspice") is None, reason="ngspice not installed: apt-get install ngspice"
)

#: Agreement asked of cl.solve and ngspice, relative to the largest imposed voltage.
RTOL = 1e-6

KINDS = {
    "R": Resistor(),
    "D": Diode(),
    "D2": Diode(i_s=1e-10, n=1.8),
    "T": Transistor(),
    "T2": Transistor(kp=5e-5, vto=0.4, w_over_l=3.0),
    "T3": Transistor(g_leak=1e-6),
}


@st.composite
def mixed_cases(draw, max_nodes=9, kinds=("R", "D", "D2", "T", "T2", "T3")):
    """A connected network whose spanning tree is resistors (so that every node conducts
    whatever the gates and the diodes' bias: no voltage is set by leakage currents alone),
    chords of any kind, parameters and 1-3 fixed voltages in [-1, 1] V."""
    n = draw(st.integers(3, max_nodes))
    tree = [(draw(st.integers(0, i - 1)), i) for i in range(1, n)]
    chords = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=1, max_size=2 * n
        )
    )
    pairs = dict.fromkeys(tree)
    for a, b in chords:
        if a != b and (a, b) not in pairs and (b, a) not in pairs:
            pairs[(a, b)] = None
    edges = list(pairs)
    names = ["R"] * len(tree)
    names += [draw(st.sampled_from(kinds)) for _ in edges[len(tree) :]]
    net = cl.Network.from_edges(n, edges, elements=[KINDS[k] for k in names])
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    theta = np.where(
        [k == "R" for k in names],
        np.exp(rng.uniform(np.log(1e-5), np.log(1e-3), len(edges))),
        rng.uniform(0.0, 5.0, len(edges)),
    )
    n_fixed = draw(st.integers(1, min(3, n - 1)))
    fixed = rng.permutation(n)[:n_fixed]
    return net, theta, fixed, rng.uniform(-1.0, 1.0, n_fixed)


def kcl(net, theta, v):
    """Net current (A) leaving each node, from the element laws evaluated edge by edge, and
    each node's gross current: the sum over its edges of ``|i|`` and of its small-signal
    conductances times the largest voltage (the round-off of the net current is ~1e-16 of
    it, as currents that cancel are subtracted)."""
    out, gross = np.zeros(net.n_nodes), np.zeros(net.n_nodes)
    vmax = max(np.abs(v).max(), np.abs(theta).max())
    for j, (a, b) in enumerate(net.edges):
        args = np.array([v[a]]), np.array([v[b]]), np.array([theta[j]])
        i = float(net.element(j).current(*args)[0])
        ga, gb = (float(g[0]) for g in net.element(j).derivatives(*args))
        out[a] += i
        out[b] -= i
        for node in (a, b):
            gross[node] += abs(i) + (abs(ga) + abs(gb)) * vmax
    return out, gross


def free_of(net, fixed):
    return np.setdiff1d(np.arange(net.n_nodes), fixed)


# ---------------------------------------------------------------------------- physics
@settings(max_examples=40, deadline=None)
@given(mixed_cases())
def test_the_settled_state_obeys_kirchhoffs_current_law(case):
    net, theta, fixed, values = case
    v = cl.solve(net, theta, fixed, values)
    np.testing.assert_array_equal(v[fixed], values)
    r, gross = kcl(net, theta, v)
    free = free_of(net, fixed)
    assert np.all(np.abs(r[free]) <= 1e-10 * gross[free])


@settings(max_examples=25, deadline=None)
@given(mixed_cases(max_nodes=5))
def test_newton_agrees_with_scipys_root_finder_on_tiny_networks(case):
    net, theta, fixed, values = case
    free = free_of(net, fixed)
    v = np.zeros(net.n_nodes)
    v[fixed] = values

    def residual(x):
        w = v.copy()
        w[free] = x
        return kcl(net, theta, w)[0][free] * 1e4  # to order-one numbers for the solver

    ours = cl.solve(net, theta, fixed, values)
    sol = scipy.optimize.root(residual, ours[free] + 0.01, method="hybr", tol=1e-14)
    theirs = v.copy()
    theirs[free] = sol.x
    r_theirs, gross = kcl(net, theta, theirs)
    if np.all(np.abs(r_theirs[free]) <= 1e-8 * gross[free]):  # the root finder settled too
        np.testing.assert_allclose(ours[free], sol.x, atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(mixed_cases(max_nodes=6))
def test_the_jacobian_matches_finite_differences(case):
    net, theta, fixed, values = case
    solver = NewtonSolver(net, fixed)
    solver.set_parameters(theta)
    rng = np.random.default_rng(0)
    v = rng.uniform(-1, 1, net.n_nodes)
    jac = solver.jacobian(v).toarray()
    free, h = solver.free, 1e-7
    fd = np.empty_like(jac)
    for c, node in enumerate(free):
        up, down = v.copy(), v.copy()
        up[node] += h
        down[node] -= h
        fd[:, c] = (solver.residual(up) - solver.residual(down)) / (2 * h)
    np.testing.assert_allclose(jac, fd, rtol=1e-5, atol=1e-6 * np.abs(jac).max() + 1e-18)


@settings(max_examples=30, deadline=None)
@given(mixed_cases(), st.integers(0, 2), st.floats(0.01, 0.5))
def test_raising_a_fixed_voltage_raises_no_free_voltage_less(case, which, rise):
    # every element's current grows with its first node's voltage and falls with its second's
    # (di/dv_a >= 0 >= di/dv_b, transistor gates held against ground): the Jacobian is an
    # M-matrix and each settled voltage is a non-decreasing function of each fixed voltage.
    # So no such network computes XOR of two inputs given as two source voltages.
    net, theta, fixed, values = case
    up = values.copy()
    up[which % values.size] += rise
    low, high = cl.solve(net, theta, fixed, values), cl.solve(net, theta, fixed, up)
    assert np.all(high >= low - 1e-9)


def test_resistors_and_diodes_give_a_symmetric_jacobian_transistors_do_not():
    edges = [[0, 1], [1, 2], [1, 3], [3, 2]]
    sym = NewtonSolver(cl.Network.from_edges(4, edges, elements=[Resistor(), Diode()] * 2), [0, 2])
    sym.set_parameters([1e-3, 0, 1e-3, 0])
    j = sym.jacobian(np.array([1.0, 0.3, 0.0, 0.2])).toarray()
    assert sym.symmetric and np.array_equal(j, j.T)
    mos = NewtonSolver(cl.Network.from_edges(4, edges, elements=Transistor()), [0, 2])
    mos.set_parameters([3.0] * 4)
    j = mos.jacobian(np.array([1.0, 0.3, 0.0, 0.2])).toarray()
    assert not mos.symmetric and not np.allclose(j, j.T)


def test_an_all_resistor_network_takes_the_linear_path_and_newton_agrees():
    net = cl.Network.random(60, seed=3)
    k = np.random.default_rng(1).uniform(0.5, 2.0, net.n_edges)
    fixed, values = [0, 7, 30], [1.0, -0.5, 0.0]
    linear = cl.LaplacianSolver(net, fixed)
    linear.set_conductances(k)
    np.testing.assert_array_equal(cl.solve(net, k, fixed, values), linear.settle(values))
    newton = NewtonSolver(net, fixed)
    newton.set_parameters(k)
    v = newton.settle(values, v0=np.zeros(net.n_nodes))  # from a cold guess, not the answer
    np.testing.assert_allclose(v, linear.settle(values), rtol=0, atol=1e-12)


def test_a_warm_start_settles_in_fewer_iterations():
    net = cl.Network.lattice(6, 6)
    rng = np.random.default_rng(0)
    elements = [Transistor() if j % 2 else Resistor() for j in range(net.n_edges)]
    net = cl.Network.from_edges(net.n_nodes, net.edges, elements=elements)
    theta = np.where(np.arange(net.n_edges) % 2, rng.uniform(2, 4, net.n_edges), 1e-4)
    fixed, values = [0, 35, 5], [1.0, 0.0, 0.5]
    solver = NewtonSolver(net, fixed)
    solver.set_parameters(theta)
    solver.settle(values)
    nudged = theta + np.where(np.arange(net.n_edges) % 2, 0.01, 0.0)
    solver.set_parameters(nudged)
    before = solver.n_factorizations
    warm = solver.settle(values)
    warm_iterations, warm_factors = solver.last_iterations, solver.n_factorizations - before
    cold = NewtonSolver(net, fixed)
    cold.set_parameters(nudged)
    np.testing.assert_allclose(cold.settle(values), warm, atol=1e-12)
    assert warm_iterations < cold.last_iterations
    assert warm_factors < cold.n_factorizations


def test_a_cold_start_far_up_a_diode_exponential_settles_by_source_stepping():
    # the linear cold start leaves diodes forward-biased by volts (currents of 1e39 A), from
    # where Newton creeps down one v_t per step; ramping the sources up from 0 settles it
    kinds = "R R R R R T T D D D D T".split()
    net = cl.Network.from_edges(
        6,
        [
            [0, 1],
            [0, 2],
            [1, 3],
            [0, 4],
            [2, 5],
            [0, 5],
            [3, 5],
            [4, 2],
            [4, 1],
            [1, 5],
            [3, 0],
            [2, 3],
        ],
        elements=[{"R": Resistor(), "T": Transistor(), "D": Diode()}[k] for k in kinds],
    )
    theta = [
        2.17e-05,
        1.68e-04,
        4.62e-05,
        1.10e-05,
        2.44e-04,
        1.99,
        2.81,
        0.13,
        3.91,
        0.79,
        3.66,
        4.47,
    ]
    values = np.array([-4.18, 2.70])
    solver = NewtonSolver(net, [1, 0])
    solver.set_parameters(theta)
    v = solver.settle(values)
    r, gross = kcl(net, theta, v)
    free = free_of(net, [1, 0])
    assert np.all(np.abs(r[free]) <= 1e-10 * gross[free])
    assert solver.last_iterations > solver.max_iter  # the direct attempt failed first


def test_a_diode_network_settles_where_a_diode_only_leaks_backwards():
    # node 1 hangs on two diodes whose cathodes face it: it sits between their anodes'
    # voltages, where the two currents cancel (Shockley diodes always leak i_s backwards)
    net = cl.Network.from_edges(3, [[0, 1], [2, 1]], elements=Diode())
    v = cl.solve(net, [0, 0], [0, 2], [0.2, 0.5])
    vt = Diode().n_vt
    expected = vt * np.log((np.exp(0.2 / vt) + np.exp(0.5 / vt)) / 2)
    assert v[1] == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------- bad input
NET = cl.Network.from_edges(3, [[0, 1], [1, 2]], elements=[Resistor(), Transistor()])


def test_a_gate_outside_its_range_is_refused_naming_the_edge():
    with pytest.raises(cl.ValidationError, match=r"k\[1\] = 5\.5 is the gate voltage.*\[0, 5\]"):
        cl.solve(NET, [1e-4, 5.5], [0, 2], [1.0, 0.0])


def test_nodes_behind_cut_off_transistors_are_refused_naming_them():
    # gate 0.5 V < vto + node voltages: the transistor never conducts, node 2 floats
    net = cl.Network.from_edges(3, [[0, 1], [1, 2]], elements=[Resistor(), Transistor()])
    with pytest.raises(cl.ValidationError, match=r"free nodes \[2\].*edges \[1\].*cut off"):
        cl.solve(net, [1e-4, 0.5], [0, 1], [1.0, 0.0])


def test_non_convergence_names_the_iteration_the_residual_and_the_node():
    net = cl.Network.from_edges(3, [[0, 1], [1, 2]], elements=[Resistor(), Diode()])
    solver = NewtonSolver(net, [0, 2], max_iter=2)
    solver.set_parameters([1e-3, 0.0])
    with pytest.raises(cl.errors.ConvergenceError, match=r"max_iter=2.*at node 1 is .* A") as err:
        solver.settle([5.0, 0.0])
    assert err.value.iterations == 2 and err.value.node == 1 and err.value.residual > 0
    assert isinstance(err.value, cl.ValidationError)


def test_a_node_hanging_on_reverse_biased_diodes_is_named_when_newton_fails():
    # node 1 can only leak: into it from node 2 (0 V) and out of it to node 0 (1 V) through
    # diodes that are both reverse-biased between those voltages; node 3 is an ordinary node
    net = cl.Network.from_edges(
        4,
        [[1, 0], [2, 1], [0, 3], [3, 2]],
        elements=[Diode(i_s=1e-9), Diode(i_s=1e-12), Resistor(), Resistor()],
    )
    theta = [0.0, 0.0, 1e-3, 1e-3]
    v = cl.solve(net, theta, [0, 2], [1.0, 0.0])  # Shockley's answer, set by leakage
    assert 0.9 < v[1] < 1.0
    solver = NewtonSolver(net, [0, 2], max_iter=1)
    solver.set_parameters(theta)
    with pytest.raises(cl.ValidationError, match=r"free nodes \[1\].*edges \[0, 1\].*floating"):
        solver.settle([1.0, 0.0])


def test_the_linear_solver_refuses_a_nonlinear_network():
    with pytest.raises(cl.ValidationError, match=r"net has transistor edges: LaplacianSolver"):
        cl.LaplacianSolver(NET, [0, 2])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rtol": 0}, r"rtol must be a number in \(0, 1\)"),
        ({"atol": -1}, r"atol must be"),
        ({"max_iter": 0}, r"max_iter must be an integer in \[1"),
        ({"max_step": 0}, r"max_step must be"),
        ({"g_floor": 1}, r"g_floor must be"),
    ],
)
def test_bad_solver_options_are_refused(kwargs, message):
    with pytest.raises(cl.ValidationError, match=message):
        NewtonSolver(NET, [0, 2], **kwargs)


def test_a_warm_start_of_the_wrong_shape_is_refused():
    solver = NewtonSolver(NET, [0, 2])
    solver.set_parameters([1e-4, 3.0])
    with pytest.raises(cl.ValidationError, match=r"v0 must have shape \(3,\) or \(1, 3\)"):
        solver.settle([1.0, 0.0], v0=np.zeros(4))


def test_a_structurally_floating_component_is_refused_as_for_resistors():
    net = cl.Network.from_edges(4, [[0, 1], [2, 3]], elements=Diode())
    with pytest.raises(cl.FloatingNodesError, match=r"free nodes \[2, 3\]"):
        cl.solve(net, [0, 0], [0, 1], [1.0, 0.0])


# ---------------------------------------------------------------------------- SPICE
def spice_deviation(net, theta, fixed, values) -> float:
    ours = cl.solve(net, theta, fixed, values)
    op = dc_operating_point(to_spice(net, theta, fixed, values))
    theirs = np.array([op[node_name(i)] for i in range(net.n_nodes)])
    return float(np.abs(ours - theirs).max()) / max(float(np.abs(values).max()), 1e-12)


@needs_ngspice
@settings(max_examples=25, deadline=None)
@given(mixed_cases())
def test_solve_agrees_with_ngspice_on_random_mixed_networks(case):
    assert spice_deviation(*case) <= RTOL


@needs_ngspice
@pytest.mark.parametrize("kinds", [("R", "D", "D2"), ("R", "T", "T2"), ("D", "T")])
def test_solve_agrees_with_ngspice_on_larger_networks(kinds):
    for seed in range(3):
        base = cl.Network.random(40, seed=seed)
        rng = np.random.default_rng(seed)
        # a resistor spanning backbone (the first 39 edges of a tree would not be one), then
        # elements of the given kinds on the other edges
        import scipy.sparse as sp
        from scipy.sparse.csgraph import minimum_spanning_tree

        e = base.edges
        g = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(40, 40))
        tree = minimum_spanning_tree(g).tocoo()
        in_tree = {(min(a, b), max(a, b)) for a, b in zip(tree.row, tree.col, strict=True)}
        names = ["R" if (min(a, b), max(a, b)) in in_tree else str(rng.choice(kinds)) for a, b in e]
        net = cl.Network.from_edges(40, e, elements=[KINDS[k] for k in names])
        theta = np.where(
            [k == "R" for k in names],
            np.exp(rng.uniform(np.log(1e-5), np.log(1e-3), len(e))),
            rng.uniform(0.0, 5.0, len(e)),
        )
        fixed = rng.permutation(40)[:4]
        assert spice_deviation(net, theta, fixed, rng.uniform(-1, 1, 4)) <= RTOL


def test_the_netlist_writes_models_gates_and_the_thermal_voltage():
    net = cl.Network.from_edges(
        4,
        [[0, 1], [1, 2], [1, 3], [3, 2]],
        elements=[Resistor(), Diode(i_s=2e-12, n=1.5, v_t=0.03), Transistor(), Resistor()],
    )
    text = to_spice(net, [1e-3, 0.0, 2.5, 2e-3], [0, 2], [1.0, 0.0])
    lines = text.splitlines()
    assert "R0 n0 n1 1000.0" in lines and "R3 n3 n2 500.0" in lines
    assert "D1 n1 n2 D1" in lines and "VG2 g2 0 DC 2.5" in lines
    assert "M2 n1 g2 n3 body M2 L=1e-05 W=1e-05" in lines
    model = re.search(r"^\.model D1 D \(IS=(\S+) N=(\S+)\)$", text, re.MULTILINE)
    assert float(model[1]) == 2e-12
    assert float(model[2]) * SPICE_V_T == pytest.approx(1.5 * 0.03, rel=1e-15)
    assert re.search(
        r"^\.model M2 NMOS \(LEVEL=1 KP=2e-05 VTO=0\.7 LAMBDA=0 GAMMA=0", text, re.MULTILINE
    )
    assert "VBODY body 0 DC -1.0" in lines  # below every node: junctions reverse-biased
    assert ".options TEMP=27 TNOM=27 GMIN=1e-30 ITL1=1000" in lines


def test_a_leaky_transistor_is_written_with_its_leak_resistor():
    net = cl.Network.from_edges(3, [[0, 1], [1, 2]], elements=[Resistor(), Transistor(g_leak=1e-6)])
    lines = to_spice(net, [1e-4, 0.5], [0, 2], [1.0, 0.0]).splitlines()
    assert "RL1 n1 n2 1000000.0" in lines
    # the gate is below threshold: only the leak carries the current, and node 1 is defined
    v = cl.solve(net, [1e-4, 0.5], [0, 2], [1.0, 0.0])
    assert v[1] == pytest.approx(1e-4 / (1e-4 + 1e-6), rel=1e-12)


def test_the_netlist_refuses_a_gate_outside_its_range():
    with pytest.raises(cl.ValidationError, match=r"k\[1\] = -1\.0 is the gate voltage"):
        to_spice(NET, [1e-4, -1.0], [0, 2], [1.0, 0.0])


# ---------------------------------------------------------------------------- benchmark
def test_the_benchmark_circuit_settles_warm_in_few_factorisations():
    from circuitlearn.bench.nonlinear import factorizations_per_settle, nonlinear_circuit

    net, theta, fixed, values = nonlinear_circuit(400, seed=2)
    kinds = {el.kind for el in net.elements}
    assert kinds == {"resistor", "diode", "transistor"}
    v = cl.solve(net, theta, fixed, values)
    r, gross = kcl(net, theta, v)
    free = free_of(net, fixed)
    assert np.all(np.abs(r[free]) <= 1e-10 * gross[free])
    full, iterations = factorizations_per_settle(400, steps=5, batch=2, chord=False)
    assert full == iterations  # one factorisation per Newton iteration
    chord, _ = factorizations_per_settle(400, steps=5, batch=2)
    assert chord < full and chord <= 3  # the goal for warm starts


@needs_ngspice
def test_the_benchmark_circuit_agrees_with_ngspice():
    from circuitlearn.bench.nonlinear import settle_comparison

    for kinds in (("diode", "transistor"), ("diode",)):
        result = settle_comparison(300, reps=1, kinds=kinds)
        assert result["deviation"] <= RTOL
