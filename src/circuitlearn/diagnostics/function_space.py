"""Which conductance fluctuations a task sees, and which it does not.

``output_jacobian`` gives ``J = dV_out/dk`` over the training inputs (its range is what the
task sees); ``function_space_covariance`` projects the covariance of conductance samples onto
that range and onto its null space.

Units: conductances in S, voltages in V.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_conductances, finite_array
from ..errors import ValidationError
from ..measure import TaskSystem
from ..network import Network
from ..physics import LaplacianSolver
from ..tasks import Task
from ._checks import _check_net_task

__all__ = ["FunctionSpaceCovariance", "function_space_covariance", "output_jacobian"]


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
