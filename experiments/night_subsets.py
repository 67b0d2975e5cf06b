"""What a cheaper night would cost in precision: its figures taken again from fewer of its recorded visits.

    python experiments/night_subsets.py RESULTS_DIR MACHINE --commits C1 C2 ... [--gpu-builds N]
        [--wall-passes N] [--long-wall-passes N] [--short-passes N]

Each night's ``.night`` file keeps every wall visit (the first pass's, then the later full passes', then
the short calls' passes) and every GPU-time build. This takes each figure again as the night takes it,
the fastest wall visit and the geometric mean of the GPU builds, from the first N of them alone, and
prints the one-night floors the check's model would judge the next night by (``history_verdicts.py
--next``'s table), as recorded and as the cheaper night would have given them, with the measuring
process's seconds the visits left out would have saved (estimated from each key's call and GPU time:
a visit's calls and blocks as ``benchmarks/measure/timers.py`` makes them, the heavy keys' rests; the
builds left out are not counted). CPU only, seconds: run it on a GPU machine's results copied back.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from history_verdicts import floors_by_group, spread  # noqa: E402
from lib import noise, verdict  # noqa: E402
from lib.nights import Night, read_night, result_classes  # noqa: E402
from lib.results import ResultsStore, RunFile  # noqa: E402
from lib.suite import schema  # noqa: E402

WALL_PASSES, SHORT_PASSES = 4, 16  # the night's, benchmarks/measure/night.py (it imports torch)
VISIT_BLOCK, SHORT_VISIT_BLOCK, VISIT_BLOCKS = 0.005, 0.002, 3
# A GPU time: two warm-up calls and the capture (wall), one replay that sizes the blocks, the blocks.
GPU_WARM_CALLS = 3


@dataclasses.dataclass(frozen=True)
class Subset:
    wall_passes: int
    long_wall_passes: int
    short_passes: int
    gpu_builds: int


def visit_cost(call: float, block: float) -> float:
    """One visit's seconds: an untimed call, the call that sizes a block, the blocks (none for a long call)."""
    calls = math.ceil(block / call)
    return 2 * call + (0.0 if calls <= 1 else VISIT_BLOCKS * calls * call)


def gpu_cost(call: float, gpu: float) -> float:
    """One GPU-time build's seconds of measuring: warm-ups and capture, the sizing replay, a heavy key's rest,
    the blocks."""
    return (GPU_WARM_CALLS * call + gpu + schema.heavy_rest_seconds(gpu)
            + schema.GPU_TIME_BLOCKS * schema.gpu_time_block_seconds(gpu))


def kept_walls(visits: list[float], call: float, subset: Subset) -> list[float]:
    """The visits a cheaper night would have made: the first of each pass it keeps."""
    if call < schema.SHORT_CALL_SECONDS:
        return visits[:subset.short_passes]
    return visits[:subset.long_wall_passes if call >= schema.LONG_CALL_SECONDS else subset.wall_passes]


def saved_seconds(call: float, gpu: float | None, walls: int, kept: int, builds: int, subset: Subset) -> float:
    short = call < schema.SHORT_CALL_SECONDS
    saved = 0.0
    for index in range(kept, walls):
        saved += visit_cost(call, SHORT_VISIT_BLOCK if short and index >= WALL_PASSES else VISIT_BLOCK)
    if gpu:
        saved += max(0, builds - subset.gpu_builds) * gpu_cost(call, gpu)
    return saved


def cheaper(store: ResultsStore, run: RunFile, night: Night, subset: Subset) -> tuple[Night, float]:
    """The night's values from the subset of its visits, and the measuring seconds the rest cost."""
    walls, gpus = store.night_visits(run, schema.WALL), store.night_visits(run, schema.GPU)
    values = {key: dict(signals) for key, signals in night.values.items()}
    saved = 0.0
    for key, signals in values.items():
        visits = walls.get(key[1], {}).get(key[2]) or []
        builds = gpus.get(key[1], {}).get(key[2]) or []
        if not visits:
            continue
        call = min(visits)
        kept = kept_walls(visits, call, subset)
        signals[schema.WALL] = min(kept)
        if builds:
            used = sorted(builds[:subset.gpu_builds])
            signals[schema.GPU] = math.exp(statistics.fmean(math.log(b) for b in used))
        saved += saved_seconds(call, statistics.median(builds) if builds else None, len(visits), len(kept),
                               len(builds), subset)
    return dataclasses.replace(night, values=values), saved


def floors(nights: list[Night], factor: float) -> dict[tuple[str, str], list[float]]:
    classes = result_classes(nights, nights[-1])
    model = verdict.fitted_model(nights, nights[-1], classes, None)
    return floors_by_group(model, sorted(nights[-1].values), classes, factor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("machine")
    parser.add_argument("--commits", nargs="+", required=True, help="the nights, oldest first (prefixes)")
    parser.add_argument("--factor", type=float, default=1.05)
    parser.add_argument("--wall-passes", type=int, default=WALL_PASSES)
    parser.add_argument("--long-wall-passes", type=int, default=WALL_PASSES,
                        help=f"the wall passes of calls of {schema.LONG_CALL_SECONDS * 1e3:g} ms and more")
    parser.add_argument("--short-passes", type=int, default=SHORT_PASSES)
    parser.add_argument("--gpu-builds", type=int, default=schema.GPU_PASSES)
    args = parser.parse_args()
    subset = Subset(args.wall_passes, args.long_wall_passes, args.short_passes, args.gpu_builds)
    store = ResultsStore(args.results_dir)
    runs = [store.choose_run(args.machine, prefix) for prefix in args.commits]
    recorded = [read_night(store, run) for run in runs]
    pairs = [cheaper(store, run, night, subset) for run, night in zip(runs, recorded, strict=True)]
    saved = [seconds for _, seconds in pairs]
    print(f"{len(runs)} nights; {subset}: the measuring process {statistics.median(saved):.1f} s shorter "
          f"(median; {min(saved):.1f}-{max(saved):.1f})")
    before, after = floors(recorded, args.factor), floors([n for n, _ in pairs], args.factor)
    print(f"floors the next night is judged by ({len(runs) - 1} steps), as recorded -> from the subset:")
    for group in sorted(set(before) | set(after)):
        print(f"  {group[0]} {group[1]}: {spread(before.get(group, []))} -> {spread(after.get(group, []))}")
    steps = {name: noise.class_steps({k: {s: [n.value(k, s) for n in nights] for s in schema.TIMED_SIGNALS}
                                      for k in nights[-1].values}, result_classes(nights, nights[-1]))
             for name, nights in (("recorded", recorded), ("subset", [n for n, _ in pairs]))}
    print("each key's own spread (robust sigma of its steps), median over its class, recorded -> subset:")
    classes = result_classes(recorded, recorded[-1])
    for klass in sorted(set(classes.values())):
        for signal in schema.TIMED_SIGNALS:
            sigmas = {name: [noise.robust_sigma(s[k][signal]) for k in s if classes[k] == klass
                             and len(s[k][signal]) >= noise.OWN_STEPS] for name, s in steps.items()}
            if sigmas["recorded"]:
                print(f"  {klass} {signal}: {statistics.median(sigmas['recorded']) * 100:.2f}% -> "
                      f"{statistics.median(sigmas['subset']) * 100:.2f}% ({len(sigmas['recorded'])} keys)")


if __name__ == "__main__":
    main()
