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
from .signals import EdgeSignals
from .tasks import Task


class TaskSystem:
    """The free-state solver of ``net`` for ``task``'s inputs and ground, with the per-edge
    linear maps of one conductance vector.

    Parameters
    ----------
    net, task
    backend : str
        Factorisation backend, see ``physics.LaplacianSolver``.

    Notes
    -----
    ``settle`` costs one numeric refactorisation (or a rank-r update, or nothing when no
    conductance changed) and one solve with ``n_in + n_out`` right-hand sides; every per-edge
    quantity is then a difference of the solution at the edge's two ends. The per-edge work
    array of the signals is reused from step to step (fresh large temporaries cost page faults
    at every step) and kept edge-last, ``(rows, E)``, where the reductions are fastest.
    """

    def __init__(self, net: Network, task: Task, backend: str = "auto"):
        task.check_network(net)
        self.net, self.task = net, task
        self.solver = LaplacianSolver(net, task.source_nodes, backend=backend)
        s = self.solver
        self.t_pos = s.free_index[task.output_nodes]
        n_in, n_out = task.n_inputs, task.n_outputs
        self.dim = d = n_in + n_out
        self._b_csc = net.incidence.tocsc()
        self._b_free = None
        # Input couplings: rhs[u, c] = k_j for each edge j joining free node u to input c
        # (sources are the inputs, then ground; ground columns carry 0 V and drop out).
        src = s.boundary_fixed < n_in
        self._cin_u, self._cin_c, self._cin_e = (
            s.boundary_free[src],
            s.boundary_fixed[src],
            s.boundary_edge[src],
        )
        self._rhs = np.zeros((s.free.size, d), order="F")
        self._rhs[self.t_pos, n_in + np.arange(n_out)] = 1.0
        # Response of every node per unit boundary value, nodes in solver order (free nodes,
        # then the fixed ones) so that a solve lands in one block: ``_vfull`` (N, d); each
        # input is 1 V on its own column (sources are the inputs, then ground).
        nu = s.free.size
        order = np.concatenate([s.free, s.fixed])
        self._vfull = np.zeros((net.n_nodes, d))
        self._vfull[nu + np.arange(n_in), np.arange(n_in)] = 1.0
        pos = np.empty(net.n_nodes, np.int64)
        pos[order] = np.arange(net.n_nodes)
        self._ea, self._eb = pos[net.edges[:, 0]], pos[net.edges[:, 1]]
        self._b_perm = self._b_csc[:, order].tocsr()  # incidence, columns in solver order
        self._drops = None
        self._work = np.empty((0, net.n_edges))  # coefficient blocks applied to D^T
        self._coef = {}
        self._zkey = None
        self._settled = False

    @property
    def b_free(self) -> sp.csr_matrix:
        """Incidence restricted to the free nodes (E, n_U)."""
        if self._b_free is None:
            self._b_free = self._b_csc[:, self.solver.free].tocsr()
        return self._b_free

    @property
    def b_in(self) -> np.ndarray:
        """Incidence restricted to the input nodes (E, n_in), dense."""
        return self._b_csc[:, self.task.input_nodes].toarray()

    def settle(self, k: np.ndarray) -> None:
        """Factor for conductances ``k`` (S) and compute the response maps."""
        s = self.solver
        if not s.update(k) and self._settled:
            return  # nothing changed: the maps of the previous settle still hold
        n_in = self.task.n_inputs
        rhs = self._rhs
        if self._cin_e.size:
            rhs[self._cin_u, self._cin_c] = s.k[self._cin_e]
        sol = s.solve_reduced(rhs).reshape(s.free.size, -1)
        self.R = sol[:, :n_in]  # (n_U, n_in): free voltages per volt on each input
        self.Z = sol[:, n_in:]  # (n_U, n_out): free voltages per ampere into each output
        self.R_T = self.R[self.t_pos]  # (n_out, n_in)
        self.Z_TT = self.Z[self.t_pos]  # (n_out, n_out), SPD
        self._vfull[: s.free.size] = sol
        self._drops = None
        self._coef = {}
        self._settled = True

    def _drops_t(self, edges: np.ndarray | None) -> np.ndarray:
        """``D^T = [P_x | B_U Z]^T`` (n_in + n_out, E or r): each edge's drop per volt on each
        input and per ampere into each output; every map below is ``D @ C`` for a small
        ``C`` (d, d)."""
        v = self._vfull
        if edges is not None:
            return (v[self._ea[edges]] - v[self._eb[edges]]).T
        if self._drops is None:
            self._drops = self._b_perm @ v  # (E, d)
        return self._drops.T

    @property
    def P_x(self) -> np.ndarray:
        """Free drops per volt on each input, ``B_U R + B_I`` (E, n_in)."""
        return self._drops_t(None)[: self.task.n_inputs].T

    @property
    def _bz(self) -> np.ndarray:
        return self._drops_t(None)[self.task.n_inputs :].T

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """Free-state output voltages (M, n_out) for inputs ``x`` (M, n_in)."""
        return x @ self.R_T.T

    def _coefficients(self, eta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(C_f, C_c, C_g)`` (d, d) with free, clamped and adjoint maps ``D @ C``."""
        got = self._coef.get(eta)
        if got is not None:
            return got
        n_in, n_out = self.task.n_inputs, self.task.n_outputs
        d = self.dim
        c_f = np.zeros((d, d))
        c_f[:n_in, :n_in] = np.eye(n_in)
        # clamped: P_x - g R_T on x and g on y, with g = eta B_U Z Z_TT^-1 (Z_TT symmetric)
        zi = eta * np.linalg.inv(self.Z_TT)
        c_c = c_f.copy()
        c_c[n_in:, :n_in] = -zi @ self.R_T
        c_c[n_in:, n_in:] = zi
        # adjoint: (2 / n_out) B_U Z (R_T x - y)
        c_g = np.zeros((d, d))
        c_g[n_in:, :n_in] = (2.0 / n_out) * self.R_T
        c_g[n_in:, n_in:] = -(2.0 / n_out) * np.eye(n_out)
        self._coef[eta] = got = (c_f, c_c, c_g)
        return got

    def maps(
        self,
        eta: float,
        clamped: bool = True,
        gradient: bool = False,
        edges: np.ndarray | None = None,
    ):
        """Per-edge linear maps acting on ``z = (x, y)``: free, clamped and adjoint drops.

        Returns ``(P_f, P_c, P_g)``, each (E, n_in + n_out) or None; with ``edges`` (an index
        array) only those edges' rows.
        """
        dt = self._drops_t(edges)
        c_f, c_c, c_g = self._coefficients(eta)
        return (
            (c_f.T @ dt).T,
            (c_c.T @ dt).T if clamped else None,
            (c_g.T @ dt).T if gradient else None,
        )

    def _factor_z(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``F`` (d, q) with ``F F^T = z^T z / b`` for ``z = (x, y)``, from a thin QR of ``z``
        (no squaring of the data); cached while the same batch comes back."""
        z = np.concatenate([x, y], axis=1)
        key = self._zkey
        if key is not None and key[0].shape == z.shape and np.array_equal(key[0], z):
            return key[1]
        f = np.linalg.qr(z, mode="r").T / np.sqrt(z.shape[0])
        self._zkey = (z, f)
        return f

    def signals(
        self,
        x: np.ndarray,
        y: np.ndarray,
        eta: float,
        clamped: bool = True,
        gradient: bool = False,
        examples: bool = False,
        edges: np.ndarray | None = None,
    ) -> EdgeSignals:
        """What each edge measures for the batch ``(x, y)`` of shape (b, n_in), (b, n_out).

        Without per-example drops the batch enters only through its second moments
        ``z^T z / b = F F^T``: each mean square is the squared norm of a column of
        ``F^T C^T D^T`` (q, E), q <= n_in + n_out, whatever the batch size.

        With ``edges`` (an index array) only those edges are computed; the others read 0 in
        every returned array (for a rule that only updates those edges).
        """
        dt = self._drops_t(edges)
        c_f, c_c, c_g = self._coefficients(eta)
        if examples:
            z = np.concatenate([x, y], axis=1)
            d_f = (z @ c_f.T) @ dt  # (b, E)
            d_c = (z @ c_c.T) @ dt if clamped else None
            sig = EdgeSignals(
                free_sq=np.mean(d_f**2, axis=0),
                clamped_sq=None if d_c is None else np.mean(d_c**2, axis=0),
                grad=None if not gradient else -np.mean(d_f * ((z @ c_g.T) @ dt), axis=0),
                free=d_f,
                clamped=d_c,
            )
        else:
            f = self._factor_z(x, y)
            q = f.shape[1]
            blocks = [c_f @ f] + ([c_c @ f] if clamped else []) + ([c_g @ f] if gradient else [])
            kt = np.concatenate(blocks, axis=1).T  # (nb * q, d)
            if edges is None:
                if self._work.shape[0] < kt.shape[0]:
                    self._work = np.empty((kt.shape[0], dt.shape[1]))
                w = np.matmul(kt, dt, out=self._work[: kt.shape[0]])
            else:
                w = kt @ dt
            grad = None
            if gradient:
                grad = -np.einsum("qe,qe->e", w[:q], w[-q:])
            sq = np.square(w[: (1 + clamped) * q], out=w[: (1 + clamped) * q])
            sig = EdgeSignals(
                free_sq=sq[:q].sum(axis=0),
                clamped_sq=sq[q : 2 * q].sum(axis=0) if clamped else None,
                grad=grad,
            )
        return sig if edges is None else _scatter(sig, edges, self.net.n_edges)


def _scatter(sig: EdgeSignals, edges: np.ndarray, n_edges: int) -> EdgeSignals:
    """Full-length signals, zero outside ``edges``."""

    def full(a):
        if a is None:
            return None
        out = np.zeros(a.shape[:-1] + (n_edges,))
        out[..., edges] = a
        return out

    return EdgeSignals(**{name: full(v) for name, v in vars(sig).items()})
