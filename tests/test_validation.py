"""Bad input raises ``cl.ValidationError`` (a ``ValueError``) from circuitlearn's own code, with
a message that names the offending field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import circuitlearn as cl

PACKAGE = Path(cl.__file__).resolve().parent


def raises(match, fn, *args, error=cl.ValidationError, **kwargs):
    """Call ``fn`` and check the error: its type, message, and that the frame that raised it
    lies inside circuitlearn (not inside numpy, scipy or another library)."""
    with pytest.raises(error, match=match) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, cl.ValidationError)
    origin = Path(str(info.traceback[-1].path)).resolve()
    assert PACKAGE in origin.parents, f"raised in {origin}, not in circuitlearn"
    return info.value


def chain():
    """0 - 1 - 2 - 3 - 4, all unit conductances."""
    return cl.Network.from_edges(5, [[0, 1], [1, 2], [2, 3], [3, 4]])


# ------------------------------------------------------------------------------ topology
def test_floating_nodes():
    net = cl.Network.from_edges(6, [[0, 1], [1, 2], [3, 4], [4, 5]])
    err = raises(
        r"free nodes \[3, 4, 5\]",
        cl.solve,
        net,
        np.ones(4),
        [0],
        [1.0],
        error=cl.FloatingNodesError,
    )
    assert err.nodes == (3, 4, 5)
    # the same through a task: output node 4 sits in the unanchored piece
    task = cl.Task([0], [4], [[1.0]], [[0.5]], ground_nodes=[2])
    raises(r"free nodes \[3, 4, 5\]", cl.train, net, task, steps=1, error=cl.FloatingNodesError)


@pytest.mark.parametrize(
    ("edges", "match"),
    [
        ([[0, 1], [1, 2], [0, 1]], r"edges.*duplicate"),
        ([[0, 1], [1, 2], [1, 0]], r"edges.*duplicate"),  # reversed pair is the same edge
        ([[0, 1], [2, 2]], r"edges\[1\].*self-loop"),
        ([[0, 1], [1, 7]], r"edges\[1\].*outside"),
        ([[0, 1], [-1, 2]], r"edges\[1\].*outside"),
        ([[0, 1, 2]], r"edges must have shape"),
        ([[0.5, 1]], r"edges must hold integer"),
    ],
)
def test_bad_edges(edges, match):
    raises(match, cl.Network.from_edges, 3, edges)


def test_empty_fixed_nodes():
    raises(r"fixed_nodes", cl.solve, chain(), np.ones(4), [], [])


@pytest.mark.parametrize(
    ("nodes", "match"), [([0, 0], r"fixed_nodes.*more than once"), ([0, 9], r"fixed_nodes.*9")]
)
def test_bad_fixed_nodes(nodes, match):
    raises(match, cl.solve, chain(), np.ones(4), nodes, [0.0, 1.0])


# ------------------------------------------------------------------------------ conductances
@pytest.mark.parametrize(
    ("k", "match"),
    [
        ([1.0, 0.0, 1.0, 1.0], r"k must be strictly positive.*k\[1\]"),
        ([1.0, 1.0, -2.0, 1.0], r"k must be strictly positive.*k\[2\]"),
        ([1.0, np.nan, 1.0, 1.0], r"k contains NaN"),
        ([1.0, 1.0, np.inf, 1.0], r"k contains NaN or infinite"),
        ([1.0, 1.0, 1.0], r"k must have shape \(4,\)"),
        ([[1.0, 1.0, 1.0, 1.0]], r"k must have 1 dimension"),
    ],
)
def test_bad_conductances(k, match):
    raises(match, cl.solve, chain(), k, [0, 4], [1.0, 0.0])


def test_bad_initial_conductances():
    net = chain()
    task = cl.Task([0], [2], [[1.0]], [[0.5]], ground_nodes=[4])
    raises(r"k0", cl.train, net, task, steps=1, k0=[1.0, 0.0, 1.0, 1.0])
    raises(r"k0", cl.train, net, task, steps=1, k0=[1.0, np.nan, 1.0, 1.0])
    raises(r"k0", cl.train, net, task, cl.SteppedCoupledLearning(), steps=1, k0=[1, -1, 1, 1])


# ------------------------------------------------------------------------------ fixed values
@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([1.0, np.nan], r"fixed_values contains NaN"),
        ([[1.0, 0.0], [np.inf, 0.0]], r"fixed_values contains NaN or infinite"),
        ([1.0, 0.0, 2.0], r"fixed_values must have shape \(2,\)"),
        ([[1.0], [0.0]], r"fixed_values must have shape"),
    ],
)
def test_bad_fixed_values(values, match):
    raises(match, cl.solve, chain(), np.ones(4), [0, 4], values)


# ------------------------------------------------------------------------------ tasks
def test_node_in_two_roles():
    raises(r"input_nodes and output_nodes", cl.Task, [0, 1], [1], [[1.0, 0.0]], [[0.5]])
    raises(r"output_nodes and ground_nodes", cl.Task, [0], [3], [[1.0]], [[0.5]], ground_nodes=[3])
    raises(r"input_nodes and ground_nodes", cl.Task, [0], [3], [[1.0]], [[0.5]], ground_nodes=[0])


@pytest.mark.parametrize("field", ["x_train", "y_train", "x_test", "y_test"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_task_data_not_finite(field, bad):
    data = {
        "x_train": np.full((3, 2), 0.5),
        "y_train": np.full((3, 1), 0.2),
        "x_test": np.full((2, 2), 0.5),
        "y_test": np.full((2, 1), 0.2),
    }
    data[field][-1, -1] = bad
    raises(rf"{field} contains NaN or infinite", cl.Task, [0, 1], [2], ground_nodes=[4], **data)


@pytest.mark.parametrize(
    ("field", "shape", "match"),
    [
        ("x_train", (3, 3), r"x_train must have shape \(M, 2\)"),
        ("y_train", (3, 2), r"y_train must have shape \(M, 1\)"),
        ("y_train", (4, 1), r"x_train has 3 examples but y_train has 4"),
        ("x_test", (2, 1), r"x_test must have shape \(M, 2\)"),
        ("y_test", (3, 1), r"x_test has 2 examples but y_test has 3"),
        ("x_train", (3, 2, 1), r"x_train must have 1 or 2 dimension"),
    ],
)
def test_task_data_shapes(field, shape, match):
    data = {
        "x_train": np.full((3, 2), 0.5),
        "y_train": np.full((3, 1), 0.2),
        "x_test": np.full((2, 2), 0.5),
        "y_test": np.full((2, 1), 0.2),
    }
    data[field] = np.full(shape, 0.1)
    raises(match, cl.Task, [0, 1], [2], ground_nodes=[4], **data)


def test_task_nodes_outside_network():
    task = cl.Task([0, 1], [9], np.full((3, 2), 0.5), np.full((3, 1), 0.2), ground_nodes=[4])
    raises(r"output_nodes.*9", cl.train, chain(), task, steps=1)


# ------------------------------------------------------------------------------ hyperparameters
@pytest.mark.parametrize("p", [0, 0.0, -0.1, 1.0000001, 2, np.nan, np.inf])
def test_bernoulli_p(p):
    raises(r"^p must be a number in \(0", cl.Bernoulli, p)


def test_bernoulli_p_edges_of_the_range():
    assert cl.Bernoulli(1.0).p == 1.0
    assert cl.Bernoulli(1e-9).p == 1e-9


@pytest.mark.parametrize("eta", [0, -0.5, 1.5, np.nan, np.inf])
@pytest.mark.parametrize(
    "make",
    [
        lambda eta: cl.CoupledLearning(lr=0.1, eta=eta),
        lambda eta: cl.SteppedCoupledLearning(eta=eta),
    ],
    ids=["CoupledLearning", "SteppedCoupledLearning"],
)
def test_eta(make, eta):
    raises(r"^eta must be a number in \(0", make, eta)


def test_eta_one_is_allowed():
    assert cl.CoupledLearning(eta=1.0).eta == 1.0
    assert cl.SteppedCoupledLearning(eta=1.0).eta == 1.0


@pytest.mark.parametrize("taps", [1, 0, -3, 2.5, np.nan])
def test_taps(taps):
    raises(r"^taps must be an integer", cl.SteppedCoupledLearning, taps=taps)


@pytest.mark.parametrize(("r_min", "r_max"), [(100.0, 100.0), (200.0, 100.0)])
def test_r_min_below_r_max(r_min, r_max):
    raises(r"r_min .* must be below r_max", cl.SteppedCoupledLearning, r_min=r_min, r_max=r_max)


@pytest.mark.parametrize(("field", "value"), [("r_min", 0.0), ("r_min", -1.0), ("r_max", np.nan)])
def test_resistances_positive(field, value):
    raises(rf"^{field} must be", cl.SteppedCoupledLearning, **{field: value})


def test_lr_and_bounds():
    raises(r"^lr must be", cl.CoupledLearning, lr=0.0)
    raises(r"^lr must be", cl.GradientDescent, lr=-1.0)
    raises(r"k_min .* must be below k_max", cl.CoupledLearning, k_min=2.0, k_max=1.0)
    raises(r"^k_min must be", cl.CoupledLearning, k_min=0.0)


def test_schedule_parameters():
    raises(r"^count must be", cl.RandomSubset, 0)
    raises(r"^rate must be", cl.PoissonClocks, 0.0)
    net = chain()
    task = cl.Task([0], [2], [[1.0]], [[0.5]], ground_nodes=[4])
    raises(
        r"RandomSubset count \(5\) exceeds",
        cl.train,
        net,
        task,
        schedule=cl.RandomSubset(5),
        steps=1,
    )


def test_train_arguments():
    net = chain()
    task = cl.Task([0], [2], [[1.0]], [[0.5]], ground_nodes=[4])
    raises(r"^steps must be", cl.train, net, task, steps=-1)
    raises(r"^batch_size must be", cl.train, net, task, steps=1, batch_size=0)
    raises(r"^seed must be", cl.train, net, task, steps=1, seed=-1)
    raises(r"^rule must be", cl.train, net, task, rule="CoupledLearning", steps=1)
    raises(
        r"^backend must be one of",
        cl.solve,
        net,
        np.ones(4),
        [0, 4],
        [1.0, 0.0],
        backend="cholesky-please",
    )
