r"""Learning rules, schedules and batching (docs/design.md §4-§5).

Coupled learning as a gradient (part a)
---------------------------------------
Write ``r = y - V^F_T`` for the output residual of one example, ``U`` for the free nodes of the
free state (everything but inputs and ground), ``Z = L[U,U]^-1 E_T`` for the free voltages per
ampere injected at each output and ``Z_TT`` for its outputs' block (SPD). Clamping the outputs
at ``V^F_T + eta r`` is the free state plus the response to output currents
``c = Z_TT^-1 eta r``: ``V^C = V^F + eta Z Z_TT^-1 r``. With ``G = B_U Z Z_TT^-1`` (E x n_out)

    dV^C = dV^F + eta G r,
    (dV^F)^2 - (dV^C)^2 = -2 eta dV^F (G r) - eta^2 (G r)^2,
    dk / lr = (1/eta) mean_m[...] = -2 mean_m[dV^F (G r)] - eta mean_m[(G r)^2].      (1)

Differentiate the free state, ``L[U,:] V = 0``, with respect to ``k_j`` (``dL/dk_j = b_j b_j^T``):
``dV_U/dk_j = -L[U,U]^-1 b_jU dV^F_j``, so ``dV_T/dk_j = -Z^T b_jU dV^F_j``. For
``C_S(k) = mean_m r^T S0 r`` with ``S0`` held fixed,

    dC_S/dk_j = 2 mean_m[r^T S0 Z^T b_jU dV^F_j] = 2 mean_m[dV^F_j (B_U Z S0 r)_j].

At ``S0 = Z_TT(k0)^-1`` this is ``2 mean_m[dV^F_j (G r)_j]``, so (1) reads

    dk / lr = -grad C_S(k0) - eta q,     q = mean_m[(G r)^2] >= 0:

the update tends to ``-grad C_S`` with an error exactly linear in ``eta``. ``Z_TT^-1`` is the
Schur complement of the free-state Laplacian onto the outputs (the effective conductance
matrix between them), computed independently in ``reference.RefTask.output_conductance``.
With ONE output, ``S0 = 1/Z_TT > 0`` is a scalar and ``C_S = S0 * C`` (C = the mean squared
error), so ``dk`` becomes parallel to ``-dC/dk``. With several outputs ``S0`` is not a multiple
of the identity and the limit is the gradient of the ``S0``-weighted error instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

import circuitlearn as cl
from circuitlearn.measure import TaskSystem

try:
    from . import reference as ref
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import reference as ref

WIDE = dict(k_min=1e-12, k_max=1e12)


def cl_update(net, task, k0, lr, eta):
    """One synchronous full-batch CoupledLearning update from k0, two ways."""
    rule = cl.CoupledLearning(lr=lr, eta=eta, **WIDE)
    res = cl.train(net, task, rule=rule, schedule=cl.Synchronous(), steps=1, k0=k0)
    dk_train = res.conductances - k0
    system = TaskSystem(net, task)
    system.settle(k0)
    dk_signals = rule.delta(system.signals(task.x_train, task.y_train, eta))
    np.testing.assert_allclose(dk_train, dk_signals, rtol=1e-9, atol=1e-12 * lr)
    return dk_signals


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


ETAS = [0.3, 0.03, 0.003, 0.0003]


# ------------------------------------------------------------------------------ (a) CL -> gradient
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cl_update_tends_to_mse_gradient_one_output(seed, make_case):
    net, task, rtask, k0 = make_case(seed, n_out=1)
    lr = 0.7
    grad = ref.mse_gradient_fd(rtask, k0)  # dC/dk of the mean squared error
    s0 = rtask.output_conductance(k0)
    assert s0.shape == (1, 1) and s0[0, 0] > 0
    cos, err = [], []
    for eta in ETAS:
        dk = cl_update(net, task, k0, lr, eta) / lr
        cos.append(cosine(dk, -grad))
        err.append(np.linalg.norm(dk + s0[0, 0] * grad) / np.linalg.norm(s0[0, 0] * grad))
    assert all(a < b for a, b in zip(cos, cos[1:], strict=False)), cos
    assert 1.0 - cos[-1] < 1e-6, cos
    assert err[-1] < 1e-3, err
    # the error shrinks linearly in eta: a tenfold smaller nudge, a tenfold smaller error
    ratios = np.array(err[:-1]) / np.array(err[1:])
    np.testing.assert_allclose(ratios, 10.0, rtol=0.1)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_cl_update_tends_to_weighted_gradient_several_outputs(seed, make_case):
    net, task, rtask, k0 = make_case(seed, n_out=3, m=7)
    lr = 0.7
    s0 = rtask.output_conductance(k0)
    # the Schur complement is the inverse of the outputs' block of L[U,U]^-1
    lap = ref.laplacian(net.n_nodes, rtask.edges, k0)
    free = np.setdiff1d(np.arange(net.n_nodes), np.concatenate([rtask.inputs, rtask.ground]))
    zinv = np.linalg.inv(lap[np.ix_(free, free)])
    t = np.searchsorted(free, rtask.outputs)
    expect = np.linalg.inv(zinv[np.ix_(t, t)])
    # off-diagonal entries can be exactly 0 in one and 1e-17 in the other: absolute floor
    np.testing.assert_allclose(s0, expect, rtol=1e-9, atol=1e-12 * np.abs(expect).max())
    assert not np.allclose(s0, s0[0, 0] * np.eye(3), rtol=1e-2)  # genuinely a matrix weight
    grad_s = ref.fd_gradient(lambda k: rtask.quad_cost(k, s0), k0)
    err = []
    for eta in ETAS:
        dk = cl_update(net, task, k0, lr, eta) / lr
        err.append(np.linalg.norm(dk + grad_s) / np.linalg.norm(grad_s))
    assert err[-1] < 1e-3, err
    np.testing.assert_allclose(np.array(err[:-1]) / np.array(err[1:]), 10.0, rtol=0.1)
    # ... and the limit is not the plain MSE gradient (the weight S0 matters)
    grad_c = ref.mse_gradient_fd(rtask, k0)
    assert 1.0 - cosine(dk, -grad_c) > 10 * (1.0 - cosine(dk, -grad_s))


# ------------------------------------------------------------------------------ (b) GD
@pytest.mark.parametrize(("seed", "n_out"), [(6, 1), (7, 2), (8, 3)])
def test_gradient_descent_uses_the_exact_gradient(seed, n_out, make_case):
    net, task, rtask, k0 = make_case(seed, n_out=n_out, m=9)
    grad_fd = ref.mse_gradient_fd(rtask, k0)
    system = TaskSystem(net, task)
    system.settle(k0)
    for examples in (False, True):
        sig = system.signals(task.x_train, task.y_train, 0.5, gradient=True, examples=examples)
        np.testing.assert_allclose(sig.grad, grad_fd, rtol=1e-6, atol=1e-8 * np.abs(grad_fd).max())
    lr = 0.05
    res = cl.train(net, task, rule=cl.GradientDescent(lr=lr, **WIDE), steps=1, k0=k0)
    np.testing.assert_allclose(
        (k0 - res.conductances) / lr, grad_fd, rtol=1e-6, atol=1e-8 * np.abs(grad_fd).max()
    )
    # and a small step along it lowers the error, as the reference measures it
    assert rtask.mse(res.conductances) < rtask.mse(k0)


# ------------------------------------------------------------------------------ (c) Bernoulli(1)
def regression_case(seed=0, n_nodes=24, n_train=12):
    net = cl.Network.random(n_nodes, seed=seed)
    task = cl.tasks.regression(net, n_inputs=3, n_outputs=2, n_train=n_train, n_test=6, seed=seed)
    return net, task


def stepped_rule(**kw):
    return cl.SteppedCoupledLearning(**{"eta": 0.5, "taps": 32, "r_min": 0.2, "r_max": 5.0, **kw})


RULES = {
    "cl": lambda: cl.CoupledLearning(lr=0.1, eta=0.5),
    "stepped": stepped_rule,
}


def strip(history: pd.DataFrame) -> pd.DataFrame:
    return history.drop(columns=["wall_time"])


@pytest.mark.parametrize("batch_size", [None, 4])
@pytest.mark.parametrize("rule", list(RULES))
def test_bernoulli_one_is_synchronous(rule, batch_size):
    net, task = regression_case()
    runs = [
        cl.train(net, task, RULES[rule](), sched, steps=30, batch_size=batch_size, seed=5)
        for sched in (cl.Synchronous(), cl.Bernoulli(1.0))
    ]
    a, b = runs
    assert not np.array_equal(a.conductances, a.initial_conductances)  # it did learn
    np.testing.assert_array_equal(a.conductances, b.conductances)
    pd.testing.assert_frame_equal(strip(a.history), strip(b.history), check_exact=True)
    if rule == "stepped":
        np.testing.assert_array_equal(a.taps, b.taps)


# ------------------------------------------------------------------------------ (d) stepped rule
def test_stepped_rule_moves_one_tap_in_the_right_direction():
    # dyadic numbers, so that clamped_sq - free_sq is exactly the intended difference
    rule = cl.SteppedCoupledLearning(eta=0.5, taps=8, r_min=1.0, r_max=8.0, deadband=0.0625)
    s0 = np.array([0, 0, 7, 7, 3, 3, 3, 3, 5, 5, 4, 2])
    diff = np.array([-1, 1, 1, -1, 0.03125, -0.03125, 0.125, -0.125, 0.0625, -0.0625, 3, 0])
    expected = np.array([0, 1, 7, 6, 3, 3, 4, 2, 5, 5, 5, 2])
    r_of = rule.r_min + s0 * (rule.r_max - rule.r_min) / (rule.taps - 1)
    state = rule.init_state(1.0 / r_of, len(s0), np.random.default_rng(0))
    np.testing.assert_array_equal(state.taps, s0)
    free_sq = np.arange(1, len(s0) + 1) * 0.125
    sig = cl.EdgeSignals(free_sq=free_sq, clamped_sq=free_sq + diff)
    assert np.array_equal(sig.clamped_sq - sig.free_sq, diff)
    rule.apply(state, sig, np.ones(len(s0), bool), np.random.default_rng(0))
    np.testing.assert_array_equal(state.taps, expected)
    np.testing.assert_allclose(state.k, 1.0 / (1.0 + expected * 7.0 / 7), rtol=1e-15)
    # a masked edge does not move
    mask = np.ones(len(s0), bool)
    mask[[1, 6]] = False
    state2 = rule.init_state(1.0 / r_of, len(s0), np.random.default_rng(0))
    rule.apply(state2, sig, mask, np.random.default_rng(0))
    want = expected.copy()
    want[[1, 6]] = s0[[1, 6]]
    np.testing.assert_array_equal(state2.taps, want)
    # repeated updates walk one tap at a time and stop at the ends
    state3 = rule.init_state(1.0 / r_of, len(s0), np.random.default_rng(0))
    for n in range(1, 10):
        rule.apply(state3, sig, np.ones(len(s0), bool), np.random.default_rng(0))
        np.testing.assert_array_equal(state3.taps[1], min(n, 7))
        np.testing.assert_array_equal(state3.taps[3], max(7 - n, 0))


def test_stepped_rule_default_start_and_conductance_formula():
    rule = cl.SteppedCoupledLearning(eta=0.5, taps=128, r_min=100.0, r_max=10_000.0)
    state = rule.init_state(None, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(state.taps, 63)
    np.testing.assert_allclose(state.k, 1.0 / (100.0 + 63 * 9900.0 / 127), rtol=1e-15)


@pytest.mark.parametrize("seed", [0, 1])
def test_stepped_training_step_against_reference(seed, make_case):
    """One synchronous step of the stepped rule on a real task: every edge moves exactly one
    tap, up where the reference's clamped drop (mean square) exceeds the free one."""
    net, task, rtask, _ = make_case(10 + seed, n_out=2, m=8)
    rule = cl.SteppedCoupledLearning(eta=0.4, taps=16, r_min=0.25, r_max=4.0)
    rng = np.random.default_rng(seed)
    s0 = rng.integers(0, 16, net.n_edges)
    s0[:4] = [0, 0, 15, 15]  # make sure the ends are visited
    k0 = 1.0 / (0.25 + s0 * 3.75 / 15)
    res = cl.train(net, task, rule=rule, steps=1, k0=k0)
    vf = rtask.free(k0)
    vc = rtask.clamped(k0, 0.4)
    diff = np.mean(rtask.drops(vc) ** 2 - rtask.drops(vf) ** 2, axis=0)
    # Edges between two fixed nodes, or on a dead end, see no change at all (diff = 0 in exact
    # arithmetic); their sign is round-off, so they are only held to "at most one tap".
    decided = np.abs(diff) > 1e-12 * np.abs(diff).max()
    assert decided.sum() > 0.7 * net.n_edges
    want = np.clip(s0 + np.sign(diff).astype(int), 0, 15)
    np.testing.assert_array_equal(res.taps[decided], want[decided])
    assert np.all(np.abs(res.taps - s0) <= 1)
    assert np.any((res.taps == s0) & decided)  # some edges were clipped at an end
    assert np.any(res.taps > s0) and np.any(res.taps < s0)
    np.testing.assert_allclose(res.conductances, 1.0 / (0.25 + res.taps * 3.75 / 15), rtol=1e-15)


# ------------------------------------------------------------------------------ (e) seeds
SCHEDULES = {
    "sync": cl.Synchronous,
    "bernoulli": lambda: cl.Bernoulli(0.4),
    "subset": lambda: cl.RandomSubset(5),
    "poisson": lambda: cl.PoissonClocks(0.3),
}
STOCHASTIC = {"bernoulli", "subset", "poisson"}


@pytest.mark.parametrize("batch_size", [None, 3])
@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("sched", list(SCHEDULES))
def test_same_seed_same_run_different_seed_different_run(sched, rule, batch_size):
    net, task = regression_case(seed=1, n_nodes=18, n_train=9)

    def run(seed):
        return cl.train(
            net,
            task,
            RULES[rule](),
            SCHEDULES[sched](),
            steps=12,
            batch_size=batch_size,
            seed=seed,
        )

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a.conductances, b.conductances)
    pd.testing.assert_frame_equal(strip(a.history), strip(b.history), check_exact=True)
    if sched in STOCHASTIC or batch_size is not None:
        assert not np.array_equal(a.conductances, c.conductances)
    else:  # nothing random: the seed must not matter
        np.testing.assert_array_equal(a.conductances, c.conductances)


@dataclass
class Recording(cl.Schedule):
    """Wraps a schedule and keeps the masks it yields, one list per step."""

    inner: cl.Schedule
    masks: list = field(default_factory=list)

    def events(self, rng, n_edges):
        step = []
        self.masks.append(step)
        for mask in self.inner.events(rng, n_edges):
            step.append(mask.copy())
            yield mask

    def updates_per_step(self, n_edges):
        return self.inner.updates_per_step(n_edges)

    def check(self, n_edges):
        self.inner.check(n_edges)


@pytest.mark.parametrize("sched", ["bernoulli", "subset", "poisson"])
def test_desynchronous_updates_against_reference(sched, make_case):
    """Replay the masks a schedule drew through the reference: masked edges keep their
    conductance, and PoissonClocks re-settles the physics between single-edge events."""
    net, task, rtask, k0 = make_case(20, n_out=2, m=5)
    rec = Recording(SCHEDULES[sched]())
    lr, eta = 0.3, 0.5
    res = cl.train(net, task, cl.CoupledLearning(lr=lr, eta=eta), rec, steps=15, k0=k0, seed=3)
    k = k0.copy()
    n_events = []
    for step in rec.masks:
        n_events.append(len(step))
        for mask in step:
            k = rtask.cl_step(k, lr, eta, mask=mask)
    np.testing.assert_allclose(res.conductances, k, rtol=1e-9)
    masks = [m for step in rec.masks for m in step]
    total = sum(int(m.sum()) for m in masks)
    assert res.history["updates"].iloc[-1] == pytest.approx(total / net.n_edges)
    rate = rec.updates_per_step(net.n_edges)
    np.testing.assert_allclose(res.history["updates_per_edge"], rate * res.history["step"])
    if sched == "subset":
        assert all(len(s) == 1 and s[0].sum() == 5 for s in rec.masks)
    if sched == "poisson":
        assert all(m.sum() == 1 for m in masks)
        assert max(n_events) > 1  # several events in a step, settled one after another
    if sched == "bernoulli":
        assert all(len(s) == 1 for s in rec.masks)


def test_bernoulli_and_poisson_rates():
    net, task = regression_case(seed=2, n_nodes=40, n_train=4)
    for sched, rate in ((cl.Bernoulli(0.25), 0.25), (cl.PoissonClocks(0.5), 0.5)):
        rec = Recording(sched)
        res = cl.train(net, task, cl.CoupledLearning(lr=0.01), rec, steps=150, seed=1)
        per_edge = sum(int(m.sum()) for s in rec.masks for m in s) / (150 * net.n_edges)
        assert abs(per_edge - rate) < 0.05
        assert res.history["updates_per_edge"].iloc[-1] == pytest.approx(rate * 150)


# ------------------------------------------------------------------------------ (f) batching
@dataclass
class SeenExamples(cl.Rule):
    """A rule that never changes k and records the per-example drops it is shown."""

    seen: list = field(default_factory=list)

    needs_clamped = False

    @property
    def needs_examples(self) -> bool:
        return True

    def init_state(self, k0, n_edges, rng):
        return cl.RuleState(np.ones(n_edges) if k0 is None else np.array(k0, dtype=float))

    def apply(self, state, signals, mask, rng):
        self.seen.append(signals.free.copy())


@pytest.mark.parametrize(("batch_size", "sizes"), [(3, [3, 3, 3, 1]), (1, [1] * 10), (5, [5, 5])])
def test_each_example_once_per_epoch(batch_size, sizes, make_case):
    net, task, rtask, k0 = make_case(30, n_out=1, m=10)
    rule = SeenExamples()
    epochs = 3
    steps = epochs * len(sizes)
    cl.train(net, task, rule=rule, steps=steps, batch_size=batch_size, k0=k0, seed=4)
    per_example = rtask.drops(rtask.free(k0))  # (10, E), distinct rows
    assert len(rule.seen) == steps
    ids = []
    for drops in rule.seen:
        dist = np.linalg.norm(drops[:, None, :] - per_example[None, :, :], axis=2)
        assert np.all(dist.min(axis=1) < 1e-9)
        ids.append(dist.argmin(axis=1))
    assert [len(i) for i in ids] == sizes * epochs
    orders = []
    for e in range(epochs):
        order = np.concatenate(ids[e * len(sizes) : (e + 1) * len(sizes)])
        np.testing.assert_array_equal(np.sort(order), np.arange(10))
        orders.append(tuple(order))
    assert len(set(orders)) > 1  # reshuffled between epochs


def test_full_batch_sees_every_example_every_step(make_case):
    net, task, rtask, k0 = make_case(31, n_out=1, m=10)
    rule = SeenExamples()
    cl.train(net, task, rule=rule, steps=4, batch_size=None, k0=k0)
    per_example = rtask.drops(rtask.free(k0))
    for drops in rule.seen:
        np.testing.assert_allclose(drops, per_example, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------ (g) moment form
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_moment_form_equals_per_example_form(seed, make_case):
    net, task, rtask, k0 = make_case(40 + seed, n_in=3, n_out=2, m=25)
    system = TaskSystem(net, task)
    system.settle(k0)
    eta = 0.37
    x, y = task.x_train, task.y_train
    assert len(x) > task.n_inputs + task.n_outputs
    mom = system.signals(x, y, eta, gradient=True)
    ex = system.signals(x, y, eta, gradient=True, examples=True)
    assert mom.free is None and ex.free is not None  # the two paths really differ
    for name in ("free_sq", "clamped_sq", "grad"):
        a, b = getattr(mom, name), getattr(ex, name)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max(), err_msg=name)
    # and the per-example drops are those of the reference's two dense solves
    np.testing.assert_allclose(ex.free, rtask.drops(rtask.free(k0)), rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(
        ex.clamped, rtask.drops(rtask.clamped(k0, eta)), rtol=1e-9, atol=1e-13
    )


def test_dead_end_edge_never_moves():
    """A dead-end edge carries no current: its exact comparator value is 0, and round-off
    (+-1e-33) must not move its tap."""
    net = cl.Network.from_edges(5, [[0, 1], [1, 2], [1, 3], [2, 3], [1, 4]])  # 4: dead end
    task = cl.Task([0], [2], [[1.0]], [[0.3]], ground_nodes=[3])
    rule = cl.SteppedCoupledLearning(eta=0.5, taps=16, r_min=0.25, r_max=4.0)
    s0 = np.array([13, 10, 8, 4, 4])
    res = cl.train(net, task, rule=rule, steps=30, k0=1 / (0.25 + s0 * 0.25), record_state=True)
    assert np.all(res.trajectory["taps"][:, 4] == 4)
