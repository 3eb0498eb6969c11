"""Equilibrium propagation (Scellier & Bengio 2017; Scellier et al., NeurIPS 2023): a local
rule for networks whose settled state minimises an energy, here the total co-content
``E = sum_j C_j(dV_j)`` of resistor and diode edges (``circuitlearn.elements``).

The cost of one example is ``C = 1/2 sum_outputs (V_out - y)**2`` (V^2), averaged over the
batch. A *nudged* state minimises ``E + beta * C``: a soft nudge, the current
``beta * (y - V_out)`` injected at each output (``beta`` in S; a conductance ``beta`` from each
output to a source at its target). For two nudges ``beta_lo < beta_hi``,

    dC/dk_j  ~=  (dE/dk_j(beta_hi) - dE/dk_j(beta_lo)) / (beta_hi - beta_lo),
    dE/dk_j = 1/2 dV_j**2   (a resistor's co-content is 1/2 k dV**2),

exact as the nudges go to 0: with error O(beta) for the ``positive`` (0, beta) and ``negative``
(-beta, 0) variants, O(beta^2) for the ``centered`` one (-beta, beta). Each edge needs only its
own drops in the two nudged states. The rule sees only per-edge arrays (``EdgeSignals``): the
measuring kernel (``circuitlearn.nonlinear_measure``) reads the nudges it must apply from
``rule.nudge``, a ``SoftNudge``.

A transistor edge has no co-content (``circuitlearn.elements``): equilibrium propagation does
not apply to networks with transistors; coupled learning does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import in_range
from .errors import ValidationError
from .rules import BoundedConductanceRule, _check_bounds
from .signals import EdgeSignals

VARIANTS = ("positive", "negative", "centered")


@dataclass(frozen=True)
class SoftNudge:
    """The two soft nudges (S) a step measures: the ``free_sq`` signals are taken at ``low``,
    the ``clamped_sq`` ones at ``high`` (a nudge of 0 is the free state)."""

    low: float
    high: float


@dataclass(frozen=True)
class EquilibriumPropagation(BoundedConductanceRule):
    """Equilibrium propagation on resistor conductances.

    ``dk_j = -lr * (1/2) mean_batch[dV_j(high)**2 - dV_j(low)**2] / (high - low)``, then
    ``k = clip(k + mask * dk, k_min, k_max)``: ``-lr`` times the estimate of ``dC/dk``.

    Parameters
    ----------
    lr : float
        Learning rate, S^2/V^2 (> 0): ``dk = -lr * dC/dk`` with ``dC/dk`` in V^2/S.
    beta : float
        Nudge strength, S (> 0).
    variant : {"positive", "negative", "centered"}
        Nudges (0, beta), (-beta, 0) or (-beta, beta).
    k_min, k_max : float
        Conductance bounds in S.
    """

    lr: float = 0.1
    beta: float = 1e-3
    variant: str = "centered"
    k_min: float = 1e-6
    k_max: float = 1e6

    local = True
    vectorised = True

    def __post_init__(self) -> None:
        in_range("lr", self.lr, 0, None, low_open=True, high_open=True)
        in_range("beta", self.beta, 0, None, low_open=True, high_open=True)
        if self.variant not in VARIANTS:
            raise ValidationError(f"variant must be one of {list(VARIANTS)}; got {self.variant!r}")
        _check_bounds(self.k_min, self.k_max)

    @property
    def nudge(self) -> SoftNudge:
        b = self.beta
        return {
            "positive": SoftNudge(0.0, b),
            "negative": SoftNudge(-b, 0.0),
            "centered": SoftNudge(-b, b),
        }[self.variant]

    def delta(self, signals: EdgeSignals) -> np.ndarray:
        """The update ``dk`` (S) every edge would make, shape (E,) or (R, E)."""
        n = self.nudge
        return -self.lr * 0.5 * (signals.clamped_sq - signals.free_sq) / (n.high - n.low)


__all__ = ["VARIANTS", "EquilibriumPropagation", "SoftNudge"]
