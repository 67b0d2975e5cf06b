"""Faults that must never look like a finding or lose data: exit codes, names that escape, one record at a time."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TOOLS, checksums, make_standin_repo, run_tool
from filelock import FileLock
from lib import cli
from lib.results import read_results
from results_factory import write_run

BASE, NEW = "a" * 40, "b" * 40


def two_nights(root: Path) -> Path:
    results = root / "results"
    walls = {"track_wall_time_materialized": [2e-6] * 4, "track_wall_time_causal_bias": [1e-6] * 4}
    write_run(results, "box", BASE, 1_000, walls)
    write_run(results, "box", NEW, 2_000, walls)
    return results


def assert_one_line(completed, code: int, words: str) -> None:
    assert completed.returncode == code, completed.stdout + completed.stderr
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr, completed.stderr
    assert words in completed.stderr


def test_an_unexpected_failure_is_exit_3_in_one_line_never_the_finding_code(capsys, monkeypatch):
    def broken(argv):
        raise ValueError("something the tool did not expect")

    monkeypatch.delenv(cli.TRACEBACK_VARIABLE, raising=False)
    assert cli.run_tool(broken) == cli.TOOL_FAILED == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("failed: ValueError: something the tool did not expect (a fault of the tool")
    monkeypatch.setenv(cli.TRACEBACK_VARIABLE, "1")
    assert cli.run_tool(broken) == 3
    assert "Traceback" in capsys.readouterr().err
    assert cli.run_tool(lambda argv: (_ for _ in ()).throw(RecursionError("deep"))) == 3


def test_a_report_into_a_missing_folder_is_a_user_error_and_the_nights_stay_whole(tmp_path):
    results = two_nights(tmp_path)
    before = checksums(results)
    completed = run_tool("check_regressions.py", "--results-dir", str(results), "--record-verdict",
                         "--report", str(tmp_path / "missing" / "report.md"))
    assert_one_line(completed, 2, f"cannot write {tmp_path / 'missing' / 'report.md'}: no folder")
    assert checksums(results) == before  # checked before any work: no .verdict either


def test_json_nested_thousands_deep_is_corrupt_input_not_a_crash(tmp_path):
    results = two_nights(tmp_path)
    (results / "box" / f"{BASE}.verdict").write_text("[" * 100_000 + "]" * 100_000)
    completed = run_tool("check_regressions.py", "--results-dir", str(results))
    assert_one_line(completed, 2, "corrupt verdict file")
    (results / "box" / f"{BASE}.verdict").unlink()
    (results / "benchmarks.json").write_text("[" * 100_000 + "]" * 100_000)
    assert_one_line(run_tool("speedup_summary.py", "--results-dir", str(results)), 2, "benchmarks.json")


@pytest.mark.parametrize("machine", ["../escape", "/tmp/absolute", "a/b", ".."])
def test_a_machine_name_that_would_escape_the_results_folder_is_refused(tmp_path, machine):
    completed = run_tool("record_run.py", "--grid", "cpu", "--results-dir", str(tmp_path / "results"),
                         "--machine", machine)
    assert completed.returncode == 2 and "not a machine name" in completed.stderr
    assert not (tmp_path / "results").exists() and not Path("/tmp/absolute").exists()


def test_a_python_path_is_the_callers_folders_and_a_bare_name_is_looked_up_on_path(tmp_path, monkeypatch):
    (tmp_path / "env" / "bin").mkdir(parents=True)
    (tmp_path / "env" / "bin" / "python").symlink_to(sys.executable)  # a virtualenv's python is a link
    monkeypatch.chdir(tmp_path)
    assert cli.python_path("env/bin/python") == str(tmp_path / "env" / "bin" / "python")  # the link, kept
    assert cli.python_path("python3") == "python3"
    assert cli.python_path("~/env/bin/python") == str(Path.home() / "env" / "bin" / "python")


def test_a_record_into_a_folder_another_record_holds_is_refused(tmp_path):
    (commit,) = make_standin_repo(tmp_path / "repo", ["A"])
    machine_dir = tmp_path / "results" / "ci"
    machine_dir.mkdir(parents=True)
    with FileLock(str(machine_dir / ".record.lock")):
        completed = run_tool("record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit", commit,
                             "--results-dir", str(tmp_path / "results"), "--machine", "ci",
                             env={"HOME": str(tmp_path)})
    assert_one_line(completed, 2, f"another record is running into {machine_dir}")
    assert [p.name for p in machine_dir.iterdir()] == [".record.lock"]


def test_the_gpu_grid_asked_of_a_torch_without_cuda_is_refused_before_asv_runs(tmp_path):
    """asv would skip every config (exit 0) and land a night of nothing over the commit's results."""
    (commit,) = make_standin_repo(tmp_path / "repo", ["A"])
    completed = run_tool("record_run.py", "--grid", "gpu", "--repo", str(tmp_path / "repo"), "--commit", commit,
                         "--results-dir", str(tmp_path / "results"), "--machine", "ci", env={"HOME": str(tmp_path)})
    assert_one_line(completed, 2, f"--grid gpu: the torch of {sys.executable} sees no CUDA device")
    assert not (tmp_path / "results" / "ci").exists()


def test_a_bench_that_asv_skipped_whole_is_a_night_of_nothing_whatever_asvs_exit_code(tmp_path):
    """The GPU grid's timed benchmarks on a CPU machine: asv skips every config and exits 0; the record says it
    measured nothing (exit 3), never a night recorded."""
    (commit,) = make_standin_repo(tmp_path / "repo", ["A"])
    completed = run_tool("record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit", commit,
                         "--results-dir", str(tmp_path / "results"), "--machine", "ci",
                         "--bench", r"AttentionBias\.time_causal_bias", env={"HOME": str(tmp_path)})
    assert completed.returncode == 3, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert completed.stderr.splitlines()[-1].startswith(
        rf"failed: NothingMeasured: --bench 'AttentionBias\\.time_causal_bias' at {commit[:8]} measured nothing")
    assert "Recorded" not in completed.stdout


def test_a_commit_typed_as_a_prefix_names_the_side_files_by_its_full_hash(tmp_path):
    (commit,) = make_standin_repo(tmp_path / "repo", ["A"])
    (tmp_path / "home").mkdir()
    completed = run_tool("record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit", commit[:7],
                         "--results-dir", str(tmp_path / "results"), "--machine", "ci",
                         env={"HOME": str(tmp_path / "home")})
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    side_files = sorted(p.name for p in (tmp_path / "results" / "ci").iterdir() if not p.name.endswith(".json"))
    assert side_files == [".record.lock", f"{commit}.dispatch", f"{commit}.night"]
    json.loads((tmp_path / "results" / "ci" / f"{commit}.night").read_text())
    assert "already holds a run" not in completed.stdout
    again = run_tool("record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit", commit[:7],
                     "--results-dir", str(tmp_path / "results"), "--machine", "ci",
                     "--commit-file", str(tmp_path / "recorded"), env={"HOME": str(tmp_path / "home")})
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert (tmp_path / "recorded").read_text() == f"{commit}\n"  # the full hash, for the nightly's check
    results_file, = (tmp_path / "results" / "ci").glob(f"{commit[:8]}-*.json")
    assert (f"note: {results_file.name} already holds a run of commit {commit[:8]} on 'ci': this run's values "
            "replace its values where it is of the same Python (asv keeps one result per commit and environment), "
            "else the tools read this run's; the night's side files are this run's") in again.stdout
    before = checksums(tmp_path / "results")
    refused = run_tool("record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit", commit[:7],
                       "--results-dir", str(tmp_path / "results"), "--machine", "ci", "--new-commit-only",
                       env={"HOME": str(tmp_path / "home")})
    assert_one_line(refused, 2, f"error: commit {commit[:8]} already has a night on 'ci': a nightly records a new "
                                "commit each night (without --torch-repo, this suite's HEAD)")
    assert checksums(tmp_path / "results") == before
    # A night of the commit that measured nothing is no night: recorded over, as any failed night is.
    results_file.unlink()
    write_run(tmp_path / "results", "ci", commit, 1_000, {f"track_wall_time_{mask}": [None] * 4
                                                          for mask in ("materialized", "causal_bias")})
    over = run_tool("record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit", commit[:7],
                    "--results-dir", str(tmp_path / "results"), "--machine", "ci", "--new-commit-only",
                    env={"HOME": str(tmp_path / "home")})
    assert over.returncode == 0, over.stdout[-2000:] + over.stderr[-2000:]


def test_a_night_cut_short_is_set_aside_where_a_run_of_its_commit_lands_never_written_over(tmp_path):
    """A results file cut short (a full disk) does not read, and is no night: a record of its commit and
    environment lands in its place, the damaged one kept under a name no reader globs; one of another
    environment, which nothing lands over, is left as it is."""
    (commit,) = make_standin_repo(tmp_path / "repo", ["A"])
    (tmp_path / "home").mkdir()
    record = ["record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit", commit,
              "--results-dir", str(tmp_path / "results"), "--machine", "ci", "--new-commit-only"]
    first = run_tool(*record, env={"HOME": str(tmp_path / "home")})
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    (results_file,) = (tmp_path / "results" / "ci").glob(f"{commit[:8]}-*.json")
    other = results_file.with_name(f"{commit[:8]}-another-env.json")
    other_cut = results_file.read_bytes()[:2000]
    other.write_bytes(other_cut)
    for attempt in (1, 2):
        cut = results_file.read_bytes()[:3000]
        results_file.write_bytes(cut)
        again = run_tool(*record, env={"HOME": str(tmp_path / "home")})
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        aside = results_file.name + ("" if attempt == 1 else ".2") + ".unreadable"
        assert (f"note: {results_file.name} does not read: kept as {aside}, which no tool reads; this run's results "
                "land in its place") in again.stdout
        assert (tmp_path / "results" / "ci" / aside).read_bytes() == cut
        read_results(results_file)  # the new night, landed in its place
    assert other.read_bytes() == other_cut and not other.with_name(other.name + ".unreadable").exists()


def test_the_synthetic_history_never_deletes_a_folder_it_did_not_make(tmp_path):
    results = two_nights(tmp_path)
    before = checksums(results)
    completed = run_tool("synthetic_history.py", "--out", str(results), "--days", "2",
                         "--benchmarks-json", str(results / "benchmarks.json"))
    assert_one_line(completed, 2, "is not empty and not a synthetic history")
    assert checksums(results) == before


def test_a_partial_night_in_the_history_is_set_aside_and_blocks_no_later_night(tmp_path):
    """A full disk left a night's results cut short (asv writes in place): the next checks read around it,
    and say so."""
    results = tmp_path / "results"
    walls = {"track_wall_time_materialized": [2e-6] * 4, "track_wall_time_causal_bias": [1e-6] * 4}
    paths = [write_run(results, "box", commit, date, walls)
             for commit, date in (("c" * 40, 1_000), (BASE, 2_000), (NEW, 3_000))]
    paths[1].write_bytes(paths[1].read_bytes()[: paths[1].stat().st_size // 2])
    before = checksums(results)
    completed = run_tool("check_regressions.py", "--results-dir", str(results), "--format", "json")
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.count("\n") == 1 and completed.stderr.startswith("set aside, not read: corrupt results")
    report = json.loads(completed.stdout)
    assert (report["baseline"], report["contender"]) == ("c" * 40, NEW)  # the night before the damaged one
    assert [item.split(":")[0] for item in report["not_measured"]] == ["set aside, not read"]
    assert checksums(results) == before


def test_two_partial_nights_are_said_oldest_first(tmp_path):
    """Lines set aside read in the history's order, as the nights are, whatever order they were read in."""
    results = tmp_path / "results"
    walls = {"track_wall_time_materialized": [2e-6] * 4, "track_wall_time_causal_bias": [1e-6] * 4}
    paths = [write_run(results, "box", commit, date, walls)
             for commit, date in (("c" * 40, 1_000), ("d" * 40, 1_500), (BASE, 2_000), (NEW, 3_000))]
    for damaged in paths[1:3]:
        damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    completed = run_tool("check_regressions.py", "--results-dir", str(results), "--format", "json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert (report["baseline"], report["contender"]) == ("c" * 40, NEW)
    said = report["not_measured"]
    assert len(said) == 2 and all(item.startswith(f"set aside, not read: corrupt results file {damaged}: ")
                                  for item, damaged in zip(said, paths[1:3])), said


@pytest.mark.parametrize("damage", ["empty", "cut short, its date shared"])
def test_a_history_file_whose_head_does_not_read_is_set_aside_too(tmp_path, damage):
    """An empty file, or one cut short whose date another shares (stand-in commits of one second, ordered by
    when they ran, so read whole): set aside as a cut-short file with an intact head is, never the store."""
    results = tmp_path / "results"
    walls = {"track_wall_time_materialized": [2e-6] * 4, "track_wall_time_causal_bias": [1e-6] * 4}
    same_date = damage != "empty"
    paths = [write_run(results, "box", commit, 2_000 if same_date and commit != NEW else date, walls)
             for commit, date in (("c" * 40, 1_000), (BASE, 2_000), (NEW, 3_000))]
    paths[1].write_bytes(b"" if damage == "empty" else paths[1].read_bytes()[: paths[1].stat().st_size // 2])
    completed = run_tool("check_regressions.py", "--results-dir", str(results), "--format", "json",
                         "--contender", NEW[:8])
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.startswith(f"set aside, not read: corrupt results file {paths[1]}: ")
    assert completed.stderr.count("\n") == 1
    report = json.loads(completed.stdout)
    assert (report["baseline"], report["contender"]) == ("c" * 40, NEW)
    assert [item.split(":")[0] for item in report["not_measured"]] == ["set aside, not read"]
    # Which night is the newest is not known where a damaged file's date is not (the empty one); the cut one's
    # head says it is older than tonight's. A damaged night named is its own error.
    default = run_tool("check_regressions.py", "--results-dir", str(results), "--format", "json")
    if same_date:
        assert default.returncode == 0 and json.loads(default.stdout)["contender"] == NEW, default.stderr
    else:
        assert_one_line(default, 2, "which run of 'box' is the most recent is not known: corrupt results file "
                                    f"{paths[1]}: ")
        assert default.stderr.endswith("; name the run's commit\n")
    named = run_tool("check_regressions.py", "--results-dir", str(results), "--contender", BASE[:8])
    assert_one_line(named, 2, f"error: corrupt results file {paths[1]}: ")


def test_a_damaged_file_dated_among_the_nights_read_is_said_whatever_night_is_oldest(tmp_path):
    """Its date shared with the oldest night read, and older than the others: said, as any set aside within the
    history's dates (the oldest night's date, not a later one's, bounds them)."""
    results = tmp_path / "results"
    walls = {"track_wall_time_materialized": [2e-6] * 4, "track_wall_time_causal_bias": [1e-6] * 4}
    commits = ["f" * 40, "d" * 40, "c" * 40, "e" * 40, NEW]
    paths = [write_run(results, "box", commit, date, walls)
             for commit, date in zip(commits, (1_500, 1_500, 2_000, 2_500, 3_000))]
    paths[1].write_bytes(paths[1].read_bytes()[: paths[1].stat().st_size // 2])
    completed = run_tool("check_regressions.py", "--results-dir", str(results), "--format", "json",
                         "--contender", NEW[:8])
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.startswith(f"set aside, not read: corrupt results file {paths[1]}: ")
    assert json.loads(completed.stdout)["nights"] == 3


def test_a_nightly_whose_record_fails_is_a_broken_job_never_a_regression(tmp_path):
    broken = tmp_path / "python-without-torch"
    broken.write_text("#!/bin/sh\necho 'ModuleNotFoundError: torch' >&2\nexit 1\n")
    broken.chmod(0o755)
    completed = run_tool("nightly.py", "--machine", "ci", "--python", str(broken),
                         "--report", str(tmp_path / "report.md"))
    assert completed.returncode == cli.TOOL_FAILED == 3
    assert completed.stderr.splitlines()[-1] == ("error: recording failed; nothing was checked "
                                                 "(a broken job, not a finding)")
    assert not (tmp_path / "report.md").exists()


@pytest.mark.parametrize("option", ["--python", "--baseline-python", "--torch-repo"])
def test_a_nightly_given_a_python_or_clone_that_is_not_there_is_a_user_error_before_any_step(tmp_path, option):
    missing = tmp_path / "not-there"
    given = [option, str(missing)] if option == "--python" else ["--python", sys.executable, option, str(missing)]
    completed = run_tool("nightly.py", "--machine", "ci", *given, "--report", str(tmp_path / "report.md"))
    said = f"error: {option} {missing}: " + ("no such folder" if option == "--torch-repo" else "not an executable")
    assert_one_line(completed, 2, said)
    assert "+ " not in completed.stdout  # no step ran


@pytest.mark.parametrize("factor", ["0", "0.5", "1", "nan", "inf"])
def test_a_factor_at_or_under_1_is_a_user_error_in_every_tool_that_takes_one(tmp_path, factor):
    """asv compare's test is a < b / factor: at 0 it divided by zero (exit 3), under 1 it flagged identical
    results, nan flagged nothing (exit 0). The nightly refuses it before it records a night."""
    results = str(two_nights(tmp_path))
    said = f"error: --factor must be a finite number above 1, not {float(factor)}"
    assert_one_line(run_tool("noise_report.py", BASE[:8], NEW[:8], "--results-dir", results, "--factor", factor),
                    2, said)
    assert_one_line(run_tool("check_regressions.py", "--results-dir", results, "--factor", factor), 2, said)
    nightly = run_tool("nightly.py", "--machine", "ci", "--python", str(tmp_path / "no-python"), "--factor", factor,
                       "--report", str(tmp_path / "report.md"))
    assert_one_line(nightly, 2, said)
    assert "+ " not in nightly.stdout  # no step ran
    for command in (["continuous", "a", "b"], ["find", "a..b", "attention_bias.AttentionBiasCPU.time_materialized"]):
        assert_one_line(run_tool("torch_commits.py", "--repo", str(tmp_path), "--machine", "ci", *command,
                                 "--factor", factor), 2, said)


@pytest.mark.parametrize("option", ["--baseline-python", "--contender-python"])
def test_a_check_given_a_python_that_is_not_there_is_a_user_error_before_any_night_is_read(tmp_path, option):
    """Found only when the re-measurement starts it, the typo would leave every candidate a suspect, exit 0."""
    missing = tmp_path / "not-there"
    pythons = {"--baseline-python": sys.executable, "--contender-python": sys.executable, option: str(missing)}
    completed = run_tool("check_regressions.py", "--results-dir", str(tmp_path / "none"),
                         *(word for pair in pythons.items() for word in pair))
    assert_one_line(completed, 2, f"error: {option} {missing}: not an executable")


@pytest.mark.parametrize("script", sorted(p.name for p in TOOLS.glob("*.py")))
def test_every_tools_argument_error_is_one_line_that_points_to_help(script):
    completed = run_tool(script, "--no-such-option")  # said, or a required argument missing before it
    assert_one_line(completed, 2, f"{script}: error: ")
    assert completed.stderr.endswith(" (--help: the usage)\n") and not completed.stderr.startswith("usage:")


def test_a_plan_that_would_slow_nothing_is_refused_and_writes_no_spec(tmp_path):
    """GPU slowdowns planned on a night with no GPU time (the CPU grid): an empty spec would score as ten misses."""
    completed = run_tool("inject.py", "plan", "--results-dir", str(two_nights(tmp_path)), "--gpu", "0.1",
                         "--out", str(tmp_path / "spec.json"))
    assert_one_line(completed, 2, "error: nothing to slow down in bbbbbbbb: no config with the figure")
    assert not (tmp_path / "spec.json").exists()


def test_a_commit_file_or_report_that_cannot_be_written_is_refused_before_the_night(tmp_path):
    (commit,) = make_standin_repo(tmp_path / "repo", ["A"])
    missing = tmp_path / "no-such-folder" / "commit"
    completed = run_tool("record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit", commit,
                         "--results-dir", str(tmp_path / "results"), "--machine", "ci", "--commit-file", str(missing),
                         env={"HOME": str(tmp_path)})
    assert_one_line(completed, 2, f"error: cannot write {missing}: no folder {missing.parent}")
    assert not (tmp_path / "results").exists()
    nightly = run_tool("nightly.py", "--machine", "ci", "--python", str(tmp_path / "no-python"),
                       "--report", str(missing))
    assert_one_line(nightly, 2, f"error: cannot write {missing}: no folder {missing.parent}")


def processes_with(variable: str, prefix: str) -> list[int]:
    """The processes whose environment holds ``variable`` with a value under ``prefix``: a record's asv and
    every child of it (the night's side files go to a staging folder of a name of its own)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(item.startswith(f"{variable}={prefix}".encode())
                   for item in (proc / "environ").read_bytes().split(b"\0")):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def commands(pids: list[int]) -> list[bytes]:
    """The asv entry points (run_server, setup_cache, ...) of ``pids``: the word after asv's benchmark.py."""
    found = []
    for pid in pids:
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        found += [words[i + 1] for i, word in enumerate(words[:-1]) if word.endswith(b"benchmark.py")]
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="reads /proc: Linux")
def test_a_record_killed_with_sigkill_leaves_no_process_of_it_behind(tmp_path):
    """kill -9 of the recorder mid-night: asv, its forkserver and the measuring child end with it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import TOOLS

    (commit,) = make_standin_repo(tmp_path / "repo", ["A"])
    (tmp_path / "home").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    record = subprocess.Popen([sys.executable, str(TOOLS / "record_run.py"), "--grid", "cpu", "--repo",
                               str(tmp_path / "repo"), "--commit", commit, "--results-dir", str(tmp_path / "results"),
                               "--machine", "ci"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dispatch = f"{tmp_path}/"
    deadline = time.monotonic() + 120
    # asv's forkserver and the night's setup_cache child, each in a process group of its own (asv's doing).
    while not {b"run_server", b"setup_cache"} <= set(commands(processes_with("ATTENTION_BIAS_DISPATCH_FILE",
                                                                             dispatch))):
        assert time.monotonic() < deadline and record.poll() is None, "the night never started"
        time.sleep(0.02)
    record.send_signal(signal.SIGKILL)
    record.wait()
    deadline = time.monotonic() + 30
    while (left := processes_with("ATTENTION_BIAS_DISPATCH_FILE", dispatch)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == []
    assert not list(tmp_path.rglob(f"{commit}.night"))  # nothing wrote the night afterwards, staged or landed


def test_two_records_at_once_into_two_folders_each_keep_their_own_night(tmp_path):
    """Each record writes its own conf copy: neither night lands in the other's folder."""
    import os
    import subprocess
    import sys

    from conftest import TOOLS

    commits = make_standin_repo(tmp_path / "repo", ["A", "B"])
    (tmp_path / "home").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    records = [subprocess.Popen([sys.executable, str(TOOLS / "record_run.py"), "--grid", "cpu", "--repo",
                                 str(tmp_path / "repo"), "--commit", commit, "--results-dir", str(tmp_path / name),
                                 "--machine", "ci"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
               for name, commit in (("first", commits[0]), ("second", commits[1]))]
    outputs = [record.communicate(timeout=300)[0] for record in records]
    assert [record.returncode for record in records] == [0, 0], outputs
    for name, commit in (("first", commits[0]), ("second", commits[1])):
        runs = sorted(p.name for p in (tmp_path / name / "ci").glob("*.json") if p.name != "machine.json")
        assert runs == [p for p in runs if p.startswith(commit[:8])] and len(runs) == 1, (name, runs)
        assert (tmp_path / name / "ci" / f"{commit}.night").is_file()


def test_the_injectors_sleep_rate_is_kept_per_gpu_beside_its_spec_and_one_it_cannot_use_is_taken_again(
        tmp_path, monkeypatch):
    """A rate taken once per environment and GPU (a rate taken right after a config at the power cap came
    out 21% low): a damaged or impossible one is measured again, never a slowdown of 0 or of infinity."""
    from conftest import REPO_ROOT

    monkeypatch.syspath_prepend(str(REPO_ROOT / "inject"))
    import attention_slowdown as injector

    spec = str(tmp_path / "spec.json")
    assert injector.kept_rate(spec, "NVIDIA H200") is None
    injector.keep_rate(spec, "NVIDIA H200", 1881.8)
    injector.keep_rate(spec, "NVIDIA H100", 1700.0)
    assert [injector.kept_rate(spec, gpu) for gpu in ("NVIDIA H200", "NVIDIA H100", "NVIDIA B200")] == [
        1881.8, 1700.0, None]
    kept = Path(spec + injector.RATE_SUFFIX)
    for text in ("{", "[]", '"x"', '{"NVIDIA H200": 0}', '{"NVIDIA H200": -3}', '{"NVIDIA H200": "fast"}',
                 '{"NVIDIA H200": Infinity}', '{"NVIDIA H200": NaN}', "[" * 100_000):
        kept.write_text(text)
        assert injector.kept_rate(spec, "NVIDIA H200") is None, text
        injector.keep_rate(spec, "NVIDIA H200", 2.5)  # over the damaged file
        assert injector.kept_rate(spec, "NVIDIA H200") == 2.5
    assert sorted(path.name for path in tmp_path.iterdir()) == ["spec.json" + injector.RATE_SUFFIX]
    unwritable = str(tmp_path / "missing" / "spec.json")
    injector.keep_rate(unwritable, "NVIDIA H200", 2.5)  # no folder: each process takes its own rate
    assert injector.kept_rate(unwritable, "NVIDIA H200") is None and not (tmp_path / "missing").exists()


def test_a_gpu_slowdown_spins_its_calibrated_length_on_the_gpu_it_was_calibrated_on_else_at_the_rate(
        tmp_path, monkeypatch):
    """install keeps each slowdown's tuned cycles per GPU and amount (at the rate alone a "+5%" added 0.6-1.7
    of its amount on an H200); another GPU, slowdown or amount, a damaged length or one beyond
    CALIBRATION_RANGE of the rate's: the rate. The forward spins it, the files read once."""
    import torch
    from conftest import REPO_ROOT

    monkeypatch.syspath_prepend(str(REPO_ROOT / "inject"))
    import attention_slowdown as injector

    spec = str(tmp_path / "spec.json")
    calibrated = {"config": "1, 16, (128, 256), 2048, 'bfloat16'", "mask": "causal_bias", "gpu_us": 2.0}
    other, more = {**calibrated, "mask": "materialized"}, {**calibrated, "gpu_us": 2.5}
    kept = spec + injector.SPIN_SUFFIX
    injector.keep_rate(spec, "NVIDIA H200", 1900.0)
    injector.keep_rate(spec, "NVIDIA H100", 1700.0)
    injector.keep_for_gpu(kept, "NVIDIA H200", {injector.entry_key(calibrated): 4321})
    for gpu, expected in (("NVIDIA H200", [4321, 3800, 4750]), ("NVIDIA H100", [3400, 3400, 4250])):
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda gpu=gpu: gpu)
        assert [injector._spin_cycles(entry, spec) for entry in (calibrated, other, more)] == expected, gpu
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "NVIDIA H200")
    assert injector.CALIBRATION_RANGE == 4.0
    for length, spun in ((950, 950), (15200, 15200), (949, 3800), (15201, 3800), (0, 3800), (-5, 3800),
                         (4321.5, 3800), ("4321", 3800), (None, 3800), (True, 3800)):
        injector.keep_for_gpu(kept, "NVIDIA H200", {injector.entry_key(calibrated): length})
        assert injector._spin_cycles(calibrated, spec) == spun, length
    injector.keep_for_gpu(kept, "NVIDIA H200", {injector.entry_key(calibrated): 4321})
    spins: list[int] = []
    monkeypatch.setattr(torch.cuda, "_sleep", spins.append)
    query = type("CudaQuery", (), {"is_cuda": True})()
    entry = dict(calibrated)
    injector._apply(entry, query, spec)
    injector.keep_for_gpu(kept, "NVIDIA H200", {injector.entry_key(calibrated): 1234})
    injector._apply(entry, query, spec)
    injector._apply({**calibrated, "gpu_us": 0.0}, query, spec)
    assert spins == [4321, 4321]


def test_installing_a_gpu_slowdown_without_cuda_leaves_its_spin_at_the_rate_and_says_so(tmp_path):
    """Only CUDA can measure a step: without it, install says the spins stay at the sleep rate and installs
    (with --baseline-python too); in a Python that cannot run a slowdown (no torch) it fails on one line, and
    no slowdown is left installed there."""
    import subprocess
    import sys

    from conftest import contender_environment

    spec = tmp_path / "spec.json"
    entry = {"config": "1, 4, (16, 48), 64, 'float32'", "mask": "materialized", "cpu_us": 0.0, "extra_ops": 0}
    python = contender_environment(tmp_path / "contender")
    no_cuda = "no CUDA device: the GPU slowdowns spin at the sleep rate, their steps not measured\n"
    for gpu_us, baseline, said in ((0.0, [], ""), (3.0, [], no_cuda),
                                   (3.0, ["--baseline-python", sys.executable], no_cuda)):
        spec.write_text(json.dumps({"slowdowns": [{**entry, "gpu_us": gpu_us}]}))
        installed = run_tool("inject.py", "install", "--python", str(python), "--spec", str(spec), *baseline)
        assert installed.returncode == 0, installed.stderr
        pth = installed.stdout.splitlines()[-1].removeprefix("installed ")
        assert installed.stdout == f"{said}installed {pth}\n" and Path(pth).is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["contender", "spec.json"]
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    bare = tmp_path / "bare" / "bin" / "python"
    pth = Path(subprocess.run([str(bare), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()) / "attention_slowdown.pth"
    installed = run_tool("inject.py", "install", "--python", str(bare), "--spec", str(spec))
    assert_one_line(installed, 2, f"cannot run the slowdowns in {bare} (no slowdown is installed): "
                                  "ModuleNotFoundError: No module named 'torch'")
    assert not pth.exists()


@pytest.mark.parametrize("amount", [["--cpu", "1e9"], ["--cpu", "inf"], ["--gpu", "nan"], ["--gpu", "-0.5"],
                                    ["--extra-ops", "100000000"]])
def test_an_impossible_injected_slowdown_is_refused_before_any_night_is_read(tmp_path, amount):
    completed = run_tool("inject.py", "plan", "--results-dir", str(tmp_path / "none"), *amount,
                         "--out", str(tmp_path / "spec.json"))
    assert_one_line(completed, 2, f"{amount[0]} must be")
    assert not (tmp_path / "spec.json").exists()


@pytest.mark.parametrize("entry", [{"cpu_us": float("inf")}, {"gpu_us": 1e12}, {"cpu_us": -1.0}, {"extra_ops": 1e9},
                                   {"cpu_us": "1"}, {"mask": "other"}])
def test_a_spec_with_an_impossible_slowdown_is_neither_installed_nor_packaged(tmp_path, entry):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"slowdowns": [{"config": "1, 4, (16, 48), 64, 'float32'", "mask": "materialized",
                                               **entry}]}))
    for command in (["install", "--python", str(tmp_path / "no-python")], ["wheel", "--out", str(tmp_path)]):
        completed = run_tool("inject.py", *command, "--spec", str(spec))
        assert completed.returncode == 2 and completed.stderr.count("\n") == 1, completed.stderr
        assert str(spec) in completed.stderr and "Traceback" not in completed.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"]


@pytest.mark.parametrize("out, version, code", [("new-folder", "1.0+local", 0), ("a-file", "1.0", 2),
                                                 ("new-folder", "../1", 2), ("new-folder", "", 2)])
def test_a_wheel_goes_into_a_folder_made_for_it_never_into_a_file_or_under_a_version_with_a_path(tmp_path, out,
                                                                                                version, code):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"slowdowns": [{"config": "1, 4, (16, 48), 64, 'float32'", "mask": "materialized",
                                               "cpu_us": 1.0}]}))
    (tmp_path / "a-file").write_text("")
    completed = run_tool("inject.py", "wheel", "--spec", str(spec), "--out", str(tmp_path / out),
                         "--version", version)
    if code:
        assert_one_line(completed, 2, "not a folder" if out == "a-file" else "not a version")
        assert not (tmp_path / "new-folder").exists()
    else:
        assert completed.returncode == 0, completed.stderr
        assert [p.name for p in (tmp_path / out).iterdir()] == [f"attention_slowdown-{version}-py3-none-any.whl"]


def test_a_plan_into_a_missing_folder_is_refused_before_any_night_is_read(tmp_path):
    completed = run_tool("inject.py", "plan", "--results-dir", str(tmp_path / "none"), "--cpu", "0.1",
                         "--out", str(tmp_path / "missing" / "spec.json"))
    assert_one_line(completed, 2, f"cannot write {tmp_path / 'missing' / 'spec.json'}: no folder")


def test_a_wheel_whose_version_py_is_not_utf8_is_no_match_not_a_crash(tmp_path):
    import zipfile

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl", "w") as archive:
        archive.writestr("torch/version.py", b"# \xff\xfe\ngit_version = '" + b"a" * 40 + b"'\n")
    completed = run_tool("torch_wheel_for_commit.py", "--wheels", str(wheels), "--commit", "a" * 40)
    assert_one_line(completed, 2, "a" * 12)


@pytest.mark.parametrize("error, raised", [
    (OSError(errno.ENOSPC, "No space left on device"), OSError),  # the machine's: exit 3
    (OSError(errno.EDQUOT, "Disk quota exceeded"), OSError),
    (OSError(errno.EIO, "Input/output error"), OSError),
    (IsADirectoryError(errno.EISDIR, "Is a directory"), cli.ToolError),  # the user's: exit 2
    (PermissionError(errno.EACCES, "Permission denied"), cli.ToolError),
])
def test_a_report_that_cannot_be_written_is_the_machine_s_fault_or_the_user_s(tmp_path, monkeypatch, error, raised):
    def failing(path, text):
        raise error

    monkeypatch.setattr(cli, "write_whole", failing)
    with pytest.raises(raised) as caught:
        cli.write_report(tmp_path / "report.md", "# report\n")
    assert (caught.value is error) == (raised is OSError)


def test_a_night_that_measured_nothing_of_the_last_nights_grid_is_a_broken_night_not_a_clean_one(tmp_path):
    """Every result failed (a setup_cache that timed out, a CUDA that broke): no result is compared, which
    must not read as a night without regression."""
    results = two_nights(tmp_path)
    failed = {"track_wall_time_materialized": [None] * 4, "track_wall_time_causal_bias": [None] * 4}
    write_run(results, "box", "c" * 40, 3_000, failed)
    completed = run_tool("check_regressions.py", "--results-dir", str(results))
    assert_one_line(completed, 3, f"tonight (cccccccc) measured no result of the CPU grid, which the last night "
                                  f"({NEW[:8]}) measured: a broken night, not judged")
    assert completed.stdout == ""


def run_into_a_closed_pipe(script: str, *args: str, buffered: bool, stderr_too: bool = False,
                           home: Path | None = None) -> int:
    """A tool's exit code where its reader has gone before it printed (a dead log collector, ``| head``): its
    stdout (and ``stderr_too``, as ``2>&1`` into that collector) a pipe with no reader, block-buffered as a pipe
    is unless PYTHONUNBUFFERED says otherwise (``buffered``)."""
    read, write = os.pipe()
    os.close(read)
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED" or not buffered}
    env |= {"HOME": str(home)} if home else {}
    try:
        return subprocess.run([sys.executable, str(TOOLS / script), *args], stdout=write, env=env,
                              stderr=write if stderr_too else subprocess.DEVNULL).returncode
    finally:
        os.close(write)


@pytest.mark.parametrize("stderr_too", [False, True])
def test_a_night_whose_reader_has_gone_is_recorded_all_the_same(tmp_path, stderr_too):
    """asv printed onto the tool's own descriptor: its first line into a closed pipe killed it, before it
    measured anything, and the record exited 2 with no night."""
    (commit,) = make_standin_repo(tmp_path / "repo", ["A"])
    (tmp_path / "home").mkdir()
    code = run_into_a_closed_pipe("record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit",
                                  commit, "--results-dir", str(tmp_path / "results"), "--machine", "ci",
                                  buffered=True, stderr_too=stderr_too, home=tmp_path / "home")
    assert code == 0
    assert (tmp_path / "results" / "ci" / f"{commit}.night").is_file()
    night = [p for p in (tmp_path / "results" / "ci").glob("*.json") if p.name != "machine.json"]
    assert len(night) == 1 and json.loads(night[0].read_text())["commit_hash"] == commit


def nights_with_a_count_regression(results: Path) -> Path:
    for index in range(4):  # three clean nights, then one more operator: an exact count's regression
        walls = {f"track_wall_time_{mask}": [1e-3] * 4 for mask in ("materialized", "causal_bias")}
        write_run(results, "box", str(index + 1) * 40, 1_000 + index, walls,
                  figures={"track_aten_ops_causal_bias": [86.0 if index == 3 else 85.0] * 4})
    return results


@pytest.mark.parametrize("buffered", [True, False])
@pytest.mark.parametrize("stderr_too", [False, True])
def test_a_regression_whose_reader_has_gone_still_exits_1_and_writes_its_report_and_suspects(
        tmp_path, buffered, stderr_too):
    results = nights_with_a_count_regression(tmp_path / "results")
    code = run_into_a_closed_pipe("check_regressions.py", "--results-dir", str(results), "--record-verdict",
                                  "--report", str(tmp_path / "report.md"), buffered=buffered, stderr_too=stderr_too)
    assert code == 1
    assert "aten_ops" in (tmp_path / "report.md").read_text()
    assert (results / "box" / ("4" * 40 + ".verdict")).is_file()


@pytest.mark.parametrize("buffered", [True, False])
@pytest.mark.parametrize("args, code", [(("--all",), 0), (("--commit", "nothing"), 2)])
def test_a_tool_whose_reader_has_gone_keeps_its_exit_code(tmp_path, buffered, args, code):
    results = str(two_nights(tmp_path))
    assert run_into_a_closed_pipe("speedup_summary.py", "--results-dir", results, *args, buffered=buffered,
                                  stderr_too=True) == code
