"""The measuring half of the suite: the model, the checks, the timers, the night's passes.

Imports torch; only the processes that measure import it (the grid's
``setup_cache``, the re-measurement worker, tests). What the suite measures and
records, without torch, is in ``benchmarks/schema.py``. Nothing here touches CUDA
at import time: a forked child cannot use CUDA that was initialised in its parent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..night_state import CUDA_MISSING, DispatchCounts, GridState, MaskFigures
from ..schema import (
    DISPATCH_FILE_VARIABLE,
    MASKS,
    NIGHT_SUFFIX,
    SHORT_CALL_SECONDS,
    AttentionConfig,
    backend_of,
    grid_configs,
)

try:
    from torch.nn.attention.bias import CausalBias, causal_lower_right
except ImportError:  # a torch older than the attention biases: every parameter set is skipped, discovery works
    CausalBias = causal_lower_right = None

SEED = 0

# assert_close tolerances per dtype: (rtol, atol as a fraction of the output's RMS).
# A fixed atol fails elements near zero whose error is a rounding of the
# projection's inputs, so it scales with the output instead.
# Seen on an H100: the two bf16 paths differ by up to 0.017 x RMS in 1 of 16-67
# million elements (bf16 rounding; a wrong mask differs by O(RMS) almost everywhere),
# so bf16 allows 4 bf16 epsilons (2**-5) of the RMS.
TOLERANCES = {
    torch.bfloat16: (1.6e-2, 2.0**-5),
    torch.float16: (1e-3, 2.0**-8),
    torch.float32: (1.3e-6, 1e-5),
}


class CompositeMHA(nn.Module):
    """Multi-head attention built from F.linear and SDPA, so that the mask reaches SDPA as given."""

    def __init__(
        self,
        num_heads: int,
        embed_dim: int,
        *,
        device: torch.device,
        dtype: torch.dtype,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.embed_dim = embed_dim

        def projection() -> nn.Parameter:
            weight = torch.empty(embed_dim, embed_dim, device=device, dtype=dtype)
            nn.init.xavier_uniform_(weight, generator=generator)
            # Inference only: no autograd graph is recorded in the timed calls.
            return nn.Parameter(weight, requires_grad=False)

        self.q_proj = projection()
        self.k_proj = projection()
        self.v_proj = projection()
        self.out_proj = projection()

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq_len, _ = x.shape
        return x.view(batch, seq_len, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | CausalBias,
    ) -> torch.Tensor:
        q = self._split_heads(F.linear(query, self.q_proj))
        k = self._split_heads(F.linear(key, self.k_proj))
        v = self._split_heads(F.linear(value, self.v_proj))
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        batch, _, q_seq_len, _ = attn.shape
        merged = attn.transpose(1, 2).reshape(batch, q_seq_len, self.embed_dim)
        return F.linear(merged, self.out_proj)


def lower_right_causal_mask(q_seq_len: int, kv_seq_len: int, device: torch.device) -> torch.Tensor:
    """Boolean mask where query i sees keys 0 .. i + (kv - q): the diagonal ends bottom right."""
    ones = torch.ones(q_seq_len, kv_seq_len, dtype=torch.bool, device=device)
    return ones.tril(diagonal=kv_seq_len - q_seq_len)


def upper_left_causal_mask(q_seq_len: int, kv_seq_len: int, device: torch.device) -> torch.Tensor:
    """Boolean mask where query i sees keys 0 .. i: the diagonal starts top left."""
    return torch.ones(q_seq_len, kv_seq_len, dtype=torch.bool, device=device).tril()


@dataclasses.dataclass
class ForwardCase:
    """The module, seeded inputs and both masks of one parameter set."""

    config: AttentionConfig
    module: CompositeMHA
    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    materialized_mask: torch.Tensor
    causal_bias: CausalBias
    warm_masks: set[str] = dataclasses.field(default_factory=set)  # masks already warmed up

    def run_materialized(self) -> torch.Tensor:
        return self.module(self.query, self.key, self.value, self.materialized_mask)

    def run_causal_bias(self) -> torch.Tensor:
        return self.module(self.query, self.key, self.value, self.causal_bias)

    def runner(self, mask: str) -> Callable[[], torch.Tensor]:
        return {"materialized": self.run_materialized, "causal_bias": self.run_causal_bias}[mask]

    def warm_up(self, mask: str, calls: int = 1) -> None:
        """The first calls of one mask in a process, untimed: they compile and load kernels
        (cuDNN graph build, module loads: 0.1-2 s on an H100), so timing starts in the steady state.
        """
        if mask in self.warm_masks:
            return
        run = self.runner(mask)
        for _ in range(calls):
            run()
        synchronized_clock()
        self.warm_masks.add(mask)


MaskBuilder = Callable[[int, int, torch.device], torch.Tensor]


def build_case(config: AttentionConfig, mask_builder: MaskBuilder = lower_right_causal_mask) -> ForwardCase:
    device = torch.device(config.device)
    generator = torch.Generator(device=device).manual_seed(SEED)
    module = CompositeMHA(
        config.num_heads, config.embed_dim, device=device, dtype=getattr(torch, config.dtype_name), generator=generator
    )

    def activations(seq_len: int) -> torch.Tensor:
        shape = (config.batch_size, seq_len, config.embed_dim)
        return torch.randn(shape, generator=generator, device=device, dtype=getattr(torch, config.dtype_name))

    query = activations(config.q_seq_len)
    key = activations(config.kv_seq_len)
    value = activations(config.kv_seq_len)
    return ForwardCase(
        config=config,
        module=module,
        query=query,
        key=key,
        value=value,
        materialized_mask=mask_builder(config.q_seq_len, config.kv_seq_len, device),
        causal_bias=causal_lower_right(config.q_seq_len, config.kv_seq_len),
    )


def checked_case(config: AttentionConfig) -> ForwardCase:
    """The case of one config, its two masks checked equal: what an asv time benchmark's setup builds.

    The check runs both masks once, which also takes their first calls (cuDNN graph
    builds, module loads) out of the timed samples.
    """
    use_device(config.device)
    case = build_case(config)
    check_case(case)
    return case


def assert_equivalent(expected: torch.Tensor, actual: torch.Tensor) -> None:
    """Fail unless two outputs agree at their dtype's tolerance on a non-degenerate output."""
    if not bool(torch.isfinite(expected).all()):
        raise AssertionError("the materialized-mask output has NaN or Inf values")
    rms = float(expected.float().square().mean().sqrt())
    if rms == 0.0:
        raise AssertionError("the materialized-mask output is all zeros: the check would prove nothing")
    rtol, atol_fraction = TOLERANCES[expected.dtype]
    torch.testing.assert_close(
        actual,
        expected,
        rtol=rtol,
        atol=atol_fraction * rms,
        msg=lambda detail: f"CausalBias output differs from the materialized mask's: {detail}",
    )


def check_case(case: ForwardCase) -> None:
    """Run both masks once and compare their outputs."""
    assert_equivalent(case.run_materialized(), case.run_causal_bias())


_prepared: dict[AttentionConfig, ForwardCase] = {}


def prepared_case(config: AttentionConfig) -> ForwardCase:
    """The ForwardCase of ``config``, kept until another config is asked for.

    The re-measurement worker visits one key after another: consecutive keys of one
    config share a build, and only one config's (up to multi-GB) tensors live at a time.
    """
    case = _prepared.get(config)
    if case is None:
        _prepared.clear()  # keep one parameter set's tensors alive at a time
        case = build_case(config)
        _prepared[config] = case
    return case


def cuda_available() -> bool:
    return torch.cuda.is_available()


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


# ---------------------------------------------------------------- work and backends (issue 7 groundwork)


def sdpa_backend(run: Callable[[], torch.Tensor]) -> str:
    """The SDPA backend that one call of ``run`` really used, from the operators the profiler saw.

    CausalBias calls the flash or memory-efficient operator itself, so asking SDPA's
    own backend choice would not tell; the profile does, for both masks.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as profiled:
        run()
    return backend_of({event.name for event in profiled.events()})


# ---------------------------------------------------------------- figures beyond the wall time (issue 7)

def graph_replay_seconds(run: Callable[[], torch.Tensor], block_seconds: float = 0.005, blocks: int = 5) -> float:
    """GPU time of one forward without launch cost: captured once in a CUDA graph, replayed.

    Replays run back to back in blocks of about ``block_seconds`` between two CUDA
    events; the median block, divided by its replays, is the figure.
    """
    side_stream = torch.cuda.Stream()
    side_stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side_stream):  # capture needs its warm-up off the default stream
        for _ in range(2):  # the case is warm already; these set up the side stream's library state
            run()
    torch.cuda.current_stream().wait_stream(side_stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        run()

    def block(replays: int) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(replays):
            graph.replay()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / replays

    replays = max(1, math.ceil(block_seconds / block(1)))
    return statistics.median(block(replays) for _ in range(blocks))


def forward_peak_memory(run: Callable[[], torch.Tensor]) -> int:
    """Bytes one forward allocates at its peak above what was allocated before it.

    Inputs, weights and the mask are allocated before, so they are not counted; the
    output and every intermediate are. Call it after a warm-up, so that workspaces
    the libraries keep for good (cuBLAS, cuDNN) are not counted either.
    """
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    run()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - before


# ---------------------------------------------------------------- what the host does per forward, counted


# CUDA runtime calls that make the host wait for the device.
SYNC_CALLS = ("cudaDeviceSynchronize", "cudaStreamSynchronize", "cudaEventSynchronize", "cudaMemcpy ")


def dispatch_counts(run: Callable[[], torch.Tensor], cuda: bool) -> DispatchCounts:
    """Count what one warm call of ``run`` dispatches: operators, kernels, syncs, Python calls, allocations."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as profiled:
        run()
        if cuda:
            torch.cuda.synchronize()  # the kernels' records arrive once they ran
    operators: Counter[str] = Counter()
    kernels: Counter[str] = Counter()
    sync_calls: Counter[str] = Counter()
    for event in profiled.events():
        if event.name.startswith("aten::"):
            operators[event.name] += 1
        elif event.device_type == torch.autograd.DeviceType.CUDA:
            kernels[event.name] += 1
        elif any(event.name.startswith(call) for call in SYNC_CALLS):
            sync_calls[event.name] += 1
    # Less the synchronize above, which is the measurement's own.
    syncs = sum(sync_calls.values()) - 1 if cuda else None
    return DispatchCounts(operators, kernels, syncs, sync_calls, python_calls(run),
                          allocations(run) if cuda else None)


TORCH_SOURCE = os.path.dirname(torch.__file__)


def python_calls(run: Callable[[], object]) -> int:
    """Python function calls inside torch's own source during one call of ``run``.

    Only torch's frames count: the suite's module is the same on both sides of a
    comparison, and a test double of a slower torch must not count itself.
    """
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call" and frame.f_code.co_filename.startswith(TORCH_SOURCE)

    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        run()
    finally:
        sys.setprofile(previous)
    return calls


def allocations(run: Callable[[], object]) -> int:
    """Allocation requests one call makes of the caching allocator (cache hits included)."""
    before = torch.cuda.memory_stats()["allocation.all.allocated"]
    run()
    torch.cuda.synchronize()
    return torch.cuda.memory_stats()["allocation.all.allocated"] - before


# ---------------------------------------------------------------- the night: one measuring process per grid

# The night visits every config this many times, each pass in its own order, and
# keeps the fastest visit (docs/design.md, "One measuring process a night"). Configs
# whose calls take under SHORT_CALL_SECONDS are launch-bound or near it: the host's
# speed moves them most, and a visit costs them milliseconds, so they get more passes.
WALL_PASSES = 4
SHORT_CALL_PASSES = 8
# A visit: blocks of back-to-back calls of at least this long, this many of them.
VISIT_BLOCK_SECONDS = 0.005
VISIT_BLOCKS = 3


def visit_seconds(run: Callable[[], torch.Tensor], block_seconds: float = VISIT_BLOCK_SECONDS,
                  blocks: int = VISIT_BLOCKS) -> float:
    """Wall time of one forward in one visit: the median block of back-to-back calls, per call.

    One untimed call first (the case may be fresh from a build). A call as long as
    a block is a block by itself, and the visit's only one: the GPU, not the host,
    sets those configs, and their calls are where the night's time goes.
    """
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


def measure_counts(case: ForwardCase, mask: str, figures: MaskFigures) -> None:
    """Dispatch counts (the backend with them) and (CUDA) peak memory of one warm mask."""
    run = case.runner(mask)
    cuda = case.config.device == "cuda"
    figures.dispatch = dispatch_counts(run, cuda)
    if cuda:
        figures.peak_memory = forward_peak_memory(run)


def measure_kernel_time(case: ForwardCase, mask: str, figures: MaskFigures) -> None:
    """CUDA: GPU time of one CUDA-graph replay; CPU: the time of one call (the CPU does the work)."""
    run = case.runner(mask)
    if case.config.device == "cuda":
        figures.kernel_seconds = graph_replay_seconds(run)
        figures.sm_clock_mhz = sm_clock_mhz()
    else:
        figures.kernel_seconds = visit_seconds(run, block_seconds=0.002, blocks=7)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def use_device(device: str) -> None:
    """Per-process settings of a grid's device, the same where it is timed and where it is checked."""
    if device == "cpu":
        # One intra-op thread: these ops are far too small to gain from more, and
        # a thread per core makes every sample wait on the busiest core.
        torch.set_num_threads(1)


class _Night:
    """The passes of one grid's measurement, and the seconds each phase took.

    Each pass runs on another of the process's CPUs: a VM's vCPUs differ in speed
    for seconds to minutes, and the visits of one process share its level
    (docs/noise.md), so the passes look at the host from several places.
    """

    def __init__(self, state: GridState, mask_builder: MaskBuilder) -> None:
        self.state, self.mask_builder = state, mask_builder
        self.cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []

    def on_cpu_of_pass(self, index: int) -> None:
        if len(self.cpus) > 1:
            os.sched_setaffinity(0, {self.cpus[index % len(self.cpus)]})

    def release_cpus(self) -> None:
        if len(self.cpus) > 1:
            os.sched_setaffinity(0, self.cpus)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.state.phases[name] = self.state.phases.get(name, 0.0) + time.perf_counter() - start

    def build(self, config: AttentionConfig) -> ForwardCase:
        with self.phase("build"):
            return build_case(config, self.mask_builder)

    def release(self, config: AttentionConfig) -> None:
        if config.device == "cuda":
            with self.phase("build"):
                torch.cuda.empty_cache()  # the next config's tensors get the memory, not this one's cache

    def attempt(self, figures: MaskFigures, what: str, phase: str, action: Callable[[], object]) -> None:
        """Run one measurement of one mask; a failure is recorded on the mask, the night goes on."""
        with self.phase(phase):
            try:
                action()
            except Exception as error:  # out of memory, a kernel or capture error: this figure's outcome
                figures.errors.append(f"{what} failed: {describe(error)}")

    def first_pass(self, config: AttentionConfig) -> None:
        """Check both masks; where they agree, a first visit of each and the counts."""
        self._check_and_measure(config)
        self.release(config)  # the case is gone with the call above: its memory goes back now

    def _check_and_measure(self, config: AttentionConfig) -> None:
        try:
            case = self.build(config)
            with self.phase("check"):
                check_case(case)
        except Exception as error:  # mismatch, out of memory, kernel error: this config's verdict
            self.state.verdicts[config] = describe(error)
            self.state.figures[config] = "the equivalence check failed"
            return
        self.state.verdicts[config] = None
        figures = {mask: MaskFigures() for mask in MASKS}
        self.state.figures[config] = figures
        self.visit(case, figures, MASKS)
        for mask in MASKS:
            self.attempt(figures[mask], "counting", "counts",
                         lambda mask=mask: measure_counts(case, mask, figures[mask]))

    def visit(self, case: ForwardCase, figures: dict[str, MaskFigures], masks: tuple[str, ...]) -> None:
        for mask in masks:
            self.attempt(figures[mask], "wall timing", "wall",
                         lambda mask=mask: figures[mask].wall_visits.append(visit_seconds(case.runner(mask))))

    def later_pass(self, index: int, configs: list[AttentionConfig], last: bool) -> None:
        """Visit the given checked configs again, in this pass's own order; ``last`` adds the GPU time."""
        order = [config for config in configs if self.state.verdicts.get(config) is None]
        random.Random(index).shuffle(order)
        masks = MASKS if index % 2 else MASKS[::-1]  # neither mask always runs first after a build
        for config in order:
            self._revisit(config, index, masks, last)
            self.release(config)

    def _revisit(self, config: AttentionConfig, index: int, masks: tuple[str, ...], last: bool) -> None:
        figures = self.state.figures[config]
        try:
            case = self.build(config)
        except Exception as error:
            for mask in MASKS:
                figures[mask].errors.append(f"pass {index + 1}: building failed: {describe(error)}")
            return
        self.visit(case, figures, masks)
        if last:
            what = "GPU time" if config.device == "cuda" else "call time"
            for mask in MASKS:
                self.attempt(figures[mask], what, "kernel",
                             lambda mask=mask: measure_kernel_time(case, mask, figures[mask]))


def measure_grid(configs: list[AttentionConfig], mask_builder: MaskBuilder = lower_right_causal_mask,
                 passes: int = WALL_PASSES, short_passes: int = SHORT_CALL_PASSES - WALL_PASSES) -> GridState:
    """Check every config, then time and measure those that passed, in ``passes`` passes over the grid
    and ``short_passes`` more over the configs of short calls.

    One config failing fails alone. The CUDA-graph capture, the one figure that
    can break the CUDA context, comes in the last full pass, after every check.
    """
    device = configs[0].device if configs else "cpu"
    if device == "cuda" and not cuda_available():
        return GridState("", unavailable=CUDA_MISSING)
    use_device(device)
    state = GridState(torch.cuda.get_device_name() if device == "cuda" else "CPU")
    night = _Night(state, mask_builder)
    try:
        night.on_cpu_of_pass(0)
        for config in configs:
            night.first_pass(config)
        for index in range(1, passes):
            night.on_cpu_of_pass(index)
            night.later_pass(index, configs, last=index == passes - 1)
        short = [config for config in configs if _short_calls(state.figures.get(config))]
        for index in range(passes, passes + short_passes):
            night.on_cpu_of_pass(index)
            night.later_pass(index, short, last=False)
    finally:
        night.release_cpus()
    return state


def _short_calls(figures: dict[str, MaskFigures] | str | None) -> bool:
    """Both masks' calls under SHORT_CALL_SECONDS so far."""
    if not isinstance(figures, dict):
        return False
    walls = [f.wall_seconds for f in figures.values()]
    return all(wall is not None and wall < SHORT_CALL_SECONDS for wall in walls)


NO_CAUSAL_BIAS = f"torch {torch.__version__} has no torch.nn.attention.bias.causal_lower_right: nothing to compare"


def unavailable(device: str) -> str | None:
    """Why nothing of a grid on ``device`` can run in this process, or None."""
    if causal_lower_right is None:
        return NO_CAUSAL_BIAS
    if device == "cuda" and not cuda_available():
        return CUDA_MISSING
    return None


def grid_state(params: list[list], device: str, mask_builder: MaskBuilder = lower_right_causal_mask) -> GridState:
    reason = unavailable(device)
    if reason:
        return GridState("", unavailable=reason)
    started = time.perf_counter()
    state = measure_grid(grid_configs(params, device), mask_builder)
    write_dispatch_names(state)
    write_night(state, time.perf_counter() - started)
    return state


def write_dispatch_names(state: GridState) -> None:
    """The operator and kernel names of every config and mask, beside the run's results."""
    path = os.environ.get(DISPATCH_FILE_VARIABLE)
    if not path:
        return
    names = {
        config.label: {mask: {"operators": dict(f.dispatch.operators), "kernels": dict(f.dispatch.kernels),
                                   "sync_calls": dict(f.dispatch.sync_calls)}
                            for mask, f in figures.items() if f.dispatch}
        for config, figures in state.figures.items() if isinstance(figures, dict)
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(names, indent=1, sort_keys=True))


def write_night(state: GridState, seconds: float) -> None:
    """Beside the dispatch names, <commit>.night: the measurement's seconds by phase and every visit's wall time.

    asv keeps one number per result and shows a setup_cache's output only when
    it fails; this is where the night's own cost and spread can be read.
    """
    path = os.environ.get(DISPATCH_FILE_VARIABLE)
    if not path:
        return
    visits = {
        config.label: {mask: f.wall_visits for mask, f in figures.items()}
        for config, figures in state.figures.items() if isinstance(figures, dict)
    }
    clocks = {
        config.label: {mask: f.sm_clock_mhz for mask, f in figures.items()}
        for config, figures in state.figures.items()
        if isinstance(figures, dict) and any(f.sm_clock_mhz for f in figures.values())
    }
    record = {"seconds": seconds, "phases": state.phases, "wall_visits": visits, "sm_clock_mhz": clocks}
    Path(path).with_suffix(NIGHT_SUFFIX).write_text(json.dumps(record, indent=1, sort_keys=True))
