"""tools/check_regressions.py on real CPU runs, injected slowdowns and bad input."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import run_tool
from results_factory import around, many_around, relabelled_copy, write_run

MATERIALIZED = "attention_bias.AttentionBiasCPU.time_materialized"
CAUSAL = "attention_bias.AttentionBiasCPU.time_causal_bias"
CONFIG_1 = "1, 4, (1, 48), 64, 'float32'"  # parameter index 1
CONFIG_4 = "4, 4, (1, 48), 64, 'float32'"  # parameter index 4


def check(*args: str):
    return run_tool("check_regressions.py", *args)


@pytest.fixture
def copied_runs(cpu_runs, tmp_path):
    """The two real CPU runs, in a results tree of the test's own."""
    results = tmp_path / "results"
    shutil.copytree(cpu_runs["results"], results)
    return results, cpu_runs["commits"][-2:]


def test_two_real_runs_of_the_same_torch_flag_nothing(cpu_runs):
    completed = check("--results-dir", str(cpu_runs["results"]), "--format", "json")
    assert completed.returncode == 0, completed.stdout
    report = json.loads(completed.stdout)
    assert report["verdict"] == "no regression"
    assert (report["baseline"], report["contender"]) == tuple(cpu_runs["commits"][-2:])
    assert report["regressions"] == [] and report["not_measured"] == []


def test_one_scaled_config_is_flagged_alone(copied_runs, tmp_path):
    results, (commit_a, _) = copied_runs
    source = next((results / "ci-cpu").glob(f"{commit_a[:8]}-*.json"))
    relabelled_copy(source, "c" * 40, {(CAUSAL, 1): 1.10})
    report_file = tmp_path / "report.md"
    completed = check("--results-dir", str(results), "--baseline", commit_a, "--contender", "c" * 8,
                      "--factor", "1.05", "--report", str(report_file))
    assert completed.returncode == 1, completed.stdout + completed.stderr
    report = report_file.read_text()
    assert report.startswith("# REGRESSION: 1 finding(s)")
    assert f"`{commit_a[:8]}` -> contender `cccccccc`" in report
    regressions = report.split("## Regressions (1)")[1].split("## Improvements")[0]
    assert f"| AttentionBiasCPU.time_causal_bias | {CONFIG_1}" in regressions
    assert re.search(r"\| 1\.100 +\| asv: samples \(Mann-Whitney U\) +\|", regressions), regressions
    assert completed.stdout == report


def test_a_speedup_drop_alone_is_flagged(copied_runs):
    """Materialized 10% faster: no time got slower, the CausalBias speedup fell by 1.10."""
    results, (commit_a, _) = copied_runs
    source = next((results / "ci-cpu").glob(f"{commit_a[:8]}-*.json"))
    relabelled_copy(source, "d" * 40, {(MATERIALIZED, 4): 1 / 1.10})
    completed = check("--results-dir", str(results), "--baseline", commit_a, "--contender", "d" * 8,
                      "--factor", "1.05", "--format", "json")
    assert completed.returncode == 1
    report = json.loads(completed.stdout)
    assert [(f["kind"], f["benchmark"], f["params"]) for f in report["regressions"]] == [
        ("speedup", "AttentionBiasCPU.speedup", CONFIG_4)]
    assert report["regressions"][0]["ratio"] == pytest.approx(1 / 1.10, rel=1e-9)
    assert report["regressions"][0]["significant"] == "materialized faster"
    assert [(f["benchmark"], f["params"]) for f in report["improvements"]] == [
        ("AttentionBiasCPU.time_materialized", CONFIG_4)]


def test_hand_written_runs_exact_ratio(tmp_path):
    results = tmp_path / "results"
    base = {"time_materialized": [many_around(2e-6)] * 4, "time_causal_bias": [many_around(1e-6)] * 4}
    slower = {"time_materialized": [many_around(2e-6)] * 4,
              "time_causal_bias": [many_around(1e-6)] * 3 + [many_around(1.5e-6)]}
    write_run(results, "box", "a" * 40, 1_000, base)
    write_run(results, "box", "b" * 40, 2_000, slower)
    completed = check("--results-dir", str(results), "--format", "json")
    report = json.loads(completed.stdout)
    assert completed.returncode == 1
    time_findings = [f for f in report["regressions"] if f["kind"] == "time"]
    assert len(time_findings) == 1
    assert time_findings[0]["params"] == "2, 4, (1, 48), 64, 'float32'"
    assert time_findings[0]["ratio"] == pytest.approx(1.5, rel=1e-12)
    assert time_findings[0]["significant"] == "asv: samples (Mann-Whitney U)"
    # the speedup fell by 1.5 too, but the slower time is the finding: no second one
    assert [f["kind"] for f in report["regressions"]] == ["time"]


def test_too_few_samples_fall_back_to_confidence_intervals(tmp_path):
    """Three samples a side: asv cannot reach p < 0.002 and its 99% CIs overlap: nothing is flagged."""
    results = tmp_path / "results"
    write_run(results, "box", "a" * 40, 1_000,
              {"time_materialized": [around(2e-6)] * 4, "time_causal_bias": [around(1e-6)] * 4})
    write_run(results, "box", "b" * 40, 2_000,
              {"time_materialized": [around(2e-6)] * 4,
               "time_causal_bias": [around(1e-6)] * 3 + [around(1.5e-6)]})
    completed = check("--results-dir", str(results))
    assert completed.returncode == 0
    assert "## Regressions (0)" in completed.stdout


def test_failed_configs_are_reported(tmp_path):
    results = tmp_path / "results"
    base = {"time_materialized": [around(2e-6)] * 4, "time_causal_bias": [around(1e-6)] * 4}
    broken = {"time_materialized": [around(2e-6)] * 4, "time_causal_bias": [around(1e-6)] * 3 + [None]}
    write_run(results, "box", "a" * 40, 1_000, base)
    write_run(results, "box", "b" * 40, 2_000, broken)
    completed = check("--results-dir", str(results))
    assert "## Failed or missing in either run (1)" in completed.stdout
    assert "- contender AttentionBiasCPU.time_causal_bias(2, 4, (1, 48), 64, 'float32'): failed" in completed.stdout


def test_first_night_has_no_baseline(tmp_path):
    results = tmp_path / "results"
    write_run(results, "box", "a" * 40, 1_000,
              {"time_materialized": [around(1e-6)] * 4, "time_causal_bias": [around(1e-6)] * 4})
    completed = check("--results-dir", str(results))
    assert completed.returncode == 0
    assert completed.stdout == "first night on 'box': no baseline to compare aaaaaaaa with yet\n"


def assert_error(args: list[str], message: str) -> None:
    completed = check(*args)
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr
    assert message in completed.stderr


def test_errors_exit_2(copied_runs, tmp_path):
    results, (commit_a, commit_b) = copied_runs
    assert_error(["--results-dir", str(results), "--machine", "gpu"], "unknown machine 'gpu'; available: ci-cpu")
    assert_error(["--results-dir", str(results), "--contender", "0123abc"], "no run of commit '0123abc'")
    assert_error(["--results-dir", str(results), "--baseline", commit_a[:10], "--contender", commit_a[:8]],
                 "baseline and contender are the same commit")
    assert_error(["--results-dir", str(tmp_path / "none")], "no results directory")
    newest = next((results / "ci-cpu").glob(f"{commit_b[:8]}-*.json"))
    newest.write_text("{not json")
    assert_error(["--results-dir", str(results)], "corrupt results file")


def test_gpu_time_ratio_and_backend_change_are_reported(tmp_path):
    """Wall time 1.5x slower with the GPU time unchanged; one mask's backend flash -> math."""
    results = tmp_path / "results"
    times = {"time_materialized": [many_around(2e-6)] * 4, "time_causal_bias": [many_around(1e-6)] * 4}
    slower = {"time_materialized": [many_around(2e-6)] * 4,
              "time_causal_bias": [many_around(1e-6)] * 3 + [many_around(1.5e-6)]}
    figures = {"track_gpu_time_materialized": [1.6e-6] * 4, "track_gpu_time_causal_bias": [0.8e-6] * 4,
               "track_sdpa_backend_materialized": [1.0] * 4, "track_sdpa_backend_causal_bias": [1.0] * 4}
    changed = {**figures, "track_sdpa_backend_materialized": [1.0, 0.0, 1.0, 1.0]}
    write_run(results, "box", "a" * 40, 1_000, times, figures=figures)
    write_run(results, "box", "b" * 40, 2_000, slower, figures=changed)
    completed = check("--results-dir", str(results), "--format", "json")
    assert completed.returncode == 1
    report = json.loads(completed.stdout)
    assert [(f["benchmark"], f["ratio"], f["gpu_ratio"]) for f in report["regressions"]] == [
        ("AttentionBiasCPU.time_causal_bias", pytest.approx(1.5, rel=1e-12), 1.0)]
    assert report["backend_changes"] == [{
        "benchmark": "AttentionBiasCPU", "config": "1, 4, (1, 48), 64, 'float32'", "mask": "materialized",
        "baseline": "flash", "contender": "math"}]
    markdown = check("--results-dir", str(results)).stdout
    assert "## SDPA backend changes (1)" in markdown
    assert re.search(r"\| 1\.500 +\| asv: samples \(Mann-Whitney U\) +\| 1\.000 +\|", markdown), markdown


def test_real_runs_report_no_backend_change(cpu_runs):
    completed = check("--results-dir", str(cpu_runs["results"]), "--format", "json")
    assert json.loads(completed.stdout)["backend_changes"] == []
