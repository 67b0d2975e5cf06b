#!/usr/bin/env python3
"""The spin kernel's length for each GPU slowdown of a spec, so that it adds its ``gpu_us`` of CUDA-graph GPU time.

    python inject/spin_calibration.py SPEC

``torch.cuda._sleep`` counts SM cycles; at the sleep rate alone a "+5%" slowdown
added 0.94-1.32 of its amount to a config's CUDA-graph GPU time on an H200 at a
steady clock (a spin of 2 us takes about 5), a step of 4.7-6.7%
(docs/measurements/2026-12-04-h200-injector-calibration.md). For each GPU
slowdown, in one process of the environment to slow (before the injector is
armed there): the config's forward captured plain and after spins of c and 2c
cycles (c at the sleep rate), their GPU times taken in turns after a rest (more
rounds where the forward moves as much as the amount, ``PRECISION``). Where the
rate's length adds its amount within noise (``SIGNIFICANT``) it stays; otherwise
the line through the two spins' added times is solved for ``gpu_us``, and that
length and the rate's taken again beside the plain forward: it is kept only where
it adds nearer the amount (``closer``). A length beyond
``attention_slowdown.CALIBRATION_RANGE`` of the rate's (the line drawn through
noise) is not kept. The lengths are kept beside the spec
(``attention_slowdown.SPIN_SUFFIX``), per GPU and amount, where the injector
reads them.
Without CUDA there is nothing to calibrate: the slowdowns stay at the rate.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "inject")]

import attention_slowdown as injector  # noqa: E402

MIN_ROUNDS = 4  # each round takes every graph once, in turn: a clock or heat change meets them all alike
MAX_ROUNDS = 12
# More rounds until the rate's added time is known to this fraction of the amount (its standard error):
# a forward at the power cap moves 2-3% of itself between rounds, as much as a "+5%" amount.
PRECISION = 0.1
# The rate's length is moved only where it misses its amount by more than this many standard errors: on
# an H200 four rounds of a 51 ms forward at its power cap put the rate's length at 0.29 of the amount, and
# the line through them gave a length that added 1.58 of it; over nine rounds a spin and real work added
# 0.5-2.2 of their length there (docs/measurements/2026-12-04-h200-workers-and-cupti.md).
SIGNIFICANT = 2.0
MEDIAN_ERROR = math.sqrt(math.pi / 2)


def round_seconds(graphs: dict, rounds: int, times: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Each graph's GPU time in ``rounds`` more turns, each after the suite's GPU rest, added to ``times``."""
    from benchmarks.measure.timers import replayed_seconds
    from benchmarks.schema import GPU_REST_SECONDS

    times = times if times is not None else {name: [] for name in graphs}
    for _ in range(rounds):
        for name, captured in graphs.items():
            time.sleep(GPU_REST_SECONDS)
            times[name].append(replayed_seconds(captured.graph, captured.replays))
    return times


class Added(NamedTuple):
    """What a spin adds to the forward over the rounds: the median of each round's difference, and the
    median's standard error (1.2533 the mean's, for normal steps)."""

    seconds: float
    error: float


def added(times: dict[str, list[float]], name: str) -> Added:
    steps = [spun - plain for spun, plain in zip(times[name], times["plain"], strict=True)]
    error = MEDIAN_ERROR * statistics.stdev(steps) / math.sqrt(len(steps)) if len(steps) > 1 else math.inf
    return Added(statistics.median(steps), error)


def precise_enough(times: dict[str, list[float]], target: float) -> bool:
    return added(times, "c").error <= PRECISION * target


def spin_length(times: dict[str, list[float]], target: float, first: int) -> tuple[int | None, str]:
    """The cycles whose spin adds ``target`` seconds, from the rounds of the plain forward and of spins of
    ``first`` (the rate's length) and 2 x ``first`` cycles; None where the rate's length stays (it adds
    its amount within SIGNIFICANT standard errors, or the line through the two spins is noise), and why."""
    at_c, at_2c = added(times, "c"), added(times, "2c")
    said = f"at the rate ({first} cycles) {at_c.seconds / target:.3f} of it (+-{at_c.error / target:.3f}, " \
           f"{len(times['c'])} rounds)"
    if abs(at_c.seconds - target) <= SIGNIFICANT * at_c.error:
        return None, f"{said}: within noise of its amount, the rate's length stays"
    per_cycle = (at_2c.seconds - at_c.seconds) / first
    cycles = round(first + (target - at_c.seconds) / per_cycle) if per_cycle > 0 else 0
    if not injector.within_calibration_range(cycles, first):
        return None, f"{said}; the line through c and 2c ({cycles} cycles) is noise: the rate's length stays"
    return cycles, said


def calibrated_cycles(entry: dict, rate: float) -> tuple[int | None, str]:
    """The spin's cycles that add ``entry['gpu_us']`` to the entry's forward (None: the rate's length
    stays), and a line saying so."""
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

    graphs = {"plain": captured_replays(run), "c": spun(first), "2c": spun(2 * first)}
    times = round_seconds(graphs, MIN_ROUNDS)
    while len(times["plain"]) < MAX_ROUNDS and not precise_enough(times, target):
        round_seconds(graphs, 1, times)
    cycles, said = spin_length(times, target, first)
    line = f"{entry['config']} {entry['mask']}: {entry['gpu_us']:.2f} us on " \
           f"{statistics.median(times['plain']) * 1e6:.1f} us; {said}"
    if cycles is not None:
        # Both lengths again, in the same rounds: the rate's first measure was chosen for missing.
        again = round_seconds({"plain": graphs["plain"], "c": graphs["c"], "calibrated": spun(cycles)},
                              len(times["plain"]))
        calibrated, at_rate = added(again, "calibrated").seconds, added(again, "c").seconds
        line += f"; calibrated {cycles} cycles: {calibrated / target:.3f} of it, the rate's {at_rate / target:.3f}"
        if not closer(calibrated, at_rate, target):
            return None, f"{line}: no closer, the rate's length stays"
    return cycles, line


def closer(calibrated: float, at_rate: float, target: float) -> bool:
    """Whether the calibrated length added nearer ``target`` than the rate's length, both measured again in
    the same rounds: a line through two spins of a short forward drew one that added 1.52 of the amount
    where the rate's had added 0.72 (docs/measurements/2026-12-04-h200-workers-and-cupti.md)."""
    return abs(calibrated - target) < abs(at_rate - target)


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
