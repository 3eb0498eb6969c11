"""Every factorisation backend on every network of ``circuitlearn.gallery``, against the
independent dense reference (``tests/reference.py``), in the manner of PyAMG's gallery tests.

For each backend and each connected gallery network: random conductances and a batch of random
boundary voltages give free-node voltages equal to ``reference.dense_solve`` (rtol 1e-10);
then a few conductances change and the same solver (which may take a rank-r update instead of
refactoring, e.g. CHOLMOD) must still agree. The disconnected network must raise
``FloatingNodesError`` naming its floating nodes, whatever the backend.
"""

from __future__ import annotations

import numpy as np
import pytest

import circuitlearn as cl
from circuitlearn import backends, stacked
from circuitlearn.cholmod import available as cholmod_available
from circuitlearn.gallery import DISCONNECTED, GALLERY

try:
    from . import reference as ref
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import reference as ref

RTOL = 1e-10

NEEDS_CHOLMOD = pytest.mark.skipif(
    not cholmod_available(),
    reason="CHOLMOD extra not installed: apt-get install libsuitesparse-dev && "
    "pip install 'circuitlearn[cholmod]'",
)

#: Backends of ``physics.LaplacianSolver`` (one network, one conductance vector).
SOLVER_BACKENDS = [
    "dense",
    "qdldl",
    "splu",
    pytest.param("cholmod", marks=NEEDS_CHOLMOD),
]

#: Factorisations with a leading replica axis (``circuitlearn.stacked``): R conductance
#: vectors on one network at once, checked on the same gallery against the same reference.
STACKED_BACKENDS = [stacked.StackedDense, stacked.BatchedLDL]


def _close(got, want):
    """Agreement to RTOL relative to the largest voltage (the free voltages lie between the
    fixed ones, so this scale is O(1))."""
    scale = np.max(np.abs(want))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale)


@pytest.mark.parametrize("backend", SOLVER_BACKENDS)
def test_backend_matches_dense_reference_on_gallery(backend, gallery_case):
    name, net, fixed = gallery_case
    rng = np.random.default_rng(sum(map(ord, name)))
    k = rng.uniform(0.1, 10.0, net.n_edges)
    vals = rng.uniform(-1.0, 1.0, (4, fixed.size))
    if name in DISCONNECTED:
        with pytest.raises(cl.FloatingNodesError) as info:
            cl.LaplacianSolver(net, fixed, backend=backend)
        assert info.value.nodes == DISCONNECTED[name]
        return
    solver = cl.LaplacianSolver(net, fixed, backend=backend)
    assert solver.factor.name == backend  # no silent fallback
    assert isinstance(solver.factor, backends.Factor)
    solver.set_conductances(k)
    _close(solver.settle(vals), ref.dense_solve(net.n_nodes, net.edges, k, fixed, vals))
    # a few conductances change (a desynchronous step): the same solver must follow
    changed = rng.choice(net.n_edges, size=max(1, net.n_edges // 50), replace=False)
    k2 = k.copy()
    k2[changed] *= rng.uniform(0.3, 3.0, changed.size)
    solver.set_conductances(k2)
    _close(solver.settle(vals), ref.dense_solve(net.n_nodes, net.edges, k2, fixed, vals))


@pytest.mark.parametrize("factor_cls", STACKED_BACKENDS, ids=lambda c: c.name)
def test_stacked_backend_matches_dense_reference_on_gallery(factor_cls, gallery_case):
    """R = 3 replicas with their own conductances, refactored and solved at once; then one
    replica alone (``rows``), as an asynchronous event re-settles it."""
    name, net, fixed = gallery_case
    if name in DISCONNECTED or net.n_nodes - fixed.size > 300:
        pytest.skip("stacked factors are for small connected networks")
    rng = np.random.default_rng(sum(map(ord, name)))
    solver = cl.LaplacianSolver(net, fixed, backend="dense")  # the structure: pattern, maps
    ks = rng.uniform(0.1, 10.0, (3, net.n_edges))
    vals = rng.uniform(-1.0, 1.0, (3, fixed.size))
    pattern = solver.pattern
    factor = factor_cls([pattern] if factor_cls is stacked.StackedDense else pattern, 3)
    factor.refactor(np.stack([solver.data_map @ k for k in ks]))

    def rhs_of(k, v):
        coupling = np.zeros((solver.free.size, fixed.size))
        coupling[solver.boundary_free, solver.boundary_fixed] = k[solver.boundary_edge]
        return (coupling @ v)[:, None]

    got = factor.solve(np.stack([rhs_of(k, v) for k, v in zip(ks, vals, strict=True)]))
    for r in range(3):
        want = ref.dense_solve(net.n_nodes, net.edges, ks[r], fixed, vals[r])
        _close(got[r, :, 0], want[solver.free])
    ks[1] *= rng.uniform(0.3, 3.0, net.n_edges)
    rows = np.array([1])
    factor.refactor((solver.data_map @ ks[1])[None], rows)
    one = factor.solve(rhs_of(ks[1], vals[1])[None], rows)
    _close(
        one[0, :, 0], ref.dense_solve(net.n_nodes, net.edges, ks[1], fixed, vals[1])[solver.free]
    )
    again = factor.solve(np.stack([rhs_of(k, v) for k, v in zip(ks, vals, strict=True)]))
    _close(again[0], got[0])  # the other replicas kept their factors


def test_registered_backend_is_used(monkeypatch):
    """``register_backend`` makes a new class usable as ``backend=name``."""
    factory, fixed = GALLERY["random-40"]
    net, fixed = factory(), np.asarray(fixed)
    monkeypatch.setattr(backends, "BACKENDS", dict(backends.BACKENDS))

    class Counting(backends.DenseFactor):
        name = "counting"
        refactors = 0

        def refactor(self, data):
            type(self).refactors += 1
            super().refactor(data)

    backends.register_backend("counting", Counting)
    k = np.linspace(0.5, 2.0, net.n_edges)
    vals = np.linspace(-1.0, 1.0, fixed.size)
    got = cl.solve(net, k, fixed, vals, backend="counting")
    assert Counting.refactors == 1
    _close(got, ref.dense_solve(net.n_nodes, net.edges, k, fixed, vals))


@pytest.mark.parametrize(
    ("name", "cls", "match"),
    [
        ("auto", backends.DenseFactor, "other than 'auto'"),
        ("", backends.DenseFactor, "non-empty string"),
        ("half", type("Half", (), {"solve": lambda self, rhs: rhs}), "lacks refactor"),
    ],
)
def test_register_backend_refuses_bad_input(name, cls, match):
    with pytest.raises(cl.ValidationError, match=match):
        backends.register_backend(name, cls)
    assert name not in backends.BACKENDS


def test_unknown_backend_names_the_choices():
    net = cl.gallery.lab_board()
    with pytest.raises(cl.ValidationError, match=r"backend must be one of \['auto', 'dense'"):
        cl.LaplacianSolver(net, [0, 8], backend="lu")


def test_gallery_docstring_examples_hold():
    import doctest

    result = doctest.testmod(cl.gallery, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
