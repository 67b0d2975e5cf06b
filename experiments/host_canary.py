"""Does a pure-Python canary see the level that one re-measurement process's wall times share?

In a re-measurement the short wall times measured in one process move together:
on seven H200 checks of 2026-12-04, taking the mean of the other keys in the
same process out of each key cut the keys' spread between processes from
3.8-11.8% to 2.7-6.1% (``host_level_replay.py``). Those other keys cannot stand
in for the host in a verdict: each is centred on its own side, so the sides'
mean levels stay in every key as one shared offset, and the rank test, fed the
smaller spread, confirms unchanged keys far more often than its bar
(docs/noise.md, "A process's host level"). A canary that runs no torch could
stand in: both sides run it alike.

This forks processes as the re-measurement's worker does (torch imported in the
parent, CUDA started in each child), one after another; each measures the same
keys with the worker's own ``measure`` (every CPU once, the fastest visit), with
a pure-Python loop timed before the passes (on the CPU the child started on)
and after them (on the last visit's CPU, where ``measure`` leaves it pinned).
It prints how much of the processes' shared level the canary explains, and each
key's spread as measured, over the canary, and over the other keys.

    python experiments/host_canary.py OUT.jsonl [--processes 24] [--device cuda] [--seed 0] [--summarize]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.measure.worker import measure, start_device  # noqa: E402
from benchmarks.schema import MASKS, WALL, WorkerKey, WorkerRequest  # noqa: E402

# Launch-bound on the H200 VMs of 2026-12-04 (batch 1, short sequences), both masks each.
CONFIGS = [
    "1, 16, (128, 256), 2048, 'bfloat16'",
    "1, 32, (128, 256), 2048, 'bfloat16'",
    "1, 16, (256, 416), 2048, 'bfloat16'",
    "1, 32, (256, 416), 2048, 'bfloat16'",
    "1, 16, (1, 2048), 2048, 'bfloat16'",
    "1, 16, (128, 256), 4096, 'bfloat16'",
]
CPU_CONFIGS = ["1, 4, (16, 32), 64, 'float32'", "2, 4, (16, 32), 64, 'float32'"]
VISITS = 16
CANARY_RUNS = 9


def canary_seconds() -> float:
    """The median of CANARY_RUNS runs of a pure-Python loop (about 1 ms each): the CPU's speed, no torch."""
    runs = []
    for _ in range(CANARY_RUNS):
        start = time.perf_counter()
        total = 0
        for i in range(20000):
            total += i * i
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def child(request: WorkerRequest, write_fd: int) -> None:
    try:
        start_device(request.device)
        before = canary_seconds()
        answer = measure(request)
        after = canary_seconds()
        walls = {f"{value.config}|{value.mask}": value.wall for value in answer.values}
        row: dict = {"canary_before": before, "canary_after": after, "walls": walls}
    except Exception as error:  # the parent says what failed, in one line
        row = {"error": f"{type(error).__name__}: {error}"}
    os.write(write_fd, (json.dumps(row) + "\n").encode())


def one_process(request: WorkerRequest) -> dict:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            child(request, write_fd)
        finally:
            os._exit(0)  # never the parent's exit handlers
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 1 << 16):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    row = json.loads(b"".join(chunks) or b'{"error": "the child wrote nothing"}')
    if "error" in row:
        sys.exit(f"a measuring process failed: {row['error']}")
    return row


def sd(values: list[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


def summarize(rows: list[dict]) -> None:
    keys = sorted(rows[0]["walls"])
    logs = {key: [math.log(row["walls"][key]) for row in rows] for key in keys}
    residuals = {key: [x - statistics.median(xs) for x in xs] for key, xs in logs.items()}
    shared = [statistics.mean(residuals[key][p] for key in keys) for p in range(len(rows))]
    canaries = [math.log((row["canary_before"] + row["canary_after"]) / 2) for row in rows]
    canary = [c - statistics.median(canaries) for c in canaries]
    slope = (statistics.covariance(canary, shared) / statistics.variance(canary)) if sd(canary) > 0 else 0.0
    correlation = statistics.correlation(canary, shared) if sd(canary) > 0 and sd(shared) > 0 else 0.0
    print(f"{len(rows)} processes, {len(keys)} keys")
    print(f"the processes' shared level: spread {100 * sd(shared):.2f}%; canary spread {100 * sd(canary):.2f}%; "
          f"correlation {correlation:.2f}, slope {slope:.2f} (R^2 {correlation ** 2:.2f})")
    halves = [[statistics.mean(residuals[key][p] for key in keys[part::2]) for p in range(len(rows))]
              for part in (0, 1)]
    befores = [row["canary_before"] for row in rows]
    afters = [row["canary_after"] for row in rows]
    print(f"the shared level over two halves of the keys: correlation {statistics.correlation(*halves):.2f}; "
          f"against the process's order: {statistics.correlation(list(range(len(rows))), shared):.2f}; "
          f"the canary before and after the passes: {statistics.correlation(befores, afters):.2f}")
    print("shared level by process, in order (%): " + " ".join(f"{100 * s:+.1f}" for s in shared))
    print("canary by process, in order (%):       " + " ".join(f"{100 * c:+.1f}" for c in canary))
    print("key | spread as measured | over the canary (slope above) | over the other keys")
    for key in keys:
        own = residuals[key]
        by_canary = [r - slope * c for r, c in zip(own, canary, strict=True)]
        by_others = [r - statistics.mean(residuals[other][p] for other in keys if other != key)
                     for p, r in enumerate(own)]
        print(f"{key} | {100 * sd(own):.2f}% | {100 * sd(by_canary):.2f}% | {100 * sd(by_others):.2f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="one JSON line a process")
    parser.add_argument("--processes", type=int, default=24)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--summarize", action="store_true", help="only summarize OUT, measured before")
    args = parser.parse_args()
    if args.summarize:
        with open(args.out) as recorded:
            summarize([json.loads(line) for line in recorded if line.strip()])
        return
    rng = random.Random(args.seed)
    cpus = sorted(os.sched_getaffinity(0))
    configs = CONFIGS if args.device == "cuda" else CPU_CONFIGS
    keys = tuple(WorkerKey(config, mask, (WALL,), VISITS) for config in configs for mask in MASKS)
    rows = []
    with open(args.out, "w") as out:
        for _ in range(args.processes):
            request = WorkerRequest(args.device, rng.randrange(2**32), tuple(rng.sample(cpus, min(VISITS, len(cpus)))),
                                    keys)
            row = one_process(request)
            out.write(json.dumps(row) + "\n")
            out.flush()
            rows.append(row)
    summarize(rows)


if __name__ == "__main__":
    main()
