"""How the GPU's clock state moves a CUDA-graph GPU time: idle, after a heavy config, under its own load.

    python experiments/gpu_clock_state.py [--rounds 8] [--out state.jsonl]

One process builds a light, two medium and one heavy config of the GPU grid
(``--light``, ``--medium``, ``--heavy``: asv's parameter strings) and captures
each mask's forward once. Each round, in this order:

- ``idle``: after ``--idle-s`` without work, every key's GPU time as the suite
  takes it (3 blocks of at least 2 ms, the median block);
- ``after_heat``: the heavy key replayed for ``--heat-ms``, then the first
  medium key's GPU time right away and after each of ``--delays-ms``;
- ``own_load``: the first medium key's GPU time ``--own`` times back to back;
- ``sleep_rate``: the cycles per microsecond of ``torch.cuda._sleep`` (the
  injector's GPU slowdown) idle and right after the heat.

Beside each figure NVML's SM clock, power, temperature and clock-event reasons
(the driver's bits: 0x4 software power cap, 0x20/0x40 thermal, 0x80 power
brake). Prints, per phase, the figure over its idle median and the state.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

LIGHT = "1, 32, (128, 256), 2048, 'bfloat16'"
MEDIUM = ("8, 32, (256, 416), 4096, 'bfloat16'", "8, 16, (1024, 2048), 4096, 'bfloat16'")
HEAVY = "128, 16, (256, 416), 4096, 'bfloat16'"


def nvml_reader():
    """A function returning the GPU's state now, as a dict; {} where NVML cannot say."""
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # no NVML: the figures stand alone
        return dict

    def read() -> dict:
        state = {"clock": pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM),
                 "power_w": pynvml.nvmlDeviceGetPowerUsage(handle) / 1e3,
                 "temp_c": pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)}
        try:
            state["reasons"] = pynvml.nvmlDeviceGetCurrentClocksEventReasons(handle)
        except Exception:
            state["reasons"] = pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle)
        return state

    return read


def graphs(labels: list[str]) -> dict[tuple[str, str], tuple]:
    """(label, mask) -> (captured graph, replays for a 2 ms block, the case it reads)."""
    from benchmarks.measure import model, timers
    from benchmarks.schema import MASKS, AttentionConfig, gpu_time_block_replays

    model.use_device("cuda")
    out = {}
    for label in labels:
        case = model.build_case(AttentionConfig.from_label(label, "cuda"))
        for mask in MASKS:
            case.warm_up(mask, calls=3)
            graph = timers._captured(case.runner(mask))
            replays = gpu_time_block_replays(timers.replay_block(graph, 1))
            out[(label, mask)] = (graph, replays, case)
    return out


def gpu_time(entry: tuple) -> float:
    from benchmarks.measure import timers
    from benchmarks.schema import GPU_TIME_BLOCKS

    graph, replays, _ = entry
    return statistics.median(timers.replay_block(graph, replays) for _ in range(GPU_TIME_BLOCKS))


def sleep_rate() -> float:
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    torch.cuda._sleep(2_000_000)
    end.record()
    end.synchronize()
    return 2_000_000 / (start.elapsed_time(end) * 1e3)


def heat(entry: tuple, seconds: float) -> None:
    import torch

    graph, _, _ = entry
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        graph.replay()
        torch.cuda.synchronize()


def run(args: argparse.Namespace) -> list[dict]:
    import torch

    state = nvml_reader()
    built = graphs([args.light, *args.medium, args.heavy])
    probe = (args.medium[0], "materialized")
    heavy = (args.heavy, "causal_bias")
    torch.cuda._sleep(200_000)  # the sleep kernel's load
    rows: list[dict] = []

    def row(phase: str, key: tuple | None, value: float, **extra) -> None:
        rows.append({"phase": phase, "config": key[0] if key else None, "mask": key[1] if key else None,
                     "value": value, **state(), **extra})

    for index in range(args.rounds):
        time.sleep(args.idle_s)
        row("sleep_rate_idle", None, sleep_rate(), round=index)
        for key, entry in built.items():
            if key[0] != args.heavy:
                row("idle", key, gpu_time(entry), round=index)
        heat(built[heavy], args.heat_ms / 1e3)
        row("sleep_rate_hot", None, sleep_rate(), round=index)
        heat(built[heavy], args.heat_ms / 1e3)
        ended = time.perf_counter()
        for delay in args.delays_ms:
            time.sleep(max(0.0, ended + delay / 1e3 - time.perf_counter()))
            row("after_heat", probe, gpu_time(built[probe]), round=index, delay_ms=delay)
        time.sleep(args.idle_s)
        for repeat in range(args.own):
            row("own_load", probe, gpu_time(built[probe]), round=index, repeat=repeat)
    return rows


def spread(rows: list[dict], name: str) -> str:
    values = [r[name] for r in rows if name in r]
    return f"{min(values):g}-{max(values):g}" if values else "-"


def summary(rows: list[dict]) -> list[str]:
    idle = {}
    for r in rows:
        if r["phase"] == "idle":
            idle.setdefault((r["config"], r["mask"]), []).append(r["value"])
    base = {key: statistics.median(values) for key, values in idle.items()}
    rate_idle = statistics.median(r["value"] for r in rows if r["phase"] == "sleep_rate_idle")
    lines = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        repeat = min(r.get("repeat", 0), 2)  # the first two of own_load apart, the rest together
        group = (r["phase"], r["config"], r["mask"], r.get("delay_ms"), repeat)
        groups.setdefault(group, []).append(r)
    for (phase, config, mask, delay, repeat), rs in groups.items():
        ref = rate_idle if phase.startswith("sleep_rate") else base[(config, mask)]
        rel = [r["value"] / ref for r in rs]

        lines.append(f"{phase:15s} {str(config)[:26]:26s} {str(mask)[:12]:12s} delay {str(delay):5s} "
                     f"rep {repeat} x idle median {statistics.median(rel):.3f} (min {min(rel):.3f} max {max(rel):.3f}) "
                     f"clock {spread(rs, 'clock')} power {spread(rs, 'power_w')} temp {spread(rs, 'temp_c')} "
                     f"reasons {sorted({hex(r['reasons']) for r in rs if 'reasons' in r})}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--light", default=LIGHT)
    parser.add_argument("--medium", nargs=2, default=list(MEDIUM))
    parser.add_argument("--heavy", default=HEAVY)
    parser.add_argument("--idle-s", type=float, default=1.0)
    parser.add_argument("--heat-ms", type=float, default=300.0)
    parser.add_argument("--delays-ms", type=float, nargs="+", default=[0, 20, 100, 300, 1000])
    parser.add_argument("--own", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = run(args)
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print("\n".join(summary(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
