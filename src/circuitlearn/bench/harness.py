"""Timing and memory measurements of training runs, in this process or a fresh one.

Every timing comes from ``circuitlearn.train`` itself (its history's ``wall_time``, setup
excluded), so the benchmarks measure the code users run.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from ..gallery import lattice_with_edges, planar_with_edges
from ..network import Network
from ..physics import auto_backend
from ..rules import CoupledLearning
from ..schedules import Schedule, Synchronous
from ..tasks import Task
from ..train import train
from .baselines import ETA, LR, bench_task


def graph(kind: str, n_edges: int, seed: int = 0) -> Network:
    """The benchmark graphs: ``"planar"`` (``gallery.planar_with_edges``) or ``"lattice"``
    (``gallery.lattice_with_edges``) of about ``n_edges`` edges."""
    if kind == "planar":
        return planar_with_edges(n_edges, seed=seed)
    if kind == "lattice":
        return lattice_with_edges(n_edges)
    raise ValueError(f"graph kind must be 'planar' or 'lattice'; got {kind!r}")


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def reset_peak() -> int:
    """Reset the process's peak resident memory where Linux allows; return current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return status("VmRSS")


def status(field: str) -> int:
    """A memory field of /proc/self/status in bytes (``VmRSS``, ``VmHWM``); elsewhere the
    process's peak from ``getrusage``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def chosen_backend(net: Network, task: Task, schedule: Schedule) -> str:
    """The backend ``backend="auto"`` resolves to for ``schedule`` (Synchronous or Bernoulli:
    a fraction ``updates_per_step`` of the edges changes between two settles)."""
    n_free = net.n_nodes - task.source_nodes.size
    return auto_backend(n_free, schedule.updates_per_step(net.n_edges))


def step_time(
    net: Network,
    task: Task,
    rule=None,
    schedule: Schedule | None = None,
    steps: int = 5,
    batch_size: int | None = None,
    backend: str = "auto",
    seed: int = 0,
    stat: str = "median",
) -> tuple[float, int]:
    """Seconds per ``train`` step, setup excluded (``stat``: the median step, robust to other
    processes on a busy machine, or the mean, which counts periodic refactorisations), and the
    call's peak memory growth (bytes)."""
    before = reset_peak()
    res = train(
        net,
        task,
        rule=rule or CoupledLearning(lr=LR, eta=ETA),
        schedule=schedule,
        steps=steps,
        batch_size=batch_size,
        record_every=1 if stat == "median" else steps,
        backend=backend,
        seed=seed,
        progress=False,
    )
    peak = status("VmHWM") - before
    w = res.history["wall_time"].to_numpy()
    if stat == "median":
        return float(np.median(np.diff(w))), peak
    return (w[-1] - w[0]) / steps, peak


def desync_deviation(
    net: Network, task: Task, schedule: Schedule, backend: str, steps: int = 60
) -> float:
    """Train ``steps`` steps under ``schedule`` on ``backend`` (e.g. CHOLMOD with rank-r
    updates) and on ``qdldl`` (a fresh numeric factorisation whenever anything changed), from
    the same conductances with the same seed; return the largest difference of the final
    conductances relative to the largest change either run made (0: the same trajectory)."""
    k0 = np.random.default_rng(2).uniform(0.5, 2.0, net.n_edges)
    kw = dict(
        rule=CoupledLearning(lr=LR, eta=ETA),
        schedule=schedule,
        steps=steps,
        k0=k0,
        record_every=steps,
        seed=3,
        progress=False,
    )
    got = train(net, task, backend=backend, **kw).conductances
    want = train(net, task, backend="qdldl", **kw).conductances
    change = max(np.max(np.abs(got - k0)), np.max(np.abs(want - k0)))
    return float(np.max(np.abs(got - want)) / change) if change > 0 else 0.0


def memory_probe(kind: str, n_edges: int, batch: int = 64, steps: int = 3) -> dict:
    """Resident memory (bytes) before anything, after building ``graph(kind, n_edges)`` and
    its batch-``batch`` task, and at the peak of training ``steps`` synchronous steps.
    Meaningful in a fresh process: see ``memory_in_subprocess``."""
    base = status("VmRSS")
    net = graph(kind, n_edges)
    task = bench_task(net, batch)
    before_train = reset_peak()
    with threadpool_limits(limits=1, user_api="blas"):
        train(net, task, schedule=Synchronous(), steps=steps, record_every=steps, progress=False)
    peak_train = status("VmHWM")
    return {
        "edges": net.n_edges,
        "base": base,
        "before_train": before_train,
        "peak": max(peak_train, before_train),
        "train_growth": peak_train - before_train,
    }


def memory_in_subprocess(kind: str, n_edges: int) -> dict:
    """``memory_probe`` of ``kind`` ("planar" or "lattice") at about ``n_edges`` edges, batch
    64, in a fresh interpreter (``python -m circuitlearn.bench KIND EDGES``)."""
    cmd = [sys.executable, "-m", "circuitlearn.bench", kind, str(n_edges)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])
