"""What each edge of a nonlinear network measures during a training step: the plug-in beside
``measure.TaskSystem`` (linear, response maps) for networks with diodes and transistors.

``NonlinearTaskSystem`` settles every example with Newton's method (``circuitlearn.nonlinear``),
warm started from that example's state of the previous step, and returns the same
``EdgeSignals`` as ``TaskSystem``: batch means of the squared drops (V^2) in two states, with a
replica axis of length 1. Which two states depends on ``rule.nudge``:

- a number ``eta`` (coupled learning): the free state (inputs and ground fixed) and the
  clamped state (outputs also fixed, at ``task.clamp(V_F, y, eta)``: ``V_F + eta (y - V_F)``,
  or the differential clamp of a ``readout="difference"`` task);
- a ``SoftNudge(low, high)`` (equilibrium propagation): the states nudged by a conductance
  ``low`` and ``high`` (S) from each output to a source at its target (0: the free state).

The edge parameters ``k`` are ``theta``: conductances (S) of resistors, gate voltages (V) of
transistors (``circuitlearn.elements``).
"""

from __future__ import annotations

import numpy as np

from .eqprop import SoftNudge
from .errors import ValidationError
from .measure import TaskSystem
from .network import Network
from .nonlinear import NewtonSolver
from .signals import EdgeSignals


class NonlinearTaskSystem:
    """Settles one nonlinear network on one task's examples, for the training loop.

    Parameters
    ----------
    net : Network
    task : Task
        Its inputs and ground are held in the free state (ground at 0 V).
    backend : str
        Factorisation of symmetric Jacobians (``NewtonSolver``).

    Attributes
    ----------
    free_solver, clamped_solver : NewtonSolver
        The free state's and the clamped state's solvers (their ``n_factorizations`` and
        ``n_settles`` count the work).
    """

    n_replicas = 1
    factor = None  # no stacked factor: the loop may compute a subset of edges

    def __init__(self, net, task, backend: str = "auto"):
        # like TaskSystem: lists (of one replica) keep the replica axis, single objects drop it
        self.squeeze = not isinstance(net, (list, tuple))
        if not self.squeeze:
            if len(net) != 1 or len(task) != 1:
                raise ValidationError(
                    f"a network with diode or transistor edges trains one replica at a time; "
                    f"got {len(net)} networks and {len(task)} tasks"
                )
            net, task = net[0], task[0]
        task.check_network(net)
        self.net, self.task = net, task
        self.n_edges = net.n_edges
        self.n_in, self.n_out = task.n_inputs, task.n_targets
        self.free_solver = NewtonSolver(net, task.source_nodes, backend=backend)
        clamp = np.concatenate([task.source_nodes, task.output_nodes])
        self.clamped_solver = NewtonSolver(net, clamp, backend=backend)
        self._ground = np.zeros(task.ground_nodes.size)
        self._theta: np.ndarray | None = None
        self._states: dict = {}  # warm starts: (kind, example bytes) -> state (N,)
        self.backend = "newton"

    # -- the loop's interface
    def settle(self, k, rows=None) -> None:
        """Set the edge parameters ``k`` (E,) or (1, E)."""
        k = np.asarray(k, dtype=np.float64).reshape(-1, self.n_edges)[0]
        if self._theta is not None and np.array_equal(k, self._theta):
            return
        self._theta = k.copy()
        self.free_solver.set_parameters(k)
        self.clamped_solver.set_parameters(k)

    def invalidate(self) -> None:
        """Forget the warm starts (a resumed run starts as a fresh one)."""
        self._states = {}

    def _settle(self, kind: str, solver: NewtonSolver, values, x, nudge=None) -> np.ndarray:
        key = (kind, np.asarray(x).tobytes())
        v0 = self._states.get(key)
        if v0 is None and kind != "free":
            v0 = self._states.get(("free", key[1]))
        v = solver.settle_one(values, v0, nudge)
        self._states[key] = v
        return v

    def free_states(self, x: np.ndarray) -> np.ndarray:
        """Free states (M, N) in V for inputs ``x`` (M, n_in)."""
        return np.stack(
            [
                self._settle("free", self.free_solver, np.concatenate([xi, self._ground]), xi)
                for xi in np.asarray(x, dtype=np.float64).reshape(-1, self.n_in)
            ]
        )

    def outputs(self, x: np.ndarray, rows=None) -> np.ndarray:
        """The task's readout of the free state (1, M, n_targets) for inputs ``x`` (M, n_in),
        in V; (M, n_targets) for a system built from single objects."""
        x = np.asarray(x, dtype=np.float64)
        out = self.task.read(self.free_states(x.reshape(-1, self.n_in))[:, self.task.output_nodes])
        return out if self.squeeze else out[None]

    def states(self, x: np.ndarray, y: np.ndarray, nudge) -> tuple[np.ndarray, np.ndarray]:
        """The two states (M, N) each of the batch ``(x, y)`` is measured in (see the module
        docstring): ``(free or low-nudged, clamped or high-nudged)``."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.n_in)
        y = np.asarray(y, dtype=np.float64).reshape(-1, self.n_out)
        free = self.free_states(x)
        out = self.task.output_nodes
        if isinstance(nudge, SoftNudge):
            if self.task.readout != "voltage":
                raise ValidationError(
                    f"EquilibriumPropagation nudges output voltages toward their targets; "
                    f"task {self.task.name!r} has readout={self.task.readout!r}: train it with "
                    "CoupledLearning"
                )
            kinds = {el.kind for el, _ in self.net.element_groups}
            if "transistor" in kinds:
                raise ValidationError(
                    "EquilibriumPropagation needs an energy (a co-content) whose minimum is the "
                    "settled state; transistor edges have none: train this network with "
                    "CoupledLearning"
                )
            pair = []
            for beta in (nudge.low, nudge.high):
                if beta == 0:
                    pair.append(free)
                    continue
                pair.append(
                    np.stack(
                        [
                            self._settle(
                                f"nudge {beta!r}",
                                self.free_solver,
                                np.concatenate([xi, self._ground]),
                                np.concatenate([xi, yi]),
                                (out, beta, yi),
                            )
                            for xi, yi in zip(x, y, strict=True)
                        ]
                    )
                )
            return pair[0], pair[1]
        target = self.task.clamp(free[:, out], y, float(nudge))
        clamped = np.stack(
            [
                self._settle(
                    "clamped",
                    self.clamped_solver,
                    np.concatenate([xi, self._ground, ti]),
                    np.concatenate([xi, yi]),
                )
                for xi, yi, ti in zip(x, y, target, strict=True)
            ]
        )
        return free, clamped

    def signals(
        self,
        x,
        y,
        eta,
        clamped: bool = True,
        gradient: bool = False,
        examples: bool = False,
        edges=None,
        rows=None,
    ) -> EdgeSignals:
        """Batch means of the squared drops (1, E) in the two states of ``states`` (``eta``
        is the rule's ``nudge``); per-example drops (1, b, E) when ``examples``. Every edge is
        computed (``edges`` is accepted for the loop's sake)."""
        if gradient:
            raise ValidationError(
                "GradientDescent needs the adjoint of a linear network; a nonlinear network "
                "trains with CoupledLearning or EquilibriumPropagation"
            )
        e = self.net.edges
        lo, hi = self.states(x, y, eta)
        d_lo = lo[:, e[:, 0]] - lo[:, e[:, 1]]
        d_hi = hi[:, e[:, 0]] - hi[:, e[:, 1]]
        sig = EdgeSignals(
            free_sq=np.mean(d_lo**2, axis=0)[None],
            clamped_sq=np.mean(d_hi**2, axis=0)[None] if clamped else None,
            free=d_lo[None] if examples else None,
            clamped=d_hi[None] if examples and clamped else None,
        )
        if self.squeeze:
            return EdgeSignals(**{n: None if v is None else v[0] for n, v in vars(sig).items()})
        return sig

    def cost(self, x, y) -> float:
        """Mean over the batch of ``1/2 sum_outputs (V_out - y)**2`` (V^2) in the free state:
        the cost equilibrium propagation descends."""
        v = self.outputs(x).reshape(-1, self.n_out)
        return float(0.5 * np.mean(np.sum((v - np.asarray(y).reshape(v.shape)) ** 2, axis=1)))


def task_system(nets, tasks, backend: str = "auto"):
    """The measuring kernel of the training loop for ``nets`` on ``tasks`` (single objects, or
    lists of replicas): ``measure.TaskSystem`` for linear networks, ``NonlinearTaskSystem``
    (one replica) for networks with diode or transistor edges."""
    first = nets[0] if isinstance(nets, (list, tuple)) else nets
    if isinstance(first, Network) and not first.is_linear:
        return NonlinearTaskSystem(nets, tasks, backend)
    return TaskSystem(nets, tasks, backend)


__all__ = ["NonlinearTaskSystem", "task_system"]
