"""The clocks of the measuring code: wall time of a visit, CUDA-graph GPU time, the SM clock.

Imports torch; nothing here touches CUDA at import time (a forked child cannot
use CUDA that was initialised in its parent). Each timer takes the call to time,
so it knows nothing of the model.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch

from ..schema import GPU_TIME_BLOCK_SECONDS, GPU_TIME_BLOCKS, gpu_time_block_replays

# A visit: blocks of back-to-back calls of at least this long, this many of them.
VISIT_BLOCK_SECONDS = 0.005
VISIT_BLOCKS = 3
# Calls on the side stream before a capture: the case has run on the default stream already; these set
# up the side stream's library state (cuBLAS and cuDNN handles, workspaces).
CAPTURE_WARMUP_CALLS = 2


def synchronized_clock() -> float:
    """perf_counter read after queued CUDA work finishes, so a sample ends when the GPU does.

    ``is_initialized`` never initialises CUDA, so the CPU grid pays nothing here.
    """
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter()


def sm_clock_mhz() -> int | None:
    """The GPU's SM clock now, through NVML (None where NVML cannot say)."""
    try:
        return int(torch.cuda.clock_rate())
    except Exception:  # no NVML, no permission, no GPU: the clock is a note beside the figure
        return None


def visit_seconds(run: Callable[[], torch.Tensor], block_seconds: float = VISIT_BLOCK_SECONDS,
                  blocks: int = VISIT_BLOCKS, warm: bool = False) -> float:
    """Wall time of one forward in one visit: the median block of back-to-back calls, per call.

    One untimed call first, unless ``warm`` (the case ran just now: the check's calls), since
    the case may be fresh from a build. A call as long as a block is a block by itself, and the
    visit's only one: the GPU, not the host, sets those configs, and their calls are where the
    night's time goes.
    """
    if not warm:
        run()
    start = synchronized_clock()
    run()
    first = synchronized_clock() - start
    calls = math.ceil(block_seconds / first)
    if calls <= 1:
        return first

    def block() -> float:
        start = synchronized_clock()
        for _ in range(calls):
            run()
        return (synchronized_clock() - start) / calls

    return statistics.median(block() for _ in range(blocks))


def graph_replay_seconds(run: Callable[[], torch.Tensor], rest: Callable[[float], None] | None = None,
                         block_seconds: float = GPU_TIME_BLOCK_SECONDS, blocks: int = GPU_TIME_BLOCKS) -> float:
    """GPU time of one forward without launch cost: captured once in a CUDA graph, replayed.

    Replays run back to back in blocks of about ``block_seconds`` between two CUDA
    events; the median block, divided by its replays, is the figure. ``rest``, where
    given, is called with one replay's seconds between the capture and the blocks.
    """
    captured = captured_replays(run, block_seconds)
    if rest is not None:
        rest(captured.once)
    return replayed_seconds(captured.graph, captured.replays, blocks)


class Captured(NamedTuple):
    graph: torch.cuda.CUDAGraph
    replays: int  # replays in a block of the block's seconds
    once: float  # GPU seconds of the one replay that sized the block


def captured_replays(run: Callable[[], torch.Tensor], block_seconds: float = GPU_TIME_BLOCK_SECONDS) -> Captured:
    """One call of ``run`` captured in a CUDA graph, and the replays of a block of ``block_seconds``."""
    graph = _captured(run)
    once = replay_block(graph, 1)
    return Captured(graph, gpu_time_block_replays(once, block_seconds), once)


def replayed_seconds(graph: torch.cuda.CUDAGraph, replays: int, blocks: int = GPU_TIME_BLOCKS) -> float:
    """The median of ``blocks`` blocks of ``replays`` replays, per replay."""
    return statistics.median(replay_block(graph, replays) for _ in range(blocks))


def replay_block(graph: torch.cuda.CUDAGraph, replays: int) -> float:
    """GPU seconds of one replay: ``replays`` back to back between two CUDA events."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(replays):
        graph.replay()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3 / replays


@contextlib.contextmanager
def adding_seconds(phases: dict[str, float], name: str) -> Iterator[None]:
    """Adds the seconds of the block, up to the GPU's end of what it queued, to ``phases[name]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = phases.get(name, 0.0) + synchronized_clock() - start


def _captured(run: Callable[[], torch.Tensor]) -> torch.cuda.CUDAGraph:
    """One call of ``run`` captured in a CUDA graph."""
    side_stream = torch.cuda.Stream()
    side_stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side_stream):  # capture needs its warm-up off the default stream
        for _ in range(CAPTURE_WARMUP_CALLS):
            run()
    torch.cuda.current_stream().wait_stream(side_stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        run()
    return graph
