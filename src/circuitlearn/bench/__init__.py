"""Benchmarks of the fast paths (docs/design.md §8): ``circuitlearn bench [--quick]``.

``baselines``: the floor and the per-example approach (also an oracle for one update) and the
benchmark task; ``harness``: timing and memory measurements of ``cl.train`` runs;
``nonlinear``: Newton's settle against the linear solve and ngspice; ``report``:
the sections, their sizes (``QUICK``, ``FULL``) and the targets. ``python -m circuitlearn.bench``
only serves the memory probe's fresh interpreter.
"""

from __future__ import annotations

from .baselines import ETA, LR, N_IN, N_OUT, bench_task, floor_time, per_example_step
from .harness import desync_deviation, graph, memory_probe, step_time
from .nonlinear import factorizations_per_settle, nonlinear_circuit, settle_comparison
from .report import FULL, QUICK, Plan, run_bench

__all__ = [
    "ETA",
    "FULL",
    "LR",
    "N_IN",
    "N_OUT",
    "QUICK",
    "Plan",
    "bench_task",
    "desync_deviation",
    "factorizations_per_settle",
    "floor_time",
    "graph",
    "memory_probe",
    "nonlinear_circuit",
    "per_example_step",
    "run_bench",
    "settle_comparison",
    "step_time",
]
