"""circuitlearn against the independent dense reference (tests/reference.py), on random
networks built here with numpy: small ones (dense backend) and ones with more than 300 free
nodes (where ``backend="auto"`` picks the sparse ``qdldl`` factorisation)."""

from __future__ import annotations

import numpy as np
import pytest

import circuitlearn as cl

try:
    from . import reference as ref
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import reference as ref

RTOL = 1e-8


SMALL = dict(n_nodes=14, n_extra=14, n_in=3, n_out=2)
LARGE = dict(n_nodes=340, n_extra=330, n_in=4, n_out=3)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("size", ["small", "large"])
def test_solve_matches_reference(seed, size, make_case):
    p = SMALL if size == "small" else LARGE
    net, task, rtask, k = make_case(100 + seed, m=5, **p)
    fixed = np.concatenate([task.input_nodes, task.ground_nodes, task.output_nodes])
    rng = np.random.default_rng(seed)
    vals = rng.normal(size=(5, fixed.size))
    got = cl.solve(net, k, fixed, vals)
    want = ref.dense_solve(net.n_nodes, np.asarray(net.edges), k, fixed, vals)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * np.abs(want).max())
    got1 = cl.solve(net, k, fixed, vals[0])
    assert got1.shape == (net.n_nodes,)
    np.testing.assert_allclose(got1, want[0], rtol=RTOL, atol=RTOL * np.abs(want).max())


def test_large_case_uses_sparse_backend(make_case):
    """The large cases really exercise the sparse path (more than 300 free nodes)."""
    net, task, _, _ = make_case(100, m=5, **LARGE)
    solver = cl.LaplacianSolver(net, task.source_nodes)
    assert solver.free.size > 300
    assert solver.factor.name != "dense"  # qdldl today
    net, task, _, _ = make_case(100, m=5, **SMALL)
    assert cl.LaplacianSolver(net, task.source_nodes).factor.name == "dense"


CASES = [
    # (size, seed, examples, lr, eta, k_min, k_max, steps)
    ("small", 1, 12, 0.2, 0.5, 1e-6, 1e6, 40),  # moment form (12 > n_in + n_out)
    ("small", 2, 3, 0.2, 1.0, 1e-6, 1e6, 40),  # per-example form (3 <= n_in + n_out)
    ("small", 3, 1, 0.5, 0.1, 1e-6, 1e6, 40),  # allostery-like: one example
    ("small", 4, 10, 3.0, 0.5, 0.8, 1.6, 25),  # bounds active: clipping on both sides
    ("large", 5, 20, 0.2, 0.5, 1e-6, 1e6, 8),
    ("large", 6, 2, 0.3, 0.25, 1e-6, 1e6, 8),
]


@pytest.mark.parametrize(("size", "seed", "m", "lr", "eta", "k_min", "k_max", "steps"), CASES)
def test_train_matches_reference(size, seed, m, lr, eta, k_min, k_max, steps, make_case):
    p = SMALL if size == "small" else LARGE
    net, task, rtask, k0 = make_case(seed, m=m, **p)
    rule = cl.CoupledLearning(lr=lr, eta=eta, k_min=k_min, k_max=k_max)
    res = cl.train(
        net, task, rule=rule, schedule=cl.Synchronous(), steps=steps, batch_size=None, k0=k0
    )
    k_ref, err_ref = rtask.train_cl(k0, lr, eta, steps, k_min, k_max)
    # The run must actually learn something, or agreement would be cheap.
    assert not np.allclose(k_ref, np.clip(k0, k_min, k_max))
    assert err_ref[-1] < err_ref[0]
    if k_min > 1e-3:  # the clipping case must clip
        assert np.any(k_ref == k_min) and np.any(k_ref == k_max)
    np.testing.assert_allclose(res.conductances, k_ref, rtol=RTOL, atol=0)
    hist = res.history
    assert list(hist["step"]) == list(range(steps + 1))
    np.testing.assert_allclose(hist["train_error"].to_numpy(), err_ref, rtol=RTOL, atol=0)
    np.testing.assert_allclose(res.initial_conductances, np.clip(k0, k_min, k_max), rtol=0)


@pytest.mark.parametrize("seed", range(3))
def test_one_step_signals_match_reference(seed, make_case):
    """Free and clamped squared drops, edge by edge, against the two separate dense solves."""
    from circuitlearn.measure import TaskSystem

    net, task, rtask, k = make_case(200 + seed, m=9, **SMALL)
    eta = 0.3
    sys_ = TaskSystem(net, task)
    sys_.settle(k)
    for examples in (False, True):
        sig = sys_.signals(task.x_train, task.y_train, eta, examples=examples)
        vf = rtask.free(k)
        vc = rtask.clamped(k, eta)
        df, dc = rtask.drops(vf), rtask.drops(vc)
        np.testing.assert_allclose(sig.free_sq, np.mean(df**2, 0), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(sig.clamped_sq, np.mean(dc**2, 0), rtol=1e-10, atol=1e-14)
    # the clamped outputs really sit at V^F + eta (y - V^F)
    vout = vf[:, rtask.outputs]
    np.testing.assert_allclose(vc[:, rtask.outputs], vout + eta * (rtask.y - vout), rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_per_example_baseline_matches_reference(seed, make_case):
    """``bench.per_example_step`` (the benchmarks' baseline, used as an oracle for one update)
    is the reference's synchronous coupled-learning update."""
    from circuitlearn.bench import per_example_step

    net, task, rtask, k = make_case(300 + seed, m=7, **SMALL)
    dk = per_example_step(net, task, k, task.x_train, task.y_train, eta=0.3, lr=0.2)
    want = rtask.cl_delta(k, lr=0.2, eta=0.3)
    np.testing.assert_allclose(dk, want, rtol=RTOL, atol=RTOL * np.max(np.abs(want)))
