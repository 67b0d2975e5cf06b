"""How far the GPU-bound wall times move between nights, by how near each is to the host's dispatch.

    python experiments/near_line_moves.py RESULTS_DIR MACHINE [--commits C1 C2 ...] [--move 1.035]
        [--ratios 1.1 1.25 1.5 2]

Over the nights given (oldest first; default all), each result the last night
classes GPU-bound by its ratio (``noise.config_class``: wall under 1.5x the GPU
time, GPU time under 10 ms) is placed by its wall time over the dispatch D (the
launch-bound results' median wall time that night, ``noise.dispatch_wall``).
Each night-to-night wall step is taken less the median step of those results.
Printed: the results whose step reached ``--move`` either way, with W/D and
their wall-to-GPU ratio; then per line (W under RATIO x D or not) how many
results and movers each side has, and the one-night floor each side's steps
would pool to (``noise.robust_sigma``, Z_CANDIDATE spreads, the factor not
applied). CPU only, seconds: run it on a GPU machine's results copied back.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib import noise  # noqa: E402
from lib.nights import Key, Night, read_night  # noqa: E402
from lib.results import ResultsStore  # noqa: E402
from lib.suite import schema  # noqa: E402


def gpu_bound_walls(nights: list[Night]) -> tuple[dict[Key, list[float]], dict[Key, float], float]:
    """The last night's GPU-bound results with a wall time every night: their walls night by night, their
    wall-to-GPU ratio, and the dispatch D that night."""
    last = nights[-1]
    classes = {key: noise.config_class(last.value(key, schema.WALL), last.value(key, schema.GPU))
               for key in last.values}
    walls = {key: [night.value(key, schema.WALL) for night in nights] for key, klass in classes.items()
             if klass == noise.GPU_BOUND}
    complete = {key: [v for v in series if v] for key, series in walls.items() if all(series)}
    ratios = {key: series[-1] / (last.value(key, schema.GPU) or math.nan) for key, series in complete.items()}
    dispatch = noise.dispatch_wall({key: wall for key in last.values if (wall := last.value(key, schema.WALL))},
                                   classes)
    return complete, ratios, dispatch


def steps_off_class(walls: dict[Key, list[float]]) -> dict[Key, list[float]]:
    """Each result's log steps less the median step of all of them between the same two nights."""
    logs = {key: [math.log(b / a) for a, b in zip(series, series[1:])] for key, series in walls.items()}
    count = min((len(steps) for steps in logs.values()), default=0)
    medians = [statistics.median(steps[i] for steps in logs.values()) for i in range(count)]
    return {key: [step - median for step, median in zip(steps, medians)] for key, steps in logs.items()}


def floor_of(steps: list[float]) -> float:
    return math.exp(noise.Z_CANDIDATE * noise.robust_sigma(steps)) if steps else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("machine")
    parser.add_argument("--commits", nargs="+", help="the nights, oldest first (prefixes); default all")
    parser.add_argument("--move", type=float, default=1.035, help="a step off the class this far either way moved")
    parser.add_argument("--ratios", type=float, nargs="+", default=[1.1, schema.NEAR_LAUNCH_BOUND_RATIO, 1.5, 2.0])
    args = parser.parse_args()
    store = ResultsStore(args.results_dir)
    runs = store.runs(args.machine)
    if args.commits:
        runs = [store.choose_run(args.machine, prefix, runs) for prefix in args.commits]
    if len(runs) < 2:
        sys.exit("needs two nights or more")
    walls, ratios, dispatch = gpu_bound_walls([read_night(store, run) for run in runs])
    if not dispatch:
        sys.exit("needs launch-bound results on the last night")
    steps = steps_off_class(walls)
    moved = {key for key, its in steps.items() if max(map(abs, its)) >= math.log(args.move)}
    print(f"{len(runs)} nights, {len(walls)} GPU-bound results, D = {dispatch * 1e6:.1f} us; moved {args.move}x or "
          "more off their class on a step (W/D, wall/GPU, steps off the class):")
    for key in sorted(moved, key=lambda k: walls[k][-1]):
        print(f"  {walls[key][-1] / dispatch:6.2f} {ratios[key]:.3f} {key[1]} {key[2]} "
              + " ".join(f"{math.exp(step):.3f}" for step in steps[key]))
    for ratio in args.ratios:
        near = [key for key in walls if walls[key][-1] < ratio * dispatch]
        rest = [key for key in walls if key not in near]
        print(f"W under {ratio} D: {len(near)} results, {len(moved & set(near))} moved, floor "
              f"{floor_of([s for k in near for s in steps[k]]):.3f}; the rest {len(rest)}, "
              f"{len(moved & set(rest))} moved, floor {floor_of([s for k in rest for s in steps[k]]):.3f}")


if __name__ == "__main__":
    main()
