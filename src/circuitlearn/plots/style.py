"""Axis labels, legend names and number formats shared by every figure, and the small
helpers that make a new axis or check a frame's columns."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import ValidationError

YLABELS = {
    "train_error": "train error, mean squared (V$^2$)",
    "test_error": "test error, mean squared (V$^2$)",
    "train_accuracy": "train accuracy (fraction correct)",
    "test_accuracy": "test accuracy (fraction correct)",
}

XLABELS = {
    "updates_per_edge": "updates per edge",
    "step": "training step",
    "updates": "updates per edge (counted)",
    "wall_time": "wall time (s)",
    "schedule.p": "update probability per edge per step, p",
    "schedule.count": "edges updated per step",
    "schedule.rate": "clock rate (events per edge per step)",
    "rule.taps": "potentiometer taps",
    "rule.lr": "learning rate (S/V$^2$)",
    "rule.eta": "nudge $\\eta$",
    "rule.noise": "drop noise (V)",
    "train.batch_size": "batch size (examples)",
    "network.n_nodes": "nodes",
}

#: Short names for legends (``p = 0.5``).
SHORT = {"schedule.p": "p", "schedule.count": "count", "schedule.rate": "rate"}


def pyplot():
    """``matplotlib.pyplot``, imported when a figure is first drawn."""
    import matplotlib.pyplot as plt

    return plt


def new_axes(ax, figsize=(6.4, 4.4)):
    """``(figure, ax)``: the given axis and its figure, or a new figure of ``figsize``."""
    if ax is None:
        fig, ax = pyplot().subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def axis_label(key: str) -> str:
    """Axis label of a column (with its unit where it has one)."""
    return XLABELS.get(key, YLABELS.get(key, key.replace("_", " ")))


def short_name(key: str) -> str:
    """Legend name of a grid column (``schedule.p`` -> ``p``)."""
    return SHORT.get(key, key.split(".")[-1].replace("_", " "))


def value_text(value) -> str:
    """A grid value for a legend or file name: floats to four significant digits."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


def is_error(y: str) -> bool:
    """Errors are positive and span decades: they get a log axis and log-space statistics."""
    return y.endswith("error")


def wrap(text: str, width: int = 90) -> str:
    """``text`` broken into lines of at most ``width`` characters (for titles)."""
    return "\n".join(textwrap.wrap(text, width)) if text else text


def colour_cycle(n: int, cmap: str = "viridis") -> list:
    """``n`` colours spread over ``cmap`` (its dark end avoided for a single colour)."""
    from matplotlib import colormaps

    cm = colormaps[cmap]
    if n == 1:
        return [cm(0.15)]
    return [cm(0.05 + 0.85 * i / (n - 1)) for i in range(n)]


def need_columns(frame: pd.DataFrame, name: str, columns: Iterable[str | None]) -> None:
    """Refuse a non-frame or a frame without one of ``columns`` (None entries are skipped)."""
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"{name} must be a pandas DataFrame; got {type(frame).__name__}")
    for col in columns:
        if col is not None and col not in frame.columns:
            raise ValidationError(
                f"{name} has no column {col!r}; its columns are {list(map(str, frame.columns))}"
            )
