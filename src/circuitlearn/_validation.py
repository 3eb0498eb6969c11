"""Small checks shared by every public entry point; each raises ``ValidationError``."""

from __future__ import annotations

import math
from collections.abc import Iterable

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
    """Check a scalar hyperparameter and return it; the message states the allowed range."""
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
        or (math.isinf(v) and not (low is None and v < 0 or high is None and v > 0))
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


def check_output_dir(name: str, path, overwrite: bool = False):
    """Check, before any work is done, that directory ``path`` can be written; create nothing.

    Parameters
    ----------
    name : str
        What the path is called in messages (``"--out"``, ``"out"``).
    path : str or Path
        The output directory; it may not exist yet (it is then created later by the writer).
    overwrite : bool
        Accept an existing directory (the caller replaces it or adds to it).

    Returns
    -------
    Path

    Raises
    ------
    ValidationError
        One line naming ``name`` and the path when the path is a file, lies under a file,
        already exists (unless ``overwrite``), or is in a place this user cannot write.
    """
    import os
    from pathlib import Path

    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ValidationError(f"{name} must be a directory path; got {path!r}")
    p = Path(path)
    if _exists(name, p):
        if not p.is_dir():
            raise ValidationError(
                f"{name} {str(p)!r} is a file, not a directory: give a directory path"
            )
        if not overwrite:
            raise ValidationError(
                f"{name} {str(p)!r} already exists: choose another, or pass --overwrite "
                "(overwrite=True) to replace it"
            )
        _check_writable(name, p, p)
    else:
        _check_creatable(name, p)
    return p


def _check_writable(name: str, path, target) -> None:
    import os

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
    import os
    from pathlib import Path

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
    import codecs
    import os
    from pathlib import Path

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
