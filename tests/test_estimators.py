"""scikit-learn estimators: the estimator contract, Pipeline and GridSearchCV, nested rule and
schedule parameters, and the network options."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_blobs
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import circuitlearn as cl
from circuitlearn.estimators import DEFAULT_RULE, CircuitClassifier, CircuitRegressor
from circuitlearn.gallery import crossbar

#: Few, large steps: the same product lr * steps as the defaults, ten times faster.
FAST = {"steps": 50, "rule": cl.CoupledLearning(lr=10.0, eta=0.1)}

#: Checks scikit-learn may not run here; none is expected to fail.
EXPECTED_FAILED: dict[str, str] = {}


@parametrize_with_checks(
    [CircuitRegressor(**FAST), CircuitClassifier(**FAST)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_contract(estimator, check):
    check(estimator)


def _linear(n=80, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = np.stack([x @ [1.0, -2.0, 0.5] + 3.0, -x[:, 0] + 0.3 * x[:, 2]], axis=1)
    return x, y


# ------------------------------------------------------------------------------ learning
def test_regressor_multi_output():
    x, y = _linear()
    reg = CircuitRegressor(**FAST, random_state=0).fit(x, y)
    pred = reg.predict(x)
    assert pred.shape == y.shape
    assert reg.score(x, y) > 0.9  # a linear target: the crossbar's complements reach it
    one = CircuitRegressor(**FAST, random_state=0).fit(x, y[:, 0])
    assert one.predict(x).shape == (len(x),)
    assert reg.output_nodes_.size == 2 and one.output_nodes_.size == 1
    assert reg.history_["train_error"].iloc[-1] < reg.history_["train_error"].iloc[0]


def test_classifier_labels_and_encodings():
    x, y = make_blobs(120, centers=3, random_state=0)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    # levels order the classes along one voltage, which these blobs do not follow
    for encoding, n_out, good in (("one-hot", 3, 0.85), ("levels", 1, 0.5)):
        clf = CircuitClassifier(**FAST, encoding=encoding, random_state=0).fit(x, names)
        assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
        assert clf.class_voltages_.shape == (3, n_out)
        assert clf.score(x, names) > good
        assert set(clf.predict(x)) <= set(names)
        assert clf.decision_function(x).shape == (len(x), 3)
        assert "train_accuracy" in clf.history_
    binary = CircuitClassifier(**FAST, random_state=0).fit(x[y < 2], y[y < 2])
    d = binary.decision_function(x[y < 2])
    assert d.shape == (int((y < 2).sum()),)
    np.testing.assert_array_equal(binary.predict(x[y < 2]), binary.classes_[(d > 0).astype(int)])


def test_defaults_learn_iris():
    x, y = load_iris(return_X_y=True)
    clf = CircuitClassifier(random_state=0).fit(x, y)
    assert clf.score(x, y) > 0.8
    assert clf.network_.n_edges == (2 * 4 + 1 + 1) * 3  # crossbar: sources + ground, x 3


def test_same_random_state_same_fit():
    x, y = _linear()
    kw = {**FAST, "schedule": cl.Bernoulli(0.5), "network": 30}
    a = CircuitRegressor(**kw, random_state=3).fit(x, y)
    b = CircuitRegressor(**kw, random_state=3).fit(x, y)
    c = CircuitRegressor(**kw, random_state=4).fit(x, y)
    np.testing.assert_array_equal(a.conductances_, b.conductances_)
    assert not np.array_equal(a.network_.edges, c.network_.edges)
    back = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(back.predict(x), a.predict(x))


# ------------------------------------------------------------------------------ networks
def test_crossbar_layout():
    net, roles = crossbar(4, 2)
    assert net.n_nodes == 4 + 1 + 2 and net.n_edges == 5 * 2
    assert roles["ground_nodes"].tolist() == [4]
    assert roles["output_nodes"].tolist() == [5, 6]
    # every edge joins a source (input or ground) to an output
    assert set(net.edges[:, 1]) == {5, 6} and set(net.edges[:, 0]) == set(range(5))


def test_network_options():
    x, y = _linear(40)
    y1 = y[:, 0]
    board = CircuitRegressor(
        **FAST, network="board", complement_inputs=False, bias=False, random_state=0
    ).fit(x, y1)
    assert board.network_.n_edges == 16
    rnd = CircuitRegressor(**FAST, network=40, random_state=0).fit(x, y1)
    assert rnd.network_.n_nodes == 40
    net = cl.Network.lattice(4, 4)
    nodes = {"input": [0, 3, 12, 15, 1, 2, 13], "output": [5], "ground": [10]}
    given = CircuitRegressor(**FAST, network=net, nodes=nodes).fit(x, y1)
    assert given.input_nodes_.tolist() == nodes["input"]
    assert given.output_nodes_.tolist() == [5]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"network": "hexagon"}, r'network must be None, "crossbar", "board"'),
        ({"network": 2}, r"network must be an integer in \[3"),
        ({"network": "board"}, r"network has 9 nodes but this estimator needs 10"),
        ({"network": 30, "nodes": {"input": [0, 1]}}, r"nodes must give 'output'"),
        ({"network": 30, "nodes": {"input": [0], "output": [5, 6]}}, r"nodes\['input'\] lists 1"),
        ({"network": 30, "nodes": {"input": list(range(7)), "output": [9]}}, r"'output'\] lists 1"),
        ({"nodes": {"input": [0], "output": [5]}}, r"nodes cannot be given with the crossbar"),
        ({"steps": 0}, r"steps must be an integer in \[1"),
        ({"updates_per_edge": 0}, r"updates_per_edge must be a number in \(0"),
        ({"updates_per_edge": True}, r"updates_per_edge must be a number"),
        ({"batch_size": 0}, r"batch_size must be an integer in \[1"),
        ({"rule": "CoupledLearning"}, r"rule must be a circuitlearn rule"),
        ({"schedule": 0.5}, r"schedule must be a circuitlearn schedule"),
        ({"input_range": (1.0, 0.0)}, r"input_range must have low < high"),
        ({"input_range": 1.0}, r"input_range must be a pair"),
        ({"target_range": (0.2, 1.5)}, r"target_range .* reaches above"),
        ({"bias": "yes"}, r"bias must be True or False"),
        ({"random_state": "seven"}, r"random_state must be None, an int"),
    ],
)
def test_bad_hyperparameters_fail_at_fit(params, match):
    x, y = _linear(20)  # 3 features (7 sources with complements and bias), 2 outputs
    est = CircuitRegressor(**{**FAST, **params})  # construction never validates
    with pytest.raises(cl.ValidationError, match=match):
        est.fit(x, y)


def test_bad_encoding():
    x, y = make_blobs(30, centers=2, random_state=0)
    with pytest.raises(cl.ValidationError, match=r'encoding must be "one-hot" or "levels"'):
        CircuitClassifier(**FAST, encoding="binary").fit(x, y)


# ------------------------------------------------------------------------------ parameters
def test_nested_rule_and_schedule_parameters():
    est = CircuitRegressor(schedule=cl.Bernoulli(0.5), rule=cl.CoupledLearning(lr=0.3))
    params = est.get_params(deep=True)
    assert params["schedule__p"] == 0.5 and params["rule__lr"] == 0.3
    assert params["rule__eta"] == cl.CoupledLearning().eta
    assert "schedule__p" not in est.get_params(deep=False)
    before = est.schedule
    est.set_params(schedule__p=0.25, rule__lr=2.0, steps=7)
    assert est.schedule == cl.Bernoulli(0.25) and before == cl.Bernoulli(0.5)  # a new object
    assert est.rule.lr == 2.0 and est.steps == 7
    # the default rule (None) can be tuned field by field
    default = CircuitRegressor().set_params(rule__lr=3.0)
    assert default.rule == DEFAULT_RULE.__class__(lr=3.0, eta=DEFAULT_RULE.eta)
    # a whole object and one of its fields at once: the object first, then the field
    both = CircuitRegressor().set_params(schedule=cl.Bernoulli(0.9), schedule__p=0.1)
    assert both.schedule == cl.Bernoulli(0.1)
    assert clone(both).schedule == cl.Bernoulli(0.1)


@pytest.mark.parametrize(
    ("start", "params", "match"),
    [
        (None, {"schedule__p": 0.5}, r"cannot set schedule__p: schedule is None"),
        (cl.Synchronous(), {"schedule__p": 0.5}, r"Synchronous has no parameter 'p'"),
        (cl.Bernoulli(0.5), {"schedule__q": 0.5}, r"Bernoulli has no parameter 'q'"),
        (cl.Bernoulli(0.5), {"schedule__p": 2.0}, r"schedule__p: p must be a number in \(0, 1\]"),
    ],
)
def test_bad_nested_parameters(start, params, match):
    with pytest.raises(cl.ValidationError, match=match):
        CircuitRegressor(schedule=start).set_params(**params)


def test_grid_search_over_desynchronisation():
    x, y = _linear(60)
    search = GridSearchCV(
        CircuitRegressor(**FAST, schedule=cl.Bernoulli(0.5), random_state=0),
        {"schedule__p": [0.25, 0.5, 1.0], "rule__lr": [5.0, 10.0]},
        cv=3,
    )
    search.fit(x, y)
    assert len(search.cv_results_["params"]) == 6
    best = search.best_estimator_
    assert best.schedule == cl.Bernoulli(search.best_params_["schedule__p"])
    assert best.rule.lr == search.best_params_["rule__lr"]
    assert search.score(x, y) > 0.8


@pytest.mark.parametrize("p", [0.25, 0.5, 1.0])
def test_updates_per_edge_sets_the_steps_from_the_schedule_rate(p):
    """``updates_per_edge`` trains ceil(U / p) Bernoulli(p) steps, so every schedule ends at
    (about) U updates per edge whatever p, and ``steps`` is ignored."""
    x, y = _linear(30)
    est = CircuitRegressor(
        rule=FAST["rule"], steps=3, schedule=cl.Bernoulli(p), updates_per_edge=40, random_state=1
    ).fit(x, y[:, 0])
    hist = est.history_
    assert hist["step"].iloc[-1] == round(40 / p)
    assert hist["updates_per_edge"].iloc[-1] == pytest.approx(40)
    # the edges actually updated: Bernoulli draws, within 5 binomial standard deviations
    n = est.network_.n_edges * round(40 / p)
    sd = np.sqrt(n * p * (1 - p)) / est.network_.n_edges
    assert abs(hist["updates"].iloc[-1] - 40) <= 5 * sd + 1e-12


def test_grid_search_over_p_at_equal_updates_per_edge():
    x, y = _linear(60)
    search = GridSearchCV(
        CircuitRegressor(
            rule=FAST["rule"], schedule=cl.Bernoulli(0.5), updates_per_edge=50, random_state=0
        ),
        {"schedule__p": [0.25, 1.0]},
        cv=3,
    )
    search.fit(x, y)
    assert len(search.cv_results_["params"]) == 2
    assert search.best_estimator_.history_["updates_per_edge"].iloc[-1] == pytest.approx(50)
    assert search.score(x, y) > 0.8


def test_pipeline_and_grid_search_through_it():
    x, y = load_iris(return_X_y=True)
    pipe = Pipeline(
        [("scale", StandardScaler()), ("net", CircuitClassifier(**FAST, random_state=0))]
    )
    assert pipe.fit(x, y).score(x, y) > 0.8
    assert "net__schedule__p" not in pipe.get_params()  # schedule=None: no fields to expose
    assert pipe.get_params()["net__rule__lr"] == FAST["rule"].lr
    pipe.set_params(net__schedule=cl.Bernoulli(1.0))
    assert pipe.get_params()["net__schedule__p"] == 1.0
    search = GridSearchCV(pipe, {"net__schedule__p": [0.5, 1.0]}, cv=3).fit(x, y)
    assert search.best_params_["net__schedule__p"] in (0.5, 1.0)
    assert (
        search.best_estimator_.named_steps["net"].schedule.p
        == search.best_params_["net__schedule__p"]
    )


def test_fit_warns_when_training_does_not_reduce_the_error():
    from sklearn.exceptions import ConvergenceWarning

    X, y = load_iris(return_X_y=True)
    frozen = cl.CircuitClassifier(rule=cl.CoupledLearning(lr=1e-300), steps=20)
    with pytest.warns(ConvergenceWarning, match="did not reduce the training error"):
        frozen.fit(X, y)
