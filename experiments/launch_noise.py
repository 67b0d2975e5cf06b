"""Why launch-bound configs move between processes (issue 4).

Like asv's forkserver: this parent imports torch (no CUDA) and forks one child per
(config, mask, placement, repetition). Each child initialises CUDA, builds the
case, warms up, then takes 30 samples; per sample it times a pure-Python canary
(CPU speed, no GPU) and a block of forward calls (synchronized clock), and keeps
the involuntary context switches and the CPU it ran on. After sampling it
replays the forward in a CUDA graph (GPU time without launch cost).

    python experiments/launch_noise.py OUT.jsonl [--processes 6]

Placement: "free" (the scheduler's choice) or "pinned" (every child on one CPU,
as `asv run --cpu-affinity N` does).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from benchmarks.measure.model import build_case  # noqa: E402
from benchmarks.measure.timers import graph_replay_seconds, synchronized_clock  # noqa: E402
from benchmarks.schema import AttentionConfig  # noqa: E402

CONFIGS = [
    (1, 16, (128, 256), 2048),
    (8, 32, (128, 256), 2048),
    (16, 32, (128, 256), 2048),
    (8, 16, (1024, 2048), 2048),
]
PINNED_CPU = 3


def current_cpu() -> int:
    """The CPU this process last ran on (field 39 of /proc/self/stat)."""
    with open("/proc/self/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[36])


def canary_us() -> float:
    start = time.perf_counter()
    total = 0
    for i in range(20000):
        total += i * i
    return (time.perf_counter() - start) * 1e6


def child(params, mask: str, placement: str, write_fd: int) -> None:
    if placement == "pinned":
        os.sched_setaffinity(0, {PINNED_CPU})
    cpu_start = current_cpu()
    started = time.perf_counter()
    torch.cuda.init()
    torch.empty(1, device="cuda")
    config = AttentionConfig.from_params(*params, "bfloat16", "cuda")
    case = build_case(config)
    run = case.run_materialized if mask == "materialized" else case.run_causal_bias
    run()
    synchronized_clock()
    ready = time.perf_counter() - started
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:
        run()
    synchronized_clock()
    block = 32
    samples, canaries, cpus = [], [], set()
    switches_before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(30):
        canaries.append(canary_us())
        start = synchronized_clock()
        for _ in range(block):
            run()
        samples.append((synchronized_clock() - start) * 1e6 / block)
        cpus.add(current_cpu())
    switches_after = resource.getrusage(resource.RUSAGE_SELF)
    record = {
        "config": list(params[:2]) + [list(params[2]), params[3]],
        "mask": mask,
        "placement": placement,
        "cpu_start": cpu_start,
        "cpus": sorted(cpus),
        "ready_s": round(ready, 3),
        "median_us": statistics.median(samples),
        "min_us": min(samples),
        "max_us": max(samples),
        "canary_us": statistics.median(canaries),
        "involuntary_switches": switches_after.ru_nivcsw - switches_before.ru_nivcsw,
        "voluntary_switches": switches_after.ru_nvcsw - switches_before.ru_nvcsw,
        "graph_us": graph_replay_seconds(run) * 1e6,
    }
    os.write(write_fd, (json.dumps(record) + "\n").encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--processes", type=int, default=6)
    args = parser.parse_args()
    with open(args.out, "w") as out:
        for params in CONFIGS:
            for mask in ("materialized", "causal_bias"):
                for placement in ("free", "pinned"):
                    for _ in range(args.processes):
                        read_fd, write_fd = os.pipe()
                        pid = os.fork()
                        if pid == 0:
                            os.close(read_fd)
                            try:
                                child(params, mask, placement, write_fd)
                            except BaseException:
                                import traceback

                                traceback.print_exc()
                            finally:
                                os._exit(0)
                        os.close(write_fd)
                        line = os.read(read_fd, 65536).decode()
                        os.close(read_fd)
                        os.waitpid(pid, 0)
                        out.write(line)
                        out.flush()
    summarize(args.out)


def summarize(path: str) -> None:
    rows = [json.loads(line) for line in open(path) if line.strip()]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((str(row["config"]), row["mask"], row["placement"]), []).append(row)
    print("config | mask | placement | per-process medians (us) | max/min | canary us | graph us "
          "| inv. switches | cpus")
    for (config, mask, placement), group in groups.items():
        medians = [g["median_us"] for g in group]
        columns = [
            config,
            mask,
            placement,
            " ".join(f"{m:.0f}" for m in medians),
            f"{max(medians) / min(medians):.2f}",
            " ".join(f"{g['canary_us']:.0f}" for g in group),
            " ".join(f"{g['graph_us']:.0f}" for g in group),
            " ".join(str(g["involuntary_switches"]) for g in group),
            " ".join(",".join(map(str, g["cpus"])) for g in group),
        ]
        print(" | ".join(columns))

if __name__ == "__main__":
    main()
