"""Sweeps on Dask and under faults: a real LocalCluster (processes, loopback only), a worker
killed mid-sweep, the whole sweep killed with SIGKILL and rerun, corrupt run directories."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import circuitlearn as cl
from circuitlearn.store import write_toml
from sweep_fixtures import run_dirs, summaries, tiny_spec

distributed = pytest.importorskip("distributed")


def cluster_kwargs() -> dict:
    return dict(
        processes=True,
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # loopback, any free port
        silence_logs=logging.CRITICAL,
    )


def spec(n_seeds: int, steps: int, n_nodes: int = 16) -> dict:
    """Tiny regression runs; ``steps`` sets how long each one takes."""
    grid = {"schedule.p": [1.0, 0.5], "train.seed": list(range(n_seeds))}
    return tiny_spec(grid, n_nodes=n_nodes, name="dask", steps=steps)


def assert_same_runs(out: Path, ref: Path) -> None:
    """Same runs, histories bit-identical (but for wall time), same final state arrays."""
    got, want = run_dirs(out), run_dirs(ref)
    assert sorted(got) == sorted(want)
    for rid in want:
        a = pd.read_parquet(got[rid] / "history.parquet").drop(columns="wall_time")
        b = pd.read_parquet(want[rid] / "history.parquet").drop(columns="wall_time")
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        with np.load(got[rid] / "state.npz") as za, np.load(want[rid] / "state.npz") as zb:
            np.testing.assert_array_equal(za["conductances"], zb["conductances"])
    assert not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]


def same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a.drop(columns="wall_time"), b.drop(columns="wall_time"), check_exact=True
    )


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(**cluster_kwargs()) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted in-process sweeps the fault tests compare against."""
    root = tmp_path_factory.mktemp("reference")
    small = cl.sweep(spec(3, 60), root / "small", workers=1)
    slow = cl.sweep(spec(6, 600, n_nodes=30), root / "slow", workers=1)
    return {"small": (root / "small", small), "slow": (root / "slow", slow)}


def test_local_cluster_gives_the_same_table_as_local_processes(cluster, reference, tmp_path):
    ref_dir, ref_table = reference["small"]
    on_dask = cl.sweep(spec(3, 60), tmp_path / "dask", scheduler=cluster.scheduler_address)
    local = cl.sweep(spec(3, 60), tmp_path / "local", workers=2)
    same_table(on_dask, local)
    same_table(on_dask, ref_table)
    assert_same_runs(tmp_path / "dask", ref_dir)
    pids = {s["pid"] for s in summaries(tmp_path / "dask").values()}
    assert os.getpid() not in pids  # it really ran on the workers


def test_a_corrupt_run_is_detected_and_rerun_on_dask(client, reference, tmp_path):
    ref_dir, ref_table = reference["small"]
    out = tmp_path / "out"
    cl.sweep(spec(3, 60), out, scheduler=client)
    before = summaries(out)
    victim = sorted(before)[2]
    parquet = out / "runs" / victim / "history.parquet"
    parquet.write_bytes(parquet.read_bytes()[: parquet.stat().st_size // 2])  # partial Parquet
    with pytest.warns(UserWarning, match=f"{victim} .*incomplete or corrupt"):
        table = cl.sweep(spec(3, 60), out, scheduler=client)
    after = summaries(out)
    assert after[victim]["token"] != before[victim]["token"]
    assert all(after[r]["token"] == before[r]["token"] for r in before if r != victim)
    same_table(table, ref_table)
    assert_same_runs(out, ref_dir)


def test_a_worker_killed_mid_sweep_is_retried_elsewhere_without_duplicates(reference, tmp_path):
    ref_dir, ref_table = reference["slow"]
    out = tmp_path / "out"
    with (
        distributed.LocalCluster(**cluster_kwargs()) as cluster,
        distributed.Client(cluster) as client,
    ):
        pids = client.run(os.getpid)
        results, errors = [], []

        def go():
            try:
                results.append(cl.sweep(spec(6, 600, n_nodes=30), out, scheduler=client))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        thread = threading.Thread(target=go)
        thread.start()
        victim, deadline = None, time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            busy = [w for w, keys in client.processing().items() if keys and w in pids]
            if busy:
                victim = busy[0]
            else:
                time.sleep(0.005)
        assert victim is not None, "no task ever reached a worker"
        os.kill(pids[victim], signal.SIGKILL)
        thread.join(timeout=120)
        assert not thread.is_alive()
    assert not errors, errors
    same_table(results[0], ref_table)
    assert_same_runs(out, ref_dir)  # every run written once, nothing left half-written
    done = summaries(out)
    assert pids[victim] not in {s["pid"] for s in done.values()}  # its task ran elsewhere
    assert len({s["token"] for s in done.values()}) == len(done) == 12


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_sigkill_of_the_whole_sweep_then_rerun(backend, reference, tmp_path):
    ref_dir, ref_table = reference["slow"]
    spec_path = tmp_path / "SWEEP.toml"
    write_toml(spec_path, spec(6, 600, n_nodes=30))
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-c",
        "from circuitlearn.cli import app; app()",
        "sweep",
        str(spec_path),
        "--out",
        str(out),
        "--workers",
        "2",
        "--quiet",
        "--dask" if backend == "dask" else "--processes",
    ]
    seed = int.from_bytes(os.urandom(4), "little")
    kill_after = random.Random(seed).randint(1, 7)  # of 12 runs
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "runs").is_dir() and len(run_dirs(out)) >= kill_after:
                break
            time.sleep(0.005)
        assert proc.poll() is None, f"sweep ended before the kill: {proc.stderr.read()!r}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and every process it started
        proc.wait()
        proc.stderr.close()
    landed = summaries(out)
    assert kill_after <= len(landed) < 12, f"seed {seed}: {len(landed)} runs landed"
    stamps = {
        r: (d.stat().st_ino, (d / "summary.json").stat().st_mtime_ns)
        for r, d in run_dirs(out).items()
    }

    table = cl.sweep(spec_path, out, workers=2)  # the rerun completes the sweep

    after = summaries(out)
    for rid, s in landed.items():  # no finished run recomputed or rewritten
        assert after[rid]["token"] == s["token"], f"seed {seed}: {rid} recomputed"
        d = out / "runs" / rid
        assert (d.stat().st_ino, (d / "summary.json").stat().st_mtime_ns) == stamps[rid]
    same_table(table, ref_table)
    assert_same_runs(out, ref_dir)  # bit-identical to the uninterrupted sweep


def test_reproduce_runs_its_conditions_on_a_dask_cluster(cluster, tmp_path):
    """``reproduce --scheduler tcp://...`` hands the experiment's conditions to the cluster and
    measures exactly what the in-process run measures."""
    from typer.testing import CliRunner

    from circuitlearn.cli import app

    runner = CliRunner()
    out = {}
    for name, extra in (
        ("dask", ["--scheduler", cluster.scheduler_address]),
        ("local", ["--workers", "1"]),
    ):
        out[name] = tmp_path / name
        res = runner.invoke(
            app, ["reproduce", "e4", "--quick", "--out", str(out[name]), "--quiet", *extra]
        )
        assert res.exit_code == 0, res.output
    conditions = sorted((out["dask"] / "e4" / "conditions").glob("*.parquet"))
    assert conditions
    for path in conditions:
        a = pd.read_parquet(path)
        b = pd.read_parquet(out["local"] / "e4" / "conditions" / path.name)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    cells = [json.loads((out[n] / "e4" / "summary.json").read_text())["verdicts"] for n in out]
    assert cells[0] == cells[1]
