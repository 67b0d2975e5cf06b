"""Can the other keys of a re-measurement process stand in for its host level? Replayed, then simulated.

The wall times one re-measurement process takes of short keys move together
(a level of the process's own). This takes that level out of each key's
per-process wall times: the mean, over the other short keys of the same
process, of each one's log value less the median of its own side (its side's
median, so that a change of torch's common to every key is not taken out with
the host). Then it decides each key again with the check's rule
(``noise.decide``) as measured and adjusted.

Replay: over the per-process values that ``check_regressions.py --format json``
recorded (one round each: a key's i-th value of a side is that side's i-th
process), each key's outcome as measured and adjusted; ``--spec`` names which
keys a check's night had slowed (``tools/inject.py plan``'s file) for a tally of
injected against untouched keys.

Simulation (``--simulate``): the same adjustment where the truth is known:
keys sharing a per-process level (Gaussian or two-speed), sides in blocks of
ABBA or BAAB as the re-measurement orders them, no change and steps of 5% and
10% on one key: how often the rule confirms, as measured and adjusted. The
sides' own mean levels stay in every adjusted key as one offset, which the
rank test, given the smaller spread, does not allow for: an unchanged key is
confirmed far above the rule's 1e-4 (docs/noise.md, "A process's host level").

    python experiments/host_level_replay.py CHECK.json [...] [--spec CHECK.json=SPEC.json ...] [--short-ms 0.5]
    python experiments/host_level_replay.py --simulate [--draws 4000] [--seed 1] [--processes 10 16 20] [--keys 10]

CPU only, seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib import noise  # noqa: E402
from lib.remeasure import SIDES, process_order  # noqa: E402


def adjusted(values: dict[tuple, list[float]], key: tuple, side: str, probes: set[tuple]) -> list[float]:
    """``key``'s values of ``side``, each over the mean level of the other probes in its process (two or more)."""
    residuals = {}
    for probe in probes - {key}:
        logs = [math.log(v) for v in values.get((*probe, side), [])]
        if logs:
            residuals[probe] = [x - statistics.median(logs) for x in logs]
    out = []
    for index, value in enumerate(values[(*key, side)]):
        levels = [r[index] for r in residuals.values() if len(r) > index]
        out.append(value / math.exp(statistics.mean(levels)) if len(levels) >= 2 else value)
    return out


def pooled_spread(values: dict[tuple, list[float]], probes: set[tuple], side: str, take_out: bool) -> list[float]:
    """Every probe's log values of ``side`` less their median, as measured or with the level taken out."""
    out = []
    for key in probes:
        logs = [math.log(v) for v in (adjusted(values, key, side, probes) if take_out else values[(*key, side)])]
        out += [x - statistics.median(logs) for x in logs]
    return out


def rms(parts: list[list[float]]) -> float:
    flat = [x for part in parts for x in part]
    return math.sqrt(sum(x * x for x in flat) / len(flat)) if flat else 0.0


def replay(check: Path, spec: Path | None, short_seconds: float, tally: Counter) -> None:
    report = json.loads(check.read_text())
    confirmation = report.get("confirmation") or {}
    values: dict[tuple, list[float]] = {}
    for entry in confirmation.get("values", []):
        for side in SIDES:
            if entry.get(side, {}).get("wall"):
                values[(entry["config"], entry["mask"], side)] = entry[side]["wall"]
    keys = sorted({(config, mask) for config, mask, _ in values})
    both = [key for key in keys if all((*key, side) in values for side in SIDES)]
    probes = {key for key in both if statistics.median(values[(*key, "baseline")]) < short_seconds}
    injected = ({(s["config"], s["mask"]) for s in json.loads(spec.read_text())["slowdowns"] if s.get("cpu_us")}
                if spec else None)
    spreads = [pooled_spread(values, probes, side, take_out) for take_out in (False, True) for side in SIDES]
    if len(probes) > 2:
        print(f"{check.name}: {len(probes)} short wall keys; their spread between processes (rms of the log, "
              f"each key and side over its median) {100 * rms(spreads[:2]):.2f}% as measured, "
              f"{100 * rms(spreads[2:]):.2f}% with the level taken out")
    for key in both:
        measured = noise.decide(values[(*key, "baseline")], values[(*key, "contender")], report["factor"])
        if key in probes:
            taken_out = noise.decide(*(adjusted(values, key, side, probes) for side in SIDES), report["factor"])
        else:
            taken_out = measured
        truth = "-" if injected is None else ("injected" if key in injected else "untouched")
        tally[(truth, measured.outcome, taken_out.outcome)] += 1
        print(f"{check.name} {truth:9s} {key[0]} {key[1]}: as measured {measured.outcome} {measured.ratio:.3f} "
              f"p={measured.p_change:.1e}; level taken out {taken_out.outcome} {taken_out.ratio:.3f} "
              f"p={taken_out.p_change:.1e}")


def simulated_outcomes(step: float, rng: random.Random, keys: int = 10, processes: int = 10, host: float = 0.04,
                       own: float = 0.037, two_speed: bool = False) -> tuple[str, str]:
    order = process_order(processes, rng)
    levels = [rng.choice((0.0, 0.08)) if two_speed else rng.gauss(0.0, host) for _ in order]
    values: dict[tuple, list[float]] = {}
    for level, side in zip(levels, order, strict=False):
        for key in range(keys):
            shift = math.log(step) if key == 0 and side == "contender" else 0.0
            values.setdefault((key, "", side), []).append(math.exp(level + shift + rng.gauss(0.0, own)))
    probes = {(key, "") for key in range(keys)}
    measured = noise.decide(values[(0, "", "baseline")], values[(0, "", "contender")], 1.05)
    taken_out = noise.decide(*(adjusted(values, (0, ""), side, probes) for side in SIDES), 1.05)
    return measured.outcome, taken_out.outcome


def simulate(draws: int, seed: int, processes: list[int], keys: int) -> None:
    """Each level's model at each number of processes a side: how often no change, 5%, 10% and 25% are confirmed
    (each key's own spread 3.7%; the level Gaussian 4% or 8%, or two speeds 8% apart)."""
    rng = random.Random(seed)
    print("per-process level | processes a side | step | confirmed as measured | with the level taken out")
    for name, settings in (("Gaussian 4%", {}), ("two speeds 0/8%", {"two_speed": True}),
                           ("Gaussian 8%", {"host": 0.08})):
        for count in processes:
            for step in (1.0, 1.05, 1.10, 1.25):
                n = draws if step == 1.0 else max(1, draws // 4)
                outcomes = [simulated_outcomes(step, rng, keys, count, **settings) for _ in range(n)]
                measured = sum(a == "confirmed" for a, _ in outcomes) / n
                taken_out = sum(b == "confirmed" for _, b in outcomes) / n
                print(f"{name} | {count} | {step:.2f} | {measured:.4f} | {taken_out:.4f} ({n} draws)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checks", nargs="*", type=Path)
    parser.add_argument("--spec", action="append", default=[], help="CHECK.json=SPEC.json")
    parser.add_argument("--short-ms", type=float, default=0.5, help="probes and adjusted keys: walls under this")
    parser.add_argument("--simulate", action="store_true")
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--processes", type=int, nargs="+", default=[10], help="a side, in the simulation")
    parser.add_argument("--keys", type=int, default=10, help="keys a process, in the simulation")
    args = parser.parse_args()
    if args.simulate:
        simulate(args.draws, args.seed, args.processes, args.keys)
        return
    specs = {Path(check).name: Path(spec) for check, _, spec in (s.partition("=") for s in args.spec)}
    tally: Counter = Counter()
    for check in args.checks:
        replay(check, specs.get(check.name), args.short_ms / 1e3, tally)
    for (truth, measured, taken_out), count in sorted(tally.items()):
        print(f"{truth}: {measured} -> {taken_out}: {count}")


if __name__ == "__main__":
    main()
