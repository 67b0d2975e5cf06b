"""The re-measurement worker of the nightly check: one forked child per measurement.

Run as ``python -m benchmarks.measure.worker`` from the repository root by
tools/lib/remeasure.py, once per environment (the baseline's torch, the
contender's). It imports torch once, then for every ``WorkerRequest`` JSON line
on stdin (``benchmarks/schema.py``) forks a child that starts CUDA itself,
measures the requested configs and masks and answers one ``WorkerAnswer`` JSON
line, which the worker passes on: per key, the wall time of one forward (the
fastest of its visits, each pinned to another CPU, as the night makes them) and
the CUDA-graph GPU time where that key's signals ask for it. A child is one
process, the statistical unit of the check: its values are one draw of the
host's state.

Nothing runs at import. asv's discovery never imports it: ``benchmarks/measure`` has no
``__init__.py``, so the forkserver that asv forks its children from stays without torch.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import os
import random
import sys
import traceback
from typing import TextIO

import torch

from ..schema import WORKER_PHASES, AttentionConfig, WorkerAnswer, WorkerKey, WorkerRequest, WorkerValue
from .model import in_steady_folder, prepared_case, use_device
from .timers import adding_seconds, graph_replay_seconds, visit_seconds

# A visit: blocks of (seconds, how many). A key of short calls is visited on every CPU in turn
# and its fastest visit counts: short blocks keep its sixteen visits to about 3 ms each.
VISIT_BLOCKS = (0.002, 3)
SHORT_VISIT_BLOCKS = (0.001, 2)


def parse_label(label: str, device: str) -> AttentionConfig:
    """An asv parameter string, e.g. "1, 16, (128, 256), 2048, 'bfloat16'", as a config."""
    return AttentionConfig.from_params(*ast.literal_eval(f"({label},)"), device)


@dataclasses.dataclass
class _Visits:
    """Every visit's wall time per (config, mask), and the GPU time of those that ask for it."""

    device: str
    walls: dict[tuple[str, str], list[float]] = dataclasses.field(default_factory=dict)
    gpus: dict[tuple[str, str], float] = dataclasses.field(default_factory=dict)
    phases: dict[str, float] = dataclasses.field(default_factory=lambda: dict.fromkeys(WORKER_PHASES, 0.0))

    def phase(self, name: str) -> contextlib.AbstractContextManager[None]:
        return adding_seconds(self.phases, name)

    def visit(self, key: WorkerKey, index: int) -> None:
        """Visit ``index`` of one key; its last visit also takes the GPU time where asked."""
        with self.phase("build"):
            case = prepared_case(parse_label(key.config, self.device))
        with self.phase("first_calls"):
            case.warm_up(key.mask)
        run = case.runner(key.mask)
        where = (key.config, key.mask)
        block_seconds, blocks = SHORT_VISIT_BLOCKS if key.visits > 1 else VISIT_BLOCKS
        with self.phase("wall"):
            self.walls.setdefault(where, []).append(visit_seconds(run, block_seconds=block_seconds, blocks=blocks))
        if index == key.visits - 1 and "gpu" in key.signals and self.device == "cuda":
            with self.phase("gpu"):
                self.gpus[where] = graph_replay_seconds(run, block_seconds=0.002, blocks=5)

    def value(self, key: WorkerKey) -> WorkerValue:
        """The fastest visit: the host's noise only ever adds time."""
        where = (key.config, key.mask)
        return WorkerValue(key.config, key.mask, min(self.walls[where]), self.gpus.get(where))


def measure(request: WorkerRequest) -> WorkerAnswer:
    """Each requested key: the fastest of its visits and, where asked, its CUDA-graph GPU time.

    A key asks for a number of visits; visit ``i`` of every key runs in pass ``i``,
    pinned to ``request.cpus[i]`` where that CPU is this process's, in the
    pass's own order. A process on a slow vCPU is slow for every key it measures
    (docs/noise.md); the passes on other CPUs are how one process looks past that.
    """
    visits = _Visits(request.device)
    with visits.phase("start"):
        use_device(request.device)
        if request.device == "cuda":
            torch.zeros(1, device="cuda")  # the context starts here, not inside the first key's build
    order = random.Random(request.seed)
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    for index in range(max((key.visits for key in request.keys), default=0)):
        if index < len(request.cpus) and request.cpus[index] in allowed:
            os.sched_setaffinity(0, {request.cpus[index]})
        this_pass = [key for key in request.keys if key.visits > index]
        order.shuffle(this_pass)
        for key in this_pass:
            visits.visit(key, index)
    values = tuple(visits.value(key) for key in request.keys)
    return WorkerAnswer(values, pid=os.getpid(), cpu=_current_cpu(), phases=visits.phases)


def _current_cpu() -> int | None:
    """The CPU this process last ran on (field 39 of /proc/self/stat), where Linux says."""
    try:
        with open("/proc/self/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return None


def _answer(answer: WorkerAnswer, out: TextIO) -> None:
    out.write(answer.to_json() + "\n")
    out.flush()


def _request_or_error(line: str) -> WorkerRequest | WorkerAnswer:
    """The request of one line, or the answer that says why it is none (one answer per line, always)."""
    try:
        return WorkerRequest.from_json(line)
    except (ValueError, KeyError, TypeError) as error:
        return WorkerAnswer(error=f"unreadable request: {type(error).__name__}: {error}")


def _measure_in_child(request: WorkerRequest, out: TextIO) -> None:
    """In the forked child: measure, answer, and leave without running the parent's exit handlers."""
    try:
        with in_steady_folder():
            answer = measure(request)
    except Exception:
        answer = WorkerAnswer(error=traceback.format_exc(limit=3))
    _answer(answer, out)
    _end_child()


def _end_child() -> None:
    os._exit(0)


def _reap(ending: list[int]) -> None:
    """Forget the children that have ended; the others go on ending."""
    ending[:] = [pid for pid in ending if os.waitpid(pid, os.WNOHANG) == (0, 0)]


def _child_answer(request: WorkerRequest) -> tuple[int, str]:
    """Fork a child for ``request``; its pid and its answer line, "" where it ended without one."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _measure_in_child(request, os.fdopen(write_end, "w"))
    os.close(write_end)
    with os.fdopen(read_end) as answers:
        line = answers.readline()
    return pid, line if line.endswith("\n") else ""


def serve(lines: TextIO | None = None, out: TextIO | None = None) -> None:
    """One forked child per request line (stdin by default); the child's JSON line is the answer.

    The first line out, before any request, says the worker is ready: an answer with its pid.

    The answer goes out as soon as the child has written it, before the child has
    ended: its CUDA teardown (up to a second) overlaps what is asked next, as it
    does when the other side's worker is asked next.
    """
    lines, out = lines or sys.stdin, out or sys.stdout
    _answer(WorkerAnswer(pid=os.getpid()), out)  # ready: torch is imported (seconds on a GPU VM)
    ending: list[int] = []
    for line in lines:
        request = _request_or_error(line)
        if isinstance(request, WorkerAnswer):
            _answer(request, out)
            continue
        _reap(ending)
        out.flush()  # the child inherits the buffer: nothing of the parent's may be written twice
        pid, answer = _child_answer(request)
        if answer:
            out.write(answer)
            out.flush()
            ending.append(pid)
        else:
            _, status = os.waitpid(pid, 0)
            _answer(WorkerAnswer(error=f"the measuring child ended without an answer (status {status})"), out)
    for pid in ending:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    serve()
