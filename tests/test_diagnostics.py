"""Diagnostics of the learning mechanism (circuitlearn.diagnostics, docs/diagnostics.md).

Each test checks physics or statistics against an independent computation: brute force with
``cl.solve``, central finite differences, the binomial theory of Bernoulli masks, the
cancellation of reshuffled epochs, hand-made trajectories and synthetic clustered data.
"""

from __future__ import annotations

import numpy as np
import pytest

import circuitlearn as cl
from circuitlearn import diagnostics as dg
from circuitlearn.analysis import mean_ci
from circuitlearn.gallery import LAB_IRIS_ROLES, lab_board


@pytest.fixture(scope="module")
def board():
    net = lab_board()
    task = cl.tasks.iris(net, encoding="levels", seed=0, **LAB_IRIS_ROLES)
    return net, task


def brute_error(net, task, k, idx) -> float:
    """Training error of conductances ``k`` on examples ``idx`` from the plain solver."""
    x = task.x_train[idx]
    fixed = np.concatenate([x, np.zeros((len(idx), task.ground_nodes.size))], axis=1)
    v = cl.solve(net, k, task.source_nodes, fixed)
    return float(np.mean((v[:, task.output_nodes] - task.y_train[idx]) ** 2))


# ---------------------------------------------------------------------------- trap test
def test_local_minimum_agrees_with_brute_force(board):
    net, task = board
    rule = cl.SteppedCoupledLearning(eta=0.5, taps=8)
    idx = np.arange(0, 30, 3)  # a batch of 10 examples

    def k_of(s):
        return 1.0 / rule.resistance(s)

    def neighbours(s):
        out = {}
        for j in range(net.n_edges):
            for d in (-1, 1):
                if 0 <= s[j] + d <= rule.taps - 1:
                    t = s.copy()
                    t[j] += d
                    out[(j, d)] = brute_error(net, task, k_of(t), idx)
        return out

    s = np.random.default_rng(3).integers(0, rule.taps, net.n_edges)
    s[0] = 0  # an edge at each end: its outward move must be excluded
    s[1] = rule.taps - 1
    nb = neighbours(s)
    got = dg.local_minimum(net, task, rule, s, batch=idx)
    e0 = brute_error(net, task, k_of(s), idx)
    assert got.error == pytest.approx(e0, rel=1e-10)
    for (j, d), err in nb.items():
        assert got.neighbour_errors[j, (d + 1) // 2] == pytest.approx(err, rel=1e-10)
    assert np.isnan(got.neighbour_errors[0, 0]) and np.isnan(got.neighbour_errors[1, 1])
    best = min(nb, key=nb.get)
    assert got.best_move == best and got.best_error == pytest.approx(nb[best], rel=1e-10)
    assert got.n_improving == sum(err < e0 * (1 - dg.ERROR_TIE) for err in nb.values())
    assert not got.is_minimum  # a random state on this board can be improved

    # greedy descent by brute force ends in a discrete local minimum: both must say so
    while True:
        nb = neighbours(s)
        move = min(nb, key=nb.get)
        if nb[move] >= brute_error(net, task, k_of(s), idx) * (1 - dg.ERROR_TIE):
            break
        s[move[0]] += move[1]
    got = dg.local_minimum(net, task, rule, s, batch=idx)
    assert got.is_minimum and got.n_improving == 0
    assert got.best_error >= got.error * (1 - dg.ERROR_TIE)


def test_local_minimum_refuses_bad_taps(board):
    net, task = board
    rule = cl.SteppedCoupledLearning(taps=8)
    with pytest.raises(cl.ValidationError, match="taps"):
        dg.local_minimum(net, task, rule, np.full(net.n_edges, 8))
    with pytest.raises(cl.ValidationError, match="SteppedCoupledLearning"):
        dg.local_minimum(net, task, cl.CoupledLearning(), np.zeros(net.n_edges))
    with pytest.raises(cl.ValidationError, match="batch"):
        dg.local_minimum(net, task, rule, np.zeros(net.n_edges), batch=[0, 99])


# ---------------------------------------------------------------------------- escape test
def test_escape_matches_the_run_and_gives_none_when_out_of_reach(board):
    net, task = board
    rule = cl.SteppedCoupledLearning(eta=0.5, taps=16)
    start = np.zeros(net.n_edges, np.int64)  # every edge at r_min: a poor state
    k0 = 1.0 / rule.resistance(start)
    sched = cl.Bernoulli(0.5)
    run = cl.train(net, task, rule, sched, steps=120, batch_size=1, k0=k0, seed=4, record_every=1)
    hist = run.history
    e0 = float(hist["train_error"].iloc[0])
    threshold = 0.5 * e0
    below = hist.index[hist["train_error"] <= threshold]
    assert len(below), "the reference run must reach the threshold"
    expected = float(hist.loc[below[0], "updates_per_edge"])
    got = dg.escape(net, task, rule, sched, start, threshold, 60, seed=4, batch_size=1)
    assert got == pytest.approx(expected) and 0 < got <= 60
    # an error of zero is out of reach of Iris on this board
    assert dg.escape(net, task, rule, sched, start, 0.0, 5, seed=4, batch_size=1) is None
    with pytest.raises(cl.ValidationError, match="max_updates_per_edge"):
        dg.escape(net, task, rule, sched, start, 0.0, 0, seed=4)
    # a threshold the start already meets costs nothing
    assert dg.escape(net, task, rule, sched, start, 2 * e0, 5, seed=4, batch_size=1) == 0.0


# ---------------------------------------------------------------------------- trajectories
def test_saturation_and_best_visited_on_hand_made_data():
    traj = np.array([[0, 3, 1], [3, 3, 0], [2, 1, 1]])
    assert dg.saturation(traj, taps=4) == pytest.approx(5 / 9)
    with pytest.raises(cl.ValidationError, match="taps"):
        dg.saturation(traj, taps=3)  # position 3 does not exist with 3 taps
    import pandas as pd

    hist = pd.DataFrame({"step": [0, 1, 2, 3], "train_error": [0.5, 0.1, 0.3, 0.2]})
    assert dg.best_visited(hist) == 0.1
    assert dg.best_visited(hist, tail=0.5) == 0.2
    with pytest.raises(cl.ValidationError, match="metric"):
        dg.best_visited(hist, metric="nope")


def test_tap_msd_ballistic_and_diffusive():
    t = np.arange(50)
    ballistic = np.stack([t, -2 * t], axis=1)  # velocities 1 and -2 taps per row
    assert dg.tap_msd(ballistic, 1) == pytest.approx(5.0)
    np.testing.assert_allclose(dg.tap_msd(ballistic, [1, 3, 7]), 5.0 * np.array([1, 9, 49]))
    # a synchronous +-1 random walk of E edges: MSD(l) = E l exactly in expectation
    rng = np.random.default_rng(0)
    e = 16
    walk = np.cumsum(rng.choice([-1, 1], size=(20000, e)), axis=0)
    assert dg.tap_msd(walk, 1) == e  # every edge moves by one tap every row
    msd = dg.tap_msd(walk, [4, 16])
    np.testing.assert_allclose(msd / (e * np.array([4, 16])), 1.0, rtol=0.05)
    with pytest.raises(cl.ValidationError, match="lags"):
        dg.tap_msd(ballistic, 50)


# ---------------------------------------------------------------------------- function space
@pytest.fixture(scope="module")
def random_case():
    net = cl.Network.random(20, seed=2)
    task = cl.tasks.regression(net, n_inputs=3, n_outputs=2, n_train=6, n_test=0, seed=1)
    k = np.random.default_rng(5).uniform(0.3, 3.0, net.n_edges)
    return net, task, k


def free_outputs(net, task, k) -> np.ndarray:
    """(M * n_out,) free outputs from the plain solver, row m * n_out + t."""
    m = len(task.x_train)
    fixed = np.concatenate([task.x_train, np.zeros((m, task.ground_nodes.size))], axis=1)
    return cl.solve(net, k, task.source_nodes, fixed)[:, task.output_nodes].ravel()


def test_output_jacobian_matches_central_differences(random_case):
    net, task, k = random_case
    jac = dg.output_jacobian(net, task, k)
    fd = np.empty_like(jac)
    for j in range(net.n_edges):
        h = 1e-5 * k[j]
        up, down = k.copy(), k.copy()
        up[j] += h
        down[j] -= h
        fd[:, j] = (free_outputs(net, task, up) - free_outputs(net, task, down)) / (2 * h)
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-9 * np.abs(jac).max())


def test_function_space_covariance_splits_range_and_null(random_case):
    net, task, k = random_case
    jac = dg.output_jacobian(net, task, k)
    _, sv, vt = np.linalg.svd(jac)
    rank = int(np.sum(sv > max(jac.shape) * np.finfo(float).eps * sv[0]))
    rng = np.random.default_rng(1)
    # tiny fluctuations around k: the linearised output covariance is the real one
    ks = k * (1 + 1e-4 * rng.standard_normal((400, net.n_edges)))
    got = dg.function_space_covariance(net, task, ks)
    outs = np.array([free_outputs(net, task, kk) for kk in ks])
    real = np.cov(outs, rowvar=False)
    np.testing.assert_allclose(got.cov_out, real, rtol=0, atol=2e-3 * np.abs(real).max())
    assert got.trace == pytest.approx(np.trace(real), rel=2e-3)
    assert got.trace_settled == pytest.approx(np.trace(real), rel=1e-9)
    assert got.rank == rank < net.n_edges
    total = np.trace(np.cov(ks, rowvar=False)) / net.n_edges
    assert got.range_rms**2 + got.null_rms**2 == pytest.approx(total, rel=1e-10)
    # fluctuations confined to the null space of J do not move the outputs (to first order)
    null = vt[rank:]
    ks_null = k + 1e-5 * rng.standard_normal((50, null.shape[0])) @ null
    got = dg.function_space_covariance(net, task, ks_null)
    assert got.range_rms < 1e-6 * got.null_rms
    assert got.trace < 1e-8 * np.sum((jac * 1e-5) ** 2)


# ---------------------------------------------------------------------------- noise accounting
@pytest.mark.parametrize("p", [0.5, 0.1])
def test_update_noise_of_bernoulli_is_one_minus_p(board, p):
    net, task = board
    k = np.random.default_rng(1).uniform(0.5, 2.0, net.n_edges) * 1e-3
    rule = cl.CoupledLearning(lr=1e-4, eta=0.5)  # small steps: no clipping
    got = dg.update_noise(net, task, k, rule, cl.Bernoulli(p), tau=1, draws=400, seed=2)
    assert got.steps == round(1 / p)
    assert abs(got.value - (1 - p)) < 4 * got.stderr
    assert got.stderr < 0.1 * (1 - p)


def test_update_noise_cancels_over_a_reshuffled_epoch_but_not_with_replacement(board):
    net, task = board
    m = len(task.x_train)
    k = np.random.default_rng(1).uniform(0.5, 2.0, net.n_edges) * 1e-3
    rule = cl.CoupledLearning(lr=1e-4, eta=0.5)
    epoch = dg.update_noise(net, task, k, rule, batch_size=1, sampling="epoch", tau=m, draws=20)
    assert epoch.value < 1e-20
    one = dg.update_noise(
        net, task, k, rule, batch_size=1, sampling="replacement", tau=1, draws=400
    )
    repl = dg.update_noise(
        net, task, k, rule, batch_size=1, sampling="replacement", tau=m, draws=400
    )
    # i.i.d. draws: the relative variance falls as 1 / tau and never cancels
    assert repl.value > 1e3 * epoch.value + 0.01
    ratio = repl.value * m / one.value
    err = ratio * np.hypot(repl.stderr / repl.value, one.stderr / one.value)
    assert abs(ratio - 1) < 4 * err


def test_update_noise_refuses_a_fixed_point(board):
    net, task = board
    rule = cl.SteppedCoupledLearning(taps=16)
    # a board whose every comparator ties does not drift: the ratio is undefined
    flat = cl.Task(
        x_train=np.zeros((3, 4)), y_train=np.zeros((3, 1)), **LAB_IRIS_ROLES, name="flat"
    )
    with pytest.raises(cl.ValidationError, match="tau"):
        dg.update_noise(net, task, np.full(net.n_edges, 1e-3), rule, tau=0)
    with pytest.raises(cl.ValidationError, match="drift"):
        dg.update_noise(net, flat, np.full(net.n_edges, 1e-3), rule, draws=5)


# ---------------------------------------------------------------------------- statistics
def test_cluster_ci_covers_where_the_naive_interval_does_not():
    rng = np.random.default_rng(0)
    g, n = 10, 8
    clusters = np.repeat(np.arange(g), n)
    hits_cluster = hits_naive = 0
    wider = 0
    trials = 200
    for t in range(trials):
        values = np.repeat(rng.normal(0, 1.0, g), n) + rng.normal(0, 0.1, g * n)
        est, lo, hi = dg.cluster_ci(values, clusters, n_boot=1000, seed=t)
        _, nlo, nhi = mean_ci(values)
        assert est == pytest.approx(values.mean())
        hits_cluster += lo <= 0 <= hi
        hits_naive += nlo <= 0 <= nhi
        wider += (hi - lo) > 2 * (nhi - nlo)
    # the between-cluster variance dominates: only the cluster interval nearly covers
    assert hits_cluster / trials > 0.85
    assert hits_naive / trials < 0.6
    assert wider == trials


def test_cluster_ci_exact_on_degenerate_input():
    assert dg.cluster_ci(np.full(12, 0.25), np.repeat([0, 1, 2], 4)) == (0.25, 0.25, 0.25)
    est, lo, hi = dg.cluster_ci([1.0, 2.0, 3.0], ["a", "a", "a"])
    assert est == 2.0 and np.isnan(lo) and np.isnan(hi)
    values = np.arange(12.0)
    clusters = np.repeat([0, 1, 2, 3], 3)
    fast = dg.cluster_ci(values, clusters, seed=3)
    slow = dg.cluster_ci(values, clusters, seed=3, statistic=lambda a: float(np.mean(a)))
    np.testing.assert_allclose(fast, slow, rtol=1e-12)
    with pytest.raises(cl.ValidationError, match="clusters"):
        dg.cluster_ci(values, clusters[:-1])
