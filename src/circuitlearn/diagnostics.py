"""Diagnostics of the learning mechanism: traps, escapes, exploration, function space and noise.

Each function answers one question that the error curves alone cannot (docs/diagnostics.md):

- ``local_minimum``: is an integer tap state a discrete local minimum of the training error
  over all single-tap moves?
- ``escape``: how many updates per edge does a schedule need, started from a state, to bring
  the training error below a threshold?
- ``best_visited``, ``saturation``, ``tap_msd``: what a recorded run visited, how much of it
  sat at an end tap, how far it moved in tap space per step.
- ``output_jacobian`` and ``function_space_covariance``: which conductance fluctuations the
  task sees (the range of ``J = dV_out/dk``) and which it does not (its null space).
- ``update_noise``: the relative variance of the displacement accumulated over ``tau`` updates
  per edge at a fixed state, for a schedule or a mini-batch: the quantity to match when
  comparing desynchronous and mini-batch noise.
- ``cluster_ci``: a cluster-bootstrap interval for designs where several seeds share one
  network.

Units: conductances in S, voltages in V, errors in V^2, taps in positions (integers).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._validation import check_conductances, finite_array, in_range
from .callbacks import EarlyStop
from .errors import ValidationError
from .hardware import SteppedCoupledLearning
from .loop import streams
from .measure import TaskSystem
from .network import Network
from .physics import LaplacianSolver
from .rules import Rule
from .sampling import Batches
from .schedules import Schedule, Synchronous, steps_for
from .signals import EdgeSignals, RuleState
from .tasks import Task
from .train import train

__all__ = [
    "FunctionSpaceCovariance",
    "LocalMinimum",
    "NoiseEstimate",
    "best_visited",
    "cluster_ci",
    "escape",
    "function_space_covariance",
    "local_minimum",
    "output_jacobian",
    "saturation",
    "tap_msd",
    "update_noise",
]

#: Relative round-off below which two errors count as equal (a move must lower the error by
#: more than this fraction to make the state not a local minimum).
ERROR_TIE = 64 * np.finfo(float).eps


# ---------------------------------------------------------------------------- checks
def _check_net_task(net, task) -> None:
    if not isinstance(net, Network):
        raise ValidationError(f"net must be a circuitlearn.Network; got {type(net).__name__}")
    if not isinstance(task, Task):
        raise ValidationError(f"task must be a circuitlearn.Task; got {type(task).__name__}")
    task.check_network(net)


def _check_stepped(rule) -> SteppedCoupledLearning:
    if not isinstance(rule, SteppedCoupledLearning):
        raise ValidationError(
            "rule must be a circuitlearn.SteppedCoupledLearning (its taps and resistance map "
            f"define the tap state); got {type(rule).__name__}"
        )
    return rule


def _check_taps(taps, n_edges: int, n_taps: int) -> np.ndarray:
    """``taps`` as an int64 (E,) array of positions in ``[0, n_taps - 1]``."""
    arr = finite_array("taps", taps, ndim=1)
    if arr.shape != (n_edges,):
        raise ValidationError(
            f"taps must have shape ({n_edges},), one position per edge; got {arr.shape}"
        )
    if not np.all(arr == np.round(arr)):
        raise ValidationError("taps must be integer tap positions; got non-integer values")
    bad = np.flatnonzero((arr < 0) | (arr > n_taps - 1))
    if bad.size:
        raise ValidationError(
            f"taps must lie in [0, {n_taps - 1}] (the rule's {n_taps} positions); "
            f"taps[{bad[0]}] = {arr[bad[0]]:g}"
        )
    return arr.astype(np.int64)


def _check_trajectory(name: str, traj) -> np.ndarray:
    arr = finite_array(name, traj, ndim=2)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValidationError(f"{name} must have at least one row and one edge; got {arr.shape}")
    return arr


def _train_batch(task: Task, batch) -> tuple[np.ndarray, np.ndarray]:
    """The training inputs and targets of ``batch`` (indices; None: all)."""
    if batch is None:
        return task.x_train, task.y_train
    idx = np.asarray(batch)
    m = len(task.x_train)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValidationError(
            f"batch must be a non-empty 1-D array of training-example indices; got {batch!r:.80}"
        )
    bad = idx[(idx < 0) | (idx >= m)]
    if bad.size:
        raise ValidationError(
            f"batch holds index(es) {bad.tolist()[:5]} outside the {m} training examples 0..{m - 1}"
        )
    return task.x_train[idx], task.y_train[idx]


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


# ---------------------------------------------------------------------------- trajectories
def best_visited(history: pd.DataFrame, metric: str = "train_error", tail: float | None = None):
    """The lowest value of ``metric`` over the recorded rows of a run: the quality of the best
    state it visited (as opposed to where it sits on average).

    Parameters
    ----------
    history : pandas.DataFrame
        A run's history (``TrainResult.history``).
    metric : str
        A history column (default ``"train_error"``, V^2).
    tail : float, optional
        Only the last fraction ``tail`` in (0, 1] of the rows (e.g. 0.25 for the last quarter);
        None: every row.

    Returns
    -------
    float
        ``min_t metric(t)``; ``history.loc[history[metric].idxmin()]`` gives its row.
    """
    if not isinstance(history, pd.DataFrame):
        raise ValidationError(
            "history must be a pandas DataFrame (TrainResult.history); got "
            f"{type(history).__name__}"
        )
    if metric not in history.columns:
        raise ValidationError(f"metric {metric!r} is not a history column: {list(history.columns)}")
    values = history[metric].to_numpy(dtype=float)
    if tail is not None:
        tail = in_range("tail", tail, 0, 1, low_open=True)
        values = values[len(values) - max(1, int(np.ceil(tail * len(values)))) :]
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValidationError(f"history column {metric!r} has no finite value")
    return float(values.min())


def saturation(taps_trajectory, taps: int) -> float:
    """Fraction of edge-time spent at an end tap.

    ``sat = (1 / (T E)) sum_{t, j} [s_j(t) = 0 or s_j(t) = taps - 1]`` over a recorded
    trajectory ``s`` (T rows, E edges).

    Parameters
    ----------
    taps_trajectory : array of int, shape (T, E)
        Tap positions, one row per recorded step (``TrainResult.trajectory["taps"]``).
    taps : int
        Number of tap positions of the rule (``rule.taps``).

    Returns
    -------
    float
        In [0, 1]. Edges that never learn (between two fixed nodes) count as not saturated.
    """
    traj = _check_trajectory("taps_trajectory", taps_trajectory)
    n = in_range("taps", taps, 2, None, integer=True)
    if traj.min() < 0 or traj.max() > n - 1:
        raise ValidationError(
            f"taps_trajectory holds positions outside [0, {n - 1}]: does taps={n} match the rule?"
        )
    return float(np.mean((traj == 0) | (traj == n - 1)))


def tap_msd(taps_trajectory, lags: int | Sequence[int] = 1):
    """Tap-space mean-squared displacement.

    ``MSD(l) = (1 / (T - l)) sum_{t=0}^{T-l-1} ||s(t + l) - s(t)||^2`` (taps^2): the squared
    Euclidean distance in tap space (summed over edges) between rows ``l`` apart, averaged
    over the trajectory.

    Parameters
    ----------
    taps_trajectory : array of int, shape (T, E)
        Tap positions, one row per recorded step.
    lags : int or sequence of int
        Lags in recorded rows (>= 1, < T). The lag unit is the recording interval: record every
        step (``train(..., record_state=True, record_every=1)``) to get the displacement per
        *step*; divide by E for the per-edge value.

    Returns
    -------
    float or ndarray
        ``MSD(lags)`` (taps^2), a float for an int ``lags``, else an array (L,).
    """
    traj = _check_trajectory("taps_trajectory", taps_trajectory)
    single = np.ndim(lags) == 0
    lag_list = [lags] if single else list(lags)
    if not lag_list:
        raise ValidationError("lags must name at least one lag")
    out = np.empty(len(lag_list))
    for i, lag in enumerate(lag_list):
        lag = in_range("lags", lag, 1, traj.shape[0] - 1, integer=True)
        d = traj[lag:] - traj[:-lag]
        out[i] = np.mean(np.sum(d**2, axis=1))
    return float(out[0]) if single else out


# ---------------------------------------------------------------------------- function space
def output_jacobian(net: Network, task: Task, k) -> np.ndarray:
    """``J = d V_out / d k`` over the training inputs, by the adjoint state.

    Differentiating the free state ``L[U,:] V = 0`` (``dL/dk_j = b_j b_j^T``) gives
    ``dV_U / dk_j = -L[U,U]^-1 b_jU dV^F_j``, so for output ``t`` and example ``m``

        J[m n_out + t, j] = -dV^F_j(x_m) * dU^(t)_j,

    where ``dV^F_j(x_m)`` is the free-state drop across edge ``j`` (V) and ``dU^(t)_j`` the drop
    (V/A) across edge ``j`` when 1 A is injected at output ``t`` with the inputs and ground at
    0 V (``U^(t) = L[U,U]^-1 e_t``).

    Parameters
    ----------
    net, task : Network, Task
    k : array, shape (E,)
        Conductances (S).

    Returns
    -------
    ndarray, shape (M * n_out, E)
        V/S; row ``m * n_out + t`` is output ``t`` of training example ``m``.
    """
    _check_net_task(net, task)
    k = check_conductances(k, net.n_edges)
    solver = LaplacianSolver(net, task.source_nodes)
    solver.set_conductances(k)
    m = len(task.x_train)
    fixed = np.zeros((m, task.source_nodes.size))
    fixed[:, : task.n_inputs] = task.x_train
    v = solver.settle(fixed)  # (M, N)
    a, b = net.edges[:, 0], net.edges[:, 1]
    drop_f = v[:, a] - v[:, b]  # (M, E)
    rhs = np.zeros((solver.free.size, task.n_outputs))
    rhs[solver.free_index[task.output_nodes], np.arange(task.n_outputs)] = 1.0
    u = np.zeros((net.n_nodes, task.n_outputs))
    u[solver.free] = solver.solve_reduced(rhs).reshape(solver.free.size, -1)
    drop_u = (u[a] - u[b]).T  # (n_out, E)
    return -(drop_f[:, None, :] * drop_u[None, :, :]).reshape(m * task.n_outputs, net.n_edges)


@dataclass(frozen=True)
class FunctionSpaceCovariance:
    """The outcome of ``function_space_covariance``.

    Attributes
    ----------
    cov_out : ndarray, shape (M * n_out, M * n_out)
        ``J Cov(k) J^T`` (V^2): the linearised covariance of the outputs over the training
        inputs.
    trace : float
        ``tr(cov_out)`` (V^2).
    rank : int
        Numerical rank of ``J`` (singular values above ``tol``).
    tol : float
        The rank tolerance used, ``max(M n_out, E) * eps * sigma_max`` (V/S).
    range_rms, null_rms : float
        Per-edge RMS conductance fluctuation (S) in the row space of ``J`` (what the outputs
        see) and in its null space (what they do not): ``sqrt(tr(P Cov(k)) / E)`` with ``P``
        the orthogonal projector on either; ``range_rms**2 + null_rms**2`` is the mean
        per-edge variance of ``k``.
    k_mean : ndarray, shape (E,)
        Mean of the samples (S), where ``J`` is evaluated.
    trace_settled : float
        ``tr`` of the sample covariance (ddof 1) of the settled outputs themselves (V^2), no
        linearisation: ``trace`` is close to it only while the fluctuations of ``k`` are small
        (not at coarse taps, where one tap can change a conductance several-fold).
    """

    cov_out: np.ndarray = field(repr=False)
    trace: float
    rank: int
    tol: float
    range_rms: float
    null_rms: float
    k_mean: np.ndarray = field(repr=False)
    trace_settled: float


def function_space_covariance(net: Network, task: Task, k_samples) -> FunctionSpaceCovariance:
    """Split the fluctuations of conductance samples into what the task's outputs see and
    what they do not.

    With ``K`` the samples (n, E), ``k_bar`` their mean, ``Cov(k)`` their covariance (ddof 1)
    and ``J = output_jacobian(net, task, k_bar)`` with SVD ``J = U S V^T``: the rows of ``V^T``
    whose singular value exceeds ``tol = max(M n_out, E) eps sigma_max`` span the range
    (rank ``r``), the rest of ``R^E`` is the null space of ``J``. Reported: the output-space
    covariance ``J Cov(k) J^T`` and its trace, the per-edge RMS of the fluctuations projected
    on the range and on the null space, and (as a check of the linearisation) the trace of the
    covariance of the settled outputs of the samples.

    Parameters
    ----------
    net, task : Network, Task
    k_samples : array, shape (n, E)
        Conductance states (S), n >= 2: e.g. final states over seeds, or a run's stationary
        window (``TrainResult.trajectory["k"]``).

    Returns
    -------
    FunctionSpaceCovariance
    """
    _check_net_task(net, task)
    ks = finite_array("k_samples", k_samples, ndim=2)
    if ks.shape[0] < 2 or ks.shape[1] != net.n_edges:
        raise ValidationError(
            f"k_samples must have shape (n >= 2, {net.n_edges}), one state per row; got {ks.shape}"
        )
    if (ks <= 0).any():
        raise ValidationError("k_samples must be strictly positive conductances (S)")
    k_mean = ks.mean(axis=0)
    jac = output_jacobian(net, task, k_mean)
    cov = np.atleast_2d(np.cov(ks, rowvar=False, ddof=1))
    _, sv, vt = np.linalg.svd(jac, full_matrices=True)
    tol = max(jac.shape) * np.finfo(float).eps * (sv[0] if sv.size else 0.0)
    rank = int(np.sum(sv > tol))
    rows = vt[:rank]  # (r, E) orthonormal basis of the row space
    range_var = float(np.trace(rows @ cov @ rows.T)) if rank else 0.0
    total_var = float(np.trace(cov))
    null_var = max(total_var - range_var, 0.0)
    e = net.n_edges
    cov_out = jac @ cov @ jac.T
    system = TaskSystem(net, task)
    outs = np.empty((ks.shape[0], jac.shape[0]))
    for i, kk in enumerate(ks):
        system.settle(kk)
        outs[i] = system.outputs(task.x_train).ravel()
    trace_settled = float(np.sum(np.var(outs, axis=0, ddof=1)))
    return FunctionSpaceCovariance(
        cov_out=cov_out,
        trace=float(np.trace(cov_out)),
        rank=rank,
        tol=float(tol),
        range_rms=float(np.sqrt(range_var / e)),
        null_rms=float(np.sqrt(null_var / e)),
        k_mean=k_mean,
        trace_settled=trace_settled,
    )


# ---------------------------------------------------------------------------- noise accounting
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


# ---------------------------------------------------------------------------- statistics
def cluster_ci(
    values,
    clusters,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    statistic: Callable[[np.ndarray], float] = np.mean,
) -> tuple[float, float, float]:
    """A cluster-bootstrap confidence interval, for designs where several values share a
    cluster (e.g. several training seeds on one network).

    Each bootstrap replicate draws ``G`` clusters with replacement out of the ``G`` present
    and pools all their values; the interval is the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` percentiles of ``statistic`` over ``n_boot`` replicates. Resampling
    whole clusters keeps the between-cluster variance, which resampling single values (or a
    t interval over all of them) would treat as independent and so underestimate.

    Parameters
    ----------
    values : array_like, shape (n,)
        Finite values (e.g. log error ratios).
    clusters : array_like, shape (n,)
        Cluster label of each value (any hashable numbers or strings).
    level : float
        Confidence level in (0, 1).
    n_boot : int
        Bootstrap replicates (>= 100).
    seed : int
        Seeds the resampling.
    statistic : callable
        Maps a 1-D array to a number (default ``np.mean``).

    Returns
    -------
    tuple of float
        ``(estimate, low, high)`` with ``estimate = statistic(values)``. With one cluster the
        between-cluster spread cannot be estimated and ``low, high`` are NaN.
    """
    v = finite_array("values", values, ndim=1)
    c = np.asarray(clusters)
    if c.shape != v.shape:
        raise ValidationError(
            f"clusters must have one label per value, shape {v.shape}; got {c.shape}"
        )
    if v.size == 0:
        raise ValidationError("values is empty: give at least one value")
    level = in_range("level", level, 0, 1, low_open=True, high_open=True)
    n_boot = in_range("n_boot", n_boot, 100, None, integer=True)
    seed = in_range("seed", seed, 0, None, integer=True)
    if not callable(statistic):
        raise ValidationError(f"statistic must be callable; got {statistic!r}")
    estimate = float(statistic(v))
    _, inverse = np.unique(c, return_inverse=True)
    groups = [v[inverse == g] for g in range(inverse.max() + 1)]
    n_groups = len(groups)
    if n_groups < 2:
        return estimate, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_groups, (n_boot, n_groups))
    boot = np.empty(n_boot)
    if statistic is np.mean:  # pooled mean = sum of picked cluster sums / picked sizes
        sums = np.array([g.sum() for g in groups])
        sizes = np.array([g.size for g in groups], float)
        boot = sums[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    else:
        for b in range(n_boot):
            boot[b] = statistic(np.concatenate([groups[g] for g in picks[b]]))
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return estimate, float(low), float(high)
