"""What the rest before a heavy key's GPU-time blocks buys, in the night's own GPU passes, in one process.

    python experiments/gpu_rest_variants.py [--rounds 4] [--rests-ms 100 50 0] [--rest-replays 10] [--out OUT.jsonl]
    python experiments/gpu_rest_variants.py --summarize OUT.jsonl

The night's first pass (``night.NightPasses.first_pass``: every config built,
checked and visited once), then ``--rounds`` rounds of the night's GPU passes
(``NightPasses.gpu_pass``: GPU_REST_SECONDS first, a build per config, the least
GPU work first), one pass per variant a round, the variants' order rotated each
round. A variant rests a heavy key (one replay of HEAVY_GPU_SECONDS or more)
between its capture and its blocks by its own rule: ``--rests-ms`` a fixed rest
(100: the night's), ``--rest-replays N`` N times one replay, at most
HEAVY_GPU_REST_SECONDS. The first variant named is the one the others are set
against.

On an H200 most of a night's GPU-time spread between nights of one VM is its
builds' (63-81% of the variance, save the heavy keys, 18%:
docs/measurements/2026-12-05-cpu-gpu-build-spread.md), so a variant's spread
over its builds in one process prices its precision (for the heavy keys, a
lower bound) and its passes' seconds its cost. Prints per variant and band of GPU time: keys, the
median and p90 per-key spread of the builds' log, the median ratio of a key's
median build over the first variant's, and the seconds of a pass and of its rests.
``--grid cpu`` runs the same passes on the CPU grid, where nothing rests: a smoke
test of the probe itself.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from remeasure_spread import band_of  # noqa: E402  (this folder's: a GPU time's band)

from benchmarks.schema import (  # noqa: E402  (no torch)
    GRIDS_BY_NAME,
    HEAVY_GPU_REST_SECONDS,
    HEAVY_GPU_SECONDS,
    MASKS,
    Phase,
)

BANDS_MS = (0.2, 1.0, 2.0, 10.0)  # GPU time bands' upper bounds; the last band is open


def rest_rules(rests_ms: list[float], rest_replays: list[float]) -> dict[str, Callable[[float], float]]:
    """Each variant's rest before a key's blocks, in seconds, from one replay's seconds, by name."""
    rules: dict[str, Callable[[float], float]] = {}
    for ms in rests_ms:
        rules[f"rest {ms:g} ms"] = lambda once, ms=ms: ms / 1e3 if once >= HEAVY_GPU_SECONDS else 0.0
    for replays in rest_replays:
        rules[f"rest {replays:g} replays"] = (
            lambda once, replays=replays: min(HEAVY_GPU_REST_SECONDS, replays * once) if once >= HEAVY_GPU_SECONDS
            else 0.0)
    return rules


def rotated(names: list[str], round_index: int) -> list[str]:
    shift = round_index % len(names)
    return names[shift:] + names[:shift]


def run(grid: str, rounds: int, rules: dict[str, Callable[[float], float]], out: Path) -> None:
    import torch

    from benchmarks.measure import night
    from benchmarks.measure.model import in_steady_folder, lower_right_causal_mask, use_device
    from benchmarks.night_state import GridState
    from benchmarks.schema import grid_configs

    device = GRIDS_BY_NAME[grid].device
    configs = grid_configs(GRIDS_BY_NAME[grid].params, device)
    use_device(device)

    state = GridState(torch.cuda.get_device_name() if device == "cuda" else "CPU")
    passes = night.NightPasses(state, lower_right_causal_mask)
    names = list(rules)
    with in_steady_folder(), out.open("w") as sink:
        passes.on_cpu_of_pass(0)
        for config in configs:
            passes.first_pass(config)
        index = 0
        for round_index in range(rounds):
            for name in rotated(names, round_index):
                # NightPasses.heavy_rest rests what this module-level rule says: the night's own, or a variant's.
                night.heavy_rest_seconds = rules[name]
                for row in one_pass(passes, state, configs, index, name, round_index):
                    sink.write(json.dumps(row) + "\n")
                sink.flush()
                index += 1
        passes.release_cpus()


def one_pass(passes, state, configs, index: int, name: str, round_index: int) -> list[dict]:
    """One GPU pass under ``name``'s rest: a row per key measured, then the pass's seconds."""
    counts = {(config, mask): len(figures[mask].kernel_visits)
              for config, figures in state.figures.items() if isinstance(figures, dict) for mask in MASKS}
    rested = state.phases.get(Phase.HEAVY_REST, 0.0)
    started = time.perf_counter()
    passes.gpu_pass(index, configs)
    rows = [{"pass": index, "round": round_index, "variant": name, "seconds": time.perf_counter() - started,
             "rest_seconds": state.phases.get(Phase.HEAVY_REST, 0.0) - rested}]
    for (config, mask), before in counts.items():
        figures = state.figures[config][mask]
        if len(figures.kernel_visits) > before:
            clocks = figures.sm_clocks_mhz
            rows.append({"pass": index, "variant": name, "config": config.label, "mask": mask,
                         "gpu_seconds": figures.kernel_visits[-1], "sm_clock": clocks[-1] if clocks else None})
    return rows


def summarize(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    passes = [row for row in rows if "seconds" in row]
    builds: dict[str, dict[tuple[str, str], list[float]]] = {}
    for row in rows:
        if "gpu_seconds" in row and row["gpu_seconds"] and row["gpu_seconds"] > 0:
            builds.setdefault(row["variant"], {}).setdefault((row["config"], row["mask"]), []).append(
                math.log(row["gpu_seconds"]))
    names = list(dict.fromkeys(row["variant"] for row in passes))
    if not names or names[0] not in builds:
        raise SystemExit(f"{path}: no GPU times recorded")
    first = builds[names[0]]
    bands = {key: band_of(math.exp(statistics.median(logs)), list(BANDS_MS)) for key, logs in first.items()}
    print(f"{path}: {len(passes)} passes, {len(first)} keys; spread: the standard deviation of a key's builds' log")
    print(f"{'variant':<20} {'band':<12} {'keys':>5} {'spread':>8} {'p90':>8} {'over first':>11}")
    for name in names:
        for band in sorted(set(bands.values())):
            keys = [key for key in builds.get(name, {}) if bands.get(key) == band]
            spreads = sorted(statistics.stdev(builds[name][key]) for key in keys if len(builds[name][key]) > 1)
            ratios = [statistics.median(builds[name][key]) - statistics.median(first[key]) for key in keys]
            if not spreads:
                continue
            print(f"{name:<20} {band[1]:<12} {len(keys):>5} {100 * statistics.median(spreads):>7.2f}% "
                  f"{100 * spreads[int(0.9 * (len(spreads) - 1))]:>7.2f}% {math.exp(statistics.median(ratios)):>11.4f}")
    for name in names:
        own = [row for row in passes if row["variant"] == name]
        print(f"{name:<20} a pass {statistics.median(row['seconds'] for row in own):.2f} s (median of {len(own)}), "
              f"its rests {statistics.median(row['rest_seconds'] for row in own):.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4, help="passes per variant (default 4)")
    parser.add_argument("--rests-ms", type=float, nargs="*", default=[100.0, 50.0, 0.0],
                        help="fixed rests of heavy keys, ms (default 100 50 0; 100 is the night's)")
    parser.add_argument("--rest-replays", type=float, nargs="*", default=[10.0],
                        help="rests of this many replays' time, at most HEAVY_GPU_REST_SECONDS (default 10)")
    parser.add_argument("--grid", choices=("gpu", "cpu"), default="gpu")
    parser.add_argument("--out", type=Path, default=Path("rest_variants.jsonl"))
    parser.add_argument("--summarize", type=Path, help="read a recorded OUT again and print its summary")
    args = parser.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return 0
    rules = rest_rules(args.rests_ms, args.rest_replays)
    if not rules or args.rounds < 2:
        parser.error("give one variant at least and two rounds at least (a spread needs two builds)")
    run(args.grid, args.rounds, rules, args.out)
    summarize(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
