"""The only training loop: settle, record, present a batch, draw who updates, measure, apply.

It runs R >= 1 replicas of one shape at once (``train`` is R = 1, ``train_many`` R >= 1): the
response kernel (``measure.TaskSystem``) carries the replica axis, every replica draws from its
own random streams, so a stacked run equals R single runs. Everything that evolves lives in a
picklable ``LoopState``, which is what a checkpoint saves and a resume continues.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from .errors import TrainingDiverged
from .history import Recorder
from .measure import TaskSystem
from .rules import Rule
from .sampling import Batches
from .schedules import Schedule
from .signals import EdgeSignals, RuleState
from .tasks import Task

#: Compute only the updating edges' signals when at most this fraction of edges updates (one
#: replica on a sparse factor, rules with ``local = True``).
SUBSET_FRACTION = 0.25


def streams(seed: int) -> list[np.random.Generator]:
    """The four independent generators of a run: data order, schedule, rule noise, initial
    imperfections (in this order), spawned from ``seed``."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]


@dataclass
class LoopState:
    """Everything a run changes as it goes; pickled whole as a checkpoint."""

    step: int
    state: RuleState  # arrays (R, E)
    k_initial: np.ndarray  # (R, E)
    gens: list  # per replica: [data, schedule, rule] generators
    batches: list  # per replica: sampling.Batches
    sched_states: list  # per replica: what Schedule.start drew
    updates: np.ndarray  # (R,) edge updates made
    examples: np.ndarray  # (R,) examples presented
    recorder: Recorder
    done: bool = False
    calibrated: bool = False


def start(
    tasks: Sequence[Task],
    rule: Rule,
    schedule: Schedule,
    seeds: Sequence[int],
    k0s: Sequence,
    n_edges: int,
    batch_size: int | None,
    sampling: str,
    ticks_per_example: int,
    record_state: bool,
) -> LoopState:
    """Draw the initial state of R replicas, replica r from ``streams(seeds[r])``."""
    gens, states, batches, sched_states = [], [], [], []
    for task, seed, k0 in zip(tasks, seeds, k0s, strict=True):
        data, sched, rul, init = streams(seed)
        states.append(rule.init_state(k0, n_edges, init))
        gens.append([data, sched, rul])
        batches.append(Batches(len(task.x_train), batch_size, data, sampling, ticks_per_example))
        sched_states.append(schedule.start(sched, n_edges))
    stacked = RuleState(
        **{
            f: None if getattr(states[0], f) is None else np.stack([getattr(s, f) for s in states])
            for f in vars(states[0])
        }
    )
    n = len(tasks)
    return LoopState(
        step=0,
        state=stacked,
        k_initial=stacked.k.copy(),
        gens=gens,
        batches=batches,
        sched_states=sched_states,
        updates=np.zeros(n),
        examples=np.zeros(n, np.int64),
        recorder=Recorder(list(tasks), record_state),
    )


def _full_data(tasks: Sequence[Task], same_task: bool):
    """Every training example of every replica, ``(x, y)`` with a replica axis (R|1, M, ...)."""
    if same_task:
        return tasks[0].x_train[None], tasks[0].y_train[None]
    return np.stack([t.x_train for t in tasks]), np.stack([t.y_train for t in tasks])


def _batch(loop: LoopState, tasks: Sequence[Task], same_task: bool, full: bool):
    """The step's data ``(x, y)``, (R|1, b, ...), and the count of fresh examples per replica.

    Full batches draw nothing, so replicas that all see the full batch share the first
    replica's presentation clock (no Python call per replica per step)."""
    if full:
        idx, new = loop.batches[0].next()
        return _full_data(tasks, same_task), np.full(len(loop.batches), len(idx) if new else 0)
    picks = [b.next() for b in loop.batches]
    fresh = np.array([len(idx) if new else 0 for idx, new in picks])
    if same_task:
        idx = np.stack([i for i, _ in picks])
        return (tasks[0].x_train[idx], tasks[0].y_train[idx]), fresh
    x = np.stack([t.x_train[i] for t, (i, _) in zip(tasks, picks, strict=True)])
    y = np.stack([t.y_train[i] for t, (i, _) in zip(tasks, picks, strict=True)])
    return (x, y), fresh


def _apply(rule: Rule, loop: LoopState, sig: EdgeSignals, mask, rows, rule_rngs) -> None:
    """The rule's update of the replicas ``rows`` (None: all) under ``mask`` (R', E)."""
    state = loop.state
    idx = np.arange(state.k.shape[0]) if rows is None else rows
    rngs = rule_rngs if rows is None else [rule_rngs[r] for r in rows]
    if rule.vectorised:
        if rows is None:
            rule.apply(state, sig, mask, rngs)
            return
        sub = RuleState(**{f: None if v is None else v[rows] for f, v in vars(state).items()})
        rule.apply(sub, sig, mask, rngs)
        for f, v in vars(sub).items():
            if v is not None:
                getattr(state, f)[rows] = v
        return
    for i, r in enumerate(idx):  # a rule that knows one replica: (E,) arrays, one generator
        one = RuleState(**{f: None if v is None else v[r].copy() for f, v in vars(state).items()})
        s = EdgeSignals(**{f: None if v is None else v[i] for f, v in vars(sig).items()})
        rule.apply(one, s, mask[i], rngs[i])
        for f, v in vars(one).items():
            if v is not None:
                getattr(state, f)[r] = v


def _calibrate(system: TaskSystem, tasks, rule: Rule, loop: LoopState, same_task: bool) -> None:
    """The rule's one-off calibration on the full training set at the initial state."""
    system.settle(loop.state.k)
    x, y = _full_data(tasks, same_task)
    sig = system.signals(x, y, rule.nudge, clamped=True)
    rule.calibrate(loop.state, sig)
    loop.calibrated = True


def _check_finite(loop: LoopState, row: dict) -> None:
    bad = ~np.isfinite(row["train_error"]) | ~np.isfinite(loop.state.k).all(axis=-1)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise TrainingDiverged(
            f"training diverged at step {loop.step}"
            + (f" (replica {r})" if len(bad) > 1 else "")
            + f": train error {row['train_error'][r]!r} with "
            f"{int((~np.isfinite(loop.state.k[r])).sum())} non-finite conductances; lower the "
            "learning rate",
            step=loop.step,
        )


def run(
    system: TaskSystem,
    tasks: Sequence[Task],
    rule: Rule,
    schedule: Schedule,
    loop: LoopState,
    steps: int,
    record_every: int,
    callbacks: Sequence[Callable] = (),
    checkpoint: Callable[[LoopState], None] | None = None,
    checkpoint_every: int | None = None,
) -> LoopState:
    """Advance ``loop`` to ``steps`` (or until a callback returns False); return it.

    ``system`` must keep its replica axis (built from sequences, ``squeeze`` False).

    ``checkpoint(loop)`` is called after every ``checkpoint_every``-th step, with ``loop.step``
    the next step to run; ``run`` continues a ``loop`` from wherever it stands.
    """
    n_edges = system.n_edges
    rate = schedule.updates_per_step(n_edges)
    same_task = all(t is tasks[0] for t in tasks)
    sched_rngs = [g[1] for g in loop.gens]
    rule_rngs = [g[2] for g in loop.gens]
    full = all(b.full for b in loop.batches)
    subset_ok = rule.local and system.factor is None
    subset_max = SUBSET_FRACTION * n_edges
    # One BLAS thread: the per-step matrix products are small or memory-bound, and a second
    # OpenBLAS thread on a busy 2-core machine waits far longer than it helps.
    with threadpool_limits(limits=1, user_api="blas"):
        if rule.needs_calibration and not loop.calibrated:
            _calibrate(system, tasks, rule, loop, same_task)
        while True:
            step = loop.step
            system.settle(loop.state.k)
            if step % record_every == 0 or step == steps:
                row = loop.recorder.record(
                    system, step, rate, loop.updates, loop.examples, loop.state
                )
                _check_finite(loop, row)
                stop = False
                for cb in callbacks:
                    stop |= cb(step, loop.state, row) is False
                if stop:
                    break
            if step >= steps:
                loop.done = True
                break
            (x, y), fresh = _batch(loop, tasks, same_task, full)
            loop.examples += fresh
            events = schedule.draw(sched_rngs, n_edges, step, loop.sched_states)
            for j, (rows, mask) in enumerate(events):
                if j:  # asynchronous events re-settle between updates
                    system.settle(loop.state.k if rows is None else loop.state.k[rows], rows)
                xb = x if rows is None or x.shape[0] == 1 else x[rows]
                yb = y if rows is None or y.shape[0] == 1 else y[rows]
                edges = None
                if subset_ok:
                    n_mask = int(mask.sum())
                    if n_mask <= subset_max:
                        edges = np.flatnonzero(mask[0])
                sig = system.signals(
                    xb,
                    yb,
                    rule.nudge,
                    clamped=rule.needs_clamped,
                    gradient=rule.needs_gradient,
                    examples=rule.needs_examples,
                    edges=edges,
                    rows=rows,
                )
                _apply(rule, loop, sig, mask, rows, rule_rngs)
                if rows is None:
                    loop.updates += mask.sum(axis=1)
                else:
                    loop.updates[rows] += mask.sum(axis=1)
            loop.step += 1
            if checkpoint is not None and checkpoint_every and loop.step % checkpoint_every == 0:
                # Between two steps, and the next settle refactors from scratch, as a run
                # resumed from this checkpoint will: resuming is bit-identical.
                system.invalidate()
                checkpoint(loop)
    return loop
