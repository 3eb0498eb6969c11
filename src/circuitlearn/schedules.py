"""Who updates when (docs/design.md §5). A schedule draws, from its own seeded generator, the
edges that update during one training step.

``events(rng, n_edges, step, state)`` yields one boolean mask (E,) per settle-and-update event in
step ``step``: one event for the clocked schedules, a random number of single-edge events for
``PoissonClocks`` (the physics is re-settled between them). ``state`` is what ``start(rng,
n_edges)`` drew once at the start of the run (e.g. ``Staggered``'s random phases; None for the
others). ``updates_per_step(n_edges)`` is the expected number of updates per edge per step, so
``updates_per_edge = updates_per_step * step``. ``draw`` gives the events of R replicas at once,
each from its own generator: the training loop's only entry point.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ._validation import in_range
from .errors import ValidationError


@functools.cache
def _takes_step(cls: type) -> bool:
    """Whether ``cls.events`` accepts ``step`` and ``state`` (older schedules take two)."""
    params = inspect.signature(cls.events).parameters
    return len(params) >= 5 or any(p.kind == p.VAR_KEYWORD for p in params.values())


class Schedule:
    """Base class: frozen dataclasses of settings; the randomness comes from the run's stream."""

    def start(self, rng: np.random.Generator, n_edges: int):
        """Per-run state drawn once before the first step (default: none)."""
        return None

    def events(
        self, rng: np.random.Generator, n_edges: int, step: int = 0, state=None
    ) -> Iterator[np.ndarray]:
        """Masks (E,) of the edges updating at each event of step ``step``."""
        raise NotImplementedError

    def draw(
        self,
        rngs: Sequence[np.random.Generator],
        n_edges: int,
        step: int = 0,
        states: Sequence | None = None,
    ) -> list[tuple[np.ndarray | None, np.ndarray]]:
        """The events of R replicas in step ``step``, replica r drawing from ``rngs[r]``.

        Returns
        -------
        list of (rows, masks)
            One entry per event index ``j``: ``rows`` is None when every replica has a ``j``-th
            event, else the indices (R',) of those that do; ``masks`` is (R', E) bool. Each
            replica draws exactly what ``events`` draws for it alone, so a stacked run equals
            R single runs.
        """
        states = [None] * len(rngs) if states is None else states
        if _takes_step(type(self)):
            per = [
                list(self.events(g, n_edges, step, s)) for g, s in zip(rngs, states, strict=True)
            ]
        else:  # a user's schedule written as ``events(rng, n_edges)``
            per = [list(self.events(g, n_edges)) for g in rngs]
        n_ev = np.array([len(ev) for ev in per])
        out = []
        for j in range(int(n_ev.max(initial=0))):
            if (n_ev > j).all():
                out.append((None, np.stack([ev[j] for ev in per])))
            else:
                rows = np.flatnonzero(n_ev > j)
                out.append((rows, np.stack([per[r][j] for r in rows])))
        return out

    def updates_per_step(self, n_edges: int) -> float:
        raise NotImplementedError

    def check(self, n_edges: int) -> None:
        """Refuse settings that cannot apply to a network of ``n_edges`` edges."""

    def params(self) -> dict:
        return {"kind": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class Synchronous(Schedule):
    """Every edge updates at every step (the clocked hardware)."""

    def events(self, rng, n_edges, step=0, state=None):
        yield np.ones(n_edges, dtype=bool)

    def draw(self, rngs, n_edges, step=0, states=None):
        return [(None, np.ones((len(rngs), n_edges), dtype=bool))]

    def updates_per_step(self, n_edges):
        return 1.0


@dataclass(frozen=True)
class Bernoulli(Schedule):
    """Each edge updates independently with probability ``p`` per step.

    Parameters
    ----------
    p : float
        Update probability per edge per step, in (0, 1]; 1 is synchronous.
    """

    p: float = 0.5

    def __post_init__(self) -> None:
        in_range("p", self.p, 0, 1, low_open=True)

    def events(self, rng, n_edges, step=0, state=None):
        yield rng.random(n_edges) < self.p

    def draw(self, rngs, n_edges, step=0, states=None):
        u = np.empty((len(rngs), n_edges))
        for row, g in zip(u, rngs, strict=True):  # each replica's own stream, no stacking copy
            g.random(out=row)
        return [(None, u < self.p)]

    def updates_per_step(self, n_edges):
        return float(self.p)


@dataclass(frozen=True)
class RandomSubset(Schedule):
    """Exactly ``count`` edges, drawn uniformly without replacement, update per step.

    Parameters
    ----------
    count : int
        Edges updating per step, in [1, E].
    """

    count: int = 1

    def __post_init__(self) -> None:
        in_range("count", self.count, 1, None, integer=True)
        object.__setattr__(self, "count", int(self.count))

    def check(self, n_edges):
        if self.count > n_edges:
            raise ValidationError(
                f"RandomSubset count ({self.count}) exceeds the network's {n_edges} edges"
            )

    def events(self, rng, n_edges, step=0, state=None):
        mask = np.zeros(n_edges, dtype=bool)
        mask[rng.choice(n_edges, self.count, replace=False)] = True
        yield mask

    def updates_per_step(self, n_edges):
        return self.count / n_edges


@dataclass(frozen=True)
class PoissonClocks(Schedule):
    """Fully asynchronous: each edge fires on its own exponential clock of ``rate`` events per
    step. Within a step the events come one edge at a time, in random order, and the physics
    is re-settled before each (superposed Poisson clocks: a Poisson number of events, each
    edge equally likely).

    Parameters
    ----------
    rate : float
        Expected events (updates) per edge per step (> 0).
    """

    rate: float = 1.0

    def __post_init__(self) -> None:
        in_range("rate", self.rate, 0, None, low_open=True)

    def events(self, rng, n_edges, step=0, state=None):
        n = rng.poisson(self.rate * n_edges)
        for j in rng.integers(0, n_edges, n):
            mask = np.zeros(n_edges, dtype=bool)
            mask[j] = True
            yield mask

    def updates_per_step(self, n_edges):
        return float(self.rate)


@dataclass(frozen=True)
class Staggered(Schedule):
    """Deterministic desynchronisation: edge j updates at step t iff ``(t + phase_j) % period
    == 0``, so every edge updates exactly once per ``period`` steps (rate ``1 / period``).

    The control that separates "fewer simultaneous moves" from randomness: the same update
    rate as ``Bernoulli(1 / period)`` with no randomness in who moves.

    Parameters
    ----------
    period : int
        Steps between two updates of one edge (>= 1; 1 is synchronous).
    phase : {"spread", "random"}
        ``"spread"``: ``phase_j = j % period``, so every step moves about ``E / period`` edges;
        ``"random"``: phases drawn once, uniformly, from the run's schedule stream.
    """

    period: int = 2
    phase: str = "spread"

    def __post_init__(self) -> None:
        in_range("period", self.period, 1, None, integer=True)
        object.__setattr__(self, "period", int(self.period))
        if self.phase not in ("spread", "random"):
            raise ValidationError(f"phase must be 'spread' or 'random'; got {self.phase!r}")

    def start(self, rng, n_edges):
        if self.phase == "random":
            return rng.integers(0, self.period, n_edges)
        return np.arange(n_edges) % self.period

    def events(self, rng, n_edges, step=0, state=None):
        phases = self.start(rng, n_edges) if state is None else state
        yield (step + phases) % self.period == 0

    def updates_per_step(self, n_edges):
        return 1.0 / self.period


SCHEDULES: dict[str, type] = {
    c.__name__: c for c in (Synchronous, Bernoulli, RandomSubset, PoissonClocks, Staggered)
}


def synchronous_if_one(p: float) -> Synchronous | Bernoulli:
    """``Synchronous()`` for ``p == 1``, else ``Bernoulli(p)``: the experiments' reading of
    "update probability p", where p = 1 means the clocked hardware."""
    return Synchronous() if p == 1.0 else Bernoulli(p)


def steps_for(updates_per_edge: float, schedule: Schedule, n_edges: int) -> int:
    """Training steps that give every edge ``updates_per_edge`` expected updates under
    ``schedule`` on a network of ``n_edges`` edges: schedules are compared at equal updates
    per edge, not at equal steps.

    The small tolerance keeps an exact ratio (``10 / 0.1``) from rounding up to one extra
    step through floating-point error.
    """
    upe = in_range("updates_per_edge", updates_per_edge, 0, None, low_open=True, high_open=True)
    return math.ceil(upe / schedule.updates_per_step(n_edges) - 1e-9)
