"""Is a tap state a trap, and how long does a schedule take to leave it?

- ``local_minimum``: is an integer tap state a discrete local minimum of the training error
  over all single-tap moves?
- ``escape``: how many updates per edge does a schedule need, started from a state, to bring
  the training error below a threshold?

Units: voltages in V, errors in V^2, taps in positions (integers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import in_range
from ..callbacks import EarlyStop
from ..errors import ValidationError
from ..hardware import SteppedCoupledLearning
from ..measure import TaskSystem
from ..network import Network
from ..schedules import Schedule, steps_for
from ..tasks import Task
from ..train import train
from ._checks import _check_net_task, _check_stepped, _check_taps, _train_batch

__all__ = ["ERROR_TIE", "LocalMinimum", "escape", "local_minimum"]

#: Relative round-off below which two errors count as equal (a move must lower the error by
#: more than this fraction to make the state not a local minimum).
ERROR_TIE = 64 * np.finfo(float).eps


# ---------------------------------------------------------------------------- trap test
@dataclass(frozen=True)
class LocalMinimum:
    """The outcome of ``local_minimum``.

    Attributes
    ----------
    is_minimum : bool
        True when no single-tap move lowers the training error by more than round-off
        (``ERROR_TIE`` relative).
    error : float
        Training error of the state (V^2).
    best_error : float
        Lowest training error among the single-tap neighbours (V^2); ``nan`` if there are none.
    best_move : tuple of (int, int) or None
        ``(edge, +1 or -1)`` of that neighbour.
    n_improving : int
        Number of single-tap moves that lower the error by more than round-off.
    neighbour_errors : ndarray, shape (E, 2)
        Training error after moving edge ``j`` by ``-1`` (column 0) or ``+1`` (column 1); ``nan``
        where the move would leave ``[0, taps - 1]``.
    """

    is_minimum: bool
    error: float
    best_error: float
    best_move: tuple[int, int] | None
    n_improving: int
    neighbour_errors: np.ndarray = field(repr=False)


def local_minimum(
    net: Network, task: Task, rule: SteppedCoupledLearning, taps, batch=None
) -> LocalMinimum:
    """Is an integer tap state a local minimum of the training error over single-tap moves?

    Every neighbour ``s' = s + d e_j`` (edge ``j``, ``d`` = +1 or -1, kept only when
    ``0 <= s'_j <= taps - 1``) is settled and scored; the state is a discrete local minimum
    when ``min_{s'} C(s') >= C(s) (1 - ERROR_TIE)``, with ``C`` the task's mean squared error
    (V^2) of the free outputs over the chosen training examples and the conductances
    ``k = 1 / rule.resistance(s)`` (S; nominal tap size, ``tap_scale`` None).

    Parameters
    ----------
    net : Network
    task : Task
    rule : SteppedCoupledLearning
        Gives the number of taps and the resistance of each tap position.
    taps : array of int, shape (E,)
        The tap state, positions in ``[0, rule.taps - 1]``.
    batch : array of int, optional
        Indices of the training examples that define the error; None: all of them.

    Returns
    -------
    LocalMinimum

    Notes
    -----
    Costs ``2 E + 1`` settles of one ``TaskSystem``. An edge between two fixed nodes (it
    carries no learning signal) changes nothing, so its moves tie with the state.
    """
    _check_net_task(net, task)
    rule = _check_stepped(rule)
    s = _check_taps(taps, net.n_edges, rule.taps)
    x, y = _train_batch(task, batch)
    system = TaskSystem(net, task)

    def err(state: np.ndarray) -> float:
        system.settle(1.0 / rule.resistance(state))
        return float(task.error(system.outputs(x), y))

    e0 = err(s)
    nb = np.full((net.n_edges, 2), np.nan)
    for j in range(net.n_edges):
        for col, d in enumerate((-1, 1)):
            if 0 <= s[j] + d <= rule.taps - 1:
                moved = s.copy()
                moved[j] += d
                nb[j, col] = err(moved)
    finite = np.isfinite(nb)
    if not finite.any():
        return LocalMinimum(True, e0, float("nan"), None, 0, nb)
    j, col = np.unravel_index(np.nanargmin(nb), nb.shape)
    best = float(nb[j, col])
    improving = int(np.sum(nb[finite] < e0 * (1.0 - ERROR_TIE)))
    return LocalMinimum(
        is_minimum=improving == 0,
        error=e0,
        best_error=best,
        best_move=(int(j), -1 if col == 0 else 1),
        n_improving=improving,
        neighbour_errors=nb,
    )


# ---------------------------------------------------------------------------- escape test
def escape(
    net: Network,
    task: Task,
    rule: SteppedCoupledLearning,
    schedule: Schedule,
    taps,
    threshold: float,
    max_updates_per_edge: float,
    seed: int,
    batch_size: int | None = None,
    sampling: str = "epoch",
    record_every: int = 1,
) -> float | None:
    """Updates per edge until the training error first reaches ``threshold``, from ``taps``.

    Trains with ``circuitlearn.train`` from ``k0 = 1 / rule.resistance(taps)`` under
    ``schedule`` for at most ``steps_for(max_updates_per_edge, schedule, E)`` steps and stops
    at the first recorded step ``t`` with ``C(t) <= threshold`` (``callbacks.EarlyStop``).

    Parameters
    ----------
    net, task : Network, Task
    rule : SteppedCoupledLearning
    schedule : Schedule
    taps : array of int, shape (E,)
        Starting tap state (e.g. a synchronous run's final taps).
    threshold : float
        Training error to reach (V^2), e.g. 0.95 times the starting attractor's error.
    max_updates_per_edge : float
        Budget in expected updates per edge (> 0).
    seed : int
        The run's seed (its data order, schedule and rule streams).
    batch_size, sampling : as in ``train``
    record_every : int
        Steps between two checks of the error: the answer's resolution. Keep 1 (every step).

    Returns
    -------
    float or None
        Expected updates per edge (``rate * step``, the history's ``updates_per_edge``) at the
        first recorded step at or below ``threshold``; 0.0 if the start already is; None if the
        budget runs out first.
    """
    _check_net_task(net, task)
    rule = _check_stepped(rule)
    if not isinstance(schedule, Schedule):
        raise ValidationError(
            f"schedule must be a circuitlearn schedule; got {type(schedule).__name__}"
        )
    s = _check_taps(taps, net.n_edges, rule.taps)
    threshold = in_range("threshold", threshold, 0, None, high_open=True)
    k0 = 1.0 / rule.resistance(s)
    if not np.array_equal(rule.taps_for(k0), s):
        raise ValidationError(
            "taps do not survive the rule's round trip resistance -> taps_for; this rule's "
            "resistance map cannot be inverted at these taps"
        )
    budget = in_range(
        "max_updates_per_edge", max_updates_per_edge, 0, None, low_open=True, high_open=True
    )
    steps = steps_for(budget, schedule, net.n_edges)
    result = train(
        net,
        task,
        rule,
        schedule,
        steps=steps,
        batch_size=batch_size,
        k0=k0,
        seed=seed,
        record_every=record_every,
        sampling=sampling,
        progress=False,
        callback=EarlyStop(threshold),
    )
    last = result.history.iloc[-1]
    if float(last["train_error"]) <= threshold:
        return float(last["updates_per_edge"])
    return None
