"""E4: the data-rate matching of PoissonClocks against Bernoulli, the paired cells its criteria
are judged on, and the verdicts they give on inputs with a known effect."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from circuitlearn.analysis import cluster_ci
from circuitlearn.ensemble import train_many
from circuitlearn.experiments import e4_async as e4
from circuitlearn.experiments.common import judge_criteria, load_settings
from circuitlearn.gallery import LAB_IRIS_ROLES, lab_board
from circuitlearn.hardware import SteppedCoupledLearning
from circuitlearn.schedules import Bernoulli, PoissonClocks, steps_for
from circuitlearn.tasks import iris


def test_matched_poisson_rate_sees_as_many_examples_per_update_as_bernoulli():
    # The premise of the matched design: online, PoissonClocks(rate p) and Bernoulli(p) both
    # present 1/p examples per update per edge at equal updates per edge.
    net = lab_board()
    task = iris(net, seed=0, **LAB_IRIS_ROLES)
    upe = 150
    for p in (0.5, 0.25):
        for sched in (PoissonClocks(rate=p), Bernoulli(p)):
            steps = steps_for(upe, sched, net.n_edges)
            (res,) = train_many(
                net, task, SteppedCoupledLearning(eta=0.5, taps=128), sched, steps=steps,
                batch_size=1, seeds=[3], progress=False,
            )  # fmt: skip
            h = res.history.iloc[-1]
            assert h["updates_per_edge"] == pytest.approx(upe, rel=0.06)
            assert h["examples"] / h["updates_per_edge"] == pytest.approx(1 / p, rel=0.06)


def test_matched_rate_rules():
    assert e4.matched_rate("stepped", 0.1, [1.0, 0.5, 0.1]) == 0.1
    # Full batch: any rate matches every p, and the first listed one serves.
    assert e4.matched_rate("continuous", 0.1, [1.0]) == 1.0
    with pytest.raises(ValueError, match="no PoissonClocks rate"):
        e4.matched_rate("stepped", 0.2, [1.0, 0.5])


def _frame(errors: dict[tuple[int, int], float]) -> pd.DataFrame:
    rows = [{"instance": i, "seed": s, "error": e, "examples": 1.0} for (i, s), e in errors.items()]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # order must not matter


def test_paired_logs_pair_by_network_and_seed():
    a = _frame({(0, 0): 2.0, (0, 1): 4.0, (1, 0): 3.0, (2, 0): 9.0})
    b = _frame({(0, 0): 1.0, (0, 1): 1.0, (1, 0): 3.0})  # (2, 0) unpaired: left out
    logs, clusters = e4.paired_logs(a, b)
    assert np.allclose(logs, np.log([2.0, 4.0, 1.0]))
    assert clusters.tolist() == [0, 0, 1]


def test_paired_ratio_is_a_cluster_bootstrap_when_seeds_share_a_network():
    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(6), 3)
    logs = rng.normal(0.0, 0.05, 18) + np.repeat(rng.normal(0, 0.2, 6), 3)
    got = e4.paired_ratio(logs, clusters)
    m, lo, hi = cluster_ci(logs, clusters, 0.95)
    assert (got["ratio"], got["low"], got["high"]) == pytest.approx(
        (math.exp(m), math.exp(lo), math.exp(hi))
    )
    assert got["n"] == 18


def _synthetic_frames(s: dict, effect: dict[str, float], rng) -> dict[str, pd.DataFrame]:
    """Condition frames where PoissonClocks' error is ``effect[setting]`` times Bernoulli's
    (same network/seed), with a per-network factor common to both arms."""
    frames = {}
    for setting, tasks in (("continuous", s["continuous"]["tasks"]), ("stepped", ["iris"])):
        if setting == "continuous":
            pairs = [(i, r) for i in range(8) for r in range(3)]
        else:
            pairs = [(i, i) for i in range(24)]
        base = {pr: math.exp(rng.normal(0, 1)) for pr in pairs}
        for task in tasks:
            for p in s["ps"]:
                frames[f"{setting}-{task}_bernoulli{float(p):g}"] = _frame(
                    {pr: base[pr] * math.exp(rng.normal(0, 0.01)) for pr in pairs}
                )
            for r in s[setting]["rates"]:
                frames[f"{setting}-{task}_poisson{float(r):g}"] = _frame(
                    {pr: effect[setting] * base[pr] * math.exp(rng.normal(0, 0.01)) for pr in pairs}
                )
    return frames


def test_cells_pair_the_matched_arms_and_cluster_by_network():
    s = load_settings("e4_async", quick=False)
    rng = np.random.default_rng(0)
    frames = _synthetic_frames(s, {"continuous": 1.0, "stepped": 1.0}, rng)
    # Make the stepped matched arm at p = 0.1 distinct, to see which frame a cell reads.
    key = "stepped-iris_poisson0.1"
    frames[key] = frames[key].assign(error=frames[key]["error"] * 2.0)
    cells, rows = e4.build_cells(s, frames)
    matched = {c.label: c for c in cells["E4-matched"]}
    n_cont = len(s["continuous"]["tasks"]) * len(s["ps"])
    assert len(cells["E4-matched"]) == n_cont + len(s["ps"])
    step01 = matched["iris: PoissonClocks (rate 0.1) / Bernoulli p = 0.1"]
    assert np.mean(step01.values) == pytest.approx(math.log(2.0), abs=0.01)
    assert step01.clusters is None  # every stepped seed is its own split
    cont = [c for c in cells["E4-matched"] if c.regime == e4.SETTINGS["continuous"]]
    assert all(len(np.unique(c.clusters)) == 8 and len(c.values) == 24 for c in cont)
    assert all("(rate 1)" in c.label for c in cont)  # full batch: rate 1 matches every p
    rates = [c.label for c in cells["E4-datarate"]]
    assert rates == [
        "iris: PoissonClocks rate 1 / rate 0.5",
        "iris: PoissonClocks rate 1 / rate 0.1",
    ]
    dr = {c.label: c for c in cells["E4-datarate"]}
    assert np.mean(dr[rates[1]].values) == pytest.approx(-math.log(2.0), abs=0.01)
    # The table's unmatched column is PoissonClocks rate 1 over the same Bernoulli arm.
    row = next(r for r in rows if r["setting"] == "stepped" and r["p"] == 0.1)
    assert row["matched_ratio"] == pytest.approx(2.0, rel=0.02)
    assert row["rate1_ratio"] == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize(
    ("effect", "expected"),
    [
        ({"continuous": 1.0, "stepped": 1.0}, "supported"),
        (
            {"continuous": 1.0, "stepped": 1.5},
            f"supported in 1 of 2 regimes: {e4.SETTINGS['continuous']}",
        ),
        ({"continuous": 0.6, "stepped": 1.5}, "refuted"),
    ],
)
def test_known_effects_give_the_expected_verdict(effect, expected):
    s = load_settings("e4_async", quick=False)
    frames = _synthetic_frames(s, effect, np.random.default_rng(1))
    cells, _ = e4.build_cells(s, frames)
    verdicts = judge_criteria("e4_async", cells)
    matched = next(c for c in verdicts["criteria"] if c["id"] == "E4-matched")
    assert matched["verdict"] == expected
    assert verdicts["claims"]["E4 (asynchrony)"] == expected
    # Bonferroni over every cell of the criterion
    k = len(matched["cells"])
    assert all(c["level"] == pytest.approx(1 - 0.05 / k) for c in matched["cells"])


def test_paired_curve_averages_logs_within_networks_before_the_interval():
    # network 0: ratios 2 and 8 (mean log = log 4); network 1: ratio 1 -> two cluster means
    a = pd.DataFrame(
        {"instance": [0, 0, 1], "seed": [0, 1, 0], "curve": [[2.0, 2.0], [8.0, 8.0], [1.0, 3.0]]}
    )
    b = pd.DataFrame(
        {"instance": [1, 0, 0], "seed": [0, 1, 0], "curve": [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]}
    )
    ratio, lo, hi = e4.paired_curve(a, b, clusters=True)
    assert ratio[0] == pytest.approx(math.sqrt(4.0 * 1.0))
    assert ratio[1] == pytest.approx(math.sqrt(4.0 * 3.0))
    assert lo[0] < ratio[0] < hi[0]
    # without clusters every pair counts: geometric mean of 2, 8, 1
    ratio, _, _ = e4.paired_curve(a, b, clusters=False)
    assert ratio[0] == pytest.approx((2.0 * 8.0 * 1.0) ** (1 / 3))
