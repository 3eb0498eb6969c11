"""Exceptions raised for bad input. Every message names the field, the bad value and the fix."""

from __future__ import annotations


class ValidationError(ValueError):
    """Bad input to a public entry point (a subclass of ``ValueError``)."""


class FloatingNodesError(ValidationError):
    """Free nodes with no conducting path to any fixed node: their voltage is undefined."""

    def __init__(self, nodes):
        self.nodes = tuple(int(n) for n in nodes)
        shown = ", ".join(map(str, self.nodes[:20])) + (" ..." if len(self.nodes) > 20 else "")
        super().__init__(
            f"network is not solvable: free nodes [{shown}] ({len(self.nodes)} in all) have no "
            "path to any fixed (input, ground or output) node, so their voltages are undefined. "
            "Connect them to the rest of the network, or add one of them to the fixed nodes."
        )


class ConvergenceError(ValidationError):
    """Newton's iteration on a nonlinear network did not settle: ``iterations`` taken, the
    largest current ``residual`` (A) left at a free node, that ``node``, and the last iterate
    ``state`` (node voltages, V) when known."""

    def __init__(self, message: str, iterations: int, residual: float, node: int, state=None):
        super().__init__(message)
        self.iterations = iterations
        self.residual = residual
        self.node = node
        self.state = state


class TrainingDiverged(ArithmeticError):
    """Training produced a non-finite error or conductance; ``step`` is where it was seen and
    ``result`` the run up to the last finite record (or None)."""

    def __init__(self, message: str, step: int, result=None):
        super().__init__(message)
        self.step = step
        self.result = result


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; ``result`` holds the run up to the interruption (its config says
    ``complete = false``) so that nothing finished is lost."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result
