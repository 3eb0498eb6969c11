"""The settled state of a linear resistor network under fixed node voltages (docs/design.md §2).

Free nodes ``U`` carry no net current, so ``L[U,U] V[U] = -L[U,F] V[F]``; equivalently the state
minimises the dissipated power ``P = 1/2 sum_j k_j dV_j**2``. Units: volts, siemens, amperes,
watts. This module knows nothing about learning.

``LaplacianSolver`` analyses the sparsity pattern of ``L[U,U]`` once; each new conductance
vector only rewrites the matrix's data array (a precomputed map from edges to entries) and
refactors numerically. Factorisation backends share one small protocol (``refactor(data)``,
``solve(rhs)``; ``circuitlearn.backends``) and are cross-checked against a dense reference on
every network of ``circuitlearn.gallery`` in the tests.

When only some conductances change between two settles (desynchronous schedules), a backend
that offers ``rank_update`` (CHOLMOD, ``circuitlearn.cholmod``) modifies its factor by the
changed edges instead of refactoring, whenever its cost model says that is cheaper; the solver
refactors from scratch every ``refresh_every`` updates against drift. When nothing changed,
nothing is refactored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ._validation import check_conductances, finite_array, fixed_value_batch, node_list

# BACKENDS, DENSE_MAX_FREE and auto_backend are re-exported: they lived here before backends.py.
from .backends import BACKENDS, DENSE_MAX_FREE, auto_backend, make_backend  # noqa: F401
from .errors import FloatingNodesError, ValidationError
from .network import Network


def floating_nodes(net: Network, fixed_nodes) -> np.ndarray:
    """Free nodes whose connected component holds no fixed node (sorted)."""
    labels = net.components()
    fixed = np.asarray(fixed_nodes, dtype=np.int64)
    anchored = np.zeros(labels.max() + 1, bool)
    anchored[labels[fixed]] = True
    return np.flatnonzero(~anchored[labels])


def check_solvable(net: Network, fixed_nodes) -> None:
    """Raise ``FloatingNodesError`` naming the free nodes that no fixed node reaches."""
    bad = floating_nodes(net, fixed_nodes)
    if bad.size:
        raise FloatingNodesError(bad)


# ---------------------------------------------------------------------------- solver
class LaplacianSolver:
    """Settles one network for one choice of fixed nodes, for any conductances and data.

    Parameters
    ----------
    net : Network
    fixed_nodes : sequence of int, shape (F,)
        Nodes whose voltages are imposed; all others are free.
    backend : {"auto", "dense", "qdldl", "splu", "cholmod", ...}
        Factorisation of ``L[U,U]``. ``"auto"`` is dense up to ``DENSE_MAX_FREE`` free nodes.
    small_signal : bool
        Accept a network with nonlinear edges, whose conductances are then small-signal
        conductances set by the caller (``circuitlearn.nonlinear`` factors Newton's Jacobian
        this way); otherwise such a network is refused.

    Notes
    -----
    ``free`` lists the free nodes in increasing order; ``free_index[n]`` is node ``n``'s row in
    the reduced system (``-1`` for fixed nodes).

    Setting new conductances refactors only if some changed; with a backend that can update
    its factor (``"cholmod"``), a few changed edges are applied as a rank-r update/downdate
    when its cost model finds that cheaper, and the factor is recomputed from scratch after
    ``refresh_every`` consecutive updates (or when a downdate would cancel most of a diagonal
    entry) so that round-off cannot drift. ``n_refactors`` and ``n_updates`` count both.
    """

    #: Consecutive rank-r updates allowed before a fresh numeric refactorisation.
    refresh_every: int = 100
    #: Refactor instead of updating when a downdate shrinks a diagonal entry by more than this.
    max_cancellation: float = 100.0

    def __init__(
        self,
        net: Network,
        fixed_nodes: Sequence[int],
        backend: str = "auto",
        *,
        small_signal: bool = False,
    ):
        check_network(net)
        if not (net.is_linear or small_signal):
            kinds = sorted({el.kind for el, _ in net.element_groups} - {"resistor"})
            raise ValidationError(
                f"net has {' and '.join(kinds)} edges: LaplacianSolver, and the training loop "
                "that settles with it, handle linear resistor networks only; settle this one "
                "with cl.solve or circuitlearn.nonlinear.NewtonSolver"
            )
        self.net = net
        self.fixed = node_list("fixed_nodes", fixed_nodes, net.n_nodes)
        if self.fixed.size == 0:
            raise ValidationError(
                "fixed_nodes is empty: at least one node must be held at a voltage (e.g. ground)"
            )
        check_solvable(net, self.fixed)
        is_fixed = np.zeros(net.n_nodes, bool)
        is_fixed[self.fixed] = True
        self.free = np.flatnonzero(~is_fixed)
        self.free_index = np.full(net.n_nodes, -1, np.int64)
        self.free_index[self.free] = np.arange(self.free.size)
        self.fixed_index = np.full(net.n_nodes, -1, np.int64)
        self.fixed_index[self.fixed] = np.arange(self.fixed.size)
        self._build_maps()
        self.factor = make_backend(backend, self.pattern) if self.free.size else None
        self._k = None
        e = net.edges
        self.edge_ends = np.stack([self.free_index[e[:, 0]], self.free_index[e[:, 1]]], axis=1)
        self._diag = None  # diag(L[U,U]) as of the factor, for the cancellation guard
        self._since_fresh = 0
        self.n_refactors = 0
        self.n_updates = 0

    def _build_maps(self) -> None:
        """Precompute sparse maps edges -> entries of upper(L[U,U]) and -> L[U,F].

        Public results: ``pattern`` (upper triangle of ``L[U,U]``, CSC, data all ones),
        ``data_map`` (sparse (nnz, E): ``pattern.data = data_map @ k``), and the boundary
        edges joining a free node to a fixed node: ``boundary_free`` (row in the reduced
        system), ``boundary_fixed`` (position in ``fixed_nodes``) and ``boundary_edge``.
        """
        e = self.net.edges
        nu = self.free.size
        fa, fb = self.free_index[e[:, 0]], self.free_index[e[:, 1]]
        j = np.arange(len(e))
        # Entries of upper(L[U,U]) as (row, col, edge, sign) quadruples: each free end of an
        # edge adds +k to its diagonal entry; an edge between two free nodes adds -k to their
        # off-diagonal entry (stored once, in the upper triangle).
        a_free, b_free = fa >= 0, fb >= 0
        both = a_free & b_free
        lo = np.minimum(fa[both], fb[both])
        hi = np.maximum(fa[both], fb[both])
        rows = np.concatenate([fa[a_free], fb[b_free], lo])
        cols = np.concatenate([fa[a_free], fb[b_free], hi])
        eid = np.concatenate([j[a_free], j[b_free], j[both]])
        sign = np.concatenate([np.ones(a_free.sum() + b_free.sum()), -np.ones(both.sum())])
        # Number the distinct entries in CSC order (column-major, rows sorted in a column);
        # `slot` gives each quadruple its entry.
        width = max(nu, 1)
        entries, slot = np.unique(cols * width + rows, return_inverse=True)
        entry_rows = (entries % width).astype(np.int32)
        per_column = np.bincount(entries // width, minlength=nu)
        indptr = np.concatenate([[0], np.cumsum(per_column)]).astype(np.int32)
        self.pattern = sp.csc_matrix((np.ones(entries.size), entry_rows, indptr), shape=(nu, nu))
        self.data_map = sp.csr_matrix((sign, (slot, eid)), shape=(entries.size, len(e)))
        # Coupling to fixed nodes: rhs[u] = sum_j k_j V[f] over edges (u, f) with f fixed.
        fixa, fixb = self.fixed_index[e[:, 0]], self.fixed_index[e[:, 1]]
        m1 = (fa >= 0) & (fixb >= 0)
        m2 = (fb >= 0) & (fixa >= 0)
        self.boundary_free = np.concatenate([fa[m1], fb[m2]])
        self.boundary_fixed = np.concatenate([fixb[m1], fixa[m2]])
        self.boundary_edge = np.concatenate([j[m1], j[m2]])

    # -- conductances
    def set_conductances(self, k) -> None:
        """Refactor ``L[U,U]`` for conductances ``k`` (E,) in S (numeric refactor only)."""
        k = check_conductances(k, self.net.n_edges)
        self.update(k)

    def update(self, k: np.ndarray) -> bool:
        """Make the factor represent ``L[U,U]`` for conductances ``k`` (E,), in S, already
        checked (the training loop's fast path); return False if nothing changed."""
        prev = self._k
        self._k = np.array(k, dtype=np.float64)  # a copy: callers update k in place
        if self.factor is None:
            return prev is None or not np.array_equal(prev, self._k)
        if prev is not None:
            changed = np.flatnonzero(self._k != prev)
            if changed.size == 0:
                return False
            if (
                changed.size < self.net.n_edges
                and hasattr(self.factor, "rank_update")
                and self._since_fresh < self.refresh_every
                and self._try_update(changed, prev)
            ):
                return True
        data = self.data_map @ self._k
        self.factor.refactor(data)
        self.n_refactors += 1
        self._since_fresh = 0
        if hasattr(self.factor, "rank_update"):
            self._diag = np.zeros(self.free.size)
            ends = self.edge_ends
            for side in (0, 1):
                m = ends[:, side] >= 0
                self._diag += np.bincount(
                    ends[m, side], weights=self._k[m], minlength=self.free.size
                )
        return True

    def _try_update(self, changed: np.ndarray, prev: np.ndarray) -> bool:
        """Rank-r update/downdate of the factor for ``changed`` edges, if cheaper and safe."""
        ends = self.edge_ends[changed]
        live = (ends >= 0).any(axis=1)  # an edge between two fixed nodes changes nothing
        ends, changed = ends[live], changed[live]
        if changed.size == 0:
            return True  # L[U,U] did not change
        dk = self._k[changed] - prev[changed]
        if not self.factor.prefers_update(ends):
            return False
        diag = self._diag.copy()
        for side in (0, 1):
            m = ends[:, side] >= 0
            np.add.at(diag, ends[m, side], dk[m])
        nodes = ends[ends >= 0]
        if np.any(self._diag[nodes] > self.max_cancellation * diag[nodes]):
            return False
        if not self.factor.rank_update(ends, dk):
            return False  # the factor is spoilt; the caller refactors from scratch
        self._diag = diag
        self._since_fresh += 1
        self.n_updates += 1
        return True

    def invalidate(self) -> None:
        """Forget the factor: the next ``update`` refactors from scratch (no rank-r update),
        so that a run resumed from a checkpoint factors exactly as the uninterrupted one."""
        self._k = None

    @property
    def k(self) -> np.ndarray:
        return self._k

    def reduced_matrix(self) -> sp.csc_matrix:
        """``L[U,U]`` for the current conductances (full symmetric CSC)."""
        up = self.pattern.copy()
        up.data = self.data_map @ self._k
        return (up + sp.triu(up, 1).T).tocsc()

    def coupling(self) -> sp.csr_matrix:
        """``-L[U,F]`` (n_U x F) for the current conductances: maps fixed voltages to the
        current injected into each free node."""
        return sp.csr_matrix(
            (self._k[self.boundary_edge], (self.boundary_free, self.boundary_fixed)),
            shape=(self.free.size, self.fixed.size),
        )

    # -- solves
    def solve_reduced(self, rhs: np.ndarray) -> np.ndarray:
        """``L[U,U]^-1 rhs`` for ``rhs`` of shape (n_U,) or (n_U, m)."""
        if self._k is None:
            raise RuntimeError("call set_conductances(k) before solving")
        return self.factor.solve(np.asarray(rhs, dtype=np.float64))

    def settle(self, fixed_values) -> np.ndarray:
        """Node voltages (V) with the fixed nodes at ``fixed_values``.

        Parameters
        ----------
        fixed_values : array, shape (F,) or (M, F)
            Voltages of ``fixed_nodes``, in their order; a 2-D array is a batch of M examples.

        Returns
        -------
        ndarray, shape (N,) or (M, N)
        """
        batch = fixed_value_batch(fixed_values, self.fixed.size)
        out = np.empty((batch.shape[0], self.net.n_nodes))
        out[:, self.fixed] = batch
        if self.free.size:
            rhs = self.coupling() @ batch.T  # (n_U, M)
            out[:, self.free] = self.solve_reduced(rhs).reshape(self.free.size, -1).T
        return out[0] if np.ndim(fixed_values) == 1 else out


def solve(net: Network, k, fixed_nodes, fixed_values, backend: str = "auto") -> np.ndarray:
    """Settled node voltages of ``net`` with edge parameters ``k`` and fixed node voltages.

    A network of resistors only (``net.is_linear``) is solved by ``LaplacianSolver``; one with
    diodes or transistors (``circuitlearn.elements``) by Newton's method
    (``circuitlearn.nonlinear.NewtonSolver``).

    Parameters
    ----------
    net : Network
    k : array, shape (E,)
        Edge parameters ``theta``: conductances in S (strictly positive) for resistors, gate
        voltages in V (inside their ``v_gate_range``) for transistors, ignored for diodes.
    fixed_nodes : sequence of int, shape (F,)
        Nodes held at imposed voltages (inputs, ground, clamped outputs).
    fixed_values : array, shape (F,) or (M, F)
        Their voltages in V; a 2-D array is M examples solved on one factorisation.
    backend : str
        See ``LaplacianSolver``.

    Returns
    -------
    ndarray, shape (N,) or (M, N)
        Voltages of every node in V.
    """
    check_network(net)
    if not net.is_linear:
        # nonlinear builds on LaplacianSolver (this module), so it is imported here
        from .nonlinear import solve_nonlinear

        return solve_nonlinear(net, k, fixed_nodes, fixed_values, backend=backend)
    solver = LaplacianSolver(net, fixed_nodes, backend=backend)
    solver.set_conductances(k)
    return solver.settle(fixed_values)


def check_network(net) -> None:
    """Refuse anything that is not a ``Network``."""
    if not isinstance(net, Network):
        raise ValidationError(
            f"net must be a circuitlearn.Network (e.g. cl.Network.from_edges); "
            f"got {type(net).__name__}"
        )


def _voltages(net: Network, voltages) -> np.ndarray:
    check_network(net)
    v = finite_array("voltages", voltages, ndim=(1, 2))
    if v.shape[-1] != net.n_nodes:
        raise ValidationError(
            f"voltages must have shape ({net.n_nodes},) or (M, {net.n_nodes}), one value per "
            f"node; got {v.shape}"
        )
    return v


def _drops(net: Network, v: np.ndarray) -> np.ndarray:
    e = net.edges
    return v[..., e[:, 0]] - v[..., e[:, 1]]


def edge_drops(net: Network, voltages) -> np.ndarray:
    """Voltage drop ``dV = B @ V`` (V) across each edge: (N,) -> (E,), (M, N) -> (M, E)."""
    return _drops(net, _voltages(net, voltages))


def power(net: Network, k, voltages) -> np.ndarray:
    """Dissipated power ``P = 1/2 sum_j k_j dV_j**2`` in W; (N,) -> scalar, (M, N) -> (M,)."""
    v = _voltages(net, voltages)
    return 0.5 * (_drops(net, v) ** 2 @ check_conductances(k, net.n_edges))


def node_currents(net: Network, k, voltages) -> np.ndarray:
    """Net current (A) leaving each node through its edges, ``L @ V``: zero at free nodes.

    (N,) -> (N,), (M, N) -> (M, N).
    """
    v = _voltages(net, voltages)
    flow = _drops(net, v) * check_conductances(k, net.n_edges)  # current along each edge, a -> b
    return np.asarray(net.incidence.T @ flow.T).T
