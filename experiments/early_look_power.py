"""What the re-measurement's looks before the last cost and save, on simulated per-process values.

    python experiments/early_look_power.py [--ratio 1.05] [--sigma 0.01] [--extra 4] [--draws 4000] [--seed 1]

Each draw is one key re-measured in ``--processes`` processes a side: per-process
values log-normal with spread ``--sigma`` (a process's level, the unit the rank
test sees), the contender's scaled by ``--ratio``. The key is decided as
``lib.remeasure`` decides it: set aside as refuted at each look before the last
(``noise.refuted_early`` at 6, 8, ... a side, every block of four), else by
``noise.decide`` over all its processes; and, for comparison, by one look at
the last alone; a key the last look leaves undecided (``noise.undecided``) gets
``--extra`` more a side (what the budget left holds: ``remeasure.extra_processes``). Prints
each rule's share of confirmed, refuted and undecided, and the processes a side
the looks spend on average. At ``--ratio`` equal to
the factor, "refuted" is the rule's error: a slowdown of exactly the factor
ruled out; at 1.0, the share refuted early is what the looks save.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib import noise, remeasure  # noqa: E402


def decided_with_looks(baseline: list[float], contender: list[float], factor: float,
                       processes: int) -> tuple[str, int]:
    """The outcome and the processes a side it took, looking at each block's start from 6 a side on, and
    with the lists' processes beyond ``processes`` where the last look leaves it undecided."""
    for side in (index // 2 for index in range(2 * processes) if remeasure.looks_early(index)):
        if noise.refuted_early(baseline[:side], contender[:side], factor):
            return "refuted", side
    if noise.undecided(baseline[:processes], contender[:processes], factor):
        return noise.decide(baseline, contender, factor).outcome, len(baseline)
    return noise.decide(baseline[:processes], contender[:processes], factor).outcome, processes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratio", type=float, default=1.05, help="the contender's true slowdown")
    parser.add_argument("--sigma", type=float, default=0.01, help="per-process spread, log scale")
    parser.add_argument("--factor", type=float, default=1.05)
    parser.add_argument("--processes", type=int, default=10, help="a side")
    parser.add_argument("--extra", type=int, default=noise.EXTRA_PROCESSES,
                        help="more a side after the last look (4 to 20: what the budget left holds)")
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    looks: collections.Counter[str] = collections.Counter()
    last: collections.Counter[str] = collections.Counter()
    spent = 0
    for _ in range(args.draws):
        drawn = args.processes + args.extra
        baseline = [rng.lognormvariate(0.0, args.sigma) for _ in range(drawn)]
        contender = [args.ratio * rng.lognormvariate(0.0, args.sigma) for _ in range(drawn)]
        outcome, side = decided_with_looks(baseline, contender, args.factor, args.processes)
        looks[outcome] += 1
        spent += side
        last[noise.decide(baseline[:args.processes], contender[:args.processes], args.factor).outcome] += 1
    print(f"ratio {args.ratio}, sigma {args.sigma}, factor {args.factor}, {args.processes} a side, "
          f"{args.draws} draws, seed {args.seed}")
    for name, counts in (("looks at 6, 8, ..., the last, more where undecided", looks), ("the last look alone", last)):
        shares = ", ".join(f"{outcome} {counts[outcome] / args.draws:.3f}"
                           for outcome in ("confirmed", "refuted", "undecided"))
        print(f"{name}: {shares}")
    print(f"processes a side with the looks: {spent / args.draws:.2f} (planned: {args.processes})")


if __name__ == "__main__":
    main()
