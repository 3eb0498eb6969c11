"""Noise accounting: the relative variance of the update process at a fixed state.

``update_noise`` measures the relative variance of the displacement accumulated over ``tau``
updates per edge, for a schedule or a mini-batch: the quantity to match when comparing
desynchronous and mini-batch noise.

Units: conductances in S.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_conductances, in_range
from ..errors import ValidationError
from ..loop import streams
from ..measure import TaskSystem
from ..network import Network
from ..rules import Rule
from ..sampling import Batches
from ..schedules import Schedule, Synchronous, steps_for
from ..signals import EdgeSignals, RuleState
from ..tasks import Task
from ._checks import _check_net_task

__all__ = ["NoiseEstimate", "update_noise"]


@dataclass(frozen=True)
class NoiseEstimate:
    """The outcome of ``update_noise`` (``float(estimate)`` is ``value``).

    Attributes
    ----------
    value : float
        Relative variance ``E||D - D_bar||^2 / ||D_bar||^2`` (dimensionless).
    stderr : float
        Its Monte-Carlo standard error.
    bias : float
        ``||mean(D) - D_bar||^2 / ||D_bar||^2``: how far the sampled mean is from the reference
        drift (Monte-Carlo error only, for rules linear in the batch means).
    steps : int
        Steps per draw.
    drift : ndarray, shape (E,)
        The reference drift ``D_bar`` (S).
    """

    value: float
    stderr: float
    bias: float
    steps: int
    drift: np.ndarray = field(repr=False)

    def __float__(self) -> float:
        return self.value


def _displacement(rule: Rule, state: RuleState, sig: EdgeSignals, mask, rng) -> np.ndarray:
    """``k`` after one rule update from ``state`` (left untouched) minus ``k`` before (S)."""
    moved = state.copy()
    rule.apply(moved, sig, mask, rng)
    return moved.k - state.k


def update_noise(
    net: Network,
    task: Task,
    k,
    rule: Rule,
    schedule: Schedule | None = None,
    batch_size: int | None = None,
    sampling: str = "epoch",
    tau: float = 1,
    draws: int = 200,
    seed: int = 0,
) -> NoiseEstimate:
    """Relative variance of the displacement accumulated over ``tau`` updates per edge at a
    fixed state (Monte Carlo).

    The network is settled once at ``k``; nothing is re-settled, so only the noise of the
    update process is measured. One draw starts as a run starts (a fresh epoch, the schedule's
    ``start`` state, step 0) and accumulates, over ``n = steps_for(tau, schedule, E)`` steps,

        D = sum_t [k after rule.apply(state, signals(batch_t), mask_t) - k]      (S, (E,))

    with ``batch_t`` from ``sampling.Batches(M, batch_size, ...)`` and ``mask_t`` from the
    schedule (every event of the step), both drawn from the streams of ``loop.streams(seed)``.
    The reference drift is ``D_bar = n r d`` with ``r`` the schedule's rate and ``d`` the
    displacement of one full-batch update of every edge (of the noise-free rule, when the rule
    has a ``noise`` field): the exact expectation ``E[D]`` for rules linear in the batch means
    (``CoupledLearning``, ``GradientDescent``: mini-batch means are unbiased) and for any
    noise-free rule at full batch. Returned: ``mean_draws ||D - D_bar||^2 / ||D_bar||^2``.

    Worked cases (continuous rule): Bernoulli(p), full batch, ``1/p`` an integer: ``D_j = d_j``
    times a Binomial(1/p, p) count over p, so the relative variance is ``(1 - p) / tau``.
    Mini-batches of b = 1 with ``sampling="epoch"``: over one epoch (``tau = M``) every
    example is used once, so ``D = D_bar`` to round-off; with ``"replacement"`` it is
    ``V_1 / tau`` with ``V_1`` the relative variance of one example's update.

    Parameters
    ----------
    net, task : Network, Task
    k : array, shape (E,)
        The fixed state (S). A stepped rule starts from its nearest taps (``taps_for``).
    rule : Rule
        Any rule; its ``apply`` is called with (E,) arrays and one generator.
    schedule : Schedule, optional
        Who updates; default ``Synchronous()``.
    batch_size : int, optional
        Examples per step; None: the full batch.
    sampling : {"epoch", "replacement", "cyclic"}
    tau : float
        Expected updates per edge accumulated per draw (> 0).
    draws : int
        Monte-Carlo draws (>= 2).
    seed : int
        Seeds the streams (data, schedule, rule, initial imperfections).

    Returns
    -------
    NoiseEstimate
    """
    _check_net_task(net, task)
    if not isinstance(rule, Rule):
        raise ValidationError(f"rule must be a circuitlearn rule; got {type(rule).__name__}")
    schedule = Synchronous() if schedule is None else schedule
    if not isinstance(schedule, Schedule):
        raise ValidationError(
            f"schedule must be a circuitlearn schedule or None; got {type(schedule).__name__}"
        )
    schedule.check(net.n_edges)
    k = check_conductances(k, net.n_edges)
    if batch_size is not None:
        batch_size = in_range("batch_size", batch_size, 1, None, integer=True)
    draws = in_range("draws", draws, 2, None, integer=True)
    seed = in_range("seed", seed, 0, None, integer=True)
    e = net.n_edges
    tau = in_range("tau", tau, 0, None, low_open=True, high_open=True)
    n_steps = steps_for(tau, schedule, e)
    data_rng, sched_rng, rule_rng, init_rng = streams(seed)
    state = rule.init_state(k, e, init_rng)
    system = TaskSystem(net, task)
    system.settle(state.k)
    m = len(task.x_train)

    def signals(x, y):
        return system.signals(
            x,
            y,
            rule.nudge,
            clamped=rule.needs_clamped,
            gradient=rule.needs_gradient,
            examples=rule.needs_examples,
        )

    quiet = rule
    if getattr(rule, "noise", 0) and dataclasses.is_dataclass(rule):
        quiet = dataclasses.replace(rule, noise=0.0)
    full_sig = signals(task.x_train, task.y_train)
    d_full = _displacement(quiet, state, full_sig, np.ones(e, bool), np.random.default_rng(0))
    drift = n_steps * schedule.updates_per_step(e) * d_full
    norm = float(drift @ drift)
    if norm == 0.0:
        raise ValidationError(
            "the full-batch drift is zero at this state (an exact fixed point): the relative "
            "variance is undefined; pick a state away from the optimum"
        )
    cache: dict[bytes, EdgeSignals] = {}
    acc = np.empty((draws, e))
    for i in range(draws):
        batches = Batches(m, batch_size, data_rng, sampling)
        sched_state = schedule.start(sched_rng, e)
        total = np.zeros(e)
        for step in range(n_steps):
            idx, _ = batches.next()
            if batches.full:
                sig = full_sig
            else:
                key = idx.tobytes()
                sig = cache.get(key)
                if sig is None:
                    sig = signals(task.x_train[idx], task.y_train[idx])
                    if len(cache) < 4096:
                        cache[key] = sig
            for mask in schedule.events(sched_rng, e, step, sched_state):
                total += _displacement(rule, state, sig, mask, rule_rng)
        acc[i] = total
    dev = np.sum((acc - drift) ** 2, axis=1) / norm
    mean_d = acc.mean(axis=0) - drift
    return NoiseEstimate(
        value=float(dev.mean()),
        stderr=float(dev.std(ddof=1) / np.sqrt(draws)),
        bias=float(mean_d @ mean_d / norm),
        steps=n_steps,
        drift=drift,
    )
