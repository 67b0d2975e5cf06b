#!/usr/bin/env python3
"""Whether a launch-bound forward's wall time stays higher after a profile of CUDA activity, as in the counts.

    python experiments/cupti_after_profiler.py --teardown {0,1} [--config LABEL] [--visits 7]

In one process: the config's two masks' wall visits (``timers.visit_seconds``, the
fastest of ``--visits``), then one forward of each under torch.profiler with CUDA
activity (which attaches CUPTI) with ``TEARDOWN_CUPTI`` set to ``--teardown``, the
visits again, a CUDA graph captured and replayed, a profile and a capture once
more. Prints each mask's visits before and after and their ratio. Where Kineto
leaves CUPTI attached after a profile (pytorch/pytorch#144455; ``--teardown 0``),
every later kernel launch pays CUPTI's callbacks. Teardown after each profile lost
a profile's every CUDA record now and then on a night, so the night counts last,
with CUPTI left attached (docs/noise.md, "CUPTI after the counts"). GPU only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="1, 16, (128, 256), 2048, 'bfloat16'")
    parser.add_argument("--visits", type=int, default=7)
    parser.add_argument("--teardown", choices=("0", "1"), required=True, help="TEARDOWN_CUPTI for each profile")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("cupti_after_profiler.py: no CUDA device here", file=sys.stderr)
        return 2
    from torch.profiler import ProfilerActivity, profile

    from benchmarks.measure.model import build_case
    from benchmarks.measure.timers import graph_replay_seconds, visit_seconds
    from benchmarks.schema import MASKS, AttentionConfig

    case = build_case(AttentionConfig.from_label(args.config, "cuda"))
    for mask in MASKS:
        case.warm_up(mask, calls=3)

    def fastest(mask: str) -> float:
        return min(visit_seconds(case.runner(mask)) for _ in range(args.visits))

    def profiled(mask: str) -> None:
        os.environ["TEARDOWN_CUPTI"] = args.teardown
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]):
            case.runner(mask)()
            torch.cuda.synchronize()

    before = {mask: fastest(mask) for mask in MASKS}
    for mask in MASKS:
        profiled(mask)
    after = {mask: fastest(mask) for mask in MASKS}
    graph = {mask: graph_replay_seconds(case.runner(mask)) for mask in MASKS}
    for mask in MASKS:  # a second profile after a capture, then a capture: where teardown once crashed
        profiled(mask)
    again = {mask: graph_replay_seconds(case.runner(mask)) for mask in MASKS}
    print(f"TEARDOWN_CUPTI={args.teardown} torch {torch.__version__} {args.config}")
    for mask in MASKS:
        print(f"  {mask}: wall {before[mask] * 1e6:.1f} us before the profiler, {after[mask] * 1e6:.1f} us after "
              f"({after[mask] / before[mask]:.3f}); GPU time {graph[mask] * 1e6:.1f} us, after a second profile "
              f"{again[mask] * 1e6:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
