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
