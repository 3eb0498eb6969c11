"""E3's comparisons and figures, from the per-condition frames of ``e3_minibatch``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..analysis import geo_mean_ci, log_band, ratio_ci
from .common import Context, pyplot, save_figure


def spread(frame: pd.DataFrame) -> float:
    """Mean over instances and edges of the standard deviation of the final conductance
    across training seeds (S)."""
    out = []
    for _, g in frame.groupby("instance"):
        k = np.array(g["k"].tolist())
        if len(k) > 1:
            out.append(float(k.std(axis=0, ddof=1).mean()))
    return float(np.mean(out)) if out else math.nan


def displacement(frame: pd.DataFrame, ref: pd.DataFrame) -> float:
    """RMS distance (S) of each replica's final conductances from the full-batch synchronous
    end point of its instance, averaged over replicas."""
    ends = {i: np.array(g["k"].iloc[0]) for i, g in ref.groupby("instance")}
    d = [
        float(np.sqrt(np.mean((np.array(row.k) - ends[row.instance]) ** 2)))
        for row in frame.itertuples()
    ]
    return float(np.mean(d))


def paired_ratio(a: pd.DataFrame, b: pd.DataFrame, col: str) -> dict:
    ia = a.set_index(["instance", "seed"])[col]
    ib = b.set_index(["instance", "seed"])[col]
    idx = ia.index.intersection(ib.index)
    return ratio_ci(ia.loc[idx].to_numpy(), ib.loc[idx].to_numpy())


def curve_distance(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Mean over the curve of |log10 geometric-mean error a - b| (decades)."""
    ca, _, _ = log_band(np.array(a["curve"].tolist()))
    cb, _, _ = log_band(np.array(b["curve"].tolist()))
    return float(np.mean(np.abs(np.log10(ca) - np.log10(cb))))


def compare_pairs(frames: dict[str, pd.DataFrame], variance_rows: list[dict]) -> tuple:
    """Each mini-batch size against its matched and naive desynchronous partner.

    Parameters
    ----------
    frames : dict
        Frames of ``e3_minibatch.train_condition`` by condition key (``full``, ``mb<b>``,
        ``bern<b>_match``, ``bern<b>_naive``).
    variance_rows : list of dict
        One per batch size ``b``, with its matched and naive ``p``.

    Returns
    -------
    pairs : list of dict
        Per batch size: final errors, paired ratios with their CI, spreads, displacements and
        curve distances of the mini-batch run and both partners.
    closeness : dict
        How close the pairs are over all batch sizes (largest log error ratio, median spread
        and displacement ratios, mean curve distance) and the full-batch reference.
    """
    ref = frames["full"]
    pairs = []
    for r in variance_rows:
        b = r["b"]
        mb = frames[f"mb{b}"]
        row = {
            **r,
            "error_mb": geo_mean_ci(mb["train_error"])[0],
            "test_error_mb": geo_mean_ci(mb["test_error"])[0],
            "spread_mb": spread(mb),
            "displacement_mb": displacement(mb, ref),
        }
        for tag in ("match", "naive"):
            f = frames[f"bern{b}_{tag}"]
            rc = paired_ratio(f, mb, "train_error")
            rt = paired_ratio(f, mb, "test_error")
            row.update(
                {
                    f"error_{tag}": geo_mean_ci(f["train_error"])[0],
                    f"test_error_{tag}": geo_mean_ci(f["test_error"])[0],
                    f"error_ratio_{tag}": rc["ratio"],
                    f"error_ratio_{tag}_low": rc["low"],
                    f"error_ratio_{tag}_high": rc["high"],
                    f"test_ratio_{tag}": rt["ratio"],
                    f"spread_{tag}": spread(f),
                    f"displacement_{tag}": displacement(f, ref),
                    f"curve_distance_{tag}": curve_distance(f, mb),
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
        "spread_full": spread(ref),
    }
    return pairs, closeness


def figures(ctx: Context, s: dict, noise, variance_rows, frames, pairs) -> list[str]:
    """Draw E3's three figures; return their paths relative to ``ctx.out``."""
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
