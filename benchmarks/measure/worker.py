"""The re-measurement worker of the nightly check: one forked child per measurement.

Run as ``python -m benchmarks.measure.worker --device D [--quiet-lock PATH]`` from the
repository root by tools/lib/remeasure.py, twice per environment (the baseline's
torch, the contender's: ``remeasure.WORKERS_PER_SIDE``). It imports torch once and keeps READY_CHILDREN children
forked ahead of their request, each with its device started; every
``WorkerRequest`` JSON line on stdin (``benchmarks/schema.py``) goes to the
oldest of them, which measures the requested configs and masks and answers one
``WorkerAnswer`` JSON line, which the worker passes on: per key, as its signals
ask, the wall time of one forward (the fastest of its visits, each pinned to
another CPU, as the night makes them) and the CUDA-graph GPU time. A child is
one process, the statistical unit of the check: its values are one draw of the
host's state.

The quiet lock (one file every worker's children share) is held by a child's
timed visits alone, and shared by children starting: a child starting never runs
beside another's visits, only beside other starts and untimed first calls.

Nothing runs at import. asv's discovery never imports it: ``benchmarks/measure`` has no
``__init__.py``, so the forkserver that asv forks its children from stays without torch.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import os
import random
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

import torch

from ..schema import (
    CHILDREN_STARTED_TOGETHER,
    GPU,
    GPU_REST_SECONDS,
    GRIDS,
    MASKS,
    WORKER_PHASES,
    AttentionConfig,
    Phase,
    WorkerAnswer,
    WorkerKey,
    WorkerRequest,
    WorkerValue,
    forward_flops,
    grid_configs,
)
from .model import ForwardCase, build_case, in_steady_folder, prepared_case, use_device
from .timers import adding_seconds, captured_replays, replayed_seconds, sm_clock_mhz, visit_seconds

# A visit: blocks of (seconds, how many). A key of short calls is visited on every CPU in turn
# and its fastest visit counts: short blocks keep its sixteen visits to about 3 ms each.
VISIT_BLOCKS = (0.002, 3)
SHORT_VISIT_BLOCKS = (0.001, 2)
# Children started ahead of their request, per worker: a child's start (CUDA's context, the libraries'
# first loads, about half a second on an H200) runs while other children take their first calls. The
# worker forks CHILDREN_STARTED_TOGETHER at once, once that many were asked, and keeps two more ready, so
# that a request finds its child started (with two workers a side, each is asked at most every other
# process of its side).
READY_CHILDREN = 2 + CHILDREN_STARTED_TOGETHER


@dataclasses.dataclass
class _Visits:
    """Every visit's wall time per (config, mask), and the GPU time of those that ask for it."""

    device: str
    walls: dict[tuple[str, str], list[float]] = dataclasses.field(default_factory=dict)
    gpus: dict[tuple[str, str], float] = dataclasses.field(default_factory=dict)
    clocks: dict[tuple[str, str], int | None] = dataclasses.field(default_factory=dict)
    phases: dict[str, float] = dataclasses.field(default_factory=lambda: dict.fromkeys(WORKER_PHASES, 0.0))

    def phase(self, name: str) -> contextlib.AbstractContextManager[None]:
        return adding_seconds(self.phases, name)

    def prepared(self, key: WorkerKey) -> ForwardCase:
        """The key's case, built and its mask's first calls taken (cuDNN's graph build, kernel loads)."""
        with self.phase(Phase.BUILD):
            case = prepared_case(AttentionConfig.from_label(key.config, self.device))
        with self.phase(Phase.FIRST_CALLS):
            case.warm_up(key.mask)
        return case

    def visit(self, key: WorkerKey, index: int) -> None:
        """Visit ``index`` of one key: its wall time where asked; its last visit also takes the GPU time where
        asked."""
        run = self.prepared(key).runner(key.mask)
        where = (key.config, key.mask)
        if key.wall_visits:
            block_seconds, blocks = SHORT_VISIT_BLOCKS if key.visits > 1 else VISIT_BLOCKS
            with self.phase(Phase.WALL):
                self.walls.setdefault(where, []).append(visit_seconds(run, block_seconds=block_seconds,
                                                                      blocks=blocks))
        if index == key.visits - 1 and GPU in key.signals and self.device == "cuda":
            self.gpu_time(key, run)

    def gpu_time(self, key: WorkerKey, run: Callable[[], Any]) -> None:
        """The key's CUDA-graph GPU time and the SM clock after it; its blocks after ``key.heavy_rest`` of rest
        (the capture's calls come before the rest)."""
        with self.phase(Phase.GPU):
            graph, replays, _ = captured_replays(run)
        if key.heavy_rest > 0:
            with self.phase(Phase.HEAVY_REST):
                time.sleep(key.heavy_rest)
        with self.phase(Phase.GPU):
            self.gpus[(key.config, key.mask)] = replayed_seconds(graph, replays)
            self.clocks[(key.config, key.mask)] = sm_clock_mhz()

    def value(self, key: WorkerKey) -> WorkerValue:
        """The fastest visit (the host's noise only ever adds time), None where the wall was not asked for."""
        where = (key.config, key.mask)
        walls = self.walls.get(where)
        return WorkerValue(key.config, key.mask, min(walls) if walls else None, self.gpus.get(where),
                           self.clocks.get(where))


def measure(request: WorkerRequest, quiet: contextlib.AbstractContextManager[None] = contextlib.nullcontext(),
            waited: float = 0.0) -> WorkerAnswer:
    """Each requested key: the fastest of its visits and, where asked, its CUDA-graph GPU time.

    A key asks for a number of visits; visit ``i`` of every key runs in pass ``i``,
    pinned to ``request.cpus[i]`` where that CPU is this process's, the least GPU
    work first (``pass_order``), on a GPU after GPU_REST_SECONDS of rest. A process
    on a slow vCPU is slow for every key it measures
    (docs/noise.md); the passes on other CPUs are how one process looks past that.
    Every key's first calls come before the passes, outside ``quiet`` (the quiet
    lock); the passes run inside it. ``waited``: seconds the request waited for this
    child's start, the part of it in the process's time.
    """
    visits = _Visits(request.device)
    visits.phases[Phase.START] = waited
    with visits.phase(Phase.START):
        start_device(request.device)  # nothing to do where the child started ahead of its request
    for key in sorted(request.keys, key=lambda key: key.config):  # one build for both masks of a config
        visits.prepared(key)
    order = random.Random(request.seed)
    work = {key: forward_flops(AttentionConfig.from_label(key.config, request.device)) for key in request.keys}
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    waiting = time.perf_counter()
    with quiet:
        visits.phases[Phase.QUIET] += time.perf_counter() - waiting
        if request.device == "cuda":
            # A wait for the lock is rest already: the GPU idles while children start.
            with visits.phase(Phase.GPU_REST):
                time.sleep(max(0.0, GPU_REST_SECONDS - visits.phases[Phase.QUIET]))
        for index in range(max((key.visits for key in request.keys), default=0)):
            if index < len(request.cpus) and request.cpus[index] in allowed:
                os.sched_setaffinity(0, {request.cpus[index]})
            for key in pass_order([key for key in request.keys if key.visits > index], work, order):
                visits.visit(key, index)
    values = tuple(visits.value(key) for key in request.keys)
    return WorkerAnswer(values, pid=os.getpid(), cpu=_current_cpu(), phases=visits.phases)


def pass_order(keys: list[WorkerKey], work: dict[WorkerKey, int], order: random.Random) -> list[WorkerKey]:
    """A pass's keys, the least GPU work first (ties in a random order): a GPU that ran near its power cap
    stays slower for 100-300 ms after, so no key is timed right after a heavier one (docs/noise.md)."""
    keys = list(keys)
    order.shuffle(keys)
    return sorted(keys, key=work.__getitem__)


_started: set[str] = set()


def start_device(device: str) -> None:
    """The process's device, started: on CUDA its context and the libraries' first loads (cuBLAS, cuDNN,
    the flash kernels), from one call of each mask on the grid's first config. Once a process."""
    if device in _started:
        return
    use_device(device)
    if device == "cuda":
        grid = next(grid for grid in GRIDS if grid.device == device)
        case = build_case(grid_configs(grid.params, device)[0])
        for mask in MASKS:
            case.warm_up(mask)
    _started.add(device)


class QuietLock:
    """A lock on one file, shared by every worker's children: a child's timed passes hold it alone, children
    starting hold it together (``shared``), so that no start runs beside the passes and starts run at once.
    fcntl's blocking flock, not filelock's polling: a waiting child woken every few milliseconds would run
    beside the visits. No path: no lock."""

    def __init__(self, path: str | None, shared: bool = False) -> None:
        self.path = path
        self.operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        self.fd: int | None = None

    def __enter__(self) -> None:
        if self.path:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            fcntl.flock(self.fd, self.operation)

    def __exit__(self, *_: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing it releases the lock
            self.fd = None


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


def _end_child() -> NoReturn:
    os._exit(0)


def _reap(ending: list[int]) -> None:
    """Forget the children that have ended; the others go on ending."""
    ending[:] = [pid for pid in ending if os.waitpid(pid, os.WNOHANG) == (0, 0)]


@dataclasses.dataclass
class ReadyChild:
    """A child forked ahead of its request: the pipe it reads its request from, and the one it answers on."""

    pid: int
    requests: TextIO
    answers: TextIO

    def ask(self, line: str) -> str:
        """Hand the child its request, stamped with when (its start, where unfinished, is the process's
        time); its answer line, "" where it ended without one."""
        try:
            self.requests.write(f"{time.monotonic()!r}\t{line}")
            self.requests.flush()
        except OSError:
            pass  # the child is gone: its answer pipe says so
        answer = self.answers.readline()
        self.close()
        return answer if answer.endswith("\n") else ""

    def close(self) -> None:
        """Close both pipes: a child never asked reads the end of its requests and ends without a word."""
        for pipe in (self.requests, self.answers):
            with contextlib.suppress(OSError):
                pipe.close()


def fork_ready_child(device: str, lock: str | None, others: list[ReadyChild]) -> ReadyChild:
    """Fork a child that starts ``device`` under the quiet lock, then waits for its request."""
    request_read, request_write = os.pipe()
    answer_read, answer_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            for other in others:  # their pipes are the worker's: a copy here would keep them open
                other.close()
            os.close(request_write)
            os.close(answer_read)
            _ready_child(device, lock, os.fdopen(request_read), os.fdopen(answer_write, "w"))
        finally:
            _end_child()  # never back into the worker's loop
    os.close(request_read)
    os.close(answer_write)
    return ReadyChild(pid, os.fdopen(request_write, "w"), os.fdopen(answer_read))


def _ready_child(device: str, lock: str | None, requests: TextIO, out: TextIO) -> NoReturn:
    """In the forked child: start the device, wait for the request, measure, answer, and leave without
    running the parent's exit handlers, whatever happens: a child that returned would run the worker's
    own loop."""
    try:
        try:
            with in_steady_folder():
                with QuietLock(lock, shared=True):
                    start_device(device)
                line = requests.readline()
                if not line:
                    _end_child()  # the worker ended without asking
                handed, _, text = line.partition("\t")
                request = _request_or_error(text)
                answer = request if isinstance(request, WorkerAnswer) else measure(
                    request, QuietLock(lock), max(0.0, time.monotonic() - float(handed)))
        except Exception:
            answer = WorkerAnswer(error=traceback.format_exc(limit=3))
        with contextlib.suppress(OSError):  # the worker ended before it asked: nobody reads the answer
            _answer(answer, out)
    finally:
        _end_child()


def serve(lines: TextIO | None = None, out: TextIO | None = None, device: str = "cpu",
          lock: str | None = None) -> None:
    """Each request line (stdin by default) to a child started ahead of it; the child's JSON line is the
    answer.

    The first line out, before any request, says the worker is ready: an answer with its pid.

    The answer goes out as soon as the child has written it, before the child has
    ended: its CUDA teardown (up to a second) overlaps what is asked next, as it
    does when the other side's worker is asked next. The children that replace
    the asked ones, CHILDREN_STARTED_TOGETHER at a time, are forked first, so that
    their starts overlap each other and the next request.
    """
    lines, out = lines or sys.stdin, out or sys.stdout
    # Ready: torch is imported (seconds on a GPU VM); which torch, for the side's check against its night.
    _answer(WorkerAnswer(pid=os.getpid(), torch=torch.version.git_version), out)
    ready: list[ReadyChild] = []
    ending: list[int] = []

    def top_up() -> None:
        if len(ready) > READY_CHILDREN - CHILDREN_STARTED_TOGETHER:
            return
        while len(ready) < READY_CHILDREN:
            out.flush()  # the child inherits the buffer: nothing of the parent's may be written twice
            ready.append(fork_ready_child(device, lock, ready))

    top_up()
    for line in lines:
        request = _request_or_error(line)
        if isinstance(request, WorkerAnswer):
            _answer(request, out)
            continue
        _reap(ending)
        child = ready.pop(0)
        answer = child.ask(line)
        top_up()
        if answer:
            out.write(answer)
            out.flush()
            ending.append(child.pid)
        else:
            _, status = os.waitpid(child.pid, 0)
            _answer(WorkerAnswer(error=f"the measuring child ended without an answer (status {status})"), out)
    for child in ready:
        child.close()
    for pid in [*ending, *(child.pid for child in ready)]:
        os.waitpid(pid, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description="The re-measurement's worker: a JSON request a line on stdin, "
                                                 "a JSON answer a line on stdout.")
    parser.add_argument("--device", default="cpu", choices=[grid.device for grid in GRIDS],
                        help="the device each child starts before its request")
    parser.add_argument("--quiet-lock", help="a file all workers' children lock: a child's start, or its timed passes")
    args = parser.parse_args()
    serve(device=args.device, lock=args.quiet_lock)


if __name__ == "__main__":
    main()
