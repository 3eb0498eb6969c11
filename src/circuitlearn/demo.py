"""The embedded default run behind ``circuitlearn demo``: Iris on the 16-edge lab board.

Layout of the output directory, the same for one seed or many::

    OUT/
      learning_curves.png     test error and accuracy against updates per edge (with 95%
                              confidence bands over the seeds when there are several)
      seed-S/sync/            the synchronous run of seed S (a run directory, see store)
      seed-S/bernoulli-0.5/   the Bernoulli(0.5) run of seed S
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

from ._validation import check_output_dir, check_output_file, in_range
from .config import run_config
from .errors import ValidationError
from .gallery import LAB_IRIS_ROLES
from .plots import curves_with_bands, learning_curves
from .store import save

DEMO_CONFIG = {
    "name": "demo",
    "network": {"kind": "board"},
    "task": {"kind": "iris", "encoding": "levels", "seed": 0, **LAB_IRIS_ROLES},
    "rule": {"kind": "CoupledLearning", "lr": 0.5, "eta": 0.5},
    "schedule": {"kind": "Synchronous"},
    "train": {"steps": 2000, "seed": 0},
}

#: Run label -> its directory name under ``OUT/seed-S/``.
SLUGS = {"synchronous": "sync", "Bernoulli(0.5)": "bernoulli-0.5"}
FIGURE = "learning_curves.png"
_SEED_DIR = re.compile(r"seed-\d+")


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


def _is_demo_entry(entry: Path) -> bool:
    if entry.name == FIGURE:
        return entry.is_file()
    # seed-S/ today; sync/ and bernoulli-0.5/ at the top level in circuitlearn 0.1.0.
    return entry.is_dir() and (_SEED_DIR.fullmatch(entry.name) or entry.name in SLUGS.values())


def is_demo_dir(path: str | Path) -> bool:
    """True if ``path`` is a directory holding nothing but demo output (or nothing at all)."""
    path = Path(path)
    return path.is_dir() and all(_is_demo_entry(e) for e in path.iterdir())


def check_demo_out(out: str | Path, overwrite: bool = False, seeds=(), name: str = "out") -> Path:
    """Check, before any training, that the demo can write to ``out``.

    An existing demo output (or an empty directory) is reused; any other existing directory
    is refused unless ``overwrite``, and then only the demo's own files in it are replaced.
    ``seeds`` are the seeds whose run directories will be written.
    """
    out = check_output_dir(name, out, overwrite=True)
    if out.is_dir() and not overwrite and not is_demo_dir(out):
        other = sorted(e.name for e in out.iterdir() if not _is_demo_entry(e))
        raise ValidationError(
            f"{name} {str(out)!r} already exists and is not a demo output (it holds "
            f"{other[:3]}): choose another, or pass --overwrite (overwrite=True) to write the "
            "demo into it"
        )
    check_output_file(name, out / FIGURE)
    for s in seeds:
        for slug in SLUGS.values():
            check_output_dir(name, out / f"seed-{s}" / slug, overwrite=True)
    return out


def run_demo(
    out: str | Path,
    steps: int = 2000,
    seed: int = 0,
    seeds: int = 1,
    overwrite: bool = False,
):
    """Train both demo runs for seeds ``seed .. seed + seeds - 1``, save them under
    ``out/seed-S/`` and draw their learning curves.

    Parameters
    ----------
    out : path
        Output directory (see the module docstring for its layout); checked before training.
    steps : int
        Synchronous steps per run, at least 1; Bernoulli(0.5) gets ``2 * steps``.
    seed : int
        First seed (data split, network initialisation and schedule).
    seeds : int
        Number of seeds, at least 1. With several, the figure shows the mean over seeds with a
        95% confidence band (Student t; in log space for the error, as in the sweep figures).
    overwrite : bool
        Write into an existing directory that is not a demo output.

    Returns
    -------
    (dict of str to list of TrainResult, Path)
        Run label -> its results in seed order, and the figure's path.
    """
    steps = in_range("steps", steps, 1, None, integer=True)
    seed = in_range("seed", seed, 0, None, integer=True)
    seeds = in_range("seeds", seeds, 1, None, integer=True)
    out = Path(out)
    seed_list = list(range(seed, seed + seeds))
    was_demo = is_demo_dir(out)
    check_demo_out(out, overwrite=overwrite, seeds=seed_list)
    results: dict[str, list] = {label: [] for label in SLUGS}
    for s in seed_list:
        for label, cfg in demo_configs(steps, s).items():
            result = run_config(cfg)
            save(result, out / f"seed-{s}" / SLUGS[label], overwrite=True)
            results[label].append(result)
    path = demo_figure(results, seed_list, out / FIGURE)
    if was_demo:  # drop runs of an earlier demo (other seeds, the 0.1.0 layout)
        for entry in out.iterdir():
            if entry.is_dir() and entry.name not in {f"seed-{s}" for s in seed_list}:
                shutil.rmtree(entry)
    return results, path


def demo_figure(results: dict[str, list], seeds: list[int], path: str | Path) -> Path:
    """Draw test error and test accuracy against updates per edge for each demo run: the
    curves of one seed, or the mean over several with 95% confidence bands."""
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    title = "Iris on the 16-edge lab network: coupled learning, synchronous vs desynchronous"
    if len(seeds) == 1:
        hists = {label: runs[0].history for label, runs in results.items()}
        learning_curves(hists, y="test_error", ax=axes[0])
        learning_curves(hists, y="test_accuracy", ax=axes[1])
    else:
        frames = []
        for label, runs in results.items():
            for s, r in zip(seeds, runs, strict=True):
                h = r.history[["updates_per_edge", "test_error", "test_accuracy"]].copy()
                frames.append(h.assign(schedule=label, run_id=f"{SLUGS[label]}/seed-{s}"))
        hist = pd.concat(frames, ignore_index=True)
        curves_with_bands(hist, by="schedule", y="test_error", ax=axes[0])
        curves_with_bands(hist, by="schedule", y="test_accuracy", ax=axes[1])
        title += f"\nmean over seeds {seeds[0]}..{seeds[-1]} with 95% confidence bands"
    fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
