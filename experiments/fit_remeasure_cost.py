"""Fit the re-measurement's cost model to the processes that checks recorded.

    python experiments/fit_remeasure_cost.py CHECK.json [CHECK.json ...] [--device cuda] [--together N]

Each CHECK.json is `tools/check_regressions.py --format json` output of a run with
re-measurement; its "confirmation" lists every process ("per_process": the keys
and visits it measured, the seconds of its calls and GPU times, its seconds from
request to answer and per phase of the worker). The model (`tools/lib/remeasure.py`)
prices a process as

    PROCESS_SECONDS + KEY_SECONDS * keys
    + (max(wait, REST) + (N - 1) * REST) / N,
      wait = max(0, CHILD_START_SECONDS - PROCESS_SECONDS - KEY_SECONDS * keys)
    + VISIT_SECONDS * visits + WALL_CALLS * call_seconds
    + gpu_block_seconds + GPU_CALLS * gpu_seconds + GPU_KEY_SECONDS * gpu_times
    + heavy keys' rests (HEAVY_GPU_REST_SECONDS each, taken as the process recorded them)

(a process's keys' builds and first calls overlap the next children's start,
which the quiet lock keeps out of its visits; the workers start N children at
once, so one process in N waits: ``--together``, the checks' own, 1 for checks
before the workers forked children two at a time; on a GPU each process rests
REST, ``schema.GPU_REST_SECONDS``, the one that waited within its wait:
``--rest 0`` for checks before 874354d). Each constant is fitted to its own
phases, so that few processes of like plans still separate them: PROCESS_SECONDS
the median of a process's seconds outside its phases but the start (the hand-over,
the pipes), KEY_SECONDS the builds and first calls per key, CHILD_START_SECONDS the
median of a process's seconds outside its visits and GPU times where it waited
for the quiet lock, VISIT_SECONDS the wall phase per visit beyond WALL_CALLS
calls, GPU_CALLS and GPU_KEY_SECONDS the GPU phase beyond its blocks (GPU_TIME_BLOCKS
of ``schema.gpu_time_block_seconds`` each GPU time) by least squares over the
processes, on the GPU times' seconds and their number (derived from the check's
values where a check from before the blocks' price has no ``gpu_times``). Prints them beside the
current ones, and each model's median and worst error over the processes, and
its error over all of them together (what a budget sees).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib import remeasure  # noqa: E402
from lib.suite import schema  # noqa: E402

Phase = schema.Phase

TERMS = ("PROCESS_SECONDS", "KEY_SECONDS", "CHILD_START_SECONDS", "VISIT_SECONDS", "WALL_CALLS", "GPU_CALLS",
         "GPU_KEY_SECONDS")
# A process that waited this long for the quiet lock waited for the next child's start.
WAITED_SECONDS = 0.05


def estimate(constants: list[float], process: dict, together: int, rest: float) -> float:
    """One process's seconds as the suite's model (``remeasure.CostModel``) prices them with ``constants``."""
    model = remeasure.CostModel(*constants, rest=rest, together=together)
    return model.process_seconds(remeasure.ProcessWork(
        process["keys"], process["visits"], process["call_seconds"], process["gpu_times"],
        process["gpu_block_seconds"], process["gpu_seconds"], process["phases"].get(Phase.HEAVY_REST, 0.0)))


def current(device: str) -> list[float]:
    model = remeasure.cost_model(device)
    return [model.process, model.key, model.child_start, model.visit, model.wall_calls, model.gpu_calls,
            model.gpu_key]


def fitted(processes: list[dict]) -> list[float]:
    """Each constant from its own phases (see above); WALL_CALLS stays the model's."""
    def total(field: str) -> float:
        return sum(p[field] for p in processes)

    def phase(name: str) -> float:
        return sum(p["phases"].get(name, 0.0) for p in processes)

    def outside(process: dict, phases: tuple[str, ...]) -> float:
        return process["seconds"] - sum(process["phases"].get(name, 0.0) for name in phases)

    # "rest": the GPU's rest as 874354d's checks named it.
    not_handing = (*remeasure.KEY_PHASES, Phase.QUIET, Phase.GPU_REST, "rest")
    handing = statistics.median(outside(p, not_handing) for p in processes)
    waited = [outside(p, (Phase.WALL, Phase.HEAVY_REST, Phase.GPU)) for p in processes
              if p["phases"].get(Phase.QUIET, 0.0) > WAITED_SECONDS]
    child_start = statistics.median(waited) if waited else handing
    per_visit = ((phase(Phase.WALL) - remeasure.WALL_CALLS * total("call_seconds")) / total("visits")
                 if total("visits") else remeasure.VISIT_SECONDS)  # keys asked for their GPU times alone
    gpu_calls, gpu_key = gpu_constants(processes)
    return [handing, (phase(Phase.BUILD) + phase(Phase.FIRST_CALLS)) / total("keys"), child_start, per_visit,
            remeasure.WALL_CALLS, gpu_calls, gpu_key]


def gpu_constants(processes: list[dict]) -> tuple[float, float]:
    """GPU_CALLS and GPU_KEY_SECONDS: the GPU phase beyond the blocks, least squares on the GPU times' seconds
    and number; the model's where no process took a GPU time."""
    taking = [p for p in processes if p["gpu_times"]]
    if not taking:
        return remeasure.GPU_CALLS, remeasure.GPU_KEY_SECONDS
    terms = numpy.array([[p["gpu_seconds"], p["gpu_times"]] for p in taking])
    beyond = numpy.array([p["phases"].get(Phase.GPU, 0.0) - p["gpu_block_seconds"] for p in taking])
    (gpu_calls, gpu_key), *_ = numpy.linalg.lstsq(terms, beyond, rcond=None)
    return float(gpu_calls), float(gpu_key)


def with_gpu_terms(confirmation: dict) -> list[dict]:
    """The check's processes, each with its GPU times' number and blocks' seconds: as recorded, or (a check
    from before they were) from the values, the process's GPU time of each key it measured, in order per side:
    a key's values grow only in the processes that measured it, the first ones of one round (a key dropped or
    set aside leaves the later ones), so a check of several rounds without them is left out."""
    recorded = all("gpu_times" in process for process in confirmation.get("per_process", []))
    if not recorded and confirmation.get("rounds", 1) != 1:
        print(f"left out: a check of {confirmation['rounds']} rounds without its processes' GPU times")
        return []
    processes, seen = [], {"baseline": 0, "contender": 0}
    for process in confirmation.get("per_process", []):
        index = seen[process["side"]]
        seen[process["side"]] += 1
        if "gpu_times" not in process:
            gpus = [v[process["side"]]["gpu"][index] for v in confirmation.get("values", [])
                    if len(v.get(process["side"], {}).get("gpu", [])) > index]
            process = process | {"gpu_times": len(gpus),
                                 "gpu_block_seconds": sum(remeasure.gpu_blocks_seconds(g) for g in gpus)}
        processes.append(process)
    return processes


def errors(constants: list[float], processes: list[dict], together: int, rest: float) -> list[float]:
    """Each process's estimate over its measured seconds, minus one."""
    return [estimate(constants, p, together, rest) / p["seconds"] - 1 for p in processes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checks", type=Path, nargs="+")
    parser.add_argument("--device", default="cuda", choices=sorted(remeasure.PROCESS_SECONDS))
    parser.add_argument("--together", type=int, default=remeasure.schema.CHILDREN_STARTED_TOGETHER,
                        help="children the checks' workers started at once (default: the suite's)")
    parser.add_argument("--rest", type=float, default=None,
                        help="seconds a GPU process rests before its passes (default: the suite's on cuda)")
    args = parser.parse_args()
    if args.rest is None:
        args.rest = remeasure.schema.GPU_REST_SECONDS if args.device == "cuda" else 0.0
    processes = [p for path in args.checks
                 for p in with_gpu_terms(json.loads(path.read_text()).get("confirmation") or {})
                 if p["device"] == args.device and p["seconds"] > 0]
    if not processes:
        sys.exit(f"no {args.device} process recorded (a check's JSON from before 2026-12-02 has none)")
    constants = fitted(processes)
    print(f"{len(processes)} {args.device} processes from {len(args.checks)} check(s)")
    for name, now, fit in zip(TERMS, current(args.device), constants):
        print(f"{name:16s} now {now:9.4f}  fitted {fit:9.4f}")
    for label, values in (("now", current(args.device)), ("fitted", constants)):
        relative = errors(values, processes, args.together, args.rest)
        whole = (sum(estimate(values, p, args.together, args.rest) for p in processes)
                 / sum(p["seconds"] for p in processes))
        print(f"{label:6s} model: median error {statistics.median(relative):+.1%}, "
              f"worst {max(relative, key=abs):+.1%}, all processes together {whole - 1:+.1%}")


if __name__ == "__main__":
    main()
