"""The tiny sweep spec that the sweep tests share (test_sweep.py, test_dask.py)."""

from __future__ import annotations

import json
from pathlib import Path


def tiny_spec(grid: dict | None = None, n_nodes: int = 16, name: str = "tiny", **train) -> dict:
    """A sweep of tiny regression runs (a few ms each at the default budget).

    ``grid`` defaults to ``schedule.p`` in (1.0, 0.5) x ``train.seed`` in (0, 1); ``train``
    keys override the base's ``[train]`` (``steps=`` replaces the default
    ``updates_per_edge = 10``).
    """
    budget = {} if "steps" in train else {"updates_per_edge": 10}
    return {
        "sweep": {"name": name},
        "base": {
            "network": {"kind": "random", "n_nodes": n_nodes, "seed": 3},
            "task": {
                "kind": "regression",
                "n_inputs": 2,
                "n_outputs": 1,
                "n_train": 6,
                "n_test": 4,
            },
            "rule": {"kind": "CoupledLearning", "lr": 0.5, "eta": 0.5},
            "schedule": {"kind": "Bernoulli", "p": 0.5},
            "train": {**budget, "seed": 0, **train},
        },
        "grid": {"schedule.p": [1.0, 0.5], "train.seed": [0, 1]} if grid is None else grid,
    }


def run_dirs(out: Path) -> dict[str, Path]:
    """run_id -> directory, for every landed run of the sweep in ``out``."""
    return {d.name: d for d in (out / "runs").iterdir() if not d.name.startswith(".")}


def summaries(out: Path) -> dict[str, dict]:
    """run_id -> summary.json, for every landed run."""
    return {k: json.loads((d / "summary.json").read_text()) for k, d in run_dirs(out).items()}
