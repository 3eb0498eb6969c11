"""The baselines the fast paths are measured against, and the benchmark task.

- **floor** (``floor_time``): one numeric refactorisation of ``L[U,U]`` (symbolic analysis
  reused) plus one solve with ``n_in + n_out`` right-hand sides, with the backend a step uses:
  the least work any coupled-learning step on that network can do;
- **per-example** (``per_example_step``): what a direct implementation does: rebuild the
  Laplacian, factor the free and the clamped systems from scratch and solve every example in
  both. It shares no code with the training path, so it also serves as an oracle for one
  synchronous full-batch ``CoupledLearning`` update.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ..measure import TaskSystem
from ..network import Network
from ..physics import LaplacianSolver
from ..tasks import Task, regression

#: Inputs and outputs of the benchmark regression task (plus one ground).
N_IN, N_OUT = 3, 2
#: Nudge and learning rate of the benchmark steps.
ETA, LR = 0.5, 0.05


def bench_task(net: Network, batch: int, seed: int = 0) -> Task:
    """Regression task with 3 inputs, 2 outputs, 1 ground and ``batch`` training examples:
    the node roles of ``tasks.regression``, targets from a random teacher network (computed
    by linearity from its response maps, so that large batches cost nothing to build)."""
    roles = regression(net, N_IN, N_OUT, n_train=1, n_test=0, seed=seed)
    rng = np.random.default_rng(seed + 1)
    teacher = TaskSystem(net, roles)
    teacher.settle(rng.uniform(0.5, 2.0, net.n_edges))
    x = rng.random((batch, N_IN))
    return Task(
        roles.input_nodes,
        roles.output_nodes,
        x,
        teacher.outputs(x),
        ground_nodes=roles.ground_nodes,
        name="regression",
    )


def floor_time(net: Network, task: Task, backend: str, reps: int) -> float:
    """Median seconds of one numeric refactorisation plus one solve with n_in + n_out columns
    (the free-state sources and the output currents a step solves for), on ``backend``."""
    solver = LaplacianSolver(net, task.source_nodes, backend=backend)
    rng = np.random.default_rng(1)
    k = rng.uniform(0.5, 2.0, net.n_edges)
    solver.update(k)
    n_cols = task.input_nodes.size + task.output_nodes.size
    rhs = np.asfortranarray(rng.random((solver.free.size, n_cols)))
    datas = [solver.data_map @ (k * rng.uniform(0.9, 1.1, k.size)) for _ in range(2)]
    times = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        solver.factor.refactor(datas[i % 2])
        solver.factor.solve(rhs)
        if i:  # the first one warms up
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def per_example_step(
    net: Network, task: Task, k: np.ndarray, x, y, eta: float = ETA, lr: float = LR
) -> np.ndarray:
    """One synchronous ``CoupledLearning(lr, eta)`` update ``dk`` (S, shape (E,)) computed the
    direct way: rebuild L, factor the free and the clamped systems from scratch (qdldl,
    symbolic analysis included) and solve every example of ``x`` (M, n_in), ``y`` (M, n_out)
    in both."""
    import qdldl

    lap = net.laplacian(k).tocsc()
    n = net.n_nodes

    def settle(fixed: np.ndarray, values: np.ndarray) -> np.ndarray:
        is_fixed = np.zeros(n, bool)
        is_fixed[fixed] = True
        free = np.flatnonzero(~is_fixed)
        a = lap[free][:, free].tocsc()
        c = lap[free][:, fixed].tocsc()
        solver = qdldl.Solver(sp.triu(a).tocsc(), upper=True)
        out = np.empty((len(values), n))
        for i, v in enumerate(values):  # one example at a time
            out[i, fixed] = v
            out[i, free] = solver.solve(-(c @ v))
        return out

    src = task.source_nodes
    ground = np.zeros((len(x), task.ground_nodes.size))
    vf = settle(src, np.concatenate([x, ground], axis=1))
    vout = vf[:, task.output_nodes]
    clamp = np.concatenate([src, task.output_nodes])
    vc = settle(clamp, np.concatenate([x, ground, vout + eta * (y - vout)], axis=1))
    e = net.edges
    df = vf[:, e[:, 0]] - vf[:, e[:, 1]]
    dc = vc[:, e[:, 0]] - vc[:, e[:, 1]]
    return (lr / eta) * np.mean(df**2 - dc**2, axis=0)
