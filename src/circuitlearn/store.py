"""Results on disk: one directory per run, written atomically.

```
RUN/
  config.toml        everything that determines the run (rule, schedule, train, and the
                     network/task spec when the run came from a config)
  history.parquet    the learning curve
  state.npz          final and initial conductances, taps, optional trajectory
  network.npz        the topology (so a run made from Python objects reloads exactly)
  task.npz           node roles and data
```
A run directory is complete only once it exists under its final name: it is written in a
temporary sibling and renamed, so a crash never leaves a half-written run that looks finished.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w

from .errors import ValidationError
from .network import Network
from .tasks import Task
from .train import TrainResult

FILES = ("config.toml", "history.parquet", "state.npz", "network.npz", "task.npz")


def _drop_none(obj):
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_drop_none(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def json_safe(obj: Any) -> Any:
    """``obj`` made JSON-safe: NumPy scalars and arrays converted and non-finite floats as None."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_toml(path: Path, data: dict) -> None:
    path.write_bytes(tomli_w.dumps(_drop_none(data)).encode())


def save(result: TrainResult, directory: str | Path, overwrite: bool = False) -> Path:
    """Write ``result`` to ``directory`` (created; atomically replaced if ``overwrite``)."""
    if not isinstance(result, TrainResult):
        raise ValidationError(
            f"result must be the TrainResult returned by cl.train; got {type(result).__name__}"
        )
    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise ValidationError(
            f"output directory {str(directory)!r} already exists: choose another or pass "
            "overwrite=True (--overwrite)"
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        write_toml(tmp / "config.toml", result.config)
        result.history.to_parquet(tmp / "history.parquet", index=False)
        state = {"conductances": result.conductances, "initial": result.initial_conductances}
        if result.taps is not None:
            state["taps"] = result.taps
        for key, val in (result.trajectory or {}).items():
            state[f"trajectory_{key}"] = val
        np.savez(tmp / "state.npz", **state)
        net = result.network
        np.savez(
            tmp / "network.npz",
            n_nodes=net.n_nodes,
            edges=net.edges,
            **({"positions": net.positions} if net.positions is not None else {}),
        )
        t = result.task
        arrays = {
            name: getattr(t, name)
            for name in (
                "input_nodes",
                "output_nodes",
                "ground_nodes",
                "x_train",
                "y_train",
                "x_test",
                "y_test",
            )
            if getattr(t, name) is not None
        }
        meta = {"encoding": t.encoding, "levels": t.levels, "name": t.name}
        np.savez(tmp / "task.npz", meta=json.dumps(meta), **arrays)
        for f in FILES:  # flush to disk before the rename makes the run visible
            with open(tmp / f, "rb") as fh:
                os.fsync(fh.fileno())
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def is_complete(directory: str | Path) -> bool:
    """True if ``directory`` holds every file of a run and its history can be read."""
    directory = Path(directory)
    if not all((directory / f).is_file() for f in FILES):
        return False
    try:
        pd.read_parquet(directory / "history.parquet")
        with np.load(directory / "state.npz") as z:
            z["conductances"]
    except Exception:
        return False
    return True


def load(directory: str | Path) -> TrainResult:
    """Read a run written by ``save``; arrays come back identical."""
    directory = Path(directory)
    missing = [f for f in FILES if not (directory / f).is_file()]
    if missing:
        raise ValidationError(
            f"{str(directory)!r} is not a complete circuitlearn run: missing {missing}"
        )
    with (directory / "config.toml").open("rb") as fh:
        config = tomllib.load(fh)
    try:
        history = pd.read_parquet(directory / "history.parquet")
    except Exception as exc:
        raise ValidationError(
            f"{directory / 'history.parquet'} is unreadable ({exc}); rerun this run"
        ) from None
    with np.load(directory / "network.npz") as z:
        net = Network(int(z["n_nodes"]), z["edges"], z["positions"] if "positions" in z else None)
    with np.load(directory / "task.npz") as z:
        meta = json.loads(str(z["meta"]))
        arrays = {k: z[k] for k in z.files if k != "meta"}
    levels = tuple(meta["levels"]) if meta["levels"] is not None else None
    task = Task(**arrays, encoding=meta["encoding"], levels=levels, name=meta["name"])
    with np.load(directory / "state.npz") as z:
        traj = {k[len("trajectory_") :]: z[k] for k in z.files if k.startswith("trajectory_")}
        return TrainResult(
            conductances=z["conductances"],
            history=history,
            network=net,
            task=task,
            initial_conductances=z["initial"],
            config=config,
            taps=z["taps"] if "taps" in z else None,
            trajectory=traj or None,
        )
