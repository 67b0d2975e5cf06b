"""Where a recorded night's time went: asv's own duration of each benchmark and setup_cache.

    python experiments/night_cost.py RESULTS_DIR MACHINE [COMMIT]

asv keeps, per benchmark of a results file, when it started and how long all
its parameter sets took (each a forked process), and the duration of each
setup_cache. Prints them grouped (wall times, Profile figures, setup_cache)
with the process count and time per process: what a change to the night's cost
should be measured against. Where the run's ``<commit>.night`` file is there, also
the measuring process's seconds by phase, how far a result's visits spread
(slowest visit over the fastest, which is the recorded value), and the
setup_cache process's timeline: its start, torch's import, the measuring code's,
CUDA's driver's start, the measurement, the side files, its return and exit.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib.results import ResultsStore  # noqa: E402
from lib.suite import schema  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("machine")
    parser.add_argument("commit", nargs="?", help="a commit prefix (default: the most recent run)")
    args = parser.parse_args()
    store = ResultsStore(args.results_dir)
    run = store.choose_run(args.machine, args.commit)
    data = json.loads(run.path.read_text())
    column = data["result_columns"].index("duration")
    groups: dict[str, list[float]] = {"wall time": [0.0, 0], "figures": [0.0, 0]}
    for name, entry in sorted(data["results"].items()):
        duration = entry[column] if column < len(entry) and entry[column] else None
        if duration is None:  # recorded by the recorder from the night's values (tools/lib/night_figures.py)
            print(f"{name:70s}   recorded with the night: no process")
            continue
        processes = math.prod(len(axis) for axis in entry[1]) if entry[1] else 1
        group = "wall time" if ".track_wall_time_" in name else "figures"
        groups[group][0] += duration
        groups[group][1] += processes
        print(f"{name:70s} {duration:7.1f} s  {processes:4d} processes  {1e3 * duration / processes:6.1f} ms each")
    for name, duration in data.get("durations", {}).items():
        print(f"{name:70s} {duration:7.1f} s")
    print()
    for group, (duration, processes) in groups.items():
        print(f"{group:9s} {duration:7.1f} s in {processes} processes")
    setup = sum(d for n, d in data.get("durations", {}).items() if n.startswith("<setup_cache"))
    print(f"setup_cache {setup:5.1f} s; benchmarks and caches together "
          f"{setup + sum(d for d, _ in groups.values()):.1f} s of run {run.commit_hash[:8]}")

    night_path = run.path.parent / f"{run.commit_hash}{schema.NIGHT_SUFFIX}"
    if night_path.is_file():
        night = json.loads(night_path.read_text())
        print_night(night)
        if sum(name.startswith("<setup_cache") for name in data.get("durations", {})) == 1:  # one grid's night
            print_timeline(night.get("timeline") or {}, data, setup)


def print_night(night: dict) -> None:
    phases = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in night["phases"].items())
    print(f"\nthe measuring process: {night['seconds']:.1f} s ({phases})")
    spreads = sorted(max(visits) / min(visits) for masks in night["wall_visits"].values()
                     for visits in masks.values() if visits)
    if spreads:
        def quantile(q: float) -> float:
            return spreads[min(len(spreads) - 1, int(q * len(spreads)))]

        print(f"visits, slowest / fastest, over {len(spreads)} results: median {quantile(0.5):.3f}, "
              f"p95 {quantile(0.95):.3f}, max {spreads[-1]:.3f}")


def print_timeline(timeline: dict, data: dict, setup_seconds: float) -> None:
    """The setup_cache process from asv's call to asv's next benchmark, where the night file has its timeline:
    asv's first benchmark starts when setup_cache has returned, so it dates the process's end."""
    column = data["result_columns"].index("started_at")
    firsts = [entry[column] / 1e3 for entry in data["results"].values() if column < len(entry) and entry[column]]
    if not firsts or not all(timeline.get(mark) for mark in ("process_started", "measured", "written")):
        return
    ended = min(firsts)
    # A night file from before the imports were dated apart has only "imported" between the call and the end.
    marks = [("asv's call", ended - setup_seconds)] + [(TIMELINE[mark], timeline[mark])
                                                       for mark in TIMELINE if timeline.get(mark)]
    marks.append(("asv's next benchmark", ended))
    print("\nthe setup_cache process, from asv's call to asv's next benchmark:")
    for (before, at), (after, then) in zip(marks, marks[1:]):
        print(f"  {before} -> {after}: {then - at:6.2f} s")


TIMELINE = dict(zip(schema.NIGHT_TIMELINE, ("the process's start", "setup_cache's call", "torch imported",
                                             "the measuring code imported (torch._dynamo with it)",
                                             "the device checked (CUDA's driver started)", "measured",
                                             "side files written"), strict=True))


if __name__ == "__main__":
    main()
