"""How often the re-measurement's burst rules confirm a wall time, on simulated processes.

    python experiments/burst_rule_simulation.py [--trials 6000] [--keys 16] [--offset 0.03]
        [--bursts 0.15] [--partial 0.7] [--one-side baseline] [--injected 8 --step 1.25] [--seed 1]

Each trial is one round of 10 processes a side over ``--keys`` wall times: each process
has its level (2% spread), each value its own noise (3%); a process is in a burst with
probability ``--bursts``, which hits ``--partial`` of the time a random fifth to three
fifths of its keys, else all of them, each 1.15-1.45x. ``--offset`` makes the contender
that much slower in every key (a real difference under the factor, as between two
builds' parents); ``--injected`` keys are ``--step`` slower besides. Every key is
decided (``noise.decide``, factor 1.05) without the values left out by the process rule
alone (``remeasure.process_level``) and by today's (with ``remeasure.burst_hit``), and
the counts of confirmed keys are printed for both.
"""

from __future__ import annotations

import argparse
import collections
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib import noise, remeasure  # noqa: E402

SIDES = ("baseline", "contender")
PROCESSES = 10
PROCESS_SPREAD, KEY_SPREAD = 0.02, 0.03
BURST_LEVELS = (1.15, 1.45)
TODAYS_BURST_HIT = remeasure.burst_hit


def left_out(values: remeasure.Values, todays: bool) -> remeasure.Disturbed:
    """The values each rule leaves out: today's, or the process rule alone."""
    remeasure.burst_hit = TODAYS_BURST_HIT if todays else (lambda *_: 1.0)  # type: ignore[assignment]
    try:
        return remeasure.disturbed_processes(values)
    finally:
        remeasure.burst_hit = TODAYS_BURST_HIT


def process_bursts(rng: random.Random, args: argparse.Namespace, side: str) -> list[dict[int, float]]:
    """Per process of one side, the keys its burst hit and how much."""
    bursts = []
    for _ in range(PROCESSES):
        hit: list[int] = []
        if rng.random() < args.bursts and args.one_side in (None, side):
            hit = (rng.sample(range(args.keys), rng.randint(max(1, args.keys // 5), args.keys * 3 // 5))
                   if rng.random() < args.partial else list(range(args.keys)))
        bursts.append({key: rng.uniform(*BURST_LEVELS) for key in hit})
    return bursts


def trial(rng: random.Random, args: argparse.Namespace) -> remeasure.Values:
    """One round's wall times, per key and side."""
    levels = {side: [math.exp(rng.gauss(0, PROCESS_SPREAD)) for _ in range(PROCESSES)] for side in SIDES}
    bursts = {side: process_bursts(rng, args, side) for side in SIDES}
    values: remeasure.Values = {}
    for key in range(args.keys):
        values[(f"k{key}", "causal_bias")] = sides = {}
        for side in SIDES:
            centre = 1.0
            if side == "contender":
                centre = (1.0 + args.offset) * (args.step if key < args.injected else 1.0)
            sides[side] = {"wall": [centre * levels[side][index] * math.exp(rng.gauss(0, KEY_SPREAD))
                                    * bursts[side][index].get(key, 1.0) for index in range(PROCESSES)]}
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=6000)
    parser.add_argument("--keys", type=int, default=16)
    parser.add_argument("--offset", type=float, default=0.0, help="the contender this much slower in every key")
    parser.add_argument("--bursts", type=float, default=0.15, help="a process's chance of a burst")
    parser.add_argument("--partial", type=float, default=0.7, help="a burst's chance to hit part of the keys")
    parser.add_argument("--one-side", choices=SIDES, help="bursts in this side's processes alone")
    parser.add_argument("--injected", type=int, default=0, help="keys slower by --step besides")
    parser.add_argument("--step", type=float, default=1.25)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    confirmed: collections.Counter[tuple[str, str]] = collections.Counter()
    counts: collections.Counter[str] = collections.Counter()
    for _ in range(args.trials):
        values = trial(rng, args)
        rules = {"process rule": left_out(values, False), "today's": left_out(values, True)}
        for number, key in enumerate(values):
            group = "injected" if number < args.injected else "untouched"
            counts[group] += 1
            for rule, disturbed in rules.items():
                baseline, contender, _ = remeasure.decided_values(values[key], "wall", disturbed.get(key))
                confirmed[(group, rule)] += noise.decide(baseline, contender, 1.05).outcome == "confirmed"
    for group, count in counts.items():
        print(f"{group}: {count} keys; confirmed " + ", ".join(
            f"{rule} {confirmed[(group, rule)]} ({confirmed[(group, rule)] / count:.2e})"
            for rule in ("process rule", "today's")))


if __name__ == "__main__":
    main()
