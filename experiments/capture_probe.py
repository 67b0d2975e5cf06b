"""Whether a CUDA-graph replay times what an eager forward runs, and what its first replay adds.

For every config of the GPU grid (or ``--configs N`` of them, seeded), each mask, in one process:
the first and second replays of the night's captured graph alone, then the median of 3 blocks sized
from each (which runs first alternates by config and, with ``--seed``, by process), every key before
any profile; then the kernels one eager forward launches against those one replay launches (torch's
profiler, CUDA activity), and the eager forward's SDPA backend. The night sizes its blocks and
chooses its heavy rest (``schema.heavy_rest_seconds``) from the first replay: this shows how far that
replay sits above the steady one, and where the heavy rest's choice would differ. ``--summarize``
sets the keys whose two sizings differed against those whose sizings were the same (what the order
and the noise alone give).

GPU only. Prints one line per key and a summary; ``--out`` keeps the lines as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys

sys.path.insert(0, ".")

import torch  # noqa: E402

from benchmarks.measure import counts, model, timers  # noqa: E402
from benchmarks.schema import (
    GPU_PARAMS,
    MASKS,
    backend_of,
    gpu_time_block_replays,
    grid_configs,
    heavy_rest_seconds,  # noqa: E402
)


def timed_key(case: model.ForwardCase, mask: str, first_sized_first: bool) -> dict:
    """The first and second replays of a fresh capture, then the median of 3 blocks sized from each
    (``steady_ms``: from the second), those sized from the first replay first where asked."""
    run = case.runner(mask)
    graph, _, first = timers.captured_replays(run)  # the night's capture and its first replay
    second = timers.replay_block(graph, 1)
    replays = {"first": gpu_time_block_replays(first), "second": gpu_time_block_replays(second)}
    order = ("first", "second") if first_sized_first else ("second", "first")
    sized = {by: timers.replayed_seconds(graph, replays[by]) for by in order}
    return {
        "config": case.config.label, "mask": mask, "first_sized_first": first_sized_first,
        "first_ms": first * 1e3, "second_ms": second * 1e3, "steady_ms": sized["second"] * 1e3,
        "sized_by_first_ms": sized["first"] * 1e3,
        "replays_by_first": replays["first"], "replays_by_second": replays["second"],
        "heavy_by_first": heavy_rest_seconds(first) > 0, "heavy_by_steady": heavy_rest_seconds(sized["second"]) > 0,
    }


def profiled_key(case: model.ForwardCase, mask: str) -> dict:
    """The kernels of one eager forward against those of one replay, and the eager forward's backend."""
    run = case.runner(mask)
    operators, eager_kernels, _ = counts.profiled_call(run, True)
    graph = timers.captured_replays(run).graph  # replayed once: uploaded before the profile
    _, graph_kernels, _ = counts.profiled_call(graph.replay, True)
    return {
        "backend": backend_of(operators), "same_kernels": eager_kernels == graph_kernels,
        "eager_only": sorted((eager_kernels - graph_kernels).elements()),
        "graph_only": sorted((graph_kernels - eager_kernels).elements()),
    }


def summarize(paths: list[str]) -> int:
    """Per key, the standard deviation of the log median block between processes, both sizings (percent),
    and their levels; then the keys whose two sizings differed in every process against those whose
    sizings never did (the same blocks twice: what the order and the noise alone give)."""
    by_key: dict[tuple[str, str], list[dict]] = {}
    for path in paths:
        with open(path) as lines:
            for line in lines:
                row = json.loads(line)
                by_key.setdefault((row["config"], row["mask"]), []).append(row)
    groups: dict[str, list[tuple[float, float, float]]] = {"sized differently": [], "sized alike": []}
    for (config, mask), rows in sorted(by_key.items(), key=lambda item: item[1][0]["steady_ms"]):
        if len(rows) < 3:
            continue
        second = statistics.stdev(math.log(row["steady_ms"]) for row in rows) * 100
        first = statistics.stdev(math.log(row["sized_by_first_ms"]) for row in rows) * 100
        level = statistics.median(row["sized_by_first_ms"] / row["steady_ms"] for row in rows)
        differ = sum(row["replays_by_first"] != row.get("replays_by_second") for row in rows)
        if differ in (0, len(rows)):
            groups["sized alike" if differ == 0 else "sized differently"].append((second, first, level))
        print(f"{config:<48} {mask:<12} {rows[0]['steady_ms']:8.4f} ms  sized apart in {differ}/{len(rows)}  "
              f"spread sized by second {second:.2f}% by first {first:.2f}%  by first / by second {level:.4f}")
    for name, group in groups.items():
        if group:
            seconds, firsts, levels = zip(*group)
            print(f"{name}: {len(group)} keys; median spread sized by second {statistics.median(seconds):.2f}%, "
                  f"by first {statistics.median(firsts):.2f}%; level by first / by second median "
                  f"{statistics.median(levels):.4f} ({min(levels):.4f}-{max(levels):.4f})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, help="this many configs of the grid, drawn with --seed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="a JSON-lines file for the keys")
    parser.add_argument("--timing-only", action="store_true", help="no profiles: the replays' times alone")
    parser.add_argument("--summarize", nargs="+", metavar="OUT",
                        help="no GPU: several processes' --out files, the spread of each key's median block "
                             "between them, its blocks sized from the second replay and from the first")
    args = parser.parse_args()
    if args.summarize:
        return summarize(args.summarize)
    configs = grid_configs(GPU_PARAMS, "cuda")
    if args.configs:
        configs = random.Random(args.seed).sample(configs, args.configs)
    rows = []
    # Every key timed before any profile: a profile leaves CUPTI attached (docs/noise.md).
    for index, config in enumerate(configs):
        case = model.checked_case(config)
        for mask in MASKS:
            # Which sizing runs first alternates by config and, with --seed, by process: a later set of
            # blocks runs on a GPU that has just done three more.
            row = timed_key(case, mask, first_sized_first=(index + args.seed) % 2 == 1)
            rows.append(row)
            print(f"{row['config']:<48} {mask:<12} first/steady={row['first_ms'] / row['steady_ms']:.3f} "
                  f"second/steady={row['second_ms'] / row['steady_ms']:.3f} steady={row['steady_ms']:.4f} ms "
                  f"replays {row['replays_by_first']}/{row['replays_by_second']}", flush=True)
        del case
        torch.cuda.empty_cache()
    for config in configs if not args.timing_only else []:
        case = model.checked_case(config)
        for mask in MASKS:
            row = next(r for r in rows if r["config"] == config.label and r["mask"] == mask)
            row.update(profiled_key(case, mask))
            print(f"{row['config']:<48} {mask:<12} {row['backend']:<10} same kernels: {row['same_kernels']}"
                  + ("" if row["same_kernels"] else f" eager only {row['eager_only']} graph only "
                     f"{row['graph_only']}"), flush=True)
        del case
        torch.cuda.empty_cache()
    if args.out:
        with open(args.out, "w") as out:
            out.writelines(json.dumps(row) + "\n" for row in rows)
    ratios = [row["first_ms"] / row["steady_ms"] for row in rows]
    print(f"keys {len(rows)}; kernels differ in {sum(not row.get('same_kernels', True) for row in rows)}; "
          f"first/steady median {statistics.median(ratios):.3f} max {max(ratios):.3f}; "
          f"heavy rest chosen differently in {sum(r['heavy_by_first'] != r['heavy_by_steady'] for r in rows)}; "
          f"block replays differ in {sum(r['replays_by_first'] != r['replays_by_second'] for r in rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
