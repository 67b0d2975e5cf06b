"""Whether a night's GPU time follows the config timed before it: the power cap's after-effect in the night.

    python experiments/gpu_time_order.py RESULTS_DIR MACHINE --commits C1 C2 ... [--heavy-ms 5]

A night before c3b3816 took each GPU-grid config's GPU time once in each full
pass after the checks (since, in rested passes of their own, the least GPU work
first: what this found), in the pass's own order (``random.Random(pass).shuffle``, the same every
night: ``benchmarks/measure/night.py``), so a config follows the same configs
every night. This replays that order (assuming every config passed its check)
and prints, from the nights' `.night` files:

- each build's GPU time over its result's median, by the GPU time of the config
  before it in that pass (both masks), with the SM clock read beside it;
- each result's night-to-night steps of the night's figure (the two fastest
  builds' geometric mean), by its own GPU time and by how many of its passes
  came right after a config of at least ``--heavy-ms`` of GPU time.

CPU only, seconds: run it on a GPU machine's results copied back.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks import schema  # noqa: E402

FULL_PASSES = (1, 2, 3)  # the full passes after the checks (night.WALL_PASSES = 4)
BANDS_MS = ((0, 0.1), (0.1, 1), (1, 5), (5, 20), (20, 1e6))

Key = tuple[str, str]


def read_nights(results: Path, machine: str, commits: list[str]) -> tuple[dict[Key, list], dict[Key, list]]:
    """(label, mask) -> per night its builds' GPU times, and the SM clocks read beside them."""
    times: dict[Key, list] = {}
    clocks: dict[Key, list] = {}
    for commit in commits:
        (path,) = (results / machine).glob(f"{commit}*.night")
        night = json.loads(path.read_text())
        for label, masks in night["gpu_time_visits"].items():
            for mask, values in masks.items():
                times.setdefault((label, mask), []).append(values)
                clocks.setdefault((label, mask), []).append(night["sm_clock_mhz"][label][mask])
    return times, clocks


def predecessors(configs: list[schema.AttentionConfig]) -> dict[tuple[int, str], str | None]:
    """(pass, label) -> the label timed right before it in that pass (None: the pass's first)."""
    before: dict[tuple[int, str], str | None] = {}
    for index in FULL_PASSES:
        order = list(configs)
        random.Random(index).shuffle(order)
        for position, config in enumerate(order):
            before[(index, config.label)] = order[position - 1].label if position else None
    return before


def night_figure(builds: list[float]) -> float:
    """The night's GPU time: the two fastest builds' geometric mean (one build: itself)."""
    fastest = sorted(builds)[:2]
    return math.sqrt(fastest[0] * fastest[-1])


def quantile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("machine")
    parser.add_argument("--commits", nargs="+", required=True, help="the nights, oldest first (hash prefixes)")
    parser.add_argument("--heavy-ms", type=float, default=5.0)
    args = parser.parse_args()
    grid = next(grid for grid in schema.GRIDS if grid.device == "cuda")
    configs = schema.grid_configs(grid.params, "cuda")
    times, clocks = read_nights(args.results, args.machine, args.commits)
    median = {key: statistics.median(v for night in nights for v in night) for key, nights in times.items()}
    config_time = {c.label: sum(median.get((c.label, mask), 0.0) for mask in schema.MASKS) for c in configs}
    before = predecessors(configs)
    rows = []
    for (label, mask), nights in times.items():
        for night, builds in enumerate(nights):
            for build, value in enumerate(builds):
                # Three builds: one a full pass; one (a long call): the last pass's.
                index = FULL_PASSES[build] if len(builds) == len(FULL_PASSES) else FULL_PASSES[-1]
                previous = before.get((index, label))
                rows.append({"own": median[(label, mask)],
                             "before": config_time.get(previous, 0.0) if previous else 0.0,
                             "relative": value / median[(label, mask)], "clock": clocks[(label, mask)][night][build]})
    for name, low, high in (("under 1 ms", 0.0, 1e-3), ("1-10 ms", 1e-3, 1e-2)):
        for band in BANDS_MS:
            chosen = [r for r in rows if low <= r["own"] < high and band[0] <= r["before"] * 1e3 < band[1]]
            if not chosen:
                continue
            relative = [r["relative"] for r in chosen]
            measured_clocks = [r["clock"] for r in chosen if r["clock"]]
            print(f"results {name}, after a config of {band[0]:g}-{band[1]:g} ms: {len(chosen)} builds, over the "
                  f"result's median {statistics.median(relative):.4f} (p90 {quantile(relative, 0.9):.4f}, max "
                  f"{max(relative):.3f}); SM clock median {statistics.median(measured_clocks):g} MHz")
    heavy = {c.label: sum(1 for index in FULL_PASSES if (previous := before[(index, c.label)])
                          and config_time.get(previous, 0.0) >= args.heavy_ms / 1e3) for c in configs}
    print()
    for low, high in ((0, 1e-4), (1e-4, 1e-3), (1e-3, 1e-2)):
        for count in range(len(FULL_PASSES) + 1):
            steps = []
            for (label, mask), nights in times.items():
                if low <= median[(label, mask)] < high and heavy[label] == count:
                    series = [night_figure(builds) for builds in nights]
                    steps.append(statistics.median(abs(math.log(b / a)) for a, b in zip(series, series[1:])))
            if steps:
                print(f"results of {low * 1e3:g}-{high * 1e3:g} ms, {count} of their passes after a config of "
                      f"{args.heavy_ms:g} ms or more: {len(steps)} results, median night-to-night |log step| "
                      f"{statistics.median(steps):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
