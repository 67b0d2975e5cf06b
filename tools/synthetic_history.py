#!/usr/bin/env python3
"""Write a synthetic history: one nightly run a day on several machines, every config.

For measuring what the tools and `asv publish` cost at the scale of a year of
nightlies. It makes, under --out: a git repo standing in for PyTorch (one commit
a day), asv results for every commit and machine, and an asv.conf.json
pointing at both. Wall times are made up: a per-config base, 1% noise, a 3% slow
drift of CausalBias over the year, and a 15% step of the materialized path
half-way, for publish's step detection to find. The night classes' other figures
(track_*) get a stable made-up value per result (1% noise; the backend a constant code).

The benchmarks and their parameters come from an asv benchmarks.json (by
default results/benchmarks.json, which any `make bench` writes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

from lib.cli import ToolError, importing, machine_name, read_json_object, run_tool, tool_parser

with importing():
    from asv.results import Results
    from asv.runner import BenchmarkResult
    from lib.conf import read_conf
    from lib.results import BENCHMARKS_FILE, MACHINE_FILE, default_results_dir, method_of
    from lib.suite import DEFAULT_CONF, REPO_ROOT, schema

DAY_S = 86_400
MAX_DAYS = 3_650  # ten years of nights: a git commit and a results file a night
START_S = 1_764_000_000  # the first made-up night: fixed, so one seed always gives the same history


def make_repo(path: Path, days: int) -> list[tuple[str, int]]:
    """One empty commit a day; returns (hash, date in ms), oldest first."""
    path.mkdir(parents=True)
    git = ["git", "-C", str(path), "-c", "user.name=nightly", "-c", "user.email=nightly@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    commits = []
    for day in range(days):
        stamp = f"{START_S + day * DAY_S} +0000"
        env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", f"day {day}"], check=True, env=env)
        sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
        commits.append((sha, (START_S + day * DAY_S) * 1000))
    return commits


def base_time(name: str, index: int) -> float:
    """A made-up but stable time per result: 50 us to about 50 ms."""
    spread = zlib.crc32(f"{name}/{index}".encode()) % 1000  # str hash() changes per process
    return 50e-6 * (1.0 + spread) * (1.1 if name.endswith(schema.MATERIALIZED) else 1.0)


def night_wall_time(name: str, index: int, day: int, days: int, rng: random.Random) -> float:
    value = base_time(name, index)
    if name.endswith(schema.CAUSAL_BIAS):
        value *= 1.0 + 0.03 * day / days
    elif day >= days // 2:
        value *= 1.15
    return value * rng.lognormvariate(0.0, 0.01)


def night_track_value(name: str, index: int, rng: random.Random) -> float:
    """A made-up track_* figure: constant backend codes, other figures around a stable base."""
    figure = schema.night_figure(method_of(name))
    if figure is schema.SDPA_BACKEND:
        return float(schema.BACKEND_CODES["cuDNN" if name.endswith(schema.MATERIALIZED) else "flash"])
    scale = 2.0**30 / 50e-6 if figure is schema.PEAK_MEMORY else 1.0
    return base_time(name, index) * scale * rng.lognormvariate(0.0, 0.01)


# Marks a folder this tool made: only such a folder is removed to write a new history.
MARKER = ".synthetic-history"


def clear(out: Path) -> None:
    """Make ``out`` empty: remove it only where this tool made it; never a folder of anything else."""
    if out.exists() and not out.is_dir():
        raise ToolError(f"--out {out}: not a folder")
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise ToolError(f"{out} is not empty and not a synthetic history: choose a new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by tools/synthetic_history.py\n")


def tracked(benchmarks_json: Path) -> dict[str, dict]:
    """asv's benchmarks.json's track benchmarks, each with its params (a list of lists) and version."""
    benchmarks = read_json_object(benchmarks_json, "cannot read asv's benchmarks file (run `make bench` first):")
    recorded = {name: entry for name, entry in benchmarks.items()
                if isinstance(entry, dict) and entry.get("type") == "track"}
    for name, entry in recorded.items():
        params = entry.get("params")
        if not (isinstance(params, list) and all(isinstance(axis, list) for axis in params) and "version" in entry):
            raise ToolError(f"not asv's benchmarks file: {benchmarks_json}: {name} has no params or version")
    return recorded


def write_history(out: Path, benchmarks_json: Path, days: int, machines: list[str], seed: int) -> None:
    recorded = tracked(benchmarks_json)
    clear(out)
    commits = make_repo(out / "repo", days)
    results_dir = out / "results"
    results_dir.mkdir(parents=True)
    shutil.copy(benchmarks_json, results_dir / BENCHMARKS_FILE)
    rng = random.Random(seed)
    for machine in machines:
        (results_dir / machine).mkdir()
        (results_dir / machine / MACHINE_FILE).write_text(json.dumps({"machine": machine, "version": 1}))
        for day, (sha, date_ms) in enumerate(commits):
            results = Results({"machine": machine, "python": "3.12"}, {}, sha, date_ms, "3.12", "existing-py", {})
            for name, entry in recorded.items():
                count = 1
                for axis in entry["params"]:
                    count *= len(axis)
                if schema.night_figure(method_of(name)) is schema.WALL_TIME:
                    values = [night_wall_time(name, i, day, days, rng) for i in range(count)]
                else:
                    values = [night_track_value(name, i, rng) for i in range(count)]
                result = BenchmarkResult(result=values, samples=[None] * count, number=[None] * count,
                                         errcode=0, stderr="", profile=None)
                results.add_result({"name": name, "version": entry["version"], "params": entry["params"]},
                                   result, started_at=None)
            results.save(str(results_dir))
    conf = read_conf(DEFAULT_CONF)
    conf.update(repo=str(out / "repo"), results_dir=str(results_dir), html_dir=str(out / "html"),
                benchmark_dir=str(REPO_ROOT / "benchmarks"), env_dir=str(out / "env"))
    (out / "asv.conf.json").write_text(json.dumps(conf, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder to (re)create")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--machines", nargs="+", type=machine_name, default=["h100-a", "h100-b"])
    parser.add_argument("--benchmarks-json", type=Path, default=default_results_dir() / BENCHMARKS_FILE)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 2 <= args.days <= MAX_DAYS:
        raise ToolError(f"--days must be from 2 to {MAX_DAYS}, not {args.days}")
    if len(set(args.machines)) < len(args.machines):
        raise ToolError(f"--machines names one twice: {' '.join(args.machines)}")
    write_history(args.out, args.benchmarks_json, args.days, args.machines, args.seed)
    print(f"{args.days} nightly runs on {len(args.machines)} machines in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
