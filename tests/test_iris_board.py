"""The Iris board study: its split is the library's, its selection never sees test data, its
ceiling bounds what a trained passive board achieves, and its criteria decide as stated."""

from __future__ import annotations

import numpy as np
import pytest

from circuitlearn.ensemble import train_many
from circuitlearn.experiments import iris_board as study
from circuitlearn.experiments.common import judge_criteria, load_settings
from circuitlearn.experiments.criteria import Cell
from circuitlearn.gallery import LAB_IRIS_ROLES, lab_board
from circuitlearn.rules import CoupledLearning
from circuitlearn.tasks import iris

LEVELS = (0.1, 0.3, 0.5)


@pytest.mark.parametrize("seed", [0, 7, 104])
def test_split_and_encoding_match_the_library_iris_task(seed):
    train, test = study.split(seed)
    ours = study.make_task(train, test, "4 inputs", LEVELS)
    lib = iris(lab_board(), seed=seed, levels=LEVELS, **LAB_IRIS_ROLES)
    assert np.allclose(ours.x_train, lib.x_train) and np.allclose(ours.x_test, lib.x_test)
    assert np.allclose(ours.y_train, lib.y_train) and np.allclose(ours.y_test, lib.y_test)


def test_bias_encoding_drives_node_8_at_the_bias_voltage():
    train, test = study.split(0)
    task = study.make_task(train, test, "4 inputs + bias", LEVELS, bias_v=1.0, bias_node=8)
    assert list(task.input_nodes) == [*LAB_IRIS_ROLES["input_nodes"], 8]
    assert np.all(task.x_train[:, -1] == 1.0) and np.all(task.x_test[:, -1] == 1.0)


def test_folds_are_stratified_and_stay_inside_the_training_split():
    _, labels = study._iris()
    train, test = study.split(101)
    parts = study.folds(train, 101, 3)
    vals = np.concatenate([v for _, v in parts])
    assert sorted(vals.tolist()) == sorted(train.tolist())  # a partition of the training set
    for fit, val in parts:
        assert not set(val) & set(test) and not set(fit) & set(test)
        assert not set(fit) & set(val)
        counts = np.bincount(labels[val], minlength=3)
        assert counts.min() == counts.max()  # every species equally in every fold
        assert counts[0] in (len(train) // 9, len(train) // 9 + 1)


def test_selection_uses_no_test_example():
    # Every example a selection candidate trains or is scored on lies in a selection
    # split's training set: the test sets of the final splits are never touched.
    s = load_settings("iris_board", quick=True)
    seen = set()
    for seed in range(*s["select_seeds"]):
        train, _ = study.split(seed, s["n_train"])
        for fit, val in study.folds(train, seed, s["folds"]):
            seen |= set(fit) | set(val)
            assert set(fit) | set(val) <= set(train)
    assert seen  # and the final splits train on their own training set only
    for seed in range(*s["final_seeds"]):
        train, test = study.split(seed, s["n_train"])
        assert not set(train) & set(test)


def test_choose_takes_best_accuracy_then_lowest_error():
    scores = [
        {"id": 0, "val_accuracy": 0.90, "val_error": 0.001},
        {"id": 1, "val_accuracy": 0.95, "val_error": 0.004},
        {"id": 2, "val_accuracy": 0.95, "val_error": 0.002},
    ]
    assert study.choose(scores)["id"] == 2


def test_convex_readout_is_feasible_and_bounds_a_trained_board():
    # A passive board's output is a convex combination of its sources, so a trained board can
    # fit the training levels no better than the least-squares convex readout.
    train, test = study.split(3)
    enc = "4 inputs + bias"
    task = study.make_task(train, test, enc, LEVELS)
    u = study.features(train, train, enc)
    y = np.asarray(LEVELS)[study._iris()[1][train]]
    w = study.convex_readout(u, y)
    assert np.all(w >= -1e-9) and w.sum() <= 1 + 1e-9
    best = np.mean((u @ w - y) ** 2)
    (res,) = train_many(
        lab_board(), task, CoupledLearning(lr=0.5, eta=0.5), steps=300, seeds=[0], progress=False
    )
    # the trained board's own weights (its response to unit sources) are feasible too
    w_board = res.outputs(np.eye(u.shape[1]))[:, 0]
    assert np.all(w_board >= -1e-9) and w_board.sum() <= 1 + 1e-9
    board = np.mean((res.outputs(u)[:, 0] - y) ** 2)
    assert board >= best - 1e-9
    # and the ceiling's accuracy is the nearest-level decision of that readout
    acc = study.ceiling(train, train, enc, LEVELS)
    pred = np.argmin(np.abs((u @ w)[:, None] - np.asarray(LEVELS)), axis=1)
    assert acc == pytest.approx(np.mean(pred == study._iris()[1][train]))


@pytest.mark.parametrize(
    ("accuracies", "expected"),
    [
        ([0.97, 0.96, 0.975, 0.965, 0.97, 0.968], "supported"),
        ([0.90, 0.89, 0.91, 0.9, 0.905], "refuted"),
        ([0.99, 0.92, 0.97, 0.93, 0.96], "inconclusive"),
    ],
)
def test_criterion_decides_on_the_interval_over_splits(accuracies, expected):
    regime = "CoupledLearning, full batch"
    cells = {
        "IRIS-board": [Cell(regime, "test accuracy over splits", np.array(accuracies))],
        "IRIS-stepped": [],
    }
    verdicts = judge_criteria("iris_board", cells)
    assert verdicts["claims"]["Iris (board)"] == expected


def test_chunked_selection_maps_back_to_the_global_candidate_order():
    import pandas as pd

    cands = [f"c{i}" for i in range(7)]
    n = 3
    parts = []
    for j in range(n):
        mine = cands[j::n]
        parts.append(pd.DataFrame({"candidate": range(len(mine)), "label": mine}))
    merged = study.merge_chunks(parts)
    assert sorted(merged["candidate"]) == list(range(7))
    assert all(merged["label"] == [cands[k] for k in merged["candidate"]])
