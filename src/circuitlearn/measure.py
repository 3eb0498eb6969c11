"""The response kernel: free and clamped states of a task, and what every edge measures in them,
for R >= 1 replicas at once (docs/design.md §4, §8).

Everything is linear in the boundary data ``z = (x, y)`` (V), so one factorisation of the free
system and ``n_in + n_out`` solves give every edge's drop as a row vector acting on ``z``:

- free: ``dV^F = P_x x`` with ``P_x = B_U R + B_I`` (``R``: free-node response to the inputs);
- clamped (outputs ``T`` held at ``V^F_T + eta (y - V^F_T)``):
  ``dV^C = dV^F + eta G (y - R_T x)`` with ``G = B_U Z Z_TT^-1`` and ``Z = L[U,U]^-1 E_T``;
- adjoint of ``C = mean((V_T - y)**2)``: ``dlambda = (2 / n_out) B_U Z (R_T x - y)`` and
  ``dC/dk_j = -mean(dV^F_j dlambda_j)``.

A batch's mean of squared drops is then a quadratic form in its second-moment matrix of ``z``:
the cost of a full-batch step does not grow with the number of examples.

Two ways to settle, one algebra: a single replica on a sparse (or dense) factor with pattern
reuse and rank-r updates (``circuitlearn.backends``), or R replicas of one shape on a stacked
factor with a leading replica axis (``circuitlearn.stacked``). Every map below carries that
replica axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from .errors import ValidationError
from .network import Network
from .physics import LaplacianSolver
from .signals import EdgeSignals
from .stacked import BatchedLDL, StackedDense
from .tasks import Task

#: Backends that factor many replicas at once (``circuitlearn.stacked``).
STACKED_BACKENDS = ("batched-ldl", "stacked-dense")


def same_roles(a: Task, b: Task) -> bool:
    """True when two tasks fix the same nodes in the same roles."""
    return all(
        np.array_equal(getattr(a, f), getattr(b, f))
        for f in ("input_nodes", "output_nodes", "ground_nodes")
    )


class TaskSystem:
    """Free-state solver(s) of a task and the per-edge linear maps of the current conductances.

    Parameters
    ----------
    net : Network or sequence of Network
        One network, or one per replica (all of one shape: nodes, edges, roles' sizes).
    task : Task or sequence of Task
        One task, or one per replica.
    backend : str
        ``"auto"``, a single-system backend (``"dense"``, ``"qdldl"``, ``"splu"``,
        ``"cholmod"``; one replica only) or a stacked one (``"batched-ldl"``, ``"stacked-dense"``).
        ``"auto"`` with several replicas: batched LDL when they share network and roles, else
        stacked dense.

    Notes
    -----
    Built from one network and one task, the public methods return arrays without the replica
    axis (``outputs`` (M, n_out), ``signals`` (E,)); built from sequences they keep it.
    ``settle`` costs one numeric refactorisation (or a rank-r update, or nothing when no
    conductance changed) and one solve with ``n_in + n_out`` right-hand sides per replica.
    """

    def __init__(
        self,
        net: Network | Sequence[Network],
        task: Task | Sequence[Task],
        backend: str = "auto",
    ):
        self.squeeze = isinstance(net, Network) and isinstance(task, Task)
        nets = [net] if isinstance(net, Network) else list(net)
        tasks = [task] if isinstance(task, Task) else list(task)
        if len(nets) == 1 and len(tasks) > 1:
            nets = nets * len(tasks)
        if len(tasks) == 1 and len(nets) > 1:
            tasks = tasks * len(nets)
        if len(nets) != len(tasks):
            raise ValidationError(f"{len(nets)} networks but {len(tasks)} tasks: give one each")
        for n_, t_ in {(id(a), id(b)): (a, b) for a, b in zip(nets, tasks, strict=True)}.values():
            t_.check_network(n_)  # once per distinct pair: stacks often share both
            if t_.readout != "voltage":
                raise ValidationError(
                    f"task {t_.name!r} has readout={t_.readout!r}; the response-map kernel of "
                    "linear networks reads output voltages: use readout='voltage', or a network "
                    "with diode or transistor edges (the Newton kernel reads differences)"
                )
        self.nets, self.tasks = nets, tasks
        self.net, self.task = nets[0], tasks[0]
        self.n_replicas = rr = len(nets)
        shared = all(n_ is nets[0] for n_ in nets) and all(same_roles(t, tasks[0]) for t in tasks)
        self.shared = shared
        stacked = backend in STACKED_BACKENDS or (backend == "auto" and rr > 1)
        if rr > 1 and not stacked:
            raise ValidationError(
                f"backend {backend!r} factors one network; with {rr} replicas use 'auto' or "
                f"one of {list(STACKED_BACKENDS)}"
            )
        uniq = [0] if shared else range(rr)
        solver_backend = "dense" if stacked else backend  # stacked: the solver gives structure
        self.solvers = [
            LaplacianSolver(nets[r], tasks[r].source_nodes, backend=solver_backend) for r in uniq
        ]
        self.solver = self.solvers[0]
        s = self.solver
        self.n_in, self.n_out = n_in, n_out = self.task.n_inputs, self.task.n_outputs
        self.dim = d = n_in + n_out
        self.nu = nu = s.free.size
        self.n_edges = e = self.net.n_edges
        n_nodes = self.net.n_nodes
        for t in tasks:
            if (t.n_inputs, t.n_outputs, t.source_nodes.size) != (n_in, n_out, s.fixed.size):
                raise ValidationError("every replica's task must have the same numbers of roles")
        # per structure: output rows, input couplings and edge ends in solver order (free
        # nodes, then the fixed ones: inputs, then ground)
        t_pos, cin, ends = [], [], []
        for sv, t in zip(self.solvers, [tasks[r] for r in uniq], strict=True):
            if sv.free.size != nu or sv.net.n_edges != e or sv.net.n_nodes != n_nodes:
                raise ValidationError("every replica's network must have the same shape")
            t_pos.append(sv.free_index[t.output_nodes])
            src = sv.boundary_fixed < n_in  # ground columns carry 0 V and drop out
            cin.append((sv.boundary_free[src], sv.boundary_fixed[src], sv.boundary_edge[src]))
            pos = np.empty(n_nodes, np.int64)
            pos[np.concatenate([sv.free, sv.fixed])] = np.arange(n_nodes)
            ends.append((pos[sv.net.edges[:, 0]], pos[sv.net.edges[:, 1]]))
        self.t_pos = np.stack(t_pos)  # (R|1, n_out)
        self._ea = np.stack([a for a, _ in ends])  # (R|1, E)
        self._eb = np.stack([b for _, b in ends])
        self._cin = cin
        if stacked:
            name = backend if backend != "auto" else ("batched-ldl" if shared else "stacked-dense")
            if name == "batched-ldl" and not shared:
                raise ValidationError(
                    "backend 'batched-ldl' needs every replica on one network with the same "
                    "node roles; use 'stacked-dense'"
                )
            patterns = [sv.pattern for sv in self.solvers]
            if name == "batched-ldl":
                self.factor = BatchedLDL(patterns[0], rr)
            else:
                self.factor = StackedDense(patterns, rr)
            self._asm, self._width = self._stacked_assembly()
        else:
            self.factor = None
            # the network's incidence, columns in solver order (free, then fixed nodes)
            order = np.concatenate([s.free, s.fixed])
            self._b_perm = self.net.incidence.tocsc()[:, order].tocsr()
        self.backend = self.factor.name if stacked else s.factor.name if s.factor else "none"
        # node responses per unit boundary value, solver order, (R, N, d): each input is 1 V
        # on its own column
        self._v = np.zeros((rr, n_nodes, d))
        self._v[:, nu + np.arange(n_in), np.arange(n_in)] = 1.0
        self._rhs = np.zeros((rr, nu, d))
        self._rhs[np.arange(rr)[:, None], self.t_pos, n_in + np.arange(n_out)] = 1.0
        self._rhs_f = np.asfortranarray(self._rhs[0])  # column solves of one sparse factor
        self.R_T = np.zeros((rr, n_out, n_in))  # free output volts per input volt
        self.Z_TT = np.zeros((rr, n_out, n_out))  # output volts per output ampere, SPD
        self._drops: np.ndarray | None = None
        self._work = np.empty((rr, 0, e))
        self._coef: dict = {}
        self._c_f = np.zeros((rr, d, d))
        self._c_f[:, np.arange(n_in), np.arange(n_in)] = 1.0
        self._c_g = np.zeros((rr, d, d))
        self._c_g[:, n_in:, n_in:] = -(2.0 / n_out) * np.eye(n_out)
        self._zkey = None
        self._settled = False

    # ------------------------------------------------------------------ settling
    def _stacked_assembly(self) -> tuple[sp.csr_matrix, int]:
        """Sparse map from conductances to [factor data | input couplings] of every replica
        (shared structure (rows, E); otherwise block-diagonal (R * rows, R * E), padded), and
        the width of the factor-data part."""
        nu, n_in = self.nu, self.n_in
        width = max(sv.data_map.shape[0] for sv in self.solvers)
        blocks = []
        for sv, (u, c, j) in zip(self.solvers, self._cin, strict=True):
            dm = sv.data_map.tocoo()
            rows = np.r_[dm.row, width + u * n_in + c]
            cols = np.r_[dm.col, j]
            vals = np.r_[dm.data, np.ones(j.size)]
            blocks.append(
                sp.csr_matrix((vals, (rows, cols)), shape=(width + nu * n_in, self.n_edges))
            )
        asm = blocks[0] if len(blocks) == 1 else sp.block_diag(blocks, format="csr")
        return asm, width

    def settle(self, k: np.ndarray, rows: np.ndarray | None = None) -> None:
        """Factor for conductances ``k`` (S): (E,) or (R, E); with ``rows`` (R',) only those
        replicas, ``k`` (R', E)."""
        k = np.asarray(k, dtype=np.float64)
        if k.ndim == 1:
            k = k[None]
        nu, n_in = self.nu, self.n_in
        if self.factor is None:  # one replica on a single-system factor
            s = self.solver
            if not s.update(k[0]) and self._settled:
                return  # nothing changed: the maps of the previous settle still hold
            rhs = self._rhs_f
            u, c, j = self._cin[0]
            if j.size:
                rhs[u, c] = s.k[j]
            sol = s.solve_reduced(rhs).reshape(nu, -1)[None]
        else:
            rr = k.shape[0]
            if self.shared:
                flat = (self._asm @ k.T).T  # (R', rows)
            else:
                full = np.zeros((self.n_replicas, self.n_edges))
                full[rows if rows is not None else slice(None)] = k
                flat = (self._asm @ full.ravel()).reshape(self.n_replicas, -1)
                if rows is not None:
                    flat = flat[rows]
            self.factor.refactor(flat[:, : self._width], rows)
            rhs = self._rhs if rows is None else self._rhs[rows]
            rhs[:, :, :n_in] = flat[:, self._width :].reshape(rr, nu, n_in)
            sol = self.factor.solve(rhs, rows)
        sel = slice(None) if rows is None else rows
        self._v[sel, :nu] = sol
        if self.t_pos.shape[0] == 1:
            at_t = sol[:, self.t_pos[0]]
        else:
            tp = self.t_pos if rows is None else self.t_pos[rows]
            at_t = np.take_along_axis(sol, tp[:, :, None], axis=1)
        self.R_T[sel] = at_t[:, :, :n_in]
        self.Z_TT[sel] = at_t[:, :, n_in:]
        self._drops = None
        self._coef = {}
        self._settled = True

    def invalidate(self) -> None:
        """Refactor from scratch at the next ``settle`` (see ``LaplacianSolver.invalidate``)."""
        for sv in self.solvers:
            sv.invalidate()
        self._settled = False

    def _drops_t(self, rows=None, edges: np.ndarray | None = None) -> np.ndarray:
        """``D^T = [P_x | B_U Z]^T`` (R', d, E or r): each edge's drop per volt on each input
        and per ampere into each output; every map below is ``C^T D^T`` for a small ``C``."""
        if self.factor is None:
            v = self._v[0]
            if edges is not None:
                return (v[self._ea[0, edges]] - v[self._eb[0, edges]]).T[None]
            if self._drops is None:
                self._drops = (self._b_perm @ v).T[None]  # (1, d, E)
            return self._drops
        if self._drops is None:
            vt = np.swapaxes(self._v, 1, 2)  # (R, d, N)
            if self._ea.shape[0] == 1:
                self._drops = vt[:, :, self._ea[0]] - vt[:, :, self._eb[0]]
            else:
                ea, eb = self._ea[:, None, :], self._eb[:, None, :]
                self._drops = np.take_along_axis(vt, ea, 2) - np.take_along_axis(vt, eb, 2)
        return self._drops if rows is None else self._drops[rows]

    # ------------------------------------------------------------------ readouts
    def outputs(self, x: np.ndarray, rows=None) -> np.ndarray:
        """Free-state output voltages for inputs ``x``: (M, n_in) or (R|1, M, n_in) ->
        (R', M, n_out), or (M, n_out) for a single-replica system."""
        r_t = self.R_T if rows is None else self.R_T[rows]
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2 or x.shape[0] == 1:
            x2 = x if x.ndim == 2 else x[0]
            n, n_out, n_in = r_t.shape
            flat = x2 @ r_t.transpose(2, 0, 1).reshape(n_in, n * n_out)  # one product
            out = flat.reshape(-1, n, n_out).transpose(1, 0, 2)
        else:
            out = x @ np.swapaxes(r_t, 1, 2)
        return out[0] if self.squeeze else out

    def coefficients(self, eta: float, rows=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(C_f, C_c, C_g)`` (R', d, d): free, clamped and adjoint maps ``C^T D^T``."""
        key = (eta, None if rows is None else rows.tobytes())
        got = self._coef.get(key)
        if got is not None:
            return got
        n_in, n_out = self.n_in, self.n_out
        r_t = self.R_T if rows is None else self.R_T[rows]
        z_tt = self.Z_TT if rows is None else self.Z_TT[rows]
        rr = r_t.shape[0]
        c_f = self._c_f[:rr]  # constant: the free drops are P_x x
        # clamped: P_x - g R_T on x and g on y, with g = eta B_U Z Z_TT^-1 (Z_TT symmetric)
        zi = eta * np.linalg.inv(z_tt)
        c_c = c_f.copy()
        c_c[:, n_in:, :n_in] = -zi @ r_t
        c_c[:, n_in:, n_in:] = zi
        # adjoint: (2 / n_out) B_U Z (R_T x - y)
        c_g = self._c_g[:rr].copy()
        c_g[:, n_in:, :n_in] = (2.0 / n_out) * r_t
        self._coef[key] = got = (c_f, c_c, c_g)
        return got

    def _factor_z(self, z: np.ndarray) -> np.ndarray:
        """``F`` (R|1, d, q) with ``F F^T = z^T z / b`` per replica, from a thin QR of ``z``
        (no squaring of the data); cached while the same batch comes back."""
        key = self._zkey
        if key is not None and key[0].shape == z.shape and np.array_equal(key[0], z):
            return key[1]
        f = np.swapaxes(np.linalg.qr(z, mode="r"), -1, -2) / np.sqrt(z.shape[-2])
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
        rows: np.ndarray | None = None,
    ) -> EdgeSignals:
        """What each edge measures for the batch ``(x, y)``: (b, n_in), (b, n_out), or with a
        replica axis (R'|1, b, ...).

        Without per-example drops the batch enters only through its second moments
        ``z^T z / b = F F^T``: each mean square is the squared norm of a column of
        ``F^T C^T D^T`` (q, E), q <= n_in + n_out, whatever the batch size.

        ``edges`` (single replica): only those edges are computed, the others read 0.
        ``rows``: only those replicas (their signals, in that order).
        """
        z = np.concatenate([np.asarray(x, float), np.asarray(y, float)], axis=-1)
        if z.ndim == 2:
            z = z[None]
        dt = self._drops_t(rows, edges)  # (R', d, E')
        c_f, c_c, c_g = self.coefficients(eta, rows)
        tr = np.swapaxes
        if examples:
            d_f = (z @ tr(c_f, 1, 2)) @ dt  # (R', b, E')
            d_c = (z @ tr(c_c, 1, 2)) @ dt if clamped else None
            grad = None
            if gradient:
                grad = -np.mean(d_f * ((z @ tr(c_g, 1, 2)) @ dt), axis=1)
            sig = EdgeSignals(
                free_sq=np.mean(d_f**2, axis=1),
                clamped_sq=None if d_c is None else np.mean(d_c**2, axis=1),
                grad=grad,
                free=d_f,
                clamped=d_c,
            )
        else:
            f = self._factor_z(z)  # (R'|1, d, q)
            q = f.shape[-1]
            blocks = [c_f @ f] + ([c_c @ f] if clamped else []) + ([c_g @ f] if gradient else [])
            kt = tr(np.concatenate(blocks, axis=2), 1, 2)  # (R', nb * q, d)
            shape = (dt.shape[0], kt.shape[1], dt.shape[2])
            if edges is None and rows is None:
                # the per-edge work array is reused: fresh large temporaries cost page faults
                if self._work.shape[1] < shape[1] or self._work.shape[0] != shape[0]:
                    self._work = np.empty(shape)
                w = np.matmul(kt, dt, out=self._work[:, : shape[1]])
            else:
                w = kt @ dt
            grad = None
            if gradient:
                grad = -np.einsum("rqe,rqe->re", w[:, :q], w[:, -q:])
            n_sq = (1 + clamped) * q
            sq = np.square(w[:, :n_sq], out=w[:, :n_sq])
            sig = EdgeSignals(
                free_sq=sq[:, :q].sum(axis=1),
                clamped_sq=sq[:, q : 2 * q].sum(axis=1) if clamped else None,
                grad=grad,
            )
        if edges is not None:
            sig = _scatter(sig, edges, self.n_edges)
        return _squeeze(sig) if self.squeeze else sig


def _scatter(sig: EdgeSignals, edges: np.ndarray, n_edges: int) -> EdgeSignals:
    """Full-length signals, zero outside ``edges``."""

    def full(a):
        if a is None:
            return None
        out = np.zeros(a.shape[:-1] + (n_edges,))
        out[..., edges] = a
        return out

    return EdgeSignals(**{name: full(v) for name, v in vars(sig).items()})


def _squeeze(sig: EdgeSignals) -> EdgeSignals:
    return EdgeSignals(**{n: None if v is None else v[0] for n, v in vars(sig).items()})
