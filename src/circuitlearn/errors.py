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
