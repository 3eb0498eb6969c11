"""Shared fixtures: the package gallery of networks and the random learning case builder."""

from __future__ import annotations

import numpy as np
import pytest

import circuitlearn as cl
from circuitlearn.gallery import GALLERY

try:
    from . import reference as ref
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import reference as ref


@pytest.fixture(params=list(GALLERY))
def gallery_case(request):
    """``(name, network, fixed_nodes)`` for every network of ``circuitlearn.gallery.GALLERY``."""
    factory, fixed = GALLERY[request.param]
    return request.param, factory(), np.asarray(fixed, dtype=np.int64)


def build_case(seed, n_nodes=16, n_extra=14, n_in=3, n_out=1, m=6, ground=1):
    """A random connected network, random node roles, random data and random ``k0``, both as
    circuitlearn objects and as the independent reference's ``RefTask``.

    Returns ``(net, task, rtask, k0)``.
    """
    rng = np.random.default_rng(seed)
    edges = ref.random_connected_edges(n_nodes, n_extra, rng)
    net = cl.Network.from_edges(n_nodes, edges)
    roles = rng.permutation(n_nodes)[: n_in + n_out + ground]
    inputs, outputs, gnd = roles[:n_in], roles[n_in : n_in + n_out], roles[n_in + n_out :]
    x = rng.uniform(0.0, 1.0, (m, n_in))
    y = rng.uniform(0.0, 0.6, (m, n_out))
    k0 = rng.uniform(0.3, 3.0, len(edges))
    task = cl.Task(inputs, outputs, x, y, ground_nodes=gnd)
    rtask = ref.RefTask(n_nodes, edges, inputs, outputs, gnd, x, y)
    return net, task, rtask, k0


@pytest.fixture
def make_case():
    """The case builder ``build_case(seed, n_nodes=16, n_extra=14, n_in=3, n_out=1, m=6,
    ground=1) -> (net, task, rtask, k0)``."""
    return build_case
