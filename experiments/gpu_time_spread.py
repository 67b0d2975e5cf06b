"""How far the CUDA-graph GPU time of one config moves between processes, and what steadies it.

Each of ``--processes`` fresh processes builds ``--configs`` GPU configs (drawn
with ``--seed``), visits them in its own random order, as a night's last pass before c3b3816
does, and times each mask's captured graph in three ways on the same graph:

- ``night``: the night's figure (``timers.graph_replay_seconds``: the median of
  5 blocks of about 5 ms, right after the capture);
- ``warm``: the same 5 blocks after ``--warm-ms`` of untimed replays, so the SM
  clock has left whatever state the host work before it left it in;
- ``*_min``: the fastest block instead of the median;
- ``builds_median``: with ``--builds`` K > 1, each process visits every config K
  times, each time a fresh build (new tensors, new graph), and this is the median
  of the K builds' ``night`` figures (``night`` is then the first build's). With
  ``--spacer-mb M``, a tensor of a random size up to M MB is allocated before each
  later build and kept through it, so that its tensors land elsewhere in memory;
- ``paired``: 5 more blocks, each right after a block of a fixed canary graph
  (a bf16 4096^3 matmul, ``canary_mm``, and a 256 MB copy, ``canary_copy``), and
  ``norm_mm`` / ``norm_copy``: the median of each block over its canary's block
  before it: a GPU that runs slower for a while (clock, heat) slows the canary too.

``--keep-cache`` leaves the caching allocator's blocks between configs, as a
re-measurement worker does (the night empties it after each config): a config's
tensors then land where the previous configs' were, in this process's order.

The SM clock (NVML) is read before the warm replays and between the blocks.
Prints, per way, the spread between processes over all masks (median and max of
each mask's max/min ratio) and how the ratio follows the clock.

    python experiments/gpu_time_spread.py --configs 24 --processes 5 --seed 1 [--out spread.jsonl]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import random
import statistics
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

WAYS = ("night", "night_min", "warm", "warm_min", "builds_median", "paired", "norm_mm", "norm_copy")


def measure_process(labels: list[str], seed: int, warm_ms: float, builds: int = 1, spacer_mb: int = 0,
                    keep_cache: bool = False) -> list[dict]:
    """Every config's rows from the first build, with the later builds' ``night`` figures' median."""
    canaries = _canaries()
    rows = _one_build(labels, seed, warm_ms, canaries, keep_cache=keep_cache)
    # Seeds of their own: a process's seed + 1 is the next process's.
    later = [_one_build(labels, seed * 10 + build, 0.0, canaries, spacer_mb, keep_cache) for build in range(1, builds)]
    for index, row in enumerate(rows):
        row["builds_median"] = statistics.median([row["night"], *(other[index]["night"] for other in later)])
        row["builds"] = [row["night"], *(other[index]["night"] for other in later)]
    return rows


def _canaries() -> dict:
    """Fixed graphs whose GPU time moves only with the GPU's own state: a compute-bound and a memory-bound one."""
    import torch

    from benchmarks.measure import timers

    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    big = torch.empty(128 * 2**20, device="cuda", dtype=torch.bfloat16)
    out = torch.empty_like(big)
    graphs = {"canary_mm": timers._captured(lambda: a @ a), "canary_copy": timers._captured(lambda: out.copy_(big))}
    # A graph reads its inputs where they were at capture: they live as long as the graph does.
    return {name: (graph, max(1, math.ceil(0.001 / timers.replay_block(graph, 1))), (a, big, out))
            for name, graph in graphs.items()}


def _one_build(labels: list[str], seed: int, warm_ms: float, canaries: dict, spacer_mb: int = 0,
               keep_cache: bool = False) -> list[dict]:
    """One visit of each config in this seed's order, rows in the labels' order."""
    import torch

    from benchmarks.measure import model, timers
    from benchmarks.schema import MASKS, AttentionConfig

    model.use_device("cuda")
    order = list(labels)
    random.Random(seed).shuffle(order)
    rows = []
    rng = random.Random(seed)
    for position, label in enumerate(order):
        model._prepared.clear()
        spacer = torch.empty(rng.randrange(0, spacer_mb + 1, 2) * 2**20 + 1, dtype=torch.uint8, device="cuda") \
            if spacer_mb else None
        case = model.prepared_case(AttentionConfig.from_label(label, "cuda"))
        for mask in MASKS:
            case.warm_up(mask, calls=3)
            run = case.runner(mask)
            block = functools.partial(timers.replay_block, timers._captured(run))
            replays = max(1, math.ceil(0.005 / block(1)))
            night = [block(replays) for _ in range(5)]
            clock_before = timers.sm_clock_mhz()
            warm_replays = max(1, math.ceil(warm_ms / 1e3 / night[0]))
            block(warm_replays)
            warm, clocks = [], []
            for _ in range(5):
                warm.append(block(replays))
                clocks.append(timers.sm_clock_mhz())
            paired = {"target": [], "canary_mm": [], "canary_copy": []}
            for _ in range(5):
                for name, (graph, canary_replays, _) in canaries.items():
                    paired[name].append(timers.replay_block(graph, canary_replays))
                paired["target"].append(block(replays))
            rows.append({"config": label, "mask": mask, "position": position, "night": statistics.median(night),
                         "night_min": min(night), "warm": statistics.median(warm), "warm_min": min(warm),
                         "clock_before": clock_before,
                         "clock_during": statistics.median(c for c in clocks if c) if any(clocks) else None,
                         "paired": statistics.median(paired["target"]),
                         **{name: statistics.median(paired[name]) for name in canaries},
                         **{"norm_" + name.split("_")[1]: statistics.median(
                             t / c for t, c in zip(paired["target"], paired[name])) for name in canaries}})
        del case, spacer, run, block  # the last mask's graph holds the case's tensors: all go before the next
        model._prepared.clear()
        if not keep_cache:
            torch.cuda.empty_cache()
    position = {label: index for index, label in enumerate(labels)}
    return sorted(rows, key=lambda row: (position[row["config"]], row["mask"]))


def fresh_process_rows(script: str, requests: list[str], options: list[str], out: Path | None = None) -> list[dict]:
    """The rows each request's fresh process of ``script --child REQUEST OPTIONS`` printed last (a JSON list),
    each with its process's index, written to ``out`` as JSON lines where given; exits with the first failed
    process's error."""
    rows: list[dict] = []
    for index, request in enumerate(requests):
        answer = subprocess.run([sys.executable, script, "--child", request, *options],
                                capture_output=True, text=True, cwd=REPO_ROOT)
        if answer.returncode:
            sys.exit(f"process {index} failed:\n{answer.stderr[-3000:]}")
        rows += [dict(row, process=index) for row in json.loads(answer.stdout.strip().splitlines()[-1])]
    if out:
        out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows


def summary(rows: list[dict]) -> list[str]:
    by_key: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        by_key.setdefault((row["config"], row["mask"]), []).append(row)
    lines = []
    for way in WAYS:
        spreads = sorted(max(r[way] for r in rs) / min(r[way] for r in rs) for rs in by_key.values())
        lines.append(f"{way:10s} max/min over processes: median {statistics.median(spreads):.4f}, "
                     f"p90 {spreads[int(0.9 * (len(spreads) - 1))]:.4f}, max {spreads[-1]:.4f} ({len(spreads)} masks)")
    within = sorted(max(r["builds"]) / min(r["builds"]) for r in rows if len(r.get("builds", [])) > 1)
    if within:
        lines.append(f"builds within one process, max/min: median {statistics.median(within):.4f}, "
                     f"p90 {within[int(0.9 * (len(within) - 1))]:.4f}, max {within[-1]:.4f}")
    pairs = [(math.log(r["warm"] / statistics.median(x["warm"] for x in rs)),
              math.log(statistics.median(x["clock_during"] for x in rs) / r["clock_during"]))
             for rs in by_key.values() for r in rs if all(x["clock_during"] for x in rs)]
    if len(pairs) > 2:
        lines.append(f"correlation of log(warm / its median) with log(median clock / clock during): "
                     f"{statistics.correlation(*zip(*pairs)):.2f} over {len(pairs)} measurements")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=24)
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm-ms", type=float, default=30.0)
    parser.add_argument("--builds", type=int, default=1, help="visits (fresh builds) of each config a process")
    parser.add_argument("--spacer-mb", type=int, default=0, help="a random allocation up to this before later builds")
    parser.add_argument("--keep-cache", action="store_true",
                        help="keep the allocator's cache between configs, as a re-measurement worker does")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        request = json.loads(args.child)
        print(json.dumps(measure_process(request["labels"], request["seed"], args.warm_ms, args.builds,
                                         args.spacer_mb, args.keep_cache)))
        return
    from benchmarks.schema import GPU_PARAMS, grid_configs

    labels = [c.label for c in random.Random(args.seed).sample(grid_configs(GPU_PARAMS, "cuda"), args.configs)]
    requests = [json.dumps({"labels": labels, "seed": args.seed * 1000 + index}) for index in range(args.processes)]
    rows = fresh_process_rows(__file__, requests, ["--warm-ms", str(args.warm_ms), "--builds", str(args.builds),
                                                   "--spacer-mb", str(args.spacer_mb),
                                                   *(["--keep-cache"] if args.keep_cache else [])], args.out)
    print(f"seed {args.seed}: {args.configs} configs, {args.processes} processes")
    print("\n".join(summary(rows)))


if __name__ == "__main__":
    main()
