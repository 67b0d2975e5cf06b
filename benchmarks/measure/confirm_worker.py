"""Re-measurement worker for the nightly check's confirmation: one forked child per measurement.

Run as ``python -m benchmarks.measure.confirm_worker`` from the repository root by
tools/confirmation.py, once per environment (the baseline's torch, the
contender's). It imports torch once, then for every request line on stdin forks
a child that starts CUDA itself, measures the requested configs and masks in the
given order and prints one JSON line: per key, the wall time of one forward
(one visit as the night makes it: the median block of back-to-back calls) and the
CUDA-graph GPU time where that key's signals ask for it. A child is one process,
the statistical unit of the check: its values are one draw of the host's state.

Nothing runs at import. asv's discovery never imports it: ``benchmarks/measure`` has no
``__init__.py``, so the forkserver that asv forks its children from stays without torch.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import traceback

from ..grid import AttentionConfig
from .common import graph_replay_seconds, prepared_case, use_device, visit_seconds


def parse_label(label: str, device: str) -> AttentionConfig:
    """An asv parameter string, e.g. "1, 16, (128, 256), 2048, 'bfloat16'", as a config."""
    return AttentionConfig.from_params(*ast.literal_eval(f"({label},)"), device)


def measure(request: dict) -> dict:
    """Each requested key, in the given order: its wall time and, where asked, its CUDA-graph GPU time."""
    device = request["device"]
    use_device(device)
    out = {"pid": os.getpid(), "cpu": _current_cpu(), "values": []}
    for label, mask, signals in request["keys"]:
        case = prepared_case(parse_label(label, device))
        case.warm_up(mask)
        run = case.runner(mask)
        value = {"config": label, "mask": mask, "wall": visit_seconds(run, block_seconds=0.002, blocks=9)}
        if "gpu" in signals and device == "cuda":
            value["gpu"] = graph_replay_seconds(run, block_seconds=0.002, blocks=5)
        out["values"].append(value)
    return out


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
