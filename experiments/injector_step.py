#!/usr/bin/env python3
"""How much GPU time the injector's spin kernel really adds to each config of a spec, in one process.

    python experiments/injector_step.py SPEC.json [--rounds 7]

For each GPU slowdown of SPEC (``tools/inject.py plan``'s file): one build of its
config and three CUDA graphs, as ``inject/attention_slowdown.py`` slows a forward:
the mask's forward as it is (``plain``); the spin kernel (``torch.cuda._sleep`` of
``gpu_us`` x the injector's rate, the one kept beside the spec where a night kept
one) and then the forward (``slowed``); the spin alone (``spin``). Each round
takes the three GPU times in a random order, each after ``GPU_REST_SECONDS`` of
rest (``timers.replayed_seconds``: the median of 3 blocks of 2 ms or more), the SM
clock after each. Prints per slowdown the forward's GPU time, the step delivered
(slowed over plain), the extra GPU time over the spec's ``gpu_us``, the spin alone
over ``gpu_us``, and the clocks: whether "+5%" lands at 5%, and if not whether the
spin's length (its rate against the clock) or its place in the graph is why
(VM 18b re-measured 0.83-1.22 of the amount: 2026-12-04-h200-short-heat-and-plan-order.md).
GPU only.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "inject")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("injector_step.py: no CUDA device here", file=sys.stderr)
        return 2
    import attention_slowdown as injector

    from benchmarks.measure.model import build_case
    from benchmarks.measure.timers import captured_replays, replayed_seconds, sm_clock_mhz
    from benchmarks.measure.worker import parse_label
    from benchmarks.schema import GPU_REST_SECONDS

    slowdowns = [entry for entry in json.loads(args.spec.read_text())["slowdowns"] if entry.get("gpu_us")]
    rate = injector._sleep_rate(str(args.spec))  # as the injected night took it
    print(f"spin rate {rate:.1f} cycles/us; {len(slowdowns)} GPU slowdown(s)")
    order = random.Random(args.seed)
    for entry in slowdowns:
        case = build_case(parse_label(entry["config"], "cuda"))
        case.warm_up(entry["mask"])
        run = case.runner(entry["mask"])
        cycles = max(1, int(entry["gpu_us"] * rate))

        def slowed(run: Callable[[], torch.Tensor] = run, cycles: int = cycles) -> torch.Tensor:
            torch.cuda._sleep(cycles)
            return run()

        def spin(cycles: int = cycles) -> None:
            torch.cuda._sleep(cycles)

        graphs = {name: captured_replays(call) for name, call in (("plain", run), ("slowed", slowed), ("spin", spin))}
        times: dict[str, list[float]] = {name: [] for name in graphs}
        clocks: list[int] = []
        for _ in range(args.rounds):
            for name in order.sample(list(graphs), len(graphs)):
                time.sleep(GPU_REST_SECONDS)
                times[name].append(replayed_seconds(graphs[name].graph, graphs[name].replays))
                clocks.append(sm_clock_mhz() or 0)
        plain, step, alone = (statistics.median(times[name]) for name in ("plain", "slowed", "spin"))
        intended = entry["gpu_us"] * 1e-6
        print(f"{entry['config']} {entry['mask']}: plain {plain * 1e6:.1f} us, slowed/plain {step / plain:.4f}, "
              f"added {(step - plain) / intended:.3f} of gpu_us {entry['gpu_us']:.2f}, spin alone "
              f"{alone / intended:.3f}; SM clock {min(clocks)}-{max(clocks)} MHz")
        del case, graphs
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
