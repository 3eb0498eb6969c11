"""The report of ``circuitlearn bench [--quick]``: its sections, their sizes and the targets.

Every ratio is measured in one process against a baseline timed in the same process
(``baselines``): the **floor** (one numeric refactorisation plus one solve), the
**per-example** approach (rebuild, factor and solve every example), and, for a **step**, one
``cl.train`` step from the run's own ``wall_time`` (``harness``); desynchronous steps against
the synchronous step of the same network; ensembles against a Python loop of ``cl.train`` over
replicas.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

from ..cholmod import available as cholmod_available
from ..ensemble import train_many
from ..gallery import random_board16
from ..hardware import SteppedCoupledLearning
from ..measure import TaskSystem
from ..network import Network
from ..rules import CoupledLearning
from ..schedules import Bernoulli, Schedule, Synchronous
from ..tasks import Task, iris, regression
from ..train import train
from .baselines import ETA, LR, bench_task, floor_time, per_example_step
from .harness import (
    chosen_backend,
    desync_deviation,
    graph,
    memory_in_subprocess,
    step_time,
    timed,
)
from .nonlinear import section_nonlinear, targets_lines


def _fast_dk(net: Network, task: Task, k: np.ndarray) -> np.ndarray:
    """The training path's synchronous full-batch update from ``k``, to compare with
    ``per_example_step``."""
    system = TaskSystem(net, task)
    system.settle(k)
    sig = system.signals(task.x_train, task.y_train, ETA)
    return CoupledLearning(lr=LR, eta=ETA).delta(sig)


def _ms(s: float | None) -> str:
    if s is None or not np.isfinite(s):
        return "—"
    if s >= 1:
        return f"{s * 1e3:,.0f}"
    return f"{s * 1e3:.3g}"


def _x(r: float | None, approx: bool = False) -> str:
    if r is None or not np.isfinite(r):
        return "—"
    return ("≈" if approx else "") + (f"{r:.2f}x" if r < 10 else f"{r:.0f}x")


def _mb(b: float) -> str:
    return f"{max(b, 0) / 2**20:,.0f}"


# ---------------------------------------------------------------------------- sections
@dataclass
class Plan:
    """What to run: sizes and repetitions (quick: under a minute on 2 cores)."""

    sizes: tuple[tuple[str, int], ...]
    batches: tuple[int, ...]
    per_example_max_work: float  # skip measuring per-example beyond edges * batch
    desync: tuple[tuple[str, int], ...]
    ps: tuple[float, ...]
    ensemble_r: int
    ensemble_loop: int
    ensemble_steps: int
    ensemble_big: bool
    kept: bool
    memory: tuple[tuple[str, int], ...]
    nonlinear: tuple[int, ...] = (1_000, 10_000)  # edges of the nonlinear settle benchmark


QUICK = Plan(
    sizes=(("planar", 10_000), ("lattice", 10_000), ("planar", 100_000)),
    batches=(1, 64, 1024),
    per_example_max_work=2e7,
    desync=(("planar", 100_000),),
    ps=(1e-3,),
    ensemble_r=1000,
    ensemble_loop=10,
    ensemble_steps=100,
    ensemble_big=False,
    kept=False,
    memory=(("planar", 100_000),),
)

FULL = Plan(
    sizes=tuple((g, n) for n in (10_000, 100_000, 1_000_000) for g in ("planar", "lattice")),
    batches=(1, 64, 1024),
    per_example_max_work=1.2e8,
    desync=(("planar", 100_000), ("lattice", 100_000)),
    ps=(1e-2, 1e-3, 1e-4),
    ensemble_r=1000,
    ensemble_loop=30,
    ensemble_steps=200,
    ensemble_big=True,
    kept=True,
    memory=(("planar", 1_000_000), ("lattice", 1_000_000)),
)


def _steps_for(n_edges: int) -> int:
    return int(np.clip(3e6 / n_edges, 3, 200))


def section_large(plan: Plan, out: list[str], summary: dict) -> None:
    out += [
        "## 1. Synchronous coupled-learning step vs the floor and the per-example approach",
        "",
        "Regression task, 3 inputs, 2 outputs, 1 ground, full batch of `batch` examples, "
        "`CoupledLearning`, default backend. Per-example times marked ≈ are extrapolated "
        "linearly in the batch from the measured batch-1 and batch-64 times (too long to run).",
        "",
        "| graph | edges | batch | backend | step ms | floor ms | step / floor "
        "| per-example ms | per-example / step | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, size in plan.sizes:
        net = graph(kind, size)
        e = net.n_edges
        steps = _steps_for(e)
        backend = chosen_backend(net, bench_task(net, 1), Synchronous())
        pe_times: dict[int, float] = {}
        for batch in plan.batches:
            task = bench_task(net, batch)
            # step and floor measured back to back (twice below 10^6 edges: the best of each),
            # so that both see the same load on a shared machine
            st, peak = step_time(net, task, steps=steps)
            floor = floor_time(net, task, backend, reps=max(3, min(steps, 30)))
            if e < 500_000:
                st = min(st, step_time(net, task, steps=steps)[0])
                floor = min(floor, floor_time(net, task, backend, reps=max(3, min(steps, 30))))
            pe, approx = None, False
            if e * batch <= plan.per_example_max_work:
                k = np.random.default_rng(2).uniform(0.5, 2.0, e)
                pe = timed(partial(per_example_step, net, task, k, task.x_train, task.y_train))
                pe_times[batch] = pe
                if batch == plan.batches[0]:
                    dk_ref = per_example_step(net, task, k, task.x_train, task.y_train)
                    dk = _fast_dk(net, task, k)
                    err = np.max(np.abs(dk - dk_ref)) / np.max(np.abs(dk_ref))
                    summary["dk_agreement"] = max(summary.get("dk_agreement", 0.0), err)
            elif 1 in pe_times and 64 in pe_times:
                slope = (pe_times[64] - pe_times[1]) / 63
                pe, approx = pe_times[1] + slope * (batch - 1), True
            ratio_pe = None if pe is None else pe / st
            out.append(
                f"| {kind} | {e:,} | {batch} | {backend} | {_ms(st)} | {_ms(floor)} "
                f"| {_x(st / floor)} | {('≈' if approx else '') + _ms(pe)} "
                f"| {_x(ratio_pe, approx)} | {_mb(peak)} |"
            )
            summary.setdefault("floor_ratios", []).append((kind, e, batch, st / floor))
            if ratio_pe is not None:
                summary.setdefault("pe_ratios", []).append((kind, e, batch, ratio_pe, approx))
        del net
    out.append("")


def section_desync(plan: Plan, out: list[str], summary: dict) -> None:
    out += [
        "## 2. Desynchronous steps (Bernoulli p): rank-r factor updates",
        "",
        "Batch 64. `auto` picks CHOLMOD when few edges change per step (rank-r "
        "update/downdate when its cost model says so, fresh refactor every 100 updates); "
        "`qdldl` refactors every step that changes anything. Deviation: largest difference "
        "of the conductances after 60 desynchronous `cl.train` steps on the chosen backend "
        "from the same run on `qdldl`, relative to the largest conductance change.",
        "",
        "| graph | edges | p | edges changed / step | step ms (auto) | backend "
        "| step ms (qdldl, refactor) | sync step ms | sync / desync | deviation |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    if not cholmod_available():
        out += ["", "CHOLMOD is not installed: `pip install 'circuitlearn[cholmod]'`.", ""]
    for kind, size in plan.desync:
        net = graph(kind, size)
        e = net.n_edges
        task = bench_task(net, 64)
        sync, _ = step_time(net, task, steps=10, stat="mean")
        for p in plan.ps:
            sched = Bernoulli(p)
            steps = int(np.clip(20 * np.sqrt(1e-2 / p), 20, 100))
            backend = chosen_backend(net, task, sched)
            st, _ = step_time(net, task, schedule=sched, steps=steps, stat="mean")
            st_q, _ = step_time(
                net, task, schedule=sched, steps=max(10, steps // 4), backend="qdldl", stat="mean"
            )
            dev = desync_deviation(net, task, sched, backend) if backend == "cholmod" else None
            out.append(
                f"| {kind} | {e:,} | {p:g} | {p * e:,.0f} | {_ms(st)} | {backend} | {_ms(st_q)} "
                f"| {_ms(sync)} | {_x(sync / st)} | {'—' if dev is None else f'{dev:.1e}'} |"
            )
            summary.setdefault("desync", []).append((kind, e, p, sync / st, dev))
        del net
    out.append("")


def section_ensemble(plan: Plan, out: list[str], summary: dict) -> None:
    out += [
        "## 3. Ensembles of small networks: stacked `train_many` vs a loop of `cl.train`",
        "",
        f"R replicas (seeds 0..R-1), {plan.ensemble_steps} steps, history recorded every step. "
        f"The loop baseline runs `cl.train` on {plan.ensemble_loop} of the replicas and is "
        "scaled to R. Throughput in replica-steps per second.",
        "",
        "| network | task | schedule | R | ensemble s | loop s (scaled) | ensemble rep-steps/s "
        "| loop rep-steps/s | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cases = [("random board, 16 edges", random_board16(), "iris levels")]
    if plan.ensemble_big:
        cases.append(("100 edges", graph("planar", 100, seed=1), "regression"))
    r = plan.ensemble_r
    steps = plan.ensemble_steps
    for label, net, tname in cases:
        if tname == "iris levels":
            task = iris(net, "levels")
        else:
            task = regression(net, 3, 2, n_train=40, n_test=40, seed=0)
        for sched in (Synchronous(), Bernoulli(0.5)):
            rule = CoupledLearning(lr=0.5, eta=ETA)
            kw = dict(rule=rule, schedule=sched, steps=steps, record_every=1)
            t_ens = timed(partial(train_many, net, task, seeds=range(r), **kw))
            t_loop = timed(partial(_loop, net, task, plan.ensemble_loop, kw))
            t_loop *= r / plan.ensemble_loop
            speed = t_loop / t_ens
            out.append(
                f"| {label} ({net.n_edges}) | {tname} | {_sched(sched)} | {r} | {t_ens:.2f} "
                f"| {t_loop:.1f} | {r * steps / t_ens:,.0f} | {r * steps / t_loop:,.0f} "
                f"| {_x(speed)} |"
            )
            summary.setdefault("ensemble", []).append((label, _sched(sched), speed))
    out.append("")


def _loop(net: Network, task: Task, n: int, kw: dict) -> list:
    return [train(net, task, seed=s, progress=False, **kw) for s in range(n)]


def section_kept(plan: Plan, out: list[str], summary: dict) -> None:
    out += [
        "## 4. Stepped rule, mini-batches and online presentation at 10^5 edges",
        "",
        "Planar network; the floor is the same as in section 1. Per-example: the direct "
        "approach on the examples of one step.",
        "",
        "| variant | batch / examples | schedule | step ms | step / floor | per-example / step |",
        "|---|---|---|---|---|---|",
    ]
    net = graph("planar", 100_000)
    task = bench_task(net, 1024)
    backend = chosen_backend(net, task, Synchronous())
    floor = floor_time(net, task, backend, reps=10)
    k = np.random.default_rng(2).uniform(0.5, 2.0, net.n_edges)
    pe64 = timed(lambda: per_example_step(net, task, k, task.x_train[:64], task.y_train[:64]))
    pe1 = timed(lambda: per_example_step(net, task, k, task.x_train[:1], task.y_train[:1]))
    stepped = SteppedCoupledLearning(eta=ETA, r_min=0.1, r_max=10.0)
    variants = [
        ("stepped rule, full batch", None, 1024, Synchronous(), stepped, None),
        ("stepped rule, desync p=1e-3", None, 1024, Bernoulli(1e-3), stepped, None),
        ("CL mini-batch", 64, 1024, Synchronous(), None, pe64),
        ("CL online", 1, 1024, Synchronous(), None, pe1),
        ("CL online, desync p=1e-3", 1, 1024, Bernoulli(1e-3), None, pe1),
        ("stepped, mini-batch", 64, 1024, Synchronous(), stepped, pe64),
    ]
    for label, bs, m, sched, rule, pe in variants:
        steps = 10 if isinstance(sched, Synchronous) else 40
        st, _ = step_time(net, task, rule=rule, schedule=sched, steps=steps, batch_size=bs)
        b = m if bs is None else bs
        out.append(
            f"| {label} | {b} / {m} | {_sched(sched)} | {_ms(st)} | {_x(st / floor)} "
            f"| {_x(None if pe is None else pe / st)} |"
        )
        summary.setdefault("kept", []).append((label, st / floor))
    out.append("")


def _sched(s: Schedule) -> str:
    return "sync" if isinstance(s, Synchronous) else f"Bernoulli({s.p:g})"


def _span(values: list[float], fmt: str = "{:.2f}x") -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}-{fmt.format(hi)}"


def _targets(summary: dict) -> list[str]:
    lines = ["## Targets", ""]
    fr = summary.get("floor_ratios", [])
    if fr:
        groups: dict[tuple, list[float]] = {}
        for kind, e, _batch, r in fr:
            groups.setdefault((kind, e), []).append(r)
        parts = [
            f"{kind} {e:,}: {_span(rs)} {'(met)' if max(rs) <= 1.3 else '(not met)'}"
            for (kind, e), rs in groups.items()
        ]
        lines.append("1. Step <= 1.3x the floor, over batches 1 / 64 / 1024: " + "; ".join(parts))
    pe = [t for t in summary.get("pe_ratios", []) if 50_000 <= t[1] <= 200_000]
    if pe:
        parts = [f"{k} batch {b}: {'≈' if a else ''}{r:.0f}x" for k, _e, b, r, a in pe]
        lines.append("   Per-example approach / step at 10^5 edges (>= 20x): " + ", ".join(parts))
    by_graph: dict[tuple, list[str]] = {}
    devs = []
    for kind, e, p, ratio, dev in summary.get("desync", []):
        by_graph.setdefault((kind, e), []).append(f"p={p:g}: {ratio:.1f}x")
        if dev is not None:
            devs.append(dev)
    if by_graph:
        parts = [f"{kind} {e:,} ({', '.join(v)})" for (kind, e), v in by_graph.items()]
        dtxt = f"; deviation from refactoring every step <= {max(devs):.0e}" if devs else ""
        lines.append(
            "2. Synchronous / desynchronous step (>= 5x at p=1e-3): " + "; ".join(parts) + dtxt
        )
    ens = summary.get("ensemble", [])
    if ens:
        parts = [f"{label} {sched}: {speed:.0f}x" for label, sched, speed in ens]
        lines.append("3. Ensemble of 1000 / loop of `cl.train` (>= 20x): " + ", ".join(parts))
    for kind, e, peak, net_peak, train_peak in summary.get("memory", []):
        lines.append(
            f"4. Memory at {e:,} edges ({kind}): process peak {peak / 2**30:.2f} GiB "
            f"({net_peak / e:,.0f} bytes per edge for network, task and training), of which "
            f"training {train_peak / e:,.0f} bytes per edge."
        )
    kept = summary.get("kept", [])
    if kept:
        lines.append(
            "5. At 10^5 edges: " + ", ".join(f"{label} {r:.2f}x the floor" for label, r in kept)
        )
    lines += targets_lines(summary)
    if "dk_agreement" in summary:
        lines.append(
            f"\nThe per-example baseline and the fast step agree on dk to "
            f"{summary['dk_agreement']:.1e} (relative)."
        )
    return lines + [""]


def section_memory(plan: Plan, out: list[str], summary: dict) -> None:
    out += [
        "## Memory",
        "",
        "Each size in a fresh process: resident memory before anything, after building the "
        "network and its batch-64 task, and the peak while training 3 steps.",
        "",
        "| graph | edges | interpreter MB | + network and task MB | peak MB | training growth MB "
        "| bytes / edge (all but the interpreter) | bytes / edge (training) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, size in plan.memory:
        m = memory_in_subprocess(kind, size)
        e = m["edges"]
        out.append(
            f"| {kind} | {e:,} | {_mb(m['base'])} | {_mb(m['before_train'] - m['base'])} "
            f"| {_mb(m['peak'])} | {_mb(m['train_growth'])} | {(m['peak'] - m['base']) / e:,.0f} "
            f"| {m['train_growth'] / e:,.0f} |"
        )
        summary.setdefault("memory", []).append(
            (kind, e, m["peak"], m["peak"] - m["base"], m["train_growth"])
        )
    out.append("")


def _nonlinear(plan: Plan, out: list[str], summary: dict) -> None:
    section_nonlinear(plan.nonlinear, out, summary)


def run_bench(quick: bool = False, log: Callable[[str], None] | None = None) -> str:
    """Run the benchmark suite and return a markdown report.

    ``quick``: 10^4 and 10^5 edges only, one desynchronous rate, short ensembles (under a
    minute on two cores). The full run adds 10^6 edges, lattices at 10^5 for the
    desynchronous steps, 100-edge ensembles and the stepped / mini-batch / online variants.
    """
    plan = QUICK if quick else FULL
    t0 = time.perf_counter()
    out = [
        f"# circuitlearn bench{' --quick' if quick else ''}",
        "",
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs ({platform.machine()}), CHOLMOD "
        f"{'available' if cholmod_available() else 'not installed'}; numpy BLAS limited to "
        "one thread. Times in ms unless stated; ratios measured in this process.",
        "",
    ]
    summary: dict = {}
    sections = [section_large, section_desync, section_ensemble, _nonlinear]
    if plan.kept:
        sections.append(section_kept)
    sections.append(section_memory)
    with threadpool_limits(limits=1, user_api="blas"):
        for sec in sections:
            n_before = len(out)
            sec(plan, out, summary)
            if log:
                log("\n".join(out[n_before:]))
    out += _targets(summary)
    out.append(f"Total bench time: {time.perf_counter() - t0:.0f} s.")
    return "\n".join(out) + "\n"
