"""Figures (matplotlib). Every function takes an optional ``ax`` and returns the figure, so it
works in scripts, in Jupyter, and inside larger figures."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd

YLABELS = {
    "train_error": "train error, mean squared (V$^2$)",
    "test_error": "test error, mean squared (V$^2$)",
    "train_accuracy": "train accuracy",
    "test_accuracy": "test accuracy",
}


def learning_curves(
    histories: Mapping[str, pd.DataFrame],
    y: str = "test_error",
    x: str = "updates_per_edge",
    ax=None,
    log: bool | None = None,
):
    """Plot one curve per labelled history against ``x`` (default: updates per edge)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for label, hist in histories.items():
        ax.plot(hist[x], hist[y], label=label)
    ax.set_xlabel("updates per edge" if x == "updates_per_edge" else x.replace("_", " "))
    ax.set_ylabel(YLABELS.get(y, y.replace("_", " ")))
    if log if log is not None else y.endswith("error"):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax.figure
