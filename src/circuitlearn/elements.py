"""Element laws of a network's edges: linear resistor, Shockley diode, level-1 n-MOSFET.

Every element gives the current through its edge as a function of the voltages of the edge's
two nodes, ``i(v_a, v_b, theta)``, in A, positive from node ``a = edges[j, 0]`` to node
``b = edges[j, 1]``, with ``theta`` the edge's parameter (conductance in S for a resistor, gate
voltage in V relative to ground for a transistor, unused for a diode). All methods are
vectorised over the edges of one element kind: arrays of shape (m,) in, (m,) out.

A resistor and a diode depend on the drop ``v_a - v_b`` only and have a *co-content*
``C(dv) = integral_0^dv i(u) du`` (J/s = W): the settled state minimises ``sum_j C_j`` over the
free node voltages, and the Jacobian of Kirchhoff's current law is symmetric. A transistor does
not: its current depends on both node voltages relative to the gate (the lower node acts as the
source), ``i = beta/2 (f(v_g - v_b) - f(v_g - v_a))`` with ``f(x) = max(x - V_TO, 0)**2``, so
``di/dv_a = beta * max(v_g - v_a - V_TO, 0)`` and ``di/dv_b = -beta * max(v_g - v_b - V_TO, 0)``
differ in magnitude whenever the two ends see different overdrives. The node-voltage Jacobian
of one transistor, ``[[di/dv_a, di/dv_b], [-di/dv_a, -di/dv_b]]``, is therefore not symmetric
(except when both ends see the same overdrive), so no function of the node voltages has these
currents as its gradient: a transistor with its gate as parameter has **no** co-content, for a
fixed gate as for a moving one. Energy-based learning (equilibrium propagation) therefore needs
networks of resistors and diodes; coupled learning needs only the settled states.

This module knows nothing about solvers or learning.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from ._validation import in_range
from .errors import ValidationError

#: Thermal voltage k T / q (V) at 300 K, CODATA 2018 constants.
V_T_300K = 0.025852


class Element:
    """Base of the element laws. Subclasses are frozen dataclasses (hashable, comparable), so
    that edges with equal elements are grouped and evaluated together."""

    #: Short name, used in messages, netlists and saved networks.
    kind: ClassVar[str] = "element"
    #: Whether the edge has a learnable parameter (``theta`` is read).
    learnable: ClassVar[bool] = False
    #: Whether the current depends on the drop ``v_a - v_b`` only (symmetric Jacobian and a
    #: co-content).
    drop_only: ClassVar[bool] = True

    def current(self, va: np.ndarray, vb: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Current (A) from ``a`` to ``b``, shape (m,), for node voltages ``va``, ``vb`` (V)
        and parameters ``theta``, each of shape (m,)."""
        raise NotImplementedError

    def derivatives(
        self, va: np.ndarray, vb: np.ndarray, theta: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(di/dv_a, di/dv_b)`` in S, each of shape (m,)."""
        raise NotImplementedError

    def dtheta(self, va: np.ndarray, vb: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """``di/dtheta`` (A per unit of theta), shape (m,); zero for elements without a
        parameter."""
        return np.zeros(np.broadcast(va, vb).shape)

    def co_content(self, va: np.ndarray, vb: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """``C = integral_0^(v_a - v_b) i(u) du`` in W, shape (m,), for drop-only elements."""
        raise ValidationError(
            f"a {self.kind} has no co-content (its current is not a function "
            "of the voltage drop alone)"
        )

    def check_theta(self, theta: np.ndarray, edges: np.ndarray, name: str = "theta") -> None:
        """Raise ``ValidationError`` naming the first edge (index into the network, from
        ``edges``) whose parameter is outside the element's range; ``name`` is the array's name
        in the message."""

    def spec(self) -> dict:
        """JSON-able description, the inverse of ``element_from_spec``."""
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass(frozen=True)
class Resistor(Element):
    """A linear resistor: ``i = k (v_a - v_b)``; its parameter is the conductance ``k`` (S)."""

    kind: ClassVar[str] = "resistor"
    learnable: ClassVar[bool] = True

    def current(self, va, vb, theta):
        return theta * (va - vb)

    def derivatives(self, va, vb, theta):
        return theta, -theta

    def dtheta(self, va, vb, theta):
        return va - vb

    def co_content(self, va, vb, theta):
        return 0.5 * theta * (va - vb) ** 2

    def check_theta(self, theta, edges, name="theta"):
        bad = np.flatnonzero(~(np.isfinite(theta) & (theta > 0)))
        if bad.size:
            raise ValidationError(
                f"{name}[{edges[bad[0]]}] = {float(theta[bad[0]])!r} is the conductance of a "
                "resistor edge: it must be finite and > 0 S"
            )


@dataclass(frozen=True)
class Diode(Element):
    """A Shockley diode, anode at the edge's first node: ``i = i_s (exp(dv / (n v_t)) - 1)``.

    Parameters
    ----------
    i_s : float
        Saturation current (A), > 0.
    n : float
        Emission (ideality) coefficient, in [0.5, 10].
    v_t : float
        Thermal voltage k T / q (V), > 0; 0.025852 V is 300 K.
    """

    i_s: float = 1e-12
    n: float = 1.0
    v_t: float = V_T_300K

    kind: ClassVar[str] = "diode"

    def __post_init__(self):
        object.__setattr__(self, "i_s", in_range("Diode.i_s", self.i_s, 0, 1, low_open=True))
        object.__setattr__(self, "n", in_range("Diode.n", self.n, 0.5, 10.0))
        object.__setattr__(self, "v_t", in_range("Diode.v_t", self.v_t, 0, 1, low_open=True))

    @property
    def n_vt(self) -> float:
        """``n * v_t`` (V): the voltage scale of the exponential."""
        return self.n * self.v_t

    def current(self, va, vb, theta):
        return self.i_s * np.expm1((va - vb) / self.n_vt)

    def derivatives(self, va, vb, theta):
        g = self.i_s / self.n_vt * np.exp((va - vb) / self.n_vt)
        return g, -g

    def co_content(self, va, vb, theta):
        dv = va - vb
        return self.i_s * (self.n_vt * np.expm1(dv / self.n_vt) - dv)


@dataclass(frozen=True)
class Transistor(Element):
    """An n-channel MOSFET between the edge's two nodes (SPICE level 1, ``LAMBDA = 0``, no body
    effect), symmetric in source and drain: the lower of the two nodes acts as the source.

    With ``beta = kp * w_over_l`` and the overdrive of each end ``u_x = max(v_g - v_x - vto,
    0)`` (V), the current from ``a`` to ``b`` is ``i = beta/2 (u_b**2 - u_a**2)``: the
    level-1 triode law ``beta (v_gs - vto - v_ds/2) v_ds`` when both ends are above threshold,
    the saturation law ``beta/2 (v_gs - vto)**2`` when only the source end is, zero when
    neither is.

    Parameters
    ----------
    kp : float
        Transconductance parameter (A/V^2), > 0.
    vto : float
        Threshold voltage (V).
    w_over_l : float
        Channel width over length, > 0.
    v_gate_range : (float, float)
        Allowed gate voltages (V, relative to ground); the parameter ``theta`` of the edge is
        its gate voltage and must lie in this closed interval (learning rules clip to it).
    g_leak : float
        Conductance (S, >= 0) in parallel with the channel: the off-state leakage of a real
        device, which keeps a node behind cut-off transistors defined. Default 0 (the pure
        level-1 law).
    """

    kp: float = 2e-5
    vto: float = 0.7
    w_over_l: float = 1.0
    v_gate_range: tuple[float, float] = (0.0, 5.0)
    g_leak: float = 0.0

    kind: ClassVar[str] = "transistor"
    learnable: ClassVar[bool] = True
    drop_only: ClassVar[bool] = False

    def __post_init__(self):
        object.__setattr__(
            self, "kp", in_range("Transistor.kp", self.kp, 0, None, low_open=True, high_open=True)
        )
        object.__setattr__(self, "vto", in_range("Transistor.vto", self.vto, -100, 100))
        object.__setattr__(
            self,
            "w_over_l",
            in_range("Transistor.w_over_l", self.w_over_l, 0, None, low_open=True, high_open=True),
        )
        object.__setattr__(
            self, "g_leak", in_range("Transistor.g_leak", self.g_leak, 0, None, high_open=True)
        )
        r = self.v_gate_range
        try:
            lo, hi = (float(x) for x in r)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"Transistor.v_gate_range must be a pair (low, high) of voltages; got {r!r}"
            ) from exc
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValidationError(
                f"Transistor.v_gate_range must be finite with low < high; got {r!r}"
            )
        object.__setattr__(self, "v_gate_range", (lo, hi))

    @property
    def beta(self) -> float:
        """``kp * w_over_l`` (A/V^2)."""
        return self.kp * self.w_over_l

    def _overdrive(self, va, vb, vg):
        return np.maximum(vg - va - self.vto, 0.0), np.maximum(vg - vb - self.vto, 0.0)

    def current(self, va, vb, theta):
        ua, ub = self._overdrive(va, vb, theta)
        i = 0.5 * self.beta * (ub - ua) * (ub + ua)
        return i + self.g_leak * (va - vb) if self.g_leak else i

    def derivatives(self, va, vb, theta):
        ua, ub = self._overdrive(va, vb, theta)
        return self.beta * ua + self.g_leak, -self.beta * ub - self.g_leak

    def dtheta(self, va, vb, theta):
        ua, ub = self._overdrive(va, vb, theta)
        return self.beta * (ub - ua)

    def check_theta(self, theta, edges, name="theta"):
        lo, hi = self.v_gate_range
        bad = np.flatnonzero(~((theta >= lo) & (theta <= hi)))
        if bad.size:
            raise ValidationError(
                f"{name}[{edges[bad[0]]}] = {float(theta[bad[0]])!r} is the gate voltage of a "
                f"transistor edge: it must lie in its v_gate_range [{lo:g}, {hi:g}] V (clip it, "
                "or widen the range)"
            )

    def spec(self) -> dict:
        d = super().spec()
        d["v_gate_range"] = list(self.v_gate_range)
        return d


#: Element kind -> class, for ``element_from_spec``.
KINDS: dict[str, type[Element]] = {c.kind: c for c in (Resistor, Diode, Transistor)}


def element_from_spec(spec: dict) -> Element:
    """The element a ``spec()`` dictionary describes."""
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise ValidationError(
            f"an element spec must be a dict with kind in {sorted(KINDS)}; got {spec!r:.120}"
        )
    params = {k: v for k, v in spec.items() if k != "kind"}
    cls = KINDS[spec["kind"]]
    unknown = sorted(set(params) - set(cls.__dataclass_fields__))
    if unknown:
        raise ValidationError(
            f"{cls.__name__} has no parameter(s) {unknown}; allowed: "
            f"{sorted(cls.__dataclass_fields__)}"
        )
    if "v_gate_range" in params:
        params["v_gate_range"] = tuple(params["v_gate_range"])
    return cls(**params)


__all__ = ["KINDS", "V_T_300K", "Diode", "Element", "Resistor", "Transistor", "element_from_spec"]
