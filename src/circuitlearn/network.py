"""Topology of a resistor network: nodes, edges, incidence, generators and networkx interop.

The topology is immutable; conductances live outside it, as a per-edge array ``k`` of shape
``(E,)`` in siemens, so that one network serves many training runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from ._validation import check_conductances, finite_array, in_range
from .elements import Element, Resistor, element_from_spec
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
    elements : Element or sequence of Element, optional
        The law of each edge (``circuitlearn.elements``): one element for every edge or one
        per edge; an element may also be named by its kind (``"diode"``) or given as a spec
        mapping (``{"kind": "transistor", "vto": 0.5}``, as in a TOML configuration). Stored
        as a tuple of E elements, or None when every edge is a ``Resistor`` (the linear
        network, settled by ``LaplacianSolver``).
    """

    n_nodes: int
    edges: np.ndarray
    positions: np.ndarray | None = field(default=None)
    elements: tuple[Element, ...] | None = field(default=None)

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
        object.__setattr__(self, "elements", _check_elements(self.elements, len(e)))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_edges(cls, n_nodes: int, edges, positions=None, elements=None) -> Network:
        """Build a network from an ``(E, 2)`` array of node pairs.

        Parameters
        ----------
        n_nodes : int
            Number of nodes N (>= 1); nodes are numbered 0..N-1.
        edges : array of int, shape (E, 2)
            Node pairs; edge j runs from ``edges[j, 0]`` (+1 end) to ``edges[j, 1]``.
        positions : array, shape (N, 2), optional
            Node coordinates, for drawing only.
        elements : Element or sequence of E Elements, optional
            The edges' laws (``Resistor()``, ``Diode(...)``, ``Transistor(...)``, or a kind
            name or spec mapping such as ``{"kind": "diode", "n": 1.5}``); one for all edges
            or one per edge. Default: all resistors.
        """
        return cls(n_nodes, edges, positions, elements)

    @classmethod
    def lattice(cls, rows: int, cols: int, periodic: bool = False) -> Network:
        """Square lattice of ``rows x cols`` nodes; node ``r * cols + c`` sits at ``(c, r)``.

        Parameters
        ----------
        rows, cols : int
            Nodes per column and per row (>= 1; >= 3 when ``periodic``).
        periodic : bool
            Wrap both directions (a torus: ``2 * rows * cols`` edges, every node of degree 4),
            so that no node sits on a boundary. The wrap-around edges come last.
        """
        rows = in_range("rows", rows, 3 if periodic else 1, None, integer=True)
        cols = in_range("cols", cols, 3 if periodic else 1, None, integer=True)
        idx = np.arange(rows * cols).reshape(rows, cols)
        horiz = np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1)
        vert = np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], axis=1)
        if periodic:
            horiz = np.concatenate([horiz, np.stack([idx[:, -1], idx[:, 0]], axis=1)])
            vert = np.concatenate([vert, np.stack([idx[-1, :], idx[0, :]], axis=1)])
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
        """Build from an undirected ``networkx.Graph``; nodes are renumbered ``0..N-1`` in the
        graph's node order (node ``i`` is ``list(graph.nodes)[i]``).

        A node attribute ``pos`` (2-tuple) is kept as the drawing position. To get the edge
        conductances, node roles and the label mapping back as well (for example from a graph
        written by :meth:`to_networkx`), use :func:`read_networkx`.

        Raises
        ------
        ValidationError
            For a directed graph or a multigraph (parallel edges), or a self-loop.
        """
        return read_networkx(graph, conductance=None).network

    def to_networkx(self, k=None, roles=None):
        """Return a ``networkx.Graph`` of this network.

        Parameters
        ----------
        k : array_like of float, shape (E,), optional
            Conductances (S), written as edge attribute ``conductance``; for a network with
            diodes or transistors, the edge parameters ``theta`` (``check_parameters``).
        roles : Task or mapping, optional
            Node roles, written as node attribute ``role`` (``"input"``, ``"output"`` or
            ``"ground"``) with ``role_index``, the node's position in its role list: a
            ``Task`` or a mapping with ``input_nodes``, ``output_nodes``, ``ground_nodes``.

        Returns
        -------
        networkx.Graph
            Nodes ``0..N-1`` (attribute ``pos`` when the network has positions); edge
            attributes ``edge`` (the edge index ``j``) and ``plus`` (the node at the ``+1``
            end of the incidence matrix, so that :func:`read_networkx` restores the edge
            order and orientation exactly) and, unless all edges are resistors, ``element``
            (the edge's ``Element``).
        """
        import networkx as nx

        if k is not None:
            k = self.check_parameters(k, name="k")
        node_roles = _role_lists(roles, self.n_nodes) if roles is not None else {}
        g = nx.Graph()
        for i in range(self.n_nodes):
            if self.positions is not None:
                g.add_node(i, pos=tuple(self.positions[i]))
            else:
                g.add_node(i)
        for key, nodes in node_roles.items():
            for pos, node in enumerate(nodes):
                g.nodes[int(node)].update(role=ROLE_NAMES[key], role_index=pos)
        for j, (a, b) in enumerate(self.edges):
            attrs = {"edge": j, "plus": int(a)}
            if self.elements is not None:
                attrs["element"] = self.elements[j]
            if k is not None:
                attrs["conductance"] = float(k[j])
            g.add_edge(int(a), int(b), **attrs)
        return g

    # ------------------------------------------------------------------ derived
    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])

    @property
    def is_linear(self) -> bool:
        """True when every edge is a linear resistor."""
        return self.elements is None

    def element(self, j: int) -> Element:
        """The law of edge ``j``."""
        return Resistor() if self.elements is None else self.elements[j]

    def check_parameters(self, theta, name: str = "theta") -> np.ndarray:
        """Check the edge parameters ``theta`` (E,) against each edge's element (conductances
        of resistors > 0 S, gate voltages of transistors inside their range; diode entries are
        ignored) and return them as a float64 array; a linear network's are conductances."""
        if self.elements is None:
            return check_conductances(theta, self.n_edges, name=name)
        try:
            t = np.array(theta, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{name} must be an array of {self.n_edges} numbers") from exc
        if t.shape != (self.n_edges,):
            raise ValidationError(
                f"{name} must have shape ({self.n_edges},), one parameter per edge; got {t.shape}"
            )
        for el, idx in self.element_groups:
            if el.learnable:
                el.check_theta(t[idx], idx, name)
        return t

    @cached_property
    def element_groups(self) -> tuple[tuple[Element, np.ndarray], ...]:
        """The edges grouped by equal element: ``(element, edge indices (m,))`` pairs, in
        order of first appearance; one group of all edges for a linear network."""
        if self.elements is None:
            return ((Resistor(), np.arange(self.n_edges)),)
        groups: dict[Element, list[int]] = {}
        for j, el in enumerate(self.elements):
            groups.setdefault(el, []).append(j)
        return tuple((el, _readonly(np.array(js, np.int64))) for el, js in groups.items())

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
        if self.elements is None:
            return f"Network(n_nodes={self.n_nodes}, n_edges={self.n_edges})"
        counts = ", ".join(f"{el.kind}: {idx.size}" for el, idx in self.element_groups)
        return f"Network(n_nodes={self.n_nodes}, n_edges={self.n_edges}; {counts})"


def _element(el, name: str) -> Element:
    """An ``Element``, or one named by its kind (``"diode"``) or its spec (a mapping with
    ``kind`` and parameters, as a TOML configuration writes it)."""
    if isinstance(el, Element):
        return el
    if isinstance(el, str):
        el = {"kind": el}
    if isinstance(el, Mapping):
        try:
            return element_from_spec(dict(el))
        except ValidationError as exc:
            raise ValidationError(f"{name}: {exc}") from None
    raise ValidationError(
        f"{name} must be a circuitlearn.elements.Element (Resistor(), Diode(), Transistor()), "
        f"an element kind or a spec such as {{kind = 'diode', n = 1.5}}; got "
        f"{type(el).__name__} {el!r:.60}"
    )


def _check_elements(elements, n_edges: int) -> tuple[Element, ...] | None:
    """One element per edge as a tuple, or None when all are resistors."""
    if elements is None:
        return None
    if isinstance(elements, (Element, str, Mapping)):
        elements = [_element(elements, "elements")] * n_edges
    elif not hasattr(elements, "__len__"):
        raise ValidationError(
            "elements must be one circuitlearn.elements.Element (Resistor(), Diode(), "
            f"Transistor()) or a sequence of one per edge; got {elements!r:.80}"
        )
    if len(elements) != n_edges:
        raise ValidationError(
            f"elements must hold one element per edge ({n_edges}); got {len(elements)}: pass "
            "a single element to use it on every edge"
        )
    elements = [_element(el, f"elements[{j}]") for j, el in enumerate(elements)]
    if all(isinstance(el, Resistor) for el in elements):
        return None
    return tuple(elements)


def elements_json(net: Network) -> str:
    """``net.elements`` as JSON text: the distinct elements' specs and each edge's index into
    them (the inverse of ``elements_from_json``); ``"null"`` for a linear network."""
    if net.elements is None:
        return "null"
    specs, index = [], np.empty(net.n_edges, np.int64)
    for g, (el, idx) in enumerate(net.element_groups):
        specs.append(el.spec())
        index[idx] = g
    return json.dumps({"elements": specs, "edge_element": index.tolist()})


def elements_from_json(text: str) -> list[Element] | None:
    """The per-edge elements ``elements_json`` wrote (None: all resistors)."""
    data = json.loads(text)
    if data is None:
        return None
    kinds = [element_from_spec(spec) for spec in data["elements"]]
    return [kinds[i] for i in data["edge_element"]]


#: Task role list -> the value of the node attribute ``role`` in :meth:`Network.to_networkx`.
ROLE_NAMES = {"input_nodes": "input", "output_nodes": "output", "ground_nodes": "ground"}


def _role_lists(roles, n_nodes: int | None) -> dict[str, np.ndarray]:
    from ._validation import disjoint, node_list

    get = roles.get if isinstance(roles, Mapping) else lambda key: getattr(roles, key, None)
    if not any(get(key) is not None for key in ROLE_NAMES):
        raise ValidationError(
            "roles must be a Task or a mapping with input_nodes, output_nodes and/or "
            f"ground_nodes; got {type(roles).__name__}"
        )
    lists = {
        key: node_list(f"roles.{key}", get(key), n_nodes)
        for key in ROLE_NAMES
        if get(key) is not None
    }
    disjoint(lists)
    return lists


@dataclass(frozen=True)
class NetworkxGraph:
    """What :func:`read_networkx` reads from a ``networkx`` graph.

    Attributes
    ----------
    network : Network
        The topology, nodes renumbered ``0..N-1``.
    conductances : ndarray of float, shape (E,), or None
        Edge conductances (S) in the order of ``network.edges``; None when the graph has no
        conductance attribute.
    labels : tuple
        ``labels[i]`` is the graph's label of node ``i`` (any hashable: str, tuple, int).
    roles : dict of str to ndarray of int
        ``input_nodes``, ``output_nodes``, ``ground_nodes`` read from the node attribute
        ``role`` (ordered by ``role_index``); only the roles present.
    """

    network: Network
    conductances: np.ndarray | None
    labels: tuple
    roles: dict[str, np.ndarray]

    @property
    def index(self) -> dict:
        """The graph's node label -> node index ``0..N-1``."""
        return {label: i for i, label in enumerate(self.labels)}


def read_networkx(graph, conductance: str | None = "conductance") -> NetworkxGraph:
    """Read a network, its conductances, its node roles and its node labels from ``graph``.

    The inverse of :meth:`Network.to_networkx`: ``read_networkx(net.to_networkx(k,
    roles=task))`` gives back ``net``'s edges (same order and orientation), ``k`` and the
    task's node roles exactly.

    Parameters
    ----------
    graph : networkx.Graph
        Undirected, without parallel edges. Nodes may have any hashable labels; they are
        renumbered ``0..N-1`` in the graph's node order. Optional node attributes ``pos``
        (drawing position) and ``role``/``role_index``; optional edge attributes
        ``conductance``, ``edge`` (order), ``plus`` (orientation) and ``element`` (the edge's
        ``Element``; edges without one are resistors).
    conductance : str or None
        Name of the edge attribute holding conductances (S); None skips them. When some edges
        have it and others do not, the graph is refused.

    Returns
    -------
    NetworkxGraph

    Raises
    ------
    ValidationError
        For a directed graph, a multigraph, a partial or invalid conductance attribute, or
        invalid roles.
    """
    if not (hasattr(graph, "nodes") and hasattr(graph, "edges")):
        raise ValidationError(f"graph must be a networkx.Graph; got {type(graph).__name__}")
    if getattr(graph, "is_multigraph", lambda: False)():
        raise ValidationError(
            f"graph is a {type(graph).__name__} (parallel edges between two nodes): merge "
            "parallel resistors into one edge (conductances add), e.g. with nx.Graph(graph) "
            "after summing their conductances"
        )
    if getattr(graph, "is_directed", lambda: False)():
        raise ValidationError(
            f"graph is a directed {type(graph).__name__}: resistor networks are undirected; "
            "pass graph.to_undirected()"
        )
    labels = tuple(graph.nodes)
    index = {v: i for i, v in enumerate(labels)}
    triples = list(graph.edges(data=True))
    order = [d.get("edge") for _, _, d in triples]
    if triples and sorted(o for o in order if isinstance(o, int)) == list(range(len(triples))):
        triples = [triples[i] for i in np.argsort(order, kind="stable")]  # written order
    edges = np.array(
        [
            (index[a], index[b]) if d.get("plus", a) != b else (index[b], index[a])
            for a, b, d in triples
        ],
        dtype=np.int64,
    ).reshape(-1, 2)
    pos = None
    if labels and all("pos" in graph.nodes[v] for v in labels):
        pos = np.array([graph.nodes[v]["pos"] for v in labels], dtype=float)
    elements = None
    if any("element" in d for _, _, d in triples):
        elements = [d.get("element", Resistor()) for _, _, d in triples]
    net = Network(len(labels), edges, pos, elements)
    k = None
    if conductance is not None:
        have = [conductance in d for _, _, d in triples]
        if any(have):
            if not all(have):
                a, b, _ = triples[have.index(False)]
                raise ValidationError(
                    f"edge ({a!r}, {b!r}) has no {conductance!r} attribute while other edges "
                    "do: give every edge a conductance (S), or pass conductance=None"
                )
            values = [d[conductance] for _, _, d in triples]
            k = net.check_parameters(values, name=f"edge attribute {conductance!r}")
    roles: dict[str, list] = {}
    names = {role: key for key, role in ROLE_NAMES.items()}
    for v in labels:
        role = graph.nodes[v].get("role")
        if role is None:
            continue
        if role not in names:
            raise ValidationError(
                f"node {v!r} has role {role!r}: allowed are {list(names)} (or no role)"
            )
        rank = graph.nodes[v].get("role_index", len(roles.get(names[role], [])))
        roles.setdefault(names[role], []).append((rank, index[v]))
    role_arrays = {key: [i for _, i in sorted(pairs)] for key, pairs in roles.items()}
    checked = _role_lists(role_arrays, net.n_nodes) if role_arrays else {}
    return NetworkxGraph(net, k, labels, checked)
