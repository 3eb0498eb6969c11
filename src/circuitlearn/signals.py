"""What a learning edge measures and holds: the neutral vocabulary between the response kernel
(``measure``), which produces ``EdgeSignals``, and the rules, which read them and update a
``RuleState``. Every array has a trailing edge axis, optionally behind a leading replica axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EdgeSignals:
    """What each edge measures during one step; every array has a trailing edge axis.

    Attributes
    ----------
    free_sq, clamped_sq : ndarray, shape (E,)
        Batch mean of the squared drop (V^2) in the free and clamped states.
    grad : ndarray, shape (E,), optional
        Exact ``dC/dk`` (V^2/S) of the mean squared error, from the adjoint state (for the
        gradient-descent baseline only: a central processor's quantity, not a local one).
    free, clamped : ndarray, shape (b, E), optional
        Per-example drops (V), given when the rule sets ``needs_examples``.
    """

    free_sq: np.ndarray
    clamped_sq: np.ndarray | None = None
    grad: np.ndarray | None = None
    free: np.ndarray | None = None
    clamped: np.ndarray | None = None


@dataclass
class RuleState:
    """Per-edge state of a learning network: conductances ``k`` (S) and, for stepped hardware,
    integer taps and the fixed per-edge imperfections (comparator ``offset`` (V^2), relative
    tap size ``tap_scale``, calibrated ``deadband`` (V^2))."""

    k: np.ndarray
    taps: np.ndarray | None = None
    offset: np.ndarray | None = None
    tap_scale: np.ndarray | None = None
    deadband: np.ndarray | None = None

    def copy(self) -> RuleState:
        return RuleState(**{k: None if v is None else v.copy() for k, v in vars(self).items()})
