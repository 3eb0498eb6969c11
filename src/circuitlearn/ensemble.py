"""Many replicas trained at once (docs/design.md §8): ``train_many``.

Replicas are grouped by shape (nodes, edges, roles, data sizes, rule, schedule); each group of
small networks (at most ``STACK_MAX_FREE`` free nodes) runs as one stack through the one loop on a
batched factor, larger ones run one by one. Every replica draws from its own random streams, so
replica r equals ``train(..., seed=seeds[r])`` to round-off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ._validation import TRAIN_PARAMS
from .errors import ValidationError
from .measure import same_roles
from .network import Network
from .physics import DENSE_MAX_FREE
from .rules import Rule
from .schedules import Schedule
from .tasks import Task
from .train import TrainResult, check_objects, resolve_backend, run_group, train_args

#: Largest number of free nodes ``train_many`` stacks; larger networks run one by one.
STACK_MAX_FREE = DENSE_MAX_FREE

#: Memory budget (bytes) of one stacked chunk of replicas.
CHUNK_BYTES = 256 * 2**20

__all__ = ["STACK_MAX_FREE", "train_many"]


def _per_replica(value, single) -> list | None:
    """None when ``value`` is one value for every replica, else its entries."""
    return None if single(value) else list(value)


def _k0_single(k0) -> bool:
    """True for None or one conductance vector; False for one entry per replica."""
    if k0 is None:
        return True
    if isinstance(k0, np.ndarray):
        return k0.ndim <= 1
    items = list(k0)
    return bool(items) and items[0] is not None and np.ndim(items[0]) == 0


def _shape_key(net: Network, task: Task) -> tuple:
    return (
        net.n_nodes,
        net.n_edges,
        task.n_inputs,
        task.n_outputs,
        task.ground_nodes.size,
        len(task.x_train),
        None if task.x_test is None else len(task.x_test),
        task.encoding,
        task.levels,
    )


def _bytes_per_replica(net: Network, task: Task, shared: bool) -> int:
    """Working memory of one replica in a stack."""
    nu = net.n_nodes - task.source_nodes.size
    d, e = task.n_inputs + task.n_outputs, net.n_edges
    m = len(task.x_train) + (0 if task.x_test is None else len(task.x_test))
    per = 3 * nu * nu + 6 * nu * d + net.n_nodes * d + 8 * e * d + 4 * m * d + 12 * e
    if not shared:
        per += 4 * e
    return 8 * per


def train_many(
    nets: Network | Sequence[Network],
    tasks: Task | Sequence[Task],
    rule: Rule | Sequence[Rule] | None = None,
    schedule: Schedule | Sequence[Schedule] | None = None,
    steps: int = 1000,
    batch_size: int | None = None,
    k0=None,
    seeds: int | Sequence[int] = 0,
    record_every: int | None = None,
    record_state: bool = False,
    backend: str = "auto",
    progress: bool | None = None,
    callback: Callable | None = None,
    sampling: str = "epoch",
    ticks_per_example: int = 1,
) -> list[TrainResult]:
    """Train R replicas at once; the same arguments as ``train``, each either one value shared
    by all replicas or a sequence with one entry per replica.

    Parameters
    ----------
    nets : Network or sequence of Network
    tasks : Task or sequence of Task
    rule, schedule : one, or one per replica
    steps, batch_size, record_every, record_state, progress, sampling, ticks_per_example :
        as in ``train`` (shared)
    k0 : None, array (E,), array (R, E) or sequence of arrays / None
    seeds : int or sequence of int
        Replica r runs with ``seed = seeds[r]``: the same random streams as ``train``.
    backend : str
        Recorded in each result's config (what ``train`` would use to rerun the replica).
        Replicas of one shape with at most ``STACK_MAX_FREE`` free nodes are stacked on a
        batched factor; larger ones, and networks with diode or transistor edges (settled by
        Newton's method), run one by one with this backend.
    callback : callable, optional
        As in ``train``, called per group of stacked replicas with arrays over replicas.

    Returns
    -------
    list of TrainResult
        One per replica, in order; each as ``train`` returns it (``wall_time`` counts from the
        start of the replica's group).
    """
    per = {
        "nets": _per_replica(nets, lambda v: isinstance(v, Network)),
        "tasks": _per_replica(tasks, lambda v: isinstance(v, Task)),
        "rule": _per_replica(rule, lambda v: v is None or isinstance(v, Rule)),
        "schedule": _per_replica(schedule, lambda v: v is None or isinstance(v, Schedule)),
        "seeds": _per_replica(seeds, lambda v: np.ndim(v) == 0),
        "k0": None if _k0_single(k0) else list(k0),
    }
    n = max((len(v) for v in per.values() if v is not None), default=1)
    for name, v in per.items():
        if v is not None and len(v) not in (1, n):
            raise ValidationError(f"{name} has {len(v)} entries but there are {n} replicas")
    single = {
        "nets": nets,
        "tasks": tasks,
        "rule": rule,
        "schedule": schedule,
        "seeds": seeds,
        "k0": k0,
    }

    def pick(name, r):
        v = per[name]
        return single[name] if v is None else v[r if len(v) > 1 else 0]

    reps = []
    for r in range(n):
        rep = {name: pick(name, r) for name in per}
        rep["rule"], rep["schedule"] = check_objects(
            rep["nets"], rep["tasks"], rep["rule"], rep["schedule"], "replica's "
        )
        rep["seeds"] = TRAIN_PARAMS["seed"].check(rep["seeds"])
        reps.append(rep)
    args = train_args(
        callback=callback,
        steps=steps,
        batch_size=batch_size,
        record_every=record_every,
        record_state=record_state,
        backend=backend,
        progress=progress,
        sampling=sampling,
        ticks_per_example=ticks_per_example,
    )

    groups: list[tuple[tuple, list[int]]] = []
    for r, rep in enumerate(reps):
        key = (_shape_key(rep["nets"], rep["tasks"]), rep["rule"], rep["schedule"])
        for g in groups:
            if g[0] == key:
                g[1].append(r)
                break
        else:
            groups.append((key, [r]))

    results: list[TrainResult | None] = [None] * n
    for _, members in groups:
        first = reps[members[0]]
        net0, task0 = first["nets"], first["tasks"]
        # diode and transistor networks settle by Newton, one replica at a time
        stack = net0.is_linear and net0.n_nodes - task0.source_nodes.size <= STACK_MAX_FREE
        if stack:
            shared = all(
                reps[r]["nets"] is net0 and same_roles(reps[r]["tasks"], task0) for r in members
            )
            size = max(1, CHUNK_BYTES // _bytes_per_replica(net0, task0, shared))
            chunks = [members[i : i + size] for i in range(0, len(members), size)]
        else:
            chunks = [[r] for r in members]
        for chunk in chunks:
            group = [reps[r] for r in chunk]
            if stack:
                kernel = "auto" if len(chunk) > 1 else "batched-ldl"
            else:
                kernel = resolve_backend(backend, net0, task0, first["schedule"])
            out = run_group(
                [g["nets"] for g in group],
                [g["tasks"] for g in group],
                first["rule"],
                first["schedule"],
                [g["seeds"] for g in group],
                [g["k0"] for g in group],
                {**args, "progress": args["progress"] if stack else False},
                kernel,
                backend,
            )
            for r, res in zip(chunk, out, strict=True):
                results[r] = res
    return results
