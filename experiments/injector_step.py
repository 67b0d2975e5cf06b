#!/usr/bin/env python3
"""What the injector's spin kernel really adds to each GPU slowdown of a spec, beside real work of that length.

    python experiments/injector_step.py SPEC.json [--rounds 9]

For each GPU slowdown of SPEC (``tools/inject.py plan``'s file): one build of its
config and five CUDA graphs: the mask's forward as it is (``plain``); the spin
kernel and then the forward (``slowed``: ``torch.cuda._sleep`` of the cycles the
injector would use, tuned where ``tools/inject.py install`` kept a length
beside the spec, else ``gpu_us`` at the sleep rate); matrix products that take
``gpu_us`` alone and then the forward (``worked``: work that draws power, where a
sleep lets the GPU cool); the spin alone and the products alone. Each round takes
the five GPU times in a random order, each after ``GPU_REST_SECONDS`` of rest
(``timers.replayed_seconds``: the median of 3 blocks of 2 ms or more), the SM clock
after each. Prints per slowdown the forward's GPU time, what the spin and the
products take alone (over ``gpu_us``) and what each adds to the forward over
its own length alone (median over the rounds, and the rounds' range), and the
SM clock after the plain, the slowed and the worked forward. It tells
apart the two causes VM 19c left open for configs at the power cap, where a
calibrated "+5%" spin showed 3.5-4.1% on the night: a sleep that is no extra work
there (the products add their length, the spin less) or a calibration too noisy
for the step (both vary as much between rounds)
(docs/measurements/2026-12-04-h200-injector-calibration.md). GPU only.
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

# A product's side, the largest of which at least MIN_PRODUCTS fit the amount: the count's rounding
# stays within 1/16 of it, and the products are as large (as power-hungry) as that allows.
SIDES = (4096, 2048, 1024, 512, 256)
MIN_PRODUCTS = 8
NAMES = ("plain", "slowed", "worked", "spin", "work")


def products(seconds: float) -> Callable[[], None]:
    """Back-to-back bf16 matrix products of about ``seconds`` in all, in a CUDA graph's terms."""
    import torch

    from benchmarks.measure.timers import captured_replays, replayed_seconds
    from benchmarks.schema import GPU_REST_SECONDS

    for side in SIDES:
        a = torch.randn(side, side, device="cuda", dtype=torch.bfloat16)
        out = torch.empty_like(a)

        def product(a: torch.Tensor = a, out: torch.Tensor = out) -> torch.Tensor:
            return torch.mm(a, a, out=out)

        one = captured_replays(product)
        time.sleep(GPU_REST_SECONDS)
        count = round(seconds / replayed_seconds(one.graph, one.replays))
        if count >= MIN_PRODUCTS or side == SIDES[-1]:
            break
    count = max(1, count)

    def work() -> None:
        for _ in range(count):
            torch.mm(a, a, out=out)
    return work


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("injector_step.py: no CUDA device here", file=sys.stderr)
        return 2
    import attention_slowdown as injector

    from benchmarks.measure.model import build_case
    from benchmarks.measure.timers import captured_replays, replayed_seconds, sm_clock_mhz
    from benchmarks.schema import GPU_REST_SECONDS, AttentionConfig

    slowdowns = [entry for entry in json.loads(args.spec.read_text())["slowdowns"] if entry.get("gpu_us")]
    print(f"spin rate {injector._sleep_rate(str(args.spec)):.1f} cycles/us; {len(slowdowns)} GPU slowdown(s)")
    order = random.Random(args.seed)
    for entry in slowdowns:
        case = build_case(AttentionConfig.from_label(entry["config"], "cuda"))
        case.warm_up(entry["mask"])
        run = case.runner(entry["mask"])
        intended = entry["gpu_us"] * 1e-6
        cycles = injector._spin_cycles(entry, str(args.spec))
        calibrated = cycles != injector.cycles_at_rate(entry, injector._sleep_rate(str(args.spec)))
        work = products(intended)

        def spin(cycles: int = cycles) -> None:
            torch.cuda._sleep(cycles)

        def slowed(run: Callable[[], torch.Tensor] = run, spin: Callable[[], None] = spin) -> torch.Tensor:
            spin()
            return run()

        def worked(run: Callable[[], torch.Tensor] = run, work: Callable[[], None] = work) -> torch.Tensor:
            work()
            return run()

        calls = dict(zip(NAMES, (run, slowed, worked, spin, work), strict=True))
        graphs = {name: captured_replays(call) for name, call in calls.items()}
        times: dict[str, list[float]] = {name: [] for name in NAMES}
        clocks: dict[str, list[int]] = {name: [] for name in NAMES}
        for _ in range(args.rounds):
            for name in order.sample(NAMES, len(NAMES)):
                time.sleep(GPU_REST_SECONDS)
                times[name].append(replayed_seconds(graphs[name].graph, graphs[name].replays))
                clocks[name].append(sm_clock_mhz() or 0)
        # What each adds to the forward over what it takes alone: 1 where it adds its own length.
        alone = {"slowed": statistics.median(times["spin"]), "worked": statistics.median(times["work"])}
        added = {name: [(after - plain) / alone[name] for after, plain in zip(times[name], times["plain"], strict=True)]
                 for name in alone}
        plain = statistics.median(times["plain"])
        print(f"{entry['config']} {entry['mask']}: plain {plain * 1e6:.1f} us, gpu_us {entry['gpu_us']:.2f} "
              f"({entry['gpu_us'] * 1e-6 / plain:.3f} of it); spin of {cycles} cycles "
              f"({'calibrated' if calibrated else 'at the rate'}) alone {alone['slowed'] / intended:.3f} of gpu_us, "
              f"adds {spread(added['slowed'])} of itself; products alone {alone['worked'] / intended:.3f} of gpu_us, "
              f"add {spread(added['worked'])} of themselves; SM clock after plain "
              f"{statistics.median(clocks['plain']):.0f}, slowed {statistics.median(clocks['slowed']):.0f}, worked "
              f"{statistics.median(clocks['worked']):.0f} MHz", flush=True)
        del case, run, work, calls, graphs, slowed, worked, spin
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
