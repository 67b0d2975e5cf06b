"""Fit the re-measurement's cost model to the processes that checks recorded.

    python experiments/fit_remeasure_cost.py CHECK.json [CHECK.json ...] [--device cuda]

Each CHECK.json is `tools/check_regressions.py --format json` output of a run with
re-measurement; its "confirmation" lists every process ("per_process": the keys
and visits it measured, the seconds of its calls and GPU times, its seconds from
request to answer). The model (`tools/lib/remeasure.py`) prices a process as

    PROCESS_SECONDS + KEY_SECONDS * keys + VISIT_SECONDS * visits
    + WALL_CALLS * call_seconds + GPU_CALLS * gpu_seconds

Prints the least-squares constants beside the current ones, and each model's
median and worst error over the processes: what to set the constants to, and
whether it matters.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib import remeasure  # noqa: E402

TERMS = ("PROCESS_SECONDS", "KEY_SECONDS", "VISIT_SECONDS", "WALL_CALLS", "GPU_CALLS")


def regressors(process: dict) -> list[float]:
    return [1.0, process["keys"], process["visits"], process["call_seconds"], process["gpu_seconds"]]


def current(device: str) -> list[float]:
    return [remeasure.PROCESS_SECONDS[device], remeasure.KEY_SECONDS[device], remeasure.VISIT_SECONDS,
            remeasure.WALL_CALLS, remeasure.GPU_CALLS]


def fitted(processes: list[dict]) -> tuple[list[float], int]:
    """The least-squares constants and the rank of the regressors (under 5: some are not separable)."""
    x = np.array([regressors(p) for p in processes])
    y = np.array([p["seconds"] for p in processes])
    solution, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    return [float(v) for v in solution], int(rank)


def errors(constants: list[float], processes: list[dict]) -> list[float]:
    """Each process's estimate over its measured seconds, minus one."""
    return [float(np.dot(constants, regressors(p))) / p["seconds"] - 1 for p in processes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checks", type=Path, nargs="+")
    parser.add_argument("--device", default="cuda", choices=sorted(remeasure.PROCESS_SECONDS))
    args = parser.parse_args()
    processes = [p for path in args.checks
                 for p in (json.loads(path.read_text()).get("confirmation") or {}).get("per_process", [])
                 if p["device"] == args.device and p["seconds"] > 0]
    if len(processes) < len(TERMS):
        sys.exit(f"{len(processes)} {args.device} processes recorded: too few to fit {len(TERMS)} constants")
    constants, rank = fitted(processes)
    print(f"{len(processes)} {args.device} processes from {len(args.checks)} check(s); rank {rank} of {len(TERMS)}")
    for name, now, fit in zip(TERMS, current(args.device), constants):
        print(f"{name:16s} now {now:9.4f}  fitted {fit:9.4f}")
    for label, values in (("now", current(args.device)), ("fitted", constants)):
        relative = errors(values, processes)
        print(f"{label:6s} model: median error {statistics.median(relative):+.1%}, "
              f"worst {max(relative, key=abs):+.1%}")


if __name__ == "__main__":
    main()
