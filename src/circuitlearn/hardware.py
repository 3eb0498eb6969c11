"""Stepped, noisy emulation of the laboratory network (docs/design.md §4, docs/hardware.md).

Each edge is a digital potentiometer with ``taps`` integer positions between ``r_min`` and
``r_max`` ohms (a linear or logarithmic taper, plus a wiper resistance in series), and a
comparator that moves it one tap per update:
``s_j += sign(mean_batch[(dV^C_j)**2 - (dV^F_j)**2] + offset_j)`` (more clamped drop -> more
resistance), no move inside the dead band, clipped at the ends.

Imperfections (each default off): Gaussian noise on every measured drop, a fixed random
comparator offset per edge, a dead band, a per-edge spread of the tap size. Dead band and offset
can be given in V^2 or relative to the board's signal scale (``deadband_rel``, ``offset_rel``:
fractions of the median |comparator value| over the learning edges at the initial state, full
batch), which the loop measures once before the first step (``calibrate``). The published
hardware's tap count, ohm range, taper and wiper resistance are not known to us: 128 taps,
100 ohm .. 10 kohm, linear, 0 ohm are assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_conductances, in_range
from .errors import ValidationError
from .rules import EdgeSignals, Rule, RuleState


@dataclass(frozen=True)
class SteppedCoupledLearning(Rule):
    """The hardware rule: one tap up or down per update.

    Parameters
    ----------
    eta : float
        Nudge in (0, 1].
    taps : int
        Number of potentiometer positions (>= 2).
    r_min, r_max : float
        Resistance (ohm) at tap 0 and at tap ``taps - 1``; ``0 < r_min < r_max``.
    deadband : float
        Comparator dead band (V^2): no move where ``|mean(dVc^2 - dVf^2)| <= deadband``.
    noise : float
        Standard deviation (V) of Gaussian noise on each measured drop, per example.
    offset : float
        Standard deviation (V^2) of each edge's fixed comparator offset.
    tap_spread : float
        Relative standard deviation of each edge's tap size (resistance per tap; for the log
        taper, of its ratio's exponent).
    deadband_rel, offset_rel : float
        Dead band and offset standard deviation as fractions of the board's signal scale: the
        median |comparator value| over the edges that carry a signal, at the initial state,
        over the full training set. Added to ``deadband`` and ``offset``.
    r_wiper : float
        Wiper resistance (ohm) in series with every potentiometer.
    taper : {"linear", "log"}
        ``R(s) = r_min + s (r_max - r_min) / (taps - 1)`` or
        ``R(s) = r_min (r_max / r_min) ** (s / (taps - 1))``, plus ``r_wiper``.
    """

    eta: float = 0.5
    taps: int = 128
    r_min: float = 100.0
    r_max: float = 10_000.0
    deadband: float = 0.0
    noise: float = 0.0
    offset: float = 0.0
    tap_spread: float = 0.0
    deadband_rel: float = 0.0
    offset_rel: float = 0.0
    r_wiper: float = 0.0
    taper: str = "linear"

    local = True
    vectorised = True

    def __post_init__(self) -> None:
        in_range("eta", self.eta, 0, 1, low_open=True)
        in_range("taps", self.taps, 2, None, integer=True)
        in_range("r_min", self.r_min, 0, None, low_open=True)
        in_range("r_max", self.r_max, 0, None, low_open=True)
        if self.r_min >= self.r_max:
            raise ValidationError(f"r_min ({self.r_min}) must be below r_max ({self.r_max}) (ohm)")
        in_range("deadband", self.deadband, 0, None)
        in_range("noise", self.noise, 0, None)
        in_range("offset", self.offset, 0, None)
        in_range("tap_spread", self.tap_spread, 0, 0.5)
        in_range("deadband_rel", self.deadband_rel, 0, None, high_open=True)
        in_range("offset_rel", self.offset_rel, 0, None, high_open=True)
        in_range("r_wiper", self.r_wiper, 0, None, high_open=True)
        if self.taper not in ("linear", "log"):
            raise ValidationError(f"taper must be 'linear' or 'log'; got {self.taper!r}")
        object.__setattr__(self, "taps", int(self.taps))

    @property
    def needs_calibration(self) -> bool:
        """Whether the dead band or offset is relative to the signal scale at the start."""
        return self.deadband_rel > 0 or self.offset_rel > 0

    @property
    def needs_examples(self) -> bool:
        return self.noise > 0

    @property
    def step_ohms(self) -> float:
        """Nominal resistance per tap (ohm)."""
        return (self.r_max - self.r_min) / (self.taps - 1)

    def resistance(self, taps: np.ndarray, tap_scale: np.ndarray | None = None) -> np.ndarray:
        """Resistance (ohm) of each edge at integer positions ``taps``, wiper included."""
        taps = np.asarray(taps)
        if self.taper == "log":
            s = taps if tap_scale is None else taps * tap_scale
            r = self.r_min * (self.r_max / self.r_min) ** (s / (self.taps - 1))
        else:
            step = self.step_ohms if tap_scale is None else self.step_ohms * tap_scale
            r = self.r_min + taps * step
        return r + self.r_wiper if self.r_wiper else r

    def taps_for(self, k: np.ndarray) -> np.ndarray:
        """Nearest tap to conductances ``k`` (S), clipped to the range (nominal tap size)."""
        r = 1.0 / np.asarray(k) - self.r_wiper
        if self.taper == "log":
            ratio = np.log(np.maximum(r, 1e-300) / self.r_min) / np.log(self.r_max / self.r_min)
            s = np.rint(ratio * (self.taps - 1))
        else:
            s = np.rint((r - self.r_min) / self.step_ohms)
        return np.clip(s, 0, self.taps - 1).astype(np.int64)

    def init_state(self, k0, n_edges: int, rng: np.random.Generator) -> RuleState:
        if k0 is None:
            taps = np.full(n_edges, (self.taps - 1) // 2, dtype=np.int64)
        else:
            taps = self.taps_for(check_conductances(k0, n_edges, "k0"))
        offset = None
        if self.offset > 0 or self.offset_rel > 0:
            # unit normals: calibrate() scales them once the board's signal scale is known
            offset = rng.normal(0.0, 1.0 if self.needs_calibration else self.offset, n_edges)
        scale = (
            np.clip(1.0 + rng.normal(0.0, self.tap_spread, n_edges), 0.05, None)
            if self.tap_spread > 0
            else None
        )
        return RuleState(1.0 / self.resistance(taps, scale), taps, offset, scale)

    def calibrate(self, state: RuleState, signals: EdgeSignals) -> None:
        """Set the dead band and offsets relative to the signal scale (before the first step).

        ``signals``: the full training set at the initial state, arrays (R, E); the scale of
        replica r is the median |clamped_sq - free_sq| over its edges whose value exceeds the
        round-off floor (edges between two fixed nodes never carry a signal).
        """
        diff = np.abs(signals.clamped_sq - signals.free_sq)
        floor = 64 * np.finfo(float).eps * np.max(signals.clamped_sq, axis=-1, keepdims=True)
        live = np.where(diff > floor, diff, np.nan)
        scale = np.nan_to_num(np.nanmedian(live, axis=-1, keepdims=True))  # (R, 1)
        state.deadband = np.broadcast_to(
            self.deadband + self.deadband_rel * scale, state.k.shape
        ).copy()
        if state.offset is not None:
            state.offset = state.offset * (self.offset + self.offset_rel * scale)

    def comparator(self, signals: EdgeSignals, rng) -> np.ndarray:
        """``mean(dVc^2) - mean(dVf^2)`` as each edge's comparator measures it (V^2), (E,) or
        (R, E); ``rng`` is one generator, or one per replica for a leading replica axis."""
        if self.noise > 0:
            f, c = signals.free, signals.clamped
            if f.ndim == 2:  # one replica: (b, E)
                f = f + rng.normal(0.0, self.noise, f.shape)
                c = c + rng.normal(0.0, self.noise, c.shape)
            else:  # (R, b, E): each replica draws from its own stream, free then clamped
                f = f + np.stack([g.normal(0.0, self.noise, f.shape[1:]) for g in rng])
                c = c + np.stack([g.normal(0.0, self.noise, c.shape[1:]) for g in rng])
            return np.mean(c**2, axis=-2) - np.mean(f**2, axis=-2)
        return signals.clamped_sq - signals.free_sq

    def apply(self, state: RuleState, signals, mask, rng) -> None:
        diff = self.comparator(signals, rng)
        # A difference below the round-off of the simulation's largest squared drop is an
        # exact tie (e.g. a dead-end edge carrying no current), not a signal: without this
        # floor, np.sign of +-1e-33 would move taps at random. One scale per replica.
        scale = np.maximum(
            np.max(signals.free_sq, axis=-1, keepdims=True),
            np.max(signals.clamped_sq, axis=-1, keepdims=True),
        )
        scale = np.maximum(scale, 0.0)
        diff = np.where(np.abs(diff) <= 64 * np.finfo(float).eps * scale, 0.0, diff)
        if state.offset is not None:
            diff = diff + state.offset
        band = self.deadband if state.deadband is None else state.deadband
        move = np.where(np.abs(diff) > band, np.sign(diff), 0).astype(np.int64)
        state.taps[mask] = np.clip(state.taps[mask] + move[mask], 0, self.taps - 1)
        state.k[...] = 1.0 / self.resistance(state.taps, state.tap_scale)
