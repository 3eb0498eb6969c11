"""Free and clamped states of a task, and what every edge measures in them (DESIGN §4, §8).

Everything is linear in the boundary data ``z = (x, y)`` (V), so one factorisation of the free
system and ``n_in + n_out`` solves give every edge's drop as a row vector acting on ``z``:

- free: ``dV^F = P_x x`` with ``P_x = B_U R + B_I`` (``R``: free-node response to the inputs);
- clamped (outputs ``T`` held at ``V^F_T + eta (y - V^F_T)``):
  ``dV^C = dV^F + eta G (y - R_T x)`` with ``G = B_U Z Z_TT^-1`` and ``Z = L[U,U]^-1 E_T``;
- adjoint of ``C = mean((V_T - y)**2)``: ``dlambda = (2 / n_out) B_U Z (R_T x - y)`` and
  ``dC/dk_j = -mean(dV^F_j dlambda_j)``.

A batch's mean of squared drops is then a quadratic form in its second-moment matrix of ``z``:
the cost of a full-batch step does not grow with the number of examples.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .network import Network
from .physics import LaplacianSolver
from .rules import EdgeSignals
from .tasks import Task


class TaskSystem:
    """The free-state solver of ``net`` for ``task``'s inputs and ground, with the per-edge
    linear maps of one conductance vector.

    Parameters
    ----------
    net, task
    backend : str
        Factorisation backend, see ``physics.LaplacianSolver``.
    """

    def __init__(self, net: Network, task: Task, backend: str = "auto"):
        task.check_network(net)
        self.net, self.task = net, task
        self.solver = LaplacianSolver(net, task.source_nodes, backend=backend)
        s = self.solver
        self.t_pos = s.free_index[task.output_nodes]
        n_in, n_out = task.n_inputs, task.n_outputs
        b = net.incidence.tocsc()
        self.b_free = b[:, s.free].tocsr()
        self.b_in = b[:, task.input_nodes].toarray()
        # -L[U, inputs] picks the first n_in fixed columns (sources = inputs then ground).
        self._in_cols = np.arange(n_in)
        self._unit_t = sp.csr_matrix(
            (np.ones(n_out), (self.t_pos, np.arange(n_out))), shape=(s.free.size, n_out)
        ).toarray()
        self.dim = n_in + n_out

    def settle(self, k: np.ndarray) -> None:
        """Factor for conductances ``k`` (S) and compute the response maps."""
        s = self.solver
        s._set(k)
        n_in = self.task.n_inputs
        rhs = np.concatenate([s.coupling()[:, self._in_cols].toarray(), self._unit_t], axis=1)
        sol = s.solve_reduced(rhs).reshape(s.free.size, -1)
        self.R = sol[:, :n_in]  # (n_U, n_in): free voltages per volt on each input
        self.Z = sol[:, n_in:]  # (n_U, n_out): free voltages per ampere into each output
        self.R_T = self.R[self.t_pos]  # (n_out, n_in)
        self.Z_TT = self.Z[self.t_pos]  # (n_out, n_out), SPD
        self.P_x = self.b_free @ self.R + self.b_in  # (E, n_in)
        self._bz = self.b_free @ self.Z  # (E, n_out)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """Free-state output voltages (M, n_out) for inputs ``x`` (M, n_in)."""
        return x @ self.R_T.T

    def maps(self, eta: float, clamped: bool = True, gradient: bool = False):
        """Per-edge linear maps acting on ``z = (x, y)``: free, clamped and adjoint drops.

        Returns ``(P_f, P_c, P_g)``, each (E, n_in + n_out) or None.
        """
        n_out = self.task.n_outputs
        zeros = np.zeros((self.P_x.shape[0], n_out))
        p_f = np.concatenate([self.P_x, zeros], axis=1)
        p_c = p_g = None
        if clamped:
            g = eta * np.linalg.solve(self.Z_TT, self._bz.T).T  # eta * B_U Z Z_TT^-1 (Z_TT sym.)
            p_c = np.concatenate([self.P_x - g @ self.R_T, g], axis=1)
        if gradient:
            w = (2.0 / n_out) * self._bz
            p_g = np.concatenate([w @ self.R_T, -w], axis=1)
        return p_f, p_c, p_g

    def signals(
        self,
        x: np.ndarray,
        y: np.ndarray,
        eta: float,
        clamped: bool = True,
        gradient: bool = False,
        examples: bool = False,
    ) -> EdgeSignals:
        """What each edge measures for the batch ``(x, y)`` of shape (b, n_in), (b, n_out)."""
        p_f, p_c, p_g = self.maps(eta, clamped, gradient)
        z = np.concatenate([x, y], axis=1)
        b = z.shape[0]
        if examples or b <= self.dim:
            d_f = z @ p_f.T  # (b, E)
            d_c = None if p_c is None else z @ p_c.T
            return EdgeSignals(
                free_sq=np.mean(d_f**2, axis=0),
                clamped_sq=None if d_c is None else np.mean(d_c**2, axis=0),
                grad=None if p_g is None else -np.mean(d_f * (z @ p_g.T), axis=0),
                free=d_f if examples else None,
                clamped=d_c if examples else None,
            )
        m = (z.T @ z) / b  # second moments (d, d)
        f_m = p_f @ m
        return EdgeSignals(
            free_sq=np.einsum("ed,ed->e", f_m, p_f),
            clamped_sq=None if p_c is None else np.einsum("ed,ed->e", p_c @ m, p_c),
            grad=None if p_g is None else -np.einsum("ed,ed->e", f_m, p_g),
        )
