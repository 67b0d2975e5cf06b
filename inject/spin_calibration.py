#!/usr/bin/env python3
"""The spin kernel's length for each GPU slowdown of a spec, so that it adds its ``gpu_us`` of CUDA-graph GPU time.

    python inject/spin_calibration.py SPEC

``torch.cuda._sleep`` counts SM cycles; at the sleep rate alone a "+5%" slowdown
added 0.94-1.32 of its amount to a config's CUDA-graph GPU time on an H200 at a
steady clock (a spin of 2 us takes about 5), a step of 4.7-6.7%
(docs/measurements/2026-12-04-h200-injector-calibration.md). For each GPU
slowdown, in one process of the environment to slow (before the injector is
armed there): the config's forward captured plain and after spins of c and 2c
cycles (c at the sleep rate), their GPU times taken in turns after a rest, the
line through the two spins' added times solved for ``gpu_us``; then that length
taken again beside the plain forward. A length beyond
``attention_slowdown.CALIBRATION_RANGE`` of the rate's (the line drawn through
noise) is not kept. The lengths are kept beside the spec
(``attention_slowdown.SPIN_SUFFIX``), per GPU and amount, where the injector
reads them.
Without CUDA there is nothing to calibrate: the slowdowns stay at the rate.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "inject")]

import attention_slowdown as injector  # noqa: E402

ROUNDS = 4  # each round takes every graph once, in turn: a clock or heat change meets them all alike


def median_seconds(graphs: dict, rounds: int) -> dict[str, float]:
    """The median GPU time of each graph over ``rounds`` turns, each after the suite's GPU rest."""
    from benchmarks.measure.timers import replayed_seconds
    from benchmarks.schema import GPU_REST_SECONDS

    times: dict[str, list[float]] = {name: [] for name in graphs}
    for _ in range(rounds):
        for name, captured in graphs.items():
            time.sleep(GPU_REST_SECONDS)
            times[name].append(replayed_seconds(captured.graph, captured.replays))
    return {name: statistics.median(values) for name, values in times.items()}


def calibrated_cycles(entry: dict, rate: float) -> tuple[int | None, str]:
    """The spin's cycles that add ``entry['gpu_us']`` to the entry's forward (None: the measurement says
    nothing the rate does not, or measured noise), and a line saying so."""
    import torch

    from benchmarks.measure.model import build_case
    from benchmarks.measure.timers import captured_replays
    from benchmarks.measure.worker import parse_label

    case = build_case(parse_label(entry["config"], "cuda"))
    case.warm_up(entry["mask"])
    run = case.runner(entry["mask"])
    target = entry["gpu_us"] * 1e-6
    first = injector.cycles_at_rate(entry, rate)

    def spun(cycles: int):
        def call() -> torch.Tensor:
            torch.cuda._sleep(cycles)
            return run()
        return captured_replays(call)

    times = median_seconds({"plain": captured_replays(run), "c": spun(first), "2c": spun(2 * first)}, ROUNDS)
    at_c, at_2c = times["c"] - times["plain"], times["2c"] - times["plain"]
    per_cycle = (at_2c - at_c) / first
    cycles = round(first + (target - at_c) / per_cycle) if per_cycle > 0 else 0
    line = (f"{entry['config']} {entry['mask']}: {entry['gpu_us']:.2f} us on {times['plain'] * 1e6:.1f} us; "
            f"at the rate ({first} cycles) {at_c / target:.3f} of it")
    if not injector.within_calibration_range(cycles, first):
        line += f"; the line through c and 2c ({cycles} cycles) is noise: the rate's length stays"
        return None, line
    check = median_seconds({"plain": captured_replays(run), "calibrated": spun(cycles)}, ROUNDS)
    line += f"; calibrated {cycles} cycles: {(check['calibrated'] - check['plain']) / target:.3f} of it"
    return cycles, line


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: spin_calibration.py SPEC", file=sys.stderr)
        return 2
    import json

    import torch

    spec = argv[0]
    entries = [entry for entry in json.loads(Path(spec).read_text())["slowdowns"] if entry.get("gpu_us")]
    if not entries or not torch.cuda.is_available():
        print(f"spin_calibration: {'no GPU slowdown' if not entries else 'no CUDA device'}: nothing to calibrate")
        return 0
    rate = injector._sleep_rate(spec)
    cycles = {}
    for entry in entries:
        length, line = calibrated_cycles(entry, rate)
        torch.cuda.empty_cache()  # the config's case went with the call: the next one is built alone
        print(line, flush=True)
        if length is not None:
            cycles[injector.entry_key(entry)] = length
    injector.keep_for_gpu(spec + injector.SPIN_SUFFIX, torch.cuda.get_device_name(), cycles)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
