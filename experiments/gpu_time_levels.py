"""What sets a re-measured GPU time's level: the process, the build (where its tensors land), or the host.

    python experiments/gpu_time_levels.py --keys "CONFIG|MASK" ... [--processes 12] [--builds 3]
        [--spacer-mb 256] [--out levels.jsonl]
    python experiments/gpu_time_levels.py --from-check CHECK.json [--least-spread 0.03] ...

Each of ``--processes`` fresh processes builds each key's config ``--builds``
times (a fresh build each time, the allocator's cache emptied between, and
before each build after the first a tensor of a random size up to
``--spacer-mb`` MB allocated and held, so that the build's tensors land
elsewhere), the least GPU work first as a re-measurement worker visits them.
Each build times each mask's captured graph as the worker does
(``timers.captured_replays``, the key's rest, ``timers.replayed_seconds``:
``worker``) and then with the stream held busy for about a millisecond
(``torch.cuda._sleep``) before each block's start event, so that every replay
of the block is queued before the GPU reaches it (``prefilled``: a block then
holds no gap for the host's launch). The SM clock (NVML) is read after each.

Prints per key and way: the spread between processes of the first build
(what a re-measurement sees today), of each process's median build, and the
spread between builds within a process (median over processes): a level set
by the process shows as a spread between processes with none within, a level
set by the build as one within. ``--from-check`` takes the keys whose GPU
time spread (max / min - 1 over a side's processes) at least ``--least-spread``
in a ``check_regressions.py --format json`` run. GPU only.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

from gpu_time_spread import fresh_process_rows

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

WAYS = ("worker", "prefilled")
# About a millisecond of spin at the H100's and H200's 1.98 GHz: the host queues a block's replays meanwhile.
PREFILL_CYCLES = 2_000_000


def keys_from_check(path: Path, least_spread: float) -> list[str]:
    """``config|mask`` of each key whose GPU time spread at least ``least_spread`` on either side."""
    keys = []
    for key in (json.loads(path.read_text()).get("confirmation") or {}).get("values", []):
        for side in ("baseline", "contender"):
            gpu = [value for value in key.get(side, {}).get("gpu", []) if value]
            if len(gpu) > 2 and max(gpu) / min(gpu) - 1 >= least_spread:
                keys.append(f"{key['config']}|{key['mask']}")
                break
    return keys


def prefilled_block(graph, replays: int) -> float:
    """``timers.replay_block`` with the stream busy before its start event: no replay waits for the host."""
    import torch

    from benchmarks.measure import timers

    torch.cuda._sleep(PREFILL_CYCLES)  # queued ahead of the block's start event, on the same stream
    return timers.replay_block(graph, replays)


def measure_process(keys: list[str], builds: int, spacer_mb: int, seed: int) -> list[dict]:
    """One row per key and build: each way's GPU time, the SM clock after it, where the query landed."""
    import torch

    from benchmarks.measure import model, timers
    from benchmarks.schema import GPU_REST_SECONDS, GPU_TIME_BLOCKS, AttentionConfig, forward_flops, heavy_rest_seconds

    model.use_device("cuda")
    by_config: dict[str, list[str]] = {}
    for key in keys:
        config, mask = key.split("|")
        by_config.setdefault(config, []).append(mask)
    order = sorted(by_config, key=lambda label: forward_flops(AttentionConfig.from_label(label, "cuda")))
    rng = random.Random(seed)
    rows = []
    for build in range(builds):
        spacer = torch.empty(rng.randrange(1, spacer_mb + 1) * 2**20, dtype=torch.uint8, device="cuda") \
            if build and spacer_mb else None
        time.sleep(GPU_REST_SECONDS)
        for label in order:
            case = model.build_case(AttentionConfig.from_label(label, "cuda"))
            for mask in by_config[label]:
                case.warm_up(mask)
                captured = timers.captured_replays(case.runner(mask))
                time.sleep(heavy_rest_seconds(captured.once))
                worker = timers.replayed_seconds(captured.graph, captured.replays)
                worker_clock = timers.sm_clock_mhz()
                time.sleep(heavy_rest_seconds(captured.once))
                prefilled = statistics.median(prefilled_block(captured.graph, captured.replays)
                                              for _ in range(GPU_TIME_BLOCKS))
                rows.append({"key": f"{label}|{mask}", "build": build, "worker": worker, "prefilled": prefilled,
                             "clock": worker_clock, "clock_prefilled": timers.sm_clock_mhz(),
                             "query_mb": case.query.data_ptr() >> 20})
                del captured
            del case
            torch.cuda.empty_cache()
        del spacer
        torch.cuda.empty_cache()
    return rows


def spread(values: list[float]) -> float:
    return max(values) / min(values) - 1


def summary(rows: list[dict]) -> list[str]:
    lines = []
    for key in sorted({row["key"] for row in rows}):
        mine = [row for row in rows if row["key"] == key]
        processes = sorted({row["process"] for row in mine})
        for way in WAYS:
            per_process = {p: [r[way] for r in sorted(mine, key=lambda r: r["build"]) if r["process"] == p]
                           for p in processes}
            first = [values[0] for values in per_process.values()]
            medians = [statistics.median(values) for values in per_process.values()]
            within = statistics.median(spread(values) for values in per_process.values()) \
                if all(len(values) > 1 for values in per_process.values()) else float("nan")
            lines.append(f"{key:55s} {way:9s} {statistics.median(first) * 1e6:9.1f} us  between processes: "
                         f"first build {spread(first):6.2%}, median build {spread(medians):6.2%}; "
                         f"within a process {within:6.2%}")
        clocks = sorted({row["clock"] for row in mine if row["clock"]})
        lines.append(f"{'':55s} SM clocks {clocks}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", nargs="*", default=[], help='"CONFIG|MASK", CONFIG as asv writes it')
    parser.add_argument("--from-check", type=Path, help="a check's JSON: its keys whose GPU time spread")
    parser.add_argument("--least-spread", type=float, default=0.03)
    parser.add_argument("--processes", type=int, default=12)
    parser.add_argument("--builds", type=int, default=3)
    parser.add_argument("--spacer-mb", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        request = json.loads(args.child)
        print(json.dumps(measure_process(request["keys"], args.builds, args.spacer_mb, request["seed"])))
        return
    keys = args.keys + (keys_from_check(args.from_check, args.least_spread) if args.from_check else [])
    if not keys:
        parser.error("no keys: give --keys or a --from-check with spread keys")
    requests = [json.dumps({"keys": keys, "seed": args.seed * 1000 + index}) for index in range(args.processes)]
    rows = fresh_process_rows(__file__, requests, ["--builds", str(args.builds), "--spacer-mb", str(args.spacer_mb)],
                              args.out)
    print(f"{len(keys)} keys, {args.processes} processes, {args.builds} builds each, spacer up to {args.spacer_mb} MB")
    print("\n".join(summary(rows)))


if __name__ == "__main__":
    main()
