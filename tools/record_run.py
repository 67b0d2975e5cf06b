#!/usr/bin/env python3
"""Record one asv run of the suite with the torch installed in a Python, and say what it was recorded against.

asv labels every result with a commit of the repository that asv.conf.json names.
By default that is this suite's own repository, at HEAD: the torch that ran is
printed (and stored in the machine's results as the run's environment), but the
history axis is the suite's commit, not torch's. ``--repo`` points asv at another
repository (a PyTorch clone, or a stand-in repo whose commits are labels, as the
A/A noise experiment and the tests use).

What it records is the night: the grid's night class (AttentionBiasNight where
the Python sees CUDA, AttentionBiasNightCPU otherwise, or ``--grid``), one
measuring process for the whole grid, with its side files (operator names, the
night's visits) beside the results. asv's own time_* benchmarks are for
``asv run``/``continuous``/``profile`` by hand (README). The Python's torch is
probed in a subprocess: this tool never imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from lib.cli import (
    MACHINE_WRITE_ERRORS,
    ToolError,
    add_asv_arguments,
    importing,
    machine_name,
    one_line,
    python_path,
    read_json_object,
    run_tool,
    tool_parser,
    writable_folder,
    write_report,
    write_whole,
)

with importing():
    from asv.results import Results
    from filelock import FileLock, Timeout
    from lib.bytecode import child_environment
    from lib.conf import ASV_SOME_FAILED, asv, derived_conf, describe_machine, git_commit
    from lib.night_figures import NightFiguresError, figures_path, forked_pattern, record_night_figures
    from lib.results import NIGHT, ResultsStore, read_results
    from lib.rows import has_results
    from lib.suite import DEFAULT_CONF, REPO_ROOT, schema


TORCH_PROBE = """
import json, subprocess, torch
cuda = torch.cuda.is_available()
driver = None
if cuda:
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True).stdout.split()[0]
    except (OSError, IndexError):
        pass
print(json.dumps({
    "version": torch.__version__,
    "git_version": torch.version.git_version,
    "cuda": cuda,
    "cuda_version": torch.version.cuda,
    "device": torch.cuda.get_device_name(0) if cuda else None,
    "memory_gib": torch.cuda.get_device_properties(0).total_memory / 2**30 if cuda else None,
    "driver": driver,
}))
"""


def probe_torch(python: str) -> dict:
    """The torch of ``python``: version, git commit, whether it sees CUDA (in a subprocess)."""
    try:
        output = subprocess.run(
            [python, "-c", TORCH_PROBE], check=True, capture_output=True, text=True, env=child_environment()
        ).stdout
        return json.loads(output.strip().splitlines()[-1])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError) as error:
        detail = getattr(error, "stderr", "") or one_line(error)
        raise ToolError(f"cannot import torch with {python}: {one_line(Exception(detail))}") from None


def git_head(repo: Path) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        raise ToolError(f"{repo} is not a git repository with a commit: {one_line(error)}") from None


def full_commit(repo: Path, commit: str, of_torch: bool) -> str:
    """The full hash of a commit the labelling repository holds: asv records only at such a commit,
    and the side files are named after the full hash, whatever was typed (a tag, a prefix). ``of_torch``: the
    commit is the benchmarked torch's (--at-torch-commit)."""
    found = git_commit(repo, commit)
    if found:
        return found
    if of_torch and repo.resolve() == REPO_ROOT.resolve():  # the suite's own history holds no torch commit
        raise ToolError(f"torch's commit {commit[:12]} is not in this suite's repository: pass --repo with a "
                        "PyTorch clone")
    raise ToolError(f"commit {commit[:12]} is not in {repo}: update the clone "
                    f"(git -C {repo} fetch --filter=blob:none origin) and run again")


@contextlib.contextmanager
def one_record_at_a_time(machine_dir: Path) -> Iterator[None]:
    """A lock on the machine's results folder: a second record into it is refused, not interleaved."""
    try:
        machine_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(machine_dir / ".record.lock"))
        lock.acquire(timeout=0)
    except Timeout:
        raise ToolError(f"another record is running into {machine_dir}; wait for it to end") from None
    except OSError as error:
        if error.errno in MACHINE_WRITE_ERRORS:
            raise  # the machine's fault, not the user's: exit 3
        raise ToolError(f"cannot write into {machine_dir}: {one_line(error)}") from None
    try:
        yield
    finally:
        lock.release()


class StagingError(Exception):
    """A file asv or the night wrote does not parse: left out of the results, the tool's own failure (exit 3)."""


STAGING = ".staging-"


@contextlib.contextmanager
def staging_folder(results_dir: Path, machine: str) -> Iterator[Path]:
    """A folder beside the results folder (outside the tree asv publish walks; the same filesystem but where
    the results folder is a mount point: ``moved``) that asv writes into; removed afterwards. Under the
    machine's lock: a staging folder of this machine left by a record killed earlier is this project's own
    and goes."""
    prefix = f".{results_dir.name}.{machine}{STAGING}"
    for stale in results_dir.parent.glob(f"{prefix}*"):
        shutil.rmtree(stale, ignore_errors=True)
    try:
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=results_dir.parent))
    except OSError as error:
        if error.errno in MACHINE_WRITE_ERRORS:
            raise
        raise ToolError(f"cannot write beside {results_dir}: {one_line(error)}") from None
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def staged_conf(conf_path: Path, conf: dict, staging: Path, machine: str, commit: str) -> None:
    """Point the run's conf copy at the staging folder, with the commit's results already there:
    asv merges a run into an existing results file of the same commit (a --bench of a few)."""
    write_whole(conf_path, json.dumps({**conf, "results_dir": str(staging)}, indent=2))
    (staging / machine).mkdir()
    for earlier in (Path(conf["results_dir"]) / machine).glob(f"{commit[:8]}-*.json"):
        if parses(earlier):
            shutil.copy2(earlier, staging / machine / earlier.name)
            # asv keeps one result per commit and environment: a second night of one commit and Python replaces
            # the first's values; of another Python, it lands beside it, and the tools read the newer.
            print(f"note: {earlier.name} already holds a run of commit {commit[:8]} on {machine!r}: this run's "
                  "values replace its values where it is of the same Python (asv keeps one result per commit and "
                  "environment), else the tools read this run's; the night's side files are this run's",
                  flush=True)


def parses(path: Path) -> bool:
    """Whether a staged file reads back: a results file as the tools read it (lib.results, which refuses what
    no tool could judge), any other as the JSON object every reader of a side file takes (lib.cli)."""
    try:
        if path.suffix == ".json" and path.name not in ("machine.json", "benchmarks.json"):
            read_results(path)
        else:
            read_json_object(path, "corrupt")
    except (ToolError, OSError, ValueError, RecursionError):
        return False
    return True


def land(staging: Path, results_dir: Path, machine: str) -> None:
    """Move what asv and the night wrote into the results folder, each file only once it parses.

    Side files first, the night's results last: a results file in the folder has its side files
    beside it. A damaged results file holds its night's side files back with it.
    """
    staged = [path for path in (staging / machine).iterdir() if not path.name.startswith(".")]
    shared = [staging / "benchmarks.json"] if (staging / "benchmarks.json").exists() else []
    sides = [p for p in staged if p.suffix != ".json" or p.name == "machine.json"]
    runs = [p for p in staged if p not in sides]
    damaged = [path for path in shared + staged if not parses(path)]
    night_lost = any(path in damaged for path in runs)
    for path in shared + sides + runs:
        held_back = night_lost and path.suffix != ".json"  # the side files of a night that did not land
        if path not in damaged and not held_back:
            moved(path, results_dir / path.relative_to(staging))
    if damaged:
        names = ", ".join(str(path.relative_to(staging)) for path in damaged)
        raise StagingError(f"left out of {results_dir}, does not parse: {names}"
                           + ("; the night's side files held back with it" if night_lost else ""))


def moved(source: Path, destination: Path) -> None:
    """``source`` renamed onto ``destination`` at once; where the results folder is another filesystem than
    its parent's staging folder (a mount point), copied beside the destination first, then renamed there:
    never half a file under the destination's name."""
    try:
        os.replace(source, destination)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        landing = destination.with_name(f".{destination.name}{STAGING}")
        shutil.copy2(source, landing)
        os.replace(landing, destination)
        source.unlink()


# Free bytes below which a failed asv run is put down to a full disk, the machine's fault (exit 3).
FULL_DISK_BYTES = 1 << 20


def space_left(folder: Path) -> None:
    """After asv failed: where the disk it wrote to is full, say that (exit 3), not asv's exit code (exit 2)."""
    if shutil.disk_usage(folder).free < FULL_DISK_BYTES:
        raise OSError(errno.ENOSPC, f"no space left beside {folder}: asv could not write the night")


def record(args: argparse.Namespace, torch_info: dict, staging: Path, conf_path: Path, commit: str,
           grid: schema.Grid) -> int:
    """Describe the machine and run asv over the grid's night into ``staging``, its figures recorded with it
    (tools/lib/night_figures.py); asv's exit code, ASV_SOME_FAILED where a recorded figure failed."""
    describe_machine(args.machine, torch_info)
    # The night's setup_cache writes each config's operator and kernel names, its visits and its figures there.
    dispatch = staging / args.machine / f"{commit}{schema.DISPATCH_SUFFIX}"
    os.environ[schema.DISPATCH_FILE_VARIABLE] = str(dispatch)
    if not args.bench:
        os.environ[schema.NIGHT_ONLY_VARIABLE] = "1"
    extra = [a for a in args.asv_args if a != "--"]
    code = asv("run", "--environment", f"existing:{args.python}", "--set-commit-hash", commit,
               "--machine", args.machine, "--bench", args.bench or forked_pattern(grid),
               "--record-samples", "--show-stderr", *extra, conf=conf_path, allowed=(0, ASV_SOME_FAILED))
    failed = 0
    if not args.bench:
        results = commit_run(staging, args.machine, commit)
        if results is None:
            raise NightFiguresError(f"asv left no results of the night that read in {staging}: its figures "
                                    "cannot be recorded")
        failed = record_night_figures(staging, results, dispatch, grid)
    figures_path(dispatch).unlink(missing_ok=True)  # its values are in asv's results: never a side file
    return ASV_SOME_FAILED if failed else code


class NothingMeasured(Exception):
    """asv ran the night and every result failed: recorded as failed, a broken job (exit 3), never a night."""


def commit_run(results_dir: Path, machine: str, commit: str, source: str | None = NIGHT) -> Results | None:
    """The results folder's run of ``commit`` (of ``source``'s files: ResultsStore); None where it has none, or
    one that does not read."""
    try:
        store = ResultsStore(results_dir, source)
        return store.load(store.choose_run(machine, commit))
    except ToolError:
        return None


def measured(results_dir: Path, machine: str, commit: str, grid: schema.Grid) -> bool:
    """Whether the results folder holds a night of ``commit`` with a wall time of ``grid``."""
    results = commit_run(results_dir, machine, commit)
    return results is not None and has_results(results, grid)


def selected_measured(results_dir: Path, machine: str, commit: str, pattern: str) -> bool:
    """Whether the results folder holds, for ``commit``, a value of a benchmark that ``pattern`` selects (asv's
    ``--bench``: a regular expression searched in each name); failed and skipped ones are not values."""
    results = commit_run(results_dir, machine, commit, None)
    return results is not None and any(
        value is not None and value == value  # NaN: skipped
        for name in results.get_all_result_keys() if re.search(pattern, name)
        for value in results.get_result_value(name, results.get_result_params(name)))


def nothing_measured(what: str, commit: str, kept: bool) -> NothingMeasured:
    """The night's failure: recorded as failed, or, where a night of its commit measured before, not at all."""
    return NothingMeasured(f"{what} at {commit[:8]} measured nothing: every result failed (asv's output above says "
                           "why); " + ("the night recorded before at that commit is kept as it was" if kept
                                       else "it is recorded as failed"))


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(__doc__)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONF, help="asv.conf.json to start from")
    parser.add_argument("--python", type=python_path, default=sys.executable,
                        help="the Python whose torch is benchmarked")
    parser.add_argument("--grid", choices=("auto", "gpu", "cpu"), default="auto")
    parser.add_argument("--repo", type=Path, help="repository whose commit labels the run (default: the conf's)")
    commit = parser.add_mutually_exclusive_group()
    commit.add_argument("--commit", help="commit to record at (default: HEAD of the repository); a label only: "
                                         "the suite that runs is the working tree's, as asv's existing "
                                         "environment runs it")
    commit.add_argument("--at-torch-commit", action="store_true",
                        help="record at the benchmarked torch's own commit (torch.version.git_version)")
    parser.add_argument("--results-dir", type=Path, help="asv results directory (default: the conf's)")
    parser.add_argument("--html-dir", type=Path, help="asv html directory (default: the conf's)")
    parser.add_argument("--machine", type=machine_name, default=machine_name(platform.node() or "machine"),
                        help="asv machine name (a folder of the results: no path separators)")
    parser.add_argument("--bench", help="asv --bench regex instead of the grid's night class")
    parser.add_argument("--commit-file", type=Path,
                        help="once recorded, write the full hash of the commit recorded at into this file "
                             "(tools/nightly.py checks that night, whatever its commit's date)")
    parser.add_argument("--new-commit-only", action="store_true",
                        help="refuse a commit that already has a night that measured on this machine (exit 2), as "
                             "the nightly does without a PyTorch clone: asv keeps one night per commit")
    add_asv_arguments(parser, "after --: more arguments for asv run (e.g. -a repeat=3)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.commit_file:  # checked before the night, not after it has landed
        writable_folder(args.commit_file)
    torch_info = probe_torch(args.python)
    grid_name = args.grid if args.grid != "auto" else ("gpu" if torch_info["cuda"] else "cpu")
    grid = schema.GRIDS_BY_NAME[grid_name]
    if grid.device == "cuda" and not torch_info["cuda"]:
        raise ToolError(f"--grid {grid_name}: the torch of {args.python} sees no CUDA device")
    conf_path, conf = derived_conf(args.config, args.repo, args.results_dir, args.html_dir,
                                   REPO_ROOT / ".asv" / "conf")
    if args.at_torch_commit:
        commit = torch_info["git_version"]
    else:
        commit = args.commit or git_head(Path(conf["repo"]))
    commit = full_commit(Path(conf["repo"]), commit, args.at_torch_commit)

    results_dir = Path(conf["results_dir"])
    try:
        with one_record_at_a_time(results_dir / args.machine), staging_folder(results_dir, args.machine) as staging:
            if args.new_commit_only and measured(results_dir, args.machine, commit, grid):
                raise ToolError(f"commit {commit[:8]} already has a night on {args.machine!r}: a nightly records "
                                "a new commit each night (without --torch-repo, this suite's HEAD)")
            staged_conf(conf_path, conf, staging, args.machine, commit)
            started = time.perf_counter()
            try:
                code = record(args, torch_info, staging, conf_path, commit, grid)
            except ToolError:
                space_left(results_dir)
                raise
            # A night that measured nothing never replaces one of its commit that did: asv keeps one per commit
            # (with --bench: what it selected, whose values asv's merge would turn into failures).
            def holds(folder: Path) -> bool:
                return (selected_measured(folder, args.machine, commit, args.bench) if args.bench
                        else measured(folder, args.machine, commit, grid))

            failed = not holds(staging)  # asv exits 0 where it skipped every parameter set
            kept = failed and holds(results_dir)
            if not kept:
                land(staging, results_dir, args.machine)
    finally:
        conf_path.unlink(missing_ok=True)

    wall = time.perf_counter() - started
    if failed:
        raise nothing_measured(f"--bench {args.bench!r}" if args.bench else f"the {grid.name.upper()} grid's night",
                               commit, kept)
    if args.commit_file:
        write_report(args.commit_file, commit + "\n")
    device = torch_info["device"] or "CPU"
    print(f"\nRecorded the {grid.name.upper()} grid's night on machine {args.machine!r} ({device})"
          f" in {conf['results_dir']}")
    print(f"  asv run wall time: {wall:.1f} s")
    if code == ASV_SOME_FAILED:
        print("  some parameter sets failed: the summary lists them, asv's output above says why")
    print(f"  against commit {commit} of {conf['repo']}")
    print(f"  benchmarked torch {torch_info['version']} (git {torch_info['git_version']})")
    if Path(conf["repo"]).resolve() == REPO_ROOT.resolve():
        print("  note: that commit is this suite's own, not torch's; see README, "
              "'Against torch commits', to record at torch's commit")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
