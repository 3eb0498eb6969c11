"""E3 (desync as mini-batching): the statistics, the criteria cells and the physics behind the
stability edge, against hand computations and synthetic inputs with a known effect."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from circuitlearn.experiments import e3_analysis as an
from circuitlearn.experiments import e3_minibatch as e3
from circuitlearn.experiments.common import judge_criteria, load_settings
from circuitlearn.schedules import Synchronous
from circuitlearn.train import train

SMALL = {
    "n_nodes": 16,
    "n_inputs": 2,
    "n_outputs": 1,
    "n_train": 20,
    "n_test": 0,
    "label_noise": 0.02,
    "eta": 0.05,
    "k_min": 0.01,
    "ref_fraction": 0.5,
    "ref_updates": 3000,
    "noise_draws": 20,
    "noise_states": 1,
}


def _ref(networks=2, loss_star=1e-3):
    return pd.DataFrame(
        {
            "network": range(networks),
            "loss_star": [loss_star] * networks,
            "rates": [[1e-2, 1e-3]] * networks,
            "lr_edge": [100.0] * networks,
            "ref_lr": [50.0] * networks,
            "ref_passes": [1] * networks,
            "v1": [2.0] * networks,
            "rank": [2] * networks,
            "v1_states": [[5.0]] * networks,
            "loss_states": [[2e-3]] * networks,
        }
    )


def _stat(desync_factor: float, rng, networks=3, seeds=4, lr=10.0, loss_star=1e-3):
    """Synthetic stationary frame: per (network, seed) a mini-batch excess e, desync excess
    desync_factor * e, and a control that drifts by 1e-9 below L(k*)."""
    rows = []
    for n in range(networks):
        for s in range(seeds):
            e = 1e-5 * math.exp(rng.normal(0, 0.3))
            for arm, excess in (("mb", e), ("desync", desync_factor * e), ("sync", -1e-9)):
                rows.append(
                    {
                        "network": n,
                        "seed": s,
                        "arm": arm,
                        "pair": "control" if arm == "sync" else "p0.5-b4",
                        "lr": lr,
                        "lr_fraction": 0.1,
                        "loss_window": loss_star + excess,
                        "loss_first": loss_star + excess,
                        "loss_second": loss_star + excess,
                        "trace": max(excess, 0) * 10,
                        "trace_settled": max(excess, 0) * 10,
                        "range_rms": 1e-3,
                        "null_rms": 1e-3,
                        "eigvecs": np.eye(2 * an.N_EIGVECS)[:, : an.N_EIGVECS].ravel().tolist(),
                        "null_drift_half": 1.0,
                        "null_drift_end": math.sqrt(2),
                    }
                )
    return pd.DataFrame(rows)


def _settings():
    return {"loss_floor": 1e-12, "window": 0.5, "time_lr": 1000.0}


def test_excess_loss_is_floored_at_the_noise_free_controls_drift():
    stat = _stat(0.0, np.random.default_rng(0))
    out = an.excess_losses(stat, _ref(3), floor=1e-12)
    desync = out[out["arm"] == "desync"]
    # desync sits exactly at k*: its excess is the control's |drift| (1e-9), not 0
    assert np.allclose(desync["excess"], 1e-9)
    mb = out[out["arm"] == "mb"]
    assert np.allclose(mb["excess"], mb["loss_window"] - 1e-3)


def test_cells_pair_desync_with_its_own_minibatch_replica_and_cluster_by_network():
    rng = np.random.default_rng(1)
    stat = _stat(0.5, rng)
    pairs = [{"name": "p0.5-b4", "p": 0.5, "b": 4}]
    match = pd.DataFrame({"network": [0], "b": [4], "p": [0.5], "v_b": [0.5], "mask": [0.5],
                          "v_b_epoch": [0.1]})  # fmt: skip
    res = an.analyse(_settings(), _ref(3), match, stat, pairs)
    hw = {"cells": {}}
    cells = an.criteria_cells(res, hw)
    (cell,) = cells["C3-excess-loss"]
    assert cell.regime == an.regime(0.1) == cells["C3-vanishing"][0].regime
    # every pair's log ratio is log(0.5) exactly: the desync value is half its own partner's
    assert np.allclose(cell.values, math.log(0.5))
    assert sorted(np.unique(cell.clusters)) == [0, 1, 2]
    assert len(cell.values) == 12
    (row,) = res["summary"]["ratios"]
    assert row["excess_ratio"] == pytest.approx(0.5)
    assert row["trace_ratio"] == pytest.approx(0.5)
    assert row["cosine_first"] == pytest.approx(1.0) and row["cosine_last"] == pytest.approx(1.0)
    # diffusive null-space drift (RMS grows as sqrt(t)) reads as exponent 1
    assert all(a["drift_exponent"] == pytest.approx(1.0) for a in res["summary"]["arms"])


def test_known_effects_give_the_expected_verdicts():
    rng = np.random.default_rng(2)
    pairs = [{"name": "p0.5-b4", "p": 0.5, "b": 4}]
    match = pd.DataFrame({"network": [0], "b": [4], "p": [0.5], "v_b": [0.5], "mask": [0.5],
                          "v_b_epoch": [0.1]})  # fmt: skip
    board = {"cells": {0.5: np.log2(np.array([1.1, 0.9, 1.2, 0.8, 1.0, 1.05]))}}
    # desync's excess a tenth of the mini-batch's: the analogy fails, the transient reading holds
    res = an.analyse(_settings(), _ref(3), match, _stat(0.1, rng, networks=6), pairs)
    v = judge_criteria("e3_minibatch", an.criteria_cells(res, board))
    assert v["claims"]["3"] == "refuted"
    assert v["claims"]["3 (transient-only analogy)"] == "supported"
    assert v["claims"]["3 (hardware analogue)"] == "supported"
    # equal excess: the analogy holds, the transient-only reading is refuted
    res = an.analyse(_settings(), _ref(3), match, _stat(1.0, rng, networks=6), pairs)
    v = judge_criteria("e3_minibatch", an.criteria_cells(res, board))
    assert v["claims"]["3"] == "supported"
    assert v["claims"]["3 (transient-only analogy)"] == "refuted"


def test_log_interp_inside_and_beyond_the_grid():
    b = np.array([1.0, 2.0, 4.0, 8.0])
    v = 2.0 / b  # V_b = V_1 / b, V_1 = 2
    assert an._log_interp(b, v, 0.5) == pytest.approx(4.0)
    assert an._log_interp(b, v, 0.125) == pytest.approx(16.0)  # power-law extrapolation


def test_board_match_recovers_a_planted_contour():
    """Sync error E(b) = 1 / b, V_b = 1 / b: the (full, p) row planted at the error of
    b_true gives log2(b_true / b_pred) with b_pred = 1 / (mask noise)."""
    bs_ = [1, 2, 4, 8, 16]
    rows = []
    for seed in range(3):
        for b in bs_:
            rows.append({"seed": seed, "b": b, "p": 1.0, "train_error": 1.0 / b})
        rows.append({"seed": seed, "b": -1, "p": 1.0, "train_error": 1.0 / 32})
        rows.append({"seed": seed, "b": -1, "p": 0.5, "train_error": 1.0 / 3.0})
    noise = [{"seed": 0, "kind": "batch", "value": float(b), "noise": 1.0 / b} for b in bs_]
    noise.append({"seed": 0, "kind": "mask", "value": 0.5, "noise": 0.5})
    hw = an.board_analysis({}, pd.DataFrame(rows), pd.DataFrame(noise))
    (row,) = hw["summary"]["per_p"]
    assert row["b_pred"] == pytest.approx(2.0)
    assert row["b_match"] == pytest.approx(3.0, rel=0.02)
    assert np.allclose(hw["cells"][0.5], math.log2(3.0 / 2.0), atol=0.03)


def test_lr_edge_from_the_linearised_update_separates_stable_from_unstable():
    """Above the measured edge a perturbation of k* along the stiffest mode grows under
    full-batch synchronous learning; below it, it decays."""
    ref = e3.reference_condition({"settings": SMALL, "network": 0}).iloc[0]
    net, task = e3.instance(SMALL, 0)
    k_star = np.asarray(ref["k_star"])
    a = e3.update_jacobian(net, task, k_star, e3.coupled(SMALL, 1.0))
    w, vecs = np.linalg.eig(a)
    stiff = np.real(vecs[:, np.argmin(w.real)])
    k0 = k_star + 1e-4 * stiff / np.abs(stiff).max() * k_star.mean()
    dist = {}
    for f in (0.8, 1.2):
        rule = e3.coupled(SMALL, f * ref["lr_edge"])
        # the perturbed run against the unperturbed one: k* itself may still drift slowly
        ends = [
            train(net, task, rule, Synchronous(), steps=60, k0=k, progress=False).conductances
            for k in (k0, k_star)
        ]
        dist[f] = np.linalg.norm(ends[0] - ends[1])
    d0 = np.linalg.norm(k0 - k_star)
    assert dist[0.8] < d0 < dist[1.2]
    assert ref["v1"] > 0 and ref["rank"] >= 1


def test_settings_and_criteria_load():
    s = load_settings("e3_minibatch", quick=True)
    assert 0 < s["window"] < 1 and s["desync_ps"]
    full = load_settings("e3_minibatch", quick=False)
    assert len(full["lr_fractions"]) == 3
    assert max(full["lr_fractions"]) / min(full["lr_fractions"]) >= 10
