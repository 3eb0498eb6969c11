"""Figures: the plotting functions return figures, and ``circuitlearn plot`` writes the three
kinds of figure for a run directory and for a sweep directory."""

from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import tomli_w
from matplotlib.figure import Figure
from typer.testing import CliRunner

import circuitlearn as cl
from circuitlearn import analysis, plots
from circuitlearn.cli import app

BASE = {
    "network": {"kind": "random", "n_nodes": 14, "seed": 1},
    "task": {"kind": "regression", "n_inputs": 2, "n_outputs": 1, "n_train": 6, "n_test": 4},
    "rule": {"kind": "CoupledLearning", "lr": 0.5, "eta": 0.5},
    "schedule": {"kind": "Bernoulli", "p": 1.0},
    "train": {"steps": 20, "seed": 0},
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "run"
    cl.save(cl.run_config(BASE), path)
    return path


@pytest.fixture(scope="module")
def hand_sweep(tmp_path_factory):
    """A sweep directory assembled with cl.save (no summary.json): p x seed."""
    out = tmp_path_factory.mktemp("sweep") / "sweep"
    grid = {"schedule.p": [0.5, 1.0], "train.seed": [0, 1]}
    for p in grid["schedule.p"]:
        for seed in grid["train.seed"]:
            cfg = copy.deepcopy(BASE)
            cfg["schedule"]["p"] = p
            cfg["train"].update(seed=seed, steps=int(20 / p))
            cl.save(cl.run_config(cfg), out / "runs" / f"p{p}-seed{seed}")
    (out / "sweep.toml").write_text(tomli_w.dumps({"base": BASE, "grid": grid}))
    return out


def _histories(n_seeds=3, ps=(0.25, 1.0)):
    rows = []
    rng = np.random.default_rng(0)
    for p in ps:
        for seed in range(n_seeds):
            for upe in range(0, 50, 5):
                err = np.exp(-upe / 20) * (1 + 0.1 * rng.random()) + p * 0.01
                rows.append(
                    {
                        "run_id": f"p{p}-s{seed}",
                        "schedule.p": p,
                        "train.seed": seed,
                        "updates_per_edge": float(upe),
                        "test_error": err,
                        "test_accuracy": 1 - err / 2,
                    }
                )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ functions
def test_network_figure():
    net = cl.Network.lattice(3, 4)
    k = np.linspace(0.1, 10, net.n_edges)
    task = cl.Task([0, 1], [11], [[1.0, 0.5]], [[0.3]], ground_nodes=[6])
    fig = plots.network(net, k, task=task, title="a lattice")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    (lines,) = ax.collections[:1]
    widths = lines.get_linewidths()
    assert widths[-1] > widths[0]  # wider where the conductance is higher
    assert fig.axes[-1].get_ylabel() == "conductance k (S)"
    # draws into a given axis and returns its figure
    fig2, ax2 = plt.subplots()
    assert plots.network(net, np.ones(net.n_edges), ax=ax2, colorbar=False) is fig2


def test_network_change_figure():
    net = cl.Network.random(20, seed=2)
    k0 = np.ones(net.n_edges)
    k1 = np.exp(np.random.default_rng(0).normal(size=net.n_edges))
    fig = plots.network_change(net, k0, k1)
    titles = [ax.get_title() for ax in fig.axes[:3]]
    assert titles == ["before training", "after training", "change"]
    labels = [ax.get_ylabel() for ax in fig.axes[3:]]
    assert "conductance k (S)" in labels
    assert any("ratio" in label for label in labels)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: plots.network("net", [1.0]), r"net must be a circuitlearn.Network"),
        (lambda: plots.network(cl.Network.lattice(2, 2), [1.0, 1.0]), r"k must have shape \(4,\)"),
        (
            lambda: plots.network(cl.Network.lattice(2, 2), [1.0, 0.0, 1.0, 1.0]),
            r"k must be strictly positive",
        ),
        (
            lambda: plots.network_change(cl.Network.lattice(2, 2), np.ones(4), [1, 1, 1]),
            r"k1 must have shape",
        ),
        (lambda: plots.curves_with_bands(_histories(), by="rule.taps"), r"no column 'rule.taps'"),
        (lambda: plots.curves_with_bands(_histories(), level=1.5), r"level must be a number"),
        (lambda: plots.final_vs(pd.DataFrame({"a": [1]}), x="schedule.p"), r"no column"),
        (lambda: plots.curves_with_bands([1, 2]), r"must be a pandas DataFrame"),
    ],
)
def test_plot_functions_validate(call, match):
    with pytest.raises(cl.ValidationError, match=match):
        call()


def test_curves_with_bands():
    hist = _histories()
    fig = plots.curves_with_bands(hist, by="schedule.p")
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and len(ax.collections) == 2  # a curve and a band per p
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "updates per edge"
    assert "V$^2$" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["p = 0.25 (n = 3)", "p = 1 (n = 3)"]
    # the band holds the mean: geometric for errors
    sub = hist[(hist["schedule.p"] == 0.25) & (hist["updates_per_edge"] == 10.0)]
    y = ax.lines[0].get_ydata()[2]
    assert y == pytest.approx(np.exp(np.log(sub["test_error"]).mean()))
    fig = plots.curves_with_bands(hist, by=None, y="test_accuracy")
    assert fig.axes[0].get_yscale() == "linear" and len(fig.axes[0].lines) == 1


def test_final_vs():
    hist = _histories()
    table = hist[hist["updates_per_edge"] == 45.0]
    fig = plots.final_vs(table, x="schedule.p", y="test_error")
    ax = fig.axes[0]
    assert ax.get_xlabel().endswith("p")
    assert ax.get_ylabel().startswith("final test error")
    assert "95% CI" in ax.get_title()
    fig = plots.final_vs(table, x="schedule.p", y="test_accuracy", by="train.seed")
    assert len(fig.axes[0].get_legend().get_texts()) == 3


def test_final_vs_error_bars_are_the_t_intervals_of_analysis():
    """Errors: geometric mean and its interval on the logs; accuracies: the plain mean."""
    hist = _histories()
    table = hist[hist["updates_per_edge"] == 45.0]
    for y, stat in (("test_error", analysis.geo_mean_ci), ("test_accuracy", analysis.mean_ci)):
        container = plots.final_vs(table, x="schedule.p", y=y, level=0.9).axes[0].containers[0]
        data_line, _caps, (bars,) = container
        for x, centre, segment in zip(*data_line.get_data(), bars.get_segments(), strict=True):
            want = stat(table.loc[table["schedule.p"] == x, y], level=0.9)
            assert (centre, segment[0][1], segment[1][1]) == pytest.approx(want)


def test_learning_curves_still_work():
    hist = _histories(1, (1.0,))
    fig = plots.learning_curves({"sync": hist, "again": hist}, y="test_error")
    assert len(fig.axes[0].lines) == 2


# ------------------------------------------------------------------------------ the CLI
def _written(path, stems, formats=("png", "pdf")):
    for stem in stems:
        for fmt in formats:
            f = path / f"{stem}.{fmt}"
            assert f.is_file() and f.stat().st_size > 1000, f


def test_plot_run_dir(run_dir, tmp_path):
    res = CliRunner().invoke(app, ["plot", str(run_dir), "--out", str(tmp_path / "figs")])
    assert res.exit_code == 0, res.output
    _written(tmp_path / "figs", ["learning_curves", "network"])
    # default output directory, one format
    res = CliRunner().invoke(app, ["plot", str(run_dir), "--format", "svg"])
    assert res.exit_code == 0, res.output
    _written(run_dir / "plots", ["learning_curves", "network"], ("svg",))


def test_plot_hand_made_sweep_dir(hand_sweep, tmp_path):
    table, hist = plots.read_sweep(hand_sweep)
    assert sorted(table["schedule.p"]) == [0.5, 0.5, 1.0, 1.0]
    assert {"run_id", "train.seed", "test_error"} <= set(table.columns)
    assert set(hist["run_id"]) == set(table["run_id"])
    res = CliRunner().invoke(app, ["plot", str(hand_sweep), "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    _written(tmp_path, ["curves_test_error", "final_test_error", "network"])


def test_plot_sweep_dir_from_sweep_runner(tmp_path):
    """A real sweep (classification, so the accuracy figures too) with two axes besides
    the seed: one curves figure per value of the other axis."""
    if not hasattr(cl, "sweep"):
        pytest.skip("circuitlearn.sweep is not available")
    spec = {
        "base": {
            "network": {"kind": "board"},
            "task": {"kind": "iris", "n_train": 12},
            "rule": {"kind": "CoupledLearning", "lr": 0.5, "eta": 0.5},
            "schedule": {"kind": "Bernoulli", "p": 1.0},
            "train": {"updates_per_edge": 10, "seed": 0},
        },
        "grid": {"schedule.p": [0.5, 1.0], "train.seed": [0, 1], "rule.lr": [0.2, 0.5]},
    }
    cl.sweep(spec, tmp_path / "sw", workers=1, progress=False)
    paths = plots.plot_results(tmp_path / "sw", formats="png")
    names = {p.name for p in paths}
    assert {
        "curves_test_error_lr-0.2.png",
        "curves_test_error_lr-0.5.png",
        "curves_test_accuracy_lr-0.5.png",
        "final_test_error.png",
        "final_test_accuracy.png",
        "network.png",
    } <= names
    _written(tmp_path / "sw" / "plots", ["final_test_error", "network"], ("png",))


def test_a_paired_axis_does_not_split_the_curves(tmp_path):
    """``train.record_every`` paired with ``schedule.p`` takes one value per p: one curves
    figure coloured by p, not one figure per record interval."""
    spec = {
        "base": BASE,
        "grid": {"schedule.p|train.record_every": [[0.5, 2], [1.0, 1]], "train.seed": [0, 1]},
    }
    cl.sweep(spec, tmp_path / "sw", workers=1, progress=False)
    names = {p.name for p in plots.plot_results(tmp_path / "sw", formats="png")}
    assert {n for n in names if n.startswith("curves_")} == {"curves_test_error.png"}


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "missing", "is not a directory"),
        (lambda p: p, "neither a run directory"),
    ],
)
def test_plot_bad_directory(tmp_path, make, match):
    res = CliRunner().invoke(app, ["plot", str(make(tmp_path))])
    assert res.exit_code == 2
    assert match in " ".join(res.output.split())


def test_plot_bad_format(run_dir):
    res = CliRunner().invoke(app, ["plot", str(run_dir), "--format", "gif"])
    assert res.exit_code == 2
    assert "formats must be one or more of" in res.output
