"""``CircuitClassifier``: classification with a learning resistor network."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets

from ..errors import ValidationError
from .base import _INIT_DOC, _CircuitEstimator, _validate_data

__all__ = ["CircuitClassifier"]


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
