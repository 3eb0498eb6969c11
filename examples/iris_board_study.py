"""Iris on the 16-edge lab board: choose the setting on training data only, then test once.

Selection: 3-fold stratified cross-validation inside the 30 training examples of split seeds
100..119 (train on 20, score on the held-out 10). Every candidate (encoding, class levels,
learning rate, nudge) is scored by its mean validation accuracy; ties go to the lower
validation error. Only the winner is then trained on the full 30 examples of split seeds 0..4
and scored once on their 120 test examples.

Ceiling: a passive network's output is a convex combination of its source voltages (ground
at 0 V included), v_out = sum_i w_i u_i with w_i >= 0 and sum_i w_i <= 1. The best such map,
fitted by least squares to the class levels on the 30 training examples, bounds what any
16-edge board with these node roles can read out with the nearest-level decision.

Run: ``python examples/iris_board_study.py`` (about 2-4 minutes on 2 cores; prints only).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import minimize
from sklearn.datasets import load_iris

import circuitlearn as cl
from circuitlearn import gallery

SELECT_SEEDS = range(100, 120)
FINAL_SEEDS = range(5)
N_TRAIN = 30
FOLDS = 3
STEPS = 2000
BIAS_V = 1.0  # the bias node is a source held at 1 V
ROLES = gallery.LAB_IRIS_ROLES  # inputs 0, 2, 3, 6; output 4; ground 7; free 1, 5, 8
BIAS_NODE = 8

ENCODINGS = ("4 inputs", "4 inputs + 1 V bias")
LEVELS = ((0.1, 0.3, 0.5), (0.2, 0.45, 0.7))
LRS = (0.2, 0.5, 1.0)
ETAS = (0.1, 0.5)

X_ALL, LABELS = load_iris(return_X_y=True)


def split(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/test indices exactly as ``cl.tasks.iris`` draws them (10 per species)."""
    rng = np.random.default_rng(seed)
    per = N_TRAIN // 3
    train = np.sort(
        np.concatenate([rng.permutation(np.flatnonzero(LABELS == c))[:per] for c in range(3)])
    )
    return train, np.setdiff1d(np.arange(len(LABELS)), train)


def features(fit_idx: np.ndarray, idx: np.ndarray, encoding: str) -> np.ndarray:
    """Source voltages (V): features scaled to [0, 1] on ``fit_idx``, plus the bias column."""
    lo, hi = X_ALL[fit_idx].min(axis=0), X_ALL[fit_idx].max(axis=0)
    u = (X_ALL[idx] - lo) / (hi - lo)
    if encoding.endswith("bias"):
        u = np.column_stack([u, np.full(len(idx), BIAS_V)])
    return u


def make_task(fit_idx, eval_idx, encoding, levels) -> cl.Task:
    inputs = list(ROLES["input_nodes"]) + ([BIAS_NODE] if encoding.endswith("bias") else [])
    y = np.asarray(levels)[LABELS][:, None]
    return cl.Task(
        input_nodes=inputs,
        output_nodes=ROLES["output_nodes"],
        ground_nodes=ROLES["ground_nodes"],
        x_train=features(fit_idx, fit_idx, encoding),
        y_train=y[fit_idx],
        x_test=features(fit_idx, eval_idx, encoding),
        y_test=y[eval_idx],
        encoding="levels",
        levels=levels,
        name="iris",
    )


def folds(train: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds of the training indices."""
    rng = np.random.default_rng(seed + 10_000)
    parts = [[] for _ in range(FOLDS)]
    for c in range(3):
        idx = rng.permutation(train[LABELS[train] == c])
        for f in range(FOLDS):
            parts[f].extend(idx[f::FOLDS])
    out = []
    for f in range(FOLDS):
        val = np.sort(np.array(parts[f]))
        out.append((np.setdiff1d(train, val), val))
    return out


def run(tasks, lr, eta, seeds) -> tuple[np.ndarray, np.ndarray]:
    net = gallery.lab_board()
    res = cl.ensemble.train_many(
        net,
        tasks,
        rule=cl.CoupledLearning(lr=lr, eta=eta),
        steps=STEPS,
        seeds=list(seeds),
        progress=False,
    )
    acc = np.array([r.history["test_accuracy"].iloc[-1] for r in res])
    err = np.array([r.history["test_error"].iloc[-1] for r in res])
    return acc, err


def ceiling(fit_idx, eval_idx, encoding, levels) -> float:
    """Accuracy of the best convex readout (w >= 0, sum w <= 1) fitted on ``fit_idx``."""
    u, v = features(fit_idx, fit_idx, encoding), features(fit_idx, eval_idx, encoding)
    y = np.asarray(levels)[LABELS[fit_idx]]
    n = u.shape[1]
    fit = minimize(
        lambda w: np.sum((u @ w - y) ** 2),
        np.full(n, 0.5 / n),
        jac=lambda w: 2 * u.T @ (u @ w - y),
        bounds=[(0, None)] * n,
        constraints=[{"type": "ineq", "fun": lambda w: 1 - w.sum()}],
        method="SLSQP",
    )
    pred = np.argmin(np.abs((v @ fit.x)[:, None] - np.asarray(levels)[None, :]), axis=1)
    return float(np.mean(pred == LABELS[eval_idx]))


def main() -> None:
    splits = {s: split(s) for s in SELECT_SEEDS}
    cv = {s: folds(splits[s][0], s) for s in SELECT_SEEDS}
    print(
        f"Selection: {FOLDS}-fold CV inside the {N_TRAIN} training examples, split seeds "
        f"{SELECT_SEEDS.start}..{SELECT_SEEDS.stop - 1}; {STEPS} steps, full batch, "
        "CoupledLearning, synchronous"
    )
    print(
        f"{'encoding':22s} {'levels':18s} {'lr':>4s} {'eta':>4s}  {'val acc':>8s} "
        f"{'val err':>9s}  {'convex CV':>9s}"
    )
    rows = []
    for enc, lv in itertools.product(ENCODINGS, LEVELS):
        tasks, seeds = [], []
        for s in SELECT_SEEDS:
            for f, (fit, val) in enumerate(cv[s]):
                tasks.append(make_task(fit, val, enc, lv))
                seeds.append(s * 10 + f)
        ceil_cv = np.mean([ceiling(fit, val, enc, lv) for s in SELECT_SEEDS for fit, val in cv[s]])
        for lr, eta in itertools.product(LRS, ETAS):
            acc, err = run(tasks, lr, eta, seeds)
            rows.append((acc.mean(), -err.mean(), enc, lv, lr, eta))
            print(
                f"{enc:22s} {str(lv):18s} {lr:4.1f} {eta:4.1f}  {acc.mean():8.3f} "
                f"{err.mean():9.2e}  {ceil_cv:9.3f}"
            )
    best = max(rows, key=lambda r: (r[0], r[1]))
    _, _, enc, lv, lr, eta = best
    print(
        f"\nChosen on validation accuracy: encoding={enc!r}, levels={lv}, lr={lr}, eta={eta}, "
        f"steps={STEPS}, full batch, roles inputs={ROLES['input_nodes']}"
        f"{' + bias node ' + str(BIAS_NODE) if enc.endswith('bias') else ''}, "
        f"output={ROLES['output_nodes']}, ground={ROLES['ground_nodes']}"
    )

    finals = {s: split(s) for s in FINAL_SEEDS}
    tasks = [make_task(tr, te, enc, lv) for tr, te in finals.values()]
    acc, _ = run(tasks, lr, eta, list(FINAL_SEEDS))
    print(
        f"\nTest accuracy, split seeds {FINAL_SEEDS.start}..{FINAL_SEEDS.stop - 1} "
        f"(120 test examples each): {np.round(acc, 3).tolist()}"
    )
    print(
        f"mean {acc.mean():.3f} +- {acc.std(ddof=1):.3f} (sd), min {acc.min():.3f}; "
        f">= 0.95: {'yes' if acc.mean() >= 0.95 else 'no'}"
    )
    for e in ENCODINGS:
        c = [ceiling(tr, te, e, lv) for tr, te in finals.values()]
        print(
            f"ceiling, best convex readout fitted on train, '{e}', levels {lv}: test "
            f"{np.mean(c):.3f} +- {np.std(c, ddof=1):.3f} {np.round(c, 3).tolist()}"
        )


if __name__ == "__main__":
    main()
