"""tools/speedup_summary.py on real CPU runs and on hand-written results."""

from __future__ import annotations

import ast
import itertools
import json
import math
import subprocess

import pytest
from conftest import REPO_ROOT, run_tool
from lib.suite import schema
from results_factory import SMALL_PARAMS, write_run

AttentionConfig, CPU_PARAMS, forward_flops = schema.AttentionConfig, schema.CPU_PARAMS, schema.forward_flops

MATERIALIZED_US = [2.0, 4.0, 3.0, 8.0]
CAUSAL_US = [1.0, 4.0, 6.0, 2.0]  # speedups 2, 1, 0.5, 4


def summary(*args: str) -> tuple[int, str, str]:
    completed = run_tool("speedup_summary.py", *args)
    return completed.returncode, completed.stdout, completed.stderr


def summary_json(*args: str) -> dict:
    code, out, err = summary(*args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def by_type(report: dict) -> dict[str, dict]:
    return {row["Type"]: row for row in report["rows"]}


@pytest.fixture
def known_results(tmp_path):
    results = tmp_path / "results"
    write_run(results, "box", "a" * 40, 1_000, {
        "track_wall_time_materialized": [v * 1e-6 for v in MATERIALIZED_US],
        "track_wall_time_causal_bias": [v * 1e-6 for v in CAUSAL_US],
    }, visits={(0, "materialized"): [2.2e-6, 2.0e-6, 2.5e-6, 2.1e-6]})
    return results


def test_real_cpu_run_summary_matches_results_json(cpu_runs):
    """Average/Geomean/Max/Min equal what the results JSON itself gives."""
    commit = cpu_runs["commits"][-1]
    path = next((cpu_runs["results"] / "ci-cpu").glob(f"{commit[:8]}-*.json"))
    raw = json.loads(path.read_text())["results"]
    materialized = raw["attention_bias.AttentionBiasNightCPU.track_wall_time_materialized"][0]
    causal = raw["attention_bias.AttentionBiasNightCPU.track_wall_time_causal_bias"][0]
    speedups = [m / c for m, c in zip(materialized, causal)]
    assert len(speedups) == 6 and all(s > 0 for s in speedups)

    report = summary_json("--results-dir", str(cpu_runs["results"]))
    assert (report["grid"], report["wall"]) == ("cpu", "night")
    assert report["commit_hash"] == commit  # the most recent run by default
    rows = by_type(report)
    assert rows["Average"]["Speedup"] == pytest.approx(sum(speedups) / 6, rel=1e-12)
    geomean = math.exp(sum(math.log(s) for s in speedups) / 6)
    assert rows["Geomean"]["Speedup"] == pytest.approx(geomean, rel=1e-12)
    assert rows["Max"]["Speedup"] == pytest.approx(max(speedups), rel=1e-12)
    assert rows["Min"]["Speedup"] == pytest.approx(min(speedups), rel=1e-12)
    assert report["not_measured"] == []


def test_real_cpu_run_pretty_table(cpu_runs):
    code, out, _ = summary("--results-dir", str(cpu_runs["results"]), "--commit", cpu_runs["commits"][0][:7])
    assert code == 0
    assert "CPU grid on ci-cpu, commit " + cpu_runs["commits"][0][:8] in out
    for word in ("Average", "Geomean", "Max", "Min", "q_seq_len", "k_seq_len", "head_dim"):
        assert word in out


def test_known_times_give_exact_summary(known_results):
    rows = by_type(summary_json("--results-dir", str(known_results)))
    assert rows["Average"]["Speedup"] == pytest.approx(1.875, rel=1e-12)
    assert rows["Geomean"]["Speedup"] == pytest.approx(math.sqrt(2), rel=1e-12)
    assert rows["Max"] | {"Speedup": None} == {
        "Type": "Max", "Speedup": None, "batch_size": 2, "num_heads": 4, "q_seq_len": 1,
        "k_seq_len": 48, "embed_dim": 64, "dtype": "float32", "head_dim": 16}
    assert rows["Max"]["Speedup"] == pytest.approx(4.0, rel=1e-12)
    assert rows["Min"]["Speedup"] == pytest.approx(0.5, rel=1e-12)
    assert (rows["Min"]["batch_size"], rows["Min"]["q_seq_len"]) == (2, 16)


def test_all_lists_every_config_with_spread(known_results):
    report = summary_json("--results-dir", str(known_results), "--all")
    assert [row["Speedup"] for row in report["rows"]] == pytest.approx([2, 1, 0.5, 4], rel=1e-12)
    first = report["rows"][0]
    assert first["materialized_us"] == pytest.approx(2.0, rel=1e-12)
    assert first["causal_bias_us"] == pytest.approx(1.0, rel=1e-12)
    # the night's visits 2.2, 2.0, 2.5, 2.1 us: the slowest less the fastest, which is the value
    assert first["materialized_spread_us"] == pytest.approx(0.5, rel=1e-9)
    assert first["causal_bias_spread_us"] is None  # no visits recorded


@pytest.mark.parametrize("output_format", ["pretty", "github", "csv"])
def test_text_formats(known_results, output_format):
    code, out, _ = summary("--results-dir", str(known_results), "--all", "--format", output_format)
    assert code == 0
    assert "materialized_us" in out and "causal_bias_us" in out


def test_failed_and_missing_configs_are_listed(tmp_path):
    results = tmp_path / "results"
    write_run(results, "box", "b" * 40, 1_000, {
        "track_wall_time_materialized": [1e-6, 2e-6, 3e-6, 4e-6],
        "track_wall_time_causal_bias": [1e-6, None, 3e-6, 2e-6],
    })
    report = summary_json("--results-dir", str(results))
    assert report["not_measured"] == ["causal_bias(1, 4, (1, 48), 64, 'float32'): failed"]
    assert by_type(report)["Average"]["Speedup"] == pytest.approx((1 + 1 + 2) / 3, rel=1e-12)
    code, out, _ = summary("--results-dir", str(results))
    assert code == 0
    assert "3 of 4 configs measured" in out
    assert "Not measured (1):\n  causal_bias(1, 4, (1, 48), 64, 'float32'): failed" in out


def test_most_recent_machine_and_run_are_the_defaults(tmp_path):
    results = tmp_path / "results"
    walls = {"track_wall_time_materialized": [1e-6] * 4, "track_wall_time_causal_bias": [1e-6] * 4}
    write_run(results, "old-box", "c" * 40, 1_000, walls)
    write_run(results, "new-box", "d" * 40, 2_000, walls)
    write_run(results, "new-box", "e" * 40, 3_000, walls)
    report = summary_json("--results-dir", str(results))
    assert (report["machine"], report["commit_hash"]) == ("new-box", "e" * 40)
    report = summary_json("--results-dir", str(results), "--machine", "new-box", "--commit", "ddd")
    assert report["commit_hash"] == "d" * 40


def assert_user_error(args: list[str], message: str) -> None:
    code, out, err = summary(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert message in err


def test_a_run_is_named_by_a_git_name_of_the_confs_repository_as_asv_takes_one(tmp_path):
    """`make bench` records at this suite's commits: HEAD, HEAD^ or a tag names its run, as in asv compare."""
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    results = tmp_path / "results"
    walls = {f"track_wall_time_{mask}": [1e-6] * 4 for mask in ("materialized", "causal_bias")}
    write_run(results, "box", "a" * 40, 1_000, walls)
    assert_user_error(["--results-dir", str(results), "--commit", "HEAD"],
                      f"no run of commit '{head}' on machine 'box'")
    write_run(results, "box", head, 2_000, walls)
    assert summary_json("--results-dir", str(results), "--commit", "HEAD")["commit_hash"] == head
    assert_user_error(["--results-dir", str(results), "--commit", "no-such-name"],
                      f"'no-such-name' is neither a commit hash (prefix) nor a commit of {REPO_ROOT}")


def test_bad_input_exits_2_with_one_line(tmp_path, known_results):
    assert_user_error(["--results-dir", str(tmp_path / "nowhere")], "no results directory at")
    (tmp_path / "a-file").write_text("")
    assert_user_error(["--results-dir", str(tmp_path / "a-file")], "a-file is a file, not a results directory")
    assert_user_error(["--results-dir", str(known_results), "--machine", "other"],
                      "unknown machine 'other'; available: box")
    assert_user_error(["--results-dir", str(known_results), "--commit", "fff"],
                      "no run of commit 'fff' on machine 'box'; recent: aaaaaaaa")
    assert_user_error(["--results-dir", str(known_results), "--grid", "gpu"], "has no gpu grid wall times")
    assert_user_error(["--results-dir", str(known_results), "--wall", "asv"],
                      "machine 'box' has no recorded runs of asv's time_* benchmarks in")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(["--results-dir", str(empty)], "no machine has results in")
    corrupt = next((known_results / "box").glob("aaaaaaaa-*.json"))
    corrupt.write_text(corrupt.read_text()[:100])
    assert_user_error(["--results-dir", str(known_results)], "corrupt results file")


def test_rows_follow_asvs_parameter_order(known_results):
    """Row i of --all is parameter set i of asv's params (itertools.product), with that set's values."""
    rows = summary_json("--results-dir", str(known_results), "--all")["rows"]
    expected = [(int(b), int(h), ast.literal_eval(seq), int(e))
                for b, h, seq, e, _ in itertools.product(*SMALL_PARAMS)]
    assert [(r["batch_size"], r["num_heads"], (r["q_seq_len"], r["k_seq_len"]), r["embed_dim"])
            for r in rows] == expected
    assert [r["materialized_us"] for r in rows] == pytest.approx(MATERIALIZED_US, rel=1e-12)


def test_the_wall_time_of_asvs_own_benchmarks_is_read_and_named(tmp_path):
    """A run with both wall times: the night's by default, asv's time_* with --wall asv; the header says which."""
    results = tmp_path / "results"
    write_run(results, "box", "a" * 40, 1_000, {
        "track_wall_time_materialized": [v * 1e-6 for v in MATERIALIZED_US],
        "track_wall_time_causal_bias": [v * 1e-6 for v in CAUSAL_US],
        "time_materialized": [v * 2e-6 for v in MATERIALIZED_US],
        "time_causal_bias": [v * 1e-6 for v in MATERIALIZED_US],  # speedup 2 everywhere
    })
    night = summary_json("--results-dir", str(results), "--all")
    assert night["wall"] == "night"
    assert [r["Speedup"] for r in night["rows"]] == pytest.approx([2, 1, 0.5, 4], rel=1e-12)
    timed = summary_json("--results-dir", str(results), "--all", "--wall", "asv")
    assert timed["wall"] == "asv"
    assert [r["Speedup"] for r in timed["rows"]] == pytest.approx([2, 2, 2, 2], rel=1e-12)
    assert [r["materialized_us"] for r in timed["rows"]] == pytest.approx([4, 8, 6, 16], rel=1e-12)
    code, out, _ = summary("--results-dir", str(results), "--wall", "asv")
    assert code == 0 and out.splitlines()[0].endswith("wall time of asv's time_* benchmarks (median of one "
                                                      "process's samples)")
    code, out, _ = summary("--results-dir", str(results))
    assert out.splitlines()[0].endswith("wall time of the night (the fastest of its visits, tools/record_run.py)")


def test_compare_view_gives_each_configs_change(tmp_path):
    results = tmp_path / "results"
    write_run(results, "box", "a" * 40, 1_000, {
        "track_wall_time_materialized": [v * 1e-6 for v in MATERIALIZED_US],
        "track_wall_time_causal_bias": [v * 1e-6 for v in CAUSAL_US],
    })
    write_run(results, "box", "b" * 40, 2_000, {
        "track_wall_time_materialized": [v * 1e-6 for v in MATERIALIZED_US],
        "track_wall_time_causal_bias": [v * 1e-6 for v in [2.0, 4.0, 6.0, 1.0]],  # speedups 1, 1, 0.5, 8
    })
    report = summary_json("--results-dir", str(results), "--compare", "aaaa")
    assert report["commit_hash"] == "b" * 40
    rows = report["rows"]
    assert [r["base_speedup"] for r in rows] == pytest.approx([2, 1, 0.5, 4], rel=1e-12)
    assert [r["speedup"] for r in rows] == pytest.approx([1, 1, 0.5, 8], rel=1e-12)
    assert [r["change"] for r in rows] == pytest.approx([-0.5, 0, 0, 1], abs=1e-12)
    code, out, _ = summary("--results-dir", str(results), "--compare", "aaaa", "--format", "github")
    assert code == 0 and "base_speedup" in out and "change" in out
    # A base with none of the chosen wall times (asv's time_* alone) is refused, not a blank column.
    write_run(results, "box", "c" * 40, 500, {"time_materialized": [v * 1e-6 for v in MATERIALIZED_US],
                                              "time_causal_bias": [v * 1e-6 for v in CAUSAL_US]})
    code, out, err = summary("--results-dir", str(results), "--compare", "cccc")
    assert (code, out) == (2, "")
    assert err == ("error: run cccccccc has no wall time of the night (the fastest of its visits, "
                   "tools/record_run.py) of the CPU grid to compare with (--wall names the other source)\n")


def test_real_cpu_run_night_figures(cpu_runs):
    """The CPU night: TFLOP/s from the wall time and the backend; GPU figures skipped, not failed."""
    commit = cpu_runs["commits"][-1]
    path = next((cpu_runs["results"] / "ci-cpu").glob(f"{commit[:8]}-*.json"))
    raw = json.loads(path.read_text())["results"]
    night = "attention_bias.AttentionBiasNightCPU."
    walls = raw[night + "track_wall_time_causal_bias"][0]
    flops = [forward_flops(AttentionConfig.from_params(*params, "cpu")) for params in itertools.product(*CPU_PARAMS)]
    report = summary_json("--results-dir", str(cpu_runs["results"]), "--figures")
    assert [row["causal_bias_TFLOPs"] for row in report["rows"]] == pytest.approx(
        [f / w / 1e12 for f, w in zip(flops, walls)], rel=1e-12)
    for row in report["rows"]:
        assert row["materialized_backend"] == row["causal_bias_backend"] == "flash"
        assert row["gpu_speedup"] is None and row["materialized_gpu_us"] is None
        assert row["causal_bias_peak_MiB"] is None and row["causal_bias_pct_of_peak"] is None
    for figure in ("gpu_time", "peak_memory", "kernels"):
        assert all(math.isnan(v) for v in raw[night + f"track_{figure}_materialized"][0])  # skipped
    all_rows = summary_json("--results-dir", str(cpu_runs["results"]), "--all")["rows"]
    assert {(r["backend_materialized"], r["backend_causal_bias"]) for r in all_rows} == {("flash", "flash")}


def test_known_figures_exact(tmp_path):
    results = tmp_path / "results"
    figures = {
        "track_gpu_time_materialized": [4e-6, 2e-6, 3e-6, 1e-6],
        "track_gpu_time_causal_bias": [2e-6, 2e-6, 6e-6, None],
        "track_peak_memory_materialized": [2.0**20] * 4,
        "track_sdpa_backend_materialized": [3.0] * 4,
        "track_sdpa_backend_causal_bias": [2.0] * 4,
    }
    write_run(results, "box", "a" * 40, 1_000, {
        "track_wall_time_materialized": [v * 1e-6 for v in MATERIALIZED_US],
        "track_wall_time_causal_bias": [v * 1e-6 for v in CAUSAL_US],
    }, figures=figures)
    rows = summary_json("--results-dir", str(results), "--figures")["rows"]
    assert [r["gpu_speedup"] for r in rows] == [2.0, 1.0, 0.5, None]
    assert [r["Speedup"] for r in rows] == [2.0, 1.0, 0.5, 4.0]
    assert rows[0]["materialized_gpu_us"] == pytest.approx(4.0, rel=1e-12)
    assert rows[0]["materialized_peak_MiB"] == 1.0 and rows[0]["causal_bias_pct_of_peak"] is None  # a CPU grid
    assert (rows[0]["materialized_backend"], rows[0]["causal_bias_backend"]) == ("cuDNN", "memory-efficient")
    code, _, err = summary("--results-dir", str(tmp_path / "results"), "--figures", "--all")
    assert code == 2 and "not allowed with" in err


def test_the_default_run_is_the_most_recent_of_either_source_the_nights_where_a_commit_has_both(tmp_path):
    """A hand asv run of a newer commit is the most recent run; its own commit's night, where it has one, is
    read before asv's file beside it (asv writes one file per commit and environment)."""
    results = tmp_path / "results"
    night = {f"track_wall_time_{mask}": [1e-6] * 4 for mask in ("materialized", "causal_bias")}
    timed = {f"time_{mask}": [1e-3] * 4 for mask in ("materialized", "causal_bias")}
    write_run(results, "box", "a" * 40, 1_000, night)
    write_run(results, "box", "b" * 40, 2_000, timed, env_name="virtualenv-py3")
    newest = summary_json("--results-dir", str(results))
    assert (newest["commit_hash"], newest["wall"]) == ("b" * 40, "asv")
    write_run(results, "box", "b" * 40, 2_000, night)
    both = summary_json("--results-dir", str(results))
    assert (both["commit_hash"], both["wall"]) == ("b" * 40, "night")
