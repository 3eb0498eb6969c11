"""``python -m circuitlearn.bench KIND EDGES``: one memory probe in this fresh interpreter,
printed as JSON (``harness.memory_in_subprocess`` runs it; ``circuitlearn bench`` is the
command users run)."""

from __future__ import annotations

import json
import sys

from .harness import memory_probe

if __name__ == "__main__":
    kind, n_edges = sys.argv[1], int(sys.argv[2])
    print(json.dumps(memory_probe(kind, n_edges)))
