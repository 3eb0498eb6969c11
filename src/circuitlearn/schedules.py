"""Who updates when (DESIGN §5). A schedule draws, from its own seeded generator, the edges that
update during one training step.

``events(rng, n_edges)`` yields one boolean mask (E,) per settle-and-update event in the step:
one event for the clocked schedules, a random number of single-edge events for
``PoissonClocks`` (the physics is re-settled between them). ``updates_per_step(n_edges)`` is
the expected number of updates per edge per step, so ``updates_per_edge = updates_per_step * step``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from ._validation import in_range
from .errors import ValidationError


class Schedule:
    def events(self, rng: np.random.Generator, n_edges: int) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def updates_per_step(self, n_edges: int) -> float:
        raise NotImplementedError

    def check(self, n_edges: int) -> None:
        """Refuse settings that cannot apply to a network of ``n_edges`` edges."""

    def params(self) -> dict:
        return {"kind": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class Synchronous(Schedule):
    """Every edge updates at every step (the clocked hardware)."""

    def events(self, rng, n_edges):
        yield np.ones(n_edges, dtype=bool)

    def updates_per_step(self, n_edges):
        return 1.0


@dataclass(frozen=True)
class Bernoulli(Schedule):
    """Each edge updates independently with probability ``p`` in (0, 1] per step."""

    p: float = 0.5

    def __post_init__(self) -> None:
        in_range("p", self.p, 0, 1, low_open=True)

    def events(self, rng, n_edges):
        yield rng.random(n_edges) < self.p

    def updates_per_step(self, n_edges):
        return float(self.p)


@dataclass(frozen=True)
class RandomSubset(Schedule):
    """Exactly ``count`` edges, drawn uniformly without replacement, update per step."""

    count: int = 1

    def __post_init__(self) -> None:
        in_range("count", self.count, 1, None, integer=True)
        object.__setattr__(self, "count", int(self.count))

    def check(self, n_edges):
        if self.count > n_edges:
            raise ValidationError(
                f"RandomSubset count ({self.count}) exceeds the network's {n_edges} edges"
            )

    def events(self, rng, n_edges):
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
    edge equally likely)."""

    rate: float = 1.0

    def __post_init__(self) -> None:
        in_range("rate", self.rate, 0, None, low_open=True)

    def events(self, rng, n_edges):
        n = rng.poisson(self.rate * n_edges)
        for j in rng.integers(0, n_edges, n):
            mask = np.zeros(n_edges, dtype=bool)
            mask[j] = True
            yield mask

    def updates_per_step(self, n_edges):
        return float(self.rate)


SCHEDULES: dict[str, type] = {
    c.__name__: c for c in (Synchronous, Bernoulli, RandomSubset, PoissonClocks)
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
    upe = in_range("updates_per_edge", updates_per_edge, 0, None, low_open=True)
    return math.ceil(upe / schedule.updates_per_step(n_edges) - 1e-9)
