"""Where one process of an asv time benchmark spends its time: fork, CUDA start, setup, sampling, exit.

As asv's forkserver does: this parent imports the benchmark modules (torch with
them) and forks one child per benchmark and parameter set; each child starts
CUDA, runs the benchmark's ``setup`` (build and the equivalence check, which
makes each mask's first call) and asv's own sampling (``do_run``, the class's
attributes), then exits. The parent times the whole child from fork to reaped.

    python experiments/timed_process_cost.py --grid gpu --configs 10 --seed 0

Prints one line per child and the median of each phase; compare the whole
with asv's own wall time of the grid divided by its processes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from asv_runner.discovery import get_benchmark_from_name  # noqa: E402

from benchmarks import attention_bias, schema  # noqa: E402, F401  (imports torch, as the forkserver does)


def child(benchmark_id: str, write_fd: int) -> None:
    import torch

    phases = {}
    start = time.perf_counter()
    benchmark = get_benchmark_from_name(str(REPO_ROOT / "benchmarks"), benchmark_id)
    phases["lookup"] = time.perf_counter() - start
    start = time.perf_counter()
    if torch.cuda.is_available():
        torch.cuda.init()
    phases["cuda_start"] = time.perf_counter() - start
    mark = time.perf_counter()
    benchmark.do_setup()
    phases["setup"] = time.perf_counter() - mark
    mark = time.perf_counter()
    result = benchmark.do_run()
    phases["sampling"] = time.perf_counter() - mark
    phases["samples"] = len(result["samples"])
    os.write(write_fd, json.dumps(phases).encode())
    os._exit(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", choices=[grid.name for grid in schema.GRIDS], default="gpu")
    parser.add_argument("--configs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    grid = schema.GRIDS_BY_NAME[args.grid]
    count = len(schema.grid_configs(grid.params, grid.device))
    rng = random.Random(args.seed)
    chosen = [(rng.randrange(count), rng.choice(schema.MASKS)) for _ in range(args.configs)]
    rows = []
    for index, mask in chosen:
        read_fd, write_fd = os.pipe()
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            child(f"{grid.timed_benchmark(mask)}-{index}", write_fd)
        os.close(write_fd)
        data = b""
        while chunk := os.read(read_fd, 65536):
            data += chunk
        os.close(read_fd)
        os.waitpid(pid, 0)
        total = time.perf_counter() - started
        phases = json.loads(data)
        phases["total"] = total
        phases["fork_and_exit"] = total - sum(phases[k] for k in ("lookup", "cuda_start", "setup", "sampling"))
        rows.append(phases)
        print(f"config {index:3d} {mask:13s} " + " ".join(f"{k} {v:.3f}" for k, v in phases.items()), flush=True)
    for phase in ("lookup", "cuda_start", "setup", "sampling", "fork_and_exit", "total"):
        print(f"median {phase}: {statistics.median(row[phase] for row in rows):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
