"""E3: desynchronisation as mini-batching (claim 3).

SGD updates every parameter from a random subset of the data; desynchronous coupled learning
updates a random subset of the parameters (edges) from all the data. Both are noisy,
unbiased versions of the full-batch synchronous step, once compared per update per edge:

- mini-batch ``b`` of ``M`` examples, synchronous: ``dk_b`` is the mean of the per-example
  updates ``dk_m`` over the batch; its relative variance around the full-batch update ``dk``
  is ``V_b = (M - b) / (b (M - 1)) * V_1`` with
  ``V_1 = mean_m |dk_m - dk|^2 / |dk|^2`` (sampling without replacement);
- full batch with ``Bernoulli(p)``: per update per edge the step is ``mask * dk / p``, with
  relative variance ``(1 - p) / p`` exactly.

The **matched** ``p`` of a batch size is the one with the same relative variance:
``p(b) = 1 / (1 + V_b)``. ``V_1`` is measured exactly from the per-example updates at states
along full-batch synchronous runs (and checked by Monte Carlo draws); then mini-batch and
matched desynchronous runs are trained to equal updates per edge and compared: learning
curves, final errors, and the spread of the final conductances across training seeds on the
same network (the noise's footprint on where learning ends). The naive matching by the
fraction of the data, ``p = b / M``, is run beside it.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from ..analysis import mean_ci
from ..measure import TaskSystem
from ..network import Network
from ..rules import CoupledLearning
from ..schedules import Synchronous, steps_for, synchronous_if_one
from ..tasks import regression
from ..train import train
from .common import Context, load_settings, run_conditions, train_replicas
from .e3_analysis import compare_pairs, figures
from .report import ci_text, figure_links, fmt, md_table, mode_note, ratio_text

NAME = "e3"
TITLE = "E3: desynchronisation as mini-batching"
#: Heading of this experiment's section in ``results.md``.
HEADING = "Claim 3 — desync acts like mini-batching (E3)"
#: The published claim this experiment tests (None: an extension that tests no claim).
CLAIM = (
    "Claim 3: desynchronisation acts like mini-batching in SGD, with similar effects on learning."
)


def _instance(s: dict, i: int):
    net = Network.random(s["n_nodes"], seed=i)
    task = regression(net, s["n_inputs"], s["n_outputs"], s["n_train"], s["n_test"], seed=i)
    return net, task


def noise_condition(c: dict) -> pd.DataFrame:
    """Relative variance of the per-step update at states along a full-batch run.

    For one instance: train full-batch synchronously, take ``states`` recorded conductance
    vectors, and at each compute the full-batch update ``dk``, the per-example updates
    ``dk_m`` (exact ``V_1``), and Monte Carlo estimates for mini-batches of each size and
    Bernoulli masks of each ``mask_ps``.

    Returns
    -------
    DataFrame
        One row per (state, kind, value): ``instance``, ``state``, ``kind`` ("exact_v1",
        "batch" or "mask"), ``value`` (b or p), ``rel_var``.
    """
    s = c["settings"]
    i = c["instance"]
    net, task = _instance(s, i)
    rule = CoupledLearning(lr=s["lr"], eta=s["eta"])
    steps = s["updates_per_edge"]
    every = max(1, steps // s["states"])
    ref = train(
        net,
        task,
        rule,
        Synchronous(),
        steps=steps,
        record_every=every,
        record_state=True,
        progress=False,
    )
    ks = ref.trajectory["k"][: s["states"]]
    system = TaskSystem(net, task)
    x, y = task.x_train, task.y_train
    m = len(x)
    rng = np.random.default_rng(1000 + i)
    rows = []
    for j, k in enumerate(ks):
        system.settle(k)
        dk = rule.delta(system.signals(x, y, rule.eta))
        norm = float(dk @ dk)
        if not norm > 0:
            continue
        per = np.array([rule.delta(system.signals(x[[e]], y[[e]], rule.eta)) for e in range(m)])
        v1 = float(np.mean(np.sum((per - dk) ** 2, axis=1)) / norm)
        rows.append({"instance": i, "state": j, "kind": "exact_v1", "value": 1.0, "rel_var": v1})
        for b in s["batch_sizes"]:
            acc = 0.0
            for _ in range(s["draws"]):
                idx = rng.choice(m, b, replace=False)
                d = per[idx].mean(axis=0) - dk
                acc += float(d @ d)
            rows.append(
                {
                    "instance": i,
                    "state": j,
                    "kind": "batch",
                    "value": float(b),
                    "rel_var": acc / s["draws"] / norm,
                }
            )
        for p in s["mask_ps"]:
            acc = 0.0
            for _ in range(s["draws"]):
                mask = rng.random(dk.size) < p
                d = np.where(mask, dk / p, 0.0) - dk
                acc += float(d @ d)
            rows.append(
                {
                    "instance": i,
                    "state": j,
                    "kind": "mask",
                    "value": float(p),
                    "rel_var": acc / s["draws"] / norm,
                }
            )
    return pd.DataFrame(rows)


def train_condition(c: dict) -> pd.DataFrame:
    """Train every (instance, seed) replica of one schedule/batch condition.

    Parameters
    ----------
    c : dict
        ``settings``, ``p`` (1 for synchronous), ``batch`` (None: full batch).

    Returns
    -------
    DataFrame
        One row per replica: ``instance``, ``seed``, final ``train_error`` and
        ``test_error`` (V^2), ``curve`` (train error on ``records + 1`` equally spaced
        updates per edge) and ``k`` (final conductances, S).
    """
    s = c["settings"]
    p = float(c["p"])
    upe = s["updates_per_edge"]
    sched = synchronous_if_one(p)
    steps = steps_for(upe, sched, n_edges=1)  # Bernoulli's rate is the same on every network
    seeds = list(range(s["run_seeds"]))
    grid = np.linspace(0.0, upe, s["records"] + 1)
    runs = []
    for i in range(s["instances"]):
        # one stacked computation per network: replicas that share it are cheapest together
        net, task = _instance(s, i)
        results = train_replicas(
            net,
            task,
            CoupledLearning(lr=s["lr"], eta=s["eta"]),
            sched,
            steps=steps,
            batch_size=c["batch"],
            seeds=seeds,
            record_every=max(1, steps // s["records"]),
        )
        runs += [(i, r, res) for r, res in zip(seeds, results, strict=True)]
    rows = []
    for i, r, res in runs:
        h = res.history
        rows.append(
            {
                "instance": i,
                "seed": r,
                "train_error": float(h["train_error"].iloc[-1]),
                "test_error": float(h["test_error"].iloc[-1]),
                "curve": np.interp(grid, h["updates_per_edge"], h["train_error"]).tolist(),
                "k": res.conductances.tolist(),
            }
        )
    frame = pd.DataFrame(rows)
    frame["p"] = p
    frame["batch"] = -1 if c["batch"] is None else int(c["batch"])
    return frame


def run(ctx: Context) -> dict:
    """Run E3 (resuming finished conditions) and return its summary (also written to
    ``OUT/e3/summary.json``)."""
    t0 = time.perf_counter()
    s = load_settings("e3_minibatch", ctx.quick)
    m = s["n_train"]
    noise_conds = [
        {"key": f"noise_i{i}", "settings": s, "instance": i} for i in range(s["instances"])
    ]
    noise = pd.concat(run_conditions(ctx, NAME, noise_conds, noise_condition), ignore_index=True)
    v1 = noise[noise["kind"] == "exact_v1"]["rel_var"]
    v1_mean, v1_low, v1_high = mean_ci(v1)
    variance_rows = []
    for b in s["batch_sizes"]:
        theory = (m - b) / (b * (m - 1)) * v1.to_numpy()
        mc = noise[(noise["kind"] == "batch") & (noise["value"] == b)]["rel_var"]
        vb, vb_low, vb_high = mean_ci(theory)
        variance_rows.append(
            {
                "b": int(b),
                "v_b": vb,
                "v_b_low": vb_low,
                "v_b_high": vb_high,
                "v_b_monte_carlo": float(mc.mean()),
                "p_match": 1.0 / (1.0 + vb),
                "p_naive": b / m,
            }
        )
    mask_rows = []
    for p in s["mask_ps"]:
        mc = noise[(noise["kind"] == "mask") & (noise["value"] == p)]["rel_var"]
        mask_rows.append({"p": p, "theory": (1 - p) / p, "monte_carlo": float(mc.mean())})

    def rnd(p: float) -> float:
        return float(f"{p:.4g}")

    conds = [{"key": "full", "settings": s, "p": 1.0, "batch": None}]
    for r in variance_rows:
        b = r["b"]
        conds.append({"key": f"mb{b}", "settings": s, "p": 1.0, "batch": b})
        conds.append(
            {"key": f"bern{b}_match", "settings": s, "p": rnd(r["p_match"]), "batch": None}
        )
        conds.append(
            {"key": f"bern{b}_naive", "settings": s, "p": rnd(r["p_naive"]), "batch": None}
        )
    got = run_conditions(ctx, NAME, conds, train_condition)
    frames = {c["key"]: f for c, f in zip(conds, got, strict=True)}
    pairs, closeness = compare_pairs(frames, variance_rows)
    err_fac = math.exp(closeness["max_abs_log_error_ratio_match"])
    sp = closeness["median_spread_ratio_match"]
    # "similar effects": matched errors within 25 % and spreads within a factor 2
    if err_fac <= 1.25 and 0.5 <= sp <= 2.0:
        verdict = "supported"
    elif err_fac <= 1.25 or 0.5 <= sp <= 2.0:
        verdict = "supported only in a stated regime"
    else:
        verdict = "not supported"
    paths = figures(ctx, s, noise, variance_rows, frames, pairs)
    return ctx.write_summary(
        NAME,
        TITLE,
        s,
        t0,
        v1={"mean": v1_mean, "low": v1_low, "high": v1_high, "n": len(v1)},
        variance=variance_rows,
        mask_check=mask_rows,
        pairs=pairs,
        closeness=closeness,
        verdict=verdict,
        figures=paths,
    )


# ---------------------------------------------------------------------------- report
def report(s: dict) -> tuple[str, str]:
    st = s["settings"]
    v1 = s["v1"]
    cl_ = s["closeness"]
    var_rows = [
        [
            r["b"],
            ci_text(r["v_b"], r["v_b_low"], r["v_b_high"]),
            fmt(r["v_b_monte_carlo"]),
            fmt(r["p_match"]),
            fmt(r["p_naive"]),
        ]
        for r in s["variance"]
    ]
    var_table = md_table(
        [
            "batch b",
            "relative variance V_b (exact) [95 % CI over states]",
            "Monte Carlo",
            "matched p = 1/(1+V_b)",
            "naive p = b/M",
        ],
        var_rows,
    )
    mask_txt = ", ".join(
        f"p = {r['p']:g}: {fmt(r['monte_carlo'])} (exact {fmt(r['theory'])})"
        for r in s["mask_check"]
    )
    pair_rows = []
    for r in s["pairs"]:
        pair_rows.append(
            [
                r["b"],
                fmt(r["p_match"]),
                fmt(r["error_mb"]),
                fmt(r["error_match"]),
                ratio_text(
                    r["error_ratio_match"], r["error_ratio_match_low"], r["error_ratio_match_high"]
                ),
                fmt(r["spread_mb"]),
                fmt(r["spread_match"]),
                fmt(r["spread_ratio_match"]),
                fmt(r["displacement_ratio_match"]),
                fmt(r["curve_distance_match"], 2),
                fmt(r["p_naive"]),
                ratio_text(
                    r["error_ratio_naive"], r["error_ratio_naive_low"], r["error_ratio_naive_high"]
                ),
                fmt(r["spread_ratio_naive"]),
            ]
        )
    pair_table = md_table(
        [
            "b",
            "matched p",
            "final train error, mini-batch (V²)",
            "final train error, desync (V²)",
            "error ratio desync/mini-batch [95 % CI]",
            "conductance spread, mini-batch (S)",
            "spread, desync (S)",
            "spread ratio",
            "displacement ratio",
            "curve distance (decades)",
            "naive p = b/M",
            "naive: error ratio",
            "naive: spread ratio",
        ],
        pair_rows,
    )
    err_fac = math.exp(cl_["max_abs_log_error_ratio_match"])
    sp = cl_["median_spread_ratio_match"]
    mb1 = next((r for r in s["pairs"] if r["b"] == min(x["b"] for x in s["pairs"])), None)
    noise_effect = ""
    if mb1 is not None and cl_["error_full"]:
        rel = mb1["error_mb"] / cl_["error_full"] - 1
        side = "below" if rel < 0 else "above"
        noise_effect = (
            f" For scale: the noisiest mini-batch (b = {mb1['b']}) ends "
            f"{100 * abs(rel):.1f} % {side} the full-batch synchronous error"
        )
        if abs(rel) < 0.1:
            noise_effect += (
                ", so at these settings update noise barely moves the final error and an "
                "error match is a weak test of the analogy."
            )
        else:
            noise_effect += ": update noise does change the final error here."
    verdict = s["verdict"]
    setup = " ".join(
        [
            f"**Setup.** Continuous coupled learning (lr = {st['lr']:g} S/V², η = {st['eta']:g})",
            f"on random {st['n_nodes']}-node networks, regression with M = {st['n_train']}",
            f"training examples; {st['instances']} networks × {st['run_seeds']} training seeds",
            f"per condition, {st['updates_per_edge']:g} updates per edge. Per update per edge, a",
            "mini-batch step and a Bernoulli(p) step are both unbiased estimates of the",
            "full-batch synchronous step; their relative variances are",
            "V_b = (M − b)/(b(M − 1)) · V_1 and (1 − p)/p. V_1 is measured exactly from the",
            f"per-example updates at {st['states']} states along each network's full-batch run:",
            f"V_1 = {ci_text(v1['mean'], v1['low'], v1['high'])} (n = {v1['n']} states).",
            "Monte Carlo",
            f"check of the mask variance: {mask_txt}. The matched p of a batch size has the same",
            "relative variance, p = 1/(1 + V_b).",
        ]
    )
    naive_err = math.exp(cl_["max_abs_log_error_ratio_naive"])
    match = [
        f"**Verdict: {verdict}.** At matched variance the final errors agree to within a",
        f"factor {err_fac:.3f} (largest deviation over the pairs) and the learning curves to",
        f"within {cl_['mean_curve_distance_match']:.3f} decades on average; the naive matching",
        f"p = b/M gives a factor {naive_err:.3f} and {cl_['mean_curve_distance_naive']:.3f}",
        f"decades.{noise_effect}",
    ]
    spread_txt = (
        f"The desynchronous final conductances spread {sp:.3g} times as widely across "
        f"training seeds as the mini-batch ones (median over pairs; "
        f"{cl_['median_spread_ratio_naive']:.3g} times with p = b/M) and end "
        f"{cl_['median_displacement_ratio_match']:.3g} times as far from the full-batch "
        "solution."
    )
    if 0.5 <= sp <= 2.0:
        match.append(f"{spread_txt} The spreads match within a factor 2 as well.")
    else:
        match.append(
            f"{spread_txt} So the two kinds of noise are alike in their effect on the error "
            "and the learning curve (both are unbiased noisy versions of the full-batch "
            "step) but not in where they leave the conductances. A likely reason (not tested "
            "here): mini-batch noise lies in the span of the per-example updates, while the "
            "mask noise falls on every edge, including directions the error does not "
            "constrain, where nothing pulls the conductances back."
        )
    body = f"""{mode_note(s)}{setup}

{var_table}

**Matched pairs** (spread: standard deviation of a final conductance across training seeds
on the same network, mean over edges; displacement: RMS distance from the full-batch
synchronous end point; curve distance: mean |Δ log10 error| between the geometric-mean
learning curves):

{pair_table}

{" ".join(match)}

{figure_links(s)}

Command: `{s["command"]}` ({s["runtime_s"]:.0f} s).
"""
    return verdict, body
