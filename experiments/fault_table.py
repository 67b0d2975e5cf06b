#!/usr/bin/env python3
"""The fault table of issue #22: every tool under faults, races and hostile input, on real CPU nights.

Once, into a work folder: a stand-in repository, --nights real nights of the CPU grid
(tools/record_run.py) and their asv pages. Then each case on a fresh copy of them, in a
folder of its own: the command's exit code, whether a traceback was printed, whether it
hung (ran past --timeout, then killed with its process group), and how many files of the
case's folder (its copy of the results and its own inputs) changed, appeared or went.

Prints a markdown table, then a note per case where there is more to say (processes
left by a kill, where a night landed). Cases that need a mount (a full disk, a read-only
folder) mount a small tmpfs where the user may (root); elsewhere they say so.
Run from the repository root with the project's venv: about two minutes on 2 CPUs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools"
PYTHON = sys.executable
MACHINE = "ci"
MARK = "FAULT_TABLE_MARK"  # inherited by every process a case starts: what a kill may leave behind


@dataclasses.dataclass
class Outcome:
    code: str
    output: str = ""
    hang: bool = False
    note: str = ""


@dataclasses.dataclass
class Base:
    """What every case starts from: the stand-in repository, the real nights, their pages."""

    work: Path
    repo: Path
    home: Path
    results: Path
    html: Path
    nights: list[str]
    spare: list[str]  # commits of the repository no night was recorded at
    tag: str


Action = Callable[[], Outcome]


# ---------------------------------------------------------------- running things


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def environment(base: Base, mark: str) -> dict[str, str]:
    return {**os.environ, "HOME": str(base.home), MARK: mark}


def run(command: list[str], env: dict[str, str], timeout: float) -> Outcome:
    """A command in a session of its own: past ``timeout`` it and everything it started are killed."""
    with subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            return Outcome("-", out + err, hang=True)
    return Outcome(str(process.returncode), out + err)


def tool(base: Base, folder: Path, timeout: float, script: str, *args: str) -> Action:
    return lambda: run([PYTHON, str(TOOLS / script), *args], environment(base, str(folder)), timeout)


def marked(value: str) -> list[int]:
    """Processes whose environment holds MARK=value."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if f"{MARK}={value}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def changed(before: dict[str, str], after: dict[str, str]) -> int:
    return sum(1 for name in before.keys() | after.keys() if before.get(name) != after.get(name))


# ---------------------------------------------------------------- mounts (root only)


def mount_tmpfs(folder: Path, stack: contextlib.ExitStack, size: str = "16m") -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        return False
    stack.callback(lambda: subprocess.run(["umount", "-l", str(folder)], capture_output=True))
    return True


def read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)


# ---------------------------------------------------------------- the cases


def record(base: Base, folder: Path, timeout: float, commit: str, results: Path, *extra: str) -> Action:
    return tool(base, folder, timeout, "record_run.py", "--grid", "cpu", "--repo", str(base.repo), "--commit", commit,
                "--results-dir", str(results), "--machine", MACHINE, *extra)


def deep_verdict(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    (d / "results" / MACHINE / f"{base.nights[0]}.verdict").write_text("[" * 100_000 + "]" * 100_000)
    return tool(base, d, t, "check_regressions.py", "--results-dir", str(d / "results"))


def deep_benchmarks(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    (d / "results" / "benchmarks.json").write_text("[" * 100_000 + "]" * 100_000)
    return tool(base, d, t, "speedup_summary.py", "--results-dir", str(d / "results"))


def report_missing(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    return tool(base, d, t, "check_regressions.py", "--results-dir", str(d / "results"), "--record-verdict",
                "--report", str(d / "missing" / "report.md"))


def report_read_only(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    if mount_tmpfs(d / "ro", stack, "1m"):
        read_only(d / "ro")
    else:
        (d / "ro").chmod(0o555)
    return tool(base, d, t, "check_regressions.py", "--results-dir", str(d / "results"),
                "--report", str(d / "ro" / "report.md"))


def verdict_read_only(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    results = d / "ro" / "results"
    if mount_tmpfs(d / "ro", stack):
        shutil.copytree(d / "results", results)
        read_only(d / "ro")
    else:
        shutil.copytree(d / "results", results)
        (results / MACHINE).chmod(0o555)
    return tool(base, d, t, "check_regressions.py", "--results-dir", str(results), "--record-verdict")


def damaged_pages(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    shutil.copytree(base.html, d / "html")
    regressions = d / "html" / "regressions.json"
    regressions.write_bytes(regressions.read_bytes()[: regressions.stat().st_size // 2])
    return tool(base, d, t, "check_regressions.py", "--results-dir", str(d / "results"), "--html-dir", str(d / "html"))


def processes_huge(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    return tool(base, d, t, "check_regressions.py", "--results-dir", str(d / "results"), "--processes", "1000000000",
                "--baseline-python", PYTHON, "--contender-python", PYTHON)


def fake_torch_wheel(folder: Path, version_py: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("torch/version.py", version_py)
        archive.writestr("torch/__init__.py", "")
    return path


def wheel_not_utf8(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    fake_torch_wheel(d / "wheels", b"__version__ = '2.13.0'\n# \xff\xfe\ngit_version = '" + b"a" * 40 + b"'\n")
    return tool(base, d, t, "torch_wheel_for_commit.py", "--wheels", str(d / "wheels"), "--commit", "a" * 40)


def wheel_index_outside(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    fake_torch_wheel(d / "outside", f"git_version = '{'a' * 40}'\n".encode())
    (d / "wheels").mkdir()
    (d / "wheels" / "torch-wheels.json").write_text(json.dumps(
        {"a" * 40: ["../outside/torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl"]}))
    return tool(base, d, t, "torch_wheel_for_commit.py", "--wheels", str(d / "wheels"), "--commit", "a" * 40)


def wheel_index_absolute(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    wheel = fake_torch_wheel(d / "outside", f"git_version = '{'a' * 40}'\n".encode())
    (d / "wheels").mkdir()
    (d / "wheels" / "torch-wheels.json").write_text(json.dumps({"a" * 40: [str(wheel)]}))
    return tool(base, d, t, "torch_wheel_for_commit.py", "--wheels", str(d / "wheels"), "--commit", "a" * 40)


def plan_out_missing(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    return tool(base, d, t, "inject.py", "plan", "--results-dir", str(d / "results"), "--cpu", "0.1",
                "--out", str(d / "missing" / "spec.json"))


def impossible_plan(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    return tool(base, d, t, "inject.py", "plan", "--results-dir", str(d / "results"), "--cpu", "1e9",
                "--out", str(d / "spec.json"))


def impossible_spec(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    (d / "spec.json").write_text('{"slowdowns": [{"config": "1, 4, (16, 48), 64, \'float32\'", '
                                 '"mask": "materialized", "cpu_us": Infinity}]}')
    return tool(base, d, t, "inject.py", "install", "--python", PYTHON, "--spec", str(d / "spec.json"))


def full_disk(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    if not mount_tmpfs(d / "disk", stack):
        return lambda: Outcome("skipped", note="cannot mount a tmpfs here (needs root)")
    shutil.copytree(d / "results", d / "disk" / "results")
    sys.path[:0] = [str(ROOT / "tests"), str(TOOLS)]
    from test_faults_disk import fill  # the tests' own way of taking every byte left

    fill(d / "disk")
    return record(base, d, t, base.spare[0], d / "disk" / "results")


def synthetic_over_results(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    return tool(base, d, t, "synthetic_history.py", "--out", str(d / "results"), "--days", "2",
                "--benchmarks-json", str(d / "results" / "benchmarks.json"))


def machine_escape(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    return tool(base, d, t, "record_run.py", "--grid", "cpu", "--repo", str(base.repo), "--commit", base.spare[0],
                "--results-dir", str(d / "results"), "--machine", "../escape")


def machine_absolute(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    outside = Path(tempfile.mkdtemp(prefix="fault-table-absolute-")) / "machine"
    stack.callback(lambda: shutil.rmtree(outside.parent, ignore_errors=True))
    action = tool(base, d, t, "record_run.py", "--grid", "cpu", "--repo", str(base.repo), "--commit", base.spare[0],
                  "--results-dir", str(d / "results"), "--machine", str(outside))

    def checked() -> Outcome:
        outcome = action()
        outcome.note = f"{outside} {'written' if outside.exists() else 'not written'}"
        return outcome

    return checked


def landed_as(d: Path, commit: str) -> str:
    night = d / "results" / MACHINE / f"{commit}.night"
    return f"{night.name[:12]}... {'present' if night.is_file() else 'missing'}"


def named_night(action: Action, d: Path, commit: str) -> Action:
    """The record, and whether its night's side file is named by the full hash."""
    def checked() -> Outcome:
        outcome = action()
        if outcome.code == "0":
            outcome.note = f"night named {landed_as(d, commit)}"
        return outcome

    return checked


def commit_prefix(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    return named_night(record(base, d, t, base.spare[1][:7], d / "results"), d, base.spare[1])


def commit_tag(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    return named_night(record(base, d, t, base.tag, d / "results"), d, base.spare[2])


def two_records(base: Base, d: Path, t: float, folders: tuple[Path, Path]) -> Outcome:
    env = environment(base, str(d))
    commands = [[PYTHON, str(TOOLS / "record_run.py"), "--grid", "cpu", "--repo", str(base.repo), "--commit", commit,
                 "--results-dir", str(folder), "--machine", MACHINE]
                for commit, folder in zip(base.spare[:2], folders)]
    processes = [subprocess.Popen(c, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True) for c in commands]
    outputs, hang = [], False
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=t)[0])
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            outputs.append(process.communicate()[0])
            hang = True
    own = [f"{folder.name}: {sorted(p.name[:8] for p in (folder / MACHINE).glob('*.json') if p.name != 'machine.json')}"
           for folder in folders]
    return Outcome(" and ".join(str(p.returncode) for p in processes), "\n".join(outputs), hang,
                   "; ".join(own))


def two_records_one_folder(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    return lambda: two_records(base, d, t, (d / "results", d / "results"))


def two_records_two_folders(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    shutil.copytree(d / "results", d / "results2")
    return lambda: two_records(base, d, t, (d / "results", d / "results2"))


def killed(base: Base, d: Path, t: float, command: list[str], started: Callable[[list[int]], bool]) -> Outcome:
    """kill -9 of ``command`` once ``started`` says its children run; the processes of it left after."""
    env = environment(base, str(d))
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + t
    while not started(marked(str(d))) and process.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if process.poll() is not None:
        return Outcome(str(process.returncode), process.stderr.read() if process.stderr else "",
                       note="ended before it could be killed")
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 30
    while (left := marked(str(d))) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:  # what the kill left: ended here, so that the next case starts clean
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    staged = [p.name for p in d.iterdir() if ".staging-" in p.name]
    return Outcome("-9 (killed)", process.stderr.read() if process.stderr else "",
                   note=f"{len(left)} process(es) of it left after the kill"
                   + (f"; its staging folder stays until the next record: {staged[0]}" if staged else ""))


def kill_record(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    command = [PYTHON, str(TOOLS / "record_run.py"), "--grid", "cpu", "--repo", str(base.repo), "--commit",
               base.spare[0], "--results-dir", str(d / "results"), "--machine", MACHINE]
    return lambda: killed(base, d, t, command, lambda pids: len(pids) >= 5)  # tool, supervisor, asv, server, night


def kill_remeasure(base: Base, d: Path, t: float, stack: contextlib.ExitStack) -> Action:
    """A hand-made step over the copied nights' configs makes candidates; the check re-measures them."""
    sys.path[:0] = [str(ROOT / "tests"), str(TOOLS)]
    from results_factory import write_run

    history = d / "history"
    for index, step in enumerate((1.0, 1.0, 1.3)):
        walls = {f"track_wall_time_{mask}": [100e-6 * step] * 4 for mask in ("materialized", "causal_bias")}
        write_run(history, "box", f"{index + 1:08x}" + "c" * 32, 1_000_000 + index * 86_400_000, walls)
    command = [PYTHON, str(TOOLS / "check_regressions.py"), "--results-dir", str(history), "--baseline-python",
               PYTHON, "--contender-python", PYTHON, "--processes", "1000", "--budget", "86400"]
    # The tool, and a supervisor and its worker for each of a side's two workers (remeasure.WORKERS_PER_SIDE).
    return lambda: killed(base, d, t, command, lambda pids: len(pids) >= 9)


CASES: dict[str, tuple[str, Callable[[Base, Path, float, contextlib.ExitStack], Action]]] = {
    "deep-verdict": ("JSON nested 100,000 deep (.verdict; check_regressions)", deep_verdict),
    "deep-benchmarks": ("JSON nested 100,000 deep (benchmarks.json; speedup_summary)", deep_benchmarks),
    "report-missing": ("--report into a missing folder", report_missing),
    "report-read-only": ("--report into a read-only folder", report_read_only),
    "verdict-read-only": ("--record-verdict into a read-only results folder", verdict_read_only),
    "damaged-pages": ("damaged asv pages under --html-dir (regressions.json cut)", damaged_pages),
    "processes-huge": ("--processes 1000000000", processes_huge),
    "wheel-not-utf8": ("wheel whose torch/version.py is not UTF-8", wheel_not_utf8),
    "plan-out-missing": ("inject.py plan --out into a missing folder", plan_out_missing),
    "full-disk": ("full disk during a night", full_disk),
    "two-records-one-folder": ("two records at once into one folder", two_records_one_folder),
    "two-records-two-folders": ("two records at once into two folders", two_records_two_folders),
    "synthetic-over-results": ("synthetic_history.py --out a real results folder", synthetic_over_results),
    "machine-escape": ("--machine ../escape", machine_escape),
    "machine-absolute": ("--machine /absolute/path", machine_absolute),
    "commit-prefix": ("--commit a 7-character prefix", commit_prefix),
    "commit-tag": ("--commit a tag", commit_tag),
    "impossible-plan": ("inject.py plan --cpu 1e9 (impossible slowdown)", impossible_plan),
    "impossible-spec": ("inject.py install of a spec with cpu_us Infinity", impossible_spec),
    "wheel-index-outside": ("torch-wheels.json entry ../outside the wheel folder", wheel_index_outside),
    "wheel-index-absolute": ("torch-wheels.json entry an absolute path", wheel_index_absolute),
    "kill-record": ("kill -9 of a record mid-night", kill_record),
    "kill-remeasure": ("kill -9 of a check while re-measuring", kill_remeasure),
}


# ---------------------------------------------------------------- the table


def prepare(work: Path, nights: int) -> Base:
    """The stand-in repository, ``nights`` real CPU nights and their pages, made once."""
    repo, home, results = work / "base" / "repo", work / "base" / "home", work / "base" / "results"
    repo.mkdir(parents=True)
    home.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commits = []
    for index in range(nights + 3):
        git(repo, "commit", "-q", "--allow-empty", "-m", f"commit {index}")
        commits.append(git(repo, "rev-parse", "HEAD"))
    git(repo, "tag", "fault-tag", commits[-1])
    base = Base(work, repo, home, results, work / "base" / "html", commits[:nights], commits[nights:], "fault-tag")
    for commit in base.nights:
        print(f"recording night {commit[:8]} ...", file=sys.stderr)
        outcome = record(base, work, 600, commit, results)()
        if outcome.code != "0":
            raise SystemExit(f"the night {commit[:8]} failed: {outcome.output[-2000:]}")
    conf = {"version": 1, "project": "attention-bias-benchmarks", "repo": str(repo), "branches": ["main"],
            "environment_type": "existing", "benchmark_dir": str(ROOT / "benchmarks"), "results_dir": str(results),
            "html_dir": str(base.html), "env_dir": str(work / "base" / "env")}
    (work / "base" / "asv.conf.json").write_text(json.dumps(conf))
    subprocess.run([PYTHON, "-m", "asv", "publish", "--config", str(work / "base" / "asv.conf.json")],
                   check=True, capture_output=True, env={**os.environ, "HOME": str(home)})
    return base


def one_case(base: Base, slug: str, timeout: float) -> tuple[Outcome, int]:
    folder = base.work / "cases" / slug
    folder.mkdir(parents=True)
    shutil.copytree(base.results, folder / "results")
    with contextlib.ExitStack() as stack:
        action = CASES[slug][1](base, folder, timeout, stack)
        before = checksums(folder)
        outcome = action()
        after = checksums(folder)
    return outcome, changed(before, after)


def table(rows: list[tuple[str, Outcome, int]]) -> str:
    lines = ["| case | exit code | traceback | hang | files changed |", "| --- | --- | --- | --- | --- |"]
    for name, outcome, count in rows:
        traceback = "yes" if "Traceback (most recent call last)" in outcome.output else "no"
        lines.append(f"| {name} | {outcome.code} | {traceback} | {'yes' if outcome.hang else 'no'} | {count} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, help="folder for the nights and the cases (default: a temporary one)")
    parser.add_argument("--nights", type=int, default=2, help="real CPU nights to start from (at least 2)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds a case may run before it is a hang")
    parser.add_argument("--case", action="append", choices=list(CASES), metavar="CASE",
                        help="run only this case (repeatable; --list names them)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--output", action="store_true", help="print each case's last output lines after the table")
    args = parser.parse_args()
    if args.list:
        print("\n".join(f"{slug}: {title}" for slug, (title, _) in CASES.items()))
        return 0
    if args.nights < 2:
        parser.error("--nights must be at least 2: the check needs a night before tonight's")
    work = args.work or Path(tempfile.mkdtemp(prefix="fault-table-"))
    work.mkdir(parents=True, exist_ok=True)
    if any(work.iterdir()):
        parser.error(f"{work} is not empty")
    try:
        base = prepare(work, args.nights)
        rows = []
        for slug in args.case or CASES:
            print(f"case {slug} ...", file=sys.stderr)
            outcome, count = one_case(base, slug, args.timeout)
            rows.append((CASES[slug][0], outcome, count))
        print(f"{len(rows)} cases on {args.nights} real CPU nights; files changed: in the case's folder "
              f"(its copy of the results and its own inputs); hang: past {args.timeout:g} s\n")
        print(table(rows))
        notes = [f"- {name}: {outcome.note}" for name, outcome, _ in rows if outcome.note]
        if notes:
            print("\n" + "\n".join(notes))
        if args.output:
            for name, outcome, _ in rows:
                print(f"\n## {name}\n" + "\n".join(outcome.output.strip().splitlines()[-3:]))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
