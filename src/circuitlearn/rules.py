"""Local learning rules: what one edge does with the drops it measures (docs/design.md §4).

A rule sees only per-edge arrays. The training loop hands it an ``EdgeSignals`` (batch means of
the squared free and clamped drops across each edge, and the per-example drops when the rule
asks for them) and the boolean mask of edges allowed to update; the rule changes its own state.

Conventions (no factor 1/2): ``dk_j = (lr / eta) * mean_batch[(dV^F_j)**2 - (dV^C_j)**2]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ._validation import check_conductances, in_range
from .errors import ValidationError
from .signals import EdgeSignals, RuleState


class Rule:
    """Base class: frozen dataclasses of hyperparameters that update a ``RuleState``.

    Capabilities (class attributes a subclass sets; the loop reads them, never the type):

    - ``needs_clamped`` / ``needs_gradient``: which states the kernel must measure;
    - ``needs_examples`` (property): per-example drops, not only batch means;
    - ``local``: ``apply`` reads only the signals of the edges in ``mask``, so the loop may
      compute only those (a large speed-up when few edges update);
    - ``needs_calibration``: ``calibrate(state, signals)`` is called once before the first
      step with the full training set's signals at the initial state;
    - ``vectorised``: ``apply`` accepts arrays with a leading replica axis (state, signals and
      mask (R, E)) and a sequence of R generators; otherwise the loop calls it once per
      replica with (E,) arrays and that replica's generator.
    """

    needs_clamped: bool = True
    needs_gradient: bool = False
    local: bool = False
    vectorised: bool = False
    needs_calibration: bool = False

    def calibrate(self, state: RuleState, signals: EdgeSignals) -> None:
        """Set state that depends on the board's signals at the initial state (e.g. a dead band
        relative to the signal scale); called once, before the first step, with full-batch
        signals (R, E) when ``needs_calibration``."""

    @property
    def needs_examples(self) -> bool:
        return False

    @property
    def nudge(self) -> float:
        """The nudge ``eta`` the clamped state is measured with; a rule without an ``eta``
        hyperparameter is measured fully clamped (``eta = 1``, outputs at their targets)."""
        return getattr(self, "eta", 1.0)

    def init_state(
        self, k0: np.ndarray | None, n_edges: int, rng: np.random.Generator
    ) -> RuleState:
        raise NotImplementedError

    def apply(
        self, state: RuleState, signals: EdgeSignals, mask: np.ndarray, rng: np.random.Generator
    ) -> None:
        """Update ``state`` in place for the edges where ``mask`` is true."""
        raise NotImplementedError

    def params(self) -> dict:
        return {"kind": type(self).__name__, **asdict(self)}


def _check_bounds(k_min: float, k_max: float) -> None:
    in_range("k_min", k_min, 0, None, low_open=True)
    in_range("k_max", k_max, 0, None, low_open=True)
    if k_min >= k_max:
        raise ValidationError(f"k_min ({k_min}) must be below k_max ({k_max})")


def _initial_k(k0, n_edges: int, k_min: float, k_max: float) -> np.ndarray:
    k = np.ones(n_edges) if k0 is None else check_conductances(k0, n_edges, "k0").copy()
    return np.clip(k, k_min, k_max)


class BoundedConductanceRule(Rule):
    """A rule whose state is the conductances ``k`` (S), moved by ``delta(signals)`` and
    clipped to ``[k_min, k_max]``: ``k = clip(k + mask * delta, k_min, k_max)``.

    Subclasses are frozen dataclasses with ``k_min`` and ``k_max`` fields and define
    ``delta(signals) -> dk``, shape (E,) or (R, E).
    """

    def delta(self, signals: EdgeSignals) -> np.ndarray:
        raise NotImplementedError

    def init_state(self, k0, n_edges, rng) -> RuleState:
        return RuleState(_initial_k(k0, n_edges, self.k_min, self.k_max))

    def apply(self, state, signals, mask, rng) -> None:
        dk = self.delta(signals)
        state.k[mask] = np.clip(state.k[mask] + dk[mask], self.k_min, self.k_max)


@dataclass(frozen=True)
class CoupledLearning(BoundedConductanceRule):
    """The continuous, idealised coupled-learning rule.

    ``dk_j = (lr / eta) * mean_batch[(dV^F_j)**2 - (dV^C_j)**2]``, then
    ``k = clip(k + mask * dk, k_min, k_max)``. An edge whose clamped drop exceeds its free drop
    loses conductance.

    Parameters
    ----------
    lr : float
        Learning rate, S/V^2 (> 0).
    eta : float
        Nudge in (0, 1]: clamped outputs sit at ``V^F + eta * (y - V^F)``.
    k_min, k_max : float
        Conductance bounds in S.
    """

    lr: float = 0.1
    eta: float = 0.5
    k_min: float = 1e-6
    k_max: float = 1e6

    local = True
    vectorised = True

    def __post_init__(self) -> None:
        in_range("lr", self.lr, 0, None, low_open=True, high_open=True)
        in_range("eta", self.eta, 0, 1, low_open=True)
        _check_bounds(self.k_min, self.k_max)

    def delta(self, signals: EdgeSignals) -> np.ndarray:
        """The update ``dk`` (S) every edge would make, shape (E,) or (R, E)."""
        return (self.lr / self.eta) * (signals.free_sq - signals.clamped_sq)


@dataclass(frozen=True)
class GradientDescent(BoundedConductanceRule):
    """Baseline: exact gradient descent on the task's mean squared error,
    ``k = clip(k - lr * dC/dk, k_min, k_max)``, with ``dC/dk`` from the adjoint state.

    Not a local rule: it is what a central processor with full knowledge would do.

    Parameters
    ----------
    lr : float
        Learning rate, S^2/V^2 (> 0, finite): ``dk = -lr * dC/dk`` with ``dC/dk`` in V^2/S.
    k_min, k_max : float
        Conductance bounds in S.
    """

    lr: float = 0.1
    k_min: float = 1e-6
    k_max: float = 1e6

    needs_clamped = False
    needs_gradient = True
    local = True
    vectorised = True

    @property
    def nudge(self) -> float:
        return 1.0  # no clamped state is measured; the adjoint needs no nudge

    def __post_init__(self) -> None:
        in_range("lr", self.lr, 0, None, low_open=True, high_open=True)
        _check_bounds(self.k_min, self.k_max)

    def delta(self, signals: EdgeSignals) -> np.ndarray:
        """The update ``dk = -lr * dC/dk`` (S), shape (E,) or (R, E)."""
        return -self.lr * signals.grad


RULES: dict[str, type] = {"CoupledLearning": CoupledLearning, "GradientDescent": GradientDescent}


def register_rule(cls: type) -> type:
    """Make a rule class available to TOML configs by its class name."""
    RULES[cls.__name__] = cls
    return cls


__all__ = [
    "CoupledLearning",
    "EdgeSignals",
    "GradientDescent",
    "Rule",
    "RuleState",
    "RULES",
    "register_rule",
]
