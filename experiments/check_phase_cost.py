"""Where the night's check phase goes: each config's build, each mask's first forward, the comparison.

One process walks the GPU grid in the night's order (asv's), as the night's
first pass does: it builds each config (``model.build_case``), runs each mask's
first forward, compares them (``model.assert_equivalent``), then runs each mask
once more; every step is timed to the GPU's end. A first forward that costs far
more than the second is a per-shape cost (a library's plan or kernel build) that
every process pays again: the night once per shape, a re-measurement process
once per key of a shape it has not run yet.

    python experiments/check_phase_cost.py [--out steps.jsonl]

Prints the seconds per step over the grid and each config's steps in grid order.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

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
    start = finished()
    case = model.build_case(config)
    seconds["build"], start = finished() - start, finished()
    materialized = case.run_materialized()
    seconds["first_materialized"], start = finished() - start, finished()
    causal_bias = case.run_causal_bias()
    seconds["first_causal_bias"], start = finished() - start, finished()
    model.assert_equivalent(materialized, causal_bias)
    seconds["compare"], start = finished() - start, finished()
    case.run_materialized()
    seconds["second_materialized"], start = finished() - start, finished()
    case.run_causal_bias()
    seconds["second_causal_bias"] = finished() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="also write one JSON line per config")
    args = parser.parse_args()
    model.use_device("cuda")
    torch.zeros(1, device="cuda")  # CUDA's start is not the first config's
    rows = []
    for config in grid_configs(GPU_PARAMS, "cuda"):
        rows.append({"config": config.label, **config_steps(config)})
        torch.cuda.empty_cache()
    totals = {step: round(sum(row[step] for row in rows), 3) for step in STEPS}
    print("seconds over the grid:", totals)
    for row in rows:
        print(row["config"], {step: round(row[step] * 1e3, 1) for step in STEPS}, "ms")
    if args.out:
        args.out.write_text("".join(json.dumps(row) + "\n" for row in rows))


if __name__ == "__main__":
    main()
