"""scikit-learn estimators: a learning resistor network behind ``fit`` / ``predict``.

``CircuitRegressor`` and ``CircuitClassifier`` follow the scikit-learn contract: every
hyperparameter is an explicit keyword of ``__init__`` stored unchanged, learned state ends in
an underscore, ``fit`` returns ``self``, and ``random_state`` fixes every random choice. They
work in ``Pipeline`` and ``GridSearchCV``; a learning rule and a schedule are ordinary
parameters whose fields are nested parameters, so

>>> from sklearn.model_selection import GridSearchCV
>>> import circuitlearn as cl
>>> search = GridSearchCV(cl.CircuitRegressor(schedule=cl.Bernoulli(0.5)),
...                       {"schedule__p": [0.25, 0.5, 1.0]})

searches over desynchronisation (add ``updates_per_edge=...`` to compare the schedules at equal
updates per edge rather than equal steps). Rules and schedules are frozen dataclasses: setting
``schedule__p`` replaces the schedule by a copy with the new ``p`` (``dataclasses.replace``).

How data becomes voltages
-------------------------
Each feature is min-max scaled, with the range seen in ``fit``, to ``input_range`` (V) and held
on one input node. A passive network's outputs are mixtures with non-negative weights of the
source voltages, so by default each feature also drives a second node at the complementary
voltage ``low + high - v`` (``complement_inputs``), which lets an output fall as a feature
rises, and one more node is held at ``high`` (``bias``). One node is ground (0 V). Regression
targets are min-max scaled per output to ``target_range`` (V); class targets are voltages in
``target_range`` (one-hot: high on the true class's output; levels: one output, evenly spaced
levels). Predictions undo the target scaling.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._validation import in_range, node_list
from .errors import ValidationError
from .gallery import crossbar, lab_board
from .network import Network
from .rules import CoupledLearning, Rule
from .schedules import Schedule, Synchronous
from .tasks import Task
from .train import TrainResult, train

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


#: The rule used when ``rule=None``. A small nudge keeps coupled learning close to gradient
#: descent; with ``eta = 0.5`` the crossbar's error rose again on several data sets.
DEFAULT_RULE = CoupledLearning(lr=1.0, eta=0.1)

#: Parameters whose values are frozen dataclasses with nested parameters (``rule__lr``).
NESTED = ("rule", "schedule")

_ROLE_KEYS = ("input", "output", "ground")


def _range_pair(name: str, value, low: float | None = None) -> tuple[float, float]:
    """Check a ``(low, high)`` voltage pair (V) with ``low < high``."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValidationError(f"{name} must be a pair (low, high) of voltages; got {value!r}")
    lo = in_range(f"{name}[0]", value[0], low, None)
    hi = in_range(f"{name}[1]", value[1], low, None)
    if not lo < hi:
        raise ValidationError(f"{name} must have low < high (V); got {tuple(value)!r}")
    return lo, hi


class _CircuitEstimator(BaseEstimator):
    """Shared machinery of the two estimators (not public)."""

    # ------------------------------------------------------------------ parameters
    def get_params(self, deep: bool = True) -> dict:
        """Parameters of this estimator; with ``deep``, also the fields of the rule and the
        schedule as ``rule__<field>`` and ``schedule__<field>``."""
        out = super().get_params(deep=deep)
        if deep:
            for name in NESTED:
                obj = out.get(name)
                if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
                    for f in dataclasses.fields(obj):
                        out[f"{name}__{f.name}"] = getattr(obj, f.name)
        return out

    def set_params(self, **params):
        """Set parameters; ``rule__lr=0.5`` or ``schedule__p=0.25`` replace the rule or the
        schedule by a copy with that field changed (``rule=None`` stands for the default
        ``CoupledLearning``). Returns ``self``."""
        nested: dict[str, dict] = {}
        plain = {}
        for key, value in params.items():
            head, sep, sub = key.partition("__")
            if sep and head in NESTED:
                nested.setdefault(head, {})[sub] = value
            else:
                plain[key] = value
        super().set_params(**plain)
        for head, sub in nested.items():
            obj = getattr(self, head)
            if obj is None and head == "rule":
                obj = self._default_rule()
            if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
                shown = "None (Synchronous)" if obj is None else repr(obj)
                raise ValidationError(
                    f"cannot set {head}__{next(iter(sub))}: {head} is {shown}, which has no "
                    f"such field; set {head} to an object first, e.g. schedule=cl.Bernoulli(0.5)"
                )
            names = [f.name for f in dataclasses.fields(obj)]
            for field in sub:
                if field not in names:
                    raise ValidationError(
                        f"{head}__{field}: {type(obj).__name__} has no parameter {field!r}; "
                        f"its parameters are {names}"
                    )
            try:
                new = dataclasses.replace(obj, **sub)
            except ValidationError as exc:
                raise ValidationError(f"{head}__{', '.join(sub)}: {exc}") from None
            setattr(self, head, new)
        return self

    def _default_rule(self) -> Rule:
        return DEFAULT_RULE

    # ------------------------------------------------------------------ checks
    def _check_hyperparameters(self) -> dict:
        """Validate every hyperparameter (at fit time, as scikit-learn expects)."""
        rule = self._default_rule() if self.rule is None else self.rule
        if not isinstance(rule, Rule):
            raise ValidationError(
                f"rule must be a circuitlearn rule (e.g. cl.CoupledLearning()) or None; "
                f"got {self.rule!r}"
            )
        schedule = Synchronous() if self.schedule is None else self.schedule
        if not isinstance(schedule, Schedule):
            raise ValidationError(
                f"schedule must be a circuitlearn schedule (e.g. cl.Bernoulli(0.5)) or None; "
                f"got {self.schedule!r}"
            )
        steps = in_range("steps", self.steps, 1, None, integer=True)
        upe = self.updates_per_edge
        if upe is not None:
            upe = in_range("updates_per_edge", upe, 0, None, low_open=True)
        batch = self.batch_size
        if batch is not None:
            batch = in_range("batch_size", batch, 1, None, integer=True)
        for name in ("complement_inputs", "bias"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValidationError(f"{name} must be True or False; got {getattr(self, name)!r}")
        in_lo, in_hi = _range_pair("input_range", self.input_range, 0.0)
        t_lo, t_hi = _range_pair("target_range", self.target_range, 0.0)
        if t_hi > in_hi:
            raise ValidationError(
                f"target_range {tuple(self.target_range)!r} reaches above the highest source "
                f"voltage input_range[1] = {in_hi} V, which a passive network cannot produce"
            )
        if self.random_state is not None and not isinstance(
            self.random_state, (numbers.Integral, np.random.RandomState)
        ):
            raise ValidationError(
                f"random_state must be None, an int or a numpy RandomState; "
                f"got {self.random_state!r}"
            )
        return {
            "rule": rule,
            "schedule": schedule,
            "steps": steps,
            "updates_per_edge": upe,
            "batch_size": batch,
            "input_range": (in_lo, in_hi),
            "target_range": (t_lo, t_hi),
        }

    # ------------------------------------------------------------------ voltages
    def _n_sources(self, n_features: int) -> int:
        return n_features * (2 if self.complement_inputs else 1) + int(bool(self.bias))

    def _voltages(self, X: np.ndarray) -> np.ndarray:
        """Source voltages (M, n_sources) in V for features X (M, n_features)."""
        lo, hi = self._input_range
        v = lo + (X - self.x_min_) / self.x_scale_ * (hi - lo)
        parts = [v]
        if self.complement_inputs:
            parts.append(lo + hi - v)
        if self.bias:
            parts.append(np.full((len(X), 1), hi))
        return np.concatenate(parts, axis=1)

    def _network(self, n_src: int, n_out: int, rng: np.random.RandomState):
        """Resolve the ``network`` hyperparameter: ``(Network, node roles)``."""
        net = self.network
        n_needed = n_src + n_out + 1
        seed = int(rng.randint(0, 2**31 - 1))
        allowed = (
            'network must be None, "crossbar", "board", an int (number of nodes of a random '
            "planar network) or a circuitlearn.Network"
        )
        if net is None or (isinstance(net, str) and net == "crossbar"):
            if self.nodes is not None:
                raise ValidationError(
                    "nodes cannot be given with the crossbar network, whose roles are fixed; "
                    "pass network=<Network or int> to choose node roles"
                )
            return crossbar(n_src, n_out)
        if isinstance(net, str):
            if net != "board":
                raise ValidationError(f"{allowed}; got {net!r}")
            net = lab_board()
        elif isinstance(net, numbers.Integral) and not isinstance(net, bool):
            net = Network.random(in_range("network", net, 3, None, integer=True), seed=seed)
        elif not isinstance(net, Network):
            raise ValidationError(f"{allowed}; got {net!r}")
        if net.n_nodes < n_needed:
            raise ValidationError(
                f"network has {net.n_nodes} nodes but this estimator needs {n_needed} (one per "
                "source voltage, one ground, one per output): use a larger network, or set "
                "complement_inputs=False / bias=False"
            )
        return net, self._roles(net, n_src, n_out, rng)

    def _roles(self, net: Network, n_src: int, n_out: int, rng) -> dict:
        """Node roles: from the ``nodes`` hyperparameter, or drawn at random."""
        order = rng.permutation(net.n_nodes)
        if self.nodes is None:
            return {
                "input_nodes": order[:n_src],
                "output_nodes": np.sort(order[n_src : n_src + n_out]),
                "ground_nodes": order[n_src + n_out : n_src + n_out + 1],
            }
        nodes = self.nodes
        if not isinstance(nodes, dict) or set(nodes) - set(_ROLE_KEYS) or "input" not in nodes:
            raise ValidationError(
                "nodes must be None or a dict with keys 'input', 'output' and optionally "
                f"'ground' (lists of node indices); got {nodes!r}"
            )
        if "output" not in nodes:
            raise ValidationError("nodes must give 'output' node indices beside 'input'")
        want = {"input": n_src, "output": n_out}
        roles = {"ground_nodes": np.zeros(0, np.int64)}
        for key in _ROLE_KEYS:
            if key not in nodes:
                continue
            arr = node_list(f"nodes['{key}']", nodes[key], net.n_nodes)
            if key in want and arr.size != want[key]:
                what = (
                    "(the features, then their complements, then the bias node)"
                    if key == "input"
                    else "(one per output)"
                )
                raise ValidationError(
                    f"nodes['{key}'] lists {arr.size} node(s) but {want[key]} are needed {what}"
                )
            roles[f"{key}_nodes"] = arr
        return roles

    def _fit_voltages(self, X: np.ndarray, y_volts: np.ndarray, checked: dict, **task_kw):
        """Scale X, build the network and task, train; sets the learned attributes."""
        rng = check_random_state(self.random_state)
        self._input_range = checked["input_range"]
        self.x_min_ = X.min(axis=0)
        span = X.max(axis=0) - self.x_min_
        self.x_scale_ = np.where(span > 0, span, 1.0)
        n_src = self._n_sources(X.shape[1])
        net, roles = self._network(n_src, y_volts.shape[1], rng)
        task = Task(
            x_train=self._voltages(X), y_train=y_volts, name=type(self).__name__, **roles, **task_kw
        )
        task.check_network(net)
        seed = int(rng.randint(0, 2**31 - 1))
        schedule = checked["schedule"]
        steps = checked["steps"]
        if checked["updates_per_edge"] is not None:
            # Schedules compare at equal updates per edge: the step count follows the rate.
            rate = schedule.updates_per_step(net.n_edges)
            steps = max(1, math.ceil(checked["updates_per_edge"] / rate - 1e-9))
        result = train(
            net,
            task,
            rule=checked["rule"],
            schedule=schedule,
            steps=steps,
            batch_size=checked["batch_size"],
            seed=seed,
            backend=self.backend,
            progress=False,
        )
        self.result_: TrainResult = result
        self.network_ = net
        self.conductances_ = result.conductances
        self.history_ = result.history
        self.input_nodes_ = task.input_nodes
        self.output_nodes_ = task.output_nodes
        self.ground_nodes_ = task.ground_nodes

    def _output_voltages(self, X) -> np.ndarray:
        """Free-state output voltages (M, n_out) in V for features X."""
        check_is_fitted(self, "result_")
        X = _validate_data(self, X, reset=False)
        return self.result_.outputs(self._voltages(X), backend=self.backend)


_INIT_DOC = """
    Parameters
    ----------
    network : None, "crossbar", "board", int or Network
        None or ``"crossbar"``: a resistive crossbar (``gallery.crossbar``), every source
        joined to every output by one resistor; an int: a random planar network
        (``Network.random``) of that many nodes, seeded from ``random_state``; ``"board"``:
        the 16-edge lab board (``gallery.lab_board``, 9 nodes); or any ``Network``. Node roles
        on a random network, the board or a given network come from ``nodes`` or are drawn at
        random.
    rule : Rule or None
        Learning rule; None is ``CoupledLearning(lr=1.0, eta=0.1)``. Its fields are nested
        parameters (``rule__lr``).
    schedule : Schedule or None
        Who updates when; None is ``Synchronous()``. Its fields are nested parameters
        (``schedule__p`` for ``Bernoulli``).
    steps : int
        Training steps (>= 1); ignored when ``updates_per_edge`` is given.
    updates_per_edge : float or None
        None: train ``steps`` steps. A number > 0: train until each edge has updated this many
        times on average, ``ceil(updates_per_edge / rate)`` steps with the schedule's rate of
        updates per edge per step (1 for ``Synchronous``, ``p`` for ``Bernoulli``), so that a
        search over ``schedule__p`` compares schedules at equal updates per edge.
    batch_size : int or None
        None: full batch; ``b``: mini-batches reshuffled each epoch; 1: online.
    complement_inputs : bool
        Also drive each feature's complement ``low + high - v`` on a second node.
    bias : bool
        Hold one more node at ``input_range[1]`` V.
    input_range : (float, float)
        Voltages (V) the smallest and largest training value of each feature map to.
    target_range : (float, float)
        Voltages (V) the targets map to, ``0 <= low < high <= input_range[1]``.
    nodes : dict or None
        Node roles ``{"input": [...], "output": [...], "ground": [...]}``; ``input`` lists
        the feature nodes, then the complement nodes, then the bias node. None: drawn at
        random from ``random_state``.
    backend : str
        Factorisation backend (see ``physics.LaplacianSolver``).
    random_state : None, int or RandomState
        Seeds the random network, the node roles and the training run (mini-batch order,
        schedule, rule noise).
"""


class CircuitRegressor(RegressorMixin, _CircuitEstimator):
    __doc__ = (
        """Regression with a resistor network trained by a local rule.

    Targets ``y`` of shape (n_samples,) or (n_samples, n_outputs); each output is one node.
    """
        + _INIT_DOC
        + """
    Attributes
    ----------
    result_ : TrainResult
        The training run (history, network, task in volts).
    network_ : Network
    conductances_ : ndarray, shape (E,)
        Trained conductances (S).
    history_ : pandas.DataFrame
        Learning curve (errors in V^2, in the scaled target voltages).
    input_nodes_, output_nodes_, ground_nodes_ : ndarray of int
    x_min_, x_scale_ : ndarray, shape (n_features,)
        Feature scaling: ``v = low + (x - x_min_) / x_scale_ * (high - low)``.
    y_min_, y_scale_ : ndarray, shape (n_outputs,)
        Target scaling, likewise with ``target_range``.
    n_features_in_ : int
    """
    )

    def __init__(
        self,
        network=None,
        rule=None,
        schedule=None,
        steps: int = 500,
        updates_per_edge: float | None = None,
        batch_size: int | None = None,
        complement_inputs: bool = True,
        bias: bool = True,
        input_range: tuple[float, float] = (0.0, 1.0),
        target_range: tuple[float, float] = (0.2, 0.8),
        nodes: dict | None = None,
        backend: str = "auto",
        random_state=None,
    ):
        self.network = network
        self.rule = rule
        self.schedule = schedule
        self.steps = steps
        self.updates_per_edge = updates_per_edge
        self.batch_size = batch_size
        self.complement_inputs = complement_inputs
        self.bias = bias
        self.input_range = input_range
        self.target_range = target_range
        self.nodes = nodes
        self.backend = backend
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}

    def fit(self, X, y):
        """Train the network on features X (n_samples, n_features) and targets y
        (n_samples,) or (n_samples, n_outputs). Returns ``self``."""
        X, y = _validate_data(self, X, y, y_numeric=True, multi_output=True)
        checked = self._check_hyperparameters()
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        t_lo, t_hi = checked["target_range"]
        self.y_min_ = y2.min(axis=0)
        span = y2.max(axis=0) - self.y_min_
        self.y_scale_ = np.where(span > 0, span, 1.0)
        self._target_range = (t_lo, t_hi)
        volts = t_lo + (y2 - self.y_min_) / self.y_scale_ * (t_hi - t_lo)
        self._fit_voltages(X, volts, checked)
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted targets, shape (n_samples,) or (n_samples, n_outputs) as in ``fit``."""
        v = self._output_voltages(X)
        t_lo, t_hi = self._target_range
        y = self.y_min_ + (v - t_lo) / (t_hi - t_lo) * self.y_scale_
        return y[:, 0] if self._y_1d else y


class CircuitClassifier(ClassifierMixin, _CircuitEstimator):
    __doc__ = (
        """Classification with a resistor network trained by a local rule.

    ``encoding="one-hot"``: one output node per class, target ``target_range[1]`` V on the
    true class's node and ``target_range[0]`` V on the others; ``"levels"``: one output node,
    class ``c`` (in the order of ``classes_``) targets the ``c``-th of evenly spaced voltages
    in ``target_range``. Either way the predicted class is the one whose target voltages lie
    nearest (squared distance) to the outputs, and ``decision_function`` is minus that
    distance.
    """
        + _INIT_DOC
        + """
    encoding : {"one-hot", "levels"}

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    class_voltages_ : ndarray, shape (n_classes, n_outputs)
        Target output voltages (V) of each class.
    result_, network_, conductances_, history_, input_nodes_, output_nodes_, ground_nodes_,
    x_min_, x_scale_, n_features_in_
        As for ``CircuitRegressor``; ``history_`` also records accuracies.
    """
    )

    def __init__(
        self,
        network=None,
        rule=None,
        schedule=None,
        steps: int = 500,
        updates_per_edge: float | None = None,
        batch_size: int | None = None,
        complement_inputs: bool = True,
        bias: bool = True,
        input_range: tuple[float, float] = (0.0, 1.0),
        target_range: tuple[float, float] = (0.2, 0.8),
        encoding: str = "one-hot",
        nodes: dict | None = None,
        backend: str = "auto",
        random_state=None,
    ):
        self.network = network
        self.rule = rule
        self.schedule = schedule
        self.steps = steps
        self.updates_per_edge = updates_per_edge
        self.batch_size = batch_size
        self.complement_inputs = complement_inputs
        self.bias = bias
        self.input_range = input_range
        self.target_range = target_range
        self.encoding = encoding
        self.nodes = nodes
        self.backend = backend
        self.random_state = random_state

    def fit(self, X, y):
        """Train the network on features X (n_samples, n_features) and labels y
        (n_samples,). Returns ``self``."""
        X, y = _validate_data(self, X, y)
        check_classification_targets(y)
        checked = self._check_hyperparameters()
        if self.encoding not in ("one-hot", "levels"):
            raise ValidationError(f'encoding must be "one-hot" or "levels"; got {self.encoding!r}')
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValidationError(
                f"CircuitClassifier needs samples of at least 2 classes; got 1 class: "
                f"{self.classes_.tolist()}"
            )
        lo, hi = checked["target_range"]
        if self.encoding == "one-hot":
            self.class_voltages_ = np.where(np.eye(n_classes, dtype=bool), hi, lo)
            task_kw = {"encoding": "one-hot"}
        else:
            levels = np.linspace(lo, hi, n_classes)
            self.class_voltages_ = levels[:, None]
            task_kw = {"encoding": "levels", "levels": tuple(levels)}
        codes = enc.transform(y)
        self._fit_voltages(X, self.class_voltages_[codes], checked, **task_kw)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Minus the squared distance (V^2) of the outputs to each class's target voltages,
        shape (n_samples, n_classes); for two classes, shape (n_samples,), positive where
        the second class is nearer."""
        v = self._output_voltages(X)
        d2 = ((v[:, None, :] - self.class_voltages_[None, :, :]) ** 2).sum(axis=2)
        if len(self.classes_) == 2:
            return d2[:, 0] - d2[:, 1]
        return -d2

    def predict(self, X) -> np.ndarray:
        """Predicted class labels, shape (n_samples,)."""
        score = self.decision_function(X)
        if score.ndim == 1:
            return self.classes_[(score > 0).astype(int)]
        return self.classes_[np.argmax(score, axis=1)]


__all__ = ["CircuitClassifier", "CircuitRegressor", "DEFAULT_RULE", "crossbar"]
