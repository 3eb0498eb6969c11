"""Single runs a user can trust: a saved config reruns to identical conductances, Ctrl-C keeps
the partial run (marked incomplete) and a checkpoint from which ``--resume`` gives exactly the
uninterrupted result, and non-finite learning stops with a clear error instead of a result."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import circuitlearn as cl
from circuitlearn import checkpoints, loop

SRC = str(Path(cl.__file__).resolve().parents[1])


def _cli(*args, cwd, **kw):
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-m", "circuitlearn", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


@pytest.mark.parametrize("rule", [cl.CoupledLearning(lr=0.5), cl.SteppedCoupledLearning(taps=16)])
def test_the_config_that_save_writes_reruns_to_identical_conductances(tmp_path, rule):
    net = cl.Network.random(30, seed=1)
    task = cl.tasks.regression(net, 2, 1, 10, 5, seed=0)
    k0 = np.linspace(0.5, 2.0, net.n_edges)
    kw = dict(rule=rule, schedule=cl.Bernoulli(0.5), steps=40, batch_size=3, sampling="cyclic")
    first = cl.train(net, task, k0=k0, seed=3, **kw)
    cl.save(first, tmp_path / "run")
    cfg = cl.load_config(tmp_path / "run" / "config.toml")
    assert cfg["network"] == {"kind": "file", "path": str(tmp_path / "run" / "network.npz")}
    again = cl.run_config(cfg)
    np.testing.assert_array_equal(again.conductances, first.conductances)
    np.testing.assert_array_equal(again.initial_conductances, first.initial_conductances)


def test_own_data_file_in_a_config(tmp_path):
    """A task from your own arrays, saved as task.npz and named in a TOML config."""
    net = cl.Network.random(20, seed=4)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (12, 2))
    task = cl.Task([0, 1], [5], x, x.mean(axis=1, keepdims=True) * 0.5, ground_nodes=[9])
    cl.save(cl.train(net, task, steps=5), tmp_path / "src")
    (tmp_path / "cfg.toml").write_text(
        '[network]\nkind = "file"\npath = "src/network.npz"\n'
        '[task]\nkind = "file"\npath = "src/task.npz"\n[train]\nsteps = 20\n'
    )
    result = cl.run_config(cl.load_config(tmp_path / "cfg.toml"))
    np.testing.assert_array_equal(result.task.x_train, x)
    bad = tmp_path / "bad.toml"
    bad.write_text('[network]\nkind = "file"\npath = "nope.npz"\n[task]\nkind = "regression"\n')
    with pytest.raises(cl.ValidationError, match=r"\[network\] network file .*nope.npz"):
        cl.load_config(bad)


def _long_config(path: Path, steps: int) -> Path:
    path.write_text(
        '[network]\nkind = "random"\nn_nodes = 60\nseed = 2\n'
        '[task]\nkind = "regression"\nn_inputs = 3\nn_outputs = 2\nn_train = 12\nn_test = 6\n'
        '[rule]\nkind = "CoupledLearning"\nlr = 0.5\n'
        '[schedule]\nkind = "Bernoulli"\np = 0.2\n'
        f"[train]\nsteps = {steps}\nbatch_size = 2\nseed = 5\nrecord_every = 50\n"
    )
    return path


def test_ctrl_c_keeps_the_partial_run_and_resume_is_bit_identical(tmp_path):
    cfg = _long_config(tmp_path / "long.toml", steps=40_000)
    proc = _cli("train", cfg, "--out", "run", "--checkpoint-every", "2000", "-q", cwd=tmp_path)
    ckpt = tmp_path / ".run.checkpoint"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ckpt.exists(), "no checkpoint was written"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted:"), err
    assert "--resume" in err and "Traceback" not in err
    partial = cl.load(tmp_path / "run")
    assert not partial.complete and (tmp_path / "run" / "INCOMPLETE").is_file()
    stopped = int(pickle.loads(ckpt.read_bytes())["loop"].step)
    assert 0 < stopped < 40_000

    resumed = _cli(
        "train", cfg, "--out", "run", "--checkpoint-every", "2000", "-q", "--resume", cwd=tmp_path
    )
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    done = cl.load(tmp_path / "run")
    assert done.complete and not ckpt.exists()
    whole = _cli("train", cfg, "--out", "whole", "--checkpoint-every", "2000", "-q", cwd=tmp_path)
    _, err = whole.communicate(timeout=600)
    assert whole.returncode == 0, err
    ref = cl.load(tmp_path / "whole")
    np.testing.assert_array_equal(done.conductances, ref.conductances)
    a, b = done.history.drop(columns="wall_time"), ref.history.drop(columns="wall_time")
    assert a.equals(b)


def test_resume_refuses_a_missing_or_foreign_checkpoint(tmp_path):
    cfg = _long_config(tmp_path / "a.toml", steps=10)
    proc = _cli("train", cfg, "--out", "run", "--resume", cwd=tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "there is no checkpoint" in err
    other = _long_config(tmp_path / "b.toml", steps=11)
    checkpoints.Checkpoint.beside(tmp_path / "run", cl.load_config(other)).save(
        loop.start(
            [cl.tasks.allostery(cl.Network.random(10), 1, 1)],
            cl.CoupledLearning(),
            cl.Synchronous(),
            [0],
            [None],
            16,
            None,
            "epoch",
            1,
            False,
        )
    )
    proc = _cli("train", cfg, "--out", "run", "--resume", cwd=tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "belongs to a different config" in err


@dataclass(frozen=True)
class Exploding(cl.Rule):
    """A user's rule that overflows after a few updates."""

    def init_state(self, k0, n_edges, rng):
        return cl.RuleState(np.ones(n_edges))

    def apply(self, state, signals, mask, rng):
        with np.errstate(over="ignore"):
            state.k[mask] = state.k[mask] * 1e200


def test_non_finite_learning_stops_with_the_step_and_the_partial_run():
    net = cl.Network.random(20, seed=0)
    task = cl.tasks.regression(net, 2, 1, 6, seed=0)
    with pytest.raises(cl.errors.TrainingDiverged, match="diverged at step 2") as info:
        cl.train(net, task, rule=Exploding(), steps=10, record_every=1)
    assert info.value.step == 2
    assert len(info.value.result.history) == 3  # steps 0, 1 and the non-finite one
    with pytest.raises(cl.ValidationError, match=r"lr must be a number in \(0, inf\); got inf"):
        cl.CoupledLearning(lr=float("inf"))
