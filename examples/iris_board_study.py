"""Iris on the 16-edge lab board: choose the setting on training data only, then test once.

The study itself lives in ``circuitlearn.experiments.iris_board`` (``circuitlearn reproduce
iris`` runs it with pre-registered criteria and writes its report section and figure); this
script runs the same steps from the same functions and settings (``iris_board.toml``) for the
continuous board, and prints them.

Selection: 3-fold stratified cross-validation inside the 30 training examples of split seeds
100..119 (train on 20, score on the held-out 10). Every candidate (encoding, class levels,
learning rate, nudge) is scored by its mean validation accuracy; ties go to the lower
validation error. Only the winner is then trained on the full 30 examples of the final split
seeds and scored once on their 120 test examples.

Ceiling: the best convex readout of the source voltages (see ``iris_board.ceiling``) bounds
what any 16-edge board with these node roles can read out with the nearest-level decision.

Run: ``python examples/iris_board_study.py [--splits 5]`` (about a minute on 2 cores; prints
only).
"""

from __future__ import annotations

import argparse

import numpy as np

from circuitlearn.experiments import iris_board as study
from circuitlearn.experiments.common import load_settings
from circuitlearn.gallery import LAB_IRIS_ROLES as ROLES


def main(n_splits: int) -> None:
    s = load_settings(study.NAME_MODULE, quick=False)
    select = range(*s["select_seeds"])
    finals = range(n_splits)
    print(
        f"Selection: {s['folds']}-fold CV inside the {s['n_train']} training examples, split "
        f"seeds {select.start}..{select.stop - 1}; {s['steps']} steps, full batch, "
        "CoupledLearning, synchronous"
    )
    print(
        f"{'encoding':18s} {'levels':18s} {'lr':>4s} {'eta':>4s}  {'val acc':>8s} "
        f"{'val err':>9s}  {'convex CV':>9s}"
    )
    cands = [{"board": "continuous", **c} for c in study.candidates(s, "continuous")]
    frame = study.select_condition({"settings": s, "candidates": cands})
    scores = []
    for i, c in enumerate(cands):
        g = frame[frame["candidate"] == i]
        acc, err = g["accuracy"].mean(), g["error"].mean()
        scores.append({**c, "val_accuracy": acc, "val_error": err})
        ceil_cv = np.mean(
            [
                study.ceiling(fit, val, c["encoding"], c["levels"], s["bias_v"])
                for seed in select
                for fit, val in study.folds(study.split(seed, s["n_train"])[0], seed, s["folds"])
            ]
        )
        print(
            f"{c['encoding']:18s} {str(c['levels']):18s} {c['lr']:4.1f} {c['eta']:4.1f}  "
            f"{acc:8.3f} {err:9.2e}  {ceil_cv:9.3f}"
        )
    best = study.choose(scores)
    enc, lv = best["encoding"], best["levels"]
    print(
        f"\nChosen on validation accuracy: encoding={enc!r}, levels={lv}, lr={best['lr']}, "
        f"eta={best['eta']}, steps={s['steps']}, full batch, roles inputs="
        f"{ROLES['input_nodes']}"
        f"{' + bias node ' + str(s['bias_node']) if study.has_bias(enc) else ''}, "
        f"output={ROLES['output_nodes']}, ground={ROLES['ground_nodes']}"
    )
    chosen = {"continuous": {k: best[k] for k in ("encoding", "levels", "lr", "eta")}}
    s_final = {**s, "final_seeds": [finals.start, finals.stop]}
    out = study.final_condition({"settings": s_final, "chosen": chosen})
    acc = out["accuracy"].to_numpy()
    print(
        f"\nTest accuracy, split seeds {finals.start}..{finals.stop - 1} "
        f"(120 test examples each): {np.round(acc, 3).tolist()}"
    )
    print(
        f"mean {acc.mean():.3f} +- {acc.std(ddof=1):.3f} (sd), min {acc.min():.3f}; "
        f">= 0.95: {'yes' if acc.mean() >= 0.95 else 'no'}"
    )
    for e in s["encodings"]:
        c = [
            study.ceiling(tr, te, e, lv, s["bias_v"])
            for tr, te in (study.split(seed, s["n_train"]) for seed in finals)
        ]
        print(
            f"ceiling, best convex readout fitted on train, '{e}', levels {lv}: test "
            f"{np.mean(c):.3f} +- {np.std(c, ddof=1):.3f} {np.round(c, 3).tolist()}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5, help="final split seeds 0..N-1")
    main(parser.parse_args().splits)
