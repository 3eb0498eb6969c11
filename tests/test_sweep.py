"""Sweep runner: spec expansion and validation, run directories, resume, refusals, executors,
interrupts, CLI."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import circuitlearn as cl
import circuitlearn.sweep as sw
from circuitlearn.cli import app
from circuitlearn.store import write_toml
from sweep_fixtures import run_dirs, tiny_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SRC = Path(sw.__file__).resolve().parents[1]
small_spec = tiny_spec


def tokens(out: Path) -> dict[str, tuple[str, int]]:
    """run_id -> (token of the execution that wrote it, mtime of its summary)."""
    found = {}
    for d in (out / "runs").iterdir():
        if not d.name.startswith("."):
            s = d / "summary.json"
            found[d.name] = (json.loads(s.read_text())["token"], s.stat().st_mtime_ns)
    return found


def histories(out: Path) -> dict[str, pd.DataFrame]:
    return {
        d.name: pd.read_parquet(d / "history.parquet").drop(columns="wall_time")
        for d in (out / "runs").iterdir()
        if not d.name.startswith(".")
    }


# -- spec -------------------------------------------------------------------------------------


def test_points_are_the_cartesian_product_in_order_with_stable_ids():
    points = sw.sweep_points(small_spec())
    assert [(p.grid["schedule.p"], p.grid["train.seed"]) for p in points] == [
        (1.0, 0),
        (1.0, 1),
        (0.5, 0),
        (0.5, 1),
    ]
    assert [p.index for p in points] == [0, 1, 2, 3]
    assert points[2].run_id.startswith("p0.5_seed0-")
    assert points[2].config["schedule"] == {"kind": "Bernoulli", "p": 0.5}
    assert len({p.run_id for p in points}) == 4
    # stable: the same config gives the same id, whatever the grid around it
    again = sw.sweep_points(small_spec(grid={"train.seed": [1], "schedule.p": [0.5]}))
    assert again[0].config_hash == points[3].config_hash
    assert again[0].run_id == "seed1_p0.5-" + points[3].config_hash[:12]


def test_whole_subtables_nested_keys_and_paired_axes():
    spec = small_spec(
        grid={
            "schedule": [{"kind": "Synchronous"}, {"kind": "Bernoulli", "p": 0.25}],
            "train": {"seed": [5]},  # what TOML gives for an unquoted dotted key
            "rule.lr|train.updates_per_edge": [[0.1, 4], [0.2, 8]],
        }
    )
    points = sw.sweep_points(spec)
    assert len(points) == 4
    cfgs = [p.config for p in points]
    assert cfgs[0]["schedule"] == {"kind": "Synchronous"}
    assert cfgs[3]["schedule"] == {"kind": "Bernoulli", "p": 0.25}
    assert [c["rule"]["lr"] for c in cfgs] == [0.1, 0.2, 0.1, 0.2]
    assert [c["train"]["updates_per_edge"] for c in cfgs] == [4, 8, 4, 8]
    assert all(c["train"]["seed"] == 5 for c in cfgs)
    assert points[0].run_id.startswith("schedule-Synchronous_seed5_lr0.1_upe4-")
    # a whole table is applied before keys inside it
    spec = small_spec(grid={"schedule.p": [0.3], "schedule": [{"kind": "Bernoulli", "p": 0.9}]})
    assert sw.sweep_points(spec)[0].config["schedule"]["p"] == 0.3


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda s: s.update(grids={}), "unknown key 'grids'"),
        (lambda s: s["sweep"].update(title="x"), "unknown key sweep.title"),
        (lambda s: s["grid"].update({"schedul.p": [1.0]}), "'schedul'"),
        (lambda s: s["grid"].update({"schedule.q": [1.0]}), "schedule.q"),
        (lambda s: s["grid"].update({"train.seed": []}), "non-empty list"),
        (lambda s: s["grid"].update({"train.seed": 3}), "non-empty list"),
        (lambda s: s["grid"].update({"rule.lr|rule.eta": [[0.1]]}), "lists of 2 values"),
        (lambda s: s["grid"].update({"rule.lr|train.seed": [[0.1, 1]]}), "two axes"),
        (lambda s: s["grid"].update({"train.seed": [0, 0]}), "same config"),
        (lambda s: s["grid"].update({"schedule.p": [0.5, 2.0]}), r"point 2 .*p"),
        (lambda s: s["base"]["train"].update(stepz=1), "train.stepz"),
        (lambda s: s["base"].update(rule=3), "rule"),
        (lambda s: s.update(sweep={"name": 3}), "sweep.name"),
    ],
)
def test_spec_errors_name_the_key(mutate, match):
    spec = small_spec()
    mutate(spec)
    with pytest.raises(cl.ValidationError, match=match):
        sw.sweep_points(spec)


def test_every_point_is_validated_before_anything_runs(tmp_path):
    spec = small_spec(grid={"train.seed": [0, 1], "schedule.p": [0.5, 0.0]})
    with pytest.raises(cl.ValidationError, match="point 1 "):
        cl.sweep(spec, tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()


def test_spec_file_errors(tmp_path):
    with pytest.raises(cl.ValidationError, match="does not exist"):
        sw.load_spec(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid\n")
    with pytest.raises(cl.ValidationError, match="not valid TOML"):
        sw.load_spec(bad)


def test_bad_workers_and_scheduler(tmp_path):
    for kw, match in [
        ({"workers": 0}, "workers"),
        ({"workers": 1.5}, "workers"),
        ({"scheduler": "yarn"}, "scheduler"),
        ({"scheduler": 3}, "scheduler"),
    ]:
        with pytest.raises(cl.ValidationError, match=match):
            cl.sweep(small_spec(), tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("path", sorted((EXAMPLES / "sweeps").glob("*.toml")), ids=lambda p: p.name)
def test_example_sweeps_validate(path):
    points = sw.sweep_points(path)
    assert len(points) >= 2


# -- running and reading ----------------------------------------------------------------------


def test_sweep_writes_runs_and_returns_the_tidy_table(tmp_path):
    out = tmp_path / "out"
    table = cl.sweep(small_spec(), out, workers=1, progress=False)
    assert list(table.columns) == [
        "run_id",
        "schedule.p",
        "train.seed",
        "steps",
        "updates_per_edge",
        "train_error",
        "test_error",
        "wall_time",
    ]
    assert table["schedule.p"].tolist() == [1.0, 1.0, 0.5, 0.5]
    assert table["steps"].tolist() == [10, 10, 20, 20]  # updates_per_edge / p
    assert np.all(np.isfinite(table[["train_error", "test_error", "wall_time"]]))
    pd.testing.assert_frame_equal(table, cl.sweep_table(out))
    # the spec is stored next to the runs and reads back to the same points
    assert [p.run_id for p in sw.sweep_points(out / "sweep.toml")] == table["run_id"].tolist()
    run = out / "runs" / table["run_id"][3]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["grid"] == {"schedule.p": 0.5, "train.seed": 1}
    assert summary["final"]["test_error"] == table["test_error"][3]
    result = cl.load(run)  # a sweep run is an ordinary run directory
    assert result.config["schedule"]["p"] == 0.5
    hist = cl.sweep_histories(out)
    assert list(hist.columns[:3]) == ["run_id", "schedule.p", "train.seed"]
    assert len(hist) == sum(len(h) for h in histories(out).values())
    assert set(hist["run_id"]) == set(table["run_id"])


def test_classification_sweep_has_accuracy_and_subtable_labels(tmp_path):
    spec = small_spec(grid={"schedule": [{"kind": "Synchronous"}, {"kind": "Bernoulli", "p": 0.5}]})
    spec["base"]["network"] = {"kind": "board"}
    spec["base"]["task"] = {"kind": "iris", "encoding": "levels", "seed": 0}
    table = cl.sweep(spec, tmp_path / "out", workers=1)
    assert table["schedule"].tolist() == ["Synchronous()", "Bernoulli(p=0.5)"]
    assert table["test_accuracy"].between(0, 1).all()
    assert "train_accuracy" in table


def test_resume_skips_complete_runs_and_reruns_broken_ones(tmp_path):
    out = tmp_path / "out"
    spec = small_spec(grid={"train.seed": [0, 1, 2, 3, 4]})
    first = cl.sweep(spec, out, workers=1)
    before, hist_before = tokens(out), histories(out)
    ids = first["run_id"].tolist()
    runs = out / "runs"
    # a truncated Parquet file, a missing summary, an altered but parseable file,
    # and leftovers of a run that died while being written
    parquet = runs / ids[0] / "history.parquet"
    parquet.write_bytes(parquet.read_bytes()[:100])
    (runs / ids[1] / "summary.json").unlink()
    (runs / ids[2] / "config.toml").write_text((runs / ids[2] / "config.toml").read_text() + "\n")
    (runs / f".{ids[3]}.deadbeef").mkdir()
    (runs / f".{ids[3]}.deadbeef" / "history.parquet").write_bytes(b"PAR1")
    with pytest.warns(UserWarning, match="incomplete or corrupt") as record:
        second = cl.sweep(spec, out, workers=1)
    assert sorted(str(w.message).split()[1] for w in record) == sorted(ids[:3])
    after = tokens(out)
    assert set(after) == set(ids)
    for rid in ids:
        if rid in ids[:3]:
            assert after[rid][0] != before[rid][0]  # rerun
        else:
            assert after[rid] == before[rid]  # untouched: not recomputed, not rewritten
    assert sorted(p.name for p in runs.iterdir()) == sorted(ids)  # leftovers removed
    for rid, h in histories(out).items():
        pd.testing.assert_frame_equal(h, hist_before[rid], check_exact=True)
    pd.testing.assert_frame_equal(
        first.drop(columns="wall_time"), second.drop(columns="wall_time"), check_exact=True
    )
    # a third run has nothing to do
    cl.sweep(spec, out, workers=1)
    assert tokens(out) == after


def test_sweep_table_skips_corrupt_runs_with_a_warning(tmp_path):
    out = tmp_path / "out"
    table = cl.sweep(small_spec(), out, workers=1)
    bad = out / "runs" / table["run_id"][0] / "state.npz"
    bad.write_bytes(bad.read_bytes()[:-10])
    with pytest.warns(UserWarning, match="skipping run"):
        assert len(cl.sweep_table(out)) == 3
    with pytest.warns(UserWarning, match="skipping run"):
        assert set(cl.sweep_histories(out)["run_id"]) == set(table["run_id"][1:])
    with pytest.raises(cl.ValidationError, match="does not exist"):
        cl.sweep_table(tmp_path / "nowhere")


def test_extending_the_grid_reuses_finished_points(tmp_path):
    out = tmp_path / "out"
    cl.sweep(small_spec(grid={"train.seed": [0, 1]}), out, workers=1)
    before = tokens(out)
    more = small_spec(grid={"train.seed": [0, 1, 2]})
    with pytest.raises(cl.ValidationError, match="holds a different sweep .*--extend"):
        cl.sweep(more, out, workers=1)
    table = cl.sweep(more, out, workers=1, progress=True, extend=True)
    assert len(table) == 3
    after = tokens(out)
    assert {k: after[k] for k in before} == before


def test_process_pool_gives_the_same_table_as_in_process(tmp_path):
    spec = small_spec()
    serial = cl.sweep(spec, tmp_path / "a", workers=1)
    pool = cl.sweep(spec, tmp_path / "b", workers=2)
    pd.testing.assert_frame_equal(
        serial.drop(columns="wall_time"), pool.drop(columns="wall_time"), check_exact=True
    )
    pids = {
        json.loads((d / "summary.json").read_text())["pid"] for d in (tmp_path / "b/runs").iterdir()
    }
    assert os.getpid() not in pids


def test_a_failing_point_is_reported_and_the_others_are_saved(tmp_path, monkeypatch):
    import circuitlearn.config as config

    real = config.run_config

    def flaky(cfg, progress=None):
        if cfg["train"]["seed"] == 1:
            raise RuntimeError("boom")
        return real(cfg, progress=progress)

    monkeypatch.setattr(config, "run_config", flaky)
    out = tmp_path / "out"
    with pytest.raises(sw.SweepError, match="2 of 4 sweep runs failed") as info:
        cl.sweep(small_spec(), out, workers=1)
    assert all("boom" in e for e in info.value.failures.values())
    assert len(cl.sweep_table(out)) == 2
    monkeypatch.setattr(config, "run_config", real)
    before = tokens(out)
    assert len(cl.sweep(small_spec(), out, workers=1)) == 4
    assert {k: v for k, v in tokens(out).items() if k in before} == before


class CountingExecutor(sw.Executor):
    """A new backend is a new class: this one runs in-process and counts."""

    name = "counting"

    def __init__(self):
        self.calls = 0
        self.closed = False

    def run(self, fn, items):
        for item in reversed(items):  # any order is fine
            self.calls += 1
            yield item, fn(item), None

    def close(self):
        self.closed = True


def test_a_custom_executor_plugs_in(tmp_path):
    ex = CountingExecutor()
    table = cl.sweep(small_spec(), tmp_path / "out", scheduler=ex)
    assert ex.calls == 4 and not ex.closed  # the caller owns it
    assert table["schedule.p"].tolist() == [1.0, 1.0, 0.5, 0.5]  # grid order regardless
    cl.sweep(small_spec(), tmp_path / "out", scheduler=ex)
    assert ex.calls == 4


def test_one_sweep_at_a_time_per_directory(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with sw._locked(out), pytest.raises(cl.ValidationError, match="another sweep"):
        cl.sweep(small_spec(), out, workers=1)


def test_summarize_gives_mean_and_t_interval_over_seeds():
    table = pd.DataFrame(
        {
            "run_id": list("abcde"),
            "schedule.p": [1.0, 1.0, 1.0, 0.5, 0.5],
            "train.seed": [0, 1, 2, 0, 1],
            "train_error": [1.0, 2.0, 3.0, 4.0, 4.0],
            "test_error": [1.0, 2.0, 3.0, 5.0, 7.0],
        }
    )
    s = sw.summarize(table)
    assert s["schedule.p"].tolist() == [1.0, 0.5]
    assert s["n"].tolist() == [3, 2]
    assert s["test_error_mean"].tolist() == [2.0, 6.0]
    assert math.isclose(s["test_error_ci95"][0], 4.302652729911275 * 1.0 / math.sqrt(3))
    assert math.isclose(s["test_error_ci95"][1], 12.706204736174698 * math.sqrt(2) / math.sqrt(2))
    one = sw.summarize(table.iloc[:1])
    assert math.isnan(one["test_error_ci95"][0])


# -- one spec per directory, plans, paths ------------------------------------------------------


def test_the_module_is_callable_and_keeps_its_names(tmp_path):
    assert cl.sweep is sys.modules["circuitlearn.sweep"]
    assert cl.sweep.Executor is sw.Executor and cl.sweep.summarize is sw.summarize
    table = cl.sweep(small_spec(grid={"train.seed": [0]}), tmp_path / "out", workers=1)
    assert len(table) == 1


def test_int_and_float_spellings_are_one_point(tmp_path):
    with pytest.raises(cl.ValidationError, match="same config"):
        sw.sweep_points(small_spec(grid={"schedule.p": [1, 1.0]}))
    as_float = sw.sweep_points(small_spec(grid={"schedule.p": [1.0, 0.5]}))
    as_int = sw.sweep_points(small_spec(grid={"schedule.p": [1, 0.5]}))
    assert [p.run_id for p in as_float] == [p.run_id for p in as_int]
    out = tmp_path / "out"
    cl.sweep(small_spec(grid={"schedule.p": [1.0, 0.5]}), out, workers=1)
    before = tokens(out)
    cl.sweep(small_spec(grid={"schedule.p": [1, 0.5]}), out, workers=1)  # same sweep
    assert tokens(out) == before


def test_a_different_spec_is_refused_and_the_saved_spec_kept(tmp_path):
    out = tmp_path / "out"
    cl.sweep(small_spec(), out, workers=1)
    saved = (out / "sweep.toml").read_bytes()
    other = small_spec(updates_per_edge=5)
    with pytest.raises(cl.ValidationError, match=r"different sweep .*\[base\].*train\.upd"):
        cl.sweep(other, out, workers=1)
    with pytest.raises(cl.ValidationError, match="--extend: 4 of the 4 points"):
        cl.sweep(other, out, workers=1, extend=True)
    assert (out / "sweep.toml").read_bytes() == saved
    assert len(cl.sweep_table(out)) == 4


def test_tables_read_only_the_points_of_the_current_spec(tmp_path):
    cl.sweep(small_spec(), tmp_path / "a", workers=1)
    cl.sweep(small_spec(updates_per_edge=5), tmp_path / "b", workers=1)
    for rid, d in run_dirs(tmp_path / "b").items():
        os.rename(d, tmp_path / "a" / "runs" / rid)  # runs of another sweep, mixed in
    with pytest.warns(UserWarning, match="left out 4 run"):
        table = cl.sweep_table(tmp_path / "a")
    assert len(table) == 4 and set(table["updates_per_edge"]) == {10.0}
    with pytest.warns(UserWarning, match="left out 4 run"):
        assert set(cl.sweep_histories(tmp_path / "a")["run_id"]) == set(table["run_id"])


def test_plan_lists_the_points_and_what_is_done(tmp_path):
    out = tmp_path / "out"
    fresh = sw.plan(small_spec(), out)
    assert list(fresh.columns) == ["run_id", "schedule.p", "train.seed", "done"]
    assert not fresh["done"].any() and not out.exists()
    cl.sweep(small_spec(grid={"train.seed": [0, 1]}), out, workers=1)
    more = small_spec(grid={"train.seed": [0, 1, 2]})
    with pytest.raises(cl.ValidationError, match="different sweep"):
        sw.plan(more, out)
    planned = sw.plan(more, out, extend=True)
    assert planned["done"].tolist() == [True, True, False]
    assert planned["run_id"].tolist() == [p.run_id for p in sw.sweep_points(more)]


def test_out_paths_are_refused_before_anything_runs(tmp_path):
    afile = tmp_path / "README.md"
    afile.write_text("keep")
    with pytest.raises(cl.ValidationError, match="--out .* is a file, not a directory"):
        cl.sweep(small_spec(), afile, workers=1)
    with pytest.raises(cl.ValidationError, match="which is a file, not a directory"):
        cl.sweep(small_spec(), afile / "sub", workers=1)
    assert afile.read_text() == "keep" and sorted(tmp_path.iterdir()) == [afile]
    (tmp_path / "x" / "runs" / "somerun").mkdir(parents=True)
    with pytest.raises(cl.ValidationError, match="no sweep.toml"):
        cl.sweep(small_spec(), tmp_path / "x", workers=1)


def test_run_directories_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        cl.sweep(small_spec(grid={"train.seed": [0]}), tmp_path / "out", workers=1)
    finally:
        os.umask(old)
    for d in [tmp_path / "out", tmp_path / "out" / "runs", *run_dirs(tmp_path / "out").values()]:
        assert d.stat().st_mode & 0o777 == 0o755, d


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys):
    cl.sweep(small_spec(), tmp_path / "out", workers=1)  # progress=None; stderr captured
    err = capsys.readouterr().err
    assert "sweep: 4 of 4 runs to do (0 already done, in-process)" in err
    assert "sweep: 4/4 runs done, 0:00:0" in err and "elapsed" in err
    cl.sweep(small_spec(), tmp_path / "out", workers=1, progress=False)
    assert capsys.readouterr().err == ""


# -- interrupts and scripts (real processes) ---------------------------------------------------


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path])}


def _start_slow_sweep(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    spec_path = tmp_path / "SWEEP.toml"  # 8 runs of about a second, two workers
    write_toml(spec_path, small_spec(grid={"train.seed": list(range(8))}, n_nodes=40, steps=10000))
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from circuitlearn.cli import app; app()", "sweep"]
    cmd += [str(spec_path), "--out", str(out), "--workers", "2", "--processes"]
    proc = subprocess.Popen(
        cmd,
        start_new_session=True,  # its own process group: the Ctrl-C of a terminal
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "runs").is_dir() and run_dirs(out):
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"the sweep ended early: {proc.stderr.read()}"
    return proc, spec_path, out


def _finish(proc: subprocess.Popen, timeout: float) -> str:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"the sweep did not stop within {timeout} s") from None
    return err


def _group_gone(pgid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    os.killpg(pgid, signal.SIGKILL)
    return False


def test_one_ctrl_c_finishes_the_runs_in_flight_and_says_how_to_resume(tmp_path):
    proc, spec_path, out = _start_slow_sweep(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)  # the whole group, as a terminal does
    err = _finish(proc, timeout=60)
    assert proc.returncode == 130, err
    saved = len(run_dirs(out))
    assert f"interrupted: {saved} of 8 runs saved; rerun the same command to resume" in err
    assert "Traceback" not in err, err
    assert saved < 8
    assert _group_gone(proc.pid)
    assert len(cl.sweep(spec_path, out, workers=2)) == 8  # the same command resumes


def test_a_second_ctrl_c_stops_at_once_without_tracebacks(tmp_path):
    proc, _, out = _start_slow_sweep(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    err = _finish(proc, timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert "interrupted:" in err and "rerun the same command to resume" in err
    assert _group_gone(proc.pid)  # no worker left behind
    assert len(run_dirs(out)) < 8


def test_a_script_without_a_main_guard_is_told_so(tmp_path):
    script = tmp_path / "noguard.py"
    spec = small_spec(grid={"train.seed": [0, 1]})
    script.write_text(
        textwrap.dedent(
            f"""
            import circuitlearn as cl
            table = cl.sweep({spec!r}, {str(tmp_path / "out")!r}, workers=2)
            print(len(table))
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=_env()
    )
    assert proc.returncode != 0
    assert 'if __name__ == "__main__":' in proc.stderr, proc.stderr
    assert "out of memory" not in proc.stderr
    assert len(proc.stderr.splitlines()) < 40, proc.stderr
    guarded = tmp_path / "guarded.py"
    body = script.read_text().replace("\ntable", '\nif __name__ == "__main__":\n    table')
    guarded.write_text(body.replace("\nprint", "\n    print"))
    proc = subprocess.run(
        [sys.executable, str(guarded)], capture_output=True, text=True, timeout=120, env=_env()
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "2", proc.stderr


# -- command line -----------------------------------------------------------------------------


def test_cli_sweep_prints_the_summary_and_resumes(tmp_path):
    spec_path = tmp_path / "SWEEP.toml"
    write_toml(spec_path, small_spec())
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["sweep", str(spec_path), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "schedule.p=0.5" in res.output and "±" in res.output
    assert not (tmp_path / "sweeps").exists()
    assert len(cl.sweep_table(out)) == 4
    before = tokens(out)
    res = runner.invoke(app, ["sweep", str(spec_path), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert tokens(out) == before


def test_cli_sweep_errors_exit_2(tmp_path):
    spec = small_spec()
    spec["grid"]["schedule.q"] = [1]
    spec_path = tmp_path / "SWEEP.toml"
    write_toml(spec_path, spec)
    runner = CliRunner()
    res = runner.invoke(app, ["sweep", str(spec_path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "schedule.q" in " ".join(res.output.split())
    res = runner.invoke(
        app, ["sweep", str(spec_path), "--dask", "--scheduler", "tcp://127.0.0.1:1"]
    )
    assert res.exit_code == 2 and "not both" in res.output
    res = runner.invoke(app, ["sweep", str(tmp_path / "missing.toml")])
    assert res.exit_code == 2 and "does not exist" in " ".join(res.output.split())


def test_cli_dry_run_extend_and_bad_out(tmp_path):
    spec_path, more_path = tmp_path / "SWEEP.toml", tmp_path / "MORE.toml"
    write_toml(spec_path, small_spec(grid={"train.seed": [0, 1]}))
    write_toml(more_path, small_spec(grid={"train.seed": [0, 1, 2]}))
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["sweep", str(spec_path), "--out", str(out), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "2 of 2 runs to do (0 already done)" in res.output and not out.exists()
    assert runner.invoke(app, ["sweep", str(spec_path), "-o", str(out), "-w", "1"]).exit_code == 0
    res = runner.invoke(app, ["sweep", str(more_path), "-o", str(out), "-w", "1"])
    assert res.exit_code == 2 and "--extend" in " ".join(res.output.split())
    res = runner.invoke(app, ["sweep", str(more_path), "-o", str(out), "--dry-run", "--extend"])
    assert res.exit_code == 0 and "1 of 3 runs to do (2 already done)" in res.output
    res = runner.invoke(app, ["sweep", str(more_path), "-o", str(out), "-w", "1", "--extend"])
    assert res.exit_code == 0, res.output
    assert len(cl.sweep_table(out)) == 3
    res = runner.invoke(app, ["sweep", str(spec_path), "--out", str(spec_path)])
    assert res.exit_code == 2 and "is a file" in " ".join(res.output.split())


def test_a_sweep_directory_assembled_by_hand_is_read_by_its_grid(tmp_path):
    """Runs saved with cl.save (no summary.json) belong to the sweep by their grid values."""
    from circuitlearn import results

    spec = small_spec()
    out = tmp_path / "hand"
    for point in sw.sweep_points(spec):
        cfg = point.config
        cfg["train"]["steps"] = 7  # a hand-made run need not be the point's exact config
        del cfg["train"]["updates_per_edge"]
        cl.save(cl.run_config(cfg), out / "runs" / f"mine-{point.index}")
    stray = small_spec()["base"]
    stray["schedule"]["p"] = 0.25
    cl.save(cl.run_config(stray), out / "runs" / "stray")
    write_toml(out / "sweep.toml", spec)
    with pytest.warns(UserWarning, match="left out 1 run"):
        found = results.read_sweep(out)
    assert [r.run_id for r in found.runs] == [f"mine-{i}" for i in range(4)]
    assert found.table["schedule.p"].tolist() == [1.0, 1.0, 0.5, 0.5]
    assert found.table["steps"].tolist() == [7, 7, 7, 7]
    assert all(r.summary is None for r in found.runs)
    hist = found.histories
    last = hist.groupby("run_id").tail(1).set_index("run_id")["test_error"]
    assert last.to_dict() == dict(
        zip(found.table["run_id"], found.table["test_error"], strict=True)
    )


def _die_once(item):
    """Kill this worker process the first time item 2 is seen (a marker file remembers)."""
    x, marker = item
    if x == 2 and not os.path.exists(marker):
        Path(marker).touch()
        os.kill(os.getpid(), 9)
    return x * x


def test_process_pool_survives_a_dead_worker(tmp_path):
    items = [(x, str(tmp_path / "marker")) for x in range(6)]
    with sw.ProcessExecutor(2) as ex:
        got = [(item[0], res, err) for item, res, err in ex.run(_die_once, items)]
    assert sorted(got) == [(x, x * x, None) for x in range(6)]
    assert (tmp_path / "marker").exists()
