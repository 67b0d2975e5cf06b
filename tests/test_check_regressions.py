"""tools/check_regressions.py: the nightly verdict on real CPU runs, generated histories and bad input."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import shutil
import sys
import types
from pathlib import Path

import pytest
from conftest import (
    KEPT_SUSPECT_WHY,
    TOOLS,
    contender_environment,
    gpu_time_cost,
    make_standin_repo,
    partial_why,
    process_costs,
    run_tool,
)
from lib import noise, remeasure, verdict
from lib.findings import Finding
from lib.nights import Night
from lib.results import report_findings
from lib.suite import schema
from results_factory import write_run

CONFIGS = ["1, 4, (16, 48), 64, 'float32'", "1, 4, (1, 48), 64, 'float32'",
           "2, 4, (16, 48), 64, 'float32'", "2, 4, (1, 48), 64, 'float32'"]  # SMALL_PARAMS, asv's order
COUNTS = {"aten_ops": 85.0, "kernels": 9.0, "syncs": 1.0, "python_calls": 6.0, "allocations": 11.0}


def check(*args: str):
    return run_tool("check_regressions.py", *args)


# ---------------------------------------------------------------- generated nights


def write_night(results: Path, index: int, wall: dict[tuple[int, str], float], gpu: dict[tuple[int, str], float],
                counts: dict[tuple[int, str, str], float] | None = None, versions: dict[str, str] | None = None) -> str:
    """Night ``index``: one value per config and mask (a night is one measuring process)."""
    commit = f"{index + 1:08x}" + "c" * 32
    walls = {f"track_wall_time_{mask}": [wall[(i, mask)] for i in range(4)] for mask in ("materialized", "causal_bias")}
    figures = {f"track_gpu_time_{mask}": [gpu[(i, mask)] for i in range(4)] for mask in ("materialized", "causal_bias")}
    for count, value in COUNTS.items():
        for mask in ("materialized", "causal_bias"):
            figures[f"track_{count}_{mask}"] = [(counts or {}).get((i, mask, count), value) for i in range(4)]
    write_run(results, "box", commit, 1_000_000 + index * 86_400_000, walls, figures=figures, versions=versions)
    return commit


def nightly_noise(rng: random.Random, night: int) -> tuple[dict, dict]:
    """Configs 0-1 launch-bound (bimodal host speed, slow drift), 2-3 GPU-bound (2% noise)."""
    wall, gpu = {}, {}
    for i in range(4):
        for mask in ("materialized", "causal_bias"):
            base_gpu = 40e-6 if i < 2 else 2e-3
            gpu[(i, mask)] = base_gpu * math.exp(rng.gauss(0, 0.01))
            if i < 2:  # the host: fast now and then, 1.6-2.0x slower most of the time, drifting
                speed = 1.0 if rng.random() < 0.3 else rng.uniform(1.6, 2.0)
                wall[(i, mask)] = 150e-6 * speed * (1 + 0.002 * night)
            else:
                wall[(i, mask)] = base_gpu * 1.05 * math.exp(rng.gauss(0, 0.02))
    return wall, gpu


def run_check(results: Path, *args: str) -> tuple[int, dict]:
    completed = check("--results-dir", str(results), "--record-verdict", "--format", "json", *args)
    assert completed.returncode in (0, 1), completed.stderr
    return completed.returncode, json.loads(completed.stdout)


def test_thirty_nights_of_bimodal_drifting_noise_raise_no_regression(tmp_path):
    rng = random.Random(11)
    results = tmp_path / "results"
    levels = []
    for night in range(36):
        write_night(results, night, *nightly_noise(rng, night))
        if night >= 6:  # 30 nights checked, each against the nights before it
            code, report = run_check(results)
            assert code == 0 and report["regressions"] == [], report["regressions"]
            levels.append(report["verdict"])
    assert len(levels) == 30, levels
    floors = {(row["config"], row["mask"]): row for row in report["floors"]}
    assert floors[(CONFIGS[0], "materialized")]["class"] == "launch-bound"
    assert floors[(CONFIGS[2], "materialized")]["class"] == "GPU-bound"
    # The bimodal host makes a one-night wall-time floor far above 10% on launch-bound configs,
    # while GPU-bound configs keep it near their 2% noise.
    assert floors[(CONFIGS[0], "materialized")]["wall_floor"] > 1.5
    assert floors[(CONFIGS[2], "materialized")]["wall_floor"] < 1.12


def failed_night(results: Path, index: int) -> str:
    """Night ``index`` whose every result failed, as record_run lands one (and exits 3)."""
    commit = f"{index + 1:08x}" + "c" * 32
    failed = {f"track_wall_time_{mask}": [None] * 4 for mask in ("materialized", "causal_bias")}
    write_run(results, "box", commit, 1_000_000 + index * 86_400_000, failed)
    return commit


@pytest.mark.parametrize("failed_between", [False, True])
def test_a_ten_percent_step_is_a_suspect_then_a_regression(tmp_path, failed_between):
    """Also where a night whose every result failed came between the two: the suspect's night is the last."""
    rng = random.Random(5)
    results = tmp_path / "results"
    for night in range(12):
        write_night(results, night, *nightly_noise(rng, night))
    for night in (12, 14 if failed_between else 13):
        if night == 14:
            failed_night(results, 13)
        wall, gpu = nightly_noise(rng, night)
        wall[(2, "causal_bias")] = 2e-3 * 1.05 * 1.10
        commit = write_night(results, night, wall, gpu)
        code, report = run_check(results)
        findings = report["regressions"] + report["suspects"]
        assert [(f["config"], f["mask"], f["signal"]) for f in findings] == [(CONFIGS[2], "causal_bias", "wall")]
        if night == 12:
            assert (code, report["verdict"]) == (0, "suspect")
            assert report["suspects"][0]["ratio"] == pytest.approx(1.10, rel=0.03)
        else:
            assert (code, report["verdict"]) == (1, "regression")
            assert report["regressions"][0]["why"].startswith("persisted")
            assert report["baseline"].startswith(f"{13:08x}")
            assert report["not_measured"] == ([f"set aside: the night of {14:08x} measured nothing (every result "
                                               "failed)"] if failed_between else [])
    assert (results / "box" / f"{commit}.verdict").is_file()


def test_a_grid_that_gained_configs_is_judged_on_the_configs_it_shares_and_names_the_new_ones(tmp_path):
    """asv rewrote benchmarks.json for a grid of more configs: the older nights are read by their own
    parameters, a count that changed on a shared config is a regression, the new configs are said."""
    rng = random.Random(5)
    results = tmp_path / "results"
    for night in range(5):
        wall, gpu = nightly_noise(rng, night)
        write_night(results, night, wall, gpu)
    params = [["1", "2"], ["4", "8"], ["(16, 48)", "(1, 48)"], ["64"], ["'float32'"]]
    labels = [", ".join(c) for c in itertools.product(*params)]
    old = {label: CONFIGS.index(label) for label in labels if label in CONFIGS}
    masks = ("materialized", "causal_bias")
    walls = {f"track_wall_time_{m}": [wall[(old[label], m)] if label in old else 1e-3 for label in labels]
             for m in masks}
    figures = {f"track_gpu_time_{m}": [gpu[(old[label], m)] if label in old else 4e-4 for label in labels]
               for m in masks}
    for count, value in COUNTS.items():
        for m in masks:
            figures[f"track_{count}_{m}"] = [value + (count == "aten_ops" and label == CONFIGS[2] and m == masks[0])
                                             for label in labels]
    write_run(results, "box", "99" * 20, 1_000_000 + 5 * 86_400_000, walls, params=params, figures=figures)
    completed = check("--results-dir", str(results), "--format", "json")
    assert completed.returncode == 1 and completed.stderr == "", completed.stderr
    report = json.loads(completed.stdout)
    assert report["nights"] == 5
    assert [(f["config"], f["mask"], f["signal"]) for f in report["regressions"]] == [
        (CONFIGS[2], "materialized", "aten_ops")]
    new = [label for label in labels if label not in CONFIGS]
    assert report["unjudged"] == [{"config": label, "mask": m, "signal": signal, "why": verdict.NEW_CONFIG}
                                  for label in sorted(new) for m in sorted(masks) for signal in verdict.SIGNALS]
    markdown = check("--results-dir", str(results)).stdout
    assert markdown.endswith("## Configs no night of the history measured, compared from tonight on (4)\n\n"
                             + "".join(f"- {label}\n" for label in sorted(new)))


def test_failed_nights_take_no_place_in_the_history_and_before_every_night_none_is_the_first(tmp_path):
    """A runner's first night failed, the second measured: that is the first night (exit 0, the report says so
    and names the one set aside). Nights that failed take no place among the --history nights the model learns
    from: the last three that measured are three."""
    rng = random.Random(5)
    results = tmp_path / "results"
    failed_night(results, 0)
    commit = write_night(results, 1, *nightly_noise(rng, 1))
    report = tmp_path / "report.md"
    first = check("--results-dir", str(results), "--report", str(report))
    assert first.returncode == 0, first.stdout + first.stderr
    set_aside = f"set aside: the night of {1:08x} measured nothing (every result failed)"
    assert (first.stdout, first.stderr) == (f"first night on 'box': no baseline to compare {commit[:8]} with yet\n",
                                            f"{set_aside}\n")
    assert report.read_text() == (f"# first night on 'box': no baseline to compare {commit[:8]} with yet\n\n"
                                  f"- {set_aside}\n")
    for night in range(2, 4):
        write_night(results, night, *nightly_noise(rng, night))
    for night in range(4, 7):
        failed_night(results, night)
    write_night(results, 7, *nightly_noise(rng, 7))
    code, judged = run_check(results, "--history", "3")
    assert (code, judged["nights"], judged["baseline"][:8]) == (0, 3, f"{4:08x}")
    assert judged["not_measured"] == [f"set aside: the night of {night + 1:08x} measured nothing (every result "
                                      "failed)" for night in range(4, 7)]


def test_a_night_that_measured_nothing_after_one_that_failed_is_still_a_broken_night(tmp_path):
    """Two nights in a row whose every result failed: the second is judged against the last night that measured,
    a broken night (exit 3), never a clean one."""
    rng = random.Random(5)
    results = tmp_path / "results"
    for night in range(3):
        last = write_night(results, night, *nightly_noise(rng, night))
    failed_night(results, 3)
    tonight = failed_night(results, 4)
    completed = check("--results-dir", str(results))
    assert completed.returncode == 3, completed.stdout + completed.stderr
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        f"set aside: the night of {4:08x} measured nothing (every result failed)",
        f"failed: NightNotMeasured: tonight ({tonight[:8]}) measured no result of the CPU grid, which the last "
        f"night ({last[:8]}) measured: a broken night, not judged (a fault of the tool or the machine, not a finding; "
        "ATTENTION_BIAS_TRACEBACK=1 shows where)"]


def test_a_changed_count_is_a_regression_at_once_with_its_names(tmp_path):
    rng = random.Random(3)
    results = tmp_path / "results"
    for night in range(3):
        commit = write_night(results, night, *nightly_noise(rng, night))
    names = {CONFIGS[1]: {"causal_bias": {"operators": {"aten::mm": 4}, "kernels": {"gemm": 4}}}}
    (results / "box" / f"{commit}.dispatch").write_text(json.dumps(names))
    wall, gpu = nightly_noise(rng, 3)
    commit = write_night(results, 3, wall, gpu, counts={(1, "causal_bias", "aten_ops"): 86.0})
    names[CONFIGS[1]]["causal_bias"]["operators"]["aten::alias"] = 1
    (results / "box" / f"{commit}.dispatch").write_text(json.dumps(names))
    code, report = run_check(results)
    assert code == 1
    assert [(f["config"], f["mask"], f["signal"], f["reference"], f["contender"])
            for f in report["regressions"]] == [(CONFIGS[1], "causal_bias", "aten_ops", 85.0, 86.0)]
    assert report["name_changes"] == [{"config": CONFIGS[1], "mask": "causal_bias", "change": "+aten::alias x1"}]
    markdown = check("--results-dir", str(results)).stdout
    assert f"- {CONFIGS[1]} causal_bias: +aten::alias x1" in markdown
    # The names only explain the count: a names file of another shape loses the explanation, never the finding.
    names[CONFIGS[1]]["causal_bias"]["operators"] = ["aten::mm", "aten::alias"]
    (results / "box" / f"{commit}.dispatch").write_text(json.dumps(names))
    code, report = run_check(results)
    assert code == 1 and len(report["regressions"]) == 1
    assert report["name_changes"] == [{"config": CONFIGS[1], "mask": "causal_bias", "change": (
        f"names not read: corrupt names file {results / 'box' / f'{commit}.dispatch'}: not {{config: {{mask: "
        "{kind: {name: count}}}}")}]


def test_a_forward_that_starts_syncing_is_a_regression_not_a_broken_tool(tmp_path):
    """A count that rises from zero has no ratio: the check reports it (exit 1), its JSON strict (null, not
    Infinity), and does not fail dividing by the zero (exit 3)."""
    rng = random.Random(3)
    results = tmp_path / "results"
    no_syncs = {(i, mask, "syncs"): 0.0 for i in range(4) for mask in ("materialized", "causal_bias")}
    for night in range(3):
        write_night(results, night, *nightly_noise(rng, night), counts=no_syncs)
    write_night(results, 3, *nightly_noise(rng, 3), counts={**no_syncs, (1, "causal_bias", "syncs"): 1.0})
    completed = check("--results-dir", str(results), "--format", "json")
    assert completed.returncode == 1, completed.stderr
    report = json.loads(completed.stdout, parse_constant=lambda name: pytest.fail(f"not JSON: {name}"))
    assert [(f["config"], f["mask"], f["signal"], f["reference"], f["contender"], f["ratio"], f["why"])
            for f in report["regressions"]] == [(CONFIGS[1], "causal_bias", "syncs", 0.0, 1.0, None,
                                                 "exact count changed")]
    assert (f"| {CONFIGS[1]} | causal_bias | syncs    | launch-bound | 0           | 1         | inf     |"
            in check("--results-dir", str(results)).stdout)


def nights_with_one_regression(results: Path) -> None:
    """Three nights, then a fourth whose one count rose: exit 1."""
    rng = random.Random(3)
    for night in range(4):
        write_night(results, night, *nightly_noise(rng, night),
                    counts={(1, "causal_bias", "kernels"): 9.0 + (night == 3)})


def test_asv_runs_beside_the_nights_of_their_commits_change_no_verdict(tmp_path):
    """A hand asv run (asv's time_* only, another environment) of the last two nights' commits lands beside
    their nights: the check reads the nights, never a file without one as a failed night."""
    results = tmp_path / "results"
    nights_with_one_regression(results)
    before = json.loads(check("--results-dir", str(results), "--format", "json").stdout)
    for night in (2, 3):
        write_run(results, "box", f"{night + 1:08x}" + "c" * 32, 1_000_000 + night * 86_400_000,
                  {f"time_{mask}": [1e-3] * 4 for mask in ("materialized", "causal_bias")}, env_name="virtualenv-py3")
    completed = check("--results-dir", str(results), "--format", "json")
    assert (completed.returncode, completed.stderr) == (1, ""), completed.stderr
    assert json.loads(completed.stdout) == before
    summary = run_tool("speedup_summary.py", "--results-dir", str(results), "--format", "json")
    assert json.loads(summary.stdout)["wall"] == "night"
    timed = run_tool("speedup_summary.py", "--results-dir", str(results), "--format", "json", "--wall", "asv")
    timed_report = json.loads(timed.stdout)
    assert (timed_report["wall"], timed_report["commit_hash"]) == ("asv", f"{4:08x}" + "c" * 32)


def test_two_nights_of_one_commit_are_one_night_the_newer(tmp_path):
    """A commit recorded again with another Python: asv writes a second file; the history counts the commit once,
    by its newer night."""
    results = tmp_path / "results"
    nights_with_one_regression(results)
    rng = random.Random(9)
    wall, gpu = nightly_noise(rng, 1)
    commit = f"{2:08x}" + "c" * 32
    walls = {f"track_wall_time_{m}": [wall[(i, m)] for i in range(4)] for m in ("materialized", "causal_bias")}
    figures = {f"track_gpu_time_{m}": [gpu[(i, m)] for i in range(4)] for m in ("materialized", "causal_bias")}
    figures |= {f"track_{count}_{m}": [value] * 4 for count, value in COUNTS.items() for m in ("materialized",
                                                                                              "causal_bias")}
    write_run(results, "box", commit, 1_000_000 + 86_400_000, walls, figures=figures, env_name="other-py")
    completed = check("--results-dir", str(results), "--format", "json")
    assert (completed.returncode, completed.stderr) == (1, ""), completed.stderr
    assert json.loads(completed.stdout)["nights"] == 3


def test_a_report_path_that_is_a_folder_is_refused_before_any_night_is_read(tmp_path):
    results = tmp_path / "results"
    nights_with_one_regression(results)
    completed = check("--results-dir", str(results), "--report", str(tmp_path))
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr == f"error: cannot write {tmp_path}: it is a folder\n"



def test_a_report_path_among_the_results_is_refused_and_no_night_is_replaced(tmp_path):
    """A report named like a night's file (a typo, a glob) would replace its results with markdown."""
    results = tmp_path / "results"
    nights_with_one_regression(results)
    night = sorted((results / "box").glob("*.json"))[-1]
    before = night.read_bytes()
    completed = check("--results-dir", str(results), "--report", str(night))
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr == f"error: cannot write {night}: it is inside the results folder {results}\n"
    assert night.read_bytes() == before


def test_a_report_path_that_is_a_link_is_refused_never_replaced(tmp_path):
    """The report is replaced whole (a reader never sees half of it): a link there would be lost, its target
    left as it was; a device (/dev/stdout) would become a file."""
    results = tmp_path / "results"
    nights_with_one_regression(results)
    target = tmp_path / "kept.md"
    target.write_text("kept\n")
    (tmp_path / "report.md").symlink_to(target)
    completed = check("--results-dir", str(results), "--report", str(tmp_path / "report.md"))
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr == f"error: cannot write {tmp_path / 'report.md'}: it is a link or a device, not a file\n"
    assert (tmp_path / "report.md").is_symlink() and target.read_text() == "kept\n"

def test_a_count_suspect_kept_with_record_verdict_is_a_regression_when_it_stays_up(tmp_path):
    rng = random.Random(3)
    results = tmp_path / "results"
    for night, ops in enumerate((85.0, 86.0, 85.0, 87.0, 87.0)):
        write_night(results, night, *nightly_noise(rng, night), counts={(1, "causal_bias", "aten_ops"): ops})
        if night >= 3:
            code, report = run_check(results)
            counted = [(f["level"], f["reference"], f["contender"], f["why"]) for f in report_findings(report)
                       if f["signal"] == "aten_ops"]
            assert (code, counted) == ((0, [("suspect", 85.0, 87.0, verdict.COUNT_MOVED)])
                                       if night == 3 else
                                       (1, [("regression", 85.0, 87.0,
                                             "persisted: a suspect last night, still as high tonight")]))


def a_gpu_time_half_as_long_again(results: Path, counts: dict | None = None, versions: dict | None = None) -> str:
    """Three nights of noise, then a fourth whose config 2 causal_bias GPU time is 1.5x: its commit."""
    rng = random.Random(3)
    for night in range(3):
        write_night(results, night, *nightly_noise(rng, night))
    wall, gpu = nightly_noise(rng, 3)
    gpu[(2, "causal_bias")] *= 1.5
    return write_night(results, 3, wall, gpu, counts=counts, versions=versions)


def test_a_benchmark_of_a_new_version_is_not_compared_with_the_history_as_in_asv_compare(tmp_path):
    """The suite bumps a benchmark's version where what its result means changed: tonight's count and GPU time
    of that benchmark are not compared with the history's (asv compare greys such a pair), and the report names
    it; the same change without the bump is a regression, and the other benchmarks are judged as ever."""
    results = tmp_path / "results"
    counts = {(1, "causal_bias", "aten_ops"): 86.0, (3, "materialized", "aten_ops"): 86.0}
    bumped = {"track_aten_ops_causal_bias": "2", "track_gpu_time_causal_bias": "2"}
    a_gpu_time_half_as_long_again(results, counts, bumped)
    code, report = run_check(results)
    assert code == 1
    # the materialized mask's count keeps version 1: still a regression; the bumped ones are not compared
    assert [(f["config"], f["mask"], f["signal"]) for f in report["regressions"]] == [
        (CONFIGS[3], "materialized", "aten_ops")]
    assert not [f for f in report["suspects"] + report["noise"] if f["mask"] == "causal_bias"]
    assert report["new_series"] == [schema.benchmark_name("AttentionBiasNightCPU", method) for method in sorted(bumped)]
    assert report["unjudged"] == [{"config": config, "mask": "causal_bias", "signal": signal,
                                   "why": "a new version of its benchmark"}
                                  for config in sorted(CONFIGS) for signal in ("gpu", "aten_ops")]
    markdown = check("--results-dir", str(results)).stdout
    assert "## Benchmarks of a new version, compared from tonight on (2)" in markdown
    assert "- `attention_bias.AttentionBiasNightCPU.track_gpu_time_causal_bias`" in markdown


def test_without_the_version_bump_the_same_night_is_judged_against_the_history(tmp_path):
    results = tmp_path / "results"
    a_gpu_time_half_as_long_again(results, {(1, "causal_bias", "aten_ops"): 86.0})
    code, report = run_check(results)
    assert code == 1 and report["new_series"] == []
    assert (CONFIGS[1], "causal_bias", "aten_ops") in {(f["config"], f["mask"], f["signal"])
                                                        for f in report["regressions"]}
    assert (CONFIGS[2], "causal_bias", "gpu") in {(f["config"], f["mask"], f["signal"])
                                                  for f in report["regressions"] + report["suspects"]}


def test_a_gpu_time_measured_in_part_is_listed_and_never_judged(tmp_path):
    """A later GPU pass failed: the figure of the one build left reads 1.5x. Listed as measured in part, never a
    regression; the same night without the mark is one."""
    results = tmp_path / "results"
    commit = a_gpu_time_half_as_long_again(results)
    code, report = run_check(results)
    assert code == 1 and (CONFIGS[2], "causal_bias", "gpu") in {
        (f["config"], f["mask"], f["signal"]) for f in report["regressions"] + report["suspects"]}
    (results / "box" / f"{commit}{schema.NIGHT_SUFFIX}").write_text(json.dumps(
        {schema.NIGHT_IN_PART: {CONFIGS[2]: {"causal_bias": {schema.GPU: ["GPU pass 1: building failed: OOM"]}}}}))
    code, report = run_check(results)
    assert code == 0 and report["regressions"] == report["suspects"] == []
    assert report["not_measured"] == [f"contender AttentionBiasNightCPU.track_gpu_time_causal_bias({CONFIGS[2]}): "
                                      "measured in part, not judged: GPU pass 1: building failed: OOM"]
    assert report["unjudged"] == [{"config": CONFIGS[2], "mask": "causal_bias", "signal": "gpu",
                                   "why": "measured in part: GPU pass 1: building failed: OOM"}]


# ---------------------------------------------------------------- real runs


def test_real_nights_of_the_same_torch_flag_nothing_re_measured_as_make_aa_does(cpu_runs, tmp_path):
    """Three real CPU nights of one torch, each checked against the nights before it as `make aa` does:
    --record-verdict, and every candidate re-measured with the same Python on both sides, where one
    confirmed would be a wall-time regression. No count moves, nothing is confirmed."""
    results = tmp_path / "results"
    shutil.copytree(cpu_runs["results"], results)
    for contender in cpu_runs["commits"][1:]:
        completed = check("--results-dir", str(results), "--contender", contender, "--record-verdict",
                          "--baseline-python", sys.executable, "--contender-python", sys.executable,
                          "--format", "json")
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
        report = json.loads(completed.stdout)
        assert report["contender"] == contender and report["regressions"] == [] and report["not_measured"] == []
        assert [f for f in report["suspects"] + report["noise"] if f["signal"] not in ("wall", "gpu")] == []
        # Every wall-time change beyond the factor over its class's move, and the class's move itself where
        # it passed the factor, went to the re-measurement (or was left out for its budget).
        for finding in report["suspects"] + report["noise"]:
            if finding["persisting"]:  # kept last night with no bar: re-measured against last night's build
                assert finding["level"] == "suspect" and re.fullmatch(
                    KEPT_SUSPECT_WHY + r"; (re-measured against last night's build: (refuted|undecided)"
                    r"|not re-measured: beyond .*)", finding["why"]), finding
            elif finding["partial"]:  # the factor over its class's lower quartile, where part of the class moved
                assert re.fullmatch(partial_why(finding["move"]) + r"; (re-measured: .*|not re-measured: beyond .*)",
                                    finding["why"]), finding
            elif finding["stood_for"]:  # a stand-in of its class's move, re-measured graver than the class's call
                assert stood_apart(finding, report), finding
                continue
            else:
                assert finding["why"].startswith(("re-measured: ", "not re-measured: beyond",
                                                  "the unknown results moved ")), finding
            # A class's move is re-measured on its results nearest it: one of them can sit under the factor.
            assert finding["relative"] >= 1.05 or finding["common"], finding
            assert finding["common"] == 0 or finding["why"].startswith("the unknown results moved ")
        if report["suspects"] or report["noise"]:
            assert report["confirmation"]["keys"] >= 1 and "error" not in report["confirmation"]


def stood_apart(finding: dict, report: dict) -> bool:
    """Whether a stand-in listed apart names its class's finding in the report and says its own outcome: a
    suspect beside a class called noise, since nothing of an A/A is a regression."""
    carrier = [f for f in report["suspects"] + report["noise"] if f["common"]
               and {"config": f["config"], "mask": f["mask"]} == finding["stood_for"]]
    return (len(carrier) == 1 and carrier[0]["level"] == "noise" and finding["level"] == "suspect"
            and finding["common"] == 0 and finding["why"] == (
                f"{verdict.STOOD_FOR_CLASS} (the class's finding: {carrier[0]['config']} {carrier[0]['mask']}, "
                "noise); re-measured: undecided"))


def test_a_python_whose_torch_is_not_its_nights_is_never_re_measured_for_it(cpu_runs, tmp_path):
    """The nightly's baseline Python is last night's torch, kept on the runner: after a night that failed, or a
    job run twice, it holds another torch than the baseline night's (or tonight's). Its processes would compare
    other builds than the nights: nothing is re-measured, each candidate stays a suspect that says why."""
    results = tmp_path / "results"
    shutil.copytree(cpu_runs["results"], results)
    baseline, contender = cpu_runs["commits"][1:3]
    night = results / cpu_runs["machine"] / f"{baseline}.night"
    record = json.loads(night.read_text())
    import torch

    assert record[schema.NIGHT_TORCH] == torch.version.git_version  # the night says which torch measured it
    night.write_text(json.dumps({**record, schema.NIGHT_TORCH: "0123456789ab" * 3 + "0123"}))
    completed = check("--results-dir", str(results), "--contender", contender, "--baseline-python", sys.executable,
                      "--contender-python", sys.executable, "--format", "json", "--factor", "1.0001")
    # Refused, not broken: the state a failed night leaves the runner in, exit 0 with the suspects kept.
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(completed.stdout)
    why = (f"re-measurement failed: the baseline Python ({sys.executable}) has torch git "
           f"{torch.version.git_version[:12]}, not the 0123456789ab its night measured with")
    assert report["confirmation"]["error"] == why.removeprefix("re-measurement failed: ")
    assert report["confirmation"]["refused"] is True
    assert report["confirmation"]["keys"] == 0 and report["confirmation"]["unmeasured"] >= 1
    assert report["suspects"] and all(why in f["why"] for f in report["suspects"]), report["suspects"]


@pytest.mark.parametrize("regression, confirmation, code", [
    (False, None, 0),  # nothing re-measured
    (False, {"keys": 3}, 0),
    (True, {"error": "the baseline worker (b) stopped answering", "refused": False, "unmeasured": 2}, 1),
    (False, {"error": "the baseline worker (b) stopped answering", "refused": False, "unmeasured": 2}, 3),
    (False, {"error": "the baseline worker (b) stopped answering", "refused": False, "unmeasured": 0}, 0),
    # Only GPU times short of the factor were left: no suspect, but a broken baseline stays broken every night.
    (False, {"error": "the baseline worker (b) stopped answering", "refused": False, "unmeasured": 0,
             "short_left_out": [["c", "materialized", "dropped"], ["c", "causal_bias", "failed"]]}, 3),
    (False, {"error": "the baseline worker (b) stopped answering", "refused": False, "unmeasured": 0,
             "short_left_out": [["c", "materialized", "dropped"]]}, 0),
    (False, {"error": "the baseline Python (p) has torch git 0123", "refused": True, "unmeasured": 0,
             "short_left_out": [["c", "causal_bias", "failed"]]}, 0),
    (False, {"error": "the baseline Python (p) has torch git 0123", "refused": True, "unmeasured": 2}, 0),
])
def test_the_checks_exit_code_a_worker_that_broke_is_3_where_it_left_suspects(regression, confirmation, code):
    """A regression is 1 whatever else; a broken worker that left candidates undecided is a broken check; one that
    left none (they were decided before it broke) or a side refused for its torch is not."""
    sys.path.insert(0, str(TOOLS))
    import check_regressions

    found = types.SimpleNamespace(level=lambda level: ["a finding"] if regression and level == "regression" else [],
                                  remeasurement=confirmation)
    assert check_regressions.exit_code(found) == code


def record_injected_night(cpu_runs: dict, results: Path, tmp_path: Path, slowdowns: list[dict]) -> Path:
    """A real CPU night after the CPU runs' three, in a contender environment with ``slowdowns`` installed
    (tools/inject.py): the contender's Python."""
    repo = tmp_path / "repo"
    (commit,) = make_standin_repo(repo, ["injected"])
    (tmp_path / "spec.json").write_text(json.dumps({"slowdowns": slowdowns}))
    python = contender_environment(tmp_path / "contender")
    installed = run_tool("inject.py", "install", "--python", str(python), "--spec", str(tmp_path / "spec.json"))
    assert installed.returncode == 0, installed.stderr
    recorded = run_tool("record_run.py", "--grid", "cpu", "--python", str(python), "--repo", str(repo),
                        "--commit", commit, "--results-dir", str(results), "--machine", cpu_runs["machine"],
                        env=cpu_runs["env"])
    assert recorded.returncode == 0, recorded.stdout[-2000:] + recorded.stderr[-2000:]
    return python


def test_a_real_step_on_a_config_last_nights_noise_listed_is_re_measured_against_last_nights_build(cpu_runs,
                                                                                                     tmp_path):
    """Last night's check kept a suspect before the history had a spread (bar inf); tonight that config is 4x
    slower for real. Judged against the nights before the suspect's, it persists; both sides re-measure it,
    against last night's build, and it is never refuted away: a regression where confirmed, else listed."""
    results = tmp_path / "results"
    shutil.copytree(cpu_runs["results"], results)
    slow = ("4, 4, (32, 32), 64, 'float32'", "materialized")
    last_night = results / cpu_runs["machine"] / f"{cpu_runs['commits'][-1]}{schema.VERDICT_SUFFIX}"
    last_night.write_text(json.dumps({"contender": cpu_runs["commits"][-1], "suspects": [
        {"grid": "cpu", "config": slow[0], "mask": slow[1], "signal": "wall", "bar": math.inf}]}))
    python = record_injected_night(cpu_runs, results, tmp_path, [{"config": slow[0], "mask": slow[1],
                                                                  "cpu_us": 300.0}])
    completed = check("--results-dir", str(results), "--baseline-python", sys.executable,
                      "--contender-python", str(python), "--format", "json", "--seed", "1")
    assert completed.returncode in (0, 1), completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    (found,) = [f for f in report_findings(report) if (f["config"], f["mask"], f["signal"]) == (*slow, "wall")]
    # 4x by 300 us a call on a call of about 0.1 ms: its processes on both sides never overlap, and the
    # budget never cuts a side below 9 (10 a side confirm at complete separation).
    assert slow in {(v["config"], v["mask"]) for v in report["confirmation"]["values"]}, report["confirmation"]
    assert (found["level"], found["persisting"], found["confirmation"]["outcome"]) == ("regression", True,
                                                                                     "confirmed"), found
    assert found["why"].startswith("a suspect last night too, still ") and found["why"].endswith(
        verdict.PERSISTING_CONFIRMED), found


def test_real_remeasurement_finds_the_injected_slowdowns_and_nothing_else(cpu_runs, tmp_path):
    """A real night with an extra operator on one config and 4x host time on another, re-measured."""
    results = tmp_path / "results"
    shutil.copytree(cpu_runs["results"], results)
    python = record_injected_night(cpu_runs, results, tmp_path, [
        {"config": CONFIGS[0], "mask": "causal_bias", "extra_ops": 1},
        {"config": "4, 4, (32, 32), 64, 'float32'", "mask": "materialized", "cpu_us": 300.0}])
    completed = check("--results-dir", str(results), "--baseline-python", sys.executable,
                      "--contender-python", str(python), "--format", "json", "--seed", "1")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    assert report["confirmation"]["seed"] == 1  # a check is repeated from its report
    operators, host = (CONFIGS[0], "causal_bias"), ("4, 4, (32, 32), 64, 'float32'", "materialized")
    found = {(f["config"], f["mask"], f["signal"]): f for f in report["regressions"]}
    # The extra operator: an exact count, a regression whatever the machine's pace.
    assert found[(*operators, "aten_ops")]["contender"] - found[(*operators, "aten_ops")]["reference"] == 1
    assert report["name_changes"][0]["change"].startswith("+aten::alias x1")
    # Nothing else: no result of the same torch is confirmed slower, however many processes it got.
    assert {(c, m) for c, m, _ in found} <= {operators, host}, [
        (f["config"], f["mask"], f["signal"], f["ratio"], f["why"], f["confirmation"]) for f in report["regressions"]]
    # The 4x host time: what the re-measurement could say depends on the processes the budget gave it and
    # on how the machine's load fell on them, both of which the report states: a key left out for the
    # budget is not re-measured; a re-measured one is decided by the rule over the values reported
    # (10 a side can confirm, p = 1.1e-5 at complete separation; 8 cannot, p = 1.6e-4, and the budget
    # never cuts a side below 9). Never refuted.
    summary = report["confirmation"]
    # The short candidates' allowance: its share of the night, as the budget is its share.
    assert summary["short_budget"] == pytest.approx(summary["budget"] * 0.2 / 0.5, rel=1e-12)
    measured = {(v["config"], v["mask"]): v for v in summary["values"]}
    # 10 processes a side; a key set aside as refuted at a look has 6 or 8, one still undecided at the last
    # look 2-20 more (two a side a block: what the budget left held, 4 at least planned).
    per_side = {key: {len(v[side]["wall"]) for side in ("baseline", "contender")} for key, v in measured.items()}
    assert all(len(counts) == 1 for counts in per_side.values()), per_side
    early = [key for key, (count,) in per_side.items() if count in (6, 8)]
    extended = [key for key, (count,) in per_side.items() if count in range(12, 31, 2)]
    assert len(early) + len(extended) + sum(counts == {10} for counts in per_side.values()) == len(per_side), per_side
    assert (len(early), len(extended)) == (summary["refuted_early"], summary["extended"])
    # Each key refuted at a look is a noise finding, or one of a class's move's results nearest it, named in its why.
    noise_keys = {(f["config"], f["mask"]) for f in report["noise"]}
    stand_ins = " ".join(f["why"] for f in report["suspects"] + report["noise"] + report["regressions"] if f["common"])
    assert all(key in noise_keys or f"({' '.join(key)})" in stand_ins for key in early), (early, noise_keys, stand_ins)
    (slow,) = [f for f in report["regressions"] + report["suspects"] + report["noise"]
               if (f["config"], f["mask"], f["signal"]) == (*host, "wall")]
    if host not in measured:
        assert (slow["level"], slow["why"]) == ("suspect", f"not re-measured: beyond the re-measurement's "
                                                           f"budget of {summary['budget']:.0f} s")
    else:  # "one night beyond the noise, " before it where the three nights alone could call it
        # Less the wall times of processes in a burst of the host's slowness, which the report names.
        left_out = measured[host].get("disturbed", {})
        decision = noise.decide(*([value for index, value in enumerate(measured[host][side]["wall"])
                                   if index not in left_out.get(side, [])] for side in ("baseline", "contender")),
                                1.05)
        assert decision.outcome != "refuted", decision
        level = {"confirmed": "regression", "undecided": "suspect"}[decision.outcome]
        assert slow["level"] == level and slow["why"].endswith(f"re-measured: {decision.outcome}"), slow
        assert slow["confirmation"]["p_change"] == decision.p_change
    # The calibration's tally of the same report: each slowdown by the signal it targets, nothing else called.
    (tmp_path / "check.json").write_text(completed.stdout)
    scored = run_tool("inject.py", "score", "--spec", str(tmp_path / "spec.json"),
                      "--check", str(tmp_path / "check.json"))
    assert scored.returncode == 0, scored.stderr
    tally = scored.stdout.splitlines()[-4:]
    remeasured = host in measured
    landed = remeasured and slow["confirmation"]["ratio"] >= 1.05
    regression = int(slow["level"] == "regression")
    assert tally[:3] == ["aten_ops: 1 of 1 injected a regression; 0 re-measured, 0 of them slower by the factor "
                         "(1.05) or more, 0 of those a regression",
                         f"wall: {regression} of 1 injected a regression; {int(remeasured)} re-measured, "
                         f"{int(landed)} of them slower by the factor (1.05) or more, "
                         f"{int(landed and bool(regression))} of those a regression",
                         f"any signal: {1 + regression} of 2 injected results a regression"]
    assert tally[3].startswith("not injected: 0 regression(s), "), tally


def test_a_real_re_measurement_past_its_budget_keeps_its_strongest_key_for_the_processes_that_can_confirm():
    """A budget spent before the first process: after the first block the plan keeps its strongest key
    alone, whose 10 processes a side run (8 could never confirm), and stops at the first block of four
    from 9 a side on (not the 11 asked for). The keys dropped keep no values."""
    keys = [(config, "causal_bias") for config in CONFIGS[:3]]
    plan = {key: schema.WorkerKey(*key, ("wall",), 1) for key in keys}
    with remeasure.Workers({"baseline": sys.executable, "contender": sys.executable}) as workers:
        measured = remeasure.remeasure(plan, workers, "cpu", 11, 0, budget_seconds=1e-6)
    assert (measured.processes, list(measured.values), measured.dropped) == (20, keys[:1], tuple(keys[1:]))
    assert [len(measured.side(keys[0], "wall", side)) for side in remeasure.SIDES] == [10, 10]


# ---------------------------------------------------------------- the decision rule, exact


def test_decision_rule_exact_values():
    baseline = [100.0 + i for i in range(10)]
    slower = [v * 1.2 for v in baseline]
    decision = noise.decide(baseline, slower, 1.05)
    assert decision.outcome == "confirmed"
    assert decision.ratio == pytest.approx(1.2)
    assert decision.p_change == pytest.approx(2 / 184756)  # complete separation, 10 a side, two-sided
    same = noise.decide(baseline, list(baseline), 1.05)
    assert same.outcome == "refuted" and same.ratio == 1.0
    noisy = [100, 190, 105, 180, 110, 170, 101, 185, 99, 175]
    assert noise.decide(noisy, [v * 1.1 for v in noisy], 1.05).outcome == "undecided"
    # 3 of the 100 cross-side pairs out of order still confirm (p = 7.6e-5); 4 do not (p = 1.3e-4).
    for out_of_order, outcome in ((3, "confirmed"), (4, "undecided")):
        contender = [120.0 + i for i in range(10)]
        contender[0] = 109.5 - out_of_order  # below that many baseline processes
        assert noise.decide(baseline, contender, 1.05).outcome == outcome


def test_candidates_beyond_the_budget_are_left_out_weakest_evidence_first():
    """Every chosen key costs each of the 20 processes; what does not fit stays a suspect, weakest first."""
    def finding(config: str, signal: str, klass: str, ratio: float, one_night: bool = False):
        return Finding(level="suspect", key=("gpu", config, "causal_bias"), signal=signal, reference=1.0,
                       contender=ratio, klass=klass, floor=math.inf, why="candidate", one_night=one_night)

    candidates = [
        finding("a", "wall", "launch-bound", 1.30),  # log 1.30 / log 1.15 = 1.88 spreads
        finding("b", "gpu", "GPU-bound", 1.10),  # log 1.10 / log 1.03 = 3.22
        finding("c", "wall", "launch-bound", 2.00),  # 4.96
        finding("d", "wall", "GPU-bound", 1.06, one_night=True),  # a one-night call comes first
    ]
    night = Night(None, {("gpu", c, "causal_bias"): {"wall": 0.01, "gpu": 0.005} for c in "abcd"})
    # Per process its own cost; per new key its build; per wall time a visit and its calls of 0.01 s; the GPU
    # time's calls and its rest (5 ms is heavy); and, one process in two, the wait for the next children's
    # start that 3 keys' first calls shorten; the other rests the GPU (the one that waits has rested within
    # its wait).
    visit = remeasure.VISIT_SECONDS + remeasure.WALL_CALLS * 0.01
    wait = remeasure.CHILD_START_SECONDS["cuda"] - remeasure.PROCESS_SECONDS["cuda"] - 3 * remeasure.KEY_SECONDS["cuda"]
    process = (remeasure.PROCESS_SECONDS["cuda"] + 3 * remeasure.KEY_SECONDS["cuda"] + 2 * visit
               + gpu_time_cost(0.005) + schema.HEAVY_GPU_REST_SECONDS
               + (wait + (schema.CHILDREN_STARTED_TOGETHER - 1) * schema.GPU_REST_SECONDS)
               / schema.CHILDREN_STARTED_TOGETHER)
    budget = remeasure.workers_seconds("cuda", True) + 20 * process + 0.01  # the workers' start, then 20 processes
    keys, left_out, seconds = remeasure.fitted_plan(candidates, night, 10, "cuda", budget)
    assert list(keys) == [("d", "causal_bias"), ("c", "causal_bias"), ("b", "causal_bias")]
    # calls of 10 ms: one visit a process
    assert keys[("b", "causal_bias")] == schema.WorkerKey("b", "causal_bias", ("gpu",), 1,
                                                          schema.HEAVY_GPU_REST_SECONDS)
    assert [f.key[1] for f in left_out] == ["a"]
    assert seconds == pytest.approx(process)


def test_the_historys_spread_ranks_candidates_once_it_has_one():
    """With floors from the history, a +28% launch-bound slowdown on a host of 7.7% spread (floor 1.25)
    outranks a GPU time 7% up on a GPU of 3.3% spread (floor 1.103): 3.3 spreads against 2.1."""
    host = Finding(level="suspect", key=("gpu", "a", "materialized"), signal="wall", reference=1.0,
                   contender=1.28, klass="launch-bound", floor=1.25, why="candidate")
    gpu = Finding(level="suspect", key=("gpu", "b", "materialized"), signal="gpu", reference=1.0,
                  contender=1.07, klass="GPU-bound", floor=1.103, why="candidate")
    assert sorted([gpu, host], key=remeasure.priority) == [host, gpu]
    assert remeasure.priority(host)[3] == pytest.approx(-3 * math.log(1.28) / math.log(1.25))
    # Before the history has taught the model, the priors rank: 15% for launch-bound wall times, 3% for GPU times.
    host.floor = gpu.floor = math.inf
    assert sorted([host, gpu], key=remeasure.priority) == [gpu, host]


def test_what_the_first_round_leaves_unspent_re_measures_the_next_strongest(monkeypatch):
    """Round 2 fits the left-out candidates into the rest of the budget at the pace round 1 measured
    (workers that start at once: the pace alone)."""
    monkeypatch.setitem(remeasure.WORKERS_SECONDS, "cuda", 0.0)
    monkeypatch.setitem(remeasure.FIRST_CHILD_SECONDS, "cuda", 0.0)
    configs = [f"c{i}" for i in range(6)]
    candidates = [Finding(level="suspect", key=("gpu", c, "causal_bias"), signal="wall", reference=1.0,
                          contender=2.0 - i / 10, klass="launch-bound", floor=math.inf, why="candidate")
                  for i, c in enumerate(configs)]
    night = Night(None, {f.key: {"wall": 0.0, "gpu": 0.0} for f in candidates})
    # Estimated per process: its own cost, 3 keys of short calls, and, one process in two, the wait for the next
    # children's start that 3 keys' first calls shorten, the other the GPU's rest; 20 processes. The budget fits
    # those 3 keys.
    short_keys = 3 * (remeasure.KEY_SECONDS["cuda"] + remeasure.PASSES * remeasure.VISIT_SECONDS)
    wait = remeasure.CHILD_START_SECONDS["cuda"] - remeasure.PROCESS_SECONDS["cuda"] - 3 * remeasure.KEY_SECONDS["cuda"]
    process = remeasure.PROCESS_SECONDS["cuda"] + short_keys + (
        wait + (schema.CHILDREN_STARTED_TOGETHER - 1) * schema.GPU_REST_SECONDS) / schema.CHILDREN_STARTED_TOGETHER
    rounds = []

    def fake_remeasure(keys, workers, device, processes, seed, budget, factor, most_extra):
        rounds.append((list(keys), round(budget, 6), seed))
        values = {key: {"baseline": {"wall": [1.0] * 10}, "contender": {"wall": [1.0] * 10}} for key in keys}
        return remeasure.Remeasured(values, 20 * process / 2, process_costs(20))  # twice as fast as estimated

    measured, left_out, count = remeasure.remeasure_in_rounds(
        candidates, night, "cuda", {"baseline": "b", "contender": "c"}, 10, 0, 20 * process + 1e-9, 1.05,
        fake_remeasure)
    # Round 2: half the budget left; at half the estimated pace the other 3 keys fit in it.
    assert [keys for keys, _, _ in rounds] == [[(c, "causal_bias") for c in configs[:3]],
                                               [(c, "causal_bias") for c in configs[3:]]]
    assert [(budget, seed) for _, budget, seed in rounds] == [(round(20 * process, 6), 0), (round(10 * process, 6), 1)]
    assert (count, left_out, measured.processes) == (2, [], 40)
    assert measured.seconds == pytest.approx(20 * process)
    assert set(measured.values) == {(c, "causal_bias") for c in configs}


def test_process_order_is_balanced_in_blocks_of_abba_or_baab():
    order = remeasure.process_order(10, random.Random(0))
    assert order.count("baseline") == order.count("contender") == 10
    for start in range(0, 20, 4):  # every block of four: two a side, one on each parity
        block = order[start:start + 4]
        assert sorted(block) == ["baseline", "baseline", "contender", "contender"]
        assert block[0] != block[1] and block[0] == block[3]


def block_kinds(processes_per_side: int, seeds: range) -> list[str]:
    """Each block of four of each seed's order, as 'ABBA' (baseline first) or 'BAAB'."""
    kinds = []
    for seed in seeds:
        order = remeasure.process_order(processes_per_side, random.Random(seed))
        for start in range(0, len(order), 4):
            kinds.append("ABBA" if order[start] == "baseline" else "BAAB")
    return kinds


def test_process_order_is_not_periodic():
    """Which side starts a block is drawn at random: an always-ABBA (or always-ABAB) order fails here."""
    kinds = block_kinds(10, range(200))
    assert 0.4 < kinds.count("BAAB") / len(kinds) < 0.6, kinds.count("BAAB")
    periodic = [seed for seed in range(200) if len(set(block_kinds(10, range(seed, seed + 1)))) == 1]
    assert len(periodic) < 40  # one order in 16 has its five blocks alike by chance


# ---------------------------------------------------------------- errors


def assert_error(args: list[str], message: str) -> None:
    completed = check(*args)
    assert completed.returncode == 2, completed.stdout
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr
    assert message in completed.stderr


def test_errors_exit_2(cpu_runs, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(cpu_runs["results"], results)
    commit_a, commit_b = cpu_runs["commits"][:2]
    base = ["--results-dir", str(results)]
    assert_error(base + ["--machine", "gpu"], "unknown machine 'gpu'; available: ci-cpu")
    assert_error(base + ["--contender", "0123abc"], "no run of commit '0123abc'")
    assert_error(base + ["--baseline", commit_a[:10], "--contender", commit_a[:8]],
                 "baseline and contender are the same commit")
    assert_error(base + ["--baseline", commit_b, "--contender", commit_a], "is not older than the contender")
    assert_error(base + ["--factor", "nan"], "--factor must be a finite number above 1")
    assert_error(base + ["--factor", "0.9"], "--factor must be a finite number above 1")
    assert_error(base + ["--processes", "8"], "--processes must be from 9 to 1000, not 8")
    assert_error(base + ["--processes", "1000000000"], "--processes must be from 9 to 1000, not 1000000000")
    assert_error(base + ["--budget", "0"], "--budget must be a number of seconds above 0")
    assert_error(base + ["--baseline-python", sys.executable], "--baseline-python needs --contender-python")
    assert_error(["--results-dir", str(tmp_path / "none")], "no results directory")
    (results / "ci-cpu" / f"{cpu_runs['commits'][1]}.verdict").write_text("[1, 2]")
    assert_error(base, "corrupt verdict file")
    newest = next((results / "ci-cpu").glob(f"{cpu_runs['commits'][2][:8]}-*.json"))
    newest.write_text("{not json")
    assert_error(base, "corrupt results file")


def steady_nights_after_a_calibration_pair(results: Path) -> list[str]:
    """Nights 0-1: an A/A pair 30% apart on every result; 2-6 identical; 7: config 2's causal_bias wall 1.10x."""
    wall = {(i, m): (150e-6 if i < 2 else 2.1e-3) for i in range(4) for m in ("materialized", "causal_bias")}
    gpu = {(i, m): (40e-6 if i < 2 else 2e-3) for i in range(4) for m in ("materialized", "causal_bias")}
    commits = [write_night(results, 0, wall, gpu),
               write_night(results, 1, {k: v * 1.3 for k, v in wall.items()}, {k: v * 1.3 for k, v in gpu.items()})]
    commits += [write_night(results, night, wall, gpu) for night in range(2, 7)]
    commits.append(write_night(results, 7, {**wall, (2, "causal_bias"): 2.1e-3 * 1.10}, gpu))
    return commits


def test_a_calibration_pair_widens_the_floors_by_its_own_steps(tmp_path):
    """--calibration A B adds the pair's step to every result's history: a 10% step that five identical
    nights call a regression is, with a 30% A/A pair, within this machine's noise."""
    results = tmp_path / "results"
    commits = steady_nights_after_a_calibration_pair(results)
    code, report = run_check(results, "--history", "5")
    assert (code, report["nights"]) == (1, 5)
    assert [(f["config"], f["mask"], f["signal"], f["why"]) for f in report["regressions"]] == [
        (CONFIGS[2], "causal_bias", "wall", "beyond 6 sigma of this machine's noise")]
    assert {row["wall_floor"] for row in report["floors"]} == {1.05}  # identical nights: the factor
    code, report = run_check(results, "--history", "5", "--calibration", commits[0][:8], commits[1])
    assert (code, report["regressions"], report["suspects"]) == (0, [], [])
    # Each class of 4 results: 4 steps of 0 from the nights and log 1.3 from the pair, each. Its 90th
    # percentile is the pair's step; a result's own, narrower spread of 5 steps is too few to count.
    sigma = noise.robust_sigma([0.0] * 16 + [math.log(1.3)] * 4)
    assert sigma == pytest.approx(math.log(1.3) / 1.645)
    floors = [row[f"{signal}_floor"] for row in report["floors"] for signal in ("wall", "gpu")]
    assert len(floors) == 16 and floors == pytest.approx([math.exp(3 * sigma)] * 16)  # 1.614


@pytest.mark.parametrize(("pair", "why"), [
    ((0, 0), "names one commit twice"),
    ((6, 7), "includes the contender"),
])
def test_a_calibration_pair_that_is_no_pair_or_holds_tonight_is_refused(tmp_path, pair, why):
    """Tonight's night in the pair would make its own change the machine's noise (every floor 5x, seen)."""
    results = tmp_path / "results"
    commits = steady_nights_after_a_calibration_pair(results)
    completed = check("--results-dir", str(results), "--calibration", commits[pair[0]], commits[pair[1]][:10])
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr.startswith("error: --calibration ") and why in completed.stderr
    assert len(completed.stderr.splitlines()) == 1


def test_first_night_has_no_baseline(tmp_path):
    """Said in the format asked for, and the report written: a report left from an earlier check would stand
    beside tonight's exit 0."""
    results = tmp_path / "results"
    commit = write_night(results, 0, *nightly_noise(random.Random(0), 0))
    report = tmp_path / "report.md"
    report.write_text("# REGRESSION: 3 finding(s)\n")
    completed = check("--results-dir", str(results), "--report", str(report))
    assert completed.returncode == 0
    assert completed.stdout == "first night on 'box': no baseline to compare 00000001 with yet\n"
    assert report.read_text() == "# first night on 'box': no baseline to compare 00000001 with yet\n"
    completed = check("--results-dir", str(results), "--format", "json")
    assert (completed.returncode, json.loads(completed.stdout)) == (0, {
        "verdict": "first night", "headline": "first night on 'box': no baseline to compare 00000001 with yet",
        "machine": "box", "contender": commit, "nights": 0, "regressions": [], "suspects": [], "noise": [],
        "not_measured": []})  # every level's list, as on any night: a reader takes each


def test_a_young_history_without_re_measurement_lists_a_change_as_a_suspect_that_says_why(tmp_path):
    """One night of history: no spread yet, nothing re-measures; a 2x slower config is a suspect, named."""
    rng = random.Random(7)
    results = tmp_path / "results"
    write_night(results, 0, *nightly_noise(rng, 0))
    wall, gpu = nightly_noise(rng, 1)
    wall[(2, "causal_bias")] *= 2.0
    write_night(results, 1, wall, gpu)
    code, report = run_check(results)
    assert code == 0 and report["regressions"] == []
    doubled = [f for f in report["suspects"] if (f["config"], f["mask"], f["signal"]) == (CONFIGS[2], "causal_bias",
                                                                                          "wall")]
    assert len(doubled) == 1 and doubled[0]["ratio"] == pytest.approx(2.0, rel=0.1)
    assert doubled[0]["why"] == ("the history of 1 night(s) is too short to judge: the noise model needs 3, "
                                 "and no re-measurement is configured")


def test_a_young_historys_suspect_that_stays_2x_slower_the_next_night_is_listed_again_with_the_reason(tmp_path):
    """Night 1 a 2x step with one night of history: a suspect, kept (--record-verdict). Night 2 still 2x: its
    step is in the reference and the model's spread now, so only night 0 shows it; listed, never dropped."""
    results = tmp_path / "results"
    wall = {(i, m): (150e-6 if i < 2 else 2.1e-3) for i in range(4) for m in ("materialized", "causal_bias")}
    gpu = {(i, m): (40e-6 if i < 2 else 2e-3) for i in range(4) for m in ("materialized", "causal_bias")}
    write_night(results, 0, wall, gpu)
    reports = []
    for night in (1, 2):
        write_night(results, night, {**wall, (2, "causal_bias"): 2.1e-3 * 2.0}, gpu)
        reports.append(run_check(results))
    (code1, first), (code2, second) = reports
    assert (code1, code2) == (0, 0) and first["regressions"] == second["regressions"] == []
    assert [(f["config"], f["mask"], f["signal"]) for f in first["suspects"]] == [(CONFIGS[2], "causal_bias", "wall")]
    assert [(f["config"], f["mask"], f["signal"], f["ratio"], f["why"]) for f in second["suspects"]] == [
        (CONFIGS[2], "causal_bias", "wall", 2.0,
         "a suspect last night too, still 2.00x the night before it; the history is too short to call it: "
         "the noise model needs 3 clean nights")]


# ---------------------------------------------------------------- each config's own noise


def noisy_half_month(rng: random.Random, night: int) -> tuple[dict, dict]:
    """A GPU-bound class of 4 configs: 0-1 noisy (1.4-1.8x on 40% of nights), 2-3 steady (1%)."""
    wall, gpu = {}, {}
    for i in range(4):
        for mask in ("materialized", "causal_bias"):
            level = rng.uniform(1.4, 1.8) if i < 2 and rng.random() < 0.4 else math.exp(rng.gauss(0, 0.01))
            gpu[(i, mask)] = 2e-3 * level
            wall[(i, mask)] = 2e-3 * 1.05 * level
    return wall, gpu


def month_of_checks(tmp_path, step: tuple[int, float] | None, seed: int = 21) -> list[dict]:
    """30 nights, each checked with --record-verdict against the nights before it from night 6 on;
    ``step``: (config, factor) applied to its causal_bias wall time on the last two nights."""
    rng = random.Random(seed)
    results = tmp_path / "results"
    reports = []
    for night in range(30):
        wall, gpu = noisy_half_month(rng, night)
        if step and night >= 28:
            wall[(step[0], "causal_bias")] *= step[1]
        write_night(results, night, wall, gpu)
        if night >= 6:
            reports.append(run_check(results)[1])
    return reports


def found(report: dict, level: str) -> set[tuple]:
    return {(f["config"], f["mask"], f["signal"]) for f in report[level]}


def test_a_steady_config_in_a_noisy_class_is_judged_by_its_own_noise(tmp_path):
    """A 1.3x step on a steady config is a regression by its second night, though its class's floor is
    far above 1.3x; the noisy configs keep their wide floors."""
    reports = month_of_checks(tmp_path, step=(2, 1.3))
    assert all(report["regressions"] == [] for report in reports[:-2])
    assert (CONFIGS[2], "causal_bias", "wall") in found(reports[-2], "regressions") | found(reports[-1], "regressions")
    assert found(reports[-1], "regressions") <= {(CONFIGS[2], "causal_bias", "wall")}
    floors = {(row["config"], row["mask"]): row["wall_floor"] for row in reports[-1]["floors"]}
    assert floors[(CONFIGS[2], "materialized")] < 1.1  # its own 1% a night, not its class's
    assert floors[(CONFIGS[0], "materialized")] > 1.5  # a noisy config keeps the wide one


def test_the_noisy_half_month_without_a_step_raises_nothing(tmp_path):
    assert [report["regressions"] for report in month_of_checks(tmp_path, step=None)] == [[]] * 24


def test_a_noisy_configs_step_of_the_same_size_is_never_a_regression(tmp_path):
    reports = month_of_checks(tmp_path, step=(0, 1.3))
    assert [report["regressions"] for report in reports] == [[]] * 24


def test_the_own_spread_counts_wider_from_4_steps_and_narrower_from_10():
    """The class's pooled spread is 0.10; a key's own spread replaces it where the key's history can say so."""
    key = ("gpu", "c", "materialized")

    def model(own: float, steps: int) -> noise.NoiseModel:
        return noise.NoiseModel({("wall", "GPU-bound"): 0.10}, {(*key, "wall"): (own, steps)}, nights=20)

    assert model(0.20, 3).sigma(key, "wall", "GPU-bound") == 0.10  # too few steps: the class
    assert model(0.20, 4).sigma(key, "wall", "GPU-bound") == 0.20  # wider: from 4 steps on
    assert model(0.01, 9).sigma(key, "wall", "GPU-bound") == 0.10  # narrower needs 10
    assert model(0.01, 10).sigma(key, "wall", "GPU-bound") == 0.01
    assert model(0.001, 10).sigma(key, "wall", "GPU-bound") == noise.SIGMA_FLOOR == 0.005
    assert noise.NoiseModel({}, {}, 5).sigma(key, "wall", "GPU-bound") != noise.NoiseModel({}, {}, 5).sigma(
        key, "wall", "GPU-bound")  # NaN: no spread known at all


def test_the_one_night_call_and_the_floor_at_their_boundaries():
    """Z_CALL = 6 spreads and NIGHTS_TO_CALL = 3 nights for a one-night call; the floor is 3 spreads or the factor."""
    key = ("gpu", "c", "materialized")
    sigma = 0.02
    model = noise.NoiseModel({("wall", "GPU-bound"): sigma}, {}, nights=3)
    just_below, at = math.exp(6 * sigma) * 0.999, math.exp(6 * sigma) * 1.0001
    assert not model.callable(just_below, key, "wall", "GPU-bound", 1.05)
    assert model.callable(at, key, "wall", "GPU-bound", 1.05)
    assert not noise.NoiseModel(model.pooled, {}, nights=2).callable(at, key, "wall", "GPU-bound", 1.05)
    assert model.floor(key, "wall", "GPU-bound", 1.05) == pytest.approx(math.exp(3 * sigma))  # 1.062 > 1.05
    assert noise.NoiseModel({("wall", "GPU-bound"): 0.01}, {}, 3).floor(key, "wall", "GPU-bound", 1.05) == 1.05
    assert model.floor(key, "gpu", "GPU-bound", 1.05) == math.inf  # no spread for this signal yet
