"""``CircuitRegressor``: regression with a learning resistor network."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin

from .base import _INIT_DOC, _CircuitEstimator, _validate_data

__all__ = ["CircuitRegressor"]


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
