"""The validation catalogue: every public entry point and every TOML field refuses bad input
up front with a ``cl.ValidationError`` (a ``ValueError``) raised by circuitlearn's own code,
whose message names the field, the bad value and what is allowed.

One row per check. ``docs/errors.md`` lists the same rows (checked below); regenerate its
tables with ``python tests/test_validation_catalogue.py`` after adding a row.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import circuitlearn as cl
from circuitlearn import analysis
from circuitlearn.config import load_config, validate_config

PACKAGE = Path(cl.__file__).resolve().parent
DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


@dataclass(frozen=True)
class Entry:
    """One catalogue row: where, what is wrong, how to trigger it, what the message says."""

    group: str
    where: str  # entry point and field, as listed in docs/errors.md
    condition: str
    call: object  # no-argument callable that must raise
    match: str  # regular expression the message must match
    error: type = cl.ValidationError
    xfail: str | None = field(default=None)  # reason, for a check still missing


# ------------------------------------------------------------------------------ fixtures
def _chain():
    return cl.Network.from_edges(5, [[0, 1], [1, 2], [2, 3], [3, 4]])


def _task():
    return cl.Task([0], [2], [[1.0]], [[0.5]], ground_nodes=[4])


def _train(**kw):
    return lambda: cl.train(_chain(), _task(), **{"steps": 1, **kw})


def _train_xor(rule):
    net = cl.gallery.transistor_torus()
    return cl.train(net, cl.tasks.xor(net), rule, steps=1)


def _result():
    return cl.train(_chain(), _task(), steps=1)


_BASE = {
    "network": {"kind": "random", "n_nodes": 20, "seed": 3},
    "task": {"kind": "regression", "n_inputs": 2, "n_outputs": 1, "n_train": 8, "n_test": 4},
    "rule": {"kind": "CoupledLearning", "lr": 0.5, "eta": 0.5},
    "schedule": {"kind": "Bernoulli", "p": 0.5},
    "train": {"steps": 3, "seed": 4},
}
_STEPPED = {"kind": "SteppedCoupledLearning", "eta": 0.5, "taps": 16}
_IRIS = {"kind": "iris", "encoding": "levels"}


_TRANSISTOR = {
    "network": {"kind": "transistor-torus"},
    "task": {"kind": "xor"},
    "rule": {"kind": "CoupledLearning", "lr": 30.0, "eta": 0.5, "k_min": 1e-3, "k_max": 5.0},
    "train": {"steps": 2},
}
_EP = {"kind": "EquilibriumPropagation", "lr": 1.0, "beta": 0.1}


def _nl_cfg(section, **values):
    """``validate_config`` of a transistor-lattice XOR config with ``values`` in one section."""
    cfg = copy.deepcopy(_TRANSISTOR)
    cfg[section] = {**cfg[section], **values}
    return lambda: validate_config(cfg)


def _cfg(section=None, replace=False, **values):
    """``validate_config`` of the base config with ``values`` merged into (or, with
    ``replace``, replacing) one section; with no section, top-level keys."""
    cfg = copy.deepcopy(_BASE)
    if section is None:
        cfg.update(values)
    elif replace:
        cfg[section] = values
    else:
        cfg[section] = {**cfg[section], **values}
    return lambda: validate_config(cfg)


def _without(section):
    cfg = {k: v for k, v in copy.deepcopy(_BASE).items() if k != section}
    return lambda: validate_config(cfg)


def _toml(tmp_text):
    def call():
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "bad.toml"
            path.write_text(tmp_text)
            load_config(path)

    return call


def _fit(est_kw, classifier=False):
    def call():
        from circuitlearn.estimators import CircuitClassifier, CircuitRegressor

        x = np.random.default_rng(0).random((12, 3))
        if classifier:
            CircuitClassifier(steps=2, **est_kw).fit(x, np.arange(12) % 2)
        else:
            CircuitRegressor(steps=2, **est_kw).fit(x, x[:, :2])

    return call


def _sweep_spec(grid=None, **top):
    spec = {"base": copy.deepcopy(_BASE), "grid": grid or {"train.seed": [0]}, **top}

    def call():
        from circuitlearn.sweep import sweep_points

        sweep_points(spec)

    return call


NET = "Network"
PHY = "physics: solve, LaplacianSolver, edge_drops, power, node_currents, to_spice"
TASK = "Task"
TASKS = "tasks: regression, allostery, iris, xor, square"
RULE = "rules and hardware"
SCHED = "schedules"
TRAIN = "train and TrainResult"
STORE = "store: save, load"
CFG = "run config (TOML)"
SWEEP = "sweep spec (sweep.toml) and sweep()"
EST = "estimators (fit time)"
PLOT = "plots"
DIAG = "diagnostics (cl.analysis)"


def _board():
    net = cl.gallery.lab_board()
    return net, cl.tasks.iris(net, "levels", **cl.gallery.LAB_IRIS_ROLES)


_STEP16 = cl.SteppedCoupledLearning(taps=16)


# ------------------------------------------------------------------------------ catalogue
# fmt: off
CATALOGUE: list[Entry] = [
    # --- Network
    Entry(NET, "Network(n_nodes)", "not an integer >= 1",
          lambda: cl.Network("a", [[0, 1]]), r"n_nodes must be an integer in \[1, inf\]; got 'a'"),
    Entry(NET, "Network(edges) shape", "not an (E, 2) array",
          lambda: cl.Network(3, [[0, 1, 2]]), r"edges must have shape \(E, 2\)"),
    Entry(NET, "Network(edges) dtype", "non-integer node indices",
          lambda: cl.Network(3, [[0.5, 1]]), r"edges must hold integer node indices"),
    Entry(NET, "Network(edges) range", "a node outside 0..N-1",
          lambda: cl.Network(3, [[0, 1], [1, 5]]), r"edges\[1\] = \[1, 5\] names a node outside"),
    Entry(NET, "Network(edges) self-loop", "an edge from a node to itself",
          lambda: cl.Network(3, [[0, 1], [2, 2]]), r"edges\[1\] .* is a self-loop"),
    Entry(NET, "Network(edges) duplicate", "two edges join the same pair",
          lambda: cl.Network(3, [[0, 1], [1, 0]]), r"duplicate edges are not allowed"),
    Entry(NET, "Network(positions) shape", "not (N, 2)",
          lambda: cl.Network(3, [[0, 1]], [[0, 0]]), r"positions must have shape \(3, 2\)"),
    Entry(NET, "Network(positions) values", "NaN or infinite coordinates",
          lambda: cl.Network(2, [[0, 1]], [[0, 0], [np.nan, 1]]), r"positions contains NaN"),
    Entry(NET, "Network.lattice(rows, cols)", "not an integer >= 1",
          lambda: cl.Network.lattice(0, 3), r"rows must be an integer in \[1, inf\]; got 0"),
    Entry(NET, "Network.random(n_nodes)", "below 3",
          lambda: cl.Network.random(2), r"n_nodes must be an integer in \[3, inf\]; got 2"),
    Entry(NET, "Network.random(mean_degree)", "outside [2, 6]",
          lambda: cl.Network.random(10, mean_degree=7), r"mean_degree must be a number in \[2"),
    Entry(NET, "Network.random(seed)", "not an integer >= 0",
          lambda: cl.Network.random(10, seed=-1), r"seed must be an integer in \[0, inf\]; got -1"),
    Entry(NET, "Network.from_networkx(graph)", "not a networkx graph",
          lambda: cl.Network.from_networkx(5), r"graph must be a networkx.Graph; got int"),
    Entry(NET, "Network.laplacian(k)", "not one positive value per edge",
          lambda: _chain().laplacian([1.0]), r"k must have shape \(4,\)"),
    Entry(NET, "Network.to_networkx(k)", "non-positive conductance",
          lambda: _chain().to_networkx([1, 0, 1, 1]), r"k must be strictly positive"),
    # --- physics
    Entry(PHY, "solve(k) shape", "not one value per edge",
          lambda: cl.solve(_chain(), [1.0] * 3, [0, 4], [1.0, 0.0]), r"k must have shape \(4,\)"),
    Entry(PHY, "solve(k) sign", "zero or negative conductance",
          lambda: cl.solve(_chain(), [1, -2, 1, 1], [0, 4], [1.0, 0.0]),
          r"k must be strictly positive .*k\[1\] = "),
    Entry(PHY, "solve(k) finite", "NaN or infinite conductance",
          lambda: cl.solve(_chain(), [1, np.nan, 1, 1], [0, 4], [1.0, 0.0]), r"k contains NaN"),
    Entry(PHY, "solve(fixed_nodes) empty", "no fixed node",
          lambda: cl.solve(_chain(), np.ones(4), [], []), r"fixed_nodes is empty"),
    Entry(PHY, "solve(fixed_nodes) repeated", "a node listed twice",
          lambda: cl.solve(_chain(), np.ones(4), [0, 0], [1.0, 0.0]),
          r"fixed_nodes lists node\(s\) \[0\] more than once"),
    Entry(PHY, "solve(fixed_nodes) range", "a node outside the network",
          lambda: cl.solve(_chain(), np.ones(4), [0, 9], [1.0, 0.0]),
          r"fixed_nodes .*\[9\] outside"),
    Entry(PHY, "solve(fixed_values) shape", "not (F,) or (M, F)",
          lambda: cl.solve(_chain(), np.ones(4), [0, 4], [1.0, 0.0, 2.0]),
          r"fixed_values must have shape \(2,\)"),
    Entry(PHY, "solve(fixed_values) finite", "NaN or infinite voltage",
          lambda: cl.solve(_chain(), np.ones(4), [0, 4], [1.0, np.inf]),
          r"fixed_values contains NaN"),
    Entry(PHY, "solve(backend)", "unknown factorisation backend",
          lambda: cl.solve(_chain(), np.ones(4), [0, 4], [1.0, 0.0], backend="gpu"),
          r"backend must be one of \['auto', 'dense'"),
    Entry(PHY, "solve: floating nodes", "free nodes with no path to a fixed node",
          lambda: cl.solve(cl.Network(4, [[0, 1], [2, 3]]), np.ones(2), [0], [1.0]),
          r"free nodes \[2, 3\] .* have no path", cl.FloatingNodesError),
    Entry(PHY, "LaplacianSolver(fixed_nodes)", "no fixed node",
          lambda: cl.LaplacianSolver(_chain(), []), r"fixed_nodes is empty"),
    Entry(PHY, "LaplacianSolver.settle(fixed_values)", "not one value per fixed node",
          lambda: cl.LaplacianSolver(_chain(), [0, 4]).settle([1.0]), r"fixed_values must have"),
    Entry(PHY, "solve(net)", "not a Network",
          lambda: cl.solve("net", np.ones(4), [0], [1.0]), r"net must be"),
    Entry(PHY, "edge_drops(voltages)", "not one voltage per node",
          lambda: cl.edge_drops(_chain(), np.ones(3)), r"voltages"),
    Entry(PHY, "power(k, voltages)", "shapes that do not match the network",
          lambda: cl.power(_chain(), np.ones(3), np.ones(5)), r"k must have"),
    Entry(PHY, "to_spice(k, fixed_values)", "non-positive conductance or wrong shapes",
          lambda: cl.to_spice(_chain(), np.ones(4), [0, 4], [1.0, 0.0, 2.0]),
          r"fixed_values must have shape \(2,\), one voltage per fixed node; got \(3,\)"),
    Entry(PHY, "to_spice(title)", "not one line",
          lambda: cl.to_spice(_chain(), np.ones(4), [0, 4], [1.0, 0.0], title="a\nb"),
          r"title must be one line of text"),
    Entry(PHY, "node_currents(k, voltages)", "shapes that do not match the network",
          lambda: cl.node_currents(_chain(), np.ones(4), np.ones(3)), r"voltages"),
    # --- Task
    Entry(TASK, "Task(output_nodes)", "empty",
          lambda: cl.Task([0], [], [[1.0]], np.zeros((1, 0))), r"output_nodes is empty"),
    Entry(TASK, "Task(input_nodes, output_nodes, ground_nodes)", "a node in two roles",
          lambda: cl.Task([0, 1], [1], [[1.0, 0.0]], [[0.5]]),
          r"node\(s\) \[1\] are in both input_nodes and output_nodes"),
    Entry(TASK, "Task(input_nodes) values", "negative or repeated node index",
          lambda: cl.Task([0, 0], [2], [[1.0, 1.0]], [[0.5]]),
          r"input_nodes lists node\(s\) \[0\]"),
    Entry(TASK, "Task(input_nodes, ground_nodes)", "neither inputs nor ground",
          lambda: cl.Task([], [2], np.zeros((1, 0)), [[0.5]]), r"at least one input or ground"),
    Entry(TASK, "Task(x_train) values", "NaN or infinite",
          lambda: cl.Task([0], [2], [[np.nan]], [[0.5]]), r"x_train contains NaN or infinite"),
    Entry(TASK, "Task(x_train) shape", "not one column per input node",
          lambda: cl.Task([0, 1], [2], [[1.0]], [[0.5]]), r"x_train must have shape \(M, 2\)"),
    Entry(TASK, "Task(y_train) rows", "not one target row per example",
          lambda: cl.Task([0], [2], [[1.0], [0.0]], [[0.5]]),
          r"x_train has 2 examples but y_train has 1"),
    Entry(TASK, "Task(x_train) empty", "no training example",
          lambda: cl.Task([0], [2], np.zeros((0, 1)), np.zeros((0, 1))), r"x_train is empty"),
    Entry(TASK, "Task(x_test, y_test)", "only one of the two given",
          lambda: cl.Task([0], [2], [[1.0]], [[0.5]], x_test=[[1.0]]),
          r"give both x_test and y_test"),
    Entry(TASK, "Task(encoding)", "not None, 'levels' or 'one-hot'",
          lambda: cl.Task([0], [2], [[1.0]], [[0.5]], encoding="binary"),
          r"encoding must be one of"),
    Entry(TASK, "Task(levels)", "'levels' without two or more levels",
          lambda: cl.Task([0], [2], [[1.0]], [[0.5]], encoding="levels"), r"needs levels"),
    Entry(TASK, "Task(encoding='one-hot')", "fewer than two outputs",
          lambda: cl.Task([0], [2], [[1.0]], [[0.5]], encoding="one-hot"),
          r"one output node per class"),
    Entry(TASK, "Task(readout)", "not 'voltage' or 'difference'",
          lambda: cl.Task([0], [2], [[1.0]], [[0.5]], readout="sum"), r"readout must be one of"),
    Entry(TASK, "Task(readout='difference')", "not two output nodes",
          lambda: cl.Task([0], [2], [[1.0]], [[0.5]], readout="difference"),
          r"V_plus - V_minus of two output_nodes"),
    Entry(TASK, "Task(readout='difference') on a linear network", "trained or settled",
          lambda: cl.train(_chain(), cl.Task([0], [2, 3], [[1.0]], [[0.5]], ground_nodes=[4],
                                             readout="difference"), steps=1),
          r"readout='difference'; the response-map kernel"),
    Entry(TASK, "Task(name)", "not a string",
          lambda: cl.Task([0], [2], [[1.0]], [[0.5]], name=3), r"name must be a string; got 3"),
    # --- task generators
    Entry(TASKS, "tasks.regression(net)", "not a Network",
          lambda: cl.tasks.regression("net"), r"net must be a circuitlearn.Network; got str"),
    Entry(TASKS, "tasks.regression(n_inputs, n_outputs)", "not an integer >= 1",
          lambda: cl.tasks.regression(_chain(), n_inputs=0), r"n_inputs must be an integer in \[1"),
    Entry(TASKS, "tasks.regression(n_train)", "not an integer >= 1",
          lambda: cl.tasks.regression(_chain(), 1, 1, n_train=0),
          r"n_train must be an integer in \[1"),
    Entry(TASKS, "tasks.regression(n_test, n_ground)", "negative",
          lambda: cl.tasks.regression(_chain(), 1, 1, n_test=-1),
          r"n_test must be an integer in \[0"),
    Entry(TASKS, "tasks.regression(seed)", "not an integer >= 0",
          lambda: cl.tasks.regression(_chain(), 1, 1, seed=-1), r"seed must be an integer in \[0"),
    Entry(TASKS, "tasks.regression / allostery / iris: node count", "more nodes than the network",
          lambda: cl.tasks.allostery(_chain(), 4, 2), r"the task needs 7 distinct nodes .* has 5"),
    Entry(TASKS, "tasks.iris(encoding)", "not 'levels' or 'one-hot'",
          lambda: cl.tasks.iris(cl.Network.random(12), encoding="x"), r'encoding must be "levels"'),
    Entry(TASKS, "tasks.iris(n_train)", "outside [3, 147]",
          lambda: cl.tasks.iris(cl.Network.random(12), n_train=200), r"n_train .* \[3, 147\]"),
    Entry(TASKS, "tasks.iris(levels)", "not three finite voltages",
          lambda: cl.tasks.iris(cl.Network.random(12), levels=(0.1, 0.2)), r"levels must give 3"),
    Entry(TASKS, "tasks.iris(low, high)", "low not below high",
          lambda: cl.tasks.iris(cl.Network.random(12), encoding="one-hot", low=0.6, high=0.5),
          r"low \(0.6\) must be below high \(0.5\)"),
    Entry(TASKS, "tasks.iris(seed, node_seed)", "not an integer >= 0",
          lambda: cl.tasks.iris(cl.Network.random(12), node_seed=-1), r"node_seed must be an"),
    Entry(TASKS, "tasks.iris(input_nodes, output_nodes, ground_nodes)", "outside the network",
          lambda: cl.tasks.iris(cl.Network.random(12), input_nodes=[0, 1, 2, 30],
                                output_nodes=[5], ground_nodes=[6]),
          r"input_nodes holds node\(s\) \[30\] outside the network's nodes 0..11"),
    Entry(TASKS, "tasks.xor(levels)", "not two different voltages",
          lambda: cl.tasks.xor(cl.gallery.transistor_torus(), levels=(0.1, 0.1)),
          r"levels must give 2 different readout voltages"),
    Entry(TASKS, "tasks.xor / square(rails)", "not one voltage per rail node",
          lambda: cl.tasks.square(cl.gallery.transistor_torus(), rails=(0.1,)),
          r"rails gives 1 voltages for 2 rail_nodes"),
    Entry(TASKS, "tasks.xor / square(roles)", "missing input, rail or output nodes",
          lambda: cl.tasks.xor(cl.gallery.transistor_torus(), roles={"input_nodes": [0, 1]}),
          r"roles must map input_nodes, rail_nodes and output_nodes"),
    Entry(TASKS, "tasks.square(scale)", "zero",
          lambda: cl.tasks.square(cl.gallery.transistor_torus(), scale=0.0),
          r"scale must be nonzero"),
    Entry(TASKS, "tasks.regression(net)", "transistor edges (no conductances to draw)",
          lambda: cl.tasks.regression(cl.gallery.transistor_torus()),
          r"this network has transistor edges"),
    # --- rules and hardware
    Entry(RULE, "CoupledLearning(lr) / GradientDescent(lr)", "not > 0",
          lambda: cl.CoupledLearning(lr=0.0), r"lr must be a number in \(0, inf\); got 0.0"),
    Entry(RULE, "CoupledLearning(lr) / GradientDescent(lr) infinite", "inf (diverges at once)",
          lambda: cl.CoupledLearning(lr=float("inf")), r"lr must be a number in \(0, inf\); got"),
    Entry(RULE, "CoupledLearning(eta) / SteppedCoupledLearning(eta)", "outside (0, 1]",
          lambda: cl.CoupledLearning(eta=1.5), r"eta must be a number in \(0, 1\]; got 1.5"),
    Entry(RULE, "CoupledLearning(k_min, k_max)", "not > 0",
          lambda: cl.CoupledLearning(k_min=0.0), r"k_min must be a number in \(0, inf\]"),
    Entry(RULE, "CoupledLearning(k_min, k_max) order", "k_min not below k_max",
          lambda: cl.GradientDescent(k_min=2.0, k_max=1.0), r"k_min \(2.0\) must be below k_max"),
    Entry(RULE, "CoupledLearning(lr) type", "not a number",
          lambda: cl.CoupledLearning(lr="fast"), r"lr must be a number in \(0, inf\); got 'fast'"),
    Entry(RULE, "SteppedCoupledLearning(taps)", "not an integer >= 2",
          lambda: cl.SteppedCoupledLearning(taps=1), r"taps must be an integer in \[2, inf\]"),
    Entry(RULE, "SteppedCoupledLearning(r_min, r_max)", "not > 0",
          lambda: cl.SteppedCoupledLearning(r_min=0.0), r"r_min must be a number in \(0, inf\]"),
    Entry(RULE, "SteppedCoupledLearning(r_min, r_max) order", "r_min not below r_max",
          lambda: cl.SteppedCoupledLearning(r_min=200.0, r_max=100.0),
          r"r_min \(200.0\) must be below r_max \(100.0\) \(ohm\)"),
    Entry(RULE, "SteppedCoupledLearning(deadband, noise, offset)", "negative",
          lambda: cl.SteppedCoupledLearning(noise=-0.1), r"noise must be a number in \[0, inf\]"),
    Entry(RULE, "SteppedCoupledLearning(deadband_rel, offset_rel, r_wiper)", "negative or inf",
          lambda: cl.SteppedCoupledLearning(deadband_rel=-0.1),
          r"deadband_rel must be a number in \[0, inf\); got -0.1"),
    Entry(RULE, "SteppedCoupledLearning(taper)", "not 'linear' or 'log'",
          lambda: cl.SteppedCoupledLearning(taper="audio"),
          r"taper must be 'linear' or 'log'; got 'audio'"),
    Entry(RULE, "SteppedCoupledLearning(tap_spread)", "outside [0, 0.5]",
          lambda: cl.SteppedCoupledLearning(tap_spread=0.7), r"tap_spread must be a number in \[0"),
    # --- schedules
    Entry(SCHED, "Bernoulli(p)", "outside (0, 1]",
          lambda: cl.Bernoulli(0.0), r"p must be a number in \(0, 1\]; got 0.0"),
    Entry(SCHED, "RandomSubset(count)", "not an integer >= 1",
          lambda: cl.RandomSubset(0), r"count must be an integer in \[1, inf\]; got 0"),
    Entry(SCHED, "RandomSubset(count) vs network", "more edges than the network has",
          _train(schedule=cl.RandomSubset(5)), r"RandomSubset count \(5\) exceeds the network's 4"),
    Entry(SCHED, "PoissonClocks(rate)", "not > 0",
          lambda: cl.PoissonClocks(0.0), r"rate must be a number in \(0, inf\]; got 0.0"),
    Entry(SCHED, "Staggered(period)", "not an integer >= 1",
          lambda: cl.Staggered(0), r"period must be an integer in \[1, inf\]; got 0"),
    Entry(SCHED, "Staggered(phase)", "not 'spread' or 'random'",
          lambda: cl.Staggered(2, phase="even"), r"phase must be 'spread' or 'random'; got 'even'"),
    # --- train
    Entry(TRAIN, "train(net)", "not a Network",
          lambda: cl.train("net", _task()), r"net must be a circuitlearn.Network; got str"),
    Entry(TRAIN, "train(task)", "not a Task",
          lambda: cl.train(_chain(), "task"), r"task must be a circuitlearn.Task; got str"),
    Entry(TRAIN, "train(rule)", "not a rule",
          _train(rule="CoupledLearning"), r"rule must be a circuitlearn rule; got str"),
    Entry(TRAIN, "train(schedule)", "not a schedule",
          _train(schedule=0.5), r"schedule must be a circuitlearn schedule; got float"),
    Entry(TRAIN, "train(steps)", "not an integer >= 0",
          _train(steps=1.5), r"steps must be an integer in \[0, inf\]; got 1.5"),
    Entry(TRAIN, "train(batch_size)", "not None or an integer >= 1",
          _train(batch_size=0), r"batch_size must be an integer in \[1, inf\]; got 0"),
    Entry(TRAIN, "train(seed)", "not an integer >= 0",
          _train(seed=-1), r"seed must be an integer in \[0, inf\]; got -1"),
    Entry(TRAIN, "train(record_every)", "not an integer >= 1",
          _train(record_every=0), r"record_every must be an integer in \[1, inf\]; got 0"),
    Entry(TRAIN, "train(record_state)", "not True or False",
          _train(record_state="yes"), r"record_state must be true or false; got 'yes'"),
    Entry(TRAIN, "train(progress)", "not True, False or None",
          _train(progress="yes"), r"progress must be true or false or None; got 'yes'"),
    Entry(TRAIN, "train(sampling)", "not epoch, replacement or cyclic",
          _train(sampling="shuffle"), r"sampling must be one of \['epoch', 'replacement'"),
    Entry(TRAIN, "train(ticks_per_example)", "not an integer >= 1",
          _train(ticks_per_example=0), r"ticks_per_example must be an integer in \[1, inf\]"),
    Entry(TRAIN, "train(callback)", "not callable",
          _train(callback=3), r"callback must be callable or None; got 3"),
    Entry(TRAIN, "train(k0)", "not one positive value per edge",
          _train(k0=[1.0, 0.0, 1.0, 1.0]), r"k0 must be strictly positive"),
    Entry(TRAIN, "train(backend)", "unknown factorisation backend",
          _train(backend="gpu"), r"backend must be one of \['auto'"),
    Entry(TRAIN, "train(rule) on transistor edges", "bounds outside the gate range",
          lambda: _train_xor(cl.CoupledLearning()),
          r"k_max = 1e\+06 bound the gate voltages \(V\) of transistor edges"),
    Entry(TRAIN, "train(rule) on transistor edges, stepped", "a rule that sets resistances",
          lambda: _train_xor(cl.SteppedCoupledLearning()),
          r"rule SteppedCoupledLearning sets resistances; transistor edges take gate voltages"),
    Entry(TRAIN, "train(task) nodes", "task nodes outside the network",
          lambda: cl.train(_chain(), cl.Task([0], [9], [[1.0]], [[0.5]])), r"output_nodes .*\[9\]"),
    Entry(TRAIN, "TrainResult.outputs(x) shape", "not one column per input node",
          lambda: _result().outputs([[1.0, 2.0]]), r"x must have shape \(M, 1\)"),
    Entry(TRAIN, "TrainResult.outputs(x) values", "NaN or infinite",
          lambda: _result().outputs([[np.nan]]), r"x contains NaN or infinite"),
    # --- store
    Entry(STORE, "save(directory)", "exists and overwrite is False",
          lambda: cl.save(_result(), "."), r"directory '.' already exists"),
    Entry(STORE, "load(directory)", "not a complete run",
          lambda: cl.load("no/such/run"), r"'no/such/run' is not a complete circuitlearn run"),
    Entry(STORE, "save(result)", "not a TrainResult",
          lambda: cl.save(5, "no/such/dir"), r"result must be"),
    # --- run config
    Entry(CFG, "config: top-level key", "unknown key",
          _cfg(epochs=3), r"unknown key 'epochs' at the top of the config: allowed are"),
    Entry(CFG, "config: name", "not a string",
          _cfg(name=5), r"name must be a string; got 5"),
    Entry(CFG, "config: [network], [task]", "section missing",
          _without("network"), r"the config needs a \[network\] section"),
    Entry(CFG, "config: section type", "a section that is not a table",
          _cfg(train=3), r"config key 'train' must be a table \[train\]"),
    Entry(CFG, "network.kind", "missing",
          _cfg("network", True, n_nodes=5), r"\[network\] needs kind = one of \['random'"),
    Entry(CFG, "network.kind value", "not random, lattice, board or edges",
          _cfg("network", kind="hexagonal"), r"network.kind must be one of .*; got 'hexagonal'"),
    Entry(CFG, "network.<key>", "unknown for the kind",
          _cfg("network", rows=3), r"unknown key network.rows .* kind = 'random' are"),
    Entry(CFG, "network.<required key>", "missing (lattice rows/cols, edges n_nodes/edges)",
          _cfg("network", True, kind="lattice", rows=3), r"\[network\] is missing .*\['cols'\]"),
    Entry(CFG, "network.n_nodes", "random: not an integer >= 3",
          _cfg("network", n_nodes="20"), r"\[network\] n_nodes must be an integer in \[3"),
    Entry(CFG, "network.seed", "not an integer >= 0",
          _cfg("network", seed=-1), r"\[network\] seed must be an integer in \[0"),
    Entry(CFG, "network.mean_degree", "outside [2, 6]",
          _cfg("network", mean_degree=9), r"\[network\] mean_degree must be a number in \[2"),
    Entry(CFG, "network.rows / network.cols", "lattice: not an integer >= 1",
          _cfg("network", True, kind="lattice", rows=0, cols=3), r"\[network\] rows must be"),
    Entry(CFG, "network.periodic", "lattice: periodic with fewer than 3 rows or cols",
          _cfg("network", True, kind="lattice", rows=2, cols=3, periodic=True),
          r"\[network\] rows must be an integer in \[3"),
    Entry(CFG, "network.edges", "edges: bad edge list",
          _cfg("network", True, kind="edges", n_nodes=3, edges=[[0, 5]]),
          r"\[network\] edges\[0\] = \[0, 5\] names a node outside 0..2"),
    Entry(CFG, "network.positions", "edges: not (n_nodes, 2)",
          _cfg("network", True, kind="edges", n_nodes=3, edges=[[0, 1]], positions=[[0, 0]]),
          r"\[network\] positions must have shape \(3, 2\)"),
    Entry(CFG, "network.elements", "edges: unknown element kind",
          _cfg("network", True, kind="edges", n_nodes=3, edges=[[0, 1]], elements="capacitor"),
          r"\[network\] elements: an element spec must be a dict with kind in \['diode'"),
    Entry(CFG, "task.kind", "not one of the task kinds",
          _cfg("task", kind="parity"), r"task.kind must be one of \['regression'"),
    Entry(CFG, "task.<key>", "unknown for the kind",
          _cfg("task", encoding="levels"), r"unknown key task.encoding .* 'regression' are"),
    Entry(CFG, "task.n_inputs / task.n_outputs", "not an integer >= 1",
          _cfg("task", n_outputs=0), r"\[task\] n_outputs must be an integer in \[1"),
    Entry(CFG, "task.n_train", "regression: not an integer >= 1",
          _cfg("task", n_train=0), r"\[task\] n_train must be an integer in \[1"),
    Entry(CFG, "task.n_test / task.n_ground", "negative",
          _cfg("task", n_ground=-1), r"\[task\] n_ground must be an integer in \[0"),
    Entry(CFG, "task.seed / task.node_seed", "not an integer >= 0",
          _cfg("task", seed=-2), r"\[task\] seed must be an integer in \[0, inf\]; got -2"),
    Entry(CFG, "task: node count", "more nodes than the network has",
          _cfg("task", n_inputs=30), r"\[task\] the task needs 32 distinct nodes"),
    Entry(CFG, "task.encoding", "iris: not levels or one-hot",
          _cfg("task", True, kind="iris", encoding="binary"),
          r'\[task\] encoding must be "levels"'),
    Entry(CFG, "task.levels", "iris: not three numbers",
          _cfg("task", True, **_IRIS, levels=["a", "b", "c"]), r"\[task\] levels must be an array"),
    Entry(CFG, "task.low / task.high", "iris: not numbers, or low >= high",
          _cfg("task", True, kind="iris", encoding="one-hot", low="a"),
          r"\[task\] low must be a number"),
    Entry(CFG, "task.input_nodes / output_nodes / ground_nodes", "iris: not node indices",
          _cfg("task", True, **_IRIS, input_nodes="abcd", output_nodes=[4], ground_nodes=[7]),
          r"\[task\] input_nodes must be a 1-D list of integer node indices"),
    Entry(CFG, "network.kp / network.vto / network.g_leak", "transistor-torus: out of range",
          _nl_cfg("network", kp=-1.0), r"\[network\] Transistor.kp must be a number in \(0, inf\)"),
    Entry(CFG, "task.v_high / task.scale", "xor, square: not > 0, or a zero scale",
          _nl_cfg("task", kind="square", scale=0.0), r"\[task\] scale must be nonzero"),
    Entry(CFG, "task.rails", "xor, square: not one voltage per rail node",
          _nl_cfg("task", rails=[0.1]), r"\[task\] rails gives 1 voltages for 2 rail_nodes"),
    Entry(CFG, "task.roles", "missing input, rail or output nodes",
          _nl_cfg("task", roles={"input_nodes": [1]}), r"\[task\] roles must map input_nodes"),
    Entry(CFG, "rule.beta / rule.variant", "EquilibriumPropagation: beta not > 0, unknown variant",
          _cfg("rule", True, **{**_EP, "variant": "both"}),
          r"\[rule\] variant must be one of \['positive', 'negative', 'centered'\]"),
    Entry(CFG, "rule.kind", "not a registered rule",
          _cfg("rule", kind="Hebb"), r"rule.kind must be one of \['CoupledLearning'"),
    Entry(CFG, "rule.<key>", "unknown for the kind",
          _cfg("rule", taps=3), r"unknown key rule.taps .* 'CoupledLearning' are"),
    Entry(CFG, "rule.lr", "not > 0",
          _cfg("rule", lr=-1), r"\[rule\] lr must be a number in \(0, inf\); got -1"),
    Entry(CFG, "rule.eta", "outside (0, 1]",
          _cfg("rule", eta=0), r"\[rule\] eta must be a number in \(0, 1\]; got 0"),
    Entry(CFG, "rule.k_min / rule.k_max", "not > 0, or k_min >= k_max",
          _cfg("rule", k_min=10.0, k_max=1.0), r"\[rule\] k_min \(10.0\) must be below k_max"),
    Entry(CFG, "rule.taps", "stepped: not an integer >= 2",
          _cfg("rule", True, **{**_STEPPED, "taps": 1.5}), r"\[rule\] taps must be an integer"),
    Entry(CFG, "rule.r_min / rule.r_max", "stepped: not > 0, or r_min >= r_max",
          _cfg("rule", True, **_STEPPED, r_min=5e4), r"\[rule\] r_min \(50000.0\) must be below"),
    Entry(CFG, "rule.deadband / noise / offset / tap_spread", "stepped: out of range",
          _cfg("rule", True, **_STEPPED, tap_spread=0.9), r"\[rule\] tap_spread must be a number"),
    Entry(CFG, "network.path / task.path", "file kind: no such .npz file",
          _cfg("network", True, kind="file", path="no/such/network.npz"),
          r"\[network\] network file 'no/such/network.npz' does not exist"),
    Entry(CFG, "rule.deadband_rel / offset_rel / r_wiper", "stepped: negative or inf",
          _cfg("rule", True, **_STEPPED, r_wiper=-5),
          r"\[rule\] r_wiper must be a number in \[0, inf\); got -5"),
    Entry(CFG, "rule.taper", "stepped: not linear or log",
          _cfg("rule", True, **_STEPPED, taper="audio"), r"\[rule\] taper must be 'linear'"),
    Entry(CFG, "schedule.kind", "not a schedule",
          _cfg("schedule", kind="Clock"), r"schedule.kind must be one of \['Synchronous'"),
    Entry(CFG, "schedule.<key>", "unknown for the kind",
          _cfg("schedule", True, kind="Synchronous", p=0.5),
          r"unknown key schedule.p .* 'Synchronous' are \['kind'\]"),
    Entry(CFG, "schedule.p", "outside (0, 1]",
          _cfg("schedule", p=2), r"\[schedule\] p must be a number in \(0, 1\]; got 2"),
    Entry(CFG, "schedule.count", "not an integer in [1, number of edges]",
          _cfg("schedule", True, kind="RandomSubset", count=1000),
          r"\[schedule\] RandomSubset count \(1000\) exceeds the network's"),
    Entry(CFG, "schedule.rate", "not > 0",
          _cfg("schedule", True, kind="PoissonClocks", rate=0), r"\[schedule\] rate must be"),
    Entry(CFG, "train.<key>", "unknown",
          _cfg("train", epochs=3), r"unknown key train.epochs in the config: allowed are"),
    Entry(CFG, "train.steps", "not an integer >= 0",
          _cfg("train", steps="10"), r"\[train\] steps must be an integer in \[0, inf\]; got '10'"),
    Entry(CFG, "train.updates_per_edge", "not a number > 0",
          _cfg("train", True, updates_per_edge=0),
          r"\[train\] updates_per_edge must be a number in \(0, inf\); got 0"),
    Entry(CFG, "train.sampling", "not epoch, replacement or cyclic",
          _cfg("train", sampling="random"), r"\[train\] sampling must be one of \['epoch'"),
    Entry(CFG, "train.ticks_per_example", "not an integer >= 1",
          _cfg("train", ticks_per_example=0), r"\[train\] ticks_per_example must be an integer"),
    Entry(CFG, "schedule.period / schedule.phase", "Staggered: period < 1 or unknown phase",
          _cfg("schedule", True, kind="Staggered", period=0),
          r"\[schedule\] period must be an integer in \[1, inf\]; got 0"),
    Entry(CFG, "train.steps + train.updates_per_edge", "both given",
          _cfg("train", updates_per_edge=10), r"give train.steps or train.updates_per_edge"),
    Entry(CFG, "train.batch_size", "not an integer >= 1",
          _cfg("train", batch_size=0), r"\[train\] batch_size must be an integer in \[1"),
    Entry(CFG, "train.seed", "not an integer >= 0",
          _cfg("train", seed=-1), r"\[train\] seed must be an integer in \[0, inf\]; got -1"),
    Entry(CFG, "train.record_every", "not an integer >= 1",
          _cfg("train", record_every=0), r"\[train\] record_every must be an integer in \[1"),
    Entry(CFG, "train.record_state", "not true or false",
          _cfg("train", record_state="yes"), r"\[train\] record_state must be true or false"),
    Entry(CFG, "train.backend", "unknown factorisation backend",
          _cfg("train", backend="gpu"), r"\[train\] backend must be one of \['auto'"),
    Entry(CFG, "train.k0", "not one positive conductance per edge",
          _cfg("train", k0=[1.0]), r"\[train\] k0 must have shape \(\d+,\)"),
    Entry(CFG, "load_config(path)", "no such file",
          lambda: load_config("no/such/config.toml"),
          r"config file 'no/such/config.toml' does not"),
    Entry(CFG, "load_config(path) syntax", "not valid TOML",
          _toml("[network\nkind = 1"), r"bad.toml is not valid TOML"),
    # --- sweep spec
    Entry(SWEEP, "sweep spec: top-level key", "not sweep, base or grid",
          _sweep_spec(foo=1), r"unknown key 'foo' at the top of the sweep spec"),
    Entry(SWEEP, "sweep.name", "not a string",
          _sweep_spec(sweep={"name": 3}), r"sweep.name must be a string; got 3"),
    Entry(SWEEP, "grid key", "not a dotted key of a config section",
          _sweep_spec({"foo.p": [1]}), r"unknown grid key 'foo.p': 'foo' is not a config section"),
    Entry(SWEEP, "grid axis", "not a non-empty list",
          _sweep_spec({"train.seed": []}), r"grid.'train.seed' must be a non-empty list"),
    Entry(SWEEP, "grid paired axis", "entries that do not match its keys",
          _sweep_spec({"rule.lr|train.steps": [[0.1]]}),
          r"paired grid axis 'rule.lr\|train.steps' needs lists of 2 values"),
    Entry(SWEEP, "grid values / [base]", "any invalid point (every field above, before running)",
          _sweep_spec({"schedule.p": [0.5, 2.0]}),
          r"sweep point 1 .*p must be a number in \(0, 1\]"),
    Entry(SWEEP, "sweep(workers)", "not None or an integer >= 1",
          lambda: cl.sweep({"base": _BASE, "grid": {}}, "no/such/out", workers=0),
          r"workers must be an integer >= 1 or None; got 0"),
    Entry(SWEEP, "sweep(scheduler)", "not a known scheduler, Client or Executor",
          lambda: cl.sweep({"base": _BASE, "grid": {}}, "no/such/out", scheduler=5),
          r"scheduler must be one of .*; got int"),
    Entry(SWEEP, "sweep_table(out) / sweep_histories(out)", "no such directory",
          lambda: cl.sweep_table("no/such/sweep"), r"sweep directory 'no/such/sweep' does not"),
    # --- estimators
    Entry(EST, "CircuitRegressor / CircuitClassifier(network)",
          "not None, crossbar, board, an int or a Network",
          _fit({"network": "hexagon"}), r'network must be None, "crossbar", "board", an int'),
    Entry(EST, "(network) size", "fewer nodes than sources + ground + outputs",
          _fit({"network": "board"}), r"network has 9 nodes but this estimator needs 10"),
    Entry(EST, "(nodes)", "wrong keys or counts",
          _fit({"network": 30, "nodes": {"input": [0], "output": [5, 6]}}),
          r"nodes\['input'\] lists 1 node\(s\) but 7 are needed"),
    Entry(EST, "(rule) / (schedule)", "not a rule / schedule",
          _fit({"schedule": "sync"}), r"schedule must be a circuitlearn schedule .*; got 'sync'"),
    Entry(EST, "(steps) / (batch_size)", "not an integer >= 1",
          _fit({"batch_size": 0}), r"batch_size must be an integer in \[1, inf\]; got 0"),
    Entry(EST, "(input_range) / (target_range)", "not a (low, high) pair with low < high",
          _fit({"input_range": (1.0, 0.0)}), r"input_range must have low < high \(V\)"),
    Entry(EST, "(target_range)", "above input_range[1], unreachable by a passive network",
          _fit({"target_range": (0.2, 1.5)}), r"target_range \(0.2, 1.5\) reaches above"),
    Entry(EST, "(complement_inputs) / (bias)", "not True or False",
          _fit({"bias": "yes"}), r"bias must be True or False; got 'yes'"),
    Entry(EST, "(random_state)", "not None, an int or a RandomState",
          _fit({"random_state": "seven"}), r"random_state must be None, an int"),
    Entry(EST, "CircuitClassifier(encoding)", "not one-hot or levels",
          _fit({"encoding": "binary"}, classifier=True), r'encoding must be "one-hot" or "levels"'),
    Entry(EST, "set_params(schedule__p=...)", "an out-of-range nested value",
          lambda: cl.CircuitRegressor(schedule=cl.Bernoulli(0.5)).set_params(schedule__p=2.0),
          r"schedule__p: p must be a number in \(0, 1\]; got 2.0"),
    Entry(EST, "set_params(<obj>__<field>=...)", "no such field",
          lambda: cl.CircuitRegressor(schedule=cl.Bernoulli(0.5)).set_params(schedule__q=1),
          r"schedule__q: Bernoulli has no parameter 'q'; its parameters are \['p'\]"),
    # --- plots
    Entry(PLOT, "plots.network(net, k) / network_change(net, k0, k1)",
          "k not one positive value per edge",
          lambda: cl.plots.network(_chain(), [1.0, 1.0]), r"k must have shape \(4,\)"),
    Entry(PLOT, "plots.curves_with_bands(by, x, y) / final_vs(x, y, by)", "no such column",
          lambda: cl.plots.final_vs(__import__("pandas").DataFrame({"a": [1]})),
          r"table has no column 'schedule.p'; its columns are \['a'\]"),
    Entry(PLOT, "plots.curves_with_bands(level) / final_vs(level)", "outside (0, 1)",
          lambda: cl.plots.final_vs(__import__("pandas").DataFrame({"schedule.p": [1],
                                                                     "test_error": [1]}), level=95),
          r"level must be a number in \(0, 1\); got 95"),
    Entry(PLOT, "plot_results(path) / circuitlearn plot", "neither a run nor a sweep directory",
          lambda: cl.plots.plot_results("."), r"'.' is neither a run directory .* nor a sweep"),
    Entry(PLOT, "plot_results(formats) / plot --format", "not png, pdf or svg",
          lambda: cl.plots.run_figures(".", formats="gif"), r"formats must be one or more of"),
    # --- diagnostics
    Entry(DIAG, "local_minimum(taps) range", "a tap outside the rule's positions",
          lambda: analysis.local_minimum(*_board(), _STEP16, np.full(16, 20)),
          r"taps must lie in \[0, 15\] \(the rule's 16 positions\); taps\[0\] = 20"),
    Entry(DIAG, "local_minimum(taps) shape", "not one position per edge",
          lambda: analysis.local_minimum(*_board(), _STEP16, np.full(3, 2)),
          r"taps must have shape \(16,\), one position per edge"),
    Entry(DIAG, "escape(threshold, max_updates_per_edge)", "negative threshold or no budget",
          lambda: analysis.escape(*_board(), _STEP16, cl.Bernoulli(0.5), np.full(16, 7), 0.1, 0, 0),
          r"max_updates_per_edge must be a number in \(0, inf\); got 0"),
    Entry(DIAG, "update_noise(tau, draws)", "tau not > 0 or fewer than 2 draws",
          lambda: analysis.update_noise(*_board(), np.ones(16), cl.CoupledLearning(), tau=0),
          r"tau must be a number in \(0, inf\); got 0"),
    Entry(DIAG, "function_space_covariance(k_samples)", "fewer than two states",
          lambda: analysis.function_space_covariance(*_board(), np.ones((1, 16))),
          r"k_samples must have shape \(n >= 2, 16\)"),
    Entry(DIAG, "saturation(taps_trajectory) / tap_msd(lags)", "empty trajectory or no lag",
          lambda: analysis.tap_msd(np.zeros((5, 16)), lags=[]), r"lags must name at least one lag"),
    Entry(DIAG, "cluster_ci(values, clusters)", "not one cluster label per value",
          lambda: analysis.cluster_ci([1, 2, 3], [0, 1]),
          r"clusters must have one label per value, shape \(3,\); got \(2,\)"),

]
# fmt: on


def _id(entry: Entry) -> str:
    return f"{entry.group.split(':')[0]}: {entry.where} ({entry.condition})"


def _params():
    for entry in CATALOGUE:
        marks = [pytest.mark.xfail(reason=entry.xfail, strict=False)] if entry.xfail else []
        yield pytest.param(entry, id=_id(entry), marks=marks)


@pytest.mark.parametrize("entry", list(_params()))
def test_catalogue_entry(entry: Entry):
    with pytest.raises(entry.error, match=entry.match) as info:
        entry.call()
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, cl.ValidationError)
    origin = Path(str(info.traceback[-1].path)).resolve()
    assert PACKAGE in origin.parents, f"raised in {origin}, not in circuitlearn"


def test_docs_list_every_entry():
    text = DOCS.read_text()
    missing = [e.where for e in CATALOGUE if f"`{e.where}`" not in text]
    assert not missing, f"docs/errors.md lacks {missing}: regenerate it (see the module docstring)"


def test_every_config_key_has_an_entry():
    """Every key a TOML section accepts appears in some catalogue row."""
    import re

    from circuitlearn.config import NETWORKS, TASKS, TRAIN_KEYS, _params
    from circuitlearn.rules import RULES
    from circuitlearn.schedules import SCHEDULES

    rows = [e.where for e in CATALOGUE if e.group == CFG]
    wanted = {f"train.{k}" for k in TRAIN_KEYS}
    for section, table in (
        ("network", NETWORKS),
        ("task", TASKS),
        ("rule", RULES),
        ("schedule", SCHEDULES),
    ):
        wanted.add(f"{section}.kind")
        for fn in table.values():
            wanted.update(f"{section}.{name}" for name in _params(fn)[0])

    def covered(key: str) -> bool:
        section, name = key.split(".")
        for where in rows:
            words = set(re.split(r"[ /+]+", where))
            if key in words or (where.startswith(f"{section}.") and name in words):
                return True
        return False

    missing = sorted(k for k in wanted if not covered(k))
    assert not missing, f"no catalogue entry for {missing}"


# ------------------------------------------------------------------------------ docs
def render_tables() -> str:
    """The catalogue as Markdown tables, one per group, with each entry's actual message."""
    out = []
    group = None
    for entry in CATALOGUE:
        if entry.group != group:
            group = entry.group
            out += [
                "",
                f"### {group}",
                "",
                "| entry point / field | rejected when | example message |",
                "|---|---|---|",
            ]
        try:
            entry.call()
            message = "(no error yet)"
        except Exception as exc:  # noqa: BLE001
            message = str(exc) if isinstance(exc, cl.ValidationError) else "(not checked yet)"
        if entry.xfail:
            message = f"*not checked yet: {entry.xfail}*"
        message = message.replace("|", "\\|").replace("\n", " ")
        out.append(f"| `{entry.where}` | {entry.condition} | {message} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # python tests/test_validation_catalogue.py > tables.md
    sys.stdout.write(render_tables())
