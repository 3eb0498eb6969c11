"""Pre-registered acceptance criteria, and the verdicts computed from them.

Every experiment states its criteria in its TOML file (``[[criteria]]`` tables, beside the
``[full]`` and ``[quick]`` settings), before anything runs. After the run the experiment
measures one *cell* per comparison the criterion names (a task, a size, a budget, a tap
count...), each cell a set of paired values (log error ratios, or 0/1 outcomes), and this
module turns cells into verdicts by the stated rule. No verdict is written by hand: the
report prints the criteria, the cells and the verdict that follows.

A criterion
-----------
``id``
    Short name, e.g. ``"C1-noninferior"``.
``claim``
    Which claim it decides (``"1"``, ``"2 (gain)"``, ...). A claim's verdict combines all
    its criteria (``claim_verdicts``).
``statement``
    The hypothesis in words, as written before the run.
``stat``
    ``"ratio"``: cells hold log ratios, the estimate is their mean, reported as
    ``exp`` (a geometric-mean ratio); ``"proportion"``: cells hold 0/1 outcomes, the estimate
    is their fraction (Clopper-Pearson interval); ``"mean"``: cells hold plain numbers.
``test``
    ``"below"`` (the claim is that the estimate lies below ``bound``), ``"above"``, or
    ``"inside"`` (between ``bounds[0]`` and ``bounds[1]``).
``bound`` / ``bounds``
    The threshold(s), on the scale of the estimate (a ratio, a fraction, a number).
``min_effect``
    Optional, for ``below``/``above``: the point estimate must also lie at least this far
    beyond ``bound`` in the claimed direction (relative, for ratios), so that "desync is
    better" needs both significance and a stated effect size.
``level``
    Family-wise confidence level over the criterion's cells (default 0.95).
``correction``
    ``"bonferroni"`` (default): each cell's interval is taken at ``1 - (1 - level) / k`` for
    ``k`` cells, so all ``k`` hold together at ``level``; ``"none"``: each at ``level``.

A cell *passes* when its whole interval lies on the claimed side of the bound(s), *fails*
when its whole interval lies on the other side, and is *unclear* otherwise. Cells carry a
*regime* label; a regime passes when all its cells pass and fails when any fails. A criterion
is ``supported`` when every regime passes, ``supported in <k> of <n> regimes: <regimes>``
when some do, ``refuted`` when every regime fails, and ``inconclusive`` otherwise.

Examples
--------
>>> c = Criterion.from_dict({"id": "A", "claim": "1", "statement": "ratio < 1.1",
...                          "stat": "ratio", "test": "below", "bound": 1.1})
>>> cells = [Cell("64 nodes", "p = 0.5", np.log([0.98, 1.01, 1.02, 0.99, 1.0]))]
>>> judge(c, cells).verdict
'supported'
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validation import in_range
from ..analysis import cluster_ci, mean_ci, proportion_ci
from ..errors import ValidationError

__all__ = [
    "Cell",
    "Criterion",
    "Judgement",
    "claim_verdicts",
    "judge",
    "load_criteria",
]

STATS = ("ratio", "proportion", "mean")
TESTS = ("below", "above", "inside")
CORRECTIONS = ("bonferroni", "none")
OUTCOMES = ("pass", "fail", "unclear")


@dataclass(frozen=True)
class Criterion:
    """One pre-registered acceptance criterion (see the module docstring)."""

    id: str
    claim: str
    statement: str
    stat: str
    test: str
    bounds: tuple[float, float]
    min_effect: float = 0.0
    level: float = 0.95
    correction: str = "bonferroni"

    @classmethod
    def from_dict(cls, d: dict, where: str = "criteria") -> Criterion:
        """Validate and build a criterion from its TOML table ``d``."""
        known = {"id", "claim", "statement", "stat", "test", "bound", "bounds", "min_effect",
                 "level", "correction"}  # fmt: skip
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValidationError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
        for key in ("id", "claim", "statement", "stat", "test"):
            if not isinstance(d.get(key), str) or not d[key].strip():
                raise ValidationError(f"{where}: {key!r} must be a non-empty string")
        where = f"{where} {d['id']!r}"
        if d["stat"] not in STATS:
            raise ValidationError(f"{where}: stat must be one of {STATS}; got {d['stat']!r}")
        if d["test"] not in TESTS:
            raise ValidationError(f"{where}: test must be one of {TESTS}; got {d['test']!r}")
        if d["test"] == "inside":
            b = d.get("bounds")
            if not (isinstance(b, list) and len(b) == 2 and float(b[0]) < float(b[1])):
                raise ValidationError(f"{where}: test 'inside' needs bounds = [low, high]")
            bounds = (float(b[0]), float(b[1]))
        else:
            if "bound" not in d or "bounds" in d:
                raise ValidationError(f"{where}: test {d['test']!r} needs one 'bound'")
            b = float(d["bound"])
            bounds = (b, b)
        if d["stat"] == "ratio" and min(bounds) <= 0:
            raise ValidationError(f"{where}: ratio bounds must be positive; got {bounds}")
        corr = d.get("correction", "bonferroni")
        if corr not in CORRECTIONS:
            raise ValidationError(f"{where}: correction must be one of {CORRECTIONS}")
        return cls(
            id=d["id"],
            claim=d["claim"],
            statement=" ".join(d["statement"].split()),
            stat=d["stat"],
            test=d["test"],
            bounds=bounds,
            min_effect=in_range(f"{where}: min_effect", d.get("min_effect", 0.0), 0, 1),
            level=in_range(
                f"{where}: level", d.get("level", 0.95), 0, 1, low_open=True, high_open=True
            ),  # fmt: skip
            correction=corr,
        )

    @property
    def rule(self) -> str:
        """The decision rule in words, for the report."""
        what = {"ratio": "ratio", "proportion": "fraction", "mean": "mean"}[self.stat]
        lo, hi = self.bounds
        if self.test == "inside":
            side = f"inside [{lo:g}, {hi:g}]"
        else:
            side = f"{self.test} {lo:g}"
        effect = ""
        if self.min_effect:
            effect = f", point estimate at least {100 * self.min_effect:g} % beyond {lo:g}"
        corr = "Bonferroni over cells" if self.correction == "bonferroni" else "per cell"
        return (
            f"{what} {side}: pass if the {100 * self.level:g} % interval ({corr}) lies "
            f"{side}{effect}; fail if it lies wholly on the other side"
        )


@dataclass
class Cell:
    """One comparison measured for a criterion.

    Parameters
    ----------
    regime : str
        The regime it belongs to (e.g. ``"16 taps, online"``); verdicts name regimes.
    label : str
        What is compared (e.g. ``"Bernoulli 0.1 / sync, Iris"``).
    values : array, shape (n,)
        Paired values: log ratios (``stat = "ratio"``), 0/1 outcomes (``"proportion"``) or
        numbers (``"mean"``). Non-finite entries are dropped.
    clusters : array, shape (n,), optional
        Cluster labels (values sharing a network); the interval is then a cluster bootstrap.
    """

    regime: str
    label: str
    values: np.ndarray
    clusters: np.ndarray | None = None


@dataclass
class Judgement:
    """The verdict of one criterion, with its cells (JSON-ready through ``to_dict``)."""

    criterion: Criterion
    verdict: str
    cells: list[dict] = field(default_factory=list)
    regimes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        c = self.criterion
        return {
            "id": c.id,
            "claim": c.claim,
            "statement": c.statement,
            "rule": c.rule,
            "verdict": self.verdict,
            "regimes": self.regimes,
            "cells": self.cells,
        }


def load_criteria(path: str | Path) -> list[Criterion]:
    """The ``[[criteria]]`` of an experiment's TOML file, validated."""
    path = Path(path)
    with path.open("rb") as fh:
        doc = tomllib.load(fh)
    items = doc.get("criteria")
    if not isinstance(items, list) or not items:
        raise ValidationError(f"{path.name}: no [[criteria]] tables: state them before the run")
    crits = [Criterion.from_dict(d, f"{path.name} [[criteria]] #{i}") for i, d in enumerate(items)]
    ids = [c.id for c in crits]
    if len(set(ids)) != len(ids):
        raise ValidationError(f"{path.name}: criterion ids must be unique; got {ids}")
    return crits


def _interval(c: Criterion, cell: Cell, level: float) -> tuple[float, float, float, int]:
    v = np.asarray(cell.values, dtype=float).ravel()
    ok = np.isfinite(v)
    n = int(ok.sum())
    if n < 2:  # one value says nothing about its spread: never a decisive cell
        est = float(v[ok][0]) if n else math.nan
        est = math.exp(est) if c.stat == "ratio" and n else est
        return est, math.nan, math.nan, n
    if c.stat == "proportion":
        est, lo, hi = proportion_ci(v[ok], level)
        return est, lo, hi, n
    if cell.clusters is not None and len(np.unique(np.asarray(cell.clusters)[ok])) >= 2:
        n_boot = max(2000, int(20 / (1 - level)))
        est, lo, hi = cluster_ci(v[ok], np.asarray(cell.clusters)[ok], level, n_boot=n_boot)
    else:
        est, lo, hi = mean_ci(v[ok], level)
    if c.stat == "ratio":
        est, lo, hi = math.exp(est), math.exp(lo), math.exp(hi)
    return est, lo, hi, n


def _outcome(c: Criterion, est: float, lo: float, hi: float) -> str:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "unclear"
    b_lo, b_hi = c.bounds
    if c.test == "inside":
        if b_lo <= lo and hi <= b_hi:
            return "pass"
        return "fail" if hi < b_lo or lo > b_hi else "unclear"
    if c.stat == "ratio":
        beyond = b_lo * (1 - c.min_effect) if c.test == "below" else b_lo * (1 + c.min_effect)
    else:
        beyond = b_lo - c.min_effect if c.test == "below" else b_lo + c.min_effect
    if c.test == "below":
        if hi < b_lo and est <= beyond:
            return "pass"
        return "fail" if lo > b_lo else "unclear"
    if lo > b_lo and est >= beyond:
        return "pass"
    return "fail" if hi < b_lo else "unclear"


def judge(criterion: Criterion, cells: Sequence[Cell]) -> Judgement:
    """Apply ``criterion`` to its measured ``cells``.

    Returns
    -------
    Judgement
        ``verdict`` is ``supported``, ``supported in <regimes>``, ``refuted`` or
        ``inconclusive``; ``cells`` holds each cell's estimate, interval, n and outcome;
        ``regimes`` each regime's outcome.
    """
    c = criterion
    if not cells:
        return Judgement(c, "inconclusive (nothing measured)")
    level = c.level
    if c.correction == "bonferroni":
        level = 1 - (1 - c.level) / len(cells)
    rows = []
    for cell in cells:
        est, lo, hi, n = _interval(c, cell, level)
        rows.append(
            {
                "regime": cell.regime,
                "label": cell.label,
                "estimate": est,
                "low": lo,
                "high": hi,
                "n": n,
                "clusters": None if cell.clusters is None else len(np.unique(cell.clusters)),
                "level": level,
                "outcome": _outcome(c, est, lo, hi),
            }
        )
    regimes: dict[str, str] = {}
    for r in rows:
        prev = regimes.get(r["regime"], "pass")
        if "fail" in (prev, r["outcome"]):
            regimes[r["regime"]] = "fail"
        elif "unclear" in (prev, r["outcome"]):
            regimes[r["regime"]] = "unclear"
        else:
            regimes[r["regime"]] = "pass"
    return Judgement(c, _verdict(regimes), rows, regimes)


def _supported_in(passed: Sequence[str], n_regimes: int) -> str:
    return f"supported in {len(passed)} of {n_regimes} regimes: " + "; ".join(passed)


def _verdict(regimes: dict[str, str]) -> str:
    passed = [r for r, o in regimes.items() if o == "pass"]
    if len(passed) == len(regimes):
        return "supported"
    if passed:
        return _supported_in(passed, len(regimes))
    if all(o == "fail" for o in regimes.values()):
        return "refuted"
    return "inconclusive"


def _missing(j: Judgement) -> str:
    # A criterion silent about a regime counts for it only when it holds everywhere.
    return "pass" if j.verdict == "supported" else "unclear"


def claim_verdicts(judgements: Sequence[Judgement]) -> dict[str, str]:
    """One verdict per claim from all the criteria that decide it.

    A claim is ``supported`` when all its criteria are; ``supported in <regimes>`` for the
    regimes that pass in every one of its criteria (a criterion without that regime does not
    count against it); ``refuted`` when any of its criteria is refuted; ``inconclusive``
    otherwise.
    """
    claims: dict[str, list[Judgement]] = {}
    for j in judgements:
        claims.setdefault(j.criterion.claim, []).append(j)
    out = {}
    for claim, js in claims.items():
        if all(j.verdict == "supported" for j in js):
            out[claim] = "supported"
        elif any(j.verdict == "refuted" for j in js):
            out[claim] = "refuted"
        else:
            names = {r for j in js for r in j.regimes}
            ok = [
                r
                for r in sorted(names)
                if all(j.regimes.get(r, _missing(j)) == "pass" for j in js)
                and any(r in j.regimes for j in js)
            ]
            out[claim] = _supported_in(ok, len(names)) if ok else "inconclusive"
    return out
