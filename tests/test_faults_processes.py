"""Child processes end with their tool: kill -9 of a check that is re-measuring leaves no worker."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TOOLS, checksums
from results_factory import write_run

MARK = "ATTENTION_BIAS_TEST_MARK"
WORKER = b"benchmarks.measure.worker"
pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="reads /proc: Linux")


def marked(value: str) -> dict[int, tuple[bytes, int]]:
    """Every process whose environment holds MARK=value (inherited by all it starts): its command line, its group."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f"{MARK}={value}".encode() not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            # /proc/PID/stat: "pid (comm) state ppid pgrp ...", comm may hold spaces: read after its ')'
            group = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
            found[int(proc.name)] = ((proc / "cmdline").read_bytes(), group)
        except (OSError, IndexError, ValueError):
            continue
    return found


def in_groups(groups: set[int]) -> list[int]:
    """Every process of the machine in one of ``groups``, whatever its environment says."""
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) in groups:
                left.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return left


def history_with_a_step(results: Path) -> None:
    """Three nights of the small CPU configs, the last 30% slower on both masks: candidates to re-measure."""
    for index, step in enumerate((1.0, 1.0, 1.3)):
        walls = {f"track_wall_time_{mask}": [100e-6 * step] * 4 for mask in ("materialized", "causal_bias")}
        write_run(results, "box", f"{index + 1:08x}" + "c" * 32, 1_000_000 + index * 86_400_000, walls)


def test_a_check_killed_with_sigkill_while_re_measuring_leaves_no_worker(tmp_path):
    history_with_a_step(tmp_path / "results")
    env = {**os.environ, MARK: str(tmp_path)}
    # As many processes a side as allowed and a day's budget: the workers are busy until the kill.
    check = subprocess.Popen([sys.executable, str(TOOLS / "check_regressions.py"), "--results-dir",
                              str(tmp_path / "results"), "--baseline-python", sys.executable, "--contender-python",
                              sys.executable, "--processes", "1000", "--budget", "86400"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # Each side's supervisors and their workers (a worker's measuring children, forked now and then, are in
    # its group), all started at once.
    from lib.remeasure import WORKERS_PER_SIDE

    workers_in_all = 2 * WORKERS_PER_SIDE
    # A supervisor's command names the worker too; it starts its worker once it leads a group of its own.
    while len(workers := {pid: group for pid, (command, group) in marked(str(tmp_path)).items()
                          if WORKER in command}) < 2 * workers_in_all:
        assert time.monotonic() < deadline and check.poll() is None, check.stderr.read() if check.stderr else ""
        time.sleep(0.01)
    groups = set(workers.values())
    assert check.pid not in groups and len(groups) == workers_in_all == 4  # each worker leads a group of its own
    check.send_signal(signal.SIGKILL)
    check.wait()
    deadline = time.monotonic() + 30
    while (left := list(marked(str(tmp_path))) + in_groups(groups)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == []


SELECTED = r"^attention_bias\.AttentionBiasNightCPU\.track_wall_time_"


@pytest.mark.parametrize("recorded_before, bench", [(False, False), (True, False), (True, True)])
def test_a_night_past_its_setup_cache_timeout_leaves_no_spinning_child(tmp_path, recorded_before, bench):
    """A slowdown that makes the night outlast its setup_cache timeout: asv ends the measuring process and
    its group, the record says which sets failed, nothing of it spins on. The suite's copy gets a 5 s
    timeout (the CPU night's own is 300 s) and one config a second of host time a forward.
    ``recorded_before``: the commit has a night that measured; the failed one leaves it as it was, also where
    ``bench`` selects the night's benchmarks by hand (asv's merge turned their values into failures)."""
    import json

    import json5
    from conftest import REPO_ROOT, make_standin_repo
    from test_check_regressions import CONFIGS, contender_environment

    shutil.copytree(REPO_ROOT / "benchmarks", tmp_path / "suite" / "benchmarks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    classes = tmp_path / "suite" / "benchmarks" / "attention_bias.py"
    assert classes.read_text().count("setup_cache.timeout = 300") == 1  # the CPU night's
    classes.write_text(classes.read_text().replace("setup_cache.timeout = 300", "setup_cache.timeout = 5"))
    conf = json5.loads((REPO_ROOT / "asv.conf.json").read_text())
    conf.update(benchmark_dir=str(tmp_path / "suite" / "benchmarks"), env_dir=str(tmp_path / "env"))
    (tmp_path / "asv.conf.json").write_text(json.dumps(conf))
    spec = {"slowdowns": [{"config": CONFIGS[0], "mask": "causal_bias", "cpu_us": 1e6}]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    python = contender_environment(tmp_path / "contender")
    installed = subprocess.run([sys.executable, str(TOOLS / "inject.py"), "install", "--python", str(python),
                                "--spec", str(tmp_path / "spec.json")], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    (commit,) = make_standin_repo(tmp_path / "repo", ["slow"])
    (tmp_path / "home").mkdir()
    if recorded_before:
        walls = {f"track_wall_time_{mask}": [1e-3] * 4 for mask in ("materialized", "causal_bias")}
        write_run(tmp_path / "results", "ci", commit, 1_000, walls, visits={(0, "materialized"): [1e-3, 2e-3]})
        before = checksums(tmp_path / "results")
    env = {**os.environ, MARK: str(tmp_path), "HOME": str(tmp_path / "home")}
    recorded = subprocess.run([sys.executable, str(TOOLS / "record_run.py"), "--config",
                               str(tmp_path / "asv.conf.json"), "--grid", "cpu", "--python", str(python),
                               "--repo", str(tmp_path / "repo"), "--commit", commit,
                               "--results-dir", str(tmp_path / "results"), "--machine", "ci",
                               *(["--bench", SELECTED] if bench else [])],
                              env=env, capture_output=True, text=True, timeout=600)
    # Every result of the night failed: recorded as failed, and a broken job (exit 3), never a night.
    assert recorded.returncode == 3, recorded.stdout[-3000:] + recorded.stderr[-2000:]
    what = f"--bench {SELECTED!r}" if bench else "the CPU grid's night"
    assert recorded.stderr.splitlines()[-1] == (
        f"failed: NothingMeasured: {what} at {commit[:8]} measured nothing: every result failed "
        "(asv's output above says why); "
        + ("the night recorded before at that commit is kept as it was" if recorded_before
           else "it is recorded as failed")
        + " (a fault of the tool or the machine, not a finding; ATTENTION_BIAS_TRACEBACK=1 shows where)")
    # -256: asv's own code for a timeout (it ends the process group it started setup_cache in).
    assert "setup_cache failed (exit status -256)" in recorded.stdout, recorded.stdout[-3000:]
    assert len(list((tmp_path / "results" / "ci").glob(f"{commit[:8]}-*.json"))) == 1  # landed, as failed
    if recorded_before:  # its values, side files and benchmarks.json, byte for byte (the record's lock added)
        assert checksums(tmp_path / "results") == {**before, "ci/.record.lock": hashlib.sha256(b"").hexdigest()}
    deadline = time.monotonic() + 30  # asv waited for its children: anything left is an orphan
    while (left := marked(str(tmp_path))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == {}
    assert (tmp_path / "results" / "ci" / f"{commit}.night").exists() == recorded_before  # the night never ended



def test_a_nightly_killed_with_sigkill_mid_record_leaves_no_process_of_it_behind(tmp_path):
    """kill -9 of tools/nightly.py while its record step measures: the record, asv and its children end too."""
    from test_faults import commands
    from test_nightly_path import suite_copy

    suite = suite_copy(tmp_path)
    (tmp_path / "home").mkdir()
    env = {**os.environ, MARK: str(tmp_path), "HOME": str(tmp_path / "home")}
    nightly = subprocess.Popen([sys.executable, str(suite / "tools" / "nightly.py"), "--machine", "ci"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # The record step's asv: its forkserver and the night's setup_cache child, each in a group of its own.
    while not {b"run_server", b"setup_cache"} <= set(commands(list(marked(str(tmp_path))))):
        assert time.monotonic() < deadline and nightly.poll() is None, "the night never started"
        time.sleep(0.02)
    nightly.send_signal(signal.SIGKILL)
    nightly.wait()
    deadline = time.monotonic() + 30
    while (left := marked(str(tmp_path))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == {}
    assert not list(suite.rglob("*.night"))  # nothing wrote the night afterwards, staged or landed


@pytest.mark.parametrize("killed", ["its command", "the supervisor"])
def test_asv_ended_by_a_signal_is_a_broken_run_never_a_user_error(tmp_path, monkeypatch, killed):
    """kill -9 of asv (or the out-of-memory killer) ends the record with exit 3: the machine's fault, not the
    user's exit 2. The supervisor says a command ended by signal N as a shell does, 128 + N."""
    from lib import conf, supervisor
    from lib.supervisor import supervised

    suicide = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    monkeypatch.setattr(supervisor, "supervised", lambda command: supervised(suicide) if killed == "its command"
                        else suicide)  # as relayed runs asv
    monkeypatch.setattr(conf, "machine_file", lambda: tmp_path / "asv-machine.json")
    with pytest.raises(conf.AsvEnded, match=r"^asv run was ended by signal 9 \(killed, or out of memory\): "):
        conf.asv("run", conf=tmp_path / "asv.conf.json")
    assert subprocess.run(supervised(suicide)).returncode == 128 + signal.SIGKILL
    assert subprocess.run(supervised([sys.executable, "-c", "raise SystemExit(2)"])).returncode == 2
