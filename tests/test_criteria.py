"""Pre-registered criteria (``experiments.criteria``): the verdict follows from the rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from circuitlearn.analysis import proportion_ci
from circuitlearn.errors import ValidationError
from circuitlearn.experiments.criteria import (
    Cell,
    Criterion,
    claim_verdicts,
    judge,
    load_criteria,
)

NONINF = {"id": "ni", "claim": "1", "statement": "desync/sync < 1.1", "stat": "ratio",
          "test": "below", "bound": 1.1}  # fmt: skip
GAIN = {"id": "gain", "claim": "2", "statement": "desync/sync < 1 by 10 %", "stat": "ratio",
        "test": "below", "bound": 1.0, "min_effect": 0.1}  # fmt: skip


def _logs(ratio, sd, n, seed=0):
    rng = np.random.default_rng(seed)
    return np.log(ratio) + sd * rng.standard_normal(n)


def test_noninferior_supported_refuted_and_inconclusive():
    c = Criterion.from_dict(NONINF)
    assert judge(c, [Cell("a", "x", _logs(1.0, 0.02, 20))]).verdict == "supported"
    assert judge(c, [Cell("a", "x", _logs(1.5, 0.02, 20))]).verdict == "refuted"
    # Too noisy to tell: the interval straddles the bound.
    assert judge(c, [Cell("a", "x", _logs(1.1, 0.5, 5))]).verdict == "inconclusive"


def test_gain_needs_the_effect_size_as_well_as_significance():
    c = Criterion.from_dict(GAIN)
    # 5 % better, very precisely: significant but below the stated effect.
    small = judge(c, [Cell("a", "x", _logs(0.95, 0.005, 30))])
    assert small.cells[0]["high"] < 1 and small.verdict == "inconclusive"
    assert judge(c, [Cell("a", "x", _logs(0.7, 0.05, 30))]).verdict == "supported"
    assert judge(c, [Cell("a", "x", _logs(1.4, 0.05, 30))]).verdict == "refuted"


def test_regimes_name_where_the_claim_holds():
    c = Criterion.from_dict(GAIN)
    cells = [
        Cell("16 taps", "p=0.1", _logs(0.6, 0.05, 20, 1)),
        Cell("16 taps", "p=0.5", _logs(0.7, 0.05, 20, 2)),
        Cell("128 taps", "p=0.1", _logs(1.0, 0.05, 20, 3)),
    ]
    j = judge(c, cells)
    assert j.verdict == "supported in 1 of 2 regimes: 16 taps"
    assert j.regimes == {"16 taps": "pass", "128 taps": "unclear"}
    # One failing cell fails its regime.
    cells.append(Cell("16 taps", "p=0.2", _logs(1.5, 0.05, 20, 4)))
    assert judge(c, cells).verdict == "inconclusive"


def test_bonferroni_widens_the_intervals_with_the_number_of_cells():
    c = Criterion.from_dict(NONINF)
    vals = _logs(1.05, 0.08, 12, 7)
    one = judge(c, [Cell("a", "x", vals)]).cells[0]
    many = judge(c, [Cell("a", str(i), vals) for i in range(40)]).cells[0]
    assert many["high"] > one["high"] and many["level"] == pytest.approx(1 - 0.05 / 40)
    t = stats.t.ppf(1 - 0.025, vals.size - 1) * vals.std(ddof=1) / np.sqrt(vals.size)
    assert one["high"] == pytest.approx(np.exp(vals.mean() + t))


def test_clustered_cells_use_the_cluster_bootstrap():
    c = Criterion.from_dict(NONINF)
    rng = np.random.default_rng(3)
    # 4 networks x 8 seeds; the between-network spread dominates.
    net_effect = np.repeat(rng.normal(0, 0.1, 4), 8)
    vals = net_effect + rng.normal(0, 0.005, 32)
    clusters = np.repeat(np.arange(4), 8)
    flat = judge(c, [Cell("a", "x", vals)]).cells[0]
    clus = judge(c, [Cell("a", "x", vals, clusters)]).cells[0]
    assert clus["clusters"] == 4
    assert clus["high"] - clus["low"] > flat["high"] - flat["low"]


def test_single_values_are_never_decisive():
    c = Criterion.from_dict(NONINF)
    assert judge(c, [Cell("a", "x", np.log([0.5]))]).verdict == "inconclusive"


def test_proportion_interval_is_clopper_pearson():
    f, lo, hi = proportion_ci(np.zeros(10))
    assert (f, lo) == (0.0, 0.0) and hi == pytest.approx(1 - 0.025 ** (1 / 10))
    f, lo, hi = proportion_ci([1, 1, 0, 1])
    assert f == 0.75 and lo == pytest.approx(stats.beta.ppf(0.025, 3, 2))
    with pytest.raises(ValidationError, match="0/1"):
        proportion_ci([0.5, 1])
    c = Criterion.from_dict({"id": "t", "claim": "2", "statement": "most are not minima",
                             "stat": "proportion", "test": "above", "bound": 0.5})  # fmt: skip
    assert judge(c, [Cell("a", "x", np.ones(20))]).verdict == "supported"
    assert judge(c, [Cell("a", "x", np.zeros(20))]).verdict == "refuted"


def test_claim_combines_its_criteria_regime_by_regime():
    gain = judge(
        Criterion.from_dict(GAIN),
        [Cell("16", "x", _logs(0.6, 0.05, 20, 1)), Cell("32", "x", _logs(0.6, 0.05, 20, 2))],
    )
    ctrl = judge(
        Criterion.from_dict({**GAIN, "id": "ctrl"}),
        [Cell("16", "x", _logs(0.6, 0.05, 20, 3)), Cell("32", "x", _logs(1.0, 0.05, 20, 4))],
    )
    other = judge(
        Criterion.from_dict({**NONINF, "claim": "2"}), [Cell("all", "x", _logs(1.0, 0.01, 9))]
    )
    assert claim_verdicts([gain, ctrl, other]) == {"2": "supported in 1 of 3 regimes: 16"}
    refuted = judge(
        Criterion.from_dict({**GAIN, "id": "r"}), [Cell("16", "x", _logs(1.5, 0.05, 20))]
    )
    assert claim_verdicts([gain, refuted]) == {"2": "refuted"}


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"colour": 1}, "unknown key"),
        ({"test": "near"}, "test must be one of"),
        ({"bound": None}, "needs one 'bound'"),
        ({"stat": "median"}, "stat must be one of"),
        ({"bound": -1.0}, "must be positive"),
        ({"statement": ""}, "'statement' must be a non-empty string"),
    ],
)
def test_malformed_criteria_are_refused_with_the_field(patch, match):
    d = {**NONINF, **patch}
    d = {k: v for k, v in d.items() if v is not None}
    with pytest.raises(ValidationError, match=match):
        Criterion.from_dict(d)


def test_every_experiment_states_its_criteria_before_running():
    from circuitlearn.experiments import EXPERIMENTS
    from circuitlearn.experiments.common import HERE

    for module in EXPERIMENTS.values():
        crits = load_criteria(HERE / f"{module.__name__.rsplit('.', 1)[1]}.toml")
        assert crits, module.NAME
