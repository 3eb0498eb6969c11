"""The embedded default run behind ``circuitlearn demo``: Iris on the 16-edge lab board."""

from __future__ import annotations

import copy
from pathlib import Path

from .config import run_config
from .gallery import LAB_IRIS_ROLES
from .plots import learning_curves
from .store import save

DEMO_CONFIG = {
    "name": "demo",
    "network": {"kind": "board"},
    "task": {"kind": "iris", "encoding": "levels", "seed": 0, **LAB_IRIS_ROLES},
    "rule": {"kind": "CoupledLearning", "lr": 0.5, "eta": 0.5},
    "schedule": {"kind": "Synchronous"},
    "train": {"steps": 2000, "seed": 0},
}


def demo_configs(steps: int = 2000, seed: int = 0) -> dict[str, dict]:
    """The two demo runs: synchronous, and Bernoulli(0.5) with twice the steps (so both end at
    the same number of updates per edge)."""
    sync = copy.deepcopy(DEMO_CONFIG)
    sync["task"]["seed"] = seed
    sync["train"].update(steps=steps, seed=seed)
    desync = copy.deepcopy(sync)
    desync["schedule"] = {"kind": "Bernoulli", "p": 0.5}
    desync["train"]["steps"] = 2 * steps
    return {"synchronous": sync, "Bernoulli(0.5)": desync}


def run_demo(out: str | Path, steps: int = 2000, seed: int = 0):
    """Train both demo runs, save them under ``out`` and draw their learning curves.

    Returns ``(results, figure_path)``.
    """
    import matplotlib.pyplot as plt

    out = Path(out)
    results = {}
    for label, cfg in demo_configs(steps, seed).items():
        results[label] = run_config(cfg)
        slug = "sync" if label == "synchronous" else "bernoulli-0.5"
        save(results[label], out / slug, overwrite=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    hists = {label: r.history for label, r in results.items()}
    learning_curves(hists, y="test_error", ax=axes[0])
    learning_curves(hists, y="test_accuracy", ax=axes[1])
    fig.suptitle("Iris on the 16-edge lab network: coupled learning, synchronous vs desynchronous")
    path = out / "learning_curves.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return results, path
