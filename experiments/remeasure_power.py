"""How often the re-measurement confirms a slowdown it is known to carry, and how often one it does not.

    python experiments/remeasure_power.py SPEC.json --baseline-python A --contender-python B
        [--controls CONFIG|MASK ...] [--signal wall|gpu] [--processes 10] [--seed 1] [--factor 1.05]

SPEC.json is a `tools/inject.py plan` spec, installed in the contender's Python
(`tools/inject.py install`). Every slowdown's (config, mask), and each control
(a key the spec leaves alone), is re-measured as the nightly's check does it
(`lib.remeasure.remeasure`: alternating processes, short-call keys on every CPU)
and decided by `lib.noise.decide` on ``--signal``: the wall time (short calls
visited PASSES times) or the CUDA-graph GPU time (one visit: a process takes
a key's GPU time once, as in the check, where a short call's wall-time visits
are PASSES). Prints each key's decision, the count per
outcome for the injected keys and for the controls, and the seconds a process by
phase: the re-measurement's power without nights or a history.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib import noise, remeasure  # noqa: E402
from lib.cli import python_path  # noqa: E402
from lib.suite import schema  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--baseline-python", type=python_path, required=True)
    parser.add_argument("--contender-python", type=python_path, required=True)
    parser.add_argument("--controls", nargs="*", default=[], help="CONFIG|MASK keys the spec leaves alone")
    parser.add_argument("--signal", choices=schema.TIMED_SIGNALS, default=schema.WALL)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--factor", type=float, default=1.05)
    parser.add_argument("--heavy-rest", type=float, default=0.0,
                        help="seconds each key's GPU time rests before its blocks (a check gives "
                             "schema.HEAVY_GPU_REST_SECONDS to keys of schema.HEAVY_GPU_SECONDS or more)")
    args = parser.parse_args()
    injected = [(s["config"], s["mask"]) for s in json.loads(args.spec.read_text())["slowdowns"]]
    controls = [tuple(control.split("|")) for control in args.controls]
    signals, visits = ((schema.WALL,), remeasure.PASSES) if args.signal == schema.WALL else (schema.TIMED_SIGNALS, 1)
    rest = args.heavy_rest if schema.GPU in signals else 0.0
    plan = {key: schema.WorkerKey(*key, signals, visits, rest) for key in injected + controls}
    pythons = {"baseline": args.baseline_python, "contender": args.contender_python}
    # No factor: every key runs its processes to the end, as one look at the last decides them here.
    with remeasure.Workers(pythons) as workers:
        measured = remeasure.remeasure(plan, workers, args.device, args.processes, args.seed, budget_seconds=600)
    outcomes: dict[str, collections.Counter] = {"injected": collections.Counter(), "control": collections.Counter()}
    for key in plan:
        decision = noise.decide(measured.side(key, args.signal, "baseline"),
                                measured.side(key, args.signal, "contender"), args.factor)
        kind = "injected" if key in injected else "control"
        outcomes[kind][decision.outcome] += 1
        print(f"{kind:8s} {key[0]} {key[1]}: {decision.outcome}, ratio {decision.ratio:.3f}, p {decision.p_change:.1e}")
    print(f"seed {args.seed}: {measured.processes} processes, {measured.seconds:.1f} s")
    for kind, counter in outcomes.items():
        print(f"{kind}: {dict(counter)}")
    per_process = {name: round(seconds / max(1, measured.processes), 3) for name, seconds in measured.phases.items()}
    print(f"a process, seconds by phase: {per_process}")


if __name__ == "__main__":
    main()
