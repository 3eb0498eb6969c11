"""Small checks shared by every public entry point; each raises ``ValidationError``."""

from __future__ import annotations

import codecs
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ValidationError


def finite_array(name: str, value, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array, refusing NaN/inf and the wrong number of dims."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must be an array of numbers; got {value!r:.80}") from exc
    if ndim is not None:
        dims = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in dims:
            raise ValidationError(
                f"{name} must have {' or '.join(map(str, dims))} dimension(s); "
                f"got shape {arr.shape}"
            )
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[0].tolist()
        raise ValidationError(
            f"{name} contains NaN or infinite values (first at index {where}): "
            "clean or impute the data before using it"
        )
    return arr


def fixed_value_batch(fixed_values, n_fixed: int) -> np.ndarray:
    """``fixed_values`` of a settle as a 2-D batch, checked.

    Parameters
    ----------
    fixed_values : array, shape (F,) or (M, F)
        Voltages (V) of the fixed nodes, in their order; 2-D is a batch of M examples.
    n_fixed : int
        F, the number of fixed nodes.

    Returns
    -------
    ndarray, shape (M, F)
    """
    vals = finite_array("fixed_values", fixed_values, ndim=(1, 2))
    if vals.shape[-1] != n_fixed:
        raise ValidationError(
            f"fixed_values must have shape ({n_fixed},) or (M, {n_fixed}), one value per fixed "
            f"node; got {vals.shape}"
        )
    return vals.reshape(-1, n_fixed)


def node_list(name: str, nodes: Iterable[int], n_nodes: int | None) -> np.ndarray:
    """Return distinct node indices in ``[0, n_nodes)`` as an int64 array, in the given order
    (``n_nodes=None``: only non-negative, for when the network is not known yet)."""
    try:
        arr = np.asarray(list(nodes) if not isinstance(nodes, np.ndarray) else nodes)
    except TypeError as exc:
        raise ValidationError(f"{name} must be a list of node indices; got {nodes!r:.80}") from exc
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        if arr.ndim == 1 and np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValidationError(f"{name} must be a 1-D list of integer node indices; got {arr!r}")
    arr = arr.astype(np.int64)
    if n_nodes is None:
        out = arr[arr < 0]
        if out.size:
            raise ValidationError(
                f"{name} holds negative node index(es) {out.tolist()}: nodes are numbered from 0"
            )
    else:
        out = arr[(arr < 0) | (arr >= n_nodes)]
        if out.size:
            raise ValidationError(
                f"{name} holds node(s) {out.tolist()} outside the network's nodes 0..{n_nodes - 1}"
            )
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        raise ValidationError(f"{name} lists node(s) {uniq[counts > 1].tolist()} more than once")
    return arr


def disjoint(named: dict[str, np.ndarray]) -> None:
    """Refuse a node that appears in two roles (e.g. both input and output)."""
    names = list(named)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = np.intersect1d(named[a], named[b])
            if both.size:
                raise ValidationError(
                    f"node(s) {both.tolist()} are in both {a} and {b}: a node can have one role "
                    "only; pick different nodes for one of them"
                )


def _infinite_ok(v: float, low, high, low_open: bool, high_open: bool) -> bool:
    """An infinite value is allowed only at a closed end with no bound."""
    if v > 0:
        return high is None and not high_open
    return low is None and not low_open


def in_range(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> float | int:
    """Check a scalar hyperparameter and return it; the message states the allowed range.

    An open end at infinity (``high=None, high_open=True``) refuses ``inf`` itself.
    """
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    allowed = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValidationError(f"{name} must be {kind} in {allowed}; got {value!r}")
    if integer and not float(value).is_integer():
        raise ValidationError(f"{name} must be an integer in {allowed}; got {value!r}")
    v = float(value)
    if math.isnan(v):
        raise ValidationError(f"{name} must be {kind} in {allowed}; got NaN")
    if (
        (low is not None and (v < low or (low_open and v == low)))
        or (high is not None and (v > high or (high_open and v == high)))
        or (
            math.isinf(v)
            and not (
                low is None and not low_open and v < 0 or high is None and not high_open and v > 0
            )
        )
    ):
        raise ValidationError(f"{name} must be {kind} in {allowed}; got {value!r}")
    return int(value) if integer else v


def check_conductances(k, n_edges: int, name: str = "k") -> np.ndarray:
    """Return ``k`` as a float64 ``(E,)`` array of strictly positive, finite conductances (S)."""
    arr = finite_array(name, k, ndim=1)
    if arr.shape != (n_edges,):
        raise ValidationError(
            f"{name} must have shape ({n_edges},), one value per edge; got {arr.shape}"
        )
    bad = np.flatnonzero(arr <= 0)
    if bad.size:
        raise ValidationError(
            f"{name} must be strictly positive (conductance in S); {name}[{bad[0]}] = "
            f"{float(arr[bad[0]])!r} ({bad.size} non-positive in all): use a small floor such "
            "as 1e-6 instead of zero or a negative value"
        )
    return arr


# ---------------------------------------------------------------------------- train arguments
@dataclass(frozen=True)
class Param:
    """One training argument: its type, allowed values, default, unit and meaning.

    ``TRAIN_PARAMS`` is the single table that ``train``, ``train_many``, the TOML ``[train]``
    section, the CLI and the generated config reference read.
    """

    name: str
    kind: str  # "int", "float", "bool", "choice", "str", "array"
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    optional: bool = False  # None is allowed
    unit: str = ""
    in_toml: bool = True

    def check(self, value):
        """Return ``value`` checked (and normalised); raise ``ValidationError`` naming it."""
        if value is None and self.optional:
            return None
        if self.kind in ("int", "float"):
            return in_range(
                self.name,
                value,
                self.low,
                self.high,
                low_open=self.low_open,
                high_open=self.high_open,
                integer=self.kind == "int",
            )
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                extra = " or None" if self.optional else ""
                raise ValidationError(f"{self.name} must be true or false{extra}; got {value!r}")
            return bool(value)
        if self.kind == "choice" and value not in self.choices:
            raise ValidationError(f"{self.name} must be one of {list(self.choices)}; got {value!r}")
        if self.kind == "str" and not isinstance(value, str):
            raise ValidationError(f"{self.name} must be a string; got {value!r}")
        return value

    def allowed(self) -> str:
        """The allowed values in words, for the generated reference."""
        if self.kind in ("int", "float"):
            lo = "(" if self.low_open else "["
            hi = ")" if self.high_open else "]"
            low = "-inf" if self.low is None else self.low
            high = "inf" if self.high is None else self.high
            return f"{'integer' if self.kind == 'int' else 'number'} in {lo}{low}, {high}{hi}"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return {"bool": "true or false", "str": "a string", "array": "an array"}[self.kind]


TRAIN_PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        Param("steps", "int", 1000, "training steps (one batch and one schedule draw each)", 0),
        Param(
            "updates_per_edge",
            "float",
            None,
            "instead of steps: expected updates per edge; steps = ceil(updates_per_edge / rate)",
            0,
            None,
            low_open=True,
            high_open=True,
            optional=True,
        ),
        Param(
            "batch_size",
            "int",
            None,
            "examples per step; none = the full batch, 1 = online",
            1,
            optional=True,
        ),
        Param(
            "sampling",
            "choice",
            "epoch",
            "how batches are drawn: reshuffled per epoch, i.i.d. with replacement, or a fixed "
            "cyclic order",
            choices=("epoch", "replacement", "cyclic"),
        ),
        Param(
            "ticks_per_example",
            "int",
            1,
            "steps each batch is held for (hardware holds an input for several clock ticks)",
            1,
        ),
        Param("seed", "int", 0, "determines every random stream of the run", 0),
        Param(
            "record_every",
            "int",
            None,
            "record the history every this many steps; none = about 1000 rows",
            1,
            optional=True,
        ),
        Param("record_state", "bool", False, "also keep k (and taps) at every recorded step"),
        Param(
            "backend",
            "str",
            "auto",
            "factorisation backend: auto, dense, qdldl, splu, cholmod, batched-ldl, stacked-dense",
        ),
        Param(
            "k0", "array", None, "initial conductances (S), one per edge", optional=True, unit="S"
        ),
        Param(
            "progress",
            "bool",
            None,
            "progress bar on a terminal, log lines otherwise; none = on for >= 200 steps",
            optional=True,
            in_toml=False,
        ),
    )
}


def check_train_args(values: dict) -> dict:
    """Check every training argument in ``values`` against ``TRAIN_PARAMS``; return a copy with
    normalised values. Unknown names are refused with the list of known ones."""
    out = {}
    for name, value in values.items():
        param = TRAIN_PARAMS.get(name)
        if param is None:
            raise ValidationError(
                f"unknown training argument {name!r}: allowed are {list(TRAIN_PARAMS)}"
            )
        out[name] = value if param.kind == "array" else param.check(value)
    return out


# Output and input paths (checked by the command line before any work starts). The imports are
# local so that this block stays self-contained at the end of the module.
def _exists(name: str, path) -> bool:
    """``path.exists()``, with an unreadable parent reported as a ``ValidationError``."""
    try:
        return path.exists() or path.is_symlink()
    except OSError as exc:
        raise ValidationError(
            f"{name} {str(path)!r} cannot be checked ({exc.strerror}): pick another location"
        ) from None


def check_output_dir(name: str, path, overwrite: bool = False, *, exist_ok: bool = False) -> Path:
    """Check, before any work is done, that directory ``path`` can be written; create nothing.

    Parameters
    ----------
    name : str
        What the path is called in messages (``"--out"``, ``"out"``).
    path : str or Path
        The output directory; it may not exist yet (it is then created later by the writer).
    overwrite : bool
        Accept an existing directory that the caller replaces (its parent must be writable).
    exist_ok : bool
        Accept an existing directory that the caller writes into (a sweep resuming).

    Returns
    -------
    Path

    Raises
    ------
    ValidationError
        One line naming ``name`` and the path when the path is a file, lies under a file,
        already exists (unless ``overwrite``), or is in a place this user cannot write.
    """

    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ValidationError(f"{name} must be a directory path; got {path!r}")
    p = Path(path)
    if _exists(name, p):
        if not p.is_dir():
            raise ValidationError(
                f"{name} {str(p)!r} is a file, not a directory: give a directory path"
            )
        if not (overwrite or exist_ok):
            raise ValidationError(
                f"{name} {str(p)!r} already exists: choose another, or pass --overwrite "
                "(overwrite=True) to replace it"
            )
        _check_writable(name, p, p)
        if overwrite:  # replaced by a rename in its parent
            _check_writable(name, p, p.parent)
    else:
        _check_creatable(name, p)
    return p


def _check_writable(name: str, path, target) -> None:

    if not os.access(target, (os.W_OK | os.X_OK) if target.is_dir() else os.W_OK):
        where = "it" if target == path else f"{str(target)!r}"
        raise ValidationError(
            f"{name} {str(path)!r} cannot be written: {where} is not writable by this user "
            "(permission denied); pick a writable location"
        )


def _check_creatable(name: str, path) -> None:
    """A missing ``path`` can be created: its nearest existing ancestor is a writable dir."""
    target = path.parent
    while not _exists(name, target) and target != target.parent:
        target = target.parent
    if not target.is_dir():
        raise ValidationError(
            f"{name} {str(path)!r} lies under {str(target)!r}, which is a file, not a "
            "directory: pick a path outside it"
        )
    _check_writable(name, path, target)


def check_output_file(name: str, path):
    """Check, before any work is done, that file ``path`` can be written (or replaced).

    Raises
    ------
    ValidationError
        One line naming ``name`` and the path when the path is a directory, lies under a
        file, or is in a place this user cannot write.
    """

    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ValidationError(f"{name} must be a file path; got {path!r}")
    p = Path(path)
    if _exists(name, p):
        if p.is_dir():
            raise ValidationError(f"{name} {str(p)!r} is a directory: give a file path")
        _check_writable(name, p, p)
    else:
        _check_creatable(name, p)
    return p


def check_text_file(name: str, path, kind: str = "TOML"):
    """Check that ``path`` is an existing, readable UTF-8 text file (a config or a spec).

    Raises
    ------
    ValidationError
        One line naming ``name`` and the path when it does not exist, is a directory, cannot
        be read, or holds binary (non-UTF-8) bytes.
    """

    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ValidationError(f"{name} must be a file path; got {path!r}")
    p = Path(path)
    if not _exists(name, p):
        raise ValidationError(f"{name} {str(p)!r} does not exist")
    if p.is_dir():
        raise ValidationError(
            f"{name} {str(p)!r} is a directory, not a file: give the path of a {kind} file"
        )
    try:
        with p.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError as exc:
        raise ValidationError(f"{name} {str(p)!r} cannot be read ({exc.strerror})") from None
    try:
        # An incremental decoder accepts a multi-byte character cut at the end of the chunk.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        if b"\x00" in head:
            raise UnicodeError
    except UnicodeError:
        raise ValidationError(
            f"{name} {str(p)!r} is not a text {kind} file (it holds binary, non-UTF-8 bytes): "
            f"give a {kind} file"
        ) from None
    return p
