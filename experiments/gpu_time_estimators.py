"""How far each way of reducing a night's GPU-time builds to one value moves between nights.

    python experiments/gpu_time_estimators.py RESULTS_DIR MACHINE [--commits C1 C2 ...]

A night before c3b3816 timed each call under 10 ms as a CUDA graph in three builds (its `.night`
file keeps each build's GPU time). Over consecutive nights of one machine (the
results' order, or the ``--commits`` given, oldest first), for each result with
three builds on both nights: |log(tonight / last night)| of each reduction, per
class (launch-bound where the fastest wall visit is at least 1.5x the fastest
build). Host slowdowns leave GPU times alone, so nights of injected host
slowdowns count as A/A nights for it. CPU only, seconds: run it on a GPU
machine's results copied back.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from tabulate import tabulate

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tools")]
from lib import noise  # noqa: E402
from lib.results import ResultsStore  # noqa: E402
from lib.suite import schema  # noqa: E402

from benchmarks.night_state import MaskFigures  # noqa: E402  (torch-free: the night's own reduction)

REDUCTIONS: dict[str, Callable[[list[float]], float]] = {
    "fastest": min,
    "the night's: two fastest, geometric mean": lambda builds: MaskFigures(kernel_visits=builds).kernel_seconds or 0.0,
    "geometric mean": statistics.geometric_mean,
    "median": statistics.median,
}


def steps(nights: list[tuple[dict, dict]], reduce: Callable[[list[float]], float]) -> dict[str, list[float]]:
    """Per class, each result's |log step| between consecutive nights under ``reduce``."""
    by_class: dict[str, list[float]] = {"GPU-bound": [], "launch-bound": []}
    for (walls, before), (_, after) in zip(nights, nights[1:]):
        for label, masks in before.items():
            for mask, builds in masks.items():
                later = after.get(label, {}).get(mask, [])
                if len(builds) == 3 and len(later) == 3:
                    klass = noise.config_class(min(walls[label][mask]), min(builds))
                    by_class.setdefault(klass, []).append(abs(math.log(reduce(later) / reduce(builds))))
    return by_class


def percentile(values: list[float], share: float) -> float:
    return sorted(values)[min(len(values) - 1, int(share * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("machine")
    parser.add_argument("--commits", nargs="+", help="the nights, oldest first (prefixes); default all")
    args = parser.parse_args()
    store = ResultsStore(args.results_dir)
    runs = store.runs(args.machine)
    if args.commits:
        runs = [store.choose_run(args.machine, prefix, runs) for prefix in args.commits]
    nights = [(store.night_visits(run), store.night_visits(run, schema.GPU)) for run in runs]
    rows = []
    for name, reduce in REDUCTIONS.items():
        for klass, values in steps(nights, reduce).items():
            if values:
                rows.append({"reduction": name, "class": klass, "steps": len(values),
                             "median": f"{100 * statistics.median(values):.2f}%",
                             "p90": f"{100 * percentile(values, 0.9):.2f}%",
                             "p99": f"{100 * percentile(values, 0.99):.2f}%"})
    print(f"{args.machine}: {len(runs)} nights, GPU time's |log step| between consecutive nights")
    print(tabulate(rows, headers="keys", tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
