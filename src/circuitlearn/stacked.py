"""Factorisations of many small systems at once: the factor protocol with a replica axis.

The single-system backends (``circuitlearn.backends``: dense, qdldl, splu, cholmod) take the data
array of one upper-triangular CSC pattern, ``refactor(data)`` with ``data`` (nnz,), and solve
``(n, m)`` right-hand sides. The stacked backends here do the same for R replicas at once, with a
leading replica axis: ``refactor(data, rows=None)`` with ``data`` (R', nnz) and ``solve(rhs,
rows=None)`` with ``rhs`` (R', n, m); ``rows`` (R',) selects which of the R replicas the call
concerns (None: all), so that asynchronous events can re-settle some replicas only.

- ``StackedDense``: dense matrices (R, n, n) and one batched LAPACK solve; replicas may have
  different patterns of the same size (different networks of one shape).
- ``BatchedLDL``: one shared sparsity pattern, a minimum-degree ordering and symbolic analysis
  once, then a right-looking numeric LDL^T whose every numpy operation works on all replicas
  (values stored replica-last, ``(size, R)``).

Both are cross-checked against the dense reference on the network gallery in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp


def _upper_entries(pattern: sp.csc_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of every stored entry of an upper-triangular CSC pattern, in data order."""
    col = np.repeat(np.arange(pattern.shape[1]), np.diff(pattern.indptr))
    return pattern.indices.astype(np.int64), col


class StackedDense:
    """Dense LU solves of R systems, each assembled from its own upper-triangular pattern.

    Parameters
    ----------
    patterns : sequence of scipy.sparse.csc_matrix
        One (n, n) upper-triangular pattern per replica, or a single one shared by all. Data
        arrays of patterns with fewer entries are zero-padded to the longest.
    n_replicas : int
        R.
    """

    name = "stacked-dense"

    def __init__(self, patterns: Sequence[sp.csc_matrix], n_replicas: int):
        self.n = n = patterns[0].shape[0]
        width = max(p.nnz for p in patterns)
        dump = n * n  # padded entries land in a slot that is dropped
        up = np.full((len(patterns), width), dump, np.int64)
        low = np.full((len(patterns), width), dump, np.int64)
        for r, p in enumerate(patterns):
            i, j = _upper_entries(p)
            up[r, : p.nnz] = i * n + j
            low[r, : p.nnz] = np.where(i != j, j * n + i, dump)  # mirror off-diagonals
        self._up, self._low = up, low
        self._a = np.zeros((n_replicas, n, n))

    def refactor(self, data: np.ndarray, rows: np.ndarray | None = None) -> None:
        rr = data.shape[0]
        up = self._up if rows is None or self._up.shape[0] == 1 else self._up[rows]
        low = self._low if rows is None or self._low.shape[0] == 1 else self._low[rows]
        flat = np.zeros((rr, self.n * self.n + 1))
        np.put_along_axis(flat, np.broadcast_to(up, data.shape), data, axis=1)
        np.put_along_axis(flat, np.broadcast_to(low, data.shape), data, axis=1)
        a = flat[:, :-1].reshape(rr, self.n, self.n)
        if rows is None:
            self._a = a
        else:
            self._a[rows] = a

    def solve(self, rhs: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        a = self._a if rows is None else self._a[rows]
        return np.linalg.solve(a, rhs)


class BatchedLDL:
    """LDL^T of R symmetric positive definite matrices sharing one sparsity pattern.

    Parameters
    ----------
    pattern : scipy.sparse.csc_matrix
        The (n, n) upper-triangular pattern shared by every replica.
    n_replicas : int
        R.

    Notes
    -----
    Storage ``(size, R)``: the n diagonal entries (in elimination order) first, then each
    column's below-diagonal entries, fill included.
    """

    name = "batched-ldl"

    def __init__(self, pattern: sp.csc_matrix, n_replicas: int):
        n = self.n = pattern.shape[0]
        i, j = _upper_entries(pattern)
        off = i != j
        nbrs: list[set[int]] = [set() for _ in range(n)]
        for a, b in zip(i[off].tolist(), j[off].tolist(), strict=True):
            nbrs[a].add(b)
            nbrs[b].add(a)
        # minimum-degree elimination (with fill), recording each column's pattern
        alive = set(range(n))
        order, cols = [], []
        while alive:
            v = min(alive, key=lambda u: (len(nbrs[u]), u))
            nb = nbrs[v]
            order.append(v)
            cols.append(nb)
            for u in nb:
                nbrs[u] |= nb
                nbrs[u].discard(u)
                nbrs[u].discard(v)
            alive.remove(v)
            nbrs[v] = set()
        self.perm = np.array(order, dtype=np.int64)  # elimination position -> node
        self.inv = np.empty(n, np.int64)
        self.inv[self.perm] = np.arange(n)
        pos: dict[tuple[int, int], int] = {}
        self.rows, self.off, self.upd = [], [], []
        size = n
        for t, nb in enumerate(cols):
            r = sorted(int(self.inv[u]) for u in nb)
            self.rows.append(np.array(r, dtype=np.int64))
            self.off.append(np.arange(size, size + len(r)))
            for row in r:
                pos[(row, t)] = size
                size += 1
        self.size = size
        for r in self.rows:  # outer-product updates of each column: (target, a, b)
            rl = r.tolist()
            tg, ia, ib = [], [], []
            for x in range(len(rl)):
                for y in range(x + 1):
                    tg.append(rl[x] if x == y else pos[(rl[x], rl[y])])
                    ia.append(x)
                    ib.append(y)
            self.upd.append(tuple(np.array(v, dtype=np.int64) for v in (tg, ia, ib)))
        # where each pattern entry lands in the storage
        pi, pj = self.inv[i], self.inv[j]
        lo, hi = np.minimum(pi, pj), np.maximum(pi, pj)
        self._slot = np.array(
            [t if h == t else pos[(h, t)] for h, t in zip(hi.tolist(), lo.tolist(), strict=True)],
            dtype=np.int64,
        )
        self._v = np.zeros((size, n_replicas))

    def refactor(self, data: np.ndarray, rows: np.ndarray | None = None) -> None:
        v = np.zeros((self.size, data.shape[0]))
        v[self._slot] = data.T
        for t in range(self.n):
            off = self.off[t]
            if off.size == 0:
                continue
            col = v[off]
            lt = col / v[t]
            v[off] = lt
            tg, ia, ib = self.upd[t]
            v[tg] -= lt[ia] * col[ib]
        if rows is None:
            self._v = v
        else:
            self._v[:, rows] = v

    def solve(self, rhs: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        v = self._v if rows is None else self._v[:, rows]
        x = np.moveaxis(rhs, 0, -1)[self.perm]  # (n, m, R')
        for t in range(self.n):
            r = self.rows[t]
            if r.size:
                x[r] -= v[self.off[t]][:, None, :] * x[t]
        x /= v[: self.n, None, :]
        for t in range(self.n - 1, -1, -1):
            r = self.rows[t]
            if r.size:
                x[t] -= np.einsum("mr,mdr->dr", v[self.off[t]], x[r])
        out = np.empty_like(x)
        out[self.perm] = x
        return np.ascontiguousarray(np.moveaxis(out, -1, 0))


STACKED = {"stacked-dense": StackedDense, "batched-ldl": BatchedLDL}
