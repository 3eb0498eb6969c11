"""circuitlearn: resistor networks that learn by coupled learning, synchronously or not."""

from . import analysis, elements, ensemble, gallery, nonlinear, plots, sweep, tasks, train
from ._version import __version__
from .config import load_config, run_config
from .elements import Diode, Resistor, Transistor
from .eqprop import EquilibriumPropagation
from .errors import ConvergenceError, FloatingNodesError, ValidationError
from .hardware import SteppedCoupledLearning
from .network import Network
from .physics import LaplacianSolver, edge_drops, node_currents, power, solve
from .results import sweep_histories, sweep_table
from .rules import CoupledLearning, GradientDescent, Rule
from .schedules import Bernoulli, PoissonClocks, RandomSubset, Schedule, Staggered, Synchronous
from .signals import EdgeSignals, RuleState
from .spice import to_spice
from .store import load, save
from .tasks import Task
from .train import TrainResult


def __getattr__(name: str):
    # The scikit-learn estimators import scikit-learn: load them on first use only.
    if name in ("CircuitClassifier", "CircuitRegressor"):
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'circuitlearn' has no attribute {name!r}")


__all__ = [
    "__version__",
    "Bernoulli",
    "CircuitClassifier",
    "CircuitRegressor",
    "ConvergenceError",
    "CoupledLearning",
    "Diode",
    "EdgeSignals",
    "EquilibriumPropagation",
    "FloatingNodesError",
    "GradientDescent",
    "LaplacianSolver",
    "Network",
    "PoissonClocks",
    "RandomSubset",
    "Resistor",
    "Rule",
    "RuleState",
    "Schedule",
    "Staggered",
    "SteppedCoupledLearning",
    "Synchronous",
    "Task",
    "TrainResult",
    "Transistor",
    "ValidationError",
    "edge_drops",
    "elements",
    "nonlinear",
    "node_currents",
    "power",
    "solve",
    "tasks",
    "train",
    "save",
    "load",
    "plots",
    "analysis",
    "gallery",
    "ensemble",
    "load_config",
    "run_config",
    "sweep",
    "sweep_histories",
    "sweep_table",
    "to_spice",
]
