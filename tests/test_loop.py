"""The one loop's contract: callbacks see every record and can stop a run, progress is visible
off a terminal, and a stacked run equals its single runs (see also tests/test_fastpaths.py)."""

from __future__ import annotations

import numpy as np

import circuitlearn as cl
from circuitlearn.callbacks import EarlyStop, Progress


def _case():
    net = cl.Network.random(24, seed=3)
    return net, cl.tasks.regression(net, 2, 1, n_train=10, n_test=4, seed=1)


def test_a_callback_returning_false_stops_train_and_train_many():
    net, task = _case()
    seen = []

    def stop_at_30(step, state, row):
        seen.append((step, np.shape(row["train_error"])))
        return step < 30

    res = cl.train(net, task, rule=cl.CoupledLearning(lr=0.3), steps=100, callback=stop_at_30)
    assert int(res.final["step"]) == 30 and not res.complete
    assert seen[-1] == (30, (1,))
    many = cl.ensemble.train_many(
        net, task, rule=cl.CoupledLearning(lr=0.3), steps=100, seeds=[0, 1, 2], callback=stop_at_30
    )
    assert all(int(r.final["step"]) == 30 for r in many)
    assert seen[-1] == (30, (3,))  # one value per replica


def test_early_stop_stops_when_every_replica_is_below_the_threshold():
    net, task = _case()
    rule = cl.CoupledLearning(lr=0.5)
    full = cl.train(net, task, rule=rule, steps=300, record_every=1)
    threshold = float(full.history["train_error"].iloc[120])
    first = int(np.argmax(full.history["train_error"].to_numpy() <= threshold))
    stopped = cl.train(
        net, task, rule=rule, steps=300, record_every=1, callback=EarlyStop(threshold)
    )
    assert int(stopped.final["step"]) == first
    np.testing.assert_array_equal(stopped.conductances, _k_at(net, task, rule, first))


def _k_at(net, task, rule, step):
    return cl.train(net, task, rule=rule, steps=step).conductances


def test_progress_prints_log_lines_when_stderr_is_not_a_terminal(capsys):
    net, task = _case()
    bar = Progress(total=50, label="training", every_s=0.0)
    cl.train(net, task, steps=50, record_every=10, callback=bar, progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 6  # steps 0, 10, ..., 50
    assert err[-1].startswith("training: 50/50 steps, train error ")
    assert err[-1].endswith("elapsed")
