"""What the two scikit-learn estimators share: parameter handling (nested ``rule__lr``),
hyperparameter checks, the encoding of features as voltages, the network and its node roles,
and the training run. How data becomes voltages: see ``circuitlearn.estimators``.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._validation import in_range, node_list
from ..errors import ValidationError
from ..gallery import crossbar, lab_board
from ..network import Network
from ..rules import CoupledLearning, Rule
from ..schedules import Schedule, Synchronous, steps_for
from ..tasks import Task
from ..train import TrainResult, train

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
            steps = max(1, steps_for(checked["updates_per_edge"], schedule, net.n_edges))
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
        errors = result.history["train_error"].to_numpy()
        if len(errors) > 1 and not errors[-1] < errors[0]:
            warnings.warn(
                f"training did not reduce the training error ({errors[0]:.4g} -> "
                f"{errors[-1]:.4g} V^2 after {steps} steps): the network, its node roles or the "
                "learning rate may not suit this data (see history_)",
                ConvergenceWarning,
                stacklevel=3,
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
