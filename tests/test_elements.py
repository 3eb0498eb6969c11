"""Element laws (``circuitlearn.elements``) and networks that carry them.

The laws are checked against their textbook forms (Shockley; SPICE level-1 MOSFET written with
explicit source and drain), their derivatives against finite differences, the co-contents
against the currents; networks keep their elements through networkx and ``save``/``load``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import circuitlearn as cl
from circuitlearn.elements import Diode, Resistor, Transistor, element_from_spec
from circuitlearn.network import elements_from_json, elements_json, read_networkx

ELEMENTS = [
    Resistor(),
    Diode(),
    Diode(i_s=1e-9, n=1.7, v_t=0.03),
    Transistor(),
    Transistor(kp=1e-4, vto=0.3, w_over_l=2.5, v_gate_range=(-1.0, 3.0)),
    Transistor(g_leak=1e-6),
]


def level1(vd, vs, vg, el: Transistor):
    """Drain current (A) of SPICE's level-1 NMOS, lambda = 0, with vd >= vs."""
    vgs, vds = vg - vs, vd - vs
    beta = el.kp * el.w_over_l
    if vgs <= el.vto:
        return 0.0
    if vds < vgs - el.vto:
        return beta * (vgs - el.vto - vds / 2) * vds
    return beta / 2 * (vgs - el.vto) ** 2


volts = st.floats(-2.0, 2.0)


@settings(max_examples=200, deadline=None)
@given(volts, volts, st.floats(0.0, 5.0))
def test_the_transistor_is_level_one_with_the_lower_node_as_source(va, vb, vg):
    el = Transistor()
    i = float(el.current(np.array([va]), np.array([vb]), np.array([vg]))[0])
    expected = level1(va, vb, vg, el) if va >= vb else -level1(vb, va, vg, el)
    assert i == pytest.approx(expected, rel=1e-12, abs=1e-18)  # round-off of u_b - u_a


def test_the_diode_is_shockley_with_the_anode_first():
    d = Diode(i_s=2e-12, n=1.3, v_t=0.026)
    dv = np.linspace(-1, 0.8, 7)
    i = d.current(dv, np.zeros_like(dv), np.zeros_like(dv))
    np.testing.assert_allclose(i, 2e-12 * (np.exp(dv / (1.3 * 0.026)) - 1), rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ELEMENTS), st.floats(-0.9, 0.9), st.floats(-0.9, 0.9), st.floats(0.1, 2.9))
def test_derivatives_match_finite_differences(el, va, vb, theta):
    a, b, t = np.array([va]), np.array([vb]), np.array([theta])
    h = 1e-6
    ga, gb = el.derivatives(a, b, t)
    scale = abs(el.current(a, b, t)[0]) / 0.1 + abs(ga[0]) + abs(gb[0]) + 1e-12
    fd_a = (el.current(a + h, b, t) - el.current(a - h, b, t)) / (2 * h)
    fd_b = (el.current(a, b + h, t) - el.current(a, b - h, t)) / (2 * h)
    fd_t = (el.current(a, b, t + h) - el.current(a, b, t - h)) / (2 * h)
    # the transistor's law has a kink of its second derivative at threshold: allow O(h)
    assert abs(ga[0] - fd_a[0]) <= 1e-5 * scale
    assert abs(gb[0] - fd_b[0]) <= 1e-5 * scale
    assert abs(el.dtheta(a, b, t)[0] - fd_t[0]) <= 1e-5 * (scale + abs(fd_t[0]))


@pytest.mark.parametrize("el", [Resistor(), Diode(), Diode(i_s=1e-9, n=1.7, v_t=0.03)])
def test_the_co_content_is_the_integral_of_the_current(el):
    dv = np.linspace(-0.8, 0.7, 31)
    theta = np.full_like(dv, 0.3)
    h = 1e-6
    dc = (el.co_content(dv + h, 0 * dv, theta) - el.co_content(dv - h, 0 * dv, theta)) / (2 * h)
    np.testing.assert_allclose(dc, el.current(dv, 0 * dv, theta), rtol=1e-6, atol=1e-15)
    assert el.co_content(np.zeros(1), np.zeros(1), theta[:1])[0] == 0


def test_the_transistor_has_no_co_content_its_jacobian_is_not_symmetric():
    el = Transistor()
    ga, gb = el.derivatives(np.array([0.2]), np.array([0.0]), np.array([2.0]))
    # d i / d v_b != -d i / d v_a: the edge's 2x2 node Jacobian is not symmetric
    assert abs(ga[0] + gb[0]) > 0.1 * abs(gb[0])
    with pytest.raises(cl.ValidationError, match="transistor has no co-content"):
        el.co_content(np.zeros(1), np.zeros(1), np.ones(1))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Diode(i_s=0.0), r"Diode\.i_s must be a number in \(0"),
        (lambda: Diode(n=0.1), r"Diode\.n must be a number in \[0\.5"),
        (lambda: Diode(v_t=-1), r"Diode\.v_t"),
        (lambda: Transistor(kp=-1), r"Transistor\.kp"),
        (lambda: Transistor(w_over_l=0), r"Transistor\.w_over_l"),
        (lambda: Transistor(v_gate_range=(3, 1)), r"v_gate_range must be finite with low < high"),
        (lambda: Transistor(v_gate_range=5), r"v_gate_range must be a pair"),
        (lambda: element_from_spec({"kind": "capacitor"}), r"kind in \['diode'"),
        (lambda: element_from_spec({"kind": "diode", "is": 1}), r"Diode has no parameter.*is"),
    ],
)
def test_bad_element_parameters_are_refused_naming_the_field(make, message):
    with pytest.raises(cl.ValidationError, match=message):
        make()


def test_specs_round_trip():
    for el in ELEMENTS:
        assert element_from_spec(el.spec()) == el


# ---------------------------------------------------------------------------- networks
EDGES = [[0, 1], [1, 2], [2, 3], [3, 0]]


def test_an_all_resistor_network_is_the_linear_network():
    net = cl.Network.from_edges(4, EDGES, elements=Resistor())
    assert net.elements is None and net.is_linear
    net = cl.Network.from_edges(4, EDGES, elements=[Resistor()] * 4)
    assert net.elements is None and repr(net) == "Network(n_nodes=4, n_edges=4)"


def test_one_element_for_all_or_one_per_edge():
    net = cl.Network.from_edges(4, EDGES, elements=Diode())
    assert net.elements == (Diode(),) * 4 and not net.is_linear
    mixed = [Resistor(), Diode(), Transistor(), Diode()]
    net = cl.Network.from_edges(4, EDGES, elements=mixed)
    assert [net.element(j) for j in range(4)] == mixed
    groups = {el: idx.tolist() for el, idx in net.element_groups}
    assert groups == {Resistor(): [0], Diode(): [1, 3], Transistor(): [2]}
    assert "diode: 2" in repr(net)


@pytest.mark.parametrize(
    "elements, message",
    [
        ([Diode()] * 3, r"one element per edge \(4\); got 3"),
        ([Diode(), Diode(), 3, Diode()], r"elements\[2\] must be a circuitlearn"),
        ([Diode(), "capacitor", Diode(), Diode()], r"elements\[1\]: .*kind in \['diode'"),
        ({"kind": "diode", "m": 2}, r"elements: Diode has no parameter\(s\) \['m'\]"),
        (5, r"elements must be one circuitlearn\.elements\.Element"),
    ],
)
def test_bad_element_lists_are_refused(elements, message):
    with pytest.raises(cl.ValidationError, match=message):
        cl.Network.from_edges(4, EDGES, elements=elements)


def test_elements_may_be_named_by_kind_or_spec():
    net = cl.Network.from_edges(
        4, EDGES, elements=["resistor", "diode", {"kind": "transistor", "vto": 0.5}, "diode"]
    )
    assert net.elements == (Resistor(), Diode(), Transistor(vto=0.5), Diode())
    assert cl.Network.from_edges(4, EDGES, elements="diode").elements == (Diode(),) * 4


def test_parameters_are_checked_per_element_naming_the_edge():
    net = cl.Network.from_edges(4, EDGES, elements=[Resistor(), Diode(), Transistor(), Diode()])
    ok = net.check_parameters([1.0, np.nan, 2.0, 0.0])  # diode entries are ignored
    assert ok[2] == 2.0
    with pytest.raises(cl.ValidationError, match=r"theta\[2\] = 6\.0.*v_gate_range \[0, 5\]"):
        net.check_parameters([1.0, 0.0, 6.0, 0.0])
    with pytest.raises(cl.ValidationError, match=r"theta\[0\] = -1\.0.*> 0 S"):
        net.check_parameters([-1.0, 0.0, 1.0, 0.0])
    with pytest.raises(cl.ValidationError, match=r"shape \(4,\)"):
        net.check_parameters([1.0])


def test_elements_survive_networkx_json_and_save_load(tmp_path):
    mixed = [Resistor(), Diode(n=1.5), Transistor(w_over_l=2.0), Diode(n=1.5)]
    net = cl.Network.from_edges(4, EDGES, elements=mixed)
    back = read_networkx(net.to_networkx()).network
    assert back.elements == net.elements
    theta = np.array([1e-3, 0.0, 2.5, 0.0])  # a diode's entry is unused, 0 allowed
    read = read_networkx(net.to_networkx(theta))
    assert read.network.elements == net.elements
    np.testing.assert_array_equal(read.conductances, theta)
    assert tuple(elements_from_json(elements_json(net))) == net.elements
    assert elements_from_json(elements_json(cl.Network.from_edges(4, EDGES))) is None
    from circuitlearn.store import read_network

    np.savez(tmp_path / "network.npz", n_nodes=4, edges=net.edges, elements=elements_json(net))
    assert read_network(tmp_path / "network.npz").elements == net.elements
