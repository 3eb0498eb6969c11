"""Many small networks trained at once: ``train_many`` (docs/design.md §8), kept here so that
``cl.ensemble.train_many`` keeps working; the implementation is ``circuitlearn.train``."""

from .train import STACK_MAX_FREE, train_many

__all__ = ["STACK_MAX_FREE", "train_many"]
