"""Sweep specs: parse and validate, expand the grid into points, name each point's run.

A sweep spec (``SWEEP.toml``) is a run config plus the axes to vary::

    [sweep]
    name = "desync"                      # optional

    [base]                               # a run config (see ``circuitlearn.config``)
    network = {kind = "random", n_nodes = 64, seed = 0}
    task = {kind = "regression", n_inputs = 3, n_outputs = 2}
    rule = {kind = "CoupledLearning", lr = 0.5, eta = 0.5}
    schedule = {kind = "Bernoulli", p = 1.0}
    train = {updates_per_edge = 500, seed = 0}

    [grid]                               # the Cartesian product of every axis
    "schedule.p" = [1.0, 0.5, 0.1]
    "train.seed" = [0, 1, 2]
    # whole sub-tables:   rule = [{kind = "CoupledLearning", lr = 0.5, eta = 0.5}, ...]
    # paired axis (zip):  "rule.taps|train.steps" = [[16, 400], [128, 2000]]

Every point's config is validated by :func:`sweep_points`. A point's ``run_id`` is a readable
prefix from its grid values plus the first 12 digits of ``store.canonical_hash`` of its
validated config, so the same config always gets the same id (``p = 1`` and ``p = 1.0``
included) whatever the grid around it.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import SECTIONS, read_toml, validate_config
from .errors import ValidationError
from .store import canonical_hash

__all__ = [
    "SweepPoint",
    "axis_keys",
    "config_hash",
    "expand_grid",
    "load_spec",
    "same_spec",
    "spec_difference",
    "sweep_points",
]

SPEC_KEYS = ("sweep", "base", "grid")
SWEEP_KEYS = ("name",)


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep grid.

    Attributes
    ----------
    index : int
        Position in the grid (Cartesian order, last axis fastest).
    run_id : str
        Directory name under ``OUT/runs``: readable prefix + hash of ``config``.
    config : dict
        The point's validated run config.
    grid : dict
        Dotted key -> this point's value, for every grid axis.
    config_hash : str
        ``store.canonical_hash(config, 64)``: equal for equal values (``1`` and ``1.0``).
    """

    index: int
    run_id: str
    config: dict
    grid: dict
    config_hash: str


def _flatten_grid(table: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, val in table.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"grid keys must be non-empty strings; got {key!r}")
        full = f"{prefix}{key}"
        if isinstance(val, dict):  # unquoted dotted keys in TOML: [grid.schedule] p = [...]
            flat.update(_flatten_grid(val, f"{full}."))
        else:
            if full in flat:
                raise ValidationError(f"grid axis {full!r} is given twice")
            flat[full] = val
    return flat


def _axis_paths(key: str) -> list[tuple[str, ...]]:
    paths = []
    for part in key.split("|"):
        path = tuple(part.strip().split("."))
        if any(not p for p in path):
            raise ValidationError(f"grid key {key!r}: {part!r} is not a dotted config key")
        if path[0] not in SECTIONS:
            raise ValidationError(
                f"unknown grid key {key!r}: {path[0]!r} is not a config section; allowed "
                f'first parts are {list(SECTIONS)} (e.g. "schedule.p", "train.seed")'
            )
        paths.append(path)
    return paths


def load_spec(spec: dict | str | Path) -> dict[str, Any]:
    """Read a sweep spec (a dict or a TOML path) and return it normalised.

    Parameters
    ----------
    spec : dict or path
        ``{"sweep": {...}, "base": {...}, "grid": {...}}`` as parsed from ``SWEEP.toml``.

    Returns
    -------
    dict
        Deep copy with all three tables present and the grid flattened to dotted keys
        (``"a.b|c.d"`` for a paired axis), each mapping to a non-empty list.

    Raises
    ------
    ValidationError
        Unknown tables or keys, a grid key outside the config sections, an empty or
        non-list axis, or a paired axis whose entries do not match its keys.
    """
    if isinstance(spec, (str, Path)):
        spec = read_toml(spec, "sweep spec")
    if not isinstance(spec, dict):
        raise ValidationError(f"a sweep spec must be a table (dict); got {type(spec).__name__}")
    for key in spec:
        if key not in SPEC_KEYS:
            raise ValidationError(
                f"unknown key {key!r} at the top of the sweep spec: allowed are "
                f"{list(SPEC_KEYS)} ([base] is the run config, [grid] the axes)"
            )
    meta = spec.get("sweep", {})
    base = spec.get("base", {})
    grid = spec.get("grid", {})
    for name, table in (("sweep", meta), ("base", base), ("grid", grid)):
        if not isinstance(table, dict):
            raise ValidationError(f"sweep spec key {name!r} must be a table [{name}]")
    for key in meta:
        if key not in SWEEP_KEYS:
            raise ValidationError(
                f"unknown key sweep.{key} in the sweep spec: allowed are {list(SWEEP_KEYS)}"
            )
    if "name" in meta and not isinstance(meta["name"], str):
        raise ValidationError(f"sweep.name must be a string; got {meta['name']!r}")
    flat = _flatten_grid(grid)
    seen: dict[tuple[str, ...], str] = {}
    for key, values in flat.items():
        paths = _axis_paths(key)
        for path in paths:
            if path in seen:
                raise ValidationError(
                    f"grid key {'.'.join(path)!r} appears in two axes ({seen[path]!r}, {key!r})"
                )
            seen[path] = key
        if not isinstance(values, list) or not values:
            raise ValidationError(
                f"grid.{key!r} must be a non-empty list of values; got {values!r:.80}"
            )
        if len(paths) > 1:
            for entry in values:
                if not isinstance(entry, list) or len(entry) != len(paths):
                    raise ValidationError(
                        f"paired grid axis {key!r} needs lists of {len(paths)} values, one per "
                        f"key; got {entry!r:.80}"
                    )
    return {"sweep": copy.deepcopy(meta), "base": copy.deepcopy(base), "grid": copy.deepcopy(flat)}


def config_hash(config: dict) -> str:
    """SHA-256 (64 hex digits) of a validated run config, by ``store.canonical_hash``."""
    return canonical_hash(config, length=64)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "table"))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "list"
    return str(value)


_ABBREV = {"updates_per_edge": "upe", "batch_size": "batch", "n_nodes": "nodes"}


def _run_id(grid: dict[str, Any], digest: str) -> str:
    parts = []
    lasts = [key.split(".")[-1] for key in grid]
    for key, val in grid.items():
        last = key.split(".")[-1]
        label = _ABBREV.get(last, last)
        if lasts.count(last) > 1:  # network.seed, task.seed and train.seed: keep them apart
            label = f"{key.split('.')[0]}.{label}"
        parts.append(f"{label}-{_short(val)}" if isinstance(val, dict) else f"{label}{_short(val)}")
    prefix = re.sub(r"[^A-Za-z0-9.+_-]+", "-", "_".join(parts))[:60].strip("-._") or "run"
    if not prefix[0].isalnum():
        prefix = f"run-{prefix}"
    return f"{prefix}-{digest[:12]}"


def _assign(cfg: dict, path: tuple[str, ...], value: Any, key: str) -> None:
    node = cfg
    for part in path[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ValidationError(f"grid key {key!r}: {part!r} is not a table in the base config")
        node = nxt
    node[path[-1]] = copy.deepcopy(value)


def axis_keys(spec: dict) -> list[str]:
    """The dotted config keys a normalised spec varies, in grid order (paired axes split)."""
    return [".".join(path) for key in spec["grid"] for path in _axis_paths(key)]


def expand_grid(spec: dict | str | Path) -> list[dict[str, Any]]:
    """The grid values of every point, in grid order (last axis fastest), unvalidated.

    Returns
    -------
    list of dict
        Dotted key -> value, one dict per point (paired axes split into their keys).
    """
    spec = load_spec(spec)
    axes = [(_axis_paths(key), values) for key, values in spec["grid"].items()]
    points = []
    for combo in itertools.product(*(values for _, values in axes)):
        grid: dict[str, Any] = {}
        for (paths, _), value in zip(axes, combo, strict=True):
            for path, val in zip(paths, value if len(paths) > 1 else [value], strict=True):
                grid[".".join(path)] = val
        points.append(grid)
    return points


def sweep_points(spec: dict | str | Path) -> list[SweepPoint]:
    """Expand a sweep spec into its validated points, in grid order.

    Raises
    ------
    ValidationError
        For a bad spec, or for the first point whose config is invalid (the message names
        the point's grid values and the offending key), or for duplicate points (values
        that differ only in spelling, such as ``1`` and ``1.0``, are duplicates).
    """
    spec = load_spec(spec)
    points: list[SweepPoint] = []
    ids: dict[str, int] = {}
    for index, grid in enumerate(expand_grid(spec)):
        cfg = copy.deepcopy(spec["base"])
        try:
            # whole sub-tables first, then the keys inside them
            for key in sorted(grid, key=lambda k: k.count(".")):
                _assign(cfg, tuple(key.split(".")), grid[key], key)
            cfg = validate_config(cfg)
        except ValidationError as exc:
            where = ", ".join(f"{k}={_short(v)}" for k, v in grid.items()) or "the base config"
            raise ValidationError(f"sweep point {index} ({where}): {exc}") from None
        digest = config_hash(cfg)
        rid = _run_id(grid, digest)
        if rid in ids:
            raise ValidationError(
                f"sweep points {ids[rid]} and {index} have the same config: remove the "
                "duplicate grid values"
            )
        ids[rid] = index
        points.append(SweepPoint(index, rid, cfg, grid, digest))
    return points


def same_spec(a: dict, b: dict) -> bool:
    """True if two normalised specs are equal as values (``1`` equals ``1.0``)."""
    return canonical_hash(a, 64) == canonical_hash(b, 64)


def spec_difference(old: dict, new: dict) -> str:
    """A short description of how normalised spec ``new`` differs from ``old``."""
    parts = []
    if canonical_hash(old["sweep"], 64) != canonical_hash(new["sweep"], 64):
        parts.append("its [sweep] name")
    keys = sorted(set(_flat(old["base"])) | set(_flat(new["base"])))
    changed = [
        k
        for k in keys
        if canonical_hash(_flat(old["base"]).get(k), 64)
        != canonical_hash(_flat(new["base"]).get(k), 64)
    ]
    if changed:
        shown = ", ".join(changed[:4]) + (" ..." if len(changed) > 4 else "")
        parts.append(f"the [base] config ({shown})")
    axes = sorted(set(old["grid"]) | set(new["grid"]))
    moved = [
        a
        for a in axes
        if canonical_hash(old["grid"].get(a), 64) != canonical_hash(new["grid"].get(a), 64)
    ]
    if moved:
        parts.append("the grid axes " + ", ".join(repr(a) for a in moved))
    return " and ".join(parts) or "nothing"


def _flat(table: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in table.items():
        if isinstance(val, dict):
            out.update(_flat(val, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = val
    return out
