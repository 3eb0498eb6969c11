"""Data presentation: which training examples each step sees (docs/design.md §5).

Presentation is an axis of its own, independent of the update schedule:

- ``sampling="epoch"`` (default): mini-batches of a fresh random permutation every epoch; the
  batch noise cancels over an epoch.
- ``sampling="replacement"``: every batch is ``batch_size`` i.i.d. draws with replacement; the
  noise does not cancel.
- ``sampling="cyclic"``: a fixed order, never shuffled (a hardware input sequencer).

With ``ticks_per_example = n`` every batch is held for ``n`` consecutive steps, as hardware holds
an input for several clock ticks. A full batch (``batch_size=None``) presents every example at
every step.
"""

from __future__ import annotations

import numpy as np

from ._validation import TRAIN_PARAMS, in_range

SAMPLING = TRAIN_PARAMS["sampling"].choices


class Batches:
    """The sequence of example-index batches one replica sees, with explicit (picklable) state.

    Parameters
    ----------
    m : int
        Number of training examples.
    batch_size : int or None
        None: the full batch at every step; ``b``: ``b`` examples per batch.
    rng : numpy.random.Generator
        The replica's data stream (used by ``"epoch"`` and ``"replacement"`` only).
    sampling : {"epoch", "replacement", "cyclic"}
    ticks_per_example : int
        Steps each batch is held for (>= 1).

    Notes
    -----
    ``next()`` returns ``(indices, fresh)``: the batch's example indices (b,) and whether it is
    a new presentation (False while a batch is held for further ticks). Epoch and cyclic
    batches never straddle an epoch: when ``b`` does not divide ``m`` the last batch of an
    epoch is shorter; ``b >= m`` is the full batch.
    """

    def __init__(
        self,
        m: int,
        batch_size: int | None,
        rng: np.random.Generator,
        sampling: str = "epoch",
        ticks_per_example: int = 1,
    ):
        self.m = in_range("m", m, 1, None, integer=True)
        self.sampling = TRAIN_PARAMS["sampling"].check(sampling)
        self.ticks = TRAIN_PARAMS["ticks_per_example"].check(ticks_per_example)
        self.rng = rng
        self.full = batch_size is None or (batch_size >= m and sampling != "replacement")
        self.b = m if batch_size is None else int(batch_size)
        self._order = np.arange(m)
        self._pos = m  # start a new epoch at the first call
        self._current: np.ndarray | None = None
        self._held = 0

    def _draw(self) -> np.ndarray:
        if self.full:
            return self._order
        if self.sampling == "replacement":
            return self.rng.integers(0, self.m, self.b)
        if self._pos >= self.m:
            self._pos = 0
            if self.sampling == "epoch":
                self._order = self.rng.permutation(self.m)
        idx = self._order[self._pos : self._pos + self.b]
        self._pos += self.b
        return idx

    def next(self) -> tuple[np.ndarray, bool]:
        """The next step's batch ``(indices, fresh)``."""
        if self._current is not None and self._held < self.ticks:
            self._held += 1
            return self._current, False
        self._current = self._draw()
        self._held = 1
        return self._current, True
