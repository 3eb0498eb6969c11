"""Every fast path against the plain dense path (docs/design.md §8).

- the CHOLMOD backend against dense on a gallery of networks, and its fallback when absent;
- rank-r updated factors against fresh factorisations (1e-9 relative), drift control;
- signals restricted to the updating edges against the full computation;
- ``train`` through the fast paths (desynchronous CHOLMOD updates, stepped rule, mini-batches,
  online, Poisson clocks) against ``train`` on the dense backend;
- stacked ensembles (``train_many``) against ``train`` per replica (1e-10).

Timings are never asserted here; ``circuitlearn bench`` measures them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import circuitlearn as cl
from circuitlearn import ensemble, physics
from circuitlearn.bench import per_example_step
from circuitlearn.cholmod import available as cholmod_available
from circuitlearn.measure import TaskSystem

needs_cholmod = pytest.mark.skipif(not cholmod_available(), reason="CHOLMOD extra not installed")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Dense LAPACK on a busy 2-core machine: a second OpenBLAS thread only spins."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def board() -> cl.Network:
    """A 16-edge, 10-node network (the size of the laboratory board)."""
    return cl.Network.random(10, seed=3, mean_degree=3.3)


GALLERY = {
    "lattice": lambda: cl.Network.lattice(6, 7),
    "planar": lambda: cl.Network.random(60, seed=1),
    "board": board,
    "big-lattice": lambda: cl.Network.lattice(19, 19),  # > 300 free nodes: sparse "auto"
}


def rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# ---------------------------------------------------------------------------- CHOLMOD backend
@needs_cholmod
@pytest.mark.parametrize("name", list(GALLERY))
def test_cholmod_solve_matches_dense(name):
    net = GALLERY[name]()
    rng = np.random.default_rng(0)
    k = np.exp(rng.normal(0, 1, net.n_edges))
    fixed = rng.choice(net.n_nodes, 3, replace=False)
    vals = rng.normal(size=(4, 3))
    got = cl.solve(net, k, fixed, vals, backend="cholmod")
    want = cl.solve(net, k, fixed, vals, backend="dense")
    assert rel(got, want) < 1e-10
    assert rel(cl.solve(net, k, fixed, vals[0], backend="cholmod"), want[0]) < 1e-10


@needs_cholmod
def test_cholmod_disconnected_network_fails_clearly():
    net = cl.Network.from_edges(6, [[0, 1], [1, 2], [3, 4], [4, 5]])
    with pytest.raises(cl.FloatingNodesError):
        cl.LaplacianSolver(net, [0], backend="cholmod")


def test_missing_backend_falls_back_with_one_warning(monkeypatch):
    class Missing:
        def __init__(self, upper):
            raise ImportError("No module named 'sksparse'")

    monkeypatch.setitem(physics.BACKENDS, "cholmod", Missing)
    net = cl.Network.lattice(4, 4)
    with pytest.warns(UserWarning, match="cholmod.*unavailable.*qdldl") as rec:
        s = cl.LaplacianSolver(net, [0, 15], backend="cholmod")
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    assert s.factor.name == "qdldl"
    k = np.linspace(0.5, 2, net.n_edges)
    s.set_conductances(k)
    assert rel(s.settle([1.0, 0.0]), cl.solve(net, k, [0, 15], [1.0, 0.0], "dense")) < 1e-12


def test_auto_backend_choice():
    assert physics.auto_backend(10, 1e-4) == "dense"
    assert physics.auto_backend(5000, 1.0) == "qdldl"
    assert physics.auto_backend(5000, 1e-3) == ("cholmod" if cholmod_available() else "qdldl")


# ---------------------------------------------------------------------------- rank-r updates
def _random_change(rng, k, r, spread):
    js = rng.choice(k.size, r, replace=False)
    k = k.copy()
    k[js] *= np.exp(rng.normal(0, spread, r))
    return k


@needs_cholmod
@pytest.mark.parametrize("name", ["planar", "big-lattice"])
def test_rank_updates_match_fresh_factor(name):
    net = GALLERY[name]()
    rng = np.random.default_rng(1)
    fixed = rng.choice(net.n_nodes, 4, replace=False)
    vals = rng.normal(size=(3, 4))
    s = cl.LaplacianSolver(net, fixed, backend="cholmod")
    s.refresh_every = 25
    k = np.exp(rng.normal(0, 0.5, net.n_edges))
    s.set_conductances(k)
    worst = 0.0
    for _ in range(80):
        k = _random_change(rng, k, int(rng.integers(1, 6)), 1.0)
        s.set_conductances(k)
        fresh = cl.solve(net, k, fixed, vals, backend="dense")
        worst = max(worst, rel(s.settle(vals), fresh))
    assert s.n_updates > 40  # the update path really ran
    assert s.n_refactors >= 3  # ... and was refreshed from scratch periodically
    assert worst < 1e-9


@needs_cholmod
def test_update_refresh_and_guards():
    net = GALLERY["big-lattice"]()
    fixed = [0, net.n_nodes - 1]
    s = cl.LaplacianSolver(net, fixed, backend="cholmod")
    s.refresh_every = 5
    rng = np.random.default_rng(2)
    k = np.ones(net.n_edges)
    s.set_conductances(k)
    assert (s.n_refactors, s.n_updates) == (1, 0)
    s.set_conductances(k.copy())  # nothing changed: no work at all
    assert (s.n_refactors, s.n_updates) == (1, 0)
    for _ in range(5):
        k = _random_change(rng, k, 2, 0.3)
        s.set_conductances(k)
    assert (s.n_refactors, s.n_updates) == (1, 5)
    k = _random_change(rng, k, 2, 0.3)
    s.set_conductances(k)  # sixth change in a row: refreshed from scratch
    assert (s.n_refactors, s.n_updates) == (2, 5)
    # a downdate that cancels most of a diagonal entry refactors instead
    k = k.copy()
    k[7] = 1e5
    s.set_conductances(k)
    n_ref = s.n_refactors
    k = k.copy()
    k[7] = 1e-6
    s.set_conductances(k)
    assert s.n_refactors == n_ref + 1
    # many edges changed: a refactorisation is cheaper than an update
    k = _random_change(rng, k, net.n_edges // 2, 0.3)
    s.set_conductances(k)
    assert s.n_refactors == n_ref + 2
    vals = [[1.0, 0.0]]
    assert rel(s.settle(vals), cl.solve(net, k, fixed, vals, backend="dense")) < 1e-10


@needs_cholmod
def test_cholmod_factor_rank_update_directly():
    from circuitlearn.cholmod import CholmodFactor

    net = cl.Network.random(200, seed=4)
    s = cl.LaplacianSolver(net, [0, 1, 2], backend="qdldl")
    rng = np.random.default_rng(3)
    k = rng.uniform(0.5, 2, net.n_edges)
    f = CholmodFactor(s.pattern)
    f.refactor(s.data_map @ k)
    js = rng.choice(net.n_edges, 30, replace=False)
    dk = rng.uniform(-0.4, 0.4, 30)
    assert f.prefers_update(s.edge_ends[js[:3]])
    assert f.rank_update(s.edge_ends[js], dk)
    k2 = k.copy()
    k2[js] += dk
    s.set_conductances(k2)
    rhs = rng.normal(size=(s.free.size, 5))
    want = np.linalg.solve(s.reduced_matrix().toarray(), rhs)
    assert rel(f.solve(rhs), want) < 1e-11
    assert rel(f.solve(rhs[:, 0]), want[:, 0]) < 1e-11


# ---------------------------------------------------------------------------- signals
def _task(net, m, seed=0, n_in=3, n_out=2):
    return cl.tasks.regression(net, n_in, n_out, n_train=m, n_test=3, seed=seed)


@pytest.mark.parametrize("m", [2, 9])
@pytest.mark.parametrize("examples", [False, True])
def test_subset_signals_equal_full_signals(m, examples):
    net = GALLERY["planar"]()
    task = _task(net, m)
    system = TaskSystem(net, task)
    system.settle(np.random.default_rng(0).uniform(0.5, 2, net.n_edges))
    edges = np.array([3, 17, 40, 41, 100])
    kw = dict(clamped=True, gradient=True, examples=examples)
    full = system.signals(task.x_train, task.y_train, 0.4, **kw)
    sub = system.signals(task.x_train, task.y_train, 0.4, edges=edges, **kw)
    others = np.setdiff1d(np.arange(net.n_edges), edges)
    for name in ("free_sq", "clamped_sq", "grad", "free", "clamped"):
        a, b = getattr(full, name), getattr(sub, name)
        if a is None:
            assert b is None
            continue
        assert a.shape == b.shape
        np.testing.assert_allclose(b[..., edges], a[..., edges], rtol=1e-12, atol=1e-15)
        assert not np.any(b[..., others])


def test_per_example_baseline_agrees_with_fast_step():
    from circuitlearn.bench import ETA, LR

    net = GALLERY["planar"]()
    task = _task(net, 7)
    k = np.random.default_rng(2).uniform(0.5, 2, net.n_edges)
    system = TaskSystem(net, task)
    system.settle(k)
    dk = cl.CoupledLearning(lr=LR, eta=ETA).delta(system.signals(task.x_train, task.y_train, ETA))
    assert rel(per_example_step(net, task, k, task.x_train, task.y_train), dk) < 1e-9


# ---------------------------------------------------------------------------- train
TRAIN_CASES = {
    "cl-desync": dict(rule=cl.CoupledLearning(lr=0.3), schedule=cl.Bernoulli(0.004), steps=40),
    "cl-subset": dict(rule=cl.CoupledLearning(lr=0.3), schedule=cl.RandomSubset(5), steps=30),
    "stepped-desync": dict(
        rule=cl.SteppedCoupledLearning(taps=64, r_min=0.2, r_max=5.0),
        schedule=cl.Bernoulli(0.005),
        steps=30,
    ),
    "minibatch": dict(
        rule=cl.CoupledLearning(lr=0.3), schedule=cl.Bernoulli(0.004), batch_size=4, steps=30
    ),
    "online": dict(rule=cl.CoupledLearning(lr=0.3), schedule=cl.RandomSubset(3), batch_size=1),
    "poisson": dict(rule=cl.CoupledLearning(lr=0.3), schedule=cl.PoissonClocks(0.005), steps=8),
    "gd": dict(rule=cl.GradientDescent(lr=0.3), schedule=cl.Bernoulli(0.005), steps=20),
    "sync": dict(rule=cl.CoupledLearning(lr=0.3), steps=10),
}


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_train_fast_paths_match_dense(case):
    """``train`` with the default backend (sparse: CHOLMOD updates for small change rates
    when installed) equals ``train`` on the dense backend."""
    kw = dict(steps=25, seed=3)
    kw.update(TRAIN_CASES[case])
    net = GALLERY["big-lattice"]()
    task = _task(net, 12, seed=1)
    fast = cl.train(net, task, **kw)
    dense = cl.train(net, task, backend="dense", **kw)
    np.testing.assert_allclose(fast.conductances, dense.conductances, rtol=1e-9, atol=0)
    h1 = fast.history.drop(columns="wall_time").to_numpy(float)
    h2 = dense.history.drop(columns="wall_time").to_numpy(float)
    np.testing.assert_allclose(h1, h2, rtol=1e-9, atol=1e-15)
    if fast.taps is not None:
        np.testing.assert_array_equal(fast.taps, dense.taps)
    assert not np.array_equal(fast.conductances, fast.initial_conductances)


@needs_cholmod
def test_train_uses_rank_updates_for_small_p(monkeypatch):
    seen = []
    original = TaskSystem.__init__

    def spy(self, net, task, backend="auto"):
        original(self, net, task, backend)
        seen.append(self.solver)

    monkeypatch.setattr(TaskSystem, "__init__", spy)
    net = GALLERY["big-lattice"]()
    task = _task(net, 12)
    cl.train(net, task, schedule=cl.Bernoulli(0.005), steps=20)
    assert seen[0].factor.name == "cholmod"
    assert seen[0].n_updates > 5


# ---------------------------------------------------------------------------- ensembles
def _compare(results, refs, rtol=1e-10):
    assert len(results) == len(refs)
    for got, want in zip(results, refs, strict=True):
        np.testing.assert_allclose(got.conductances, want.conductances, rtol=rtol, atol=1e-300)
        np.testing.assert_allclose(got.initial_conductances, want.initial_conductances, rtol=0)
        a = got.history.drop(columns="wall_time")
        b = want.history.drop(columns="wall_time")
        assert list(a.columns) == list(b.columns)
        assert list(a["step"]) == list(b["step"])
        np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=rtol, atol=1e-16)
        assert got.config == want.config
        if want.taps is not None:
            np.testing.assert_array_equal(got.taps, want.taps)
        if want.trajectory is not None:
            for key in want.trajectory:
                np.testing.assert_allclose(
                    got.trajectory[key], want.trajectory[key], rtol=rtol, atol=1e-300
                )


@dataclass(frozen=True)
class HalfRateRule(cl.Rule):
    """A user's rule that knows one replica only (not ``vectorised``): the loop calls it per
    replica with (E,) arrays and that replica's generator."""

    eta: float = 0.5

    def init_state(self, k0, n_edges, rng):
        return cl.RuleState(np.ones(n_edges) if k0 is None else np.array(k0, float))

    def apply(self, state, signals, mask, rng):
        assert state.k.ndim == 1 and isinstance(rng, np.random.Generator)
        dk = 0.1 * (signals.free_sq - signals.clamped_sq) * rng.uniform(0.5, 1.0, state.k.size)
        state.k[mask] = np.clip(state.k[mask] + dk[mask], 1e-6, 1e6)


ENSEMBLE_CASES = {
    "cl-sync": dict(rule=cl.CoupledLearning(lr=0.2)),
    "cl-bernoulli": dict(rule=cl.CoupledLearning(lr=0.2), schedule=cl.Bernoulli(0.3)),
    "cl-minibatch": dict(rule=cl.CoupledLearning(lr=0.2), batch_size=5),
    "cl-online-subset": dict(
        rule=cl.CoupledLearning(lr=0.2), batch_size=1, schedule=cl.RandomSubset(3)
    ),
    "gd": dict(rule=cl.GradientDescent(lr=0.2)),
    "stepped": dict(rule=cl.SteppedCoupledLearning(taps=32), schedule=cl.Bernoulli(0.5)),
    "stepped-noisy": dict(
        rule=cl.SteppedCoupledLearning(taps=32, noise=0.01, offset=1e-4, tap_spread=0.1),
        batch_size=4,
    ),
    "poisson": dict(rule=cl.CoupledLearning(lr=0.2), schedule=cl.PoissonClocks(0.4)),
    "record-state": dict(rule=cl.CoupledLearning(lr=0.2), record_state=True, record_every=7),
    "staggered": dict(rule=cl.CoupledLearning(lr=0.2), schedule=cl.Staggered(3)),
    "staggered-random": dict(
        rule=cl.SteppedCoupledLearning(taps=16), schedule=cl.Staggered(4, phase="random")
    ),
    "replacement": dict(rule=cl.CoupledLearning(lr=0.2), batch_size=3, sampling="replacement"),
    "cyclic-ticks": dict(
        rule=cl.SteppedCoupledLearning(taps=16),
        batch_size=1,
        sampling="cyclic",
        ticks_per_example=3,
        schedule=cl.Bernoulli(0.5),
    ),
    "user-rule": dict(rule=HalfRateRule(), schedule=cl.Bernoulli(0.5), batch_size=2),
}


@pytest.mark.parametrize("case", list(ENSEMBLE_CASES))
def test_ensemble_matches_train_per_replica(case):
    net = board()
    task = cl.tasks.regression(net, 2, 1, n_train=12, n_test=5, seed=1)
    kw = dict(steps=30)
    kw.update(ENSEMBLE_CASES[case])
    seeds = [0, 1, 4, 9]
    got = ensemble.train_many(net, task, seeds=seeds, **kw)
    _compare(got, [cl.train(net, task, seed=s, **kw) for s in seeds])


@pytest.mark.parametrize("encoding", ["levels", "one-hot"])
def test_ensemble_iris_tasks_and_networks_per_replica(encoding):
    nets = [n for n in (cl.Network.random(10, seed=s, mean_degree=3.3) for s in range(30))]
    nets = [n for n in nets if n.n_edges == 16][:3]
    tasks = [cl.tasks.iris(n, encoding, seed=i, node_seed=i) for i, n in enumerate(nets)]
    k0 = [None, np.linspace(0.5, 2.0, 16), None]
    kw = dict(rule=cl.CoupledLearning(lr=0.5), steps=25, batch_size=7)
    got = ensemble.train_many(nets, tasks, seeds=[5, 6, 7], k0=k0, **kw)
    refs = [
        cl.train(n, t, seed=s, k0=k, **kw)
        for n, t, s, k in zip(nets, tasks, [5, 6, 7], k0, strict=True)
    ]
    _compare(got, refs)
    assert "test_accuracy" in got[0].history


def test_ensemble_mixed_rules_group_and_keep_order():
    net = board()
    task = cl.tasks.regression(net, 2, 1, n_train=8, seed=2)
    rules = [cl.CoupledLearning(lr=0.1), cl.GradientDescent(lr=0.1), cl.CoupledLearning(lr=0.1)]
    scheds = [cl.Synchronous(), cl.Bernoulli(0.5), cl.Bernoulli(0.5)]
    got = ensemble.train_many(net, task, rule=rules, schedule=scheds, seeds=[0, 1, 2], steps=12)
    refs = [
        cl.train(net, task, rule=r, schedule=s, seed=i, steps=12)
        for i, (r, s) in enumerate(zip(rules, scheds, strict=True))
    ]
    _compare(got, refs)


def test_ensemble_large_networks_fall_back_to_train(monkeypatch):
    monkeypatch.setattr(ensemble, "STACK_MAX_FREE", 3)
    net = board()
    task = cl.tasks.regression(net, 2, 1, n_train=8, seed=2)
    got = ensemble.train_many(net, task, seeds=[0, 1], steps=10, schedule=cl.Bernoulli(0.5))
    refs = [cl.train(net, task, seed=s, steps=10, schedule=cl.Bernoulli(0.5)) for s in (0, 1)]
    _compare(got, refs, rtol=0)


def test_ensemble_is_exposed_and_validates():
    import circuitlearn.train as train_module

    assert callable(train_module) and train_module.TrainResult is cl.TrainResult
    net = board()
    task = cl.tasks.regression(net, 2, 1, n_train=8, seed=2)
    with pytest.raises(cl.ValidationError, match="entries but there are"):
        ensemble.train_many([net, net], task, seeds=[0, 1, 2], steps=2)
    with pytest.raises(cl.ValidationError, match="rule"):
        ensemble.train_many(net, task, rule="fast", steps=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(ensemble.train_many(net, task, seeds=range(3), steps=0)) == 3
