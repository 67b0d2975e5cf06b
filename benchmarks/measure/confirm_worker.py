"""Re-measurement worker for the nightly check's confirmation: one forked child per measurement.

Run as ``python -m benchmarks.measure.confirm_worker`` from the repository root by
tools/confirmation.py, once per environment (the baseline's torch, the
contender's). It imports torch once, then for every request line on stdin forks
a child that starts CUDA itself, measures the requested configs and masks and
prints one JSON line: per key, the wall time of one forward (the fastest of its
visits, each pinned to another CPU, as the night makes them) and the CUDA-graph
GPU time where that key's signals ask for it. A child is one process,
the statistical unit of the check: its values are one draw of the host's state.

Nothing runs at import. asv's discovery never imports it: ``benchmarks/measure`` has no
``__init__.py``, so the forkserver that asv forks its children from stays without torch.
"""

from __future__ import annotations

import ast
import json
import os
import random
import sys
import traceback

from ..schema import AttentionConfig
from .common import graph_replay_seconds, prepared_case, use_device, visit_seconds


def parse_label(label: str, device: str) -> AttentionConfig:
    """An asv parameter string, e.g. "1, 16, (128, 256), 2048, 'bfloat16'", as a config."""
    return AttentionConfig.from_params(*ast.literal_eval(f"({label},)"), device)


def measure(request: dict) -> dict:
    """Each requested key: the fastest of its visits and, where asked, its CUDA-graph GPU time.

    A key asks for a number of visits; visit ``i`` of every key runs in pass ``i``,
    pinned to ``request["cpus"][i]`` where that CPU is this process's, in the
    pass's own order. A process on a slow vCPU is slow for every key it measures
    (H100 VM, 2026-11-26); the passes on other CPUs are how one process looks past that.
    """
    device = request["device"]
    use_device(device)
    keys = [(label, mask, signals, visits) for label, mask, signals, visits in request["keys"]]
    cpus = request.get("cpus", [])
    order = random.Random(request.get("seed", 0))
    walls: dict[tuple[str, str], list[float]] = {}
    gpus: dict[tuple[str, str], float] = {}
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    for index in range(max((visits for *_, visits in keys), default=0)):
        if index < len(cpus) and cpus[index] in allowed:
            os.sched_setaffinity(0, {cpus[index]})
        this_pass = [key for key in keys if key[3] > index]
        order.shuffle(this_pass)
        for label, mask, signals, visits in this_pass:
            case = prepared_case(parse_label(label, device))
            case.warm_up(mask)
            run = case.runner(mask)
            walls.setdefault((label, mask), []).append(visit_seconds(run, block_seconds=0.002, blocks=3))
            if index == visits - 1 and "gpu" in signals and device == "cuda":
                gpus[(label, mask)] = graph_replay_seconds(run, block_seconds=0.002, blocks=5)
    values = [{"config": label, "mask": mask, "wall": min(walls[(label, mask)]),
               **({"gpu": gpus[(label, mask)]} if (label, mask) in gpus else {})} for label, mask, *_ in keys]
    return {"pid": os.getpid(), "cpu": _current_cpu(), "values": values}


def _current_cpu() -> int | None:
    try:
        with open("/proc/self/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return None


def serve() -> None:
    """One forked child per request line; the child's JSON line is the answer."""
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                answer = measure(request)
            except Exception:
                answer = {"error": traceback.format_exc(limit=3)}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status:
            sys.stdout.write(json.dumps({"error": f"child exited with status {status}"}) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    serve()
