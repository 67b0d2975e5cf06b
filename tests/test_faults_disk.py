"""A full disk during a night and during --record-verdict: nothing partial lands, the next night is normal.

The results live on a small tmpfs mounted for the test (root, or a machine that lets the user mount);
elsewhere the test skips and says why.
"""

from __future__ import annotations

import errno
import json
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import checksums, make_standin_repo, run_tool


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 16 MiB tmpfs at tmp_path/disk, unmounted afterwards whatever happened."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root or CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)  # busy: detach it all the same


def test_record_verdict_into_a_read_only_results_folder_is_refused_before_any_work(small_disk):
    """A read-only mount (root writes through a folder's mode bits): exit 2 in one line, not a crash at the end."""
    from test_faults import two_nights

    results = two_nights(small_disk)
    before = checksums(results)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    completed = run_tool("check_regressions.py", "--results-dir", str(results), "--record-verdict")
    assert completed.returncode == 2 and completed.stderr.count("\n") == 1, completed.stderr
    assert completed.stderr.startswith("error: cannot write ") and "is read-only" in completed.stderr
    assert checksums(results) == before


def fill(disk: Path) -> Path:
    """Take every byte the filesystem has left, down to the last one."""
    filler = disk / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 1 << 12, 1):
            while True:
                try:
                    os.write(handle, b"\0" * size)
                except OSError as error:
                    assert error.errno == errno.ENOSPC, error
                    break
    finally:
        os.close(handle)
    return filler


def test_a_full_disk_during_a_night_and_during_record_verdict_loses_nothing_and_the_next_night_is_normal(
        small_disk, tmp_path):
    commits = make_standin_repo(tmp_path / "repo", ["A", "B", "C", "D"])
    (tmp_path / "home").mkdir()
    results = small_disk / "results"

    def record(commit: str) -> subprocess.CompletedProcess:
        return run_tool("record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit", commit,
                        "--results-dir", str(results), "--machine", "ci", env={"HOME": str(tmp_path / "home")})

    def landed() -> dict[str, str]:
        return {name: digest for name, digest in checksums(small_disk).items() if name != "filler"}

    assert record(commits[0]).returncode == 0
    before = landed()
    filler = fill(small_disk)
    failed = record(commits[1])
    assert failed.returncode == 3, failed.stdout[-2000:] + failed.stderr[-2000:]  # the machine's fault
    assert failed.stderr.splitlines()[-1].startswith("failed: OSError: [Errno 28] no space left")  # after asv's
    assert landed() == before  # nothing of the night, nothing staged, the first night unchanged
    filler.unlink()
    assert record(commits[2]).returncode == 0
    checked = run_tool("check_regressions.py", "--results-dir", str(results), "--format", "json")
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    assert json.loads(checked.stdout)["contender"] == commits[2]

    before = landed()
    filler = fill(small_disk)
    verdict = run_tool("check_regressions.py", "--results-dir", str(results), "--record-verdict")
    assert verdict.returncode == 3 and verdict.stderr.count("\n") == 1, verdict.stderr  # the tool's failure
    assert "No space left on device" in verdict.stderr and "Traceback" not in verdict.stderr
    assert landed() == before  # no empty or partial .verdict
    filler.unlink()
    assert record(commits[3]).returncode == 0
    verdict = run_tool("check_regressions.py", "--results-dir", str(results), "--record-verdict")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert json.loads((results / "ci" / f"{commits[3]}.verdict").read_text())["contender"] == commits[3]


def test_a_full_disk_at_the_verdict_loses_no_regression(small_disk, tmp_path):
    """The disk fills before the suspects are kept: the regression is printed and in the report all the same,
    and the exit code says the job broke (3), not that all went well."""
    from test_check_regressions import CONFIGS, nightly_noise, write_night

    rng = random.Random(3)
    results = small_disk / "results"
    for night in range(3):
        write_night(results, night, *nightly_noise(rng, night))
    commit = write_night(results, 3, *nightly_noise(rng, 3), counts={(1, "causal_bias", "aten_ops"): 86.0})
    report = tmp_path / "report.md"
    before = checksums(small_disk)
    filler = fill(small_disk)
    verdict = run_tool("check_regressions.py", "--results-dir", str(results), "--record-verdict",
                       "--report", str(report))
    assert verdict.returncode == 3 and verdict.stderr.count("\n") == 1, verdict.stderr
    assert "No space left on device" in verdict.stderr and "Traceback" not in verdict.stderr
    assert verdict.stdout == report.read_text()
    assert verdict.stdout.startswith("# REGRESSION: 1 finding(s)")
    assert f"{CONFIGS[1]}" in verdict.stdout.split("## Regressions (1)")[1].split("##")[0]
    filler.unlink()
    assert checksums(small_disk) == before  # no empty or partial .verdict
    assert not (results / "box" / f"{commit}.verdict").exists()
