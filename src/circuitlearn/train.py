"""The training loop: settle free, settle clamped, local update, record (DESIGN §4-§5).

This is the only module that knows both the physics and the learning rules. Rules and
schedules plug in; experiments and sweeps call ``train`` and never copy the loop.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ._validation import in_range
from .errors import ValidationError
from .hardware import SteppedCoupledLearning
from .measure import TaskSystem
from .network import Network
from .physics import auto_backend
from .rules import CoupledLearning, GradientDescent, Rule, RuleState
from .schedules import PoissonClocks, Schedule, Synchronous
from .tasks import Task

#: Rules whose ``apply`` reads the signals of the masked edges only: for these the loop
#: computes the signals of the edges that update and nothing else.
LOCAL_RULES = (CoupledLearning, GradientDescent, SteppedCoupledLearning)

#: Compute only the updating edges' signals when at most this fraction of edges updates.
SUBSET_FRACTION = 0.25


@dataclass
class TrainResult:
    """The outcome of ``train``.

    Attributes
    ----------
    conductances : ndarray, shape (E,)
        Final conductances (S).
    history : pandas.DataFrame
        One row per recorded step: ``step``, ``updates_per_edge`` (expected updates per edge,
        ``rate * step``), ``updates`` (edge updates actually made, cumulative),
        ``train_error`` and ``test_error`` (V^2), ``train_accuracy`` and ``test_accuracy``
        (classification tasks), ``wall_time`` (s since the start).
    taps : ndarray of int, shape (E,), or None
        Final potentiometer positions (stepped rule only).
    initial_conductances : ndarray, shape (E,)
    config : dict
        Everything that determines the run besides the network and task arrays.
    trajectory : dict of ndarray or None
        With ``record_state=True``: ``"k"`` (R, E) and, for the stepped rule, ``"taps"`` (R, E),
        at the recorded steps.
    """

    conductances: np.ndarray
    history: pd.DataFrame
    network: Network
    task: Task
    initial_conductances: np.ndarray
    config: dict
    taps: np.ndarray | None = None
    trajectory: dict | None = field(default=None)

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


def _batches(m: int, batch_size: int | None, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Indices of successive batches: everything, or shuffled mini-batches per epoch."""
    if batch_size is None or batch_size >= m:
        everything = np.arange(m)
        while True:
            yield everything
    while True:
        order = rng.permutation(m)
        for start in range(0, m, batch_size):
            yield order[start : start + batch_size]


def _progress(enabled: bool | None, steps: int):
    if enabled is None:
        enabled = sys.stderr.isatty() and steps >= 200
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("training"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("err {task.fields[err]:.3g}"),
        TimeRemainingColumn(),
        transient=True,
    )


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
    callback: Callable[[int, RuleState, dict], bool | None] | None = None,
) -> TrainResult:
    """Train ``net`` on ``task`` with a local rule under an update schedule.

    Parameters
    ----------
    net : Network
    task : Task
    rule : Rule
        ``CoupledLearning`` (default ``lr=0.1, eta=0.5``), ``SteppedCoupledLearning`` or
        ``GradientDescent``.
    schedule : Schedule
        ``Synchronous()`` (default), ``Bernoulli(p)``, ``RandomSubset(count)``,
        ``PoissonClocks(rate)``.
    steps : int
        Number of training steps (one batch each).
    batch_size : int or None
        None: full batch; ``b``: mini-batches reshuffled each epoch; 1: online.
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
        Factorisation backend (see ``physics.LaplacianSolver``). ``"auto"``: dense for small
        networks; for sparse ones CHOLMOD (rank-r factor updates) when the schedule changes
        few edges per settle and the ``cholmod`` extra is installed, else qdldl.
    progress : bool, optional
        Rich progress bar; default on for long runs in a terminal.
    callback : callable, optional
        ``callback(step, state, row)`` after each recorded step; return False to stop early.

    Returns
    -------
    TrainResult
    """
    rule = CoupledLearning() if rule is None else rule
    schedule = Synchronous() if schedule is None else schedule
    if not isinstance(net, Network):
        raise ValidationError(f"net must be a circuitlearn.Network; got {type(net).__name__}")
    if not isinstance(task, Task):
        raise ValidationError(f"task must be a circuitlearn.Task; got {type(task).__name__}")
    if not isinstance(rule, Rule):
        raise ValidationError(f"rule must be a circuitlearn rule; got {type(rule).__name__}")
    if not isinstance(schedule, Schedule):
        raise ValidationError(
            f"schedule must be a circuitlearn schedule; got {type(schedule).__name__}"
        )
    steps = in_range("steps", steps, 0, None, integer=True)
    if batch_size is not None:
        batch_size = in_range("batch_size", batch_size, 1, None, integer=True)
    seed = in_range("seed", seed, 0, None, integer=True)
    if not isinstance(record_state, (bool, np.bool_)):
        raise ValidationError(f"record_state must be True or False; got {record_state!r}")
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise ValidationError(f"progress must be True, False or None; got {progress!r}")
    if callback is not None and not callable(callback):
        raise ValidationError(f"callback must be callable or None; got {callback!r}")
    if record_every is None:
        record_every = max(1, steps // 1000)
    record_every = in_range("record_every", record_every, 1, None, integer=True)
    schedule.check(net.n_edges)

    data_ss, sched_ss, rule_ss, init_ss = np.random.SeedSequence(seed).spawn(4)
    rng_data, rng_sched = np.random.default_rng(data_ss), np.random.default_rng(sched_ss)
    rng_rule, rng_init = np.random.default_rng(rule_ss), np.random.default_rng(init_ss)

    system = TaskSystem(net, task, _resolve_backend(backend, net, task, schedule))
    state = rule.init_state(k0, net.n_edges, rng_init)
    k_initial = state.k.copy()
    rate = schedule.updates_per_step(net.n_edges)
    batches = _batches(len(task.x_train), batch_size, rng_data)
    x_tr, y_tr = task.x_train, task.y_train

    rows: list[dict] = []
    traj_k: list[np.ndarray] = []
    traj_taps: list[np.ndarray] = []
    updates = 0
    t0 = time.perf_counter()
    bar = _progress(progress, steps)
    bar_task = bar.add_task("train", total=steps, err=float("nan")) if bar else None
    subset_ok = type(rule) in LOCAL_RULES
    subset_max = SUBSET_FRACTION * net.n_edges
    if bar:
        bar.start()
    # One BLAS thread: the per-step matrix products are small or memory-bound, and a second
    # OpenBLAS thread on a busy 2-core machine waits far longer than it helps.
    limiter = threadpool_limits(limits=1, user_api="blas")
    try:
        for step in range(steps + 1):
            system.settle(state.k)
            if step % record_every == 0 or step == steps:
                row = _record(system, task, step, rate, updates / net.n_edges, t0)
                rows.append(row)
                if record_state:
                    traj_k.append(state.k.copy())
                    if state.taps is not None:
                        traj_taps.append(state.taps.copy())
                if bar:
                    bar.update(bar_task, completed=step, err=row["train_error"])
                if callback is not None and callback(step, state, row) is False:
                    break
            if step == steps:
                break
            idx = next(batches)
            xb, yb = x_tr[idx], y_tr[idx]
            for n, mask in enumerate(schedule.events(rng_sched, net.n_edges)):
                if n:  # asynchronous events re-settle between updates
                    system.settle(state.k)
                n_mask = int(mask.sum())
                sig = system.signals(
                    xb,
                    yb,
                    rule.nudge,
                    clamped=rule.needs_clamped,
                    gradient=rule.needs_gradient,
                    examples=rule.needs_examples,
                    edges=np.flatnonzero(mask) if subset_ok and n_mask <= subset_max else None,
                )
                rule.apply(state, sig, mask, rng_rule)
                updates += n_mask
    finally:
        limiter.restore_original_limits()
        if bar:
            bar.stop()

    config = run_record(rule, schedule, steps, batch_size, seed, record_every, backend)
    trajectory = None
    if record_state:
        trajectory = {"k": np.array(traj_k), "step": np.array([r["step"] for r in rows])}
        if traj_taps:
            trajectory["taps"] = np.array(traj_taps)
    return TrainResult(
        conductances=state.k.copy(),
        history=pd.DataFrame(rows),
        network=net,
        task=task,
        initial_conductances=k_initial,
        config=config,
        taps=None if state.taps is None else state.taps.copy(),
        trajectory=trajectory,
    )


def run_record(
    rule: Rule,
    schedule: Schedule,
    steps: int,
    batch_size: int | None,
    seed: int,
    record_every: int,
    backend: str,
) -> dict:
    """The part of a run's config that ``train`` determines: rule, schedule and loop settings."""
    return {
        "rule": rule.params(),
        "schedule": schedule.params(),
        "train": {
            "steps": steps,
            "batch_size": batch_size,
            "seed": seed,
            "record_every": record_every,
            "backend": backend,
        },
    }


def _resolve_backend(backend: str, net: Network, task: Task, schedule: Schedule) -> str:
    """``"auto"`` -> a concrete backend, knowing how many edges change per settle."""
    if backend != "auto":
        return backend
    n_free = net.n_nodes - task.source_nodes.size
    if isinstance(schedule, PoissonClocks):
        fraction = 1.0 / max(net.n_edges, 1)  # one edge per event, re-settled in between
    else:
        fraction = schedule.updates_per_step(net.n_edges)
    return auto_backend(n_free, fraction)


def _record(system: TaskSystem, task: Task, step: int, rate: float, mean_updates: float, t0):
    out_tr = system.outputs(task.x_train)
    row = {
        "step": step,
        "updates_per_edge": rate * step,
        "updates": mean_updates,
        "train_error": task.error(out_tr, task.y_train),
        "test_error": np.nan,
    }
    if task.has_test:
        out_te = system.outputs(task.x_test)
        row["test_error"] = task.error(out_te, task.y_test)
    if task.encoding is not None:
        row["train_accuracy"] = task.accuracy(out_tr, task.y_train)
        row["test_accuracy"] = task.accuracy(out_te, task.y_test) if task.has_test else np.nan
    row["wall_time"] = time.perf_counter() - t0
    return row
