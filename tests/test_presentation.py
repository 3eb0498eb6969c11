"""Instruments for the mechanism: the staggered schedule, data presentation (sampling modes,
ticks per example, the examples column) and the hardware model (taper, wiper, relative dead
band and offset). Properties, statistics and physics, not shapes."""

from __future__ import annotations

import numpy as np
import pytest

import circuitlearn as cl
from circuitlearn.gallery import LAB_IRIS_ROLES, lab_board
from circuitlearn.sampling import Batches


# ---------------------------------------------------------------------------- Staggered
@pytest.mark.parametrize("phase", ["spread", "random"])
@pytest.mark.parametrize("period", [1, 3, 7])
def test_staggered_updates_each_edge_exactly_once_per_period(period, phase):
    sched = cl.Staggered(period, phase=phase)
    rng = np.random.default_rng(4)
    e = 23
    state = sched.start(rng, e)
    masks = np.array(
        [next(iter(sched.events(rng, e, t, state))) for t in range(5 * period)]
    )  # (steps, E)
    for start in range(0, 5 * period, period):
        np.testing.assert_array_equal(masks[start : start + period].sum(axis=0), 1)
    assert sched.updates_per_step(e) == pytest.approx(1 / period)
    if phase == "spread":  # as many moves at every step as evenly as possible
        counts = masks.sum(axis=1)
        assert counts.max() - counts.min() <= 1


def test_staggered_is_deterministic_and_random_phases_follow_the_seed():
    net = lab_board()
    task = cl.tasks.iris(net, "levels", **LAB_IRIS_ROLES)
    rule = cl.SteppedCoupledLearning(taps=16)
    kw = dict(rule=rule, steps=60, batch_size=1)
    a = cl.train(net, task, schedule=cl.Staggered(4), seed=1, **kw)
    b = cl.train(net, task, schedule=cl.Staggered(4), seed=1, **kw)
    np.testing.assert_array_equal(a.taps, b.taps)
    s = cl.Staggered(4, phase="random")
    p0 = s.start(np.random.default_rng(0), 16)
    p1 = s.start(np.random.default_rng(0), 16)
    np.testing.assert_array_equal(p0, p1)
    assert set(np.unique(p0)) <= set(range(4))
    # exactly period updates per edge over 4 * 15 steps: 15 each
    rec = cl.train(net, task, schedule=s, seed=2, **{**kw, "steps": 60})
    assert rec.final["updates"] == pytest.approx(15.0)


# ---------------------------------------------------------------------------- sampling
def test_replacement_batches_duplicate_as_with_replacement_theory():
    m, b, n = 10, 6, 4000
    batches = Batches(m, b, np.random.default_rng(0), sampling="replacement")
    distinct = np.array([np.unique(batches.next()[0]).size for _ in range(n)])
    expect = m * (1 - (1 - 1 / m) ** b)  # expected distinct examples in b draws
    # variance of the number of distinct items (occupancy): exact formula
    var = m * (1 - 1 / m) ** b + m * (m - 1) * (1 - 2 / m) ** b - (m * (1 - 1 / m) ** b) ** 2
    assert abs(distinct.mean() - expect) < 5 * np.sqrt(var / n)
    epoch = Batches(m, b, np.random.default_rng(0), sampling="epoch")
    assert all(np.unique(epoch.next()[0]).size == len(epoch._current) for _ in range(50))


def test_epoch_batches_cover_every_example_once_per_epoch_and_cyclic_never_reorders():
    m, b = 9, 4
    epoch = Batches(m, b, np.random.default_rng(1), sampling="epoch")
    for _ in range(5):
        seen = np.concatenate([epoch.next()[0] for _ in range(3)])  # 4 + 4 + 1
        np.testing.assert_array_equal(np.sort(seen), np.arange(m))
    cyc = Batches(m, b, np.random.default_rng(1), sampling="cyclic")
    order = np.concatenate([cyc.next()[0] for _ in range(3 * 6)])
    np.testing.assert_array_equal(order, np.tile(np.arange(m), 6))


@pytest.mark.parametrize("ticks", [1, 3])
def test_ticks_hold_each_batch_for_exactly_that_many_steps(ticks):
    batches = Batches(7, 1, np.random.default_rng(2), sampling="epoch", ticks_per_example=ticks)
    picks = [batches.next() for _ in range(7 * ticks * 3)]
    idx = np.array([int(i[0]) for i, _ in picks])
    fresh = np.array([f for _, f in picks])
    np.testing.assert_array_equal(fresh, np.tile([True] + [False] * (ticks - 1), 21))
    runs = idx.reshape(-1, ticks)
    assert (runs == runs[:, :1]).all()  # one example per run of ticks
    for e in range(3):  # and each epoch still covers every example once
        np.testing.assert_array_equal(np.sort(runs[7 * e : 7 * (e + 1), 0]), np.arange(7))


def test_examples_column_counts_presentations():
    net = cl.Network.random(20, seed=0)
    task = cl.tasks.regression(net, 2, 1, n_train=8, n_test=0, seed=0)
    full = cl.train(net, task, steps=10, record_every=1)
    np.testing.assert_array_equal(full.history["examples"], 8 * np.arange(11))
    held = cl.train(net, task, steps=12, batch_size=2, ticks_per_example=3, record_every=1)
    # a new batch of 2 every 3 steps: examples after step t = 2 * ceil(t / 3)
    np.testing.assert_array_equal(held.history["examples"], 2 * np.ceil(np.arange(13) / 3))


# ---------------------------------------------------------------------------- hardware model
def test_tapers_and_wiper_hit_the_range_ends_and_invert():
    for taper in ("linear", "log"):
        rule = cl.SteppedCoupledLearning(taps=33, r_min=100, r_max=10_000, r_wiper=40, taper=taper)
        s = np.arange(33)
        r = rule.resistance(s)
        assert r[0] == pytest.approx(140) and r[-1] == pytest.approx(10_040)
        assert np.all(np.diff(r) > 0)
        np.testing.assert_array_equal(rule.taps_for(1.0 / r), s)
    log = cl.SteppedCoupledLearning(taps=33, r_min=100, r_max=10_000, taper="log")
    ratios = log.resistance(np.arange(1, 33)) / log.resistance(np.arange(32))
    np.testing.assert_allclose(ratios, 100 ** (1 / 32))  # equal ratios per tap


def _board_task():
    net = lab_board()
    return net, cl.tasks.iris(net, "levels", **LAB_IRIS_ROLES)


def test_relative_deadband_is_that_fraction_of_the_median_signal():
    net, task = _board_task()
    rule = cl.SteppedCoupledLearning(taps=16, deadband_rel=0.25, offset_rel=0.1, deadband=1e-6)
    seen = {}

    def grab(step, state, row):
        seen.setdefault("deadband", state.deadband[0].copy())  # (R, E): one replica
        seen.setdefault("offset", state.offset[0].copy())

    cl.train(net, task, rule=rule, steps=0, callback=grab, seed=3)
    system = cl.measure.TaskSystem(net, task)
    system.settle(1.0 / rule.resistance(np.full(16, 7)))
    sig = system.signals(task.x_train, task.y_train, 0.5)
    diff = np.abs(sig.clamped_sq - sig.free_sq)
    scale = np.median(diff[diff > 1e-12 * diff.max()])
    np.testing.assert_allclose(seen["deadband"], 1e-6 + 0.25 * scale, rtol=1e-12)
    z = np.random.default_rng(np.random.SeedSequence(3).spawn(4)[3]).normal(0.0, 1.0, 16)
    np.testing.assert_allclose(seen["offset"], z * 0.1 * scale, rtol=1e-12)


def test_a_dead_band_above_every_signal_stalls_the_synchronous_board():
    net, task = _board_task()
    stalled = cl.train(
        net, task, rule=cl.SteppedCoupledLearning(taps=16, deadband_rel=1e6), steps=30
    )
    np.testing.assert_array_equal(stalled.taps, np.full(16, 7))
    moving = cl.train(net, task, rule=cl.SteppedCoupledLearning(taps=16), steps=30)
    assert not np.array_equal(moving.taps, np.full(16, 7))


def test_relative_imperfections_are_equal_in_train_and_train_many():
    net, task = _board_task()
    rule = cl.SteppedCoupledLearning(taps=32, deadband_rel=0.05, offset_rel=0.05, taper="log")
    kw = dict(rule=rule, schedule=cl.Bernoulli(0.5), steps=80, batch_size=1)
    many = cl.ensemble.train_many(net, task, seeds=[0, 1, 2], **kw)
    for s, got in enumerate(many):
        one = cl.train(net, task, seed=s, **kw)
        np.testing.assert_array_equal(got.taps, one.taps)
        np.testing.assert_allclose(got.history["train_error"], one.history["train_error"])
