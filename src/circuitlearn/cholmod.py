"""CHOLMOD factorisation backend (optional extra ``circuitlearn[cholmod]``), with rank-r
update/downdate for desynchronous steps (docs/design.md §8).

Requires scikit-sparse 0.4 on a system SuiteSparse (``apt-get install libsuitesparse-dev``;
``pip install scikit-sparse==0.4.16``). When it is absent, asking for ``backend="cholmod"``
falls back to ``qdldl`` with a one-line warning (see ``backends.make_backend``).

The factor is a simplicial LDL^T of ``L[U,U]`` (CHOLMOD's update/downdate works on that form;
on planar and lattice graphs it refactors as fast as the supernodal form on two cores and uses
no BLAS). When ``r`` conductances change by ``dk_j``, ``L[U,U]`` changes by
``sum_j dk_j b_j b_j^T`` (``b_j``: edge ``j``'s row of the incidence restricted to the free
nodes), so the factor takes one rank-r update (``dk > 0``) and one rank-r downdate
(``dk < 0``) instead of a refactorisation. ``prefers_update`` decides by a deterministic cost
model built from the factor's structure (the elimination-tree path each change walks, against
the flops of a numeric refactorisation); the solver refactors from scratch now and then
against drift.

CHOLMOD's Modify module (update/downdate) is GPL-2+: fine for an optional extra.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

#: Cost of one unit of update work (one entry of L visited along an elimination-tree path)
#: relative to one unit of refactorisation work (one multiply-add of the numeric LDL^T).
#: Fitted at the measured crossovers on planar and lattice graphs of 10^4 and 10^5 edges
#: (METIS ordering; 0.84 .. 1.97, see docs/performance.md): about 300 changed edges at 10^4
#: edges, 650 .. 900 at 10^5.
UPDATE_WORK_WEIGHT = 1.2


def available() -> bool:
    """True when scikit-sparse's CHOLMOD wrapper imports."""
    try:
        import sksparse.cholmod  # noqa: F401
    except ImportError:
        return False
    return True


class CholmodFactor:
    """Simplicial LDL^T from CHOLMOD: symbolic analysis once, numeric refactor on the same
    pattern, and rank-r update/downdate of changed edges.

    Parameters
    ----------
    upper : scipy.sparse.csc_matrix
        Upper triangle of ``L[U,U]`` (the pattern; values are given to ``refactor``).

    Notes
    -----
    The fill-reducing ordering is METIS (nested dissection): it costs more to analyse once but
    gives a bushier elimination tree than AMD, so on 2-D graphs of 10^5 edges a 100-edge update
    is 1.6-2.3x faster. ``ordering`` falls back to CHOLMOD's default when METIS is not compiled
    in.
    """

    name = "cholmod"
    #: CHOLMOD fill-reducing ordering tried first (see Notes).
    ordering: str = "metis"

    def __init__(self, upper: sp.csc_matrix):
        from sksparse import cholmod  # ImportError -> backends.make_backend falls back to qdldl

        self._cholmod = cholmod
        self.n = upper.shape[0]
        # CHOLMOD reads the lower triangle: the transpose of the upper CSC pattern, whose data
        # array is a fixed permutation of the upper one.
        marker = upper.copy()
        marker.data = np.arange(upper.nnz, dtype=np.float64)
        lower = marker.T.tocsc()
        lower.sort_indices()
        self._perm = lower.data.astype(np.int64)
        lower.indices = lower.indices.astype(np.int32)
        lower.indptr = lower.indptr.astype(np.int32)
        self._lower = lower
        self._factor = None
        self._path_work = None  # per free node: L entries on its elimination-tree path
        self._refactor_work = None

    # -- the shared backend interface
    def refactor(self, data: np.ndarray) -> None:
        """Numeric LDL^T for the upper-triangle values ``data`` (symbolic analysis reused)."""
        self._lower.data[:] = data[self._perm]
        if self._factor is None:
            try:
                self._factor = self._cholmod.analyze(
                    self._lower, mode="simplicial", ordering_method=self.ordering
                )
            except self._cholmod.CholmodError:
                self.ordering = "default"
                self._factor = self._cholmod.analyze(self._lower, mode="simplicial")
        self._factor.cholesky_inplace(self._lower)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``L[U,U]^-1 rhs`` for ``rhs`` (n,) or (n, m)."""
        if rhs.ndim == 1:
            return self._factor.solve_A(rhs)
        return self._factor.solve_A(np.asfortranarray(rhs))

    # -- low-rank modification
    def rank_update(self, ends: np.ndarray, dk: np.ndarray) -> bool:
        """Change the factored matrix by ``sum_j dk_j b_j b_j^T``.

        Parameters
        ----------
        ends : int array (r, 2)
            Free-node rows of each changed edge's two ends, ``-1`` where an end is fixed.
        dk : float array (r,)
            Conductance change of each edge (S).

        Returns
        -------
        bool
            False when CHOLMOD refused (e.g. a downdate lost positive definiteness); the factor
            is then unusable and the caller must refactor from scratch.
        """
        for sel, subtract in ((dk > 0, False), (dk < 0, True)):
            if not sel.any():
                continue
            c = self._columns(ends[sel], np.sqrt(np.abs(dk[sel])))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    self._factor.update_inplace(c, subtract=subtract)
            except Exception:  # CholmodError, CholmodWarning (not positive definite)
                return False
        return True

    def _columns(self, ends: np.ndarray, scale: np.ndarray) -> sp.csc_matrix:
        """Sparse (n, r) matrix whose column j is ``scale_j * b_j`` on the free nodes."""
        r = len(ends)
        a, b = ends[:, 0], ends[:, 1]
        both = (a >= 0) & (b >= 0)
        nnz_col = (a >= 0).astype(np.int64) + (b >= 0)
        indptr = np.zeros(r + 1, np.int64)
        np.cumsum(nnz_col, out=indptr[1:])
        rows = np.empty(indptr[-1], np.int64)
        vals = np.empty(indptr[-1])
        start = indptr[:-1]
        # first entry of each column: end a if free, else end b
        first_row = np.where(a >= 0, a, b)
        first_val = np.where(a >= 0, scale, -scale)
        rows[start] = first_row
        vals[start] = first_val
        rows[start[both] + 1] = b[both]
        vals[start[both] + 1] = -scale[both]
        # rows must be sorted within each column
        swap = both & (a > b)
        s = start[swap]
        rows[s], rows[s + 1] = rows[s + 1].copy(), rows[s].copy()
        vals[s], vals[s + 1] = vals[s + 1].copy(), vals[s].copy()
        return sp.csc_matrix(
            (vals, rows.astype(np.int32), indptr.astype(np.int32)), shape=(self.n, r)
        )

    # -- cost model
    def _structure(self) -> None:
        """Column counts and elimination-tree path work of the factor (computed once)."""
        ld = self._factor.LD()  # a copy of L (unit diagonal) with D on the diagonal, permuted
        ld = sp.csc_matrix(ld)
        ld.sort_indices()
        counts = np.diff(ld.indptr).astype(np.float64)
        n = self.n
        # parent of column j: its first off-diagonal row (rows are sorted, diagonal first)
        has_off = counts > 1
        parent = np.full(n, -1, np.int64)
        first_off = ld.indptr[:-1][has_off] + 1
        parent[has_off] = ld.indices[first_off]
        del ld
        # path work to the root by pointer doubling: acc[j] = sum of counts from j up to anc[j]
        acc = counts.copy()
        anc = parent.copy()
        live = anc >= 0
        while live.any():
            idx = np.flatnonzero(live)
            acc[idx] += acc[anc[idx]]
            anc[idx] = anc[anc[idx]]
            live[idx] = anc[idx] >= 0
        perm = np.asarray(self._factor.P(), dtype=np.int64)  # perm[i]: original row of i
        self._pos = np.empty(n, np.int64)
        self._pos[perm] = np.arange(n)  # permuted position of each original row
        self._path_work = acc  # in permuted order
        self._refactor_work = float(np.sum(counts * counts))

    def update_work(self, ends: np.ndarray) -> float:
        """Modelled cost of a rank-r update of edges ``ends`` (r, 2), in refactor-work units."""
        if self._path_work is None:
            self._structure()
        a, b = ends[:, 0], ends[:, 1]
        # Of the two ends, the one earlier in the permuted order is a descendant of the other
        # in the elimination tree: the update walks from it to the root.
        pa = np.where(a >= 0, self._pos[np.maximum(a, 0)], self.n)
        pb = np.where(b >= 0, self._pos[np.maximum(b, 0)], self.n)
        low = np.minimum(pa, pb)
        work = self._path_work[low[low < self.n]].sum()
        return UPDATE_WORK_WEIGHT * float(work)

    def prefers_update(self, ends: np.ndarray) -> bool:
        """True when updating edges ``ends`` is modelled cheaper than a numeric refactor."""
        if self._factor is None:
            return False
        if self._path_work is None:
            self._structure()
        return self.update_work(ends) < self._refactor_work
