"""E3's statistics, criteria cells and figures, from the per-condition frames of
``e3_minibatch``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..analysis import cluster_ci, mean_ci
from .common import Context, pyplot, save_figure
from .criteria import Cell

#: Leading eigenvectors of the output-space covariance kept per replica (principal angles).
N_EIGVECS = 2

#: Arms compared with the with-replacement mini-batch ("mb") of the same pair.
ARM_LABELS = {
    "sync": "full batch, synchronous (control)",
    "desync": "full batch, Bernoulli p",
    "mb": "mini-batch b, with replacement",
    "epoch": "mini-batch b, reshuffled epochs",
}


def regime(fraction: float) -> str:
    """The regime label of a learning rate, shared by every criterion."""
    return f"lr = {100 * fraction:g} % of lr_edge"


def excess_losses(stat: pd.DataFrame, ref: pd.DataFrame, floor: float) -> pd.DataFrame:
    """Add ``excess`` = ``loss_window - L(k*)`` (V^2) to ``stat``, floored at the resolution.

    The resolution of a replica is the larger of ``floor * L(k*)`` and the |excess| of the
    noise-free synchronous control of the same network and learning rate (what k* itself
    still drifts): below it, no noise-driven excess can be told apart.
    """
    out = stat.copy()
    star = ref.set_index("network")["loss_star"]
    out["loss_star"] = out["network"].map(star)
    raw = out["loss_window"] - out["loss_star"]
    is_ctrl = out["arm"] == "sync"
    key = [out.loc[is_ctrl, "network"], out.loc[is_ctrl, "lr_fraction"]]
    ctrl = raw[is_ctrl].abs().groupby(key).max()
    res = [
        max(floor * ls, ctrl.get((n, f), 0.0))
        for n, f, ls in zip(out["network"], out["lr_fraction"], out["loss_star"], strict=True)
    ]
    out["excess_raw"] = raw
    out["resolution"] = res
    out["excess"] = np.maximum(raw, res)
    for col in ("loss_first", "loss_second"):
        out[col + "_excess"] = np.maximum(out[col] - out["loss_star"], res)
    out["trace_f"] = np.maximum(out["trace"], floor * out["loss_star"])
    return out


def _paired(a: pd.DataFrame, b: pd.DataFrame, col: str) -> pd.DataFrame:
    """Paired log ratio ``log(a[col] / b[col])`` by (network, seed)."""
    ia = a.set_index(["network", "seed"])[col]
    ib = b.set_index(["network", "seed"])[col]
    idx = ia.index.intersection(ib.index)
    return pd.DataFrame(
        {
            "network": idx.get_level_values(0),
            "seed": idx.get_level_values(1),
            "log_ratio": np.log(ia.loc[idx].to_numpy() / ib.loc[idx].to_numpy()),
        }
    )


def _cosines(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, float]:
    """Principal-angle cosines between the subspaces of the ``N_EIGVECS`` leading
    eigenvectors of two output covariances, paired by replica: the mean over pairs of the
    largest cosine (the first principal angle) and of the smallest (the last)."""
    ia = a.set_index(["network", "seed"])["eigvecs"]
    ib = b.set_index(["network", "seed"])["eigvecs"]
    first, last = [], []
    for key in ia.index.intersection(ib.index):
        ua = np.asarray(ia[key]).reshape(-1, N_EIGVECS)
        ub = np.asarray(ib[key]).reshape(-1, N_EIGVECS)
        s = np.linalg.svd(ua.T @ ub, compute_uv=False)
        first.append(float(s.max()))
        last.append(float(s.min()))
    if not first:
        return math.nan, math.nan
    return float(np.mean(first)), float(np.mean(last))


def _geo(values) -> float:
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.exp(np.mean(np.log(v)))) if v.size else math.nan


def analyse(s: dict, ref: pd.DataFrame, match: pd.DataFrame, stat: pd.DataFrame, pairs) -> dict:
    """Everything E3's report, criteria and figures need from the continuous part.

    Returns
    -------
    dict
        ``summary`` (JSON-ready: ``networks``, ``matched``, ``arms``, ``ratios``) and the
        frames ``stat`` (per replica, with ``excess``) and ``paired`` (per replica pair).
    """
    st = excess_losses(stat, ref, s["loss_floor"])
    burn = (1 - s["window"]) * s["time_lr"]
    nets = []
    for r in ref.sort_values("network").itertuples():
        rates = np.asarray(r.rates)
        nets.append(
            {
                "network": int(r.network),
                "lr_edge": r.lr_edge,
                "ref_lr": r.ref_lr,
                "ref_passes": int(r.ref_passes),
                "loss_star": r.loss_star,
                "v1": r.v1,
                "rank": int(r.rank),
                "rate_min": float(rates.min()),
                "relax_min": float(rates.min() * burn),
                "modes_10": int(np.sum(rates * burn >= 10)),
                "v1_last": float(r.v1_states[-1]) if len(r.v1_states) else math.nan,
                "v1_states": list(r.v1_states),
                "loss_states": list(r.loss_states),
            }
        )
    matched = []
    for pair in pairs:
        g = match[match["b"] == pair["b"]]
        g = g[g["p"] == pair["p"]]
        matched.append(
            {
                "pair": pair["name"],
                "b": pair["b"],
                "p": pair["p"],
                "v_b": float(g["v_b"].mean()),
                "mask": float(g["mask"].mean()),
                "v_b_epoch": float(g["v_b_epoch"].mean()),
            }
        )
    arms = []
    for (frac, arm, name), g in st.groupby(["lr_fraction", "arm", "pair"], sort=True):
        halves = _geo(g["loss_second_excess"] / g["loss_first_excess"])
        expo = 2 * np.log2(g["null_drift_end"] / g["null_drift_half"])
        arms.append(
            {
                "lr_fraction": float(frac),
                "lr": _geo(g["lr"]),
                "arm": arm,
                "pair": name,
                "excess": _geo(g["excess"]),
                "excess_rel": _geo(g["excess"] / g["loss_star"]),
                "at_resolution": float(np.mean(g["excess_raw"] <= g["resolution"])),
                "trace": _geo(g["trace"]),
                "range_rms": _geo(g["range_rms"]),
                "null_rms": _geo(g["null_rms"]),
                "drift_exponent": float(np.nanmean(expo[np.isfinite(expo)]))
                if np.isfinite(expo).any()
                else math.nan,
                "halves": halves,
                "n": len(g),
            }
        )
    paired, ratios = [], []
    for (frac, name), g in st[st["arm"] != "sync"].groupby(["lr_fraction", "pair"], sort=True):
        mb = g[g["arm"] == "mb"]
        de = g[g["arm"] == "desync"]
        ep = g[g["arm"] == "epoch"]
        row = {"lr_fraction": float(frac), "lr": _geo(g["lr"]), "pair": name}
        for what, arm, col in (
            ("excess", de, "excess"),
            ("trace", de, "trace_f"),
            ("null", de, "null_rms"),
            ("epoch_excess", ep, "excess"),
        ):
            pr = _paired(arm, mb, col)
            row[f"{what}_ratio"] = float(np.exp(pr["log_ratio"].mean())) if len(pr) else math.nan
            paired.append(pr.assign(lr_fraction=frac, pair=name, what=what))
        row["cosine_first"], row["cosine_last"] = _cosines(de, mb)
        ratios.append(row)
    paired = pd.concat(paired, ignore_index=True) if paired else pd.DataFrame()
    return {
        "summary": {
            "networks": nets,
            "matched": matched,
            "arms": arms,
            "ratios": ratios,
            "exponents": lr_exponents(st),
        },
        "stat": st,
        "paired": paired,
    }


def lr_exponents(st: pd.DataFrame) -> list[dict]:
    """The exponent of ΔL against lr per arm: per network the least-squares slope of
    log ΔL (geometric mean over its seeds) against log lr, then the mean over networks with its
    t interval (networks are the independent units). Empty with fewer than two rates."""
    out = []
    if st["lr_fraction"].nunique() < 2:
        return out
    for (arm, name), g in st[st["arm"] != "sync"].groupby(["arm", "pair"], sort=True):
        slopes = []
        for _, h in g.groupby("network"):
            # Excess losses at or below zero (under the resolution) carry no exponent.
            pts = h.groupby("lr")["excess"].agg(
                lambda v: np.mean(np.log(v[v > 0])) if (v > 0).any() else np.nan
            )
            pts = pts[np.isfinite(pts.to_numpy())]
            if len(pts) >= 2:
                slopes.append(float(np.polyfit(np.log(pts.index), pts.to_numpy(), 1)[0]))
        m, lo, hi = mean_ci(slopes) if len(slopes) >= 2 else (math.nan,) * 3
        out.append({"arm": arm, "pair": name, "slope": m, "low": lo, "high": hi})
    return out


def _log_interp(x, y, target) -> float:
    """``x`` where ``log y`` (a function of ``log x``) reaches ``log target``: interpolated
    inside the measured range, else extrapolated by a power-law fit (clipped to [1e-3, 1e6])."""
    lx, ly, lt = np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), math.log(target)
    order = np.argsort(lx)
    lx, ly = lx[order], ly[order]
    for j in range(len(lx) - 1):
        a, b = ly[j], ly[j + 1]
        if (a - lt) * (b - lt) <= 0 and a != b:
            return float(np.exp(lx[j] + (lt - a) * (lx[j + 1] - lx[j]) / (b - a)))
    if len(lx) >= 2:
        slope, icpt = np.polyfit(lx, ly, 1)
        if slope != 0:
            return float(np.clip(np.exp((lt - icpt) / slope), 1e-3, 1e6))
    return math.nan


def board_analysis(bs: dict, frames: pd.DataFrame, noise: pd.DataFrame) -> dict:
    """The (b, p) grid on the lab board: measured V_b and mask noise, the predicted matched b
    per p, and per seed the b whose synchronous tail error equals the full-batch Bernoulli(p)
    one (log-log interpolation over the measured b).

    Returns
    -------
    dict
        ``summary`` (JSON-ready: ``v_b``, ``per_p``, ``grid``) and ``cells`` (per p, the
        per-seed ``log2(b_match / b_pred)``).
    """
    vb = noise[noise["kind"] == "batch"].groupby("value")["noise"].mean()
    mask = noise[noise["kind"] == "mask"].groupby("value")["noise"].mean()
    sync = frames[(frames["p"] == 1.0) & (frames["b"] > 0)]
    table = sync.pivot(index="seed", columns="b", values="train_error").sort_index(axis=1)
    bgrid = table.columns.to_numpy(float)
    fine = np.geomspace(bgrid.min(), bgrid.max(), 400)
    per_p, cells = [], {}
    for p, m in mask.items():
        b_pred = _log_interp(vb.index.to_numpy(), vb.to_numpy(), m)
        full = frames[(frames["p"] == p) & (frames["b"] == -1)].set_index("seed")["train_error"]
        matches = []
        for seed, row in table.iterrows():
            le = np.interp(np.log(fine), np.log(bgrid), np.log(row.to_numpy(float)))
            matches.append(float(fine[np.argmin(np.abs(le - math.log(full[seed])))]))
        vals = np.log2(np.asarray(matches) / b_pred)
        cells[float(p)] = vals
        per_p.append(
            {
                "p": float(p),
                "mask_noise": float(m),
                "b_pred": b_pred,
                "b_match": _geo(matches),
                "log2_ratio": float(np.mean(vals)),
            }
        )
    grid = (
        frames.groupby(["b", "p"])["train_error"]
        .apply(lambda v: _geo(v))
        .reset_index()
        .to_dict("records")
    )
    return {
        "summary": {
            "v_b": [[float(b), float(v)] for b, v in vb.items()],
            "per_p": per_p,
            "grid": grid,
            "n_seeds": int(frames["seed"].nunique()),
        },
        "cells": cells,
    }


def criteria_cells(results: dict, hw: dict) -> dict[str, list[Cell]]:
    """The cells of every E3 criterion: per learning rate (regime) one cell per matched pair,
    values = paired log ratios desync / with-replacement mini-batch, clusters = networks; per
    p one board cell of per-seed log2(b_match / b_pred)."""
    pr = results["paired"]
    cells: dict[str, list[Cell]] = {
        "C3-excess-loss": [],
        "C3-function-space": [],
        "C3-vanishing": [],
        "C3-board-contours": [],
    }
    if len(pr):
        for (frac, name, what), g in pr.groupby(["lr_fraction", "pair", "what"], sort=True):
            label = f"{name}: Bernoulli / mini-batch (with replacement)"
            cell = Cell(regime(frac), label, g["log_ratio"].to_numpy(), g["network"].to_numpy())
            if what == "excess":
                cells["C3-excess-loss"].append(cell)
                cells["C3-vanishing"].append(cell)
            elif what == "trace":
                cells["C3-function-space"].append(cell)
    for p, vals in hw["cells"].items():
        cells["C3-board-contours"].append(
            Cell(f"board, p = {p:g}", f"log2(b_match / b_pred), p = {p:g}", vals)
        )
    return cells


# ---------------------------------------------------------------------------- figures
def _ci(values, clusters) -> tuple[float, float, float]:
    v = np.asarray(values, float)
    c = np.asarray(clusters)
    ok = np.isfinite(v)
    if ok.sum() < 2 or len(np.unique(c[ok])) < 2:
        m = float(np.mean(v[ok])) if ok.any() else math.nan
        return m, m, m
    return cluster_ci(v[ok], c[ok], 0.95)


def _lr_axis(ax, fracs) -> None:
    """Log x axis ticked at the learning-rate fractions, log y axis."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(min(fracs) / 1.6, max(fracs) * 1.6)
    ax.set_xticks(fracs, [f"{f:g}" for f in fracs])
    ax.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)
    ax.set_xlabel("learning rate / the network's stability edge, lr / lr_edge")


def figures(ctx: Context, s: dict, bs: dict, results: dict, hw: dict) -> tuple[list, list]:
    """Draw E3's three figures; return their paths (relative to ``ctx.out``) and captions."""
    plt = pyplot()
    st, pr = results["stat"], results["paired"]
    n_net, n_seed = s["networks"], s["seeds"]
    pairs = sorted(st.loc[st["arm"] != "sync", "pair"].unique())
    colours = {p: f"C{i}" for i, p in enumerate(pairs)}
    paths, captions = [], []
    fracs = sorted(st["lr_fraction"].unique())

    fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    styles = {"desync": ("o", "-"), "mb": ("s", "--"), "epoch": ("^", ":")}
    n_series = len(pairs) * len(styles)
    for i_pair, name in enumerate(pairs):
        for i_arm, (arm, (mk, ls)) in enumerate(styles.items()):
            # dodge the series sideways (multiplicatively: log axis) so bars do not overlap
            dodge = 1 + 0.03 * (i_pair * len(styles) + i_arm - (n_series - 1) / 2)
            g = st[(st["pair"] == name) & (st["arm"] == arm)]
            if not len(g):
                continue
            rows = []
            for lr, h in g.groupby("lr_fraction"):
                m, lo, hi = _ci(np.log(h["excess"]), h["network"])
                rows.append((lr * dodge, math.exp(m), math.exp(lo), math.exp(hi)))
            a = np.array(rows)
            ax.errorbar(
                a[:, 0], a[:, 1], yerr=[a[:, 1] - a[:, 2], a[:, 3] - a[:, 1]], marker=mk,
                ls=ls, color=colours[name], capsize=3, label=f"{name}: {ARM_LABELS[arm]}",
            )  # fmt: skip
    ctrl = st[st["arm"] == "sync"].groupby("lr_fraction")["resolution"].apply(_geo)
    ax.plot(ctrl.index, ctrl.to_numpy(), "_-", color="0.5", lw=1, ms=14, label="resolution")
    _lr_axis(ax, fracs)
    ax.set_ylabel("stationary excess loss ΔL (V²)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    paths.append(save_figure(fig, ctx, "e3_excess_loss"))
    captions.append(
        f"Figure E3.1 — Stationary excess training loss ΔL = ⟨L⟩_window − L(k*) against "
        f"learning rate (a fraction of each network's synchronous stability edge), for each "
        f"matched pair (colour): full-batch Bernoulli(p) (circles), "
        f"synchronous mini-batches drawn with replacement (squares) and reshuffled epochs "
        f"(triangles). Points: geometric means over n = {n_net} networks × {n_seed} seeds; "
        f"bars: 95 % cluster-bootstrap intervals (clusters = networks). Grey: the resolution "
        f"(the noise-free synchronous control's drift, or {s['loss_floor']:g} × L(k*)); values "
        f"at it are below resolution."
    )

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained", sharey=True)
    for ax, what, title in (
        (axes[0], "trace", "function space: tr(J Cov(k) Jᵀ)"),
        (axes[1], "null", "null space: RMS fluctuation of k"),
    ):
        if len(pr):
            for name in pairs:
                g = pr[(pr["pair"] == name) & (pr["what"] == what)]
                rows = []
                for lr, h in g.groupby("lr_fraction"):
                    m, lo, hi = _ci(h["log_ratio"], h["network"])
                    rows.append((lr, math.exp(m), math.exp(lo), math.exp(hi)))
                if rows:
                    a = np.array(rows)
                    ax.errorbar(
                        a[:, 0], a[:, 1], yerr=[a[:, 1] - a[:, 2], a[:, 3] - a[:, 1]],
                        marker="o", color=colours[name], capsize=3, label=name,
                    )  # fmt: skip
        ax.axhspan(0.67, 1.5, color="0.85", zorder=0, label="[0.67, 1.5]")
        ax.axhline(1.0, color="k", lw=0.8)
        _lr_axis(ax, fracs)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("paired ratio, Bernoulli / mini-batch")
    paths.append(save_figure(fig, ctx, "e3_function_vs_null"))
    captions.append(
        f"Figure E3.2 — Where the stationary fluctuations lie, per matched pair (colour): paired "
        f"ratio Bernoulli(p) / with-replacement mini-batch of the trace of the output-space "
        f"covariance J Cov(k) Jᵀ over the stationary window (left, what the task sees) and of "
        f"the per-edge RMS fluctuation in the null space of J (right). Pairs share network, "
        f"seed and start k*; points: geometric means over n = {n_net} × {n_seed} pairs; bars: "
        f"95 % cluster-bootstrap intervals (clusters = networks); shaded: the acceptance band."
    )

    grid = pd.DataFrame(hw["summary"]["grid"])
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    bvals = sorted(b for b in grid["b"].unique() if b > 0) + [-1]
    pvals = sorted(grid["p"].unique(), reverse=True)
    img = np.full((len(pvals), len(bvals)), np.nan)
    for r in grid.itertuples():
        img[pvals.index(r.p), bvals.index(r.b)] = math.log10(r.train_error)
    im = ax.imshow(img, aspect="auto", cmap="viridis", origin="upper")
    ax.set_xticks(range(len(bvals)), [str(int(b)) if b > 0 else "full" for b in bvals])
    ax.set_yticks(range(len(pvals)), [f"{p:g}" for p in pvals])
    ax.set_xlabel("mini-batch size b (examples, drawn with replacement)")
    ax.set_ylabel("Bernoulli update probability p")
    fig.colorbar(im, ax=ax, label="log10 tail train error (V²)")
    bpos = np.array([b for b in bvals if b > 0], float)

    def xpos(b):
        return float(np.interp(np.log(b), np.log(bpos), np.arange(len(bpos))))

    for r in hw["summary"]["per_p"]:
        y = pvals.index(r["p"])
        if math.isfinite(r["b_pred"]):
            ax.plot(xpos(r["b_pred"]), y, "r*", ms=12)
        ax.plot(xpos(r["b_match"]), y, "wo", mfc="none", ms=10)
        ax.plot(len(bvals) - 1, y, "ws", mfc="none", ms=10)
    vmap = dict(hw["summary"]["v_b"])
    mnoise = {r["p"]: r["mask_noise"] for r in hw["summary"]["per_p"]}
    noise = np.array(
        [[vmap.get(b, 0.0) + mnoise.get(p, 0.0) for b in bvals] for p in pvals]
    )  # the predicted total noise per update per edge, V_b + (1 - p) (full batch: V_b = 0)
    if min(noise.shape) >= 2:
        cs = ax.contour(np.arange(len(bvals)), np.arange(len(pvals)), noise, colors="w",
                        linewidths=0.8, linestyles="--")  # fmt: skip
        ax.clabel(cs, fontsize=7, fmt="%.2g")
    ax.plot([], [], "w--", label="predicted iso-noise V_b + (1 − p) (measured)")
    ax.plot([], [], "r*", label="predicted b: V_b = measured mask noise of p")
    ax.plot([], [], "wo", mfc="none", mec="k", label="b whose sync error matches (full, p)")
    ax.plot([], [], "ws", mfc="none", mec="k", label="(full, p): the error matched")
    ax.legend(fontsize=7, loc="lower left")
    paths.append(save_figure(fig, ctx, "e3_board_map"))
    captions.append(
        f"Figure E3.3 — Tail training error of the stepped lab board ({bs['taps']} taps, Iris) "
        f"on the (b, p) grid: geometric mean over n = {hw['summary']['n_seeds']} seeds (Iris "
        f"split and training seed i in every cell, so cells are paired). Column 'full': every "
        f"example per step. Stars: the b predicted to match the full-batch Bernoulli(p) row "
        f"(measured V_b equal to the measured mask noise, stars at the axis ends mean "
        f"extrapolated beyond the grid); open circles: the b whose synchronous error equals that "
        f"of (full, p), geometric mean over seeds. Dashed: contours of the predicted noise "
        f"V_b + (1 − p) (measured V_b and mask noise). The analogy predicts iso-error contours "
        f"along them, i.e. circles on the stars."
    )
    return paths, captions
