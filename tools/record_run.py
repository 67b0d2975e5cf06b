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
import platform
import subprocess
import sys
import time
from pathlib import Path

from lib.cli import (
    ToolError,
    add_asv_arguments,
    importing,
    machine_name,
    one_line,
    python_path,
    run_tool,
    tool_parser,
    writable_folder,
    write_report,
)

with importing():
    from lib.conf import ASV_SOME_FAILED, derived_conf, describe_machine, git_commit
    from lib.recording import (
        GRID_CHOICES,
        NothingMeasured,
        land,
        measured,
        one_record_at_a_time,
        probe_torch,
        record_night,
        selected_measured,
        space_left,
        staged_conf,
        staging_folder,
    )
    from lib.suite import DEFAULT_CONF, REPO_ROOT, schema


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


def record(args: argparse.Namespace, torch_info: dict, staging: Path, conf_path: Path, commit: str,
           grid: schema.Grid) -> int:
    """Describe the machine and record the grid's night of ``args.python``'s torch into ``staging``
    (lib/recording.py)."""
    describe_machine(args.machine, torch_info)
    return record_night(conf_path, staging, args.machine, commit, grid,
                        ("--environment", f"existing:{args.python}", "--set-commit-hash", commit),
                        args.bench, [a for a in args.asv_args if a != "--"])


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
    parser.add_argument("--grid", choices=GRID_CHOICES, default="auto")
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
