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

This module is the package's one layer for results on disk: ``atomic_dir`` and
``atomic_write`` (every directory and file written durably: fsync, rename, fsync of the
parent), ``canonical_hash`` (sweep run ids, experiment condition ids), ``json_safe`` and
``check_output_dir`` (output paths refused with one clear line before any work starts).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import shutil
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w

from ._validation import check_output_dir
from .errors import ValidationError
from .network import Network, elements_from_json, elements_json
from .tasks import Task
from .train import TrainResult

__all__ = [
    "FILES",
    "atomic_dir",
    "atomic_write",
    "canonical_hash",
    "check_output_dir",
    "file_sha256",
    "is_complete",
    "json_safe",
    "load",
    "save",
    "write_run",
    "write_toml",
]

FILES = ("config.toml", "history.parquet", "state.npz", "network.npz", "task.npz")
#: Present in a run directory whose run was stopped before its last step.
INCOMPLETE = "INCOMPLETE"


# --------------------------------------------------------------------------------------------
# Atomic, durable writes: every file and directory this package leaves on disk goes through
# these two, so a crash never leaves a half-written file or run under its final name.


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(Path(dirpath))


def _sibling(final: Path, tag: str = "") -> Path:
    return final.parent / f".{final.name}.{tag}{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def atomic_dir(final: Path | str, overwrite: bool = False) -> Iterator[Path]:
    """Write a directory in a temporary sibling and rename it to ``final`` when done.

    Parameters
    ----------
    final : path
        Where the directory should end up. Its parent is created if missing.
    overwrite : bool
        Replace an existing ``final``. Without it an existing ``final`` raises
        ``FileExistsError`` (also when it appears while the body runs: the first writer wins).

    Yields
    ------
    Path
        The temporary directory (``.<name>.<token>`` next to ``final``) to write into.

    Notes
    -----
    On success every file is fsynced, the directory is renamed into place and the parent
    fsynced; on any error (``KeyboardInterrupt`` included) the temporary directory is removed
    and ``final`` is untouched. The directory is created with ``os.mkdir``, so its mode
    honours the umask (``tempfile.mkdtemp`` would make it private, 0700). An existing
    ``final`` is moved aside before the rename and deleted after it, so there is never a
    moment at which a half-written directory has the final name.
    """
    final = Path(os.path.abspath(final))
    if not overwrite and (final.exists() or final.is_symlink()):
        raise FileExistsError(errno.EEXIST, "already exists", str(final))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(final)
    os.mkdir(tmp)  # mode 0o777 & ~umask
    try:
        yield tmp
        _fsync_tree(tmp)
        old = None
        if final.exists() or final.is_symlink():
            if not overwrite:
                raise FileExistsError(errno.EEXIST, "already exists", str(final))
            old = _sibling(final, "old.")
            os.rename(final, old)
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):  # another writer landed first
                raise FileExistsError(errno.EEXIST, "already exists", str(final)) from None
            raise
        _fsync_dir(final.parent)
        if old is not None:
            shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write(path: Path | str, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically and durably; returns ``path``.

    The bytes (``str`` is UTF-8 encoded) go to a temporary file in the same directory
    (created if missing), which is fsynced, renamed over ``path`` with ``os.replace`` and
    followed by an fsync of the directory. Readers see the old file or the new one, never a
    mix. The file mode honours the umask.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def file_sha256(path: Path | str) -> str:
    """SHA-256 (hex) of a file's bytes."""
    with Path(path).open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# --------------------------------------------------------------------------------------------
# One canonical form for hashing and one JSON sanitiser.


def _canonical(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _canonical(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if math.isfinite(obj) and obj == int(obj):
            return int(obj)  # 1.0 and 1 are the same value
        return obj
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def canonical_hash(obj: Any, length: int = 12) -> str:
    """Hex SHA-256 of ``obj``'s canonical JSON, cut to ``length`` digits (at most 64).

    Canonical: keys sorted (and made strings), tuples and arrays as lists, NumPy scalars as
    Python numbers, and integral floats as integers, so ``1``, ``1.0`` and ``np.float64(1)``
    hash the same (booleans stay booleans). Sweep run ids and experiment condition ids are
    both made with it: equal values give equal ids, whatever their spelling.
    """
    text = json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[: int(length)]


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


def write_toml(path: Path | str, data: dict) -> Path:
    """Write ``data`` as TOML (None values left out), atomically."""
    return atomic_write(path, tomli_w.dumps(_drop_none(data)))


# --------------------------------------------------------------------------------------------
# Output paths: refused before any work starts.


# --------------------------------------------------------------------------------------------
# One run directory.


def save(result: TrainResult, directory: str | Path, overwrite: bool = False) -> Path:
    """Write ``result`` to ``directory`` (created; atomically replaced if ``overwrite``).

    Raises
    ------
    ValidationError
        ``result`` is not a ``TrainResult``, or ``directory`` is refused by
        :func:`check_output_dir` (exists without ``overwrite``, is a file, not writable).
    """
    if not isinstance(result, TrainResult):
        raise ValidationError(
            f"result must be the TrainResult returned by cl.train; got {type(result).__name__}"
        )
    directory = check_output_dir("directory", directory, overwrite)
    with atomic_dir(directory, overwrite=overwrite) as tmp:
        write_run(result, tmp)
    return directory


def write_run(result: TrainResult, directory: Path | str) -> None:
    """Write the files of a run (``FILES``) into the existing ``directory``.

    A building block for writers that land a run themselves inside :func:`atomic_dir`
    (``save``, the sweep runner); anything else should call :func:`save`.
    """
    tmp = Path(directory)
    config = result.config
    if "network" not in config:  # a run made from Python objects: rerun from the saved arrays
        config = {
            "network": {"kind": "file", "path": "network.npz"},
            "task": {"kind": "file", "path": "task.npz"},
            **config,
        }
    write_toml(tmp / "config.toml", config)
    if not result.complete:
        (tmp / INCOMPLETE).write_text(
            f"stopped at step {int(result.history['step'].iloc[-1])} of "
            f"{config['train']['steps']} (interrupted); not a finished run\n"
        )
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
        **({"elements": elements_json(net)} if net.elements is not None else {}),
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
    meta = {"encoding": t.encoding, "levels": t.levels, "name": t.name, "readout": t.readout}
    np.savez(tmp / "task.npz", meta=json.dumps(meta), **arrays)


def is_incomplete(directory: str | Path) -> bool:
    """True if ``directory`` holds a run saved after an interruption (``INCOMPLETE``)."""
    return (Path(directory) / INCOMPLETE).is_file()


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
    net = read_network(directory / "network.npz")
    task = read_task(directory / "task.npz")
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
            complete=not (directory / INCOMPLETE).exists(),
        )


def _npz(path: Path | str, what: str):
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{what} file {str(path)!r} does not exist")
    try:
        return np.load(path)
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{what} file {str(path)!r} cannot be read: {exc}") from None


def read_network(path: Path | str) -> Network:
    """The network of a ``network.npz`` written by ``save`` (the ``"file"`` network kind)."""
    with _npz(path, "network") as z:
        return Network(
            int(z["n_nodes"]),
            z["edges"],
            z["positions"] if "positions" in z else None,
            elements_from_json(str(z["elements"])) if "elements" in z else None,
        )


def read_task(path: Path | str) -> Task:
    """The task of a ``task.npz`` written by ``save`` (the ``"file"`` task kind)."""
    with _npz(path, "task") as z:
        meta = json.loads(str(z["meta"]))
        arrays = {k: z[k] for k in z.files if k != "meta"}
    levels = tuple(meta["levels"]) if meta["levels"] is not None else None
    return Task(
        **arrays,
        encoding=meta["encoding"],
        levels=levels,
        name=meta["name"],
        readout=meta.get("readout", "voltage"),  # files written before readout existed
    )
