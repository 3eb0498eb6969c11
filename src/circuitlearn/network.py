"""Topology of a resistor network: nodes, edges, incidence, generators and networkx interop.

The topology is immutable; conductances live outside it, as a per-edge array ``k`` of shape
``(E,)`` in siemens, so that one network serves many training runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from ._validation import check_conductances, finite_array, in_range
from .errors import ValidationError


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Network:
    """An undirected resistor network.

    Parameters
    ----------
    n_nodes : int
        Number of nodes ``N``.
    edges : ndarray of int, shape (E, 2)
        Edge ``j`` joins nodes ``edges[j, 0]`` (the ``+1`` end of the incidence matrix) and
        ``edges[j, 1]`` (the ``-1`` end). No self-loops, no repeated node pairs.
    positions : ndarray of float, shape (N, 2), optional
        Node coordinates, used only for drawing (arbitrary units).
    """

    n_nodes: int
    edges: np.ndarray
    positions: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        n = in_range("n_nodes", self.n_nodes, 1, None, integer=True)
        object.__setattr__(self, "n_nodes", n)
        try:
            e = np.asarray(self.edges)
        except TypeError as exc:
            raise ValidationError(
                f"edges must be an (E, 2) integer array; got {self.edges!r:.80}"
            ) from exc
        if e.size == 0:
            e = np.zeros((0, 2), dtype=np.int64)
        if e.ndim != 2 or e.shape[1] != 2:
            raise ValidationError(f"edges must have shape (E, 2); got shape {e.shape}")
        if not np.issubdtype(e.dtype, np.integer):
            if (
                np.issubdtype(e.dtype, np.floating)
                and np.all(np.isfinite(e))
                and np.all(e == np.round(e))
            ):
                e = e.astype(np.int64)
            else:
                raise ValidationError(f"edges must hold integer node indices; got dtype {e.dtype}")
        e = e.astype(np.int64)
        bad = np.flatnonzero(((e < 0) | (e >= n)).any(axis=1))
        if bad.size:
            raise ValidationError(
                f"edges[{bad[0]}] = {e[bad[0]].tolist()} names a node outside 0..{n - 1}: "
                "raise n_nodes or fix the edge list"
            )
        loops = np.flatnonzero(e[:, 0] == e[:, 1])
        if loops.size:
            raise ValidationError(
                f"edges[{loops[0]}] = {e[loops[0]].tolist()} is a self-loop, which carries no "
                "current: remove it"
            )
        key = np.sort(e, axis=1)
        _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
        if (counts > 1).any():
            pair = key[first[counts > 1][0]].tolist()
            dup = np.flatnonzero((key == pair).all(axis=1)).tolist()
            raise ValidationError(
                f"edges {dup} all join nodes {pair}: duplicate edges are not allowed; merge "
                "parallel resistors into one edge (conductances add)"
            )
        object.__setattr__(self, "edges", _readonly(e))
        if self.positions is not None:
            p = finite_array("positions", self.positions)
            if p.shape != (n, 2):
                raise ValidationError(f"positions must have shape ({n}, 2); got {p.shape}")
            object.__setattr__(self, "positions", _readonly(p))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_edges(cls, n_nodes: int, edges, positions=None) -> Network:
        """Build a network from an ``(E, 2)`` array of node pairs."""
        return cls(n_nodes, edges, positions)

    @classmethod
    def lattice(cls, rows: int, cols: int) -> Network:
        """Square lattice of ``rows x cols`` nodes; node ``r * cols + c`` sits at ``(c, r)``."""
        rows = in_range("rows", rows, 1, None, integer=True)
        cols = in_range("cols", cols, 1, None, integer=True)
        idx = np.arange(rows * cols).reshape(rows, cols)
        horiz = np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1)
        vert = np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], axis=1)
        c, r = np.meshgrid(np.arange(cols), np.arange(rows))
        pos = np.stack([c.ravel(), r.ravel()], axis=1).astype(float)
        return cls(rows * cols, np.concatenate([horiz, vert]), pos)

    @classmethod
    def random(cls, n_nodes: int, seed: int = 0, mean_degree: float = 3.5) -> Network:
        """Random planar disordered network: a Delaunay triangulation of uniform random points,
        pruned at random to ``mean_degree`` while kept connected (a random spanning tree of the
        triangulation is always kept).

        Parameters
        ----------
        n_nodes : int
            Number of nodes (at least 3).
        seed : int
            Seed of the generator; the same seed gives the same network.
        mean_degree : float
            Target mean node degree, in ``[2 - 2/N, ~6)``; capped at the triangulation's own.
        """
        from scipy.spatial import Delaunay

        n = in_range("n_nodes", n_nodes, 3, None, integer=True)
        md = in_range("mean_degree", mean_degree, 2.0, 6.0)
        if seed is not None:
            seed = in_range("seed", seed, 0, None, integer=True)
        rng = np.random.default_rng(seed)
        pts = rng.random((n, 2))
        tri = Delaunay(pts)
        s = tri.simplices
        all_e = np.concatenate([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
        all_e = np.unique(np.sort(all_e, axis=1), axis=0)
        # A spanning tree under random weights is a random connected backbone.
        w = rng.random(len(all_e)) + 1e-3
        g = sp.coo_matrix((w, (all_e[:, 0], all_e[:, 1])), shape=(n, n)).tocsr()
        tree = minimum_spanning_tree(g).tocoo()
        tree_e = np.sort(np.stack([tree.row, tree.col], axis=1), axis=1)
        in_tree = np.zeros(len(all_e), bool)
        tkey = tree_e[:, 0] * n + tree_e[:, 1]
        in_tree[np.isin(all_e[:, 0] * n + all_e[:, 1], tkey)] = True
        target = max(n - 1, min(len(all_e), int(round(md * n / 2))))
        extra = rng.permutation(np.flatnonzero(~in_tree))[: target - (n - 1)]
        keep = np.sort(np.concatenate([np.flatnonzero(in_tree), extra]))
        return cls(n, all_e[keep], pts)

    @classmethod
    def from_networkx(cls, graph) -> Network:
        """Build from a ``networkx.Graph``; nodes are relabelled ``0..N-1`` in iteration order.

        A node attribute ``pos`` (2-tuple) is kept as the drawing position.
        """
        if not (hasattr(graph, "nodes") and hasattr(graph, "edges")):
            raise ValidationError(f"graph must be a networkx.Graph; got {type(graph).__name__}")
        nodes = list(graph.nodes)
        index = {v: i for i, v in enumerate(nodes)}
        edges = np.array([(index[a], index[b]) for a, b in graph.edges], dtype=np.int64)
        pos = None
        if nodes and all("pos" in graph.nodes[v] for v in nodes):
            pos = np.array([graph.nodes[v]["pos"] for v in nodes], dtype=float)
        return cls(len(nodes), edges.reshape(-1, 2), pos)

    def to_networkx(self, k=None):
        """Return a ``networkx.Graph`` with node attribute ``pos`` and, if ``k`` is given, edge
        attribute ``conductance`` (S) and ``edge`` (the edge index)."""
        import networkx as nx

        if k is not None:
            k = check_conductances(k, self.n_edges)
        g = nx.Graph()
        for i in range(self.n_nodes):
            if self.positions is not None:
                g.add_node(i, pos=tuple(self.positions[i]))
            else:
                g.add_node(i)
        for j, (a, b) in enumerate(self.edges):
            attrs = {"edge": j}
            if k is not None:
                attrs["conductance"] = float(k[j])
            g.add_edge(int(a), int(b), **attrs)
        return g

    # ------------------------------------------------------------------ derived
    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])

    @cached_property
    def incidence(self) -> sp.csr_matrix:
        """Sparse incidence ``B`` (E x N): ``B[j, a_j] = +1``, ``B[j, b_j] = -1``."""
        e = self.edges
        m = len(e)
        rows = np.repeat(np.arange(m), 2)
        data = np.tile([1.0, -1.0], m)
        return sp.csr_matrix((data, (rows, e.ravel())), shape=(m, self.n_nodes))

    def laplacian(self, k) -> sp.csr_matrix:
        """Weighted Laplacian ``L = B.T diag(k) B`` (N x N)."""

        b = self.incidence
        return (b.T @ sp.diags(check_conductances(k, self.n_edges)) @ b).tocsr()

    def components(self) -> np.ndarray:
        """Connected-component label of each node, shape (N,)."""
        b = self.incidence
        adj = (abs(b.T) @ abs(b)).tocsr()
        return connected_components(adj, directed=False)[1]

    def layout(self) -> np.ndarray:
        """Node positions for drawing (N, 2): ``positions`` if set, else a spring layout."""
        if self.positions is not None:
            return np.asarray(self.positions)
        import networkx as nx

        pos = nx.spring_layout(self.to_networkx(), seed=0)
        return np.array([pos[i] for i in range(self.n_nodes)])

    def __repr__(self) -> str:
        return f"Network(n_nodes={self.n_nodes}, n_edges={self.n_edges})"
