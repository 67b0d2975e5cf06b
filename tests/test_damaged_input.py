"""Every tool, every damaged results tree: exit 2, one line naming the file, no traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_tool
from results_factory import write_run

BASE, NEW = "a" * 40, "b" * 40


def healthy_tree(root: Path) -> Path:
    results = root / "results"
    times = {"track_wall_time_materialized": [2e-6] * 4, "track_wall_time_causal_bias": [1e-6] * 4}
    figures = {"track_gpu_time_materialized": [1e-6] * 4, "track_gpu_time_causal_bias": [1e-6] * 4}
    write_run(results, "box", BASE, 1_000, times, figures=figures)
    write_run(results, "box", NEW, 2_000, times, figures=figures)
    return results


def newest(results: Path) -> Path:
    return next((results / "box").glob("bbbbbbbb-*.json"))


def edit_run(change: Callable[[dict], None]) -> Callable[[Path], str]:
    def damage(results: Path) -> str:
        path = newest(results)
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
        return path.name
    return damage


def set_value(value) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        entry = data["results"]["attention_bias.AttentionBiasNightCPU.track_wall_time_causal_bias"]
        entry[data["result_columns"].index("result")][1] = value
    return change


def every_params(axis: int, value: str) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        for entry in data["results"].values():  # as many values as before: the sets still match the values
            params = entry[data["result_columns"].index("params")]
            params[axis] = [value] * len(params[axis])
    return change


def run_named(change: Callable[[dict], None]) -> Callable[[Path], str]:
    """A damage the tools name by the run's commit, not its file's name."""
    def damage(results: Path) -> str:
        edit_run(change)(results)
        return f"run {NEW[:8]}"
    return damage


def benchmarks_json(text: str) -> Callable[[Path], str]:
    def damage(results: Path) -> str:
        (results / "benchmarks.json").write_text(text)
        return "benchmarks.json"
    return damage


def whole_file(text: str) -> Callable[[Path], str]:
    def damage(results: Path) -> str:
        path = newest(results)
        path.write_text(text)
        return path.name
    return damage


def drop_column(data: dict) -> None:
    del data["result_columns"]


def extra_parameter(data: dict) -> None:
    entry = data["results"]["attention_bias.AttentionBiasNightCPU.track_wall_time_causal_bias"]
    entry[data["result_columns"].index("params")][0].append("3")


DAMAGE = {
    "benchmarks.json not an object": benchmarks_json("[1, 2, 3]"),
    "benchmarks.json entry not an object": benchmarks_json(
        '{"attention_bias.AttentionBiasNightCPU.track_wall_time_materialized": 7}'),
    "benchmarks.json not JSON": benchmarks_json("{"),
    "param_names not a list": benchmarks_json(json.dumps({
        "attention_bias.AttentionBiasNightCPU.track_wall_time_materialized": {"param_names": "batch"}})),
    "run not JSON": whole_file("{not json"),
    "run a list": whole_file("[]"),
    "infinite time": edit_run(set_value(1e999)),
    "time not a number": edit_run(set_value("fast")),
    "no result columns": edit_run(drop_column),
    "parameters that do not match the values": edit_run(extra_parameter),
    "no heads": run_named(every_params(1, "0")),
    "sequence lengths not a pair": run_named(every_params(2, '"abc"')),
    "an embedding that is no number": run_named(every_params(3, "x")),
    "durations not an object": edit_run(lambda data: data.update(durations=[])),
    "param_names not the suite's": benchmarks_json(json.dumps({
        "attention_bias.AttentionBiasNightCPU.track_wall_time_materialized": {
            "param_names": ["batch", "num_heads", "seq_lens", "embed_dim", "dtype"]}})),
}

TOOLS = {
    "speedup_summary.py": [],
    "check_regressions.py": [],
    "noise_report.py": [BASE, NEW],
    "inject.py": ["plan", "--gpu", "0.1", "--out", "{tmp}/spec.json"],
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
@pytest.mark.parametrize("tool", TOOLS)
def test_damaged_results_exit_2_with_one_line(tool, damage, tmp_path):
    results = healthy_tree(tmp_path)
    name = DAMAGE[damage](results)
    args = [a.replace("{tmp}", str(tmp_path)) for a in TOOLS[tool]]
    if tool == "inject.py":
        args = args[:1] + ["--results-dir", str(results)] + args[1:]
    else:
        args = ["--results-dir", str(results), *args]
    completed = run_tool(tool, *args)
    assert completed.returncode == 2, (completed.stdout, completed.stderr)
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr, completed.stderr
    assert name in completed.stderr


@pytest.mark.parametrize("value", [0.0, -1e-6])
def test_an_impossible_time_is_read_as_not_measured_by_every_tool_and_named(value, tmp_path):
    """A time of zero or below is a fault of one measurement, not a damaged file: each tool goes on without it,
    and those that list what was not measured name it."""
    results = healthy_tree(tmp_path)
    edit_run(set_value(value))(results)
    line = f"causal_bias(1, 4, (1, 48), 64, 'float32'): impossible value {value!r}, read as not measured"
    outputs = {}
    for tool, args in TOOLS.items():
        args = [a.replace("{tmp}", str(tmp_path)) for a in args]
        args = args[:1] + ["--results-dir", str(results)] + args[1:] if tool == "inject.py" else [
            "--results-dir", str(results), *args]
        completed = run_tool(tool, *args)
        assert completed.returncode == 0, (tool, completed.stderr)
        outputs[tool] = completed
    assert f"Not measured (1):\n  {line}\n" in outputs["speedup_summary.py"].stdout
    assert f"## Failed or missing (1)\n\n- contender AttentionBiasNightCPU.{line}\n" in outputs[
        "check_regressions.py"].stdout
    assert "\n7 results;" in outputs["noise_report.py"].stdout  # the pair's 8 wall times less that one
    assert outputs["inject.py"].stderr == ("only 3 config(s) to choose from in bbbbbbbb: 3 slowdown(s), not 10 "
                                            "(--both-masks counts results: both masks of a config)\n")


@pytest.mark.parametrize("args", [["--factor", "nan"], ["--factor", "inf"], ["--window", "0"],
                                  ["--history", "0"], ["--processes", "0"]])
def test_impossible_check_arguments_exit_2(args, tmp_path):
    completed = run_tool("check_regressions.py", "--results-dir", str(healthy_tree(tmp_path)), *args)
    assert completed.returncode == 2 and completed.stderr.count("\n") == 1


@pytest.mark.parametrize("tool, args", [("speedup_summary.py", ["--all"]), ("noise_report.py", [BASE, NEW])])
@pytest.mark.parametrize("text", ["{", '{"wall_visits": {"1, 4, (16, 48), 64, \'float32\'": {"materialized": [0]}}}',
                                  '{"wall_visits": [1]}'])
def test_a_damaged_night_file_exits_2_with_one_line(tool, args, text, tmp_path):
    """The night's visits are read by the shared reader too: a broken <commit>.night is a user error."""
    results = healthy_tree(tmp_path)
    (results / "box" / f"{NEW}.night").write_text(text)
    completed = run_tool(tool, "--results-dir", str(results), *args)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{NEW}.night" in lines[0], completed.stderr
