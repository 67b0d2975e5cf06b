"""inject.py score: what a check's JSON report made of a spec's slowdowns, counted by the signal each targets."""

from __future__ import annotations

import json

import pytest
from conftest import run_tool
from lib import injected_steps

import inject

injector = injected_steps.injector
GPU = "NVIDIA H200"

GPU_KEY, SHORT_KEY, HOST_KEY, OPS_KEY = ("1, 16, (128, 256), 4096, 'bfloat16'", "causal_bias"), (
    "1, 32, (256, 416), 4096, 'bfloat16'", "materialized"), ("1, 32, (1, 2048), 2048, 'bfloat16'", "materialized"), (
    "8, 16, (256, 416), 2048, 'bfloat16'", "causal_bias")
OTHER = ("16, 16, (128, 256), 2048, 'bfloat16'", "materialized")
EDGE = ("8, 32, (1, 2048), 4096, 'bfloat16'", "materialized")  # its step landed at the factor exactly
SPEC = {"slowdowns": [
    {"config": GPU_KEY[0], "mask": GPU_KEY[1], "gpu_us": 4.3, "cpu_us": 0.0, "extra_ops": 0},
    {"config": SHORT_KEY[0], "mask": SHORT_KEY[1], "gpu_us": 6.4, "cpu_us": 0.0, "extra_ops": 0},
    {"config": HOST_KEY[0], "mask": HOST_KEY[1], "gpu_us": 0.0, "cpu_us": 12.0, "extra_ops": 1},
    {"config": EDGE[0], "mask": EDGE[1], "gpu_us": 40.0, "cpu_us": 0.0, "extra_ops": 0}]}


def finding(key: tuple[str, str], signal: str, level: str, relative: float, why: str,
            ratio: float | None = None) -> dict:
    return {"level": level, "grid": "gpu", "config": key[0], "mask": key[1], "signal": signal, "relative": relative,
            "floor": 1.05, "why": why, "confirmation": None if ratio is None else {"outcome": "x", "ratio": ratio}}


REPORT = {
    "factor": 1.05,
    "regressions": [finding(GPU_KEY, "gpu", "regression", 1.0749, "re-measured: confirmed", 1.0589),
                    finding(GPU_KEY, "kernels", "regression", 1.2, "exact count changed"),
                    finding(HOST_KEY, "aten_ops", "regression", 1.0118, "exact count changed"),
                    finding(OTHER, "wall", "regression", 1.31, "re-measured: confirmed", 1.29)],
    "suspects": [finding(HOST_KEY, "wall", "suspect", 1.2, "not re-measured: beyond the budget"),
                 finding(OTHER, "gpu", "suspect", 1.07, "re-measured: undecided", 1.02)],
    "noise": [finding(OPS_KEY, "wall", "noise", 1.06, "re-measured: refuted", 0.99),
              finding(EDGE, "gpu", "noise", 1.052, "re-measured: refuted", 1.05)],
    # The check's row per result: its floors and how far it moved away from its class tonight.
    "floors": [{"grid": "gpu", "config": SHORT_KEY[0], "mask": SHORT_KEY[1], "class": "GPU-bound",
                "wall_floor": 1.1, "wall_relative": 0.99, "gpu_floor": 1.05, "gpu_relative": 1.021}],
}


def test_each_injected_result_by_the_signal_its_slowdown_targets_and_what_else_the_check_called():
    rows = inject.score_rows(SPEC["slowdowns"], REPORT)
    assert [(r["config"], r["signal"], r["level"], r["tonight"], r["re-measured"]) for r in rows] == [
        (GPU_KEY[0], "gpu", "regression", 1.0749, 1.0589), (SHORT_KEY[0], "gpu", "-", 1.021, None),
        (HOST_KEY[0], "wall", "suspect", 1.2, None), (HOST_KEY[0], "aten_ops", "regression", 1.0118, None),
        (EDGE[0], "gpu", "noise", 1.052, 1.05)]
    assert (rows[1]["floor"], rows[1]["why"]) == (1.05, "not a candidate: 1.021 over its class tonight")
    lines = inject.score(SPEC["slowdowns"], REPORT).splitlines()
    assert lines[-6:] == ["gpu: 1 of 3 injected a regression; 2 re-measured, 2 of them slower by the factor (1.05) "
                          "or more, 1 of those a regression",
                          "wall: 0 of 1 injected a regression; 0 re-measured, 0 of them slower by the factor (1.05) "
                          "or more, 0 of those a regression",
                          "aten_ops: 1 of 1 injected a regression; 0 re-measured, 0 of them slower by the factor "
                          "(1.05) or more, 0 of those a regression",
                          "any signal: 2 of 4 injected results a regression",
                          "not injected: 1 regression(s), 1 suspect(s)",
                          f"  regression: {OTHER[0]} {OTHER[1]} wall 1.310: re-measured: confirmed"]


def test_a_result_listed_twice_is_scored_by_its_gravest_row():
    """A class's carrier (a regression, the class's move) can have a candidate of its own on the same key (a
    suspect, its move beyond the class): the injected result was found."""
    own = finding(GPU_KEY, "gpu", "suspect", 1.066, "re-measured: undecided", 1.03)
    report = {**REPORT, "suspects": [*REPORT["suspects"], own]}
    (row,) = [r for r in inject.score_rows(SPEC["slowdowns"], report) if r["config"] == GPU_KEY[0]]
    assert (row["level"], row["tonight"], row["re-measured"]) == ("regression", 1.0749, 1.0589)


def test_an_injected_result_no_finding_says_how_far_it_moved_or_that_it_was_re_measured():
    """A missed slowdown's row tells an injector that fell short (a small move tonight) from a noisy night."""
    spec = [{"config": key[0], "mask": key[1], "gpu_us": 5.0, "cpu_us": 0.0, "extra_ops": 0}
            for key in (SHORT_KEY, OTHER, EDGE)]
    report = {"factor": 1.05, "regressions": [], "suspects": [], "noise": [],
              "floors": [{"config": key[0], "mask": key[1], "gpu_floor": 1.05, "gpu_relative": moved}
                         for key, moved in ((SHORT_KEY, 1.021), (OTHER, 1.043))],
              "confirmation": {"values": [{"config": OTHER[0], "mask": OTHER[1], "baseline": {"gpu": [1.0]},
                                           "contender": {"gpu": [1.04]}}]}}
    rows = inject.score_rows(spec, report)
    assert [(row["tonight"], row["floor"], row["why"]) for row in rows] == [
        (1.021, 1.05, "not a candidate: 1.021 over its class tonight"),
        (1.043, 1.05, "re-measured, no finding of its own: short of the factor and not confirmed, or a stand-in "
                      "of its class's move"),
        (None, None, "not a candidate (the report gives no move tonight)")]
    # A candidate the re-measurement planned none of is no finding either, and says so, not "not a candidate".
    report["confirmation"] |= {"short_left_out": [[*SHORT_KEY, "left out"], [*EDGE, "dropped"]]}
    assert [row["why"] for row in inject.score_rows(spec, report)][::2] == [
        "a candidate short of the factor, left out for the budget (1.021 over its class tonight)",
        "a candidate dropped after the first processes ran slower than planned (the report gives no move tonight)"]
    report["confirmation"] |= {"short_left_out": [[*SHORT_KEY, "failed"]]}
    assert inject.score_rows(spec, report)[0]["why"] == (
        "a candidate short of the factor the failed re-measurement did not measure (1.021 over its class tonight)")
    # a GPU time's: another signal of the same result was no such candidate
    spec[0] |= {"gpu_us": 0.0, "cpu_us": 3.0}
    assert inject.score_rows(spec, report)[0]["why"] == "not a candidate (the report gives no move tonight)"
    # a value the check left out (measured in part, a bumped version) says so, not how far it moved
    report["unjudged"] = [{"config": EDGE[0], "mask": EDGE[1], "signal": "gpu", "why": "measured in part: x"}]
    assert inject.score_rows(spec, report)[2]["why"] == "not judged: measured in part: x"


def test_score_reads_a_spec_and_a_report_from_files(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    (tmp_path / "check.json").write_text(json.dumps(REPORT))
    completed = run_tool("inject.py", "score", "--spec", str(tmp_path / "spec.json"), "--check",
                         str(tmp_path / "check.json"))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-4].startswith("aten_ops: 1 of 1 injected a regression; ")
    (row,) = [line for line in completed.stdout.splitlines() if GPU_KEY[0] in line]
    assert [cell.strip() for cell in row.split("|")][1:-1] == [*GPU_KEY, "gpu", "regression", "1.075", "1.050", "1.059",
                                                                "re-measured: confirmed"]


DAMAGED_REPORTS = [
    ("{", "not a check's JSON report"), ("[]", "not a check's JSON report"),
    ('{"regressions": [], "suspects": [], "noise": []}', "'factor'"),
    ('{"factor": 1.05, "regressions": [], "suspects": []}', "'noise'"),
    ('{"factor": 1.05, "regressions": [{"config": "a"}], "suspects": [], "noise": []}',
     "a finding without floor, level, mask, relative, signal, why"),
    ('{"factor": 1.05, "regressions": [], "suspects": [], "noise": [], "floors": [{"config": "a"}]}', "'mask'"),
    ('{"factor": 1.05, "regressions": [], "suspects": [], "noise": [], "floors": 3}', "not a check's JSON report"),
    ('{"factor": 1.05, "regressions": [], "suspects": [], "noise": [], "confirmation": {"values": '
     '[{"config": "a", "mask": "m", "baseline": 3}]}}', "not a check's JSON report"),
    ('{"factor": 1.05, "regressions": [], "suspects": [], "noise": [], "confirmation": {"short_left_out": '
     '[["a", "m"]]}}', "not a check's JSON report"),
    ('{"factor": 1.05, "regressions": [], "suspects": [], "noise": [], "confirmation": {"short_left_out": 3}}',
     "not a check's JSON report")]


@pytest.mark.parametrize("text, words", DAMAGED_REPORTS)
def test_a_damaged_report_exits_2_with_one_line(tmp_path, text, words):
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    (tmp_path / "check.json").write_text(text)
    completed = run_tool("inject.py", "score", "--spec", str(tmp_path / "spec.json"), "--check",
                         str(tmp_path / "check.json"))
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr and words in completed.stderr


# Wall and GPU seconds of the four configs of results_factory's small grid, one class each: launch-bound (the
# dispatch 0.4 ms), GPU-bound, long GPU-bound, and near launch-bound (a wall time under 1.25 x 0.4 ms).
CLASS_TIMES = [(0.4e-3, 0.1e-3), (1e-3, 0.9e-3), (20e-3, 19e-3), (0.45e-3, 0.44e-3)]


@pytest.mark.parametrize("choice, gpu_us, said", [
    (["--class", "long GPU-bound"], [950.0], "only 1 config(s) long GPU-bound"),
    (["--launch-bound"], [5.0], "only 1 config(s) launch-bound"),
    (["--class", "launch-bound"], [5.0], "only 1 config(s) launch-bound"),
    (["--class", "GPU-bound"], [45.0], "only 1 config(s) GPU-bound"),
    (["--class", "near launch-bound"], [22.0], "only 1 config(s) near launch-bound"),
    (["--launch-bound", "--both-masks"], [5.0, 5.0], "only 2 result(s) launch-bound"),
    (["--class", "GPU-bound", "--both-masks"], [45.0, 45.0], "only 2 result(s) GPU-bound"),
    ([], [5.0, 22.0, 45.0, 950.0], None)])
def test_a_plan_keeps_to_the_class_it_is_given_and_says_how_many_it_found(tmp_path, choice, gpu_us, said):
    """--class picks by the run's own wall and GPU time, as the verdict classes results; a plan of the long
    GPU-bound alone is the one that tells whether a sleeping spin slows a config at the power cap."""
    from results_factory import write_run

    walls = {f"track_wall_time_{mask}": [wall for wall, _ in CLASS_TIMES] for mask in ("materialized", "causal_bias")}
    figures = {f"track_gpu_time_{mask}": [gpu for _, gpu in CLASS_TIMES] for mask in ("materialized", "causal_bias")}
    write_run(tmp_path / "results", "box", "a" * 40, 1_000_000, walls, figures=figures)
    planned = run_tool("inject.py", "plan", "--results-dir", str(tmp_path / "results"), "--gpu", "0.05",
                       "--configs", "4", *choice, "--out", str(tmp_path / "spec.json"))
    assert planned.returncode == 0, planned.stderr
    slowdowns = json.loads((tmp_path / "spec.json").read_text())["slowdowns"]
    assert sorted(entry["gpu_us"] for entry in slowdowns) == pytest.approx(gpu_us, rel=1e-12)
    # the night's GPU time beside each: install's tuning rests before a heavy one's blocks, as the check does
    assert sorted(entry["night_gpu_seconds"] * 0.05e6 for entry in slowdowns) == pytest.approx(gpu_us, rel=1e-12)
    hint = "" if "--both-masks" in choice else " (--both-masks counts results: both masks of a config)"
    assert planned.stderr == (f"{said} to choose from in aaaaaaaa: {len(gpu_us)} slowdown(s), not 4{hint}\n"
                              if said else "")
    # one mask a config, unless both are asked for: then each result once
    results = [(entry["config"], entry["mask"]) for entry in slowdowns]
    assert len(set(results)) == len(results)
    assert len({config for config, _ in results}) == len(results) // (2 if "--both-masks" in choice else 1)


def test_a_plan_refuses_a_class_it_does_not_know_in_one_line(tmp_path):
    planned = run_tool("inject.py", "plan", "--results-dir", str(tmp_path), "--class", "unknown", "--out",
                       str(tmp_path / "spec.json"))
    assert planned.returncode == 2 and "invalid choice: 'unknown'" in planned.stderr
    assert not (tmp_path / "spec.json").exists()


def test_score_sets_each_gpu_step_install_measured_beside_what_the_check_found(tmp_path):
    """The GPU key, injected at 1.0512 and found; the short one, injected at 1.046: short of the factor by
    install's own measure, a miss of the injector and not of the check."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    steps = [{"config": GPU_KEY[0], "mask": GPU_KEY[1], "amount_us": 4.3, "ratio": 1.0512, "error": 0.0021},
             {"config": SHORT_KEY[0], "mask": SHORT_KEY[1], "amount_us": 6.4, "ratio": 1.046, "error": float("inf")}]
    (tmp_path / ("spec.json" + injector.STEPS_SUFFIX)).write_text(json.dumps({"gpu": GPU, "steps": steps}))
    rows = inject.score_rows(SPEC["slowdowns"], REPORT, injected_steps.kept_steps(str(spec), SPEC["slowdowns"]))
    assert [(row["signal"], row["injected"], row["+-"], row["level"]) for row in rows] == [
        ("gpu", 1.0512, 0.0021, "regression"), ("gpu", 1.046, float("inf"), "-"), ("wall", None, None, "suspect"),
        ("aten_ops", None, None, "regression"), ("gpu", None, None, "noise")]
    (tmp_path / "check.json").write_text(json.dumps(REPORT))
    completed = run_tool("inject.py", "score", "--spec", str(spec), "--check", str(tmp_path / "check.json"))
    assert completed.returncode == 0, completed.stderr
    assert ("gpu: 1 of 3 injected a regression; 2 re-measured, 2 of them slower by the factor (1.05) or more, 1 of "
            "those a regression; 1 injected at the factor or more by install's steps, 1 of those a regression\n"
            in completed.stdout)
    (row,) = [line for line in completed.stdout.splitlines() if GPU_KEY[0] in line]
    assert [cell.strip() for cell in row.split("|")][1:-1] == [*GPU_KEY, "gpu", "1.051", "0.002", "regression",
                                                                "1.075", "1.050", "1.059", "re-measured: confirmed"]
    assert "injected at the factor" not in inject.score(SPEC["slowdowns"], REPORT)  # no steps kept: as before
    (tmp_path / ("spec.json" + injector.STEPS_SUFFIX)).write_text('{"A": 3}')  # damaged: one line, exit 2
    completed = run_tool("inject.py", "score", "--spec", str(spec), "--check", str(tmp_path / "check.json"))
    assert completed.returncode == 2 and completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr
    assert completed.stderr.startswith("error: not the steps of a tuning as install keeps them: ")
    assert "spec.json.steps.json: no list of steps" in completed.stderr


def test_the_re_measured_signals_are_each_sides_measured_ones_not_its_clock_or_its_processes_left_out():
    """``Remeasured.as_json``'s entry also holds the SM clock beside a GPU time and the wall values left out."""
    from lib.results import report_remeasured

    entry = {"config": OTHER[0], "mask": OTHER[1], "baseline": {"gpu": [1.0], "sm_clock": [1980.0]},
             "contender": {"wall": [2.0], "gpu": [1.1], "sm_clock": [1975.0]}, "disturbed": {"baseline": [0]}}
    assert report_remeasured({"confirmation": {"values": [entry]}}) == {(*OTHER, "gpu"), (*OTHER, "wall")}


def test_score_reads_a_report_whose_counts_rose_from_zero_their_null_move_shown_as_the_tables_missing_value(
        tmp_path):
    """check_regressions.py writes a count that rose from 0 with "relative": null (its ratio infinite, which JSON
    cannot hold): a real report, scored, its move "-" as in the table, on an injected result and on another."""
    report = json.loads(json.dumps(REPORT))
    report["regressions"][2]["relative"] = None  # HOST_KEY's operators, injected
    report["regressions"][3] |= {"signal": "kernels", "relative": None, "why": "exact count changed"}  # OTHER's
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    (tmp_path / "check.json").write_text(json.dumps(report))
    completed = run_tool("inject.py", "score", "--spec", str(tmp_path / "spec.json"), "--check",
                         str(tmp_path / "check.json"))
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert completed.stdout.splitlines()[-1] == f"  regression: {OTHER[0]} {OTHER[1]} kernels -: exact count changed"
    (row,) = [line for line in completed.stdout.splitlines() if HOST_KEY[0] in line and "aten_ops" in line]
    assert [cell.strip() for cell in row.split("|")][1:-1] == [*HOST_KEY, "aten_ops", "regression", "-", "1.050",
                                                                "-", "exact count changed"]


SPEC_ENTRY_DAMAGE = [
    ({"config": None}, "its config is not a string"),  # no config at all: below, the key removed
    ({"config": ["a", "b"]}, "its config is not a string"),
    ({"config": 3}, "its config is not a string"),
    ({"mask": ["causal_bias"]}, "its mask is not one of materialized, causal_bias"),
    ({"mask": "no mask"}, "its mask is not one of materialized, causal_bias")]


def damaged_spec(path, change: dict) -> dict:
    """SPEC with its first slowdown changed (a None config: the key removed), written to ``path``."""
    spec = json.loads(json.dumps(SPEC))
    entry = {key: value for key, value in (spec["slowdowns"][0] | change).items() if value is not None}
    spec["slowdowns"][0] = entry
    path.write_text(json.dumps(spec))
    return entry


@pytest.mark.parametrize("change, why", SPEC_ENTRY_DAMAGE)
def test_score_refuses_a_spec_whose_slowdown_names_no_config_or_mask_string_in_one_line_naming_the_spec(
        tmp_path, change, why):
    spec = tmp_path / "spec.json"
    entry = damaged_spec(spec, change)
    (tmp_path / "check.json").write_text(json.dumps(REPORT))
    completed = run_tool("inject.py", "score", "--spec", str(spec), "--check", str(tmp_path / "check.json"))
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert completed.stderr == f"error: not a slowdown spec: {spec}: {str(entry)[:80]}: {why}\n"


@pytest.mark.parametrize("change, why", SPEC_ENTRY_DAMAGE)
def test_a_plan_appending_to_a_spec_whose_slowdown_names_no_config_or_mask_string_exits_2_naming_it(
        tmp_path, change, why):
    """--append reads the spec it adds to before any night: its damage is the user's, and the spec is left as is."""
    from results_factory import write_run

    walls = {f"track_wall_time_{mask}": [wall for wall, _ in CLASS_TIMES] for mask in ("materialized", "causal_bias")}
    write_run(tmp_path / "results", "box", "a" * 40, 1_000_000, walls)
    spec = tmp_path / "spec.json"
    entry = damaged_spec(spec, change)
    before = spec.read_text()
    planned = run_tool("inject.py", "plan", "--results-dir", str(tmp_path / "results"), "--cpu", "0.05",
                       "--configs", "1", "--append", "--out", str(spec))
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert planned.stderr == f"error: not a slowdown spec: {spec}: {str(entry)[:80]}: {why}\n"
    assert spec.read_text() == before
