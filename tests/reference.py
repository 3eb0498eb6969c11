"""An independent, plain dense numpy implementation of docs/design.md §2-4, for cross-checking.

Written from the design text only: it does not import circuitlearn. Everything is dense and
solved with ``np.linalg.solve``; it is meant to be obviously right, not fast.

Conventions (docs/design.md §2): edge ``j`` joins ``edges[j] = (a_j, b_j)``; incidence ``B`` (E x N)
has ``B[j, a_j] = +1``, ``B[j, b_j] = -1``; drops ``dV = B @ V``; Laplacian
``L = B.T @ diag(k) @ B``. Fixed nodes ``F`` hold given voltages; the free nodes ``U`` solve
``L[U,U] V[U] = -L[U,F] V[F]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


# ------------------------------------------------------------------------------ physics
def incidence(n_nodes: int, edges) -> np.ndarray:
    """Dense incidence matrix ``B`` (E x N)."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    b = np.zeros((len(e), n_nodes))
    rows = np.arange(len(e))
    b[rows, e[:, 0]] = 1.0
    b[rows, e[:, 1]] = -1.0
    return b


def laplacian(n_nodes: int, edges, k) -> np.ndarray:
    """Dense weighted Laplacian ``L = B.T diag(k) B`` (N x N)."""
    b = incidence(n_nodes, edges)
    return b.T @ (np.asarray(k, dtype=float)[:, None] * b)


def drops(n_nodes: int, edges, voltages) -> np.ndarray:
    """Edge drops ``B @ V``: (N,) -> (E,), (M, N) -> (M, E)."""
    b = incidence(n_nodes, edges)
    return np.asarray(voltages) @ b.T


def dense_solve(n_nodes: int, edges, k, fixed_nodes: Sequence[int], fixed_values) -> np.ndarray:
    """Node voltages with ``fixed_nodes`` at ``fixed_values`` ((F,) or (M, F)) -> (N,) or (M, N).

    Solves ``L[U,U] V_U = -L[U,F] V_F`` with ``np.linalg.solve`` (one solve, M right-hand sides).
    """
    fixed = np.asarray(fixed_nodes, dtype=np.int64)
    vals = np.asarray(fixed_values, dtype=float)
    batch = vals.reshape(-1, fixed.size)
    free = np.setdiff1d(np.arange(n_nodes), fixed)
    lap = laplacian(n_nodes, edges, k)
    out = np.zeros((batch.shape[0], n_nodes))
    out[:, fixed] = batch
    if free.size:
        a = lap[np.ix_(free, free)]
        rhs = -lap[np.ix_(free, fixed)] @ batch.T
        out[:, free] = np.linalg.solve(a, rhs).T
    return out[0] if vals.ndim == 1 else out


def power(n_nodes: int, edges, k, voltages) -> np.ndarray:
    """Dissipated power ``1/2 sum_j k_j dV_j**2``."""
    d = drops(n_nodes, edges, voltages)
    return 0.5 * (d**2 @ np.asarray(k, dtype=float))


# ------------------------------------------------------------------------------ task states
class RefTask:
    """Node roles and data of a task, as plain arrays (mirrors docs/design.md §3)."""

    def __init__(self, n_nodes, edges, inputs, outputs, ground, x, y):
        self.n_nodes = int(n_nodes)
        self.edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        self.inputs = np.asarray(inputs, dtype=np.int64).reshape(-1)
        self.outputs = np.asarray(outputs, dtype=np.int64).reshape(-1)
        self.ground = np.asarray(ground, dtype=np.int64).reshape(-1)
        self.x = np.asarray(x, dtype=float).reshape(-1, self.inputs.size)
        self.y = np.asarray(y, dtype=float).reshape(-1, self.outputs.size)

    # free state: inputs at x, ground at 0
    def free(self, k, x=None) -> np.ndarray:
        x = self.x if x is None else np.asarray(x, dtype=float).reshape(-1, self.inputs.size)
        fixed = np.concatenate([self.inputs, self.ground])
        vals = np.concatenate([x, np.zeros((len(x), self.ground.size))], axis=1)
        return dense_solve(self.n_nodes, self.edges, k, fixed, vals)

    # clamped state: a separate dense solve with the outputs fixed as well
    def clamped(self, k, eta, x=None, y=None, v_free=None) -> np.ndarray:
        x = self.x if x is None else np.asarray(x, dtype=float).reshape(-1, self.inputs.size)
        y = self.y if y is None else np.asarray(y, dtype=float).reshape(-1, self.outputs.size)
        vf = self.free(k, x) if v_free is None else v_free
        vf_out = vf[:, self.outputs]
        v_clamp = vf_out + eta * (y - vf_out)
        fixed = np.concatenate([self.inputs, self.ground, self.outputs])
        vals = np.concatenate([x, np.zeros((len(x), self.ground.size)), v_clamp], axis=1)
        return dense_solve(self.n_nodes, self.edges, k, fixed, vals)

    def mse(self, k, x=None, y=None) -> float:
        """``mean((V_out_free - y)**2)`` over examples and outputs."""
        y = self.y if y is None else np.asarray(y, dtype=float).reshape(-1, self.outputs.size)
        return float(np.mean((self.free(k, x)[:, self.outputs] - y) ** 2))

    def drops(self, v) -> np.ndarray:
        return drops(self.n_nodes, self.edges, v)

    # -- coupled learning
    def cl_delta(self, k, lr, eta, idx=None) -> np.ndarray:
        """``dk = (lr/eta) * mean_batch[(dV^F)**2 - (dV^C)**2]`` over the examples ``idx``."""
        x = self.x if idx is None else self.x[idx]
        y = self.y if idx is None else self.y[idx]
        vf = self.free(k, x)
        vc = self.clamped(k, eta, x, y, v_free=vf)
        df, dc = self.drops(vf), self.drops(vc)
        return (lr / eta) * np.mean(df**2 - dc**2, axis=0)

    def cl_step(self, k, lr, eta, k_min=1e-6, k_max=1e6, mask=None, idx=None) -> np.ndarray:
        dk = self.cl_delta(k, lr, eta, idx)
        if mask is not None:
            dk = np.where(mask, dk, 0.0)
        return np.clip(np.asarray(k, dtype=float) + dk, k_min, k_max)

    def train_cl(self, k0, lr, eta, steps, k_min=1e-6, k_max=1e6):
        """Synchronous full-batch coupled learning for ``steps`` steps.

        Returns ``(k_final, errors)`` where ``errors[s]`` is the train MSE before update ``s``
        (``s = 0..steps-1``) and ``errors[steps]`` the MSE of the final conductances.
        """
        k = np.clip(np.asarray(k0, dtype=float).copy(), k_min, k_max)
        errors = []
        for _ in range(steps):
            errors.append(self.mse(k))
            k = self.cl_step(k, lr, eta, k_min, k_max)
        errors.append(self.mse(k))
        return k, np.asarray(errors)

    # -- quantities for the gradient checks
    def output_conductance(self, k) -> np.ndarray:
        """Schur complement of the free-state Laplacian onto the outputs (n_out x n_out).

        With the inputs and ground as the fixed set, eliminating every other free node leaves
        ``S = L[T,T] - L[T,W] L[W,W]^-1 L[W,T]`` (``W``: free nodes that are not outputs), the
        effective conductance matrix seen at the outputs; it is the inverse of ``Z_TT``, the
        outputs' block of ``L[U,U]^-1``.
        """
        lap = laplacian(self.n_nodes, self.edges, k)
        fixed = np.concatenate([self.inputs, self.ground])
        t = self.outputs
        w = np.setdiff1d(np.arange(self.n_nodes), np.concatenate([fixed, t]))
        s = lap[np.ix_(t, t)]
        if w.size:
            s = s - lap[np.ix_(t, w)] @ np.linalg.solve(lap[np.ix_(w, w)], lap[np.ix_(w, t)])
        return s

    def quad_cost(self, k, s0) -> float:
        """``C_S(k) = mean_m (y - V_T(k))^T S0 (y - V_T(k))`` with ``S0`` held fixed."""
        r = self.y - self.free(k)[:, self.outputs]
        return float(np.mean(np.einsum("mi,ij,mj->m", r, s0, r)))


def fd_gradient(f: Callable[[np.ndarray], float], k, rel_step: float = 1e-5) -> np.ndarray:
    """Central finite-difference gradient of ``f`` at ``k``, step ``rel_step * k_j``."""
    k = np.asarray(k, dtype=float)
    g = np.empty_like(k)
    for j in range(k.size):
        h = rel_step * k[j]
        kp, km = k.copy(), k.copy()
        kp[j] += h
        km[j] -= h
        g[j] = (f(kp) - f(km)) / (kp[j] - km[j])
    return g


def mse_gradient_fd(task: RefTask, k, rel_step: float = 1e-5) -> np.ndarray:
    """``dC/dk`` of the free-state train MSE by central finite differences."""
    return fd_gradient(task.mse, k, rel_step)


# ------------------------------------------------------------------------------ graphs
def random_connected_edges(n_nodes: int, n_extra: int, rng: np.random.Generator) -> np.ndarray:
    """A random connected simple graph: a random labelled tree plus up to ``n_extra`` chords,
    each edge in a random orientation and the list in random order."""
    perm = rng.permutation(n_nodes)
    tree = [(perm[i], perm[rng.integers(0, i)]) for i in range(1, n_nodes)]
    extra = rng.integers(0, n_nodes, size=(n_extra, 2))
    pairs = {tuple(sorted(map(int, p))) for p in tree}
    for a, b in extra:
        if a != b:
            pairs.add(tuple(sorted((int(a), int(b)))))
    e = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    flip = rng.random(len(e)) < 0.5
    e[flip] = e[flip][:, ::-1]
    return e[rng.permutation(len(e))]
