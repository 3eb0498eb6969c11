"""pytest-benchmark timings of the fast paths (not part of the unit tests).

    pytest benchmarks/ --benchmark-only            # compare with --benchmark-autosave etc.

Each benchmark times one unit of work on a fixed gallery network; the ratios (step vs floor,
vs the per-example approach, desynchronous vs synchronous, ensemble vs loop) come from
``circuitlearn bench``, which measures them in one process.
"""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_limits

import circuitlearn as cl
from circuitlearn.bench import bench_task, floor_time
from circuitlearn.cholmod import available as cholmod_available
from circuitlearn.gallery import planar_with_edges, random_board16


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module", params=[10_000, 100_000], ids=["1e4", "1e5"])
def planar(request):
    net = planar_with_edges(request.param)
    return net, bench_task(net, 64)


def test_floor(benchmark, planar):
    """One numeric refactorisation plus one solve with n_in + n_out right-hand sides."""
    net, task = planar
    benchmark.pedantic(floor_time, args=(net, task, "auto", 5), rounds=3)


def test_sync_step(benchmark, planar):
    """Five synchronous full-batch ``cl.train`` steps (settle, signals, rule)."""
    net, task = planar
    benchmark.pedantic(
        cl.train,
        args=(net, task),
        kwargs=dict(rule=cl.CoupledLearning(lr=0.01), steps=5, record_every=5, progress=False),
        rounds=3,
    )


@pytest.mark.skipif(not cholmod_available(), reason="CHOLMOD extra not installed")
def test_desync_step_p1e3(benchmark, planar):
    """Bernoulli(1e-3) steps through ``train``'s default path (CHOLMOD rank-r updates)."""
    net, task = planar
    benchmark.pedantic(
        cl.train,
        args=(net, task),
        kwargs=dict(schedule=cl.Bernoulli(1e-3), steps=20, record_every=20, progress=False),
        rounds=3,
    )


@pytest.mark.parametrize("replicas", [100, 1000])
def test_ensemble(benchmark, replicas):
    """R replicas of the 16-edge random board on Iris, 20 stacked steps."""
    net = random_board16()
    task = cl.tasks.iris(net, "levels")
    benchmark.pedantic(
        cl.ensemble.train_many,
        args=(net, task),
        kwargs=dict(seeds=range(replicas), steps=20),
        rounds=3,
    )
