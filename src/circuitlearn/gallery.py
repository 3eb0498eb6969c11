"""Every named network and node-role set of circuitlearn, in one place.

The demo, the experiments, the estimators, the benchmarks, the configuration's network kinds and
the tests all take their graphs from here. ``GALLERY`` maps a name to a factory and a choice of
fixed nodes: the test suite runs every factorisation backend on every entry against an
independent dense reference (``tests/test_backends.py``).

>>> from circuitlearn import gallery
>>> net = gallery.lab_board()
>>> net.n_nodes, net.n_edges
(9, 16)
>>> sorted(gallery.GALLERY)[:3]
['crossbar-4x2', 'lab-board', 'lattice-1x6']
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._validation import in_range
from .elements import Diode, Resistor, Transistor
from .network import Network

#: Node roles on ``lab_board()`` for Iris with one output ("levels" encoding): four inputs, the
#: centre node as the output and one ground, as used by the demo and experiments E2 and E4.
LAB_IRIS_ROLES: dict[str, list[int]] = {
    "input_nodes": [0, 2, 3, 6],
    "output_nodes": [4],
    "ground_nodes": [7],
}


def lab_board() -> Network:
    """A 16-edge board like the laboratory network: a 3 x 3 square lattice (nodes numbered row
    by row, ``r * 3 + c``) with the four diagonals to the centre node 4.

    The published board's exact wiring is not known to us; this is an assumed stand-in of the
    same size (9 nodes, 16 edges). ``LAB_IRIS_ROLES`` gives the node roles used for Iris.

    >>> net = lab_board()
    >>> net.n_nodes, net.n_edges
    (9, 16)
    >>> int((net.edges == 4).any(axis=1).sum())  # the centre's 4 lattice edges + 4 diagonals
    8
    """
    grid = Network.lattice(3, 3)
    diagonals = np.array([[0, 4], [2, 4], [6, 4], [8, 4]])
    return Network.from_edges(9, np.concatenate([grid.edges, diagonals]), grid.positions)


def torus_board() -> Network:
    """A 4 x 4 periodic lattice: 16 nodes, 32 edges, every node of degree 4 (no boundary).

    The larger board of the stepped-hardware experiments and the lattice of the transistor
    networks. ``TORUS_ROLES`` gives its node roles.

    >>> net = torus_board()
    >>> net.n_nodes, net.n_edges, set(np.bincount(net.edges.ravel()).tolist())
    (16, 32, {4})
    """
    return Network.lattice(4, 4, periodic=True)


#: Node roles on ``torus_board()``: four inputs on the diagonal (nodes 0, 5, 10, 15), so no two
#: share an edge, two outputs and a ground, spread over the torus.
TORUS_ROLES: dict[str, list[int]] = {
    "input_nodes": [0, 5, 10, 15],
    "output_nodes": [2, 8],
    "ground_nodes": [13],
}


def transistor_torus(kp: float = 2e-5, vto: float = 0.7, g_leak: float = 1e-7) -> Network:
    """``torus_board()`` with every edge an n-channel MOSFET (``elements.Transistor``): the
    4 x 4 periodic transistor lattice, whose learnable parameters are the 32 gate voltages (V).

    ``TRANSISTOR_TORUS_ROLES`` gives its node roles for XOR and the square task
    (``tasks.xor``, ``tasks.square``).

    Parameters
    ----------
    kp : float
        Transconductance parameter (A/V^2) of every transistor.
    vto : float
        Threshold voltage (V).
    g_leak : float
        Off-state leak (S) in parallel with every channel, so that nodes behind cut-off
        transistors keep defined voltages.

    >>> net = transistor_torus()
    >>> net.n_edges, {el.kind for el, _ in net.element_groups}
    (32, {'transistor'})
    """
    lattice = torus_board()
    element = Transistor(kp=kp, vto=vto, g_leak=g_leak)
    return Network.from_edges(lattice.n_nodes, lattice.edges, lattice.positions, element)


#: Node roles on ``transistor_torus()`` (nodes numbered row by row, ``r * 4 + c``): the two
#: variable inputs at (3, 3) and (3, 1), two fixed rails at (1, 1) (low) and (1, 3) (high), and
#: the differential output ``V_plus - V_minus`` read between (2, 2) and (0, 0). The rails are
#: held like inputs (constant columns of ``x``), so no node is grounded. Single-rail inputs and
#: a differential output are what make XOR reachable: every node voltage of these networks is
#: non-decreasing in every source, so no single output voltage can be XOR of two inputs, but a
#: difference of two can.
TRANSISTOR_TORUS_ROLES: dict[str, list[int]] = {
    "input_nodes": [15, 13],
    "rail_nodes": [5, 7],
    "output_nodes": [10, 0],
}


def diode_board() -> Network:
    """``torus_board()``'s 32 resistors plus 8 diodes from every other lattice node (a
    checkerboard) to a 17th node, the ground of ``DIODE_BOARD_ROLES``: the diodes clip node
    voltages near 0.7 V when the resistors are about 1 S, a resistor-diode network whose 32
    conductances are learnable (the diodes have no parameter).

    >>> net = diode_board()
    >>> net.n_nodes, net.n_edges, sum(el.kind == "diode" for el in net.elements)
    (17, 40, 8)
    """
    lattice = torus_board()
    anodes = np.array([n for n in range(16) if (n // 4 + n % 4) % 2 == 1])
    diodes = np.stack([anodes, np.full(anodes.size, 16)], axis=1)
    positions = np.concatenate([lattice.positions, [[1.5, -1.0]]])
    elements = [Resistor()] * lattice.n_edges + [Diode()] * diodes.shape[0]
    return Network.from_edges(17, np.concatenate([lattice.edges, diodes]), positions, elements)


#: Node roles on ``diode_board()``: three inputs on the torus's diagonal, two outputs and the
#: diodes' common node as ground.
DIODE_BOARD_ROLES: dict[str, list[int]] = {
    "input_nodes": [0, 5, 10],
    "output_nodes": [2, 8],
    "ground_nodes": [16],
}


def random_board16() -> Network:
    """A 10-node random planar network with 16 edges: the size of the laboratory board, but
    NOT its wiring (see ``lab_board``). The benchmarks' small-ensemble network.

    >>> net = random_board16()
    >>> net.n_nodes, net.n_edges
    (10, 16)
    """
    return Network.random(10, seed=3, mean_degree=3.3)


def crossbar(n_sources: int, n_outputs: int) -> tuple[Network, dict[str, np.ndarray]]:
    """A resistive crossbar: every source line (the ``n_sources`` inputs and one ground) joins
    every output line through one adjustable resistor.

    Each output then settles at a mixture of the source voltages with weights
    ``k / sum(k)`` of its own edges, the best a passive network can do with these sources.

    Parameters
    ----------
    n_sources : int
        Input nodes (feature, complement and bias voltages), >= 1.
    n_outputs : int
        Output nodes, >= 1.

    Returns
    -------
    network : Network
        ``n_sources + 1 + n_outputs`` nodes and ``(n_sources + 1) * n_outputs`` edges; nodes
        ``0 .. n_sources - 1`` are the inputs, ``n_sources`` is ground, the rest are outputs.
        Drawn with the sources in a column on the left and the outputs on the right.
    roles : dict
        ``input_nodes``, ``output_nodes``, ``ground_nodes`` (arrays of int).

    >>> net, roles = crossbar(4, 2)
    >>> net.n_nodes, net.n_edges
    (7, 10)
    >>> [roles[r].tolist() for r in ("input_nodes", "ground_nodes", "output_nodes")]
    [[0, 1, 2, 3], [4], [5, 6]]
    """
    n_sources = in_range("n_sources", n_sources, 1, None, integer=True)
    n_outputs = in_range("n_outputs", n_outputs, 1, None, integer=True)
    src = np.arange(n_sources + 1)
    out = n_sources + 1 + np.arange(n_outputs)
    edges = np.stack(np.meshgrid(src, out, indexing="ij"), axis=-1).reshape(-1, 2)
    left = np.stack([np.zeros(src.size), 1.0 - np.linspace(0, 1, src.size)], axis=1)
    mid = (np.arange(n_outputs) + 1) / (n_outputs + 1)
    right = np.stack([np.ones(n_outputs), 1.0 - mid], axis=1)
    net = Network.from_edges(src.size + n_outputs, edges, np.concatenate([left, right]))
    roles = {"input_nodes": src[:-1], "output_nodes": out, "ground_nodes": src[-1:]}
    return net, roles


def planar_with_edges(n_edges: int, seed: int = 0) -> Network:
    """A random planar network (``Network.random``, mean degree 3.5) of about ``n_edges`` edges.

    >>> net = planar_with_edges(1000)
    >>> 900 < net.n_edges < 1100
    True
    """
    n_edges = in_range("n_edges", n_edges, 1, None, integer=True)
    return Network.random(max(4, round(n_edges / 1.75)), seed=seed)


def lattice_with_edges(n_edges: int) -> Network:
    """A square lattice of about ``n_edges`` edges (side ``round(sqrt(n_edges / 2))``).

    >>> net = lattice_with_edges(10_000)
    >>> net.n_nodes, net.n_edges
    (5041, 9940)
    """
    n_edges = in_range("n_edges", n_edges, 1, None, integer=True)
    side = max(2, round(np.sqrt(n_edges / 2)))
    return Network.lattice(side, side)


def two_triangles() -> Network:
    """Two disconnected triangles, nodes 0-2 and 3-5: the network that must fail to settle
    (``FloatingNodesError``) when every fixed node sits in the first triangle.

    >>> import circuitlearn as cl
    >>> cl.solve(two_triangles(), [1.0] * 6, [0, 1], [1.0, 0.0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    circuitlearn.errors.FloatingNodesError: ...
    """
    return Network.from_edges(6, [[0, 1], [1, 2], [2, 0], [3, 4], [4, 5], [5, 3]])


def _crossbar_4x2() -> Network:
    return crossbar(4, 2)[0]


#: Name -> (network factory, fixed nodes): the graphs every backend is checked on. The fixed
#: nodes of ``"two-triangles"`` all sit in its first triangle, so it must fail to settle; the
#: others are connected. ``"planar-700"`` has more free nodes than ``backends.DENSE_MAX_FREE``.
GALLERY: dict[str, tuple[Callable[[], Network], tuple[int, ...]]] = {
    "lattice-5x7": (lambda: Network.lattice(5, 7), (0, 17, 34)),
    "lattice-1x6": (lambda: Network.lattice(1, 6), (0, 5)),
    "random-40": (lambda: Network.random(40, seed=3), (1, 7, 22)),
    "random-120": (lambda: Network.random(120, seed=11, mean_degree=4.5), (0, 50, 99, 119)),
    "planar-700": (lambda: planar_with_edges(700, seed=1), (0, 100, 200, 399)),
    "lab-board": (
        lab_board,
        tuple(LAB_IRIS_ROLES["input_nodes"] + LAB_IRIS_ROLES["ground_nodes"]),
    ),
    "random-board16": (random_board16, (0, 5, 9)),
    "torus-board": (torus_board, tuple(TORUS_ROLES["input_nodes"] + TORUS_ROLES["ground_nodes"])),
    "crossbar-4x2": (_crossbar_4x2, (0, 1, 2, 3, 4)),
    "two-triangles": (two_triangles, (0, 1, 2)),
}

#: The gallery entries that must raise ``FloatingNodesError``, with the floating nodes.
DISCONNECTED: dict[str, tuple[int, ...]] = {"two-triangles": (3, 4, 5)}

__all__ = [
    "DIODE_BOARD_ROLES",
    "DISCONNECTED",
    "GALLERY",
    "LAB_IRIS_ROLES",
    "TORUS_ROLES",
    "TRANSISTOR_TORUS_ROLES",
    "crossbar",
    "diode_board",
    "lab_board",
    "lattice_with_edges",
    "planar_with_edges",
    "random_board16",
    "torus_board",
    "transistor_torus",
    "two_triangles",
]
