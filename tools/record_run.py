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
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from asv_conf import ASV_SOME_FAILED, asv, derived_conf, describe_machine
from cli import ToolError, one_line, run_tool
from suite import DEFAULT_CONF, REPO_ROOT, schema


def night_pattern(grid: schema.Grid) -> str:
    """asv's --bench regex of a grid's night class, and nothing else."""
    return rf"^{schema.BENCHMARK_MODULE}\.{grid.night_class}\."

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
            [python, "-c", TORCH_PROBE], check=True, capture_output=True, text=True
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


def require_commit(repo: Path, commit: str) -> None:
    """asv can only record at a commit that the labelling repository holds."""
    found = subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"{commit}^{{commit}}"],
                           capture_output=True).returncode == 0
    if not found:
        raise ToolError(f"commit {commit[:12]} is not in {repo}: update the clone "
                        f"(git -C {repo} fetch --filter=blob:none origin) and run again")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONF, help="asv.conf.json to start from")
    parser.add_argument("--python", default=sys.executable, help="the Python whose torch is benchmarked")
    parser.add_argument("--grid", choices=("auto", "gpu", "cpu"), default="auto")
    parser.add_argument("--repo", type=Path, help="repository whose commit labels the run (default: the conf's)")
    commit = parser.add_mutually_exclusive_group()
    commit.add_argument("--commit", help="commit to record at (default: HEAD of the repository)")
    commit.add_argument("--at-torch-commit", action="store_true",
                        help="record at the benchmarked torch's own commit (torch.version.git_version)")
    parser.add_argument("--results-dir", type=Path, help="asv results directory (default: the conf's)")
    parser.add_argument("--html-dir", type=Path, help="asv html directory (default: the conf's)")
    parser.add_argument("--machine", default=platform.node() or "machine", help="asv machine name")
    parser.add_argument("--bench", help="asv --bench regex instead of the grid's night class")
    parser.add_argument("asv_args", nargs=argparse.REMAINDER,
                        help="after --: more arguments for asv run (e.g. -a repeat=3)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch_info = probe_torch(args.python)
    grid_name = args.grid if args.grid != "auto" else ("gpu" if torch_info["cuda"] else "cpu")
    grid = next(g for g in schema.GRIDS if g.name == grid_name)
    conf_path, conf = derived_conf(args.config, args.repo, args.results_dir, args.html_dir,
                                   REPO_ROOT / ".asv" / "conf")
    if args.at_torch_commit:
        commit = torch_info["git_version"]
    else:
        commit = args.commit or git_head(Path(conf["repo"]))
    require_commit(Path(conf["repo"]), commit)

    describe_machine(args.machine, torch_info)
    # The night's setup_cache writes each config's operator and kernel names and its visits there.
    os.environ[schema.DISPATCH_FILE_VARIABLE] = str(
        Path(conf["results_dir"]) / args.machine / f"{commit}{schema.DISPATCH_SUFFIX}")
    if not args.bench:
        os.environ[schema.NIGHT_ONLY_VARIABLE] = "1"
    extra = [a for a in args.asv_args if a != "--"]
    started = time.perf_counter()
    try:
        code = asv("run", "--environment", f"existing:{args.python}", "--set-commit-hash", commit,
                   "--machine", args.machine, "--bench", args.bench or night_pattern(grid),
                   "--record-samples", "--show-stderr", *extra, conf=conf_path, allowed=(0, ASV_SOME_FAILED))
    finally:
        conf_path.unlink(missing_ok=True)

    wall = time.perf_counter() - started
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
