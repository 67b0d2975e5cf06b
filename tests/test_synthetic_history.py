"""tools/synthetic_history.py: a small history that asv publish and the tools read."""

from __future__ import annotations

import json
import subprocess
import sys

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
