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

from ..analysis import geo_mean_ci, mean_ci, ratio_ci
from .common import (
    Context,
    load_settings,
    log_band,
    pyplot,
    run_conditions,
    save_figure,
    train_replicas,
)

NAME = "e3"
TITLE = "E3: desynchronisation as mini-batching"


def _instance(s: dict, i: int):
    from ..network import Network
    from ..tasks import regression

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
    from ..measure import TaskSystem
    from ..rules import CoupledLearning
    from ..schedules import Synchronous
    from ..train import train

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
    from ..rules import CoupledLearning
    from ..schedules import Bernoulli, Synchronous

    s = c["settings"]
    p = float(c["p"])
    upe = s["updates_per_edge"]
    steps = math.ceil(upe / p - 1e-9)
    sched = Synchronous() if p == 1.0 else Bernoulli(p)
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


def _spread(frame: pd.DataFrame) -> float:
    """Mean over instances and edges of the standard deviation of the final conductance
    across training seeds (S)."""
    out = []
    for _, g in frame.groupby("instance"):
        k = np.array(g["k"].tolist())
        if len(k) > 1:
            out.append(float(k.std(axis=0, ddof=1).mean()))
    return float(np.mean(out)) if out else math.nan


def _displacement(frame: pd.DataFrame, ref: pd.DataFrame) -> float:
    """RMS distance (S) of each replica's final conductances from the full-batch synchronous
    end point of its instance, averaged over replicas."""
    ends = {i: np.array(g["k"].iloc[0]) for i, g in ref.groupby("instance")}
    d = [
        float(np.sqrt(np.mean((np.array(row.k) - ends[row.instance]) ** 2)))
        for row in frame.itertuples()
    ]
    return float(np.mean(d))


def _paired(a: pd.DataFrame, b: pd.DataFrame, col: str) -> dict:
    ia = a.set_index(["instance", "seed"])[col]
    ib = b.set_index(["instance", "seed"])[col]
    idx = ia.index.intersection(ib.index)
    return ratio_ci(ia.loc[idx].to_numpy(), ib.loc[idx].to_numpy())


def _curve_distance(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Mean over the curve of |log10 geometric-mean error a - b| (decades)."""
    ca, _, _ = log_band(np.array(a["curve"].tolist()))
    cb, _, _ = log_band(np.array(b["curve"].tolist()))
    return float(np.mean(np.abs(np.log10(ca) - np.log10(cb))))


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
    ref = frames["full"]
    pairs = []
    for r in variance_rows:
        b = r["b"]
        mb = frames[f"mb{b}"]
        row = {
            **r,
            "error_mb": geo_mean_ci(mb["train_error"])[0],
            "test_error_mb": geo_mean_ci(mb["test_error"])[0],
            "spread_mb": _spread(mb),
            "displacement_mb": _displacement(mb, ref),
        }
        for tag in ("match", "naive"):
            f = frames[f"bern{b}_{tag}"]
            rc = _paired(f, mb, "train_error")
            rt = _paired(f, mb, "test_error")
            row.update(
                {
                    f"error_{tag}": geo_mean_ci(f["train_error"])[0],
                    f"test_error_{tag}": geo_mean_ci(f["test_error"])[0],
                    f"error_ratio_{tag}": rc["ratio"],
                    f"error_ratio_{tag}_low": rc["low"],
                    f"error_ratio_{tag}_high": rc["high"],
                    f"test_ratio_{tag}": rt["ratio"],
                    f"spread_{tag}": _spread(f),
                    f"displacement_{tag}": _displacement(f, ref),
                    f"curve_distance_{tag}": _curve_distance(f, mb),
                }
            )
            row[f"spread_ratio_{tag}"] = row[f"spread_{tag}"] / row["spread_mb"]
            row[f"displacement_ratio_{tag}"] = row[f"displacement_{tag}"] / row["displacement_mb"]
        pairs.append(row)
    pf = pd.DataFrame(pairs)
    closeness = {
        "max_abs_log_error_ratio_match": float(np.max(np.abs(np.log(pf["error_ratio_match"])))),
        "max_abs_log_error_ratio_naive": float(np.max(np.abs(np.log(pf["error_ratio_naive"])))),
        "median_spread_ratio_match": float(np.median(pf["spread_ratio_match"])),
        "median_spread_ratio_naive": float(np.median(pf["spread_ratio_naive"])),
        "median_displacement_ratio_match": float(np.median(pf["displacement_ratio_match"])),
        "median_displacement_ratio_naive": float(np.median(pf["displacement_ratio_naive"])),
        "mean_curve_distance_match": float(pf["curve_distance_match"].mean()),
        "mean_curve_distance_naive": float(pf["curve_distance_naive"].mean()),
        "error_full": geo_mean_ci(ref["train_error"])[0],
        "spread_full": _spread(ref),
    }
    err_fac = math.exp(closeness["max_abs_log_error_ratio_match"])
    sp = closeness["median_spread_ratio_match"]
    # "similar effects": matched errors within 25 % and spreads within a factor 2
    if err_fac <= 1.25 and 0.5 <= sp <= 2.0:
        verdict = "supported"
    elif err_fac <= 1.25 or 0.5 <= sp <= 2.0:
        verdict = "supported only in a stated regime"
    else:
        verdict = "not supported"
    figures = _figures(ctx, s, noise, variance_rows, frames, pairs)
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
        figures=figures,
    )


def _figures(ctx, s, noise, variance_rows, frames, pairs) -> list[str]:
    plt = pyplot()
    m = s["n_train"]
    vr = pd.DataFrame(variance_rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    ax = axes[0]
    bb = np.arange(1, m + 1)
    v1 = noise[noise["kind"] == "exact_v1"]["rel_var"].mean()
    ax.plot(
        bb,
        (m - bb) / (bb * (m - 1)) * v1,
        color="0.4",
        label="mini-batch, exact: $(M-b)/(b(M-1))\\,V_1$",
    )
    yerr = [vr["v_b"] - vr["v_b_low"], vr["v_b_high"] - vr["v_b"]]
    ax.errorbar(
        vr["b"], vr["v_b"], yerr=yerr, fmt="o", capsize=3, label="mean over states, 95 % CI"
    )
    ax.plot(vr["b"], vr["v_b_monte_carlo"], "x", color="C3", label="Monte Carlo draws")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mini-batch size b (examples)")
    ax.set_ylabel("relative variance of the update per update per edge")
    ax.set_title(f"update noise around the full-batch step (M = {m})")
    ax.grid(alpha=0.3)
    ax.legend()
    ax = axes[1]
    ax.plot(vr["b"], vr["p_match"], "o-", label="matched: $p = 1/(1+V_b)$")
    ax.plot(vr["b"], vr["p_naive"], "s--", label="naive: $p = b/M$")
    ax.set_xscale("log")
    ax.set_xlabel("mini-batch size b (examples)")
    ax.set_ylabel("update probability p of the matched desync run")
    ax.set_title("matched (p, b) pairs")
    ax.grid(alpha=0.3)
    ax.legend()
    for ax in axes:
        ax.set_xticks(vr["b"], [str(b) for b in vr["b"]])
        ax.minorticks_off()
    paths = [save_figure(fig, ctx, "e3_noise_matching")]

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3), layout="constrained", sharey=True)
    grid = np.linspace(0, s["updates_per_edge"], s["records"] + 1)
    colours = plt.get_cmap("plasma")(np.linspace(0, 0.85, len(variance_rows)))
    ref_curve = log_band(np.array(frames["full"]["curve"].tolist()))[0]
    for ax, tag, title in (
        (axes[0], "mb", "synchronous, mini-batch b"),
        (axes[1], "match", "full batch, Bernoulli p matched to b"),
        (axes[2], "naive", "full batch, Bernoulli p = b / M"),
    ):
        ax.plot(grid, ref_curve, color="k", lw=1.5, label="full batch, synchronous")
        for col, r in zip(colours, variance_rows, strict=True):
            b = r["b"]
            key = f"mb{b}" if tag == "mb" else f"bern{b}_{tag}"
            mid, lo, hi = log_band(np.array(frames[key]["curve"].tolist()))
            p = r["p_match"] if tag == "match" else r["p_naive"]
            label = f"b = {b}" if tag == "mb" else f"p = {p:.3g} (b = {b})"
            ax.plot(grid, mid, color=col, label=label)
            ax.fill_between(grid, lo, hi, color=col, alpha=0.15, lw=0)
        ax.set_yscale("log")
        ax.set_xlabel("updates per edge")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("train error (V$^2$), geometric mean, 95 % CI")
    fig.suptitle("E3 side by side: mini-batching against matched desynchronisation")
    paths.append(save_figure(fig, ctx, "e3_side_by_side"))

    pf = pd.DataFrame(pairs).sort_values("b")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
    ax = axes[0]
    for tag, mk, lab in (("match", "o-", "matched p"), ("naive", "s--", "p = b / M")):
        y = pf[f"error_ratio_{tag}"]
        yerr = [y - pf[f"error_ratio_{tag}_low"], pf[f"error_ratio_{tag}_high"] - y]
        ax.errorbar(pf["b"], y, yerr=yerr, fmt=mk, capsize=3, label=f"desync, {lab}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_ylabel("final train error, desync / mini-batch (95 % CI)")
    ax.set_title("final error of the matched pairs")
    for ax, col, lab in (
        (axes[1], "spread", "spread of final conductances across seeds (S)"),
        (axes[2], "displacement", "RMS distance from the full-batch end point (S)"),
    ):
        ax.plot(pf["b"], pf[f"{col}_mb"], "k^-", label="synchronous, mini-batch b")
        ax.plot(pf["b"], pf[f"{col}_match"], "o-", label="full batch, matched p")
        ax.plot(pf["b"], pf[f"{col}_naive"], "s--", label="full batch, p = b / M")
        ax.set_yscale("log")
        ax.set_ylabel(lab)
        ax.set_title("where the conductances end up")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(pf["b"], [str(b) for b in pf["b"]])
        ax.minorticks_off()
        ax.set_xlabel("mini-batch size b of the pair (examples)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle("E3 matched pairs: final error and conductance spread against batch size")
    paths.append(save_figure(fig, ctx, "e3_matched_pairs"))
    return paths
