"""Where a night's GPU time moves: between its builds, between nights, and with the SM clock.

    python experiments/gpu_time_builds.py RESULTS_DIR MACHINE

A night before c3b3816 timed each call under 10 ms as a CUDA graph in three builds (fresh
tensors, a fresh graph) and reads the SM clock (NVML) beside each; its `.night`
file keeps both. Per band of GPU time, over every result of the machine's
nights: the median of each night's max/min over its builds, the median of the
max/min over nights of each night's median build, and how each build's GPU
time follows its clock (the correlation and slope of log(time / the result's
median) on log(the result's median clock / clock): a slope of 1 is a time set
by the clock alone). CPU only, seconds: run it on a GPU machine's results
copied back.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib.results import ResultsStore  # noqa: E402
from lib.suite import schema  # noqa: E402

BANDS = ((0.0, 2e-4), (2e-4, 2e-3), (2e-3, math.inf))  # seconds: launch-bound to long calls


def band_row(builds: dict[tuple[str, str], list[list[tuple[float, float]]]], low: float, high: float) -> dict:
    """One band's row: ``builds`` per result, per night, (GPU time, clock) of each build."""
    within, between, xs, ys = [], [], [], []
    for nights in builds.values():
        points = [point for night in nights for point in night]
        level = statistics.median(time for time, _ in points)
        if not (low <= level < high):
            continue
        clock = statistics.median(mhz for _, mhz in points)
        xs += [math.log(clock / mhz) for _, mhz in points]
        ys += [math.log(time / level) for time, _ in points]
        within += [max(t for t, _ in night) / min(t for t, _ in night) for night in nights if len(night) > 1]
        medians = [statistics.median(t for t, _ in night) for night in nights if night]
        between.append(max(medians) / min(medians))
    if len(xs) < 3:
        return {"GPU time": f"{low * 1e6:.0f}-{high * 1e6:.0f} us", "results": 0}
    correlation = statistics.correlation(xs, ys)
    slope = statistics.linear_regression(xs, ys).slope
    return {"GPU time": f"{low * 1e6:.0f}-{high * 1e6:.0f} us", "results": len(between), "builds": len(xs),
            "builds in a night, max/min": f"{statistics.median(within):.3f}",
            "nights' medians, max/min": f"{statistics.median(between):.3f}",
            "with the clock: correlation": f"{correlation:.2f}", "slope": f"{slope:.2f}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("machine")
    args = parser.parse_args()
    store = ResultsStore(args.results_dir)
    runs = store.runs(args.machine)
    builds: dict[tuple[str, str], list[list[tuple[float, float]]]] = {}
    for run in runs:
        times, clocks = store.night_visits(run, schema.GPU), store.night_visits(run, schema.SM_CLOCK)
        for label, masks in times.items():
            for mask, values in masks.items():
                pairs = list(zip(values, clocks.get(label, {}).get(mask, [])))
                builds.setdefault((label, mask), []).append(pairs)
    print(f"{args.machine}: {len(runs)} nights")
    print(tabulate([band_row(builds, low, high) for low, high in BANDS], headers="keys", tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
