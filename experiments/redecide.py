"""Apply the confirmation's decision rule again to the per-process values a check recorded.

    python experiments/redecide.py CHECK.json [--factor 1.05] [--first K] [--bursts] [--spec SPEC.json]

CHECK.json is `tools/check_regressions.py --format json` output of a run with
re-measurement; its "confirmation" holds every re-measured key's per-process
values. Prints, per key and signal, the decision the current rule makes (GPU
times at one SM clock where the check recorded each process's clock, as the check
decides them; ``--as-measured`` leaves them as measured), and a count per
outcome: a way to try a rule on recorded GPU data without a GPU.
``--first K`` also decides on each side's first K processes alone, as a look
part-way through the processes would, and counts (that outcome, the full one).
``--bursts`` leaves out the wall times of the processes that
``remeasure.disturbed_processes`` finds in a burst of the host's slowness (the
check does since it was landed; a recorded check of one round: a key's i-th
value of a side is that side's i-th process), and prints what the check recorded
where that changes an outcome. ``--spec`` (``tools/inject.py plan``'s file) counts
the injected keys apart from the untouched.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib import noise, remeasure  # noqa: E402
from lib.suite import schema  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("check_json", type=Path)
    parser.add_argument("--factor", type=float, default=1.05)
    parser.add_argument("--first", type=int, help="also decide on each side's first K processes")
    parser.add_argument("--as-measured", action="store_true", help="GPU times as measured, not at one SM clock")
    parser.add_argument("--bursts", action="store_true", help="leave out wall times taken in a burst of the host's "
                        "slowness, as the check does")
    parser.add_argument("--spec", type=Path, help="inject.py plan's spec: count injected keys apart")
    args = parser.parse_args()
    report = json.loads(args.check_json.read_text())
    if args.bursts and report["confirmation"].get("rounds", 1) != 1:
        parser.error("--bursts needs a check of one round: a later round's processes are other processes")
    injected = ({(s["config"], s["mask"]) for s in json.loads(args.spec.read_text())["slowdowns"]}
                if args.spec else set())
    entries = report["confirmation"]["values"]
    sides = {(entry["config"], entry["mask"]): {side: entry[side] for side in remeasure.SIDES} for entry in entries}
    disturbed = remeasure.disturbed_processes(sides) if args.bursts else {}
    outcomes = collections.Counter()
    for entry in entries:
        key = (entry["config"], entry["mask"])
        for signal in schema.TIMED_SIGNALS:
            if args.as_measured:
                base, new = entry["baseline"].get(signal), entry["contender"].get(signal)
            else:
                base, new, _ = remeasure.decided_values(entry, signal, disturbed.get(key))
            if not (base and new):
                continue
            decision = noise.decide(base, new, args.factor)
            outcome = decision.outcome
            if args.first:
                outcome = f"{noise.decide(base[:args.first], new[:args.first], args.factor).outcome} -> {outcome}"
            if args.bursts and signal == schema.WALL:
                recorded = noise.decide(*remeasure.decided_values(entry, signal, entry.get("disturbed"))[:2],
                                        args.factor).outcome
                outcome = f"{recorded} -> {outcome}" if recorded != outcome else outcome
            kind = "injected" if key in injected else "untouched" if args.spec else ""
            outcomes[(signal, kind, outcome)] += 1
            print(f"{entry['config']:40s} {entry['mask']:13s} {signal:5s} {kind:9s} {outcome:10s} "
                  f"ratio {decision.ratio:.3f} p {decision.p_change:.2g} p(factor) {decision.p_factor:.2g}")
    for (signal, kind, outcome), count in sorted(outcomes.items()):
        print(f"{signal} {kind} {outcome}: {count}".replace("  ", " "))


if __name__ == "__main__":
    main()
