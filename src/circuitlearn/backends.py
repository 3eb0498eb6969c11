"""Factorisation backends of the reduced Laplacian ``L[U,U]`` and their registry.

Every backend implements one small protocol, ``Factor``: it is built once from the sparsity
pattern (the upper triangle of ``L[U,U]``, CSC), then ``refactor(data)`` takes new values for
that pattern (a numeric refactorisation, the symbolic analysis reused) and ``solve(rhs)``
returns ``L[U,U]^-1 rhs``. A backend may also modify its factor in place when a few
conductances change (``rank_update(ends, dk)``, with ``prefers_update(ends)`` its cost model):
``physics.LaplacianSolver`` uses that when the attribute exists.

``tests/test_backends.py`` runs every registered backend on every network of
``circuitlearn.gallery`` against an independent dense reference.

Backends: ``dense`` (LAPACK Cholesky, small systems), ``qdldl`` (sparse LDL^T, pip wheels),
``splu`` (SciPy SuperLU in symmetric mode, always available), ``cholmod`` (optional extra,
rank-r updates; ``circuitlearn.cholmod``).
"""

from __future__ import annotations

import warnings
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .cholmod import CholmodFactor
from .cholmod import available as cholmod_available
from .errors import ValidationError

#: Above this many free nodes ``backend="auto"`` picks a sparse factorisation.
DENSE_MAX_FREE = 300

#: ``auto_backend`` picks CHOLMOD (rank-r updates) when at most this fraction of the edges
#: changes between two settles; the factor still refactors whenever that is cheaper.
UPDATE_FRACTION_MAX = 0.005


@runtime_checkable
class Factor(Protocol):
    """The protocol every factorisation backend implements.

    A backend class is constructed as ``cls(upper)`` from the pattern ``upper`` (the upper
    triangle of ``L[U,U]``, ``scipy.sparse.csc_matrix`` of shape (n, n); its values are
    meaningless) and may raise ``ImportError`` when its library is missing.

    Optionally, a backend that can modify its factor in place also defines

    ``rank_update(ends, dk) -> bool``
        Change the factored matrix by ``sum_j dk_j b_j b_j^T``, where ``ends`` (r, 2) holds
        the rows of each changed edge's two ends (``-1`` where an end is fixed) and ``dk`` (r,)
        the conductance changes (S). Return False when the factor is spoilt (the caller then
        refactors from scratch).
    ``prefers_update(ends) -> bool``
        True when that update is modelled cheaper than a numeric refactorisation.
    """

    #: The registry name (``BACKENDS`` key).
    name: str
    #: Size of the factored system.
    n: int

    def refactor(self, data: np.ndarray) -> None:
        """Numeric factorisation for the values ``data`` (nnz,) of the pattern's entries, in
        the pattern's CSC order."""

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``L[U,U]^-1 rhs`` for ``rhs`` of shape (n,) or (n, m); same shape out."""


class DenseFactor:
    """Dense Cholesky (LAPACK); for small networks."""

    name = "dense"

    def __init__(self, upper: sp.csc_matrix):
        self._upper = upper.copy()
        self.n = upper.shape[0]

    def refactor(self, data: np.ndarray) -> None:
        self._upper.data[:] = data
        a = self._upper.toarray()
        a = a + np.triu(a, 1).T
        self._cho = sla.cho_factor(a, lower=False, check_finite=False)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return sla.cho_solve(self._cho, rhs, check_finite=False)


class QdldlFactor:
    """Sparse LDL^T from ``qdldl`` (pip wheels): symbolic analysis once, numeric refactor per
    step on the same pattern."""

    name = "qdldl"

    def __init__(self, upper: sp.csc_matrix):
        import qdldl

        self._qdldl = qdldl
        self._upper = upper.copy()
        self.n = upper.shape[0]
        self._solver = None

    def refactor(self, data: np.ndarray) -> None:
        self._upper.data[:] = data
        if self._solver is None:
            self._solver = self._qdldl.Solver(self._upper, upper=True)
        else:
            self._solver.update(self._upper, upper=True)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        if rhs.ndim == 1:
            return self._solver.solve(rhs)
        out = np.empty_like(rhs)
        for c in range(rhs.shape[1]):  # qdldl solves one right-hand side at a time
            out[:, c] = self._solver.solve(np.ascontiguousarray(rhs[:, c]))
        return out


class SpluFactor:
    """SciPy SuperLU in symmetric mode: the fallback when no other sparse backend imports."""

    name = "splu"

    def __init__(self, upper: sp.csc_matrix):
        self._upper = upper.copy()
        self.n = upper.shape[0]

    def refactor(self, data: np.ndarray) -> None:
        from scipy.sparse.linalg import splu

        self._upper.data[:] = data
        full = (self._upper + sp.triu(self._upper, 1).T).tocsc()
        # MMD on A^T + A with no pivoting: the symmetric mode, 1.1-9x faster than the defaults
        # on network Laplacians (SPD, so no pivoting is needed)
        self._lu = splu(
            full,
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options=dict(SymmetricMode=True),
        )

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return self._lu.solve(rhs)


#: Name -> backend class (constructed as ``cls(upper)``, see ``Factor``).
BACKENDS: dict[str, type] = {
    "dense": DenseFactor,
    "qdldl": QdldlFactor,
    "splu": SpluFactor,
    "cholmod": CholmodFactor,
}


def register_backend(name: str, cls: type) -> None:
    """Add a factorisation backend under ``name`` (usable as ``backend=name`` everywhere).

    ``cls(upper)`` must build an object following the ``Factor`` protocol.
    """
    if not isinstance(name, str) or not name or name == "auto":
        raise ValidationError(
            f"backend name must be a non-empty string other than 'auto'; got {name!r}"
        )
    missing = [m for m in ("refactor", "solve") if not callable(getattr(cls, m, None))]
    if missing:
        raise ValidationError(
            f"backend {name!r} must define refactor(data) and solve(rhs) (the Factor protocol); "
            f"{getattr(cls, '__name__', cls)!r} lacks {', '.join(missing)}"
        )
    BACKENDS[name] = cls


def auto_backend(n_free: int, change_fraction: float = 1.0) -> str:
    """The backend ``"auto"`` resolves to for ``n_free`` free nodes when about
    ``change_fraction`` of the edges change between two settles: dense for small systems,
    CHOLMOD (if installed) for sparse ones that change little, qdldl otherwise."""
    if n_free <= DENSE_MAX_FREE:
        return "dense"
    if change_fraction <= UPDATE_FRACTION_MAX and cholmod_available():
        return "cholmod"
    return "qdldl"


def make_backend(name: str, upper: sp.csc_matrix) -> Factor:
    """Build backend ``name`` (or ``"auto"``) for the pattern ``upper``.

    A backend whose library is missing falls back to ``qdldl`` (or ``splu``) with a one-line
    warning.
    """
    if name == "auto":
        name = auto_backend(upper.shape[0])
    if name not in BACKENDS:
        raise ValidationError(f"backend must be one of {['auto', *BACKENDS]}; got {name!r}")
    try:
        return BACKENDS[name](upper)
    except ImportError as exc:
        fallback = QdldlFactor if name != "qdldl" else SpluFactor
        hint = " (pip install 'circuitlearn[cholmod]')" if name == "cholmod" else ""
        warnings.warn(
            f"backend {name!r} unavailable ({exc}){hint}; using {fallback.name}", stacklevel=3
        )
        try:
            return fallback(upper)
        except ImportError:
            return SpluFactor(upper)


__all__ = [
    "BACKENDS",
    "DENSE_MAX_FREE",
    "UPDATE_FRACTION_MAX",
    "CholmodFactor",
    "DenseFactor",
    "Factor",
    "QdldlFactor",
    "SpluFactor",
    "auto_backend",
    "make_backend",
    "register_backend",
]
