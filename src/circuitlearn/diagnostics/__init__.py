"""Diagnostics of the learning mechanism: traps, escapes, exploration, function space and noise.

Each function answers one question that the error curves alone cannot (docs/diagnostics.md):

- ``local_minimum``: is an integer tap state a discrete local minimum of the training error
  over all single-tap moves?
- ``escape``: how many updates per edge does a schedule need, started from a state, to bring
  the training error below a threshold?
- ``best_visited``, ``saturation``, ``tap_msd``: what a recorded run visited, how much of it
  sat at an end tap, how far it moved in tap space per step.
- ``output_jacobian`` and ``function_space_covariance``: which conductance fluctuations the
  task sees (the range of ``J = dV_out/dk``) and which it does not (its null space).
- ``update_noise``: the relative variance of the displacement accumulated over ``tau`` updates
  per edge at a fixed state, for a schedule or a mini-batch: the quantity to match when
  comparing desynchronous and mini-batch noise.
- ``cluster_ci`` (defined in ``circuitlearn.analysis``, with the other statistics): a
  cluster-bootstrap interval for designs where several seeds share one network.

One module per question: ``traps`` (trap test, escape), ``trajectories`` (what a recorded
run visited; also the recurrence statistics of ``cl.analysis``), ``function_space``,
``noise``. Every name is importable from ``circuitlearn.diagnostics`` and
``circuitlearn.analysis``.

Units: conductances in S, voltages in V, errors in V^2, taps in positions (integers).
"""

from ..analysis import cluster_ci
from .function_space import FunctionSpaceCovariance, function_space_covariance, output_jacobian
from .noise import NoiseEstimate, update_noise
from .trajectories import best_visited, saturation, tap_msd
from .traps import ERROR_TIE, LocalMinimum, escape, local_minimum

__all__ = [
    "ERROR_TIE",
    "FunctionSpaceCovariance",
    "LocalMinimum",
    "NoiseEstimate",
    "best_visited",
    "cluster_ci",
    "escape",
    "function_space_covariance",
    "local_minimum",
    "output_jacobian",
    "saturation",
    "tap_msd",
    "update_noise",
]
