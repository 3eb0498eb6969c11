"""E3: desynchronisation as mini-batching (claim 3), tested where noise matters.

SGD updates every parameter from a random subset of the data; desynchronous coupled learning
updates a random subset of the parameters (edges) from all the data. Both are unbiased noisy
versions of the full-batch synchronous step per update per edge, but their noise differs in
kind: a Bernoulli(p) mask carries relative variance ``1 - p`` per update per edge *of the
full-batch drift*, so it vanishes where the drift does (at the optimum ``k*``), while the noise
of a mini-batch comes from the spread of the per-example updates, which stays non-zero at
``k*`` on a non-realisable task (label noise). The old E3 could not see the difference (a
realisable task, reshuffled batches whose noise cancels over an epoch, a mis-specified
matching); this one follows the referee's design (report §4, "Claim 3"), shrunk to budget:

1. **Reference** (per network): a long full-batch synchronous run gives ``k*`` and ``L(k*)``
   (the rule's lower bound ``k_min`` holds the edges the fit would switch off; those edges are
   pinned and leave the linearisation);
   the finite-difference Jacobian of the full-batch update at ``k*`` gives the relaxation
   rates of the function-space modes (per unit learning rate) and the synchronous stability
   edge ``lr_edge = 2 / rate_max``; ``diagnostics.update_noise`` at the start of learning
   gives ``V_1`` (one example drawn with replacement).
2. **Matching**: for each configured ``p``, ``b = round(V_1 / (1 - p))`` with ``V_1`` the mean
   over networks; then ``update_noise`` measures ``V_b`` (b with replacement) and the mask's
   ``1 - p`` on every network, and the summary states the measured pairs.
3. **Stationary runs**: every arm starts at ``k*`` (so no deterministic transient biases the
   comparison) and runs ``time_lr / lr`` updates per edge at three learning rates, fractions of
   each network's ``lr_edge``; the last ``window`` of it is the stationary window. Arms: full-batch
   synchronous (the noise-free control), Bernoulli(p), with-replacement mini-batches of b, and
   (secondary) reshuffled-epoch mini-batches of b. Statistics per replica: excess loss
   ``<L>_window - L(k*)``, ``diagnostics.function_space_covariance`` of the window's states
   (trace, leading eigenvectors, range and null-space RMS) and the null-space drift.
4. **Hardware analogue**: the stepped lab board on Iris, a grid of (b with replacement, p)
   tail errors; iso-error contours against ``V_b + (1 - p)`` (``V_b`` measured at the tail
   state of the full-batch synchronous board).

Numbers and figures are made in ``e3_analysis``; verdicts come from the pre-registered
criteria in ``e3_minibatch.toml``.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd

from ..analysis import tail_mean
from ..diagnostics import function_space_covariance, output_jacobian, update_noise
from ..gallery import LAB_IRIS_ROLES, lab_board
from ..hardware import SteppedCoupledLearning
from ..measure import TaskSystem
from ..network import Network
from ..rules import CoupledLearning
from ..schedules import Synchronous, steps_for, synchronous_if_one
from ..tasks import Task, iris, regression
from ..train import train
from .common import Context, judge_criteria, load_settings, run_conditions, train_replicas
from .e3_analysis import ARM_LABELS, N_EIGVECS, analyse, board_analysis, criteria_cells, figures
from .report import ci_text, criteria_section, figures_with_captions, fmt, md_table, mode_note

NAME = "e3"
MODULE = "e3_minibatch"
TITLE = "E3: desynchronisation as mini-batching"
#: Heading of this experiment's section in ``results.md``.
HEADING = "Claim 3 — desync acts like mini-batching (E3)"
#: The published claim this experiment tests (None: an extension that tests no claim).
CLAIM = (
    "Claim 3: desynchronisation acts like mini-batching in SGD, with similar effects on learning."
)


# ---------------------------------------------------------------------------- continuous part
def instance(s: dict, i: int) -> tuple[Network, Task]:
    """Network ``i`` and its non-realisable regression task: teacher targets plus Gaussian
    label noise of ``s["label_noise"]`` V on the training targets (test targets clean)."""
    net = Network.random(s["n_nodes"], seed=i)
    t = regression(net, s["n_inputs"], s["n_outputs"], s["n_train"], s["n_test"], seed=i)
    rng = np.random.default_rng(10_000 + i)
    y = t.y_train + s["label_noise"] * rng.standard_normal(t.y_train.shape)
    return net, dataclasses.replace(t, y_train=y, name="regression with label noise")


def coupled(s: dict, lr: float) -> CoupledLearning:
    """The continuous rule of E3 at learning rate ``lr`` (S/V^2), with the settings' nudge and
    lower conductance bound ``k_min`` (S)."""
    return CoupledLearning(lr=lr, eta=s["eta"], k_min=s["k_min"])


def update_jacobian(net: Network, task: Task, k: np.ndarray, rule: CoupledLearning) -> np.ndarray:
    """``A = d(dk)/dk`` of the full-batch update at ``k`` by central differences, (E, E).

    Edges held at the rule's lower bound (``k <= k_min (1 + 1e-9)``) do not move (the rule
    clips them), so their rows and columns are zero."""
    system = TaskSystem(net, task)

    def step(kk):
        system.settle(kk)
        return rule.delta(system.signals(task.x_train, task.y_train, rule.eta))

    e = net.n_edges
    a = np.empty((e, e))
    for j in range(e):
        h = 1e-6 * k[j]
        dk = np.zeros(e)
        dk[j] = h
        a[:, j] = (step(k + dk) - step(k - dk)) / (2 * h)
    pinned = k <= rule.k_min * (1 + 1e-9)
    a[pinned, :] = 0.0
    a[:, pinned] = 0.0
    return a


def reference_condition(c: dict) -> pd.DataFrame:
    """Network ``c["network"]``: k*, L(k*), relaxation rates, lr_edge and V_1.

    Returns
    -------
    DataFrame, one row
        ``network``, ``k_init``, ``k_star`` (S), ``loss_star`` (V^2), ``rank`` (of J at k*),
        ``rates`` (relaxation rates of the function-space modes per update per edge at
        lr = 1, descending), ``lr_edge`` (S/V^2), ``v1`` and ``v1_stderr`` (at the start),
        ``v1_states`` (at ``noise_states`` states along the run) and ``loss_states``;
        ``ref_lr`` (S/V^2) and ``ref_passes`` of the reference run.
    """
    s = c["settings"]
    i = c["network"]
    net, task = instance(s, i)
    unit = coupled(s, 1.0)

    def rates_at(k):
        eig = np.linalg.eigvals(update_jacobian(net, task, k, unit))
        return np.sort(-eig.real)[::-1]

    k_init = unit.init_state(None, net.n_edges, np.random.default_rng(0)).k
    # The reference runs at ref_fraction of the edge where it starts; when the edge at its end
    # point is lower (the curvature grows as learning proceeds), it goes on from there at
    # ref_fraction of the new edge, so that k* is a converged point, not a cycle.
    lr = s["ref_fraction"] * 2.0 / rates_at(k_init)[0]
    steps = int(s["ref_updates"])
    k, first, passes = k_init, None, 0
    while True:
        passes += 1
        run = train(
            net,
            task,
            coupled(s, lr),
            Synchronous(),
            steps=steps,
            k0=k,
            record_every=max(1, steps // 100),
            record_state=True,
            progress=False,
        )
        first = run if first is None else first
        k = run.conductances
        edge = 2.0 / rates_at(k)[0]
        if lr <= 0.75 * edge or passes == 3:
            break
        lr = s["ref_fraction"] * edge
    ref = first
    k_star = k
    rank = int(np.linalg.matrix_rank(output_jacobian(net, task, k_star)))
    rates = rates_at(k_star)[:rank]
    v1 = update_noise(
        net, task, k_init, unit, batch_size=1, sampling="replacement", draws=s["noise_draws"]
    )
    picks = np.unique(np.geomspace(1, len(ref.trajectory["k"]) - 1, s["noise_states"]).astype(int))
    v1_states, loss_states = [], []
    h = ref.history
    for j in picks:
        est = update_noise(
            net,
            task,
            ref.trajectory["k"][j],
            unit,
            batch_size=1,
            sampling="replacement",
            draws=s["noise_draws"],
        )
        v1_states.append(est.value)
        loss_states.append(float(h["train_error"].iloc[j]))
    return pd.DataFrame(
        [
            {
                "network": i,
                "k_init": k_init.tolist(),
                "k_star": k_star.tolist(),
                "loss_star": float(run.history["train_error"].iloc[-1]),
                "ref_lr": lr,
                "ref_passes": passes,
                "rank": rank,
                "rates": rates.tolist(),
                "lr_edge": float(2.0 / rates[0]),
                "v1": v1.value,
                "v1_stderr": v1.stderr,
                "v1_states": v1_states,
                "loss_states": loss_states,
            }
        ]
    )


def matching_condition(c: dict) -> pd.DataFrame:
    """Measured noise of each matched pair on network ``c["network"]`` at the start of
    learning: ``V_b`` (b with replacement and, for the secondary arm, reshuffled epochs at
    tau = 1) and the Bernoulli(p) mask's relative variance."""
    s = c["settings"]
    net, task = instance(s, c["network"])
    unit = coupled(s, 1.0)
    k = np.asarray(c["k_init"])
    rows = []
    for pair in c["pairs"]:
        mb = update_noise(
            net, task, k, unit, batch_size=pair["b"], sampling="replacement",
            draws=s["noise_draws"],
        )  # fmt: skip
        ep = update_noise(
            net, task, k, unit, batch_size=pair["b"], sampling="epoch", draws=s["noise_draws"]
        )
        mask = update_noise(
            net, task, k, unit, schedule=synchronous_if_one(pair["p"]), draws=s["noise_draws"]
        )
        rows.append(
            {
                "network": c["network"],
                "b": pair["b"],
                "p": pair["p"],
                "v_b": mb.value,
                "v_b_epoch": ep.value,
                "mask": mask.value,
            }
        )
    return pd.DataFrame(rows)


def stationary_condition(c: dict) -> pd.DataFrame:
    """Every (network, seed) replica of one arm at one learning rate, started at k*.

    Parameters
    ----------
    c : dict
        ``settings``, ``lr``, ``p`` (1: synchronous), ``batch`` (None: full batch),
        ``sampling``, ``k_star`` (one list per network).

    Returns
    -------
    DataFrame
        One row per replica: ``network``, ``seed``; ``loss_window`` (mean train error over
        the window, V^2) and its two halves ``loss_first``/``loss_second``; ``trace``
        (tr J Cov(k) J^T, V^2) and ``trace_settled``; ``range_rms``/``null_rms`` (S);
        ``eigvecs`` (leading ``N_EIGVECS`` eigenvectors of the output covariance, flattened);
        ``null_drift_half``/``null_drift_end`` (RMS null-space displacement from the window's
        start after half and all of the window, S).
    """
    s = c["settings"]
    p = float(c["p"])
    sched = synchronous_if_one(p)
    seeds = list(range(s["seeds"]))
    rows = []
    for i in range(s["networks"]):
        lr = float(c["lr_fraction"]) * float(c["lr_edges"][i])
        upe = s["time_lr"] / lr
        steps = steps_for(upe, sched, n_edges=1)
        every = max(1, steps // s["records"])
        rule = coupled(s, lr)
        net, task = instance(s, i)
        k_star = np.asarray(c["k_star"][i])
        results = train_replicas(
            net,
            task,
            rule,
            sched,
            steps=steps,
            batch_size=c["batch"],
            sampling=c["sampling"],
            k0=k_star,
            seeds=seeds,
            record_every=every,
            record_state=True,
        )
        jac = output_jacobian(net, task, k_star)
        _, sv, vt = np.linalg.svd(jac, full_matrices=True)
        rank = int(np.sum(sv > max(jac.shape) * np.finfo(float).eps * sv[0]))
        null = vt[rank:]
        for r, res in zip(seeds, results, strict=True):
            h = res.history
            upe_rec = h["updates_per_edge"].to_numpy()
            win = upe_rec >= (1 - s["window"]) * upe_rec[-1]
            loss = h["train_error"].to_numpy()[win]
            half = len(loss) // 2
            ks = res.trajectory["k"][win]
            fs = function_space_covariance(net, task, ks)
            w, v = np.linalg.eigh(fs.cov_out)
            lead = v[:, ::-1][:, :N_EIGVECS]
            drift = (ks - ks[0]) @ null.T
            rows.append(
                {
                    "network": i,
                    "seed": r,
                    "lr": lr,
                    "updates_per_edge": upe,
                    "loss_window": float(loss.mean()),
                    "loss_first": float(loss[:half].mean()),
                    "loss_second": float(loss[half:].mean()),
                    "trace": fs.trace,
                    "trace_settled": fs.trace_settled,
                    "range_rms": fs.range_rms,
                    "null_rms": fs.null_rms,
                    "eigvecs": lead.ravel().tolist(),
                    "null_drift_half": float(
                        np.sqrt(np.sum(drift[len(drift) // 2] ** 2) / net.n_edges)
                    ),
                    "null_drift_end": float(np.sqrt(np.sum(drift[-1] ** 2) / net.n_edges)),
                }
            )
    frame = pd.DataFrame(rows)
    frame["lr_fraction"] = float(c["lr_fraction"])
    frame["arm"] = c["arm"]
    frame["pair"] = c["pair"]
    return frame


# ---------------------------------------------------------------------------- hardware part
def board_rule(bs: dict) -> SteppedCoupledLearning:
    return SteppedCoupledLearning(
        eta=bs["eta"], taps=bs["taps"], r_min=bs["r_min"], r_max=bs["r_max"]
    )


def board_condition(c: dict) -> pd.DataFrame:
    """The lab board on Iris at one (b, p) cell: one row per seed with the tail-mean train and
    test errors (V^2) and, for the full-batch synchronous cell, the final conductances."""
    bs = c["board"]
    net = lab_board()
    p = float(c["p"])
    sched = synchronous_if_one(p)
    steps = steps_for(bs["updates_per_edge"], sched, net.n_edges)
    seeds = list(range(bs["seeds"]))
    tasks = [iris(net, seed=i, **LAB_IRIS_ROLES) for i in seeds]
    results = train_replicas(
        net,
        tasks,
        board_rule(bs),
        sched,
        steps=steps,
        batch_size=c["batch"],
        sampling="replacement",
        seeds=seeds,
        record_every=max(1, steps // bs["records"]),
    )
    rows = []
    for i, res in zip(seeds, results, strict=True):
        h = res.history
        rows.append(
            {
                "seed": i,
                "train_error": tail_mean(h, "train_error", bs["tail"]),
                "test_error": tail_mean(h, "test_error", bs["tail"]),
                "k": res.conductances.tolist(),
            }
        )
    frame = pd.DataFrame(rows)
    frame["b"] = -1 if c["batch"] is None else int(c["batch"])
    frame["p"] = p
    return frame


def board_noise_condition(c: dict) -> pd.DataFrame:
    """``V_b`` (with replacement) and the mask noise ``1 - p`` of the stepped rule at the tail
    state of the full-batch synchronous board, seed ``c["seed"]``."""
    bs = c["board"]
    net = lab_board()
    task = iris(net, seed=c["seed"], **LAB_IRIS_ROLES)
    rule = board_rule(bs)
    k = np.asarray(c["k"])
    rows = []
    for b in bs["batch_sizes"]:
        est = update_noise(
            net, task, k, rule, batch_size=b, sampling="replacement", draws=bs["noise_draws"]
        )
        rows.append({"seed": c["seed"], "kind": "batch", "value": float(b), "noise": est.value})
    for p in bs["ps"]:
        if p < 1:
            est = update_noise(net, task, k, rule, schedule=synchronous_if_one(p),
                               draws=bs["noise_draws"])  # fmt: skip
            rows.append({"seed": c["seed"], "kind": "mask", "value": p, "noise": est.value})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- the run
def condition(c: dict) -> pd.DataFrame:
    """Run one condition of any kind (``c["kind"]``: ``ref``, ``match``, ``stationary``,
    ``board``, ``board_noise``), so that independent kinds share one parallel stage."""
    fn = {
        "ref": reference_condition,
        "match": matching_condition,
        "stationary": stationary_condition,
        "board": board_condition,
        "board_noise": board_noise_condition,
    }[c["kind"]]
    return fn(c)


def _pairs(s: dict, v1: float) -> list[dict]:
    out = []
    for p in s["desync_ps"]:
        b = max(1, round(v1 / (1 - p)))
        out.append({"name": f"p{p:g}-b{b}", "p": float(p), "b": int(b)})
    return out


def run(ctx: Context) -> dict:
    """Run E3 (resuming finished conditions) and return its summary (also written to
    ``OUT/e3/summary.json``)."""
    t0 = time.perf_counter()
    s = load_settings(MODULE, ctx.quick)
    board = s.pop("board")
    # Stage 1: the references and the board grid (independent); stage 2: the noise
    # measurements that need their states; stage 3: the stationary runs.
    stage1 = [
        {"key": f"ref_n{i}", "kind": "ref", "settings": s, "network": i}
        for i in range(s["networks"])
    ] + [
        {"key": f"board_b{'full' if b is None else b}_p{p:g}", "kind": "board", "board": board,
         "batch": b, "p": p}
        for b in [*board["batch_sizes"], None]
        for p in board["ps"]
    ]  # fmt: skip
    got = run_conditions(ctx, NAME, stage1, condition)
    ref = pd.concat(got[: s["networks"]], ignore_index=True)
    bframes = pd.concat(got[s["networks"] :], ignore_index=True)
    v1 = float(ref["v1"].mean())
    pairs = _pairs(s, v1)
    lr_edges = ref.sort_values("network")["lr_edge"].tolist()
    full_sync = bframes[(bframes["b"] == -1) & (bframes["p"] == 1.0)].set_index("seed")
    stage2 = [
        {"key": f"match_n{i}", "kind": "match", "settings": s, "network": i, "pairs": pairs,
         "k_init": ref["k_init"].iloc[i]}
        for i in range(s["networks"])
    ] + [
        {"key": f"board_noise_s{i}", "kind": "board_noise", "board": board, "seed": i,
         "k": full_sync.loc[i, "k"].tolist()}
        for i in range(min(board["noise_seeds"], board["seeds"]))
    ]  # fmt: skip
    # a few seconds of Monte Carlo in all: run in this process unless a cluster was named
    # (a process pool would take longer to start than the work)
    got = run_conditions(dataclasses.replace(ctx, workers=1), NAME, stage2, condition)
    match = pd.concat(got[: s["networks"]], ignore_index=True)
    bnoise = pd.concat(got[s["networks"] :], ignore_index=True)
    k_star = ref.sort_values("network")["k_star"].tolist()
    arms = [("sync", "control", 1.0, None, "epoch")]
    for pair in pairs:
        arms.append(("desync", pair["name"], pair["p"], None, "epoch"))
        arms.append(("mb", pair["name"], 1.0, pair["b"], "replacement"))
        if s["epoch_arm"] and pair["b"] < s["n_train"]:
            arms.append(("epoch", pair["name"], 1.0, pair["b"], "epoch"))
    conds = [
        {
            "key": f"stat_lr{f:g}_{arm}_{name}",
            "kind": "stationary",
            "settings": s,
            "lr_fraction": f,
            "lr_edges": lr_edges,
            "arm": arm,
            "pair": name,
            "p": p,
            "batch": b,
            "sampling": sampling,
            "k_star": k_star,
        }
        for f in s["lr_fractions"]
        for arm, name, p, b, sampling in arms
    ]
    stat = pd.concat(run_conditions(ctx, NAME, conds, condition), ignore_index=True)

    results = analyse(s, ref, match, stat, pairs)
    hw = board_analysis(board, bframes, bnoise)
    verdicts = judge_criteria(MODULE, criteria_cells(results, hw))
    paths, captions = figures(ctx, s, board, results, hw)
    return ctx.write_summary(
        NAME,
        TITLE,
        {**s, "board": board},
        t0,
        lr_edges=lr_edges,
        v1=v1,
        pairs=pairs,
        **results["summary"],
        board=hw["summary"],
        verdicts=verdicts,
        figures=paths,
        captions=captions,
    )


# ---------------------------------------------------------------------------- report
def _claim(summary: dict, claim: str) -> str:
    return summary["verdicts"]["claims"].get(claim, "inconclusive (not measured)")


def report(s: dict) -> tuple[str, str]:
    st = s["settings"]
    bd = st["board"]
    verdict = _claim(s, "3")
    nets = s["networks"]
    net_rows = [
        [
            r["network"],
            fmt(r["lr_edge"]),
            f"{fmt(r['ref_lr'])} ({r['ref_passes']})",
            fmt(r["loss_star"]),
            fmt(r["v1"]),
            fmt(r["rate_min"]),
            fmt(r["relax_min"], 2),
            f"{r['modes_10']}/{r['rank']}",
            fmt(r["v1_last"]),
        ]
        for r in nets
    ]
    net_table = md_table(
        [
            "network",
            "lr_edge (S/V²)",
            "reference lr (S/V²) (passes)",
            "L(k*) (V²)",
            "V_1 at start",
            "softest rate per update per edge at lr = 1",
            "relaxation times of the softest mode before the window (same at every lr)",
            "modes with >= 10 relaxation times before the window",
            "V_1 at the last measured state",
        ],
        net_rows,
    )
    pair_rows = [
        [
            r["pair"],
            r["b"],
            fmt(r["p"]),
            fmt(r["v_b"]),
            fmt(r["mask"]),
            fmt(r["v_b_epoch"]),
        ]
        for r in s["matched"]
    ]
    pair_table = md_table(
        [
            "pair",
            "b (with replacement)",
            "p",
            "measured V_b (mean over networks)",
            "measured mask noise (≈ 1 − p)",
            "V_b of reshuffled epochs, same b",
        ],
        pair_rows,
    )
    arm_rows = [
        [
            f"{r['lr_fraction']:g}",
            fmt(r["lr"]),
            r["arm"],
            r["pair"],
            fmt(r["excess"]),
            fmt(r["excess_rel"]),
            f"{100 * r['at_resolution']:.0f} %",
            fmt(r["trace"]),
            fmt(r["range_rms"]),
            fmt(r["null_rms"]),
            fmt(r["drift_exponent"], 2),
            fmt(r["halves"], 3),
        ]
        for r in s["arms"]
    ]
    arm_table = md_table(
        [
            "lr / lr_edge",
            "lr (S/V², geometric mean)",
            "arm",
            "pair",
            "excess loss ΔL (V², geometric mean)",
            "ΔL / L(k*)",
            "replicas at resolution",
            "tr C_out (V²)",
            "range RMS (S)",
            "null RMS (S)",
            "null drift exponent",
            "window halves, 2nd / 1st",
        ],
        arm_rows,
    )
    ratio_rows = [
        [
            f"{r['lr_fraction']:g}",
            r["pair"],
            fmt(r["excess_ratio"]),
            fmt(r["trace_ratio"]),
            f"{fmt(r['cosine_first'], 2)} / {fmt(r['cosine_last'], 2)}",
            fmt(r["null_ratio"]),
            fmt(r["epoch_excess_ratio"]),
        ]
        for r in s["ratios"]
    ]
    ratio_table = md_table(
        [
            "lr / lr_edge",
            "pair",
            "ΔL desync / mini-batch",
            "tr C_out desync / mini-batch",
            f"principal-angle cosines, first / last ({N_EIGVECS} leading eigenvectors)",
            "null RMS desync / mini-batch",
            "ΔL reshuffled / with replacement",
        ],
        ratio_rows,
    )
    exp_txt = "; ".join(
        f"{r['pair']}, {ARM_LABELS[r['arm']]}: {ci_text(r['slope'], r['low'], r['high'], 2)}"
        for r in s["exponents"]
    )
    if exp_txt:
        exp_txt = (
            "**Exponent of ΔL against lr** (slope of log ΔL on log lr per network, mean over "
            f"networks [95 % t interval]; SGD theory: 1): {exp_txt}."
        )
    hw = s["board"]
    board_rows = [
        [fmt(r["p"]), fmt(r["mask_noise"]), fmt(r["b_pred"]), fmt(r["b_match"])]
        for r in hw["per_p"]
    ]
    board_table = md_table(
        [
            "p",
            "measured mask noise",
            "predicted b (V_b = mask noise; beyond the grid: power-law fit, at most 1e6)",
            "best-matching b (geometric mean over seeds)",
        ],
        board_rows,
    )
    vb_txt = ", ".join(f"b = {b:g}: {fmt(v)}" for b, v in hw["v_b"])
    setup = " ".join(
        [
            f"**Setup.** Continuous coupled learning, η = {st['eta']:g},",
            f"k_min = {st['k_min']:g} S (edges held there are pinned), on",
            f"{st['networks']} random {st['n_nodes']}-node networks, regression with",
            f"M = {st['n_train']} examples and label noise σ_y = {st['label_noise']:g} V (not",
            f"realisable); {st['seeds']} seeds per network (clusters = networks). k* is the end",
            f"of full-batch runs of {st['ref_updates']:g} updates per edge at",
            f"{st['ref_fraction']:g} × the stability edge (rerun from their end at the edge",
            "measured there when it had fallen below 4/3 × their lr). The edge",
            "lr_edge = 2 / (largest relaxation rate of the linearised full-batch update at k*),",
            "per network; the learning rates are",
            f"{', '.join(f'{f:g}' for f in st['lr_fractions'])} × each network's lr_edge.",
            "Every arm starts at k* and runs",
            f"{st['time_lr']:g} / lr updates per edge; the last {100 * st['window']:g} % is the",
            f"stationary window. V_1 = {fmt(s['v1'])} (update_noise, one example with",
            "replacement, at the start of learning, mean over networks); matched b =",
            "round(V_1 / (1 − p)).",
        ]
    )
    others = "; ".join(
        f"claim {c}: **{v}**" for c, v in s["verdicts"]["claims"].items() if c != "3"
    )
    head = f"**Verdict: {verdict}.** (From the pre-registered criteria below; {others}.)"
    body = f"""{mode_note(s)}{head}

{setup}

{net_table}

**Matched pairs** (update_noise at the start of learning, per update per edge):

{pair_table}

**Stationary statistics per arm** (geometric means over replicas; the null drift exponent is
log2 of the RMS null-space displacement at the end of the window over that at its middle,
times 2: 1 for diffusion, 0 for a confined fluctuation):

{arm_table}

**Paired ratios** (geometric means over replicas paired by network and seed; intervals in the
criteria table):

{ratio_table}

{exp_txt}

**Hardware analogue.** The lab board ({bd["taps"]} taps) on Iris, {bd["seeds"]} seeds,
{bd["updates_per_edge"]:g} updates per edge, tail = last {100 * bd["tail"]:g} %; V_b of the
stepped rule at the tail state of the full-batch synchronous board: {vb_txt}.

{board_table}

{criteria_section(s["verdicts"])}

{figures_with_captions(s["figures"], [f"*{c}*" for c in s["captions"]])}

Command: `{s["command"]}` ({s["runtime_s"]:.0f} s).
"""
    return verdict, body
