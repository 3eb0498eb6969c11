"""Many small networks trained at once: one stacked, batched dense computation (DESIGN §8).

``train_many`` runs R replicas (seeds, initial conductances, networks or tasks of the same
shape) with exactly the rules, schedules, data batching and random streams of ``train``: each
replica's result equals ``train(net_r, task_r, ..., seed=seed_r)`` up to round-off (1e-10 in
the tests). Instead of a Python loop over replicas and a sparse solver per replica, every step
assembles the R reduced Laplacians with one matrix product, solves them with one batched LAPACK
call and computes every edge's signals for all replicas with a few batched products. Only the
per-replica random draws (schedule masks, mini-batch order, comparator noise) stay a loop,
because each replica owns its generators.

Replicas are grouped by shape (edges, free nodes, inputs, outputs, examples, rule, schedule);
a group whose networks are too large for dense stacking (more than ``STACK_MAX_FREE`` free
nodes) falls back to ``train`` per replica.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ._validation import in_range
from .errors import ValidationError
from .hardware import SteppedCoupledLearning
from .network import Network
from .physics import DENSE_MAX_FREE, check_solvable
from .rules import CoupledLearning, EdgeSignals, GradientDescent, Rule, RuleState
from .schedules import Bernoulli, Schedule, Synchronous
from .tasks import Task
from .train import TrainResult, _batches, _progress, run_record, train

#: Largest number of free nodes stacked densely; larger networks run through ``train``.
STACK_MAX_FREE = DENSE_MAX_FREE

#: Memory budget (bytes) of one stacked chunk of replicas.
CHUNK_BYTES = 256 * 2**20

__all__ = ["STACK_MAX_FREE", "stackable", "train_ensemble", "train_many"]


def stackable(net: Network, task: Task) -> bool:
    """True when ``net`` with ``task`` is small enough for the stacked dense path."""
    return net.n_nodes - task.source_nodes.size <= STACK_MAX_FREE


def _per_replica(name: str, value, n: int | None, is_single) -> list | None:
    if is_single(value):
        return None
    items = list(value)
    if n is not None and len(items) not in (1, n):
        raise ValidationError(f"{name} has {len(items)} entries but there are {n} replicas")
    return items


def train_many(
    nets: Network | Sequence[Network],
    tasks: Task | Sequence[Task],
    rule: Rule | Sequence[Rule] | None = None,
    schedule: Schedule | Sequence[Schedule] | None = None,
    steps: int = 1000,
    batch_size: int | None = None,
    k0=None,
    seeds: int | Sequence[int] = 0,
    record_every: int | None = None,
    record_state: bool = False,
    backend: str = "auto",
    progress: bool | None = None,
) -> list[TrainResult]:
    """Train R replicas at once; the same arguments as ``train``, each either one value shared
    by all replicas or a sequence with one entry per replica.

    Parameters
    ----------
    nets : Network or sequence of Network
    tasks : Task or sequence of Task
    rule, schedule : one, or one per replica
    steps, batch_size, record_every, record_state, progress : as in ``train`` (shared)
    k0 : None, array (E,), array (R, E) or sequence of arrays / None
    seeds : int or sequence of int
        Replica r runs with ``seed = seeds[r]``: the same random streams as ``train``.
    backend : str
        Recorded in each result's config (what ``train`` would use to rerun the replica); the
        stacked path itself is dense, and groups too large for it run ``train`` with it.

    Returns
    -------
    list of TrainResult
        One per replica, in order; each as ``train`` returns it (``wall_time`` counts from the
        start of the replica's group).
    """
    nets_l = _per_replica("nets", nets, None, lambda v: isinstance(v, Network))
    tasks_l = _per_replica("tasks", tasks, None, lambda v: isinstance(v, Task))
    rules_l = _per_replica("rule", rule, None, lambda v: v is None or isinstance(v, Rule))
    sched_l = _per_replica(
        "schedule", schedule, None, lambda v: v is None or isinstance(v, Schedule)
    )
    seeds_l = _per_replica("seeds", seeds, None, lambda v: np.ndim(v) == 0)
    k0_l = None if _k0_single(k0) else list(k0)
    lengths = [len(x) for x in (nets_l, tasks_l, rules_l, sched_l, seeds_l, k0_l) if x is not None]
    n = max(lengths, default=1)
    for name, x in zip(
        ("nets", "tasks", "rule", "schedule", "seeds", "k0"),
        (nets_l, tasks_l, rules_l, sched_l, seeds_l, k0_l),
        strict=True,
    ):
        if x is not None and len(x) not in (1, n):
            raise ValidationError(f"{name} has {len(x)} entries but there are {n} replicas")

    def pick(single, lst, r):
        return single if lst is None else lst[r if len(lst) > 1 else 0]

    reps = []
    for r in range(n):
        rl = pick(rule, rules_l, r)
        sc = pick(schedule, sched_l, r)
        reps.append(
            dict(
                net=pick(nets, nets_l, r),
                task=pick(tasks, tasks_l, r),
                rule=CoupledLearning() if rl is None else rl,
                schedule=Synchronous() if sc is None else sc,
                seed=pick(seeds, seeds_l, r),
                k0=pick(k0, k0_l, r),
            )
        )
    for rep in reps:
        _check(rep)
    steps = in_range("steps", steps, 0, None, integer=True)
    if batch_size is not None:
        batch_size = in_range("batch_size", batch_size, 1, None, integer=True)
    if record_every is None:
        record_every = max(1, steps // 1000)
    record_every = in_range("record_every", record_every, 1, None, integer=True)
    common = dict(
        steps=steps,
        batch_size=batch_size,
        record_every=record_every,
        record_state=record_state,
        backend=backend,
    )

    results: list[TrainResult | None] = [None] * n
    for members in _groups(reps):
        first = reps[members[0]]
        if not stackable(first["net"], first["task"]):
            for r in members:
                rep = reps[r]
                results[r] = train(
                    rep["net"],
                    rep["task"],
                    rule=rep["rule"],
                    schedule=rep["schedule"],
                    k0=rep["k0"],
                    seed=rep["seed"],
                    progress=False,
                    **common,
                )
            continue
        shared = all(
            reps[r]["net"] is first["net"] and _same_roles(reps[r]["task"], first["task"])
            for r in members
        )
        per = _bytes_per_replica(first["net"], first["task"], shared)
        size = max(1, CHUNK_BYTES // per)
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            out = _train_stack([reps[r] for r in chunk], progress=progress, **common)
            for r, res in zip(chunk, out, strict=True):
                results[r] = res
    return results


def _k0_single(k0) -> bool:
    """True for None or one conductance vector; False for one entry per replica."""
    if k0 is None:
        return True
    if isinstance(k0, np.ndarray):
        return k0.ndim <= 1
    items = list(k0)
    return bool(items) and items[0] is not None and np.ndim(items[0]) == 0


#: Alias of ``train_many``.
train_ensemble = train_many


def _check(rep: dict) -> None:
    if not isinstance(rep["net"], Network):
        raise ValidationError(f"nets must be circuitlearn.Network; got {type(rep['net']).__name__}")
    if not isinstance(rep["task"], Task):
        raise ValidationError(f"tasks must be circuitlearn.Task; got {type(rep['task']).__name__}")
    if not isinstance(rep["rule"], Rule):
        raise ValidationError(f"rule must be a circuitlearn rule; got {type(rep['rule']).__name__}")
    if not isinstance(rep["schedule"], Schedule):
        raise ValidationError(
            f"schedule must be a circuitlearn schedule; got {type(rep['schedule']).__name__}"
        )
    rep["seed"] = in_range("seed", rep["seed"], 0, None, integer=True)
    rep["task"].check_network(rep["net"])
    rep["schedule"].check(rep["net"].n_edges)


def _shape_key(rep: dict) -> tuple:
    net, task = rep["net"], rep["task"]
    return (
        net.n_nodes,
        net.n_edges,
        task.n_inputs,
        task.n_outputs,
        task.ground_nodes.size,
        len(task.x_train),
        None if task.x_test is None else len(task.x_test),
        task.encoding,
        task.levels,
    )


def _groups(reps: list[dict]) -> list[list[int]]:
    """Indices of replicas that can share one stacked computation."""
    groups: list[tuple[tuple, Rule, Schedule, list[int]]] = []
    for r, rep in enumerate(reps):
        key = _shape_key(rep)
        for g in groups:
            if g[0] == key and g[1] == rep["rule"] and g[2] == rep["schedule"]:
                g[3].append(r)
                break
        else:
            groups.append((key, rep["rule"], rep["schedule"], [r]))
    return [g[3] for g in groups]


def _same_roles(a: Task, b: Task) -> bool:
    return (
        np.array_equal(a.input_nodes, b.input_nodes)
        and np.array_equal(a.output_nodes, b.output_nodes)
        and np.array_equal(a.ground_nodes, b.ground_nodes)
    )


def _bytes_per_replica(net: Network, task: Task, shared: bool) -> int:
    """Working memory of one replica in a stack (the assembly tensor only when not shared)."""
    nu = net.n_nodes - task.source_nodes.size
    d = task.n_inputs + task.n_outputs
    e = net.n_edges
    m = len(task.x_train) + (0 if task.x_test is None else len(task.x_test))
    per = 3 * nu * nu + 6 * nu * d + net.n_nodes * d + 8 * e * d + 4 * m * d + 12 * e
    if not shared:
        per += e * (nu * nu + nu * task.n_inputs)
    return 8 * per


# ---------------------------------------------------------------------------- the stack
class _Stack:
    """R replicas of one shape: dense structure arrays with a leading replica axis (of length
    1 when every replica shares the network and the node roles)."""

    def __init__(self, nets: list[Network], tasks: list[Task]):
        shared = all(n is nets[0] for n in nets) and all(_same_roles(t, tasks[0]) for t in tasks)
        uniq = [0] if shared else range(len(nets))
        t0 = tasks[0]
        self.n_in, self.n_out = t0.n_inputs, t0.n_outputs
        self.d = self.n_in + self.n_out
        asm, ea, eb, tpos = [], [], [], []
        for r in uniq:
            a, i, j, t = self._structure(nets[r], tasks[r], dense=not shared)
            asm.append(a), ea.append(i), eb.append(j), tpos.append(t)
        self.ldl = None
        if shared:  # sparse assembly map (S + nU*n_in, E) into the LDL^T storage
            self.ldl, self.asm_sparse = asm[0]
        else:
            self.asm = np.stack(asm)  # (R, E, nU*nU + nU*n_in)
        self.ea, self.eb = np.stack(ea), np.stack(eb)  # (R|1, E) rows of vfull
        self.t_pos = np.stack(tpos)  # (R|1, n_out)
        self.shared = shared
        e = nets[0].n_edges
        self.nu = nets[0].n_nodes - t0.source_nodes.size
        self.n_nodes = nets[0].n_nodes
        self.n_edges = e
        n = len(nets)
        self.n = n
        # node responses in solver order (free nodes, then fixed), edge-last: (R, d, N)
        self.vt = np.zeros((n, self.d, self.n_nodes))
        self.vt[:, np.arange(self.n_in), self.nu + np.arange(self.n_in)] = 1.0
        self.unit = np.zeros((self.nu, self.n_out))

    @staticmethod
    def _structure(net: Network, task: Task, dense: bool):
        fixed = task.source_nodes
        check_solvable(net, fixed)
        is_fixed = np.zeros(net.n_nodes, bool)
        is_fixed[fixed] = True
        free = np.flatnonzero(~is_fixed)
        nu, n_in = free.size, task.n_inputs
        order = np.concatenate([free, fixed])
        pos = np.empty(net.n_nodes, np.int64)
        pos[order] = np.arange(net.n_nodes)
        a, b = pos[net.edges[:, 0]], pos[net.edges[:, 1]]
        e = net.n_edges
        if not dense:
            return _sparse_assembly(a, b, nu, n_in), a, b, pos[task.output_nodes]
        # incidence in solver order: columns < nu free, nu..nu+n_in-1 inputs
        inc = np.zeros((e, net.n_nodes))
        inc[np.arange(e), a] = 1.0
        inc[np.arange(e), b] = -1.0
        bu, bi = inc[:, :nu], inc[:, nu : nu + n_in]
        # A = sum_e k_e bu_e bu_e^T ; rhs_in = -sum_e k_e bu_e bi_e^T
        outer_a = (bu[:, :, None] * bu[:, None, :]).reshape(e, nu * nu)
        outer_i = -(bu[:, :, None] * bi[:, None, :]).reshape(e, nu * n_in)
        asm = np.concatenate([outer_a, outer_i], axis=1)
        return asm, a, b, pos[task.output_nodes]

    def rows(self, arr: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
        """``arr`` (R|1, ...) restricted to replicas ``idx`` (None: all)."""
        if idx is None or arr.shape[0] == 1:
            return arr
        return arr[idx]

    def _solve(self, k: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
        """Free-node responses (R', nU, d) to each input (1 V) and output (1 A)."""
        nu, n_in, rr = self.nu, self.n_in, k.shape[0]
        tpos = self.rows(self.t_pos, idx)
        if self.ldl is not None:  # one sparsity pattern: batched sparse LDL^T, replica-last
            flat = self.asm_sparse @ k.T  # (S + nU * n_in, R')
            size = self.ldl.size
            rhs = np.zeros((nu, self.d, rr))
            rhs[:, :n_in] = flat[size:].reshape(nu, n_in, rr)
            rhs[tpos[0], n_in + np.arange(self.n_out)] = 1.0
            vals = self.ldl.factor(flat[:size])
            return np.ascontiguousarray(self.ldl.solve(vals, rhs).transpose(2, 0, 1))
        asm = self.rows(self.asm, idx)
        flat = np.matmul(k[:, None, :], asm)[:, 0]  # (R', nU*nU + nU*n_in)
        a = flat[:, : nu * nu].reshape(rr, nu, nu)
        rhs = np.empty((rr, nu, self.d))
        rhs[:, :, :n_in] = flat[:, nu * nu :].reshape(rr, nu, n_in)
        rhs[:, :, n_in:] = 0.0
        rhs[np.arange(rr)[:, None], tpos, n_in + np.arange(self.n_out)[None, :]] = 1.0
        return np.linalg.solve(a, rhs)

    def settle(self, k: np.ndarray, idx: np.ndarray | None = None) -> dict:
        """Solve the replicas ``idx`` (all by default) for conductances ``k`` (R', E)."""
        nu, n_in = self.nu, self.n_in
        tpos = self.rows(self.t_pos, idx)
        sol = self._solve(k, idx)  # (R', nU, d)
        if tpos.shape[0] == 1:
            at_t = sol[:, tpos[0]]
        else:
            at_t = np.take_along_axis(sol, tpos[:, :, None], axis=1)
        vt = self.vt if idx is None else self.vt[idx]
        vt[:, :, :nu] = np.swapaxes(sol, 1, 2)
        ea, eb = self.rows(self.ea, idx), self.rows(self.eb, idx)
        if ea.shape[0] == 1:
            drops = vt[:, :, ea[0]] - vt[:, :, eb[0]]
        else:
            drops = np.take_along_axis(vt, ea[:, None, :], 2) - np.take_along_axis(
                vt, eb[:, None, :], 2
            )
        return {"R_T": at_t[:, :, :n_in], "Z_TT": at_t[:, :, n_in:], "DT": drops}

    def coefficients(self, st: dict, eta: float):
        """Stacked ``(C_f, C_c, C_g)`` (R', d, d), as ``TaskSystem._coefficients``."""
        n_in, n_out, d = self.n_in, self.n_out, self.d
        rr = st["R_T"].shape[0]
        c_f = np.zeros((rr, d, d))
        c_f[:, np.arange(n_in), np.arange(n_in)] = 1.0
        zi = eta * np.linalg.inv(st["Z_TT"])
        c_c = c_f.copy()
        c_c[:, n_in:, :n_in] = -zi @ st["R_T"]
        c_c[:, n_in:, n_in:] = zi
        c_g = np.zeros((rr, d, d))
        c_g[:, n_in:, :n_in] = (2.0 / n_out) * st["R_T"]
        c_g[:, n_in:, n_in:] = -(2.0 / n_out) * np.eye(n_out)
        return c_f, c_c, c_g

    def signals(self, st: dict, z: np.ndarray, rule: Rule) -> EdgeSignals:
        """Stacked ``TaskSystem.signals`` for batches ``z`` (R'|1, b, d)."""
        d_t = st["DT"]  # (R', d, E)
        c_f, c_c, c_g = self.coefficients(st, rule.nudge)
        clamped, gradient = rule.needs_clamped, rule.needs_gradient
        tr = np.swapaxes
        if rule.needs_examples:
            d_f = (z @ tr(c_f, 1, 2)) @ d_t  # (R', b, E)
            d_c = (z @ tr(c_c, 1, 2)) @ d_t if clamped else None
            grad = None
            if gradient:
                grad = -np.mean(d_f * ((z @ tr(c_g, 1, 2)) @ d_t), axis=1)
            return EdgeSignals(
                free_sq=np.mean(d_f**2, axis=1),
                clamped_sq=None if d_c is None else np.mean(d_c**2, axis=1),
                grad=grad,
                free=d_f,
                clamped=d_c,
            )
        f = _factor_z(z)  # (R'|1, d, q)
        q = f.shape[-1]
        blocks = [c_f @ f] + ([c_c @ f] if clamped else []) + ([c_g @ f] if gradient else [])
        w = tr(np.concatenate(blocks, axis=2), 1, 2) @ d_t  # (R', nb * q, E)
        grad = None
        if gradient:
            grad = -np.einsum("rqe,rqe->re", w[:, :q], w[:, -q:])
        sq = np.square(w[:, : (1 + clamped) * q])
        return EdgeSignals(
            free_sq=sq[:, :q].sum(axis=1),
            clamped_sq=sq[:, q : 2 * q].sum(axis=1) if clamped else None,
            grad=grad,
        )


def _sparse_assembly(a: np.ndarray, b: np.ndarray, nu: int, n_in: int):
    """The batched LDL^T of ``L[U,U]``'s pattern and the sparse map from conductances to its
    storage (the lower triangle of ``L[U,U]``) followed by ``-L[U, inputs]`` (nU, n_in).

    ``a``, ``b``: each edge's two ends in solver order (free nodes first, then the inputs)."""
    both = (a < nu) & (b < nu)
    ldl = _BatchedLDL(nu, a[both], b[both])
    rows, cols, vals = [], [], []
    j = np.arange(a.size)
    for end, other in ((a, b), (b, a)):
        m = end < nu
        rows.append(ldl.diag_index(end[m])), cols.append(j[m]), vals.append(np.ones(m.sum()))
        inp = m & (other >= nu) & (other < nu + n_in)  # coupling to an input: +k
        rows.append(ldl.size + end[inp] * n_in + (other[inp] - nu))
        cols.append(j[inp]), vals.append(np.ones(inp.sum()))
    rows.append(ldl.offdiag_index(a[both], b[both])), cols.append(j[both])
    vals.append(-np.ones(both.sum()))
    g = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(ldl.size + nu * n_in, a.size),
    )
    return ldl, g


class _BatchedLDL:
    """LDL^T of R symmetric positive definite matrices with one sparsity pattern, computed for
    all of them at once: a minimum-degree ordering and a symbolic factorisation once, then a
    right-looking numeric factorisation and triangular solves that loop over the n columns
    and work on every replica in each numpy operation. Values are stored replica-last,
    ``(size, R)``: the n diagonal entries (elimination order) first, then each column's
    below-diagonal entries."""

    def __init__(self, n: int, ia: np.ndarray, ib: np.ndarray):
        self.n = n
        nbrs = [set() for _ in range(n)]
        for i, j in zip(ia.tolist(), ib.tolist(), strict=True):
            nbrs[i].add(j), nbrs[j].add(i)
        # minimum-degree elimination (with fill), recording each column's pattern
        alive = set(range(n))
        order, pattern = [], []
        while alive:
            v = min(alive, key=lambda u: (len(nbrs[u]), u))
            nb = nbrs[v]
            order.append(v), pattern.append(nb)
            for u in nb:
                nbrs[u] |= nb
                nbrs[u].discard(u), nbrs[u].discard(v)
            alive.remove(v)
            nbrs[v] = set()
        self.perm = np.array(order, dtype=np.int64)  # elimination position -> node
        self.inv = np.empty(n, np.int64)
        self.inv[self.perm] = np.arange(n)
        self._pos: dict[tuple[int, int], int] = {}
        self.rows, self.off, self.upd = [], [], []
        size = n
        for t, nb in enumerate(pattern):
            r = sorted(int(self.inv[u]) for u in nb)
            self.rows.append(np.array(r, dtype=np.int64))
            self.off.append(np.arange(size, size + len(r)))
            for i in r:
                self._pos[(i, t)] = size
                size += 1
        self.size = size
        for r in self.rows:  # outer-product updates of each column: (target, a, b)
            rl = r.tolist()
            tg, ia_, ib_ = [], [], []
            for x in range(len(rl)):
                for y in range(x + 1):
                    tg.append(rl[x] if x == y else self._pos[(rl[x], rl[y])])
                    ia_.append(x), ib_.append(y)
            self.upd.append(tuple(np.array(v, dtype=np.int64) for v in (tg, ia_, ib_)))

    def diag_index(self, nodes: np.ndarray) -> np.ndarray:
        return self.inv[nodes]

    def offdiag_index(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        a, b = self.inv[i], self.inv[j]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        return np.array([self._pos[(h, g)] for h, g in zip(hi.tolist(), lo.tolist(), strict=True)])

    def factor(self, v: np.ndarray) -> np.ndarray:
        """In place: the assembled lower triangle (size, R) -> L (unit, below diag) and D."""
        for t in range(self.n):
            off = self.off[t]
            if off.size == 0:
                continue
            col = v[off]
            lt = col / v[t]
            v[off] = lt
            tg, ia, ib = self.upd[t]
            v[tg] -= lt[ia] * col[ib]
        return v

    def solve(self, v: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``x`` (n, d, R) with ``L D L^T x = b`` for every replica."""
        x = b[self.perm]
        for t in range(self.n):
            r = self.rows[t]
            if r.size:
                x[r] -= v[self.off[t]][:, None, :] * x[t]
        x /= v[: self.n, None, :]
        for t in range(self.n - 1, -1, -1):
            r = self.rows[t]
            if r.size:
                x[t] -= np.einsum("mr,mdr->dr", v[self.off[t]], x[r])
        out = np.empty_like(x)
        out[self.perm] = x
        return out


def _factor_z(z: np.ndarray) -> np.ndarray:
    """(R|1, d, q) with ``F F^T = z^T z / b`` per replica (thin QR, as ``TaskSystem``)."""
    r = np.linalg.qr(z, mode="r")  # (R|1, q, d)
    return np.swapaxes(r, -1, -2) / np.sqrt(z.shape[-2])


# ---------------------------------------------------------------------------- the loop
def _train_stack(
    reps: list[dict],
    steps: int,
    batch_size: int | None,
    record_every: int,
    record_state: bool,
    backend: str,
    progress: bool | None,
) -> list[TrainResult]:
    n = len(reps)
    rule: Rule = reps[0]["rule"]
    schedule: Schedule = reps[0]["schedule"]
    nets = [rep["net"] for rep in reps]
    tasks = [rep["task"] for rep in reps]
    e = nets[0].n_edges
    stack = _Stack(nets, tasks)
    same_task = all(t is tasks[0] for t in tasks)

    gens = []
    states = []
    for rep in reps:
        data_ss, sched_ss, rule_ss, init_ss = np.random.SeedSequence(rep["seed"]).spawn(4)
        g = [np.random.default_rng(s) for s in (data_ss, sched_ss, rule_ss, init_ss)]
        gens.append(g)
        states.append(rule.init_state(rep["k0"], e, g[3]))
    state = RuleState(
        **{
            f: None if getattr(states[0], f) is None else np.stack([getattr(s, f) for s in states])
            for f in vars(states[0])
        }
    )
    k_initial = state.k.copy()
    rate = schedule.updates_per_step(e)
    m = len(tasks[0].x_train)
    batches = [_batches(m, batch_size, g[0]) for g in gens]
    full_batch = batch_size is None or batch_size >= m
    if same_task:
        x_tr, y_tr = tasks[0].x_train[None], tasks[0].y_train[None]
    else:
        x_tr = np.stack([t.x_train for t in tasks])
        y_tr = np.stack([t.y_train for t in tasks])
    z_full = np.concatenate([x_tr, y_tr], axis=2)
    rec = _Recorder(tasks, same_task)
    stacked_apply = _stackable_rule(rule)
    sync = type(schedule) is Synchronous
    bern = type(schedule) is Bernoulli
    all_mask = np.ones((n, e), dtype=bool)

    updates = np.zeros(n)
    t0 = time.perf_counter()
    bar = _progress(progress, steps)
    bar_task = bar.add_task("train", total=steps, err=float("nan")) if bar else None
    if bar:
        bar.start()
    limiter = threadpool_limits(limits=1, user_api="blas")
    try:
        st = None
        for step in range(steps + 1):
            st = stack.settle(state.k)
            if step % record_every == 0 or step == steps:
                rec.record(st, step, rate, updates / e, t0, state if record_state else None)
                if bar:
                    bar.update(bar_task, completed=step, err=float(np.mean(rec.last_error)))
            if step == steps:
                break
            if full_batch:  # (the full-batch generator of ``train`` draws nothing)
                z = z_full
            else:
                idx = np.stack([next(b) for b in batches])  # (R, b)
                if same_task:
                    z = np.concatenate([x_tr[0][idx], y_tr[0][idx]], axis=2)
                else:
                    rows = np.arange(n)[:, None]
                    z = np.concatenate([x_tr[rows, idx], y_tr[rows, idx]], axis=2)
            if sync:
                _update(stack, rule, state, st, z, all_mask, None, gens, stacked_apply)
                updates += e
                continue
            if bern:  # Bernoulli.events, drawn replica by replica into one array
                mask = np.stack([g[1].random(e) for g in gens]) < schedule.p
                _update(stack, rule, state, st, z, mask, None, gens, stacked_apply)
                updates += mask.sum(axis=1)
                continue
            events = [list(schedule.events(g[1], e)) for g in gens]
            n_ev = np.array([len(ev) for ev in events])
            for j in range(int(n_ev.max(initial=0))):
                if j == 0 and (n_ev > 0).all():
                    idx_r = None
                    mask = np.stack([ev[0] for ev in events])
                else:
                    idx_r = np.flatnonzero(n_ev > j)
                    mask = np.stack([events[r][j] for r in idx_r])
                if j:  # asynchronous events re-settle between updates
                    st = stack.settle(state.k[idx_r] if idx_r is not None else state.k, idx_r)
                elif idx_r is not None:
                    st = {key: v[idx_r] for key, v in st.items()}
                _update(stack, rule, state, st, z, mask, idx_r, gens, stacked_apply)
                if idx_r is None:
                    updates += mask.sum(axis=1)
                else:
                    updates[idx_r] += mask.sum(axis=1)
    finally:
        limiter.restore_original_limits()
        if bar:
            bar.stop()

    out = []
    for r, rep in enumerate(reps):
        config = run_record(rule, schedule, steps, batch_size, rep["seed"], record_every, backend)
        out.append(
            TrainResult(
                conductances=state.k[r].copy(),
                history=rec.history(r),
                network=rep["net"],
                task=rep["task"],
                initial_conductances=k_initial[r].copy(),
                config=config,
                taps=None if state.taps is None else state.taps[r].copy(),
                trajectory=rec.trajectory(r) if record_state else None,
            )
        )
    return out


def _update(stack, rule, state, st, z, mask, idx_r, gens, stacked) -> None:
    """Signals of the replicas ``idx_r`` (None: all) and their rule update under ``mask``."""
    zz = z if idx_r is None or z.shape[0] == 1 else z[idx_r]
    sig = stack.signals(st, zz, rule)
    _apply(rule, state, sig, mask, idx_r, gens, stacked)


def _stackable_rule(rule: Rule) -> bool:
    """Rules whose ``apply`` is elementwise and draws nothing: run on (R, E) arrays at once."""
    if type(rule) in (CoupledLearning, GradientDescent):
        return True
    return type(rule) is SteppedCoupledLearning and rule.noise == 0


def _apply(rule, state, sig, mask, idx_r, gens, stacked: bool) -> None:
    rows = np.arange(state.k.shape[0]) if idx_r is None else idx_r
    if stacked:
        if idx_r is None:
            rule.apply(state, sig, mask, None)
            return
        sub = RuleState(**{f: None if v is None else v[idx_r] for f, v in vars(state).items()})
        rule.apply(sub, sig, mask, None)
        for f, v in vars(sub).items():
            if v is not None:
                getattr(state, f)[idx_r] = v
        return
    for i, r in enumerate(rows):
        one = RuleState(**{f: None if v is None else v[r].copy() for f, v in vars(state).items()})
        s = EdgeSignals(**{f: None if v is None else v[i] for f, v in vars(sig).items()})
        rule.apply(one, s, mask[i], gens[r][2])
        for f, v in vars(one).items():
            if v is not None:
                getattr(state, f)[r] = v


class _Recorder:
    """History rows of every replica, as ``train._record`` writes them."""

    def __init__(self, tasks: list[Task], same: bool):
        t0 = tasks[0]
        self.tasks = tasks
        self.encoding, self.levels = t0.encoding, t0.levels
        stack = (lambda f: f(t0)[None]) if same else (lambda f: np.stack([f(t) for t in tasks]))
        self.x_tr, self.y_tr = stack(lambda t: t.x_train), stack(lambda t: t.y_train)
        self.has_test = t0.has_test
        if self.has_test:
            self.x_te, self.y_te = stack(lambda t: t.x_test), stack(lambda t: t.y_test)
            self.lab_te = self._labels(self.y_te)
        self.lab_tr = self._labels(self.y_tr)
        self.cols: dict[str, list] = {}
        self.traj_k: list[np.ndarray] = []
        self.traj_taps: list[np.ndarray] = []
        self.steps: list[int] = []
        self.last_error = np.nan

    def _labels(self, v: np.ndarray):
        """``Task.labels`` for stacked outputs (..., n_out): nearest level (the first on a
        tie, as ``argmin``) or the highest output (the first on a tie, as ``argmax``)."""
        if self.encoding == "levels":
            v0 = v[..., 0]
            best = np.abs(v0 - self.levels[0])
            lab = np.zeros(v0.shape, dtype=np.int64)
            for i, level in enumerate(self.levels[1:], start=1):
                dist = np.abs(v0 - level)
                closer = dist < best
                lab = np.where(closer, i, lab)
                best = np.where(closer, dist, best)
            return lab
        if self.encoding == "one-hot":
            return v.argmax(axis=-1)
        return None

    @staticmethod
    def _outputs(x: np.ndarray, r_t: np.ndarray) -> np.ndarray:
        """Free outputs (R, M, n_out) for inputs x (R|1, M, n_in) and maps R_T (R, n_out, n_in)."""
        if x.shape[0] > 1:
            return x @ np.swapaxes(r_t, 1, 2)
        n, n_out, n_in = r_t.shape
        flat = x[0] @ r_t.transpose(2, 0, 1).reshape(n_in, n * n_out)  # one product
        return flat.reshape(-1, n, n_out).transpose(1, 0, 2)

    def _add(self, name: str, values) -> None:
        self.cols.setdefault(name, []).append(values)

    def record(self, st, step, rate, mean_updates, t0, state) -> None:
        n = st["R_T"].shape[0]
        out_tr = self._outputs(self.x_tr, st["R_T"])  # (R, M, n_out)
        self._add("step", np.full(n, step))
        self._add("updates_per_edge", np.full(n, rate * step))
        self._add("updates", mean_updates.copy())
        err = np.mean((out_tr - self.y_tr) ** 2, axis=(1, 2))
        self._add("train_error", err)
        self.last_error = err
        if self.has_test:
            out_te = self._outputs(self.x_te, st["R_T"])
            self._add("test_error", np.mean((out_te - self.y_te) ** 2, axis=(1, 2)))
        else:
            self._add("test_error", np.full(n, np.nan))
        if self.encoding is not None:
            self._add("train_accuracy", np.mean(self._labels(out_tr) == self.lab_tr, axis=1))
            if self.has_test:
                acc = np.mean(self._labels(out_te) == self.lab_te, axis=1)
            else:
                acc = np.full(n, np.nan)
            self._add("test_accuracy", acc)
        self._add("wall_time", np.full(n, time.perf_counter() - t0))
        self.steps.append(step)
        if state is not None:
            self.traj_k.append(state.k.copy())
            if state.taps is not None:
                self.traj_taps.append(state.taps.copy())

    def history(self, r: int) -> pd.DataFrame:
        if not hasattr(self, "_arrays"):
            self._arrays = {name: np.stack(vals) for name, vals in self.cols.items()}
            self._arrays["step"] = np.array(self.steps, dtype=np.int64)
        return pd.DataFrame(
            {name: a if a.ndim == 1 else a[:, r] for name, a in self._arrays.items()}
        )

    def trajectory(self, r: int) -> dict:
        out = {"k": np.array([k[r] for k in self.traj_k]), "step": np.array(self.steps)}
        if self.traj_taps:
            out["taps"] = np.array([t[r] for t in self.traj_taps])
        return out
