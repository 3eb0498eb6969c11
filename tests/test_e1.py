"""E1 (claim 1): the stability edge, the paired cells and the verdicts they lead to."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from circuitlearn.experiments import e1_idealised as e1
from circuitlearn.experiments.common import judge_criteria

SETTINGS = {
    "run_tasks": ["regression"],
    "etas": [0.5],
    "ps": [1.0, 0.5],
    "divisors": [10, 3, 1],
    "claim_divisors": [10, 3],
    "curve_divisor": 10,
    "budgets": [10, 20],
    "diverged_factor": 1000.0,
}


def _frame(error_of, seeds=20):
    """A synthetic ``arm_condition`` table: ``error_of(divisor, p, seed, upe)`` -> error."""
    rows = []
    for d in SETTINGS["divisors"]:
        for p in SETTINGS["ps"]:
            for seed in range(seeds):
                for upe in (0.0, 10.0, 20.0):
                    rows.append(
                        {
                            "task": "regression",
                            "eta": 0.5,
                            "divisor": float(d),
                            "lr": 30.0 / d,
                            "seed": seed,
                            "p": p,
                            "n_edges": 112,
                            "upe": upe,
                            "error": error_of(d, p, seed, upe),
                            "accuracy": np.nan,
                            "diverged": False,
                        }
                    )
    return pd.DataFrame(rows)


def _seed_scale(seed):
    # networks differ by decades: only a paired comparison can see a 2 % effect
    return 10.0 ** (-3 - 3 * ((seed * 0.6180339) % 1.0))


def _noise(seed, upe, p):
    return math.exp(0.01 * math.sin(7.3 * seed + upe + 3 * p))


def _verdicts(frame):
    res = e1.analyse(frame, SETTINGS)
    return res, judge_criteria("e1_idealised", res["cells"])


def test_stability_edge_is_the_smallest_lr_where_most_seeds_are_unstable():
    frame = pd.DataFrame(
        {
            "lr": [1, 1, 2, 2, 4, 4, 8, 8],
            "unstable": [False, False, True, False, True, True, False, True],
        }
    )
    # at lr = 2 exactly half are unstable (not a majority); lr = 4 is the edge
    edge = e1.stability_edge(frame, majority=0.5, factor=2.0)
    assert edge["edge"] == 4 and edge["found"] and edge["below"] == 2
    assert edge["fractions"]["2"] == 0.5
    stable = frame.assign(unstable=False)
    beyond = e1.stability_edge(stable, majority=0.5, factor=2.0)
    assert beyond["edge"] == 16 and not beyond["found"]


def test_log_ratios_by_hand_and_divergence_weighs_against_its_arm():
    a = np.array([2.0, 1.0, np.inf, 3.0, np.inf])
    b = np.array([1.0, 4.0, 1.0, np.inf, np.inf])
    out = e1.log_ratios(a, b, 1000.0)
    assert out[0] == pytest.approx(math.log(2))
    assert out[1] == pytest.approx(math.log(0.25))
    assert out[2] == pytest.approx(math.log(1000.0))  # desync diverged: 1000 times worse
    assert out[3] == pytest.approx(-math.log(1000.0))
    assert out[4] == 0.0  # both diverged: a tie


def test_equal_errors_on_paired_seeds_support_the_claim_despite_network_spread():
    # desync = sync x 1.02 seed by seed, while the networks spread over three decades
    frame = _frame(
        lambda d, p, seed, upe: _seed_scale(seed) * (1.02 if p < 1 else 1.0) * _noise(seed, upe, p)
    )
    res, v = _verdicts(frame)
    by_id = {c["id"]: c for c in v["criteria"]}
    assert by_id["C1-noninferior"]["verdict"] == "supported"
    assert by_id["C1-best-lr"]["verdict"] == "supported"
    assert v["claims"]["1"] == "supported"
    # one cell per (claimed lr, budget, desync p): the paired ratio is 1.02
    cells = by_id["C1-noninferior"]["cells"]
    assert len(cells) == 2 * 2 * 1
    assert {c["regime"] for c in cells} == {"lr = edge/10", "lr = edge/3"}
    for c in cells:
        assert c["estimate"] == pytest.approx(1.02, rel=0.01)
        assert c["n"] == 20


def test_unpaired_comparison_would_not_pass_so_pairs_are_by_seed():
    # the same numbers with desync's seeds shuffled: a paired analysis must now be unclear
    perm = np.random.default_rng(1).permutation(20)
    frame = _frame(
        lambda d, p, seed, upe: _seed_scale(perm[seed] if p < 1 else seed) * _noise(seed, upe, p)
    )
    _, v = _verdicts(frame)
    assert v["criteria"][0]["verdict"] == "inconclusive"


def test_desync_worse_near_the_edge_gives_a_regime_verdict():
    # 30 % worse at lr = edge/3, equal at edge/10: supported only in the lower regime
    def err(d, p, seed, upe):
        worse = 1.3 if (p < 1 and d == 3 and upe > 0) else 1.0
        return _seed_scale(seed) * worse * _noise(seed, upe, p)

    _, v = _verdicts(_frame(err))
    crit = v["criteria"][0]
    assert crit["regimes"] == {"lr = edge/10": "pass", "lr = edge/3": "fail"}
    assert crit["verdict"] == "supported in 1 of 2 regimes: lr = edge/10"


def test_each_arm_is_judged_at_its_own_best_lr():
    # sync is best at edge/3; desync is unstable-free and best at the edge itself, where
    # sync diverges: the best-lr ratio compares desync at the edge with sync at edge/3
    def err(d, p, seed, upe):
        if upe == 0:
            return 1.0
        if p == 1.0:
            return math.inf if d == 1 else _seed_scale(seed) * {10: 4.0, 3: 2.0}[d]
        return _seed_scale(seed) * {10: 4.0, 3: 2.0, 1: 1.0}[d] * _noise(seed, upe, p)

    res, v = _verdicts(_frame(err))
    (best,) = res["best"]
    assert best["divisor"] == 1.0 and best["sync_divisor"] == 3.0
    assert best["ratio"] == pytest.approx(0.5, rel=0.01)
    assert v["criteria"][1]["verdict"] == "supported"


def test_probe_finds_instability_only_at_a_huge_learning_rate():
    spec = {"kind": "regression", "n_inputs": 2, "n_outputs": 1, "n_train": 10, "n_test": 0}
    c = {
        "n_nodes": 16,
        "task": spec,
        "eta": 0.5,
        "lrs": [0.1, 1e5],
        "seeds": 2,
        "rise": 0.1,
        "updates_per_edge": 30,
    }
    frame = e1.probe_condition(c)
    unstable = frame.groupby("lr")["unstable"].mean()
    assert unstable[0.1] == 0.0 and unstable[1e5] == 1.0
    assert e1.stability_edge(frame, 0.5, 2.0)["edge"] == 1e5


def test_arm_condition_reads_every_budget_on_the_same_run():
    spec = {"kind": "allostery", "n_inputs": 2, "n_outputs": 1}
    c = {
        "n_nodes": 16,
        "task": spec,
        "eta": 0.5,
        "lr": 1.0,
        "ps": [1.0, 0.5],
        "seeds": 2,
        "updates_per_edge": 20,
        "record_upe": 5,
    }
    frame = e1.arm_condition(c)
    assert sorted(frame["upe"].unique()) == [0, 5, 10, 15, 20]
    start = frame[frame["upe"] == 0].groupby("seed")["error"].agg(["min", "max"])
    assert np.allclose(start["min"], start["max"])  # every arm starts from the same state
    assert np.isfinite(frame["error"]).all()
    end = frame[frame["upe"] == 20].set_index(["seed", "p"])["error"]
    assert (end < frame[frame["upe"] == 0].set_index(["seed", "p"])["error"]).all()


def test_errors_below_the_floor_tie_instead_of_comparing_round_off():
    # both arms learn the task; sync reaches 1e-25, desync 1e-18 (both far below 1 uV RMS)
    def err(d, p, seed, upe):
        if upe == 0:
            return 1e-3
        return (1e-18 if p < 1 else 1e-25) * _noise(seed, upe, p)

    frame = _frame(err)
    res = e1.analyse(frame, {**SETTINGS, "error_floor": 1e-12})
    assert all(r["ratio"] == pytest.approx(1.0) for r in res["ratios"])
    raw = e1.analyse(frame, SETTINGS)  # without a floor the round-off ratio is 1e7
    assert all(r["ratio"] == pytest.approx(1e7, rel=0.05) for r in raw["ratios"])
