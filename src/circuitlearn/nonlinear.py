"""The settled state of a network with nonlinear edges: damped Newton on Kirchhoff's current law.

The unknowns are the free node voltages ``V[U]`` (V); the residual is the net current (A) leaving
each free node through its edges, ``r = B[:, U].T i(V)``, with ``i`` the element laws of
``circuitlearn.elements``. Newton's step solves ``J dV = -r`` with ``J = dr/dV[U]``:

- networks of resistors and diodes (every current a function of its drop) have
  ``J = L[U,U](g)``, the reduced Laplacian of the small-signal conductances ``g = di/d(dv)``:
  symmetric positive definite, factored by ``physics.LaplacianSolver`` on its sparsity pattern
  analysed once (any ``backends`` factorisation: dense, qdldl, CHOLMOD, SuperLU);
- a transistor's current depends on both node voltages relative to its gate, so ``J`` is not
  symmetric: it is assembled on a fixed pattern (analysed once) and factored by SciPy's SuperLU.

Each node of a diode moves by at most ``10 n v_t`` per step (so that no exponential is overshot
far; ``max_step`` sets one limit for all nodes instead), then the step is halved until the
residual's norm falls (Armijo backtracking; where no fraction down to 1/1000 decreases it, the
whole limited step is taken). In the step only, every edge conducts at least ``g_floor`` times the
largest edge conductance, so that a node hanging on cut-off transistors or deeply reverse-biased
diodes leaves the step defined; the residual, and so the answer, uses the exact laws. The
iteration stops when every free node's residual is at most ``atol + rtol *`` the gross current
through its edges (their currents and small-signal conductances times the largest voltage: the
residual cannot be computed more accurately than that); it is warm started from the previous
settled state, and each step is first tried with the last factorised Jacobian (chord Newton),
kept if it shrinks the residual tenfold. Where it does not settle, the fixed voltages are ramped up
from 0 (source stepping). Non-convergence raises ``ConvergenceError`` naming the iteration, the
residual and the worst node; free nodes left with no conducting path to a fixed node at the
settled state (behind cut-off transistors) raise a ``ValidationError`` naming them.

This module knows nothing about learning.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from ._validation import finite_array, fixed_value_batch, in_range
from .elements import Diode
from .errors import ConvergenceError, ValidationError
from .network import Network
from .physics import LaplacianSolver


class NewtonSolver:
    """Settles one nonlinear network for one choice of fixed nodes, for any edge parameters.

    Parameters
    ----------
    net : Network
        Any mix of elements (a linear network works too: one Newton step).
    fixed_nodes : sequence of int, shape (F,)
        Nodes whose voltages are imposed; all others are free.
    backend : str
        Factorisation of the symmetric Jacobian (resistors and diodes), as for
        ``LaplacianSolver``; networks with transistors use SuperLU.
    rtol, atol : float
        Convergence: every free node's residual current is at most ``atol + rtol * s_u`` (A),
        ``s_u`` the gross current through its edges, ``sum |i_j| + (|di_j/dv_a| +
        |di_j/dv_b|) max |V|``, plus the current through a nudge there.
    max_iter : int
        Newton iterations allowed per settle.
    max_step : float or None
        Largest move of any node's voltage per iteration (V); None: ``10 n v_t`` of the
        sharpest diode at the nodes of diodes, unlimited at the other nodes.
    g_floor : float
        In Newton's step only, every edge conducts at least this fraction of the largest edge
        conductance (the answer is unaffected).
    chord : bool
        Try each step first with the last factorised Jacobian (kept across settles, so that a
        warm start after a small parameter change often needs no factorisation); the step is
        kept only if it shrinks the residual's norm tenfold, else the Jacobian is factorised afresh.

    Attributes
    ----------
    n_factorizations : int
        Jacobian factorisations so far (all settles; a cold start's linear solve counts one).
    n_chord_steps : int
        Steps taken with a kept factorisation instead of a new one.
    n_settles : int
        States settled so far (one per example).
    last_iterations : int
        Newton iterations of the last settled state.
    """

    #: On non-convergence, an edge conducting less than this fraction of the largest edge
    #: conductance counts as not conducting when naming the nodes that hang on such edges.
    leak_ratio: float = 1e-6
    #: Stages allowed to source stepping (each up to ``max_iter`` iterations).
    max_stages: int = 40

    def __init__(
        self,
        net: Network,
        fixed_nodes: Sequence[int],
        backend: str = "auto",
        rtol: float = 1e-12,
        atol: float = 0.0,
        max_iter: int = 100,
        max_step: float | None = None,
        g_floor: float = 1e-12,
        chord: bool = True,
    ):
        self.linear = LaplacianSolver(net, fixed_nodes, backend=backend, small_signal=True)
        rtol = in_range("rtol", rtol, 0, 1, low_open=True, high_open=True)
        atol = in_range("atol", atol, 0, None, high_open=True)
        max_iter = in_range("max_iter", max_iter, 1, None, integer=True)
        g_floor = in_range("g_floor", g_floor, 0, 1, high_open=True)
        if max_step is not None:
            max_step = in_range("max_step", max_step, 0, None, low_open=True, high_open=True)
        self.net = net
        self.fixed, self.free = self.linear.fixed, self.linear.free
        self.groups = net.element_groups
        self.symmetric = all(el.drop_only for el, _ in self.groups)
        self.rtol, self.atol, self.max_iter, self.g_floor = rtol, atol, max_iter, g_floor
        e = net.edges
        self._a, self._b = e[:, 0], e[:, 1]
        fa, fb = self.linear.free_index[self._a], self.linear.free_index[self._b]
        self._fa, self._fb = fa, fb
        self._ma, self._mb = fa >= 0, fb >= 0
        self.max_step = max_step
        # each free node's largest move per iteration (V): 10 n v_t of its sharpest diode,
        # unlimited for nodes without diodes (Newton is exact on resistors and the line search
        # guards the transistors' quadratic laws), or max_step everywhere
        self._step = np.full(self.free.size, np.inf if max_step is None else float(max_step))
        if max_step is None:
            for el, idx in self.groups:
                if isinstance(el, Diode):
                    for ends in (fa[idx], fb[idx]):
                        ends = ends[ends >= 0]
                        np.minimum.at(self._step, ends, 10 * el.n_vt)
        # edges between two fixed nodes do not enter the settle (and a diode there may be
        # forward-biased far beyond the others): the solver evaluates only the rest
        live = self._ma | self._mb
        self._live_groups = [(el, idx[live[idx]]) for el, idx in self.groups]
        if not self.symmetric and self.free.size:
            self._build_pattern()
        # each diagonal entry of the linear solver's upper CSC pattern ends its column
        self._diag_slot = self.linear.pattern.indptr[1:] - 1
        self._theta = None
        self._last: np.ndarray | None = None
        self.chord = bool(chord)
        self._cached = None  # (nudge key, solve) of the last factorised Jacobian
        self.n_factorizations = 0
        self.n_chord_steps = 0
        self.n_settles = 0
        self.last_iterations = 0

    def _build_pattern(self) -> None:
        """The full CSC pattern of ``J`` (n_U x n_U) and each local entry's slot in it."""
        fa, fb, ma, mb = self._fa, self._fb, self._ma, self._mb
        both = ma & mb
        # local entries in the order _matrix writes them:
        # (a, a): ga, (b, b): -gb, (a, b): gb, (b, a): -ga
        rows = np.concatenate([fa[ma], fb[mb], fa[both], fb[both]])
        cols = np.concatenate([fa[ma], fb[mb], fb[both], fa[both]])
        nu = max(self.free.size, 1)
        entries, self._slot = np.unique(cols * nu + rows, return_inverse=True)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(entries // nu, minlength=nu))])
        self._pattern = sp.csc_matrix(
            (np.ones(entries.size), (entries % nu).astype(np.int32), indptr.astype(np.int32)),
            shape=(self.free.size, self.free.size),
        )

    # -- parameters
    def set_parameters(self, theta, name: str = "theta") -> None:
        """Set the edge parameters ``theta`` (E,): conductance (S) of resistors, gate voltage
        (V) of transistors, ignored for diodes; each checked against its element's range."""
        theta = self.net.check_parameters(theta, name)
        self._theta = theta.copy()

    # -- element laws over all edges
    def edge_currents(self, v: np.ndarray) -> np.ndarray:
        """Current (A) along each edge, from ``edges[:, 0]`` to ``edges[:, 1]``, shape (E,),
        for node voltages ``v`` (N,)."""
        va, vb, th = v[self._a], v[self._b], self._theta
        out = np.empty(self.net.n_edges)
        for el, idx in self.groups:
            out[idx] = el.current(va[idx], vb[idx], th[idx])
        return out

    def _currents(self, v: np.ndarray) -> np.ndarray:
        """Edge currents (A), zero on edges between two fixed nodes."""
        va, vb, th = v[self._a], v[self._b], self._theta
        out = np.zeros(self.net.n_edges)
        for el, idx in self._live_groups:
            out[idx] = el.current(va[idx], vb[idx], th[idx])
        return out

    def _derivatives(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(di/dv_a, di/dv_b)`` (S), zero on edges between two fixed nodes."""
        va, vb, th = v[self._a], v[self._b], self._theta
        ga, gb = np.zeros(self.net.n_edges), np.zeros(self.net.n_edges)
        for el, idx in self._live_groups:
            ga[idx], gb[idx] = el.derivatives(va[idx], vb[idx], th[idx])
        return ga, gb

    def residual(self, v: np.ndarray, nudge: tuple | None = None) -> np.ndarray:
        """Net current (A) leaving each free node, shape (n_U,): zero when settled.

        ``nudge``, optional: ``(nodes, beta, targets)``, a conductance ``beta`` (S) from each of
        the free ``nodes`` (n,) to a source at its ``targets`` (n,) V: the current
        ``beta * (targets - V[nodes])`` is injected there (equilibrium propagation's soft
        nudge; ``beta`` may be negative)."""
        return self._residual(v, self._nudge(nudge))[0]

    def _nudge(self, nudge):
        """``(rows in the reduced system, beta, targets)`` of a nudge, or None."""
        if nudge is None:
            return None
        nodes, beta, targets = nudge
        rows = self.linear.free_index[np.asarray(nodes)]
        if (rows < 0).any():
            raise ValidationError("a nudge acts on free nodes only; got a fixed node")
        return rows, float(beta), np.asarray(targets, np.float64)

    def _to_free(self, per_edge: np.ndarray, sign_b: float) -> np.ndarray:
        """Sum an edge quantity onto the free nodes: ``+`` at the first end, ``sign_b`` at the
        second, shape (n_U,)."""
        nu = self.free.size
        out = np.bincount(self._fa[self._ma], weights=per_edge[self._ma], minlength=nu)
        out = out + sign_b * np.bincount(
            self._fb[self._mb], weights=per_edge[self._mb], minlength=nu
        )
        return out.astype(np.float64, copy=False)  # bincount of no edges is an integer array

    def _residual(self, v: np.ndarray, nudge):
        """The residual (n_U,) and the edge currents (E,)."""
        i = self._currents(v)
        r = self._to_free(i, -1.0)
        if nudge is not None:
            rows, beta, targets = nudge
            r[rows] += beta * (v[self.free[rows]] - targets)
        return r, i

    def _tolerance(self, v, i, ga, gb, nudge) -> np.ndarray:
        """Residual allowed at each free node (A): ``atol`` plus ``rtol`` times the gross
        currents through its edges, ``|i| + (|di/dv_a| + |di/dv_b|) max|V|`` (the residual can
        be no more accurate than the round-off of its terms), and through its nudge."""
        vmax = float(np.abs(v).max())
        if not self.symmetric:  # a transistor's current is computed from its gate voltage
            vmax = max(vmax, float(np.abs(self._theta).max()))
        gross = np.abs(i) + (np.abs(ga) + np.abs(gb)) * vmax
        scale = self._to_free(gross, 1.0)
        if nudge is not None:
            rows, beta, targets = nudge
            scale[rows] += abs(beta) * (vmax + np.abs(targets))
        return self.atol + self.rtol * scale

    def jacobian(self, v: np.ndarray) -> sp.csc_matrix:
        """``J = d residual / d V[U]`` (S), sparse (n_U, n_U), exact (no floor)."""
        ga, gb = self._derivatives(v)
        return self._matrix(ga, gb)

    def _matrix(self, ga: np.ndarray, gb: np.ndarray) -> sp.csc_matrix:
        if self.symmetric:  # J = L[U,U](ga), on the linear solver's pattern
            up = self.linear.pattern.copy()
            up.data = self.linear.data_map @ ga
            return (up + sp.triu(up, 1).T).tocsc()
        ma, mb, both = self._ma, self._mb, self._ma & self._mb
        vals = np.concatenate([ga[ma], -gb[mb], gb[both], -ga[both]])
        j = self._pattern.copy()
        j.data = np.bincount(self._slot, weights=vals, minlength=j.nnz)
        return j

    def _factor_step(self, ga: np.ndarray, gb: np.ndarray, r: np.ndarray, nudge=None):
        """Newton direction ``-J^-1 r`` for the derivatives ``ga``, ``gb`` (E,) (and a nudge's
        conductances on the diagonal), each edge conducting at least the floor."""
        floor = self.g_floor * max(
            float(np.abs(ga).max(initial=0.0)), float(np.abs(gb).max(initial=0.0)), 1e-300
        )
        self.n_factorizations += 1
        self._cached = None
        key = self._nudge_key(nudge)
        if self.symmetric:
            lin = self.linear
            if nudge is None:
                lin.update(np.maximum(ga, floor))
                self._cached = (key, lin.solve_reduced)
                return -lin.solve_reduced(r)
            data = lin.data_map @ np.maximum(ga, floor)
            data[self._diag_slot[nudge[0]]] += nudge[1]
            lin.invalidate()  # the factor will no longer hold L(k) of any k
            try:
                lin.factor.refactor(data)
            except (np.linalg.LinAlgError, ValueError, RuntimeError) as exc:
                raise ConvergenceError(
                    f"the Jacobian with the nudge beta={nudge[1]!r} S is not positive definite "
                    f"({exc}): a negative nudge must be weaker than the network's conductances",
                    0,
                    float("nan"),
                    -1,
                ) from None
            self._cached = (key, lin.factor.solve)
            return -lin.factor.solve(r)
        # a floor conductance across every edge: +floor on the drop's derivatives
        jac = self._matrix(ga + floor, gb - floor)
        if nudge is not None:
            n = self.free.size
            rows = nudge[0]
            jac = (
                jac + sp.csc_matrix((np.full(rows.size, nudge[1]), (rows, rows)), (n, n))
            ).tocsc()
        try:
            lu = splu(jac)
        except RuntimeError as exc:  # exactly singular even with the floor
            raise ConvergenceError(
                f"the Jacobian is singular at a Newton iteration ({exc})", 0, float("nan"), -1
            ) from None
        self._cached = (key, lu.solve)
        return -lu.solve(r)

    @staticmethod
    def _nudge_key(nudge) -> tuple | None:
        """What a factor depends on besides the state: the nudge's nodes and conductance."""
        return None if nudge is None else (nudge[0].tobytes(), nudge[1])

    def _chord_step(self, v, r, phi, nudge):
        """A step with the last factorised Jacobian (chord Newton), when one for this nudge is
        kept: ``(state, residual, currents)`` if it shrinks the residual's norm at least
        tenfold, else None."""
        if not self.chord or self._cached is None or self._cached[0] != self._nudge_key(nudge):
            return None
        d = np.clip(-self._cached[1](r), -self._step, self._step)
        trial = v.copy()
        trial[self.free] += d
        r_new, i_new = self._residual(trial, nudge)
        if not float(r_new @ r_new) <= 0.01 * phi:
            return None
        self.n_chord_steps += 1
        return trial, r_new, i_new

    # -- settles
    def _initial(self, values: np.ndarray) -> np.ndarray:
        """Cold start: the linear network with resistors at their conductance and every other
        edge at the median resistor conductance (1 S without resistors); one factorisation."""
        k = np.ones(self.net.n_edges)
        res = [idx for el, idx in self.groups if el.kind == "resistor"]
        if res:
            ridx = np.concatenate(res)
            k[:] = np.median(self._theta[ridx])
            k[ridx] = self._theta[ridx]
        self.linear.update(k)
        self.n_factorizations += 1
        if self.symmetric:
            self._cached = None  # the linear solver's factor now holds L(k)
        return self.linear.settle(values)

    def settle_one(
        self, values: np.ndarray, v0: np.ndarray | None = None, nudge: tuple | None = None
    ) -> np.ndarray:
        """Node voltages (N,) in V with the fixed nodes at ``values`` (F,), warm started from
        ``v0`` (N,) when given; ``nudge`` as for ``residual``.

        When Newton's iteration does not settle, the fixed voltages (and the nudge's targets)
        are ramped up from 0, where every node sits at 0 V, each stage warm started from the
        last (source stepping, as SPICE does); ``last_iterations`` counts all iterations."""
        if self._theta is None:
            raise RuntimeError("call set_parameters(theta) before settling")
        values = np.asarray(values, dtype=np.float64)
        v = self._initial(values) if v0 is None else np.array(v0, dtype=np.float64)
        self.last_iterations = 0
        try:
            v = self._newton(values, v, nudge)
        except ConvergenceError as direct:
            try:
                v = self._source_stepping(values, nudge)
            except ConvergenceError:
                self._diagnose(direct.state)
                raise direct from None
        self.n_settles += 1
        self._check_conducting(v)
        return v

    def _source_stepping(self, values: np.ndarray, nudge) -> np.ndarray:
        """Settle with the fixed voltages and nudge targets scaled by ``s``, ``s`` ramped
        from 0 to 1 in stages that shrink where a stage fails."""
        v = np.zeros(self.net.n_nodes)
        s, ds = 0.0, 0.125
        for _ in range(self.max_stages):
            if s >= 1.0:
                break
            s_next = min(1.0, s + ds)
            scaled = None if nudge is None else (nudge[0], nudge[1], s_next * np.asarray(nudge[2]))
            try:
                v = self._newton(s_next * values, v, scaled)
            except ConvergenceError:
                ds /= 4
                if ds < 1e-3:
                    raise
                continue
            s, ds = s_next, 2 * ds
        if s < 1.0:
            raise ConvergenceError(
                f"source stepping reached only {s:.3g} of the fixed voltages in "
                f"{self.max_stages} stages",
                self.last_iterations,
                float("nan"),
                -1,
            )
        return v

    def _newton(self, values: np.ndarray, v: np.ndarray, nudge) -> np.ndarray:
        """Damped Newton from ``v`` (N,); raises ``ConvergenceError`` (with the last iterate as
        ``state``) after ``max_iter`` iterations."""
        with np.errstate(over="ignore", invalid="ignore"):
            # an exponential that overflows at a trial point is a step to shorten, not an error
            return self._damped_newton(values, v, nudge)

    def _damped_newton(self, values: np.ndarray, v: np.ndarray, nudge) -> np.ndarray:
        v = v.copy()
        v[self.fixed] = values
        inj = self._nudge(nudge)
        u = self.free
        r, i = self._residual(v, inj)
        for it in range(self.max_iter + 1):
            ga, gb = self._derivatives(v)
            tol = self._tolerance(v, i, ga, gb, inj)
            excess = np.divide(np.abs(r), tol, out=np.where(r == 0, 0.0, np.inf), where=tol > 0)
            worst = int(np.argmax(excess)) if r.size else 0
            if not r.size or excess[worst] <= 1.0:
                break
            if it == self.max_iter:
                self.last_iterations += it
                raise ConvergenceError(
                    f"Newton's iteration did not settle in max_iter={self.max_iter} steps (nor "
                    f"by source stepping): the residual current at node {u[worst]} is "
                    f"{abs(r[worst]):.3e} A, {excess[worst]:.2g} times its tolerance; raise "
                    "max_iter, or check the circuit for nodes that cannot carry current",
                    it,
                    float(abs(r[worst])),
                    int(u[worst]),
                    state=v,
                )
            phi, t = float(r @ r), 1.0
            chord = self._chord_step(v, r, phi, inj)
            if chord is not None:
                v, r, i = chord
                continue
            # a diode's node moves at most 10 n v_t (as SPICE limits each junction's voltage),
            # so that no exponential is overshot far
            d = np.clip(self._factor_step(ga, gb, r, inj), -self._step, self._step)
            while True:
                trial = v.copy()
                trial[u] += t * d
                r_new, i_new = self._residual(trial, inj)
                if float(r_new @ r_new) <= (1.0 - 1e-4 * t) * phi:
                    break
                if t < 1e-3:  # no decrease along d: take the whole (limited) step
                    trial = v.copy()
                    trial[u] += d
                    r_new, i_new = self._residual(trial, inj)
                    break
                t *= 0.5
            v, r, i = trial, r_new, i_new
        self.last_iterations += it
        return v

    def settle(self, fixed_values, v0=None) -> np.ndarray:
        """Node voltages (V) with the fixed nodes at ``fixed_values``.

        Parameters
        ----------
        fixed_values : array, shape (F,) or (M, F)
            Voltages of ``fixed_nodes``, in their order; a 2-D array is a batch of M examples.
        v0 : array, shape (N,) or (M, N), optional
            Starting guess; by default the previous settled state of the same batch size
            (warm start), else a linear solve.

        Returns
        -------
        ndarray, shape (N,) or (M, N)
        """
        batch = fixed_value_batch(fixed_values, self.fixed.size)
        if v0 is not None:
            start = finite_array("v0", v0, ndim=(1, 2))
            if start.shape[-1] != self.net.n_nodes or start.size // start.shape[-1] != len(batch):
                raise ValidationError(
                    f"v0 must have shape ({self.net.n_nodes},) or ({len(batch)}, "
                    f"{self.net.n_nodes}), one state per example; got {start.shape}"
                )
            start = start.reshape(-1, self.net.n_nodes)
        elif self._last is not None and self._last.shape[0] == batch.shape[0]:
            start = self._last
        else:
            start = [None] * batch.shape[0]
        out = np.stack([self.settle_one(x, s) for x, s in zip(batch, start, strict=True)])
        self._last = out
        return out[0] if np.ndim(fixed_values) == 1 else out

    def _unanchored(self, v: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Free nodes that reach no fixed node through resistors or through edges conducting
        more than ``threshold`` times the weakest resistor (or, without resistors, the largest
        conductance of an edge with a free end) at ``v``, and the non-conducting edges that
        touch them."""
        ga, gb = self._derivatives(v)
        g = np.maximum(np.abs(ga), np.abs(gb))
        touches_free = self._ma | self._mb
        resistor = np.zeros(self.net.n_edges, bool)
        for el, idx in self.groups:
            resistor[idx] = el.kind == "resistor"
        # a resistor always conducts; a diode or transistor is compared with the weakest
        # resistor (a forward-biased diode's conductance would make every resistor look dead)
        ref = g[resistor & touches_free].min(initial=np.inf)
        if not np.isfinite(ref):
            ref = float(g[touches_free].max(initial=0.0))
        live = resistor | (g > threshold * ref)
        if live.all():
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        e = self.net.edges[live]
        n = self.net.n_nodes
        adj = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
        labels = connected_components(adj, directed=False)[1]
        anchored = np.zeros(labels.max() + 1, bool)
        anchored[labels[self.fixed]] = True
        bad = np.flatnonzero(~anchored[labels])
        dead = np.flatnonzero(~live & np.isin(self.net.edges, bad).any(axis=1))
        return bad, dead

    def _check_conducting(self, v: np.ndarray) -> None:
        """Refuse a settled state where free nodes reach no fixed node through conducting
        edges (cut-off transistors; diodes whose conductance underflows to zero): their
        voltages are undefined."""
        bad, dead = self._unanchored(v, 0.0)
        if bad.size:
            raise ValidationError(
                f"free nodes {bad[:20].tolist()} reach no fixed node through a conducting edge "
                f"at the settled state: edges {dead[:20].tolist()} carry no current for any "
                "nearby voltage (transistors cut off: gate voltage below vto above both ends; "
                "or diodes reverse-biased beyond their exponential's range), so those node "
                "voltages are undefined. Raise those gates, or connect the nodes otherwise"
            )

    def _diagnose(self, v: np.ndarray) -> None:
        """On non-convergence: refuse, naming them, free nodes that hang on the fixed nodes
        only through edges that barely conduct (below ``leak_ratio`` of the largest edge
        conductance: reverse-biased diodes, cut-off transistors):
        their voltages are set by leakage currents of ~``i_s`` and Newton's step there is
        meaningless."""
        bad, dead = self._unanchored(v, self.leak_ratio)
        if bad.size:
            raise ValidationError(
                f"free nodes {bad[:20].tolist()} reach the fixed nodes only through edges "
                f"{dead[:20].tolist()}, which carry (almost) no current: reverse-biased diodes "
                "(a component that current could only enter, or only leave, through diodes: "
                "floating in one direction) or cut-off transistors. Their voltages are set by "
                "leakage currents alone and Newton's method did not settle them: connect them "
                "to the rest through a resistor, or change the fixed voltages or the gates"
            )


def solve_nonlinear(
    net: Network, theta, fixed_nodes, fixed_values, backend: str = "auto", **options
) -> np.ndarray:
    """Settled node voltages (V) of a network with any elements; see ``cl.solve``.

    ``options`` are passed to ``NewtonSolver`` (``rtol``, ``atol``, ``max_iter``,
    ``max_step``)."""
    solver = NewtonSolver(net, fixed_nodes, backend=backend, **options)
    solver.set_parameters(theta, name="k")
    return solver.settle(fixed_values)


__all__ = ["NewtonSolver", "solve_nonlinear"]
