"""asv's own commands on the CPU twin's time_* benchmarks, through the suite's default conf, for real."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import json5
import pytest
from conftest import REPO_ROOT, checksums, make_standin_repo
from lib.suite import DEFAULT_CONF, schema

MACHINE = "ci-timed"
CONFIG = "1, 4, (16, 48), 64, 'float32'"
ONE_CONFIG = r"AttentionBiasCPU\.time_causal_bias\(1, 4, \(16, 48\)"
TIMED = "attention_bias.AttentionBiasCPU.time_causal_bias"


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> dict:
    """The default conf, plugin included, pointed at a stand-in repository and a results folder of its own."""
    root = tmp_path_factory.mktemp("timed")
    commits = make_standin_repo(root / "repo", ["A", "B", "C"])
    conf = json5.loads(DEFAULT_CONF.read_text())
    conf.update(repo=str(root / "repo"), results_dir=str(root / "results"), html_dir=str(root / "html"),
                env_dir=str(root / "env"), benchmark_dir=str(REPO_ROOT / "benchmarks"))
    (root / "asv.conf.json").write_text(json.dumps(conf))
    (root / "home").mkdir()
    env = {**os.environ, "HOME": str(root / "home")}
    env.pop(schema.NIGHT_ONLY_VARIABLE, None)
    info = {"root": root, "commits": commits, "conf": root / "asv.conf.json", "env": env}
    asv(info, "machine", "--yes", "--machine", MACHINE)
    return info


def asv(suite: dict, *args: str) -> subprocess.CompletedProcess:
    # From the repository's root: asv loads the conf's plugin from the current folder.
    return subprocess.run([sys.executable, "-m", "asv", *args, "--config", str(suite["conf"])],
                          cwd=REPO_ROOT, env=suite["env"], capture_output=True, text=True)


def run_file(suite: dict, commit: str) -> Path:
    return next((suite["root"] / "results" / MACHINE).glob(f"{commit[:8]}-*.json"))


def entry(data: dict, name: str) -> dict:
    return dict(zip(data["result_columns"], data["results"][name]))


def test_one_config_is_measured_alone_with_asvs_statistics_and_the_repeat_asked_for(suite):
    commit = suite["commits"][0]
    ran = asv(suite, "run", "--python=same", "--machine", MACHINE, "--set-commit-hash", commit,
              "--bench", ONE_CONFIG, "--record-samples", "-a", "repeat=7", "--show-stderr")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    data = json.loads(run_file(suite, commit).read_text())
    assert list(data["results"]) == [TIMED]  # nothing else ran: no night, no other benchmark
    assert [key for key in data.get("durations", {}) if key != "<build>"] == []  # and no setup_cache
    result = entry(data, TIMED)
    labels = [", ".join(combination) for combination in itertools.product(*result["params"])]
    # asv writes the parameter sets it did not run as NaN ("n/a" in its table)
    measured = [label for label, value in zip(labels, result["result"]) if value is not None and value == value]
    assert measured == [CONFIG]
    index = labels.index(CONFIG)
    samples = result["samples"][index]
    assert len(samples) == 7 and all(s > 0 for s in samples)  # -a repeat=7, one process (rounds = 1)
    assert result["result"][index] == pytest.approx(sorted(samples)[3])  # asv's median of them
    assert result["stats_ci_99_a"][index] < result["result"][index] < result["stats_ci_99_b"][index]


def test_the_whole_timed_grid_runs_in_plain_asv_every_config_once(suite):
    commit = suite["commits"][1]
    ran = asv(suite, "run", "--python=same", "--machine", MACHINE, "--set-commit-hash", commit,
              "--bench", r"AttentionBiasCPU\.time_", "--record-samples")
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    data = json.loads(run_file(suite, commit).read_text())
    for mask in schema.MASKS:
        result = entry(data, f"attention_bias.AttentionBiasCPU.time_{mask}")
        assert len(result["result"]) == 6 and all(value > 0 for value in result["result"])
        assert all(len(samples) >= 5 for samples in result["samples"])  # repeat = (5, 10, 2.0)
    # The per-config table reads these runs as asv wrote them: the median, and its samples' spread.
    table = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "speedup_summary.py"), "--results-dir",
                            str(suite["root"] / "results"), "--machine", MACHINE, "--commit", commit, "--wall",
                            "asv", "--all", "--format", "json"], capture_output=True, text=True, env=suite["env"])
    assert table.returncode == 0, table.stderr
    rows = json.loads(table.stdout)["rows"]
    for mask in schema.MASKS:
        result = entry(data, f"attention_bias.AttentionBiasCPU.time_{mask}")
        unit = schema.MICROSECONDS
        assert [row[f"{mask}_{unit}"] for row in rows] == pytest.approx([v * 1e6 for v in result["result"]])
        assert [row[f"{mask}_spread_{unit}"] for row in rows] == pytest.approx(
            [(max(samples) - min(samples)) * 1e6 for samples in result["samples"]])


def test_asv_profile_of_one_config_shows_the_forward(suite):
    profiled = asv(suite, "profile", "--python=same", f"attention_bias.{ONE_CONFIG}, 64, 'float32'\\)")
    assert profiled.returncode == 0, profiled.stdout[-3000:] + profiled.stderr[-2000:]
    assert "scaled_dot_product_attention" in profiled.stdout
    assert "bias.py" in profiled.stdout and "__torch_function__" in profiled.stdout  # CausalBias's dispatch
    assert "linear" in profiled.stdout  # the projections


def test_asv_profile_of_a_gpu_config_without_cuda_is_one_line_not_asvs_traceback(suite):
    profiled = asv(suite, "profile", "--python=same",
                   r"attention_bias.AttentionBias.time_causal_bias\(1, 16, \(128, 256\), 2048, 'bfloat16'\)")
    assert profiled.returncode == 1
    assert ("asv profile: attention_bias.AttentionBias.time_causal_bias measured nothing here, so there is no "
            "profile: it was skipped (a GPU config without CUDA") in profiled.stdout
    assert "Traceback" not in profiled.stdout + profiled.stderr


def test_asv_find_over_the_default_conf_is_refused_and_touches_no_result(suite):
    """asv find over the existing environment would overwrite each commit's results with one torch's."""
    commits = suite["commits"]
    recorded = asv(suite, "run", "--python=same", "--machine", MACHINE, "--set-commit-hash", commits[2],
                   "--bench", ONE_CONFIG)
    assert recorded.returncode == 0, recorded.stdout[-3000:]
    before = checksums(suite["root"] / "results")
    found = asv(suite, "find", "--python=same", "--machine", MACHINE, f"{commits[0]}..{commits[2]}", TIMED)
    assert found.returncode == 1
    assert "asv find over an existing environment would run the same torch at every commit" in found.stdout
    assert "Traceback" not in found.stdout + found.stderr
    assert checksums(suite["root"] / "results") == before


COUNT_BUILDS = """
import json, sys
from asv_runner.discovery import get_benchmark_from_name
from benchmarks.measure import model
built = []
checked_case = model.checked_case
model.checked_case = lambda config: built.append(config) or checked_case(config)
benchmark = get_benchmark_from_name(sys.argv[1], sys.argv[2])
benchmark.do_setup()
result = benchmark.run(*benchmark._current_params)
print(json.dumps({"samples": len(result["samples"]), "builds": len(built)}))
"""


def test_a_timed_process_builds_and_checks_its_config_once_however_many_samples_it_takes():
    """asv_runner 0.2.5 calls setup again before every sample after the first: the case is kept, so no
    sample starts after a rebuild and a check."""
    ran = subprocess.run([sys.executable, "-c", COUNT_BUILDS, str(REPO_ROOT / "benchmarks"), f"{TIMED}-0"],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-2000:]
    counted = json.loads(ran.stdout.splitlines()[-1])
    assert counted["samples"] >= 5 and counted["builds"] == 1
