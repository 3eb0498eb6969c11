"""Training entry points: ``train`` (one network) and ``train_many`` (R replicas at once).

Both check their arguments against one table (``_validation.TRAIN_PARAMS``), build the response
kernel (``measure.TaskSystem``) and run the one loop (``loop.run``): ``train`` with one replica on
a single-system factor, ``train_many`` with the replicas of each shape stacked on a batched
factor, so that replica r equals ``train(..., seed=seeds[r])`` to round-off.

``import circuitlearn.train`` gives this module; calling it (``cl.train(...)``) calls ``train``.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._validation import TRAIN_PARAMS, check_train_args
from .callbacks import progress_for
from .errors import TrainingDiverged, TrainingInterrupted, ValidationError
from .loop import LoopState, run, start
from .measure import STACKED_BACKENDS, TaskSystem, same_roles
from .network import Network
from .physics import BACKENDS, DENSE_MAX_FREE, auto_backend
from .rules import CoupledLearning, Rule
from .schedules import PoissonClocks, Schedule, Synchronous
from .tasks import Task

#: Largest number of free nodes ``train_many`` stacks; larger networks run one by one.
STACK_MAX_FREE = DENSE_MAX_FREE

#: Memory budget (bytes) of one stacked chunk of replicas.
CHUNK_BYTES = 256 * 2**20


@dataclass
class TrainResult:
    """The outcome of ``train``.

    Attributes
    ----------
    conductances : ndarray, shape (E,)
        Final conductances (S).
    history : pandas.DataFrame
        One row per recorded step; columns in ``circuitlearn.history``.
    network, task
        What was trained.
    initial_conductances : ndarray, shape (E,)
    config : dict
        Everything that determines the run besides the network and task arrays.
    taps : ndarray of int, shape (E,), or None
        Final potentiometer positions (stepped rule only).
    trajectory : dict of ndarray or None
        With ``record_state=True``: ``"k"`` (rows, E), ``"step"`` and, for the stepped rule,
        ``"taps"`` (rows, E), at the recorded steps.
    complete : bool
        False for a run stopped by Ctrl-C (``TrainingInterrupted.result``).
    """

    conductances: np.ndarray
    history: pd.DataFrame
    network: Network
    task: Task
    initial_conductances: np.ndarray
    config: dict
    taps: np.ndarray | None = None
    trajectory: dict | None = field(default=None)
    complete: bool = True

    def outputs(self, x, backend: str = "auto") -> np.ndarray:
        """Free-state output voltages (M, n_out) of the trained network for inputs ``x``."""
        x = Task._data("x", x, self.task.n_inputs)
        system = TaskSystem(self.network, self.task, backend)
        system.settle(self.conductances)
        return system.outputs(x)

    @property
    def final(self) -> pd.Series:
        """The last row of the history."""
        return self.history.iloc[-1]

    def __repr__(self) -> str:
        last = self.final
        return (
            f"TrainResult({self.config['rule']['kind']}, {self.config['schedule']['kind']}, "
            f"E={self.network.n_edges}, step={int(last['step'])}, "
            f"train_error={float(last['train_error']):.4g}, complete={self.complete})"
        )


def run_record(rule: Rule, schedule: Schedule, seed: int, train_args: dict, backend: str) -> dict:
    """The part of a run's config that ``train`` determines: rule, schedule and loop settings."""
    keep = ("steps", "batch_size", "sampling", "ticks_per_example", "record_every")
    return {
        "rule": rule.params(),
        "schedule": schedule.params(),
        "train": {
            **{k: train_args[k] for k in keep},
            "seed": seed,
            "backend": backend,
        },
    }


def check_backend(backend: str) -> str:
    """Return ``backend`` if it names a factorisation backend (or ``"auto"``)."""
    known = ("auto", *BACKENDS, *STACKED_BACKENDS)
    if backend not in known:
        raise ValidationError(f"backend must be one of {list(known)}; got {backend!r}")
    return backend


def _resolve_backend(backend: str, net: Network, task: Task, schedule: Schedule) -> str:
    """``"auto"`` -> a concrete single-system backend, knowing how many edges change per
    settle; anything else is checked against the known backends."""
    if check_backend(backend) != "auto":
        return backend
    n_free = net.n_nodes - task.source_nodes.size
    if isinstance(schedule, PoissonClocks):
        fraction = 1.0 / max(net.n_edges, 1)  # one edge per event, re-settled in between
    else:
        fraction = schedule.updates_per_step(net.n_edges)
    return auto_backend(n_free, fraction)


def _check_objects(net, task, rule, schedule, prefix: str = "") -> None:
    for name, value, cls, what in (
        ("net", net, Network, "circuitlearn.Network"),
        ("task", task, Task, "circuitlearn.Task"),
        ("rule", rule, Rule, "circuitlearn rule"),
        ("schedule", schedule, Schedule, "circuitlearn schedule"),
    ):
        if not isinstance(value, cls):
            article = "an" if what[0] in "aeiou" else "a"
            raise ValidationError(
                f"{prefix}{name} must be {article} {what}; got {type(value).__name__}"
            )
    schedule.check(net.n_edges)


def _train_args(**values) -> dict:
    """Checked training arguments with defaults filled in (``record_every`` from ``steps``)."""
    args = check_train_args({k: v for k, v in values.items() if k != "k0"})
    if args["record_every"] is None:
        args["record_every"] = max(1, args["steps"] // 1000)
    return args


def _run_group(
    nets: list[Network],
    tasks: list[Task],
    rule: Rule,
    schedule: Schedule,
    seeds: list[int],
    k0s: list,
    args: dict,
    kernel_backend: str,
    record_backend: str,
    callbacks: list,
    checkpoint=None,
    checkpoint_every=None,
    resume: LoopState | None = None,
) -> list[TrainResult]:
    system = TaskSystem(nets, tasks, kernel_backend)
    loop = resume or start(
        tasks,
        rule,
        schedule,
        seeds,
        k0s,
        system.n_edges,
        args["batch_size"],
        args["sampling"],
        args["ticks_per_example"],
        args["record_state"],
    )
    bar = progress_for(args["progress"], args["steps"])
    cbs = ([bar] if bar else []) + callbacks
    interrupted = diverged = None
    try:
        run(
            system,
            tasks,
            rule,
            schedule,
            loop,
            args["steps"],
            args["record_every"],
            cbs,
            checkpoint,
            checkpoint_every,
        )
    except KeyboardInterrupt as exc:
        interrupted = exc
    except TrainingDiverged as exc:
        diverged = exc
    finally:
        for cb in cbs:
            if hasattr(cb, "close"):
                cb.close()
    results = [
        TrainResult(
            conductances=loop.state.k[r].copy(),
            history=loop.recorder.history(r),
            network=nets[r],
            task=tasks[r],
            initial_conductances=loop.k_initial[r].copy(),
            config=run_record(rule, schedule, seeds[r], args, record_backend),
            taps=None if loop.state.taps is None else loop.state.taps[r].copy(),
            trajectory=loop.recorder.trajectory(r),
            complete=loop.done,
        )
        for r in range(len(nets))
    ]
    if diverged is not None:
        diverged.result = results[0] if len(results) == 1 else results
        raise diverged
    if interrupted is not None:
        raise TrainingInterrupted(
            f"interrupted at step {loop.step} of {args['steps']}; the partial run is in exc.result",
            results[0] if len(results) == 1 else results,
        ) from interrupted
    return results


def train(
    net: Network,
    task: Task,
    rule: Rule | None = None,
    schedule: Schedule | None = None,
    steps: int = 1000,
    batch_size: int | None = None,
    k0=None,
    seed: int = 0,
    record_every: int | None = None,
    record_state: bool = False,
    backend: str = "auto",
    progress: bool | None = None,
    callback: Callable | None = None,
    sampling: str = "epoch",
    ticks_per_example: int = 1,
    checkpoint: Callable[[LoopState], None] | None = None,
    checkpoint_every: int | None = None,
    resume: LoopState | None = None,
) -> TrainResult:
    """Train ``net`` on ``task`` with a local rule under an update schedule.

    Parameters
    ----------
    net : Network
    task : Task
    rule : Rule
        ``CoupledLearning`` (default ``lr=0.1, eta=0.5``), ``SteppedCoupledLearning``,
        ``GradientDescent`` or a user's ``Rule``.
    schedule : Schedule
        ``Synchronous()`` (default), ``Bernoulli(p)``, ``RandomSubset(count)``,
        ``PoissonClocks(rate)``, ``Staggered(period)``.
    steps : int
        Number of training steps (one batch and one schedule draw each).
    batch_size : int or None
        None: full batch; ``b``: ``b`` examples per step; 1: online.
    k0 : array (E,), optional
        Initial conductances (S); default 1 S (stepped rule: the middle tap).
    seed : int
        Determines the run: independent streams for data order, schedule, rule noise and
        initial imperfections are spawned from it.
    record_every : int, optional
        Record the history every this many steps (default: about 1000 rows at most).
    record_state : bool
        Also keep the conductances (and taps) at every recorded step.
    backend : str
        Factorisation backend. ``"auto"``: dense for small networks; for sparse ones CHOLMOD
        (rank-r factor updates) when the schedule changes few edges per settle and the
        ``cholmod`` extra is installed, else qdldl.
    progress : bool, optional
        Progress bar on a terminal (log lines on stderr otherwise); default on for runs of
        at least 200 steps.
    callback : callable, optional
        ``callback(step, state, row)`` after each recorded step; return False to stop early.
    sampling : {"epoch", "replacement", "cyclic"}
        How mini-batches are drawn (``circuitlearn.sampling``).
    ticks_per_example : int
        Steps each batch is held for.
    checkpoint, checkpoint_every : callable, int, optional
        ``checkpoint(loop_state)`` every ``checkpoint_every`` steps (see ``loop.LoopState``).
    resume : LoopState, optional
        Continue a checkpointed run (same arguments otherwise).

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingDiverged
        A non-finite error or conductance appeared (``exc.result``: the run so far).
    TrainingInterrupted
        Ctrl-C; ``exc.result`` holds the partial run (``complete`` False).
    """
    rule = CoupledLearning() if rule is None else rule
    schedule = Synchronous() if schedule is None else schedule
    _check_objects(net, task, rule, schedule)
    args = _train_args(
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        record_every=record_every,
        record_state=record_state,
        backend=backend,
        progress=progress,
        sampling=sampling,
        ticks_per_example=ticks_per_example,
    )
    if callback is not None and not callable(callback):
        raise ValidationError(f"callback must be callable or None; got {callback!r}")
    kernel = _resolve_backend(backend, net, task, schedule)
    return _run_group(
        [net],
        [task],
        rule,
        schedule,
        [args["seed"]],
        [k0],
        args,
        kernel,
        backend,
        [callback] if callback is not None else [],
        checkpoint,
        checkpoint_every,
        resume,
    )[0]


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
        batched factor; larger ones run one by one with this backend.
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
        rep["rule"] = CoupledLearning() if rep["rule"] is None else rep["rule"]
        rep["schedule"] = Synchronous() if rep["schedule"] is None else rep["schedule"]
        _check_objects(rep["nets"], rep["tasks"], rep["rule"], rep["schedule"], "replica's ")
        rep["seeds"] = TRAIN_PARAMS["seed"].check(rep["seeds"])
        reps.append(rep)
    args = _train_args(
        steps=steps,
        batch_size=batch_size,
        record_every=record_every,
        record_state=record_state,
        backend=backend,
        progress=progress,
        sampling=sampling,
        ticks_per_example=ticks_per_example,
    )
    if callback is not None and not callable(callback):
        raise ValidationError(f"callback must be callable or None; got {callback!r}")
    callbacks = [callback] if callback is not None else []

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
        stack = net0.n_nodes - task0.source_nodes.size <= STACK_MAX_FREE
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
                kernel = _resolve_backend(backend, net0, task0, first["schedule"])
            out = _run_group(
                [g["nets"] for g in group],
                [g["tasks"] for g in group],
                first["rule"],
                first["schedule"],
                [g["seeds"] for g in group],
                [g["k0"] for g in group],
                {**args, "progress": args["progress"] if stack else False},
                kernel,
                backend,
                callbacks,
            )
            for r, res in zip(chunk, out, strict=True):
                results[r] = res
    return results


class _CallableModule(types.ModuleType):
    """``cl.train(...)`` calls ``train`` while ``import circuitlearn.train`` is this module."""

    def __call__(self, *args, **kwargs) -> TrainResult:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
