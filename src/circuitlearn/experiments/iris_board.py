"""Iris on the 16-edge lab board: the setting chosen on training data only, then tested once.

The board is ``gallery.lab_board()``: a 3 x 3 square lattice (node ``r * 3 + c``) with the four
diagonals to the centre node 4, 16 edges. Node roles are the board's Iris roles
(``gallery.LAB_IRIS_ROLES``): the four min-max scaled features (0-1 V) drive nodes 0, 2, 3, 6;
node 4 is the output; node 7 is ground; nodes 1, 5, 8 are free. The one wiring choice under
selection is the encoding: ``"4 inputs"``, or ``"4 inputs + bias"``, where free node 8 becomes a
source held at ``bias_v`` (1 V). The output is read with the "levels" encoding: one target
voltage per species, the predicted class the nearest level.

Selection: k-fold stratified cross-validation inside the 30 training examples of the selection
splits (seeds disjoint from the final ones). Every candidate (encoding, class levels, learning
rate or none, nudge) is scored by its mean validation accuracy; ties go to the lower validation
error. Only the winner is trained on the full 30 examples of each final split and scored once on
its 120 test examples. The study runs for the continuous rule (``CoupledLearning``) and for the
stepped board (``SteppedCoupledLearning``), each with its own selection; full batch,
synchronous.

Ceiling: a passive network's output is a convex combination of its source voltages (ground at
0 V included), ``v_out = sum_i w_i u_i`` with ``w_i >= 0`` and ``sum_i w_i <= 1``. The best such
map, fitted by least squares to the class levels on the training examples, bounds what any board
with these node roles can read out with the nearest-level decision (``ceiling``).

``examples/iris_board_study.py`` runs the same study from these functions and prints it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from functools import cache

import numpy as np
import pandas as pd

from ..analysis import mean_ci, tail_mean
from ..gallery import LAB_IRIS_ROLES, lab_board
from ..hardware import SteppedCoupledLearning
from ..rules import CoupledLearning
from ..schedules import Synchronous
from ..tasks import Task
from .common import (
    Context,
    judge_criteria,
    load_settings,
    pyplot,
    run_conditions,
    save_figure,
    train_replicas,
)
from .criteria import Cell
from .report import criteria_section, figures_with_captions, md_table, mode_note

NAME = "iris"
TITLE = "Iris on the 16-edge lab board"
#: Heading of this experiment's section in ``results.md``.
HEADING = "Iris on the 16-edge board (IRIS)"
#: The question this experiment decides (its label heads the overview row).
CLAIM = (
    "Iris (board): Iris reaches a mean test accuracy >= 0.95 on the 16-edge lab board, "
    "with a setting chosen without looking at test data."
)
BOARDS = {"continuous": "CoupledLearning", "stepped": "SteppedCoupledLearning"}
CRITERION = {"continuous": "IRIS-board", "stepped": "IRIS-stepped"}
#: The module's name: its settings and criteria are ``iris_board.toml``.
NAME_MODULE = "iris_board"


@cache
def _iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def has_bias(encoding: str) -> bool:
    """Whether ``encoding`` drives the bias node (``"4 inputs + bias"``)."""
    return encoding.endswith("bias")


def split(seed: int, n_train: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Train/test indices of Iris exactly as ``tasks.iris`` draws them (``n_train / 3`` per
    species, drawn with ``seed``); the rest is the test set."""
    _, labels = _iris()
    rng = np.random.default_rng(seed)
    per = n_train // 3
    train = np.sort(
        np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per] for c in range(3)])
    )
    return train, np.setdiff1d(np.arange(len(labels)), train)


def features(fit_idx, idx, encoding: str, bias_v: float = 1.0) -> np.ndarray:
    """Source voltages (V), shape ``(len(idx), 4 or 5)``: the features of ``idx`` min-max scaled
    with the range of ``fit_idx`` (the training rows only), plus the bias column."""
    x, _ = _iris()
    lo, hi = x[fit_idx].min(axis=0), x[fit_idx].max(axis=0)
    u = (x[idx] - lo) / (hi - lo)
    if has_bias(encoding):
        u = np.column_stack([u, np.full(len(idx), bias_v)])
    return u


def make_task(
    fit_idx, eval_idx, encoding: str, levels, bias_v: float = 1.0, bias_node: int = 8
) -> Task:
    """The Iris task on the lab board: train on ``fit_idx``, evaluate ("test") on
    ``eval_idx`` (a validation fold during selection, the test set after)."""
    _, labels = _iris()
    inputs = list(LAB_IRIS_ROLES["input_nodes"]) + ([bias_node] if has_bias(encoding) else [])
    y = np.asarray(levels, float)[labels][:, None]
    return Task(
        input_nodes=inputs,
        output_nodes=LAB_IRIS_ROLES["output_nodes"],
        ground_nodes=LAB_IRIS_ROLES["ground_nodes"],
        x_train=features(fit_idx, fit_idx, encoding, bias_v),
        y_train=y[fit_idx],
        x_test=features(fit_idx, eval_idx, encoding, bias_v),
        y_test=y[eval_idx],
        encoding="levels",
        levels=tuple(levels),
        name="iris",
    )


def folds(train: np.ndarray, seed: int, n_folds: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified ``(fit, validation)`` folds of the training indices ``train``."""
    _, labels = _iris()
    rng = np.random.default_rng(seed + 10_000)
    parts = [[] for _ in range(n_folds)]
    for c in range(3):
        idx = rng.permutation(train[labels[train] == c])
        for f in range(n_folds):
            parts[f].extend(idx[f::n_folds])
    out = []
    for f in range(n_folds):
        val = np.sort(np.array(parts[f]))
        out.append((np.setdiff1d(train, val), val))
    return out


def convex_readout(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The least-squares convex readout: ``w`` (shape ``(n_sources,)``) minimising
    ``sum((u @ w - y) ** 2)`` subject to ``w >= 0`` and ``sum(w) <= 1``.

    Parameters
    ----------
    u : array, shape (M, n_sources)
        Source voltages (V).
    y : array, shape (M,)
        Target output voltages (V).
    """
    from scipy.optimize import minimize

    u, y = np.asarray(u, float), np.asarray(y, float)
    n = u.shape[1]
    fit = minimize(
        lambda w: np.sum((u @ w - y) ** 2),
        np.full(n, 0.5 / n),
        jac=lambda w: 2 * u.T @ (u @ w - y),
        bounds=[(0, None)] * n,
        constraints=[{"type": "ineq", "fun": lambda w: 1 - w.sum(), "jac": lambda w: -np.ones(n)}],
        method="SLSQP",
    )
    return fit.x


def ceiling(fit_idx, eval_idx, encoding: str, levels, bias_v: float = 1.0) -> float:
    """Accuracy on ``eval_idx`` of the best convex readout (``convex_readout``) of the source
    voltages, fitted to the levels on ``fit_idx``, with the nearest-level decision."""
    _, labels = _iris()
    u, v = (
        features(fit_idx, fit_idx, encoding, bias_v),
        features(fit_idx, eval_idx, encoding, bias_v),
    )
    lv = np.asarray(levels, float)
    w = convex_readout(u, lv[labels[fit_idx]])
    pred = np.argmin(np.abs((v @ w)[:, None] - lv[None, :]), axis=1)
    return float(np.mean(pred == labels[eval_idx]))


def make_rule(board: str, lr: float | None, eta: float, taps: int = 128):
    """``CoupledLearning(lr, eta)`` (``board="continuous"``) or
    ``SteppedCoupledLearning(eta, taps)`` (``"stepped"``, no learning rate: a tap a move)."""
    if board == "stepped":
        return SteppedCoupledLearning(eta=eta, taps=taps)
    return CoupledLearning(lr=lr, eta=eta)


def train_board(
    tasks: Sequence[Task], rule, seeds: Sequence[int], steps: int, tail: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Train one replica per task on the lab board (full batch, synchronous, one stacked
    computation) and return test accuracy and test error (V^2) per replica: at the end, or
    the mean over the last ``tail`` fraction of the run (for a board that cycles)."""
    res = train_replicas(
        lab_board(), list(tasks), rule, Synchronous(), seeds=list(seeds), steps=steps
    )
    if tail:
        acc = [tail_mean(r.history, "test_accuracy", tail) for r in res]
        err = [tail_mean(r.history, "test_error", tail) for r in res]
    else:
        acc = [r.history["test_accuracy"].iloc[-1] for r in res]
        err = [r.history["test_error"].iloc[-1] for r in res]
    return np.asarray(acc, float), np.asarray(err, float)


def candidates(s: dict, board: str) -> list[dict]:
    """Every setting under selection for ``board``: encoding x levels x lr x eta."""
    lrs = s["continuous"]["lrs"] if board == "continuous" else [None]
    out = []
    for enc in s["encodings"]:
        for lv in s["levels"]:
            for lr in lrs:
                for eta in s[board]["etas"]:
                    out.append({"encoding": enc, "levels": list(lv), "lr": lr, "eta": eta})
    return out


def _tail(s: dict, board: str) -> float | None:
    return s["stepped"]["tail"] if board == "stepped" else None


def _rule(s: dict, board: str, cand: dict):
    return make_rule(board, cand["lr"], cand["eta"], s["stepped"]["taps"])


def select_condition(c: dict) -> pd.DataFrame:
    """Cross-validation of every candidate (``c["candidates"]``: dicts with ``board`` and the
    setting): one row per (candidate, selection split, fold)."""
    s = c["settings"]
    frames = []
    for i, cand in enumerate(c["candidates"]):
        board = cand["board"]
        tasks, seeds, rows = [], [], []
        for seed in range(*s["select_seeds"]):
            train, _ = split(seed, s["n_train"])
            for f, (fit, val) in enumerate(folds(train, seed, s["folds"])):
                tasks.append(
                    make_task(fit, val, cand["encoding"], cand["levels"], s["bias_v"],
                              s["bias_node"])
                )  # fmt: skip
                seeds.append(seed * 10 + f)
                rows.append({"candidate": i, "split": seed, "fold": f})
        acc, err = train_board(tasks, _rule(s, board, cand), seeds, s["steps"], _tail(s, board))
        frame = pd.DataFrame(rows)
        frame["accuracy"], frame["error"] = acc, err
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def final_condition(c: dict) -> pd.DataFrame:
    """Each board's chosen setting (``c["chosen"]``) on the final splits: one row per board
    and split seed (test accuracy and error, and the passive-readout ceiling of that split)."""
    s = c["settings"]
    seeds = list(range(*s["final_seeds"]))
    splits = [split(seed, s["n_train"]) for seed in seeds]
    frames = []
    for board, cand in c["chosen"].items():
        tasks = [
            make_task(tr, te, cand["encoding"], cand["levels"], s["bias_v"], s["bias_node"])
            for tr, te in splits
        ]
        acc, err = train_board(tasks, _rule(s, board, cand), seeds, s["steps"], _tail(s, board))
        ceil = [ceiling(tr, te, cand["encoding"], cand["levels"], s["bias_v"]) for tr, te in splits]
        frames.append(
            pd.DataFrame(
                {"board": board, "split": seeds, "accuracy": acc, "error": err, "ceiling": ceil}
            )
        )
    return pd.concat(frames, ignore_index=True)


def condition(c: dict) -> pd.DataFrame:
    """One condition (``c["phase"]``: ``"select"`` or ``"final"``), for ``run_conditions``."""
    return final_condition(c) if c["phase"] == "final" else select_condition(c)


def merge_chunks(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The selection frames of ``n`` chunks (chunk ``j`` scored candidates ``j, j + n, ...``,
    numbered from 0 within the chunk) as one frame numbered by the global candidate index."""
    n = len(parts)
    return pd.concat(
        [f.assign(candidate=f["candidate"] * n + j) for j, f in enumerate(parts)],
        ignore_index=True,
    )


def _ceil_key(encoding: str, levels) -> str:
    return f"{encoding} | {', '.join(f'{x:g}' for x in levels)}"


def choose(scores: Sequence[dict]) -> dict:
    """The winning candidate: highest mean validation accuracy, ties to the lower mean
    validation error (``scores``: dicts with ``val_accuracy``, ``val_error``)."""
    return max(scores, key=lambda r: (r["val_accuracy"], -r["val_error"]))


def run(ctx: Context) -> dict:
    """Run the study for both boards (resuming finished conditions) and return the summary
    (also written to ``OUT/iris/summary.json``)."""
    t0 = time.perf_counter()
    s = load_settings(NAME_MODULE, ctx.quick)
    # The study is small (a 9-node board): the selection runs as ``select_chunks`` conditions
    # (interleaved candidates, one per worker; a single one runs in-process, as a pool costs
    # more to start than a quick run saves) and the finals as one.
    cands = [{"board": b, **cand} for b in BOARDS for cand in candidates(s, b)]
    n_chunks = max(1, min(int(s["select_chunks"]), len(cands)))
    sel = [
        {
            "key": f"select{j}",
            "phase": "select",
            "candidates": cands[j::n_chunks],
            "settings": s,
        }  # fmt: skip
        for j in range(n_chunks)
    ]
    parts = run_conditions(ctx, NAME, sel, condition)
    f_sel = merge_chunks(parts)
    selection = []
    for i, cand in enumerate(cands):
        g = f_sel[f_sel["candidate"] == i]
        selection.append(
            {
                **cand,
                "val_accuracy": float(g["accuracy"].mean()),
                "val_error": float(g["error"].mean()),
                "n": len(g),
            }
        )
    chosen = {}
    for b in BOARDS:
        best = choose([r for r in selection if r["board"] == b])
        chosen[b] = {k: best[k] for k in ("encoding", "levels", "lr", "eta")}
    # Cross-validated ceiling of each (encoding, levels) beside the selection table.
    cv_ceiling = {}
    for enc in s["encodings"]:
        for lv in s["levels"]:
            vals = [
                ceiling(fit, val, enc, lv, s["bias_v"])
                for seed in range(*s["select_seeds"])
                for fit, val in folds(split(seed, s["n_train"])[0], seed, s["folds"])
            ]
            cv_ceiling[_ceil_key(enc, lv)] = float(np.mean(vals))
    fin = [{"key": "final", "phase": "final", "chosen": chosen, "settings": s}]
    (f_all,) = run_conditions(ctx, NAME, fin, condition)
    finals = {}
    for b in BOARDS:
        f = f_all[f_all["board"] == b]
        acc = f["accuracy"].to_numpy(float)
        m, lo, hi = mean_ci(acc)
        finals[b] = {
            "splits": f["split"].tolist(),
            "accuracy": acc.tolist(),
            "error": f["error"].tolist(),
            "ceiling": f["ceiling"].tolist(),
            "mean": m,
            "low": lo,
            "high": hi,
            "sd": float(acc.std(ddof=1)) if len(acc) > 1 else math.nan,
            "ceiling_mean": float(f["ceiling"].mean()),
            # the "over 5 seeds": the first five final splits alone
            "mean_first5": float(acc[:5].mean()),
        }
    cells = {
        CRITERION[b]: [
            Cell(f"{BOARDS[b]}, full batch", "test accuracy over splits", finals[b]["accuracy"])
        ]
        for b in BOARDS
    }
    verdicts = judge_criteria(NAME_MODULE, cells)
    figures = [_figure(ctx, s, finals)]
    return ctx.write_summary(
        NAME,
        TITLE,
        s,
        t0,
        selection=selection,
        cv_ceiling=cv_ceiling,
        chosen=chosen,
        finals=finals,
        verdicts=verdicts,
        figures=figures,
    )


def _figure(ctx: Context, s: dict, finals: dict) -> str:
    """Figure IRIS.1: test accuracy per final split seed, both boards, with the 0.95 line
    and the passive-readout ceiling of each split."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 3.6), layout="constrained")
    for i, b in enumerate(BOARDS):
        f = finals[b]
        x = np.asarray(f["splits"]) + (i - 0.5) * 0.2
        ax.plot(x, f["accuracy"], "o", color=f"C{i}", label=f"{BOARDS[b]}: test accuracy")
        ax.axhline(f["mean"], color=f"C{i}", lw=1, ls=":", label=f"{BOARDS[b]}: mean")
    ceil = finals["continuous"]
    ax.plot(
        ceil["splits"],
        ceil["ceiling"],
        "_",
        color="k",
        ms=12,
        mew=1.5,
        label="passive-readout ceiling (continuous board's encoding)",
    )
    ax.axhline(0.95, color="C3", lw=1.2, ls="--", label="criterion 0.95")
    ax.set_xlabel("final split seed")
    ax.set_ylabel("test accuracy (fraction of 120 test examples)")
    ax.set_xticks(ceil["splits"])
    ax.grid(alpha=0.3)
    fig.legend(fontsize=7, loc="outside right upper")
    return save_figure(fig, ctx, "iris_board_accuracy")


# ---------------------------------------------------------------------------- report
def _setting_text(b: str, cand: dict) -> str:
    lr = "" if cand["lr"] is None else f"lr = {cand['lr']:g} S/V², "
    return (
        f"{BOARDS[b]} ({lr}η = {cand['eta']:g}), encoding “{cand['encoding']}”, "
        f"levels {tuple(cand['levels'])} V"
    )


def report(s: dict) -> tuple[str, str]:
    st = s["settings"]
    sel0, sel1 = st["select_seeds"]
    fin0, fin1 = st["final_seeds"]
    roles = LAB_IRIS_ROLES
    wiring = " ".join(
        [
            "**Board, wiring and node roles.** The 16-edge lab board: a 3 × 3 square lattice",
            "(node r·3 + c) with the four diagonals to the centre node 4. Inputs: the four Iris",
            "features, min-max scaled to 0-1 V with the training split's range, drive nodes",
            f"{', '.join(map(str, roles['input_nodes']))} (sepal length, sepal width, petal",
            f"length, petal width); output node {roles['output_nodes'][0]}; ground node",
            f"{roles['ground_nodes'][0]}; nodes 1, 5 and {st['bias_node']} are free, except",
            f"that the encoding “4 inputs + bias” holds node {st['bias_node']} at",
            f"{st['bias_v']:g} V as a fifth source. These roles are the board's fixed Iris roles;",
            "the encoding (bias or not),",
            "the class levels (target output voltage of setosa, versicolor, virginica; the",
            "predicted class is the nearest level), the learning rate and the nudge η are chosen",
            "by cross-validation.",
        ]
    )
    select = " ".join(
        [
            f"**Selection (no test data).** {st['folds']}-fold stratified cross-validation inside",
            f"the {st['n_train']} training examples of split seeds {sel0}..{sel1 - 1}; each",
            "candidate's score is its mean validation accuracy (ties: lower validation error).",
            f"Training: {st['steps']} steps, full batch, synchronous, from k = 1 S (continuous)",
            f"or the middle tap ({st['stepped']['taps']} taps, stepped; its accuracy is the mean",
            f"over the last {100 * st['stepped']['tail']:g} % of steps because the stepped board",
            "cycles). The winner is then trained on the full training set of each final split",
            f"(seeds {fin0}..{fin1 - 1}, disjoint from the selection splits; training seed = split",
            "seed) and tested once on its 120 test examples.",
        ]
    )
    chosen = "\n".join(f"- {_setting_text(b, c)}." for b, c in s["chosen"].items())
    fin_rows = []
    for b, f in s["finals"].items():
        fin_rows.append(
            [
                BOARDS[b],
                f"{f['mean']:.3f} [{f['low']:.3f}, {f['high']:.3f}]",
                f"{f['sd']:.3f}",
                f"{min(f['accuracy']):.3f}",
                f"{f['mean_first5']:.3f}",
                ", ".join(f"{a:.3f}" for a in f["accuracy"]),
                f"{f['ceiling_mean']:.3f}",
            ]
        )
    fin_table = md_table(
        [
            "board",
            "mean test accuracy [95 % t CI]",
            "sd over splits",
            "worst split",
            f"mean of splits {fin0}..{min(fin0 + 5, fin1) - 1}",
            f"per split seed {fin0}..{fin1 - 1}",
            "passive-readout ceiling (mean)",
        ],
        fin_rows,
    )
    sel_rows = [
        [
            BOARDS[r["board"]],
            r["encoding"],
            str(tuple(r["levels"])),
            "n/a" if r["lr"] is None else f"{r['lr']:g}",
            f"{r['eta']:g}",
            f"{r['val_accuracy']:.3f}",
            f"{r['val_error']:.2e}",
            f"{s['cv_ceiling'][_ceil_key(r['encoding'], r['levels'])]:.3f}",
        ]
        for r in s["selection"]
    ]
    sel_table = md_table(
        [
            "board",
            "encoding",
            "levels (V)",
            "lr (S/V²)",
            "η",
            "validation accuracy",
            "validation error (V²)",
            "passive ceiling (validation)",
        ],
        sel_rows,
    )
    n = len(s["finals"]["continuous"]["accuracy"])
    caption = (
        "**Figure IRIS.1** — Test accuracy (fraction of the 120 test examples) on each final "
        f"split seed {fin0}..{fin1 - 1} (n = {n} splits per board; each split trains and tests "
        "one board; the two boards share the splits), continuous board (CoupledLearning) and "
        f"stepped board ({st['stepped']['taps']} taps), each with its own cross-validated "
        "setting. Dotted lines: each board's mean over splits. Black ticks: the passive-readout "
        "ceiling of each split (best convex readout of the continuous board's source voltages, "
        "fitted on the training examples). Dashed red: the pre-registered bound 0.95."
    )
    ceiling_txt = (
        "**Ceiling.** A passive board's output is a convex combination of its source voltages "
        "(ground included): v_out = Σ w_i u_i with w_i ≥ 0 and Σ w_i ≤ 1. The best such map, "
        "fitted by least squares to the levels on the training examples, bounds what any "
        "16-edge board with these roles can read out with the nearest-level decision; its test "
        "accuracy is the ceiling column."
    )
    body = f"""{mode_note(s)}{wiring}

{select}

Chosen settings:

{chosen}

{criteria_section(s["verdicts"])}
{fin_table}

{ceiling_txt}

{figures_with_captions(s["figures"], [caption])}

<details><summary>Selection table ({len(sel_rows)} candidates)</summary>

{sel_table}

</details>

Command: `{s["command"]}` ({s["runtime_s"]:.0f} s).
"""
    return s["verdicts"]["claims"].get("Iris (board)", "inconclusive"), body
