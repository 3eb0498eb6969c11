"""``circuitlearn reproduce``: a smoke test of the quick mode end to end (every step runs and
writes finite numbers and a well-formed report; it cannot judge the science), and the
statistics of ``circuitlearn.analysis``."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from circuitlearn import analysis
from circuitlearn.cli import app
from circuitlearn.experiments import EXPERIMENTS

runner = CliRunner()


# ---------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def quick_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce-quick")
    res = runner.invoke(app, ["reproduce", "--quick", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    return out


def _numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj


def test_quick_reproduce_writes_report_with_finite_numbers(quick_out):
    out = quick_out
    report = (out / "results.md").read_text()
    for name in EXPERIMENTS:
        summary = json.loads((out / name / "summary.json").read_text())
        for fig in summary["figures"]:
            assert (out / fig).is_file()
            assert (out / fig).with_suffix(".pdf").is_file()
            assert fig in report
        assert summary["command"] in report
        assert math.isfinite(summary["runtime_s"])
    for claim in ("Claim 1", "Claim 2", "Claim 3"):
        assert claim in report
    verdicts = re.findall(r"\*\*Verdict: ([^*]+?)\.\*\*", report)
    assert len(verdicts) == 4  # claims 1-3 (E1-E3) and E5's claim 1 on nonlinear networks
    # verdicts computed from pre-registered criteria (experiments.criteria)
    known = {"supported", "refuted", "inconclusive", "inconclusive (nothing measured)"}
    for verdict in verdicts:  # one verdict, or "claim: verdict | claim: verdict" (criteria)
        for part in verdict.split(" | "):
            if ": " in part and not part.startswith("supported in "):
                part = part.split(": ", 1)[1]  # drop the claim's label
            assert part in known or part.startswith("supported in "), verdict
    assert not re.search(r"\bnan\b", report, flags=re.IGNORECASE)  # no NaN leaked into the text


def test_quick_headline_numbers_are_finite(quick_out):
    out = quick_out
    e1 = json.loads((out / "e1" / "summary.json").read_text())
    for crit in e1["verdicts"]["criteria"]:
        for cell in crit["cells"]:
            assert all(math.isfinite(cell[k]) for k in ("estimate", "low", "high"))
    e2 = json.loads((out / "e2" / "summary.json").read_text())
    assert e2["regimes"] and all(math.isfinite(r["B/A"]["ratio"]) for r in e2["regimes"])
    assert all(math.isfinite(r["sync_error"]) and r["sync_error"] > 0 for r in e2["regimes"])
    assert set(e2["verdicts"]["claims"]) == {"2 (gain)", "2 (mechanism)"}
    e3 = json.loads((out / "e3" / "summary.json").read_text())
    for pair in e3["matched"]:
        assert 0 < pair["p"] < 1 and pair["b"] >= 1
        # the mask noise measured by update_noise is (1 - p) per update per edge
        assert pair["mask"] == pytest.approx(1 - pair["p"], rel=0.5)
    assert all(math.isfinite(r["excess_ratio"]) for r in e3["ratios"])
    assert set(e3["verdicts"]["claims"]) == {
        "3",
        "3 (transient-only analogy)",
        "3 (hardware analogue)",
    }
    e4 = json.loads((out / "e4" / "summary.json").read_text())
    assert all(r["error"] > 0 for r in e4["rows"])
    numbers = list(_numbers(e4["rows"]))
    assert numbers and all(math.isfinite(x) for x in numbers if x == x)


def test_rerun_reuses_finished_conditions(quick_out):
    out = quick_out
    cond = sorted((out / "e4" / "conditions").glob("*.parquet"))
    cond_e1 = sorted((out / "e1" / "conditions").glob("*.parquet"))
    before = {p: p.stat().st_mtime_ns for p in cond + cond_e1}
    res = runner.invoke(app, ["reproduce", "e4", "--quick", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["reproduce", "e1", "--quick", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert (out / "results.md").is_file()


def test_publish_copies_report_and_figures(quick_out, tmp_path):
    from circuitlearn.experiments import publish

    out = quick_out
    target = publish(out, tmp_path / "docs")
    text = target.read_text()
    for link in re.findall(r"\]\((figures/[^)]+)\)", text):
        assert (tmp_path / "docs" / link).is_file(), link


def test_unknown_experiment_is_refused(tmp_path):
    res = runner.invoke(app, ["reproduce", "e9", "--quick", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "unknown experiment" in res.output


# ---------------------------------------------------------------------------- analysis
def test_cycle_detection_on_a_periodic_trajectory():
    rng = np.random.default_rng(0)
    transient = rng.integers(0, 100, (7, 5))
    cycle = rng.integers(0, 100, (4, 5))
    traj = np.concatenate([transient, np.tile(cycle, (6, 1))])
    assert analysis.cycle_period(traj) == 4
    assert analysis.distinct_states(traj) == 11
    # every row after the first pass through the cycle is a revisit
    assert analysis.revisit_fraction(traj) == pytest.approx((len(traj) - 11) / len(traj))
    gaps = analysis.return_times(traj)
    assert gaps.size == len(traj) - 11 and np.all(gaps == 4)
    dyn = analysis.tap_dynamics(traj, window=16)
    assert dyn["period"] == 4 and dyn["modal_return"] == 4 and dyn["distinct_states"] == 4


def test_cycle_detection_negatives_and_stalls():
    walk = np.cumsum(np.ones((50, 3), dtype=int), axis=0)  # never repeats
    assert analysis.cycle_period(walk) is None
    assert analysis.revisit_fraction(walk) == 0.0
    assert analysis.return_times(walk).size == 0
    stalled = np.concatenate([walk[:5], np.repeat(walk[5:6], 20, axis=0)])
    assert analysis.cycle_period(stalled) == 1
    dyn = analysis.tap_dynamics(stalled, window=10)
    assert dyn["stall_fraction"] == 1.0 and dyn["changes"] == 1
    # a period-2 oscillation with pauses: collapsing repeats recovers the period
    a, b = np.array([[1, 2]]), np.array([[2, 1]])
    paused = np.concatenate([a, a, b, a, a, a, b, b, a, b, a, b])
    assert analysis.cycle_period(analysis.collapse_repeats(paused)) == 2
    with pytest.raises(ValueError):
        analysis.revisit_fraction(np.zeros(5))
    with pytest.raises(ValueError):
        analysis.cycle_period(walk, min_repeats=1)


def test_ratio_ci_and_mean_ci():
    rng = np.random.default_rng(1)
    b = rng.lognormal(0, 1, 200)
    a = 1.5 * b * rng.lognormal(0, 0.05, 200)
    r = analysis.ratio_ci(a, b)
    assert r["low"] < 1.5 < r["high"] and r["ratio"] == pytest.approx(1.5, rel=0.02)
    assert r["n"] == 200 and r["p_wilcoxon"] < 1e-10
    m, lo, hi = analysis.mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and lo < 2.0 < hi
    assert analysis.mean_ci([4.0]) == (4.0, 4.0, 4.0)
    assert all(math.isnan(x) for x in analysis.mean_ci([]))
    g, glo, ghi = analysis.geo_mean_ci([1.0, 100.0])
    assert g == pytest.approx(10.0) and glo < g < ghi
    r = analysis.ratio_ci([1.0, np.nan, 2.0], [1.0, 1.0, 0.0])
    assert r["n"] == 1
    with pytest.raises(ValueError):
        analysis.ratio_ci([1.0, 2.0], [1.0])


def test_log_band_is_the_geometric_mean_with_its_t_interval_per_column():
    rows = np.array([[1.0, 10.0], [100.0, 1000.0], [10.0, 10.0]])
    mid, lo, hi = analysis.log_band(rows)
    for j in range(rows.shape[1]):
        g, glo, ghi = analysis.geo_mean_ci(rows[:, j])
        assert (mid[j], lo[j], hi[j]) == pytest.approx((g, glo, ghi))
    assert mid[0] == pytest.approx(10.0)
    one = analysis.log_band(rows[:1])
    assert all(np.allclose(b, rows[0]) for b in one)  # one seed: no interval


def test_tail_mean_averages_the_last_fraction_of_updates():
    import pandas as pd

    hist = pd.DataFrame({"updates_per_edge": np.arange(11.0), "test_error": np.arange(11.0)})
    assert analysis.tail_mean(hist, "test_error", 0.2) == pytest.approx(9.0)  # 8, 9, 10
    assert analysis.tail_mean(hist, "test_error", 1.0) == pytest.approx(5.0)


def test_summarize_groups_by_grid_values_and_treats_seeds_as_replicates():
    import pandas as pd

    table = pd.DataFrame(
        {
            "run_id": list("abcde"),
            "schedule.p": [1.0, 1.0, 1.0, 0.5, 0.5],
            "train.seed": [0, 1, 2, 0, 1],
            "steps": [10, 10, 10, 20, 20],
            "train_error": [1.0, 2.0, 3.0, 4.0, 4.0],
            "test_error": [1.0, 2.0, 3.0, 5.0, 7.0],
        }
    )
    s = analysis.summarize(table)
    assert list(s.columns) == [
        "schedule.p",
        "n",
        "test_error_mean",
        "test_error_ci95",
        "train_error_mean",
    ]
    assert s["n"].tolist() == [3, 2] and s["test_error_mean"].tolist() == [2.0, 6.0]
    for i, vals in enumerate(([1.0, 2.0, 3.0], [5.0, 7.0])):
        m, _, high = analysis.mean_ci(vals)
        assert s["test_error_ci95"][i] == pytest.approx(high - m)
    assert math.isnan(analysis.summarize(table.iloc[:1])["test_error_ci95"][0])
    by_seed = analysis.summarize(table, by=["train.seed"], metric="train_error")
    assert by_seed["train_error_mean"].tolist() == [2.5, 3.0, 3.0]


def test_steps_for_compares_schedules_at_equal_updates_per_edge():
    import circuitlearn as cl
    from circuitlearn.schedules import steps_for, synchronous_if_one

    assert steps_for(10, cl.Bernoulli(0.1), 30) == 100  # not 101 through rounding
    assert steps_for(10, cl.Synchronous(), 30) == 10
    assert steps_for(2.5, cl.RandomSubset(count=3), 30) == 25
    assert steps_for(1, cl.PoissonClocks(rate=0.3), 30) == 4
    with pytest.raises(cl.ValidationError, match="updates_per_edge"):
        steps_for(0, cl.Synchronous(), 30)
    assert synchronous_if_one(1.0) == cl.Synchronous()
    assert synchronous_if_one(0.5) == cl.Bernoulli(0.5)


def test_mann_whitney_and_fdr():
    a = np.arange(10.0)
    b = np.arange(10.0) + 100
    mw = analysis.mann_whitney(a, b)
    assert mw["p"] < 1e-3 and mw["p_a_less"] == 1.0
    assert mw["median_a"] == 4.5 and mw["median_b"] == 104.5
    same = analysis.mann_whitney(a, a)
    assert same["p_a_less"] == 0.5 and same["p"] > 0.5
    assert math.isnan(analysis.mann_whitney([], b)["p"])
    rej = analysis.fdr_bh([0.001, 0.04, 0.03, 0.9, np.nan], q=0.05)
    assert rej.tolist() == [True, False, False, False, False]
    rej = analysis.fdr_bh([0.01, 0.02, 0.03], q=0.05)
    assert rej.all()
    assert not analysis.fdr_bh([]).size


def test_report_only_rewrites_the_report(quick_out, tmp_path):
    out = quick_out
    (out / "results.md").unlink()
    res = runner.invoke(
        app, ["reproduce", "--report-only", "--out", str(out), "--docs", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert (out / "results.md").read_text() == (tmp_path / "results.md").read_text()
    res = runner.invoke(app, ["reproduce", "--report-only", "--out", str(tmp_path / "none")])
    assert res.exit_code == 2 and "no experiment summaries" in res.output
