"""tools/synthetic_history.py: a small history that asv publish and the tools read."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import git, run_tool
from results_factory import write_benchmarks_json


def test_three_nights_on_two_machines_publish_and_check(tmp_path):
    write_benchmarks_json(tmp_path / "seed")
    out = tmp_path / "history"
    completed = run_tool("synthetic_history.py", "--out", str(out), "--days", "3", "--machines", "a", "b",
                         "--benchmarks-json", str(tmp_path / "seed" / "benchmarks.json"))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"3 nightly runs on 2 machines in {out}\n"
    for machine in ("a", "b"):
        assert len(list((out / "results" / machine).glob("*-existing-py.json"))) == 3

    env = {"HOME": str(tmp_path)}
    published = subprocess.run([sys.executable, "-m", "asv", "publish", "--config", str(out / "asv.conf.json")],
                               capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env})
    assert published.returncode == 0, published.stdout + published.stderr
    index = json.loads((out / "html" / "index.json").read_text())
    assert len(index["revision_to_hash"]) == 3
    assert index["params"]["machine"] == ["a", "b"]

    check = run_tool("check_regressions.py", "--results-dir", str(out / "results"), "--machine", "a",
                     "--html-dir", str(out / "html"), "--format", "json")
    assert check.returncode == 0, check.stdout + check.stderr  # days 1 and 2 both after the step
    report = json.loads(check.stdout)
    # The 15% step of the materialized path half-way (day 1 of 3), on every config and on nothing else,
    # found by asv publish's step detection at the day it was made.
    day_1 = git(out / "repo", "rev-list", "--reverse", "HEAD").splitlines()[1]
    configs = ["1, 4, (16, 48), 64, 'float32'", "1, 4, (1, 48), 64, 'float32'",
               "2, 4, (16, 48), 64, 'float32'", "2, 4, (1, 48), 64, 'float32'"]
    assert sorted((d["benchmark"], d["after_commit"]) for d in report["drifts"]) == sorted(
        (f"attention_bias.AttentionBiasNightCPU.track_wall_time_materialized({config})", day_1[:8])
        for config in configs)
    assert all(1.12 < d["ratio"] < 1.18 for d in report["drifts"]), report["drifts"]  # 15%, 1% noise a night
    summary = run_tool("speedup_summary.py", "--results-dir", str(out / "results"), "--machine", "b")
    assert summary.returncode == 0 and "CPU grid on b" in summary.stdout
    figures = run_tool("speedup_summary.py", "--results-dir", str(out / "results"), "--machine", "b",
                       "--figures", "--format", "json")
    rows = json.loads(figures.stdout)["rows"]
    assert {(r["materialized_backend"], r["causal_bias_backend"]) for r in rows} == {("cuDNN", "flash")}
    assert all(r["gpu_speedup"] > 0 and r["materialized_peak_MiB"] > 0 for r in rows)


@pytest.mark.parametrize("args, said", [
    (["--machines", "../outside"], "argument --machines: not a machine name"),
    (["--machines", "a", "a"], "error: --machines names one twice: a a"),
    (["--days", "100000"], "error: --days must be from 2 to 3650, not 100000"),
    (["--out-is-a-file"], "error: --out "),
    (["--benchmarks-json-of", "[1, 2]"], "not a JSON object"),
    (["--benchmarks-json-of", '{"a.B.track_wall_time_materialized": {"type": "track"}}'], "has no params or version"),
])
def test_a_history_asked_of_wrong_arguments_or_a_broken_benchmarks_file_is_a_user_error(tmp_path, args, said):
    """Nothing written: not outside the results folder (a machine name with '..'), nor a history over a file."""
    write_benchmarks_json(tmp_path / "seed")
    benchmarks, out = tmp_path / "seed" / "benchmarks.json", tmp_path / "history"
    args_were_a_file = args == ["--out-is-a-file"]
    if args_were_a_file:
        out.write_text("")
        args = []
    elif args[0] == "--benchmarks-json-of":
        benchmarks = tmp_path / "broken.json"
        benchmarks.write_text(args[1])
        args = []
    completed = run_tool("synthetic_history.py", "--out", str(out), "--days", "3", "--benchmarks-json",
                         str(benchmarks), *args)
    assert completed.returncode == 2 and completed.stderr.count("\n") == 1, completed.stderr
    assert said in completed.stderr and "Traceback" not in completed.stderr
    # Nothing made: no history, no machine's folder beside its results; the user's file untouched.
    assert (out.read_text() == "") if args_were_a_file else not out.exists()
