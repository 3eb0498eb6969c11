"""pytest-benchmark timings of the fast paths (not part of the unit tests).

    pytest benchmarks/ --benchmark-only            # compare with --benchmark-autosave etc.

Each benchmark times one unit of work of the training loop on a fixed network; the ratios
the issue asks for (step vs floor, vs the per-example approach, desynchronous vs synchronous,
ensemble vs loop) come from ``circuitlearn bench``, which measures them in one process.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import circuitlearn as cl
from circuitlearn.bench import bench_task, graph, lab_network
from circuitlearn.cholmod import available as cholmod_available
from circuitlearn.measure import TaskSystem


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module", params=[10_000, 100_000], ids=["1e4", "1e5"])
def planar(request):
    net = graph("planar", request.param)
    return net, bench_task(net, 64)


def _step(system, task, rule, k, mask):
    system.settle(k)
    sig = system.signals(task.x_train, task.y_train, rule.eta)
    rule.apply(cl.RuleState(k), sig, mask, None)


def test_floor(benchmark, planar):
    """One numeric refactorisation plus one solve with n_in + n_out right-hand sides."""
    net, task = planar
    system = TaskSystem(net, task)
    k = np.ones(net.n_edges)
    system.settle(k)
    s = system.solver
    data = s.data_map @ k
    benchmark(lambda: (s.factor.refactor(data), s.factor.solve(system._rhs)))


def test_sync_step(benchmark, planar):
    """Settle, signals (moment form) and the rule, every edge changing."""
    net, task = planar
    system = TaskSystem(net, task)
    rule = cl.CoupledLearning(lr=0.01, eta=0.5)
    k = np.ones(net.n_edges)
    mask = np.ones(net.n_edges, bool)
    benchmark(_step, system, task, rule, k, mask)


@pytest.mark.skipif(not cholmod_available(), reason="CHOLMOD extra not installed")
def test_desync_step_p1e3(benchmark, planar):
    """Bernoulli(1e-3) step through ``train``'s default path (CHOLMOD rank-r updates)."""
    net, task = planar
    benchmark.pedantic(
        cl.train,
        args=(net, task),
        kwargs=dict(schedule=cl.Bernoulli(1e-3), steps=20, record_every=20, progress=False),
        rounds=3,
    )


@pytest.mark.parametrize("replicas", [100, 1000])
def test_ensemble(benchmark, replicas):
    """R replicas of the 16-edge board on Iris, 20 stacked steps."""
    net = lab_network()
    task = cl.tasks.iris(net, "levels")
    benchmark.pedantic(
        cl.ensemble.train_many,
        args=(net, task),
        kwargs=dict(seeds=range(replicas), steps=20),
        rounds=3,
    )
