"""Property tests of the settled state (docs/design.md §2) on small random connected graphs.

Kirchhoff's current law, minimum dissipated power, backend agreement, reciprocity, batching,
superposition, the floating-component error, and the incidence and Laplacian of every network of
``circuitlearn.gallery`` (each backend on the gallery: ``tests/test_backends.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import circuitlearn as cl

try:
    from . import reference as ref
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import reference as ref

BACKENDS = ["dense", "qdldl", "splu"]
SETTINGS = settings(max_examples=40, deadline=None)


class Case:
    """A connected network, conductances, a set of fixed nodes and a batch of their values."""

    def __init__(self, net, k, fixed, values):
        self.net, self.k, self.fixed, self.values = net, k, fixed, values

    @property
    def free(self):
        return np.setdiff1d(np.arange(self.net.n_nodes), self.fixed)

    def __repr__(self):
        return (
            f"Case(n={self.net.n_nodes}, edges={np.asarray(self.net.edges).tolist()}, "
            f"k={self.k.tolist()}, fixed={self.fixed.tolist()}, values={self.values.tolist()})"
        )


@st.composite
def cases(draw, min_nodes=3, max_nodes=12, min_fixed=1, batch=3):
    n = draw(st.integers(min_nodes, max_nodes))
    # a random labelled tree (parent of node i among 0..i-1) plus random chords
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    pairs = {(p, i) for i, p in enumerate(parents, start=1)}
    chords = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    pairs |= {(min(a, b), max(a, b)) for a, b in chords if a != b}
    edges = np.array(sorted(pairs), dtype=np.int64)
    flips = np.array(draw(st.lists(st.booleans(), min_size=len(edges), max_size=len(edges))))
    edges[flips] = edges[flips][:, ::-1]
    perm = np.array(draw(st.permutations(range(n))))
    edges = perm[edges]  # relabel nodes so the tree is not ordered by index
    log_k = draw(
        st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=len(edges), max_size=len(edges))
    )
    n_fixed = draw(st.integers(min_fixed, n - 1))
    fixed = np.array(draw(st.permutations(range(n)))[:n_fixed], dtype=np.int64)
    values = np.array(
        draw(
            st.lists(
                st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=n_fixed, max_size=n_fixed),
                min_size=batch,
                max_size=batch,
            )
        )
    )
    return Case(cl.Network.from_edges(n, edges), 10.0 ** np.array(log_k), fixed, values)


def current_scale(case, v):
    """Typical size of an edge current: the tolerance unit for Kirchhoff checks."""
    return float(case.k.max() * (np.abs(v).max() + 1.0))


# ------------------------------------------------------------------------------ KCL, power
@SETTINGS
@given(cases())
def test_kirchhoff_current_law_at_free_nodes(case):
    v = cl.solve(case.net, case.k, case.fixed, case.values)
    i = cl.node_currents(case.net, case.k, v)
    assert i.shape == v.shape
    scale = current_scale(case, v)
    np.testing.assert_allclose(i[:, case.free], 0.0, atol=1e-10 * scale)
    # currents are conserved: what enters at fixed nodes leaves at fixed nodes
    np.testing.assert_allclose(i.sum(axis=1), 0.0, atol=1e-10 * scale * case.net.n_nodes)
    # and node_currents is L @ V (checked against the reference Laplacian)
    lap = ref.laplacian(case.net.n_nodes, np.asarray(case.net.edges), case.k)
    np.testing.assert_allclose(i, v @ lap, atol=1e-12 * scale * case.net.n_nodes)
    # the fixed nodes keep their voltages
    np.testing.assert_array_equal(v[:, case.fixed], case.values)


@SETTINGS
@given(cases(batch=1), st.integers(0, 2**32 - 1))
def test_settled_state_minimises_power(case, seed):
    v = cl.solve(case.net, case.k, case.fixed, case.values[0])
    p0 = float(cl.power(case.net, case.k, v))
    rng = np.random.default_rng(seed)
    free = case.free
    for scale in (1e-3, 1e-1, 1.0):
        for _ in range(5):
            d = np.zeros(case.net.n_nodes)
            d[free] = rng.normal(0.0, scale, free.size)
            p1 = float(cl.power(case.net, case.k, v + d))
            # no cross term at a stationary point: P(V + d) = P(V) + P(d)
            pd = float(cl.power(case.net, case.k, d))
            assert pd > 0.0
            assert p1 >= p0
            np.testing.assert_allclose(p1, p0 + pd, rtol=1e-9, atol=1e-12 * (p0 + pd))
    # the gradient of P with respect to the free voltages vanishes (central differences are
    # exact for a quadratic up to round-off)
    h = 1e-3
    grad = np.empty(free.size)
    for i, u in enumerate(free):
        vp, vm = v.copy(), v.copy()
        vp[u] += h
        vm[u] -= h
        grad[i] = (cl.power(case.net, case.k, vp) - cl.power(case.net, case.k, vm)) / (2 * h)
    np.testing.assert_allclose(grad, 0.0, atol=1e-9 * current_scale(case, v))


def test_power_and_drops_by_hand():
    """A three-node chain 0 -(k=2)- 1 -(k=1)- 2 with 0 at 3 V and 2 grounded."""
    net = cl.Network.from_edges(3, [[0, 1], [2, 1]])
    k = np.array([2.0, 1.0])
    v = cl.solve(net, k, [0, 2], [3.0, 0.0])
    # voltage divider: V1 = 3 * 2 / (2 + 1) = 2
    np.testing.assert_allclose(v, [3.0, 2.0, 0.0], rtol=1e-14)
    np.testing.assert_allclose(cl.edge_drops(net, v), [1.0, -2.0], rtol=1e-14)
    np.testing.assert_allclose(cl.power(net, k, v), 0.5 * (2 * 1 + 1 * 4), rtol=1e-14)
    np.testing.assert_allclose(cl.node_currents(net, k, v), [2.0, 0.0, -2.0], atol=1e-14)


# ------------------------------------------------------------------------------ backends
@SETTINGS
@given(cases())
def test_backends_agree(case):
    want = ref.dense_solve(
        case.net.n_nodes, np.asarray(case.net.edges), case.k, case.fixed, case.values
    )
    tol = 1e-9 * (np.abs(case.values).max() + 1e-300)
    for backend in BACKENDS:
        got = cl.solve(case.net, case.k, case.fixed, case.values, backend=backend)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=tol, err_msg=backend)


# ------------------------------------------------------------------------------ reciprocity
@SETTINGS
@given(cases(min_fixed=2, batch=1))
def test_reciprocity_of_the_dirichlet_to_neumann_map(case):
    """Hold fixed node b at 1 V and every other fixed node at 0 V; the current drawn at fixed
    node a is ``D[a, b]``. Reciprocity: ``D`` is symmetric. Also: rows sum to zero (a common
    shift of every fixed voltage drives no current), the diagonal is positive and the
    off-diagonal entries are non-positive (currents flow from the held node to the others)."""
    f = case.fixed.size
    v = cl.solve(case.net, case.k, case.fixed, np.eye(f))  # (F, N): row b holds b at 1 V
    d = cl.node_currents(case.net, case.k, v)[:, case.fixed].T  # d[a, b]
    scale = case.k.sum()
    np.testing.assert_allclose(d, d.T, rtol=1e-9, atol=1e-11 * scale)
    np.testing.assert_allclose(d.sum(axis=1), 0.0, atol=1e-10 * scale)
    assert np.all(np.diag(d) > 0)
    off = d[~np.eye(f, dtype=bool)]
    assert np.all(off <= 1e-11 * scale)


@SETTINGS
@given(cases(batch=1))
def test_reciprocity_of_transfer_resistance(case):
    """With every fixed node grounded, inject 1 A at free node u: the voltage at free node w is
    the transfer resistance ``Z[w, u]``, and ``Z`` is symmetric. Green's reciprocity then ties
    it to the Dirichlet response: the current drawn out of the network at fixed node a equals
    the voltage at u when a alone is held at 1 V."""
    for backend in BACKENDS:
        solver = cl.LaplacianSolver(case.net, case.fixed, backend=backend)
        solver.set_conductances(case.k)
        free = solver.free
        nu = free.size
        z = solver.solve_reduced(np.eye(nu))
        scale = 1.0 / case.k.min()
        np.testing.assert_allclose(z, z.T, rtol=1e-9, atol=1e-11 * scale, err_msg=backend)
        # voltages of every node for a unit current into each free node, fixed nodes at 0
        v = np.zeros((nu, case.net.n_nodes))
        v[:, free] = z.T
        i = cl.node_currents(case.net, case.k, v)
        np.testing.assert_allclose(
            i[:, free], np.eye(nu), atol=1e-9 * case.k.max() * scale, err_msg=backend
        )
        drawn = -i[:, case.fixed]  # (nu, F): current out of the network at each fixed node
        resp = cl.solve(case.net, case.k, case.fixed, np.eye(case.fixed.size), backend=backend)[
            :, free
        ].T  # (nu, F): voltage at u per volt on fixed node a
        np.testing.assert_allclose(drawn, resp, rtol=1e-9, atol=1e-10, err_msg=backend)


# ------------------------------------------------------------------------------ linearity
@SETTINGS
@given(cases(batch=4), st.sampled_from(BACKENDS))
def test_batched_solve_equals_loop(case, backend):
    batched = cl.solve(case.net, case.k, case.fixed, case.values, backend=backend)
    assert batched.shape == (len(case.values), case.net.n_nodes)
    for m, row in enumerate(case.values):
        single = cl.solve(case.net, case.k, case.fixed, row, backend=backend)
        assert single.shape == (case.net.n_nodes,)
        np.testing.assert_allclose(batched[m], single, rtol=1e-12, atol=1e-13)


@SETTINGS
@given(cases(batch=2), st.floats(-3, 3), st.floats(-3, 3), st.floats(-2, 2))
def test_superposition_and_invariances(case, a, b, c):
    net, k, fixed = case.net, case.k, case.fixed
    v1, v2 = case.values
    s1 = cl.solve(net, k, fixed, v1)
    s2 = cl.solve(net, k, fixed, v2)
    combo = cl.solve(net, k, fixed, a * v1 + b * v2)
    tol = 1e-10 * (abs(a) + abs(b) + 1) * (np.abs(case.values).max() + 1)
    np.testing.assert_allclose(combo, a * s1 + b * s2, atol=tol)
    # a common shift of the fixed voltages shifts every node (the graph is connected)
    np.testing.assert_allclose(cl.solve(net, k, fixed, v1 + c), s1 + c, atol=tol)
    # scaling every conductance by the same factor changes no voltage
    np.testing.assert_allclose(cl.solve(net, 7.5 * k, fixed, v1), s1, atol=tol)
    # the maximum principle: free voltages lie between the extreme fixed voltages
    assert s1.max() <= v1.max() + tol and s1.min() >= v1.min() - tol


# ------------------------------------------------------------------------------ floating nodes
@SETTINGS
@given(cases(max_nodes=8, batch=1), cases(max_nodes=8, batch=1), st.sampled_from(BACKENDS))
def test_floating_component_is_named(anchored, floating, backend):
    """Two disjoint connected pieces; only the first holds fixed nodes. The error must be a
    ValueError and name exactly the nodes of the second piece."""
    n1 = anchored.net.n_nodes
    edges = np.concatenate([np.asarray(anchored.net.edges), np.asarray(floating.net.edges) + n1])
    n = n1 + floating.net.n_nodes
    net = cl.Network.from_edges(n, edges)
    k = np.concatenate([anchored.k, floating.k])
    with pytest.raises(cl.FloatingNodesError) as info:
        cl.solve(net, k, anchored.fixed, anchored.values[0], backend=backend)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, cl.ValidationError)
    expected = list(range(n1, n))
    assert sorted(info.value.nodes) == expected
    shown = ", ".join(map(str, expected[:20]))
    assert shown in str(info.value)
    # a fixed node in the second piece makes it solvable again
    fixed = np.concatenate([anchored.fixed, [n1]])
    vals = np.concatenate([anchored.values[0], [0.25]])
    v = cl.solve(net, k, fixed, vals, backend=backend)
    np.testing.assert_allclose(v[n1:], 0.25, rtol=1e-9)


def test_isolated_node_is_floating():
    net = cl.Network.from_edges(4, [[0, 1], [1, 2]])  # node 3 has no edge
    with pytest.raises(cl.FloatingNodesError, match=r"\[3\]") as info:
        cl.solve(net, [1.0, 1.0], [0], [1.0])
    assert info.value.nodes == (3,)


# ------------------------------------------------------------------------------ gallery
def test_incidence_and_laplacian_match_reference(gallery_case):
    """The package's incidence ``B`` and Laplacian ``B^T diag(k) B`` on every gallery network
    equal the independent reference's (every backend's voltages: tests/test_backends.py)."""
    name, net, _ = gallery_case
    k = np.random.default_rng(7).uniform(0.1, 10.0, net.n_edges)
    np.testing.assert_array_equal(net.incidence.toarray(), ref.incidence(net.n_nodes, net.edges))
    np.testing.assert_allclose(
        net.laplacian(k).toarray(), ref.laplacian(net.n_nodes, net.edges, k), rtol=1e-14, atol=1e-14
    )
