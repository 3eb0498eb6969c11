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

One module per job: ``base`` (parameters, checks, encoding, network and node roles, training),
``regressor``, ``classifier``.
"""

from ..gallery import crossbar
from .base import DEFAULT_RULE, NESTED  # noqa: F401  (NESTED: the nested parameters)
from .classifier import CircuitClassifier
from .regressor import CircuitRegressor

__all__ = ["CircuitClassifier", "CircuitRegressor", "DEFAULT_RULE", "crossbar"]
