"""Runs on disk, TOML configs and the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import circuitlearn as cl
from circuitlearn.cli import app
from circuitlearn.config import validate_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _small_config(**over):
    cfg = {
        "network": {"kind": "random", "n_nodes": 20, "seed": 3},
        "task": {"kind": "regression", "n_inputs": 2, "n_outputs": 1, "n_train": 8, "n_test": 4},
        "rule": {"kind": "CoupledLearning", "lr": 0.5, "eta": 0.5},
        "schedule": {"kind": "Bernoulli", "p": 0.5},
        "train": {"steps": 30, "seed": 4},
    }
    for key, val in over.items():
        cfg[key] = val
    return cfg


@pytest.mark.parametrize("stepped", [False, True])
def test_save_load_round_trip(tmp_path, stepped):
    cfg = _small_config()
    if stepped:
        cfg["rule"] = {"kind": "SteppedCoupledLearning", "taps": 16, "eta": 0.5}
        cfg["train"]["batch_size"] = 2
    result = cl.run_config(cfg)
    cl.save(result, tmp_path / "run")
    back = cl.load(tmp_path / "run")
    np.testing.assert_array_equal(back.conductances, result.conductances)
    np.testing.assert_array_equal(back.initial_conductances, result.initial_conductances)
    pd.testing.assert_frame_equal(back.history, result.history)
    np.testing.assert_array_equal(back.network.edges, result.network.edges)
    np.testing.assert_array_equal(back.task.x_train, result.task.x_train)
    if stepped:
        np.testing.assert_array_equal(back.taps, result.taps)
    # The saved config alone reproduces the run exactly.
    again = cl.run_config(back.config)
    np.testing.assert_array_equal(again.conductances, result.conductances)
    pd.testing.assert_frame_equal(
        again.history.drop(columns="wall_time"), result.history.drop(columns="wall_time")
    )


def test_save_from_python_objects_and_trajectory(tmp_path):
    net = cl.Network.lattice(3, 4)
    task = cl.tasks.allostery(net, seed=2)
    res = cl.train(net, task, steps=5, record_state=True)
    cl.save(res, tmp_path / "r")
    back = cl.load(tmp_path / "r")
    np.testing.assert_array_equal(back.trajectory["k"], res.trajectory["k"])
    np.testing.assert_array_equal(back.network.positions, net.positions)
    with pytest.raises(cl.ValidationError, match="already exists"):
        cl.save(res, tmp_path / "r")


def test_load_incomplete_run_is_a_clear_error(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.toml").write_text("")
    with pytest.raises(cl.ValidationError, match="missing"):
        cl.load(tmp_path / "half")


@pytest.mark.parametrize(
    "section, key, value, match",
    [
        ("rule", "learning_rate", 0.1, "rule.learning_rate"),
        ("schedule", "q", 0.1, "schedule.q"),
        ("task", "n_imputs", 2, "task.n_imputs"),
        ("network", "nodes", 5, "network.nodes"),
        ("train", "epochs", 5, "train.epochs"),
    ],
)
def test_unknown_config_key_is_named(section, key, value, match):
    cfg = _small_config()
    cfg[section][key] = value
    with pytest.raises(cl.ValidationError, match=match):
        validate_config(cfg)


def test_bad_config_values_name_the_field():
    with pytest.raises(cl.ValidationError, match="p must be"):
        validate_config(_small_config(schedule={"kind": "Bernoulli", "p": 1.5}))
    with pytest.raises(cl.ValidationError, match="rule.kind"):
        validate_config(_small_config(rule={"kind": "Hebbian"}))
    with pytest.raises(cl.ValidationError, match="unknown key 'extra'"):
        validate_config({**_small_config(), "extra": 1})
    with pytest.raises(cl.ValidationError, match=r"\[task\]"):
        validate_config({k: v for k, v in _small_config().items() if k != "task"})


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_examples_are_valid_configs(path):
    cl.load_config(path)


def test_cli_train_and_malformed_config(tmp_path):
    runner = CliRunner()
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[network]\nkind = 'lattice'\nrows = 3\ncols = 3\n"
        "[task]\nkind = 'allostery'\n[train]\nsteps = 5\n"
    )
    res = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "out"), "-q"])
    assert res.exit_code == 0, res.output
    assert cl.load(tmp_path / "out").history["step"].iloc[-1] == 5
    cfg.write_text("[network]\nkind = 'lattice'\nrows = 3\ncols = 3\ncolumns = 4\n[task]\n")
    res = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "o2")])
    assert res.exit_code == 2
    assert "network.columns" in res.output
    cfg.write_text("[network\n")
    res = runner.invoke(app, ["train", str(cfg)])
    assert res.exit_code == 2 and "not valid TOML" in res.output


def test_cli_demo_writes_figure_and_accuracies(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--steps", "20"])
    assert res.exit_code == 0, res.output
    assert "synchronous" in res.output and "Bernoulli" in res.output
    assert "accuracy" in res.output
    png = tmp_path / "learning_curves.png"
    assert png.stat().st_size > 10_000
    assert cl.load(tmp_path / "sync").history["step"].iloc[-1] == 20
    assert cl.load(tmp_path / "bernoulli-0.5").history["updates_per_edge"].iloc[-1] == 20
