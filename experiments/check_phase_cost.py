"""Where the night's check phase goes: each config's build, each mask's first forward, the comparison.

One process walks the GPU grid in the night's order (asv's), as the night's
first pass does: it builds each config (``model.build_case``), runs each mask's
first forward, compares them (``model.assert_equivalent``), then runs each mask
once more; every step is timed to the GPU's end. A first forward that costs far
more than the second pays a one-time cost of the process (a library's plan or
kernel build, a load): this says which configs pay it, in the night's order,
and how much. Run it twice on one machine to see whether a later process
pays it again.

    python experiments/check_phase_cost.py [--out steps.jsonl] [--profile-first] [--one-cpu] [--fork] [--temp-cwd]

``--profile-first`` runs torch's profiler (CPU and CUDA activities) over one small
CUDA operation before the grid, as the night's counts once ran it after each config's check
(they come last now): whether a profile makes the later checks cost more.
``--one-cpu`` pins the process to the first of its CPUs, as the night's first pass does.
``--fork`` walks the grid in a child forked after torch's import, before CUDA's start, as
asv's forkserver runs the night and the re-measurement's worker runs its processes.
``--temp-cwd`` walks it from a fresh temporary folder, as asv runs a ``setup_cache``.

Prints the seconds per step over the grid and each config's steps in grid order.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.measure import model  # noqa: E402
from benchmarks.schema import GPU_PARAMS, grid_configs  # noqa: E402

STEPS = ("build", "first_materialized", "first_causal_bias", "compare", "second_materialized", "second_causal_bias")


def finished() -> float:
    torch.cuda.synchronize()
    return time.perf_counter()


def config_steps(config: model.AttentionConfig) -> dict[str, float]:
    """Seconds of each step of one config, in the order the night takes them."""
    seconds: dict[str, float] = {}

    def timed(step: str, action: Callable[[], Any]) -> Any:
        start = finished()
        result = action()
        seconds[step] = finished() - start
        return result

    case = timed("build", lambda: model.build_case(config))
    materialized = timed("first_materialized", case.run_materialized)
    causal_bias = timed("first_causal_bias", case.run_causal_bias)
    timed("compare", lambda: model.assert_equivalent(materialized, causal_bias))
    timed("second_materialized", case.run_materialized)
    timed("second_causal_bias", case.run_causal_bias)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="also write one JSON line per config")
    parser.add_argument("--profile-first", action="store_true", help="run the profiler once before the grid")
    parser.add_argument("--one-cpu", action="store_true", help="pin the process to its first CPU")
    parser.add_argument("--fork", action="store_true", help="walk the grid in a forked child")
    parser.add_argument("--temp-cwd", action="store_true", help="walk the grid from a fresh temporary folder")
    args = parser.parse_args()
    if args.temp_cwd:
        os.chdir(tempfile.mkdtemp(prefix="check-phase-"))
    if args.fork and (child := os.fork()):
        sys.exit(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
    if args.one_cpu:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    model.use_device("cuda")
    torch.zeros(1, device="cuda")  # CUDA's start is not the first config's
    if args.profile_first:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]):
            torch.ones(8, device="cuda").add_(1)
            torch.cuda.synchronize()
    rows = []
    for config in grid_configs(GPU_PARAMS, "cuda"):
        rows.append({"config": config.label, **config_steps(config)})
        torch.cuda.empty_cache()
    totals = {step: round(sum(row[step] for row in rows), 3) for step in STEPS}
    if args.out:
        args.out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    print("seconds over the grid:", totals)
    for row in rows:
        print(row["config"], {step: round(row[step] * 1e3, 1) for step in STEPS}, "ms")


if __name__ == "__main__":
    main()
