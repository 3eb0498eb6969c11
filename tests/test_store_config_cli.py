"""Runs on disk, TOML configs and the command line."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import circuitlearn as cl
from circuitlearn.cli import app
from circuitlearn.config import validate_config
from circuitlearn.demo import LAB_IRIS_ROLES

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
    assert cl.load(tmp_path / "seed-0" / "sync").history["step"].iloc[-1] == 20
    assert cl.load(tmp_path / "seed-0" / "bernoulli-0.5").history["updates_per_edge"].iloc[-1] == 20


def test_demo_over_seeds_has_a_uniform_layout_and_bands(tmp_path, monkeypatch):
    from circuitlearn import demo as demo_mod

    drawn = []
    real = demo_mod.curves_with_bands
    monkeypatch.setattr(
        demo_mod, "curves_with_bands", lambda h, **kw: drawn.append((h, kw)) or real(h, **kw)
    )
    out = tmp_path / "d"
    (out / "seed-7" / "sync").mkdir(parents=True)  # an earlier demo's run of another seed
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--steps", "10", "--seeds", "3"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "learning_curves.png",
        "seed-0",
        "seed-1",
        "seed-2",
    ]
    for s in range(3):
        run = cl.load(out / f"seed-{s}" / "bernoulli-0.5")
        assert run.config["task"]["seed"] == s and run.config["train"]["seed"] == s
    # The figure pools the three seeds of each schedule at every recorded point.
    hist, kw = drawn[0]
    assert kw["by"] == "schedule" and kw["y"] == "test_error"
    counts = hist.groupby(["schedule", "updates_per_edge"])["run_id"].nunique()
    assert (counts == 3).all()
    assert "seeds 0..2" in res.output


def test_demo_refuses_a_foreign_directory_unless_overwrite(tmp_path):
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--steps", "5"])
    assert res.exit_code == 2 and "not a demo output" in " ".join(res.output.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--steps", "5", "--overwrite"])
    assert res.exit_code == 0, res.output
    assert keep.read_text() == "mine" and (tmp_path / "seed-0" / "sync").is_dir()


def test_demo_rejects_bad_counts_before_training(tmp_path):
    from circuitlearn.demo import run_demo

    for kw, match in [({"seeds": 0}, "seeds must be"), ({"steps": -5}, "steps must be")]:
        with pytest.raises(cl.ValidationError, match=match):
            run_demo(tmp_path / "x", **kw)
    assert not (tmp_path / "x").exists()


def test_cli_messages_keep_brackets_and_allostery_prints_a_dash(tmp_path):
    runner = CliRunner()
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[network]\nkind = 'random'\nn_nodes = 20\nseed = -1\n[task]\nkind = 'allostery'\n"
    )
    res = runner.invoke(app, ["train", str(cfg)])
    assert res.exit_code == 2 and "[network] seed must be" in res.output
    cfg.write_text(
        "[network]\nkind = 'lattice'\nrows = 3\ncols = 3\n"
        "[task]\nkind = 'allostery'\n[train]\nsteps = 3\n"
    )
    res = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "a"), "-q"])
    assert res.exit_code == 0, res.output
    assert "nan" not in res.output
    row = next(line for line in res.output.splitlines() if "final" in line)
    assert row.split("│")[-2].strip() == "-"  # test error: allostery has no test set


def test_cli_train_checks_every_output_path_before_training(tmp_path, monkeypatch):
    import circuitlearn.config as config

    monkeypatch.setattr(config, "run_config", lambda *a, **k: pytest.fail("training started"))
    cfg = tmp_path / "c.toml"
    cfg.write_text("[network]\nkind = 'lattice'\nrows = 3\ncols = 3\n[task]\nkind = 'allostery'\n")
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, extra, words in [
        (afile, ["--overwrite"], "is a file"),
        (afile / "sub", [], "which is a file"),
        (tmp_path, [], "already exists"),
    ]:
        res = CliRunner().invoke(app, ["train", str(cfg), "--out", str(out), *extra])
        assert res.exit_code == 2, res.output
        assert words in " ".join(res.output.split())
    assert afile.read_text() == "x"


def test_cli_plot_format_is_case_insensitive(tmp_path):
    result = cl.run_config(_small_config(train={"steps": 5, "seed": 0}))
    cl.save(result, tmp_path / "run")
    res = CliRunner().invoke(
        app, ["plot", str(tmp_path / "run"), "--format", "PNG", "-o", str(tmp_path / "f")]
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.suffix for p in (tmp_path / "f").iterdir()) == [".png", ".png"]


# -- paths checked before work -----------------------------------------------------------------


def test_check_output_dir(tmp_path):
    from circuitlearn._validation import check_output_dir, check_text_file

    afile = tmp_path / "afile"
    afile.write_text("x")
    assert check_output_dir("out", tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert check_output_dir("out", tmp_path, overwrite=True) == tmp_path
    for path, overwrite, match in [
        (tmp_path, False, "already exists"),
        (afile, True, "is a file, not a directory"),
        (afile / "a" / "b", True, "lies under .*afile'"),
    ]:
        with pytest.raises(cl.ValidationError, match=match):
            check_output_dir("out", path, overwrite=overwrite)
    assert not (tmp_path / "new").exists()
    with pytest.raises(cl.ValidationError, match="is a directory"):
        check_text_file("config file", tmp_path)
    afile.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(cl.ValidationError, match="not a text TOML file"):
        check_text_file("config file", afile)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_check_output_dir_read_only(tmp_path):
    from circuitlearn._validation import check_output_dir

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(cl.ValidationError, match="not writable"):
            check_output_dir("out", ro / "run")
    finally:
        ro.chmod(0o755)


# -- networkx round trip -----------------------------------------------------------------------


def test_networkx_round_trip_keeps_conductances_roles_and_order():
    from circuitlearn.gallery import lab_board
    from circuitlearn.network import read_networkx

    net = lab_board()
    task = cl.tasks.iris(net, encoding="levels", **LAB_IRIS_ROLES)
    k = np.random.default_rng(0).uniform(1e-4, 1e-2, net.n_edges)
    g = net.to_networkx(k, roles=task)
    assert g.nodes[task.input_nodes[2]] == {
        **g.nodes[task.input_nodes[2]],
        "role": "input",
        "role_index": 2,
    }
    back = read_networkx(g)
    np.testing.assert_array_equal(back.network.edges, net.edges)
    np.testing.assert_array_equal(back.conductances, k)
    for key in ("input_nodes", "output_nodes", "ground_nodes"):
        np.testing.assert_array_equal(back.roles[key], getattr(task, key))
    # The solved network is the same physics on both sides.
    v = cl.solve(net, k, task.source_nodes, np.r_[task.x_train[0], 0.0])
    v2 = cl.solve(back.network, back.conductances, task.source_nodes, np.r_[task.x_train[0], 0.0])
    np.testing.assert_allclose(v2, v)
    assert cl.Network.from_networkx(g).n_edges == net.n_edges


def test_networkx_labels_are_kept_and_bad_graphs_refused():
    nx = pytest.importorskip("networkx")
    from circuitlearn.network import read_networkx

    g = nx.Graph()
    g.add_edge("a", "b", conductance=2.0)
    g.add_edge(("x", 1), "a", conductance=3.0)
    back = read_networkx(g)
    assert back.labels == ("a", "b", ("x", 1))
    assert back.index[("x", 1)] == 2
    by_pair = {
        frozenset(back.labels[i] for i in e): kj
        for e, kj in zip(back.network.edges, back.conductances, strict=True)
    }
    assert by_pair == {frozenset(["a", "b"]): 2.0, frozenset([("x", 1), "a"]): 3.0}
    g.add_edge("b", ("x", 1))
    with pytest.raises(cl.ValidationError, match="no 'conductance' attribute"):
        read_networkx(g)
    assert read_networkx(g, conductance=None).conductances is None
    multi = nx.MultiGraph([(0, 1), (0, 1)])
    with pytest.raises(cl.ValidationError, match="MultiGraph.*parallel"):
        cl.Network.from_networkx(multi)
    with pytest.raises(cl.ValidationError, match="directed DiGraph"):
        cl.Network.from_networkx(nx.DiGraph([(0, 1)]))
    with pytest.raises(cl.ValidationError, match="roles must be a Task or a mapping"):
        cl.Network.lattice(2, 2).to_networkx(roles=object())
