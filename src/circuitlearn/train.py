"""Training one network: ``train``, its ``TrainResult``, and ``run_group``, which builds the
response kernel (``measure.TaskSystem``) for a group of replicas and runs the one loop
(``loop.run``) on it. ``train`` is a group of one replica on a single-system factor;
``ensemble.train_many`` stacks the replicas of each shape on a batched factor, so that replica
r equals ``train(..., seed=seeds[r])`` to round-off. Both check their arguments against one
table (``_validation.TRAIN_PARAMS``).

``import circuitlearn.train`` gives this module; calling it (``cl.train(...)``) calls ``train``.
"""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._validation import check_train_args
from .callbacks import progress_for
from .errors import TrainingDiverged, TrainingInterrupted, ValidationError
from .loop import LoopState, run, start
from .measure import STACKED_BACKENDS
from .network import Network
from .nonlinear_measure import task_system
from .physics import BACKENDS, auto_backend
from .rules import BoundedConductanceRule, CoupledLearning, Rule
from .schedules import PoissonClocks, Schedule, Synchronous
from .tasks import Task


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
        system = task_system(self.network, self.task, backend)
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


def run_record(
    rule: Rule, schedule: Schedule, seed: int, train_args: dict, backend: str, k0=None
) -> dict:
    """The part of a run's config that ``train`` determines: rule, schedule and loop settings
    (with the initial conductances ``k0`` when they were given)."""
    keep = ("steps", "batch_size", "sampling", "ticks_per_example", "record_every")
    record = {
        "rule": rule.params(),
        "schedule": schedule.params(),
        "train": {**{k: train_args[k] for k in keep}, "seed": seed, "backend": backend},
    }
    if k0 is not None:
        record["train"]["k0"] = np.asarray(k0, dtype=float).tolist()
    return record


def check_backend(backend: str) -> str:
    """Return ``backend`` if it names a factorisation backend (or ``"auto"``)."""
    known = ("auto", *BACKENDS, *STACKED_BACKENDS)
    if backend not in known:
        raise ValidationError(f"backend must be one of {list(known)}; got {backend!r}")
    return backend


def resolve_backend(backend: str, net: Network, task: Task, schedule: Schedule) -> str:
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


def check_objects(net, task, rule, schedule, prefix: str = "") -> tuple[Rule, Schedule]:
    """Check what is trained with what; return the rule and schedule with their defaults
    (``CoupledLearning()``, ``Synchronous()``) for None."""
    rule = CoupledLearning() if rule is None else rule
    schedule = Synchronous() if schedule is None else schedule
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
    _check_gate_bounds(net, rule, prefix)
    return rule, schedule


def _check_gate_bounds(net: Network, rule: Rule, prefix: str) -> None:
    """On transistor edges the parameter is a gate voltage (V): the rule must move parameters
    within bounds, and its bounds must lie inside every transistor's gate range, so that no
    step can leave it (which the settle would refuse mid-run)."""
    gates = [el for el, _ in net.element_groups if el.kind == "transistor"]
    if not gates:
        return
    name = type(rule).__name__
    if not isinstance(rule, BoundedConductanceRule):
        raise ValidationError(
            f"{prefix}rule {name} sets resistances; transistor edges take gate voltages (V): "
            "train them with CoupledLearning(lr, eta, k_min, k_max), the bounds in V"
        )
    lo = max(el.v_gate_range[0] for el in gates)
    hi = min(el.v_gate_range[1] for el in gates)
    if rule.k_min < lo or rule.k_max > hi:
        raise ValidationError(
            f"{prefix}rule bounds k_min = {rule.k_min:g}, k_max = {rule.k_max:g} bound the gate "
            f"voltages (V) of transistor edges and must lie inside their range [{lo:g}, {hi:g}] "
            f"V: e.g. {name}(..., k_min={max(lo, 1e-3):g}, k_max={hi:g})"
        )


def train_args(callback=None, **values) -> dict:
    """Checked training arguments with defaults filled in (``record_every`` from ``steps``),
    and ``callbacks``: the user's callback as a list."""
    if callback is not None and not callable(callback):
        raise ValidationError(f"callback must be callable or None; got {callback!r}")
    args = check_train_args({k: v for k, v in values.items() if k != "k0"})
    if args["record_every"] is None:
        args["record_every"] = max(1, args["steps"] // 1000)
    args["callbacks"] = [] if callback is None else [callback]
    return args


def run_group(
    nets: list[Network],
    tasks: list[Task],
    rule: Rule,
    schedule: Schedule,
    seeds: list[int],
    k0s: list,
    args: dict,
    kernel_backend: str,
    record_backend: str,
    checkpoint=None,
    checkpoint_every=None,
    resume: LoopState | None = None,
) -> list[TrainResult]:
    system = task_system(nets, tasks, kernel_backend)
    if resume is not None:  # wall times go on from where the checkpointed run was
        last = resume.recorder.last.get("wall_time")
        resume.recorder.t0 = time.perf_counter() - (float(last[0]) if last is not None else 0.0)
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
    cbs = ([bar] if bar else []) + args["callbacks"]
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
            config=run_record(rule, schedule, seeds[r], args, record_backend, k0s[r]),
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
    rule, schedule = check_objects(net, task, rule, schedule)
    args = train_args(
        callback=callback,
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
    kernel = resolve_backend(backend, net, task, schedule)
    return run_group(
        [net],
        [task],
        rule,
        schedule,
        [args["seed"]],
        [k0],
        args,
        kernel,
        backend,
        checkpoint,
        checkpoint_every,
        resume,
    )[0]


class _CallableModule(types.ModuleType):
    """``cl.train(...)`` calls ``train`` while ``import circuitlearn.train`` is this module."""

    def __call__(self, *args, **kwargs) -> TrainResult:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
