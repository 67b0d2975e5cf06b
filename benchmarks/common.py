"""Shared pieces of the suite: the grids, the model, the timer and the per-parameter-set cache.

Nothing here touches CUDA at import time. asv's forkserver imports this module once
in a parent process and forks one child per benchmark and parameter set; a forked
child cannot use CUDA that was initialised in its parent.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

try:
    from torch.nn.attention.bias import CausalBias, causal_lower_right
except ImportError:  # a torch older than the attention biases: every parameter set is skipped, discovery works
    CausalBias = causal_lower_right = None

SEED = 0

# asv's parameter axes, in the order of ``params``. The (q, kv) sequence lengths
# are one axis: the reference pairs them, it does not cross them.
PARAM_NAMES = ["batch_size", "num_heads", "seq_lens", "embed_dim", "dtype"]

# The reference script's 80 configs. Never derive these from the hardware or the
# environment: results recorded over months must stay comparable.
GPU_PARAMS = [
    [1, 8, 16, 128],
    [16, 32],
    [(128, 256), (256, 416), (512, 4097), (1024, 2048), (1, 2048)],
    [2048, 4096],
    ["bfloat16"],
]

# A grid that runs on any CPU in seconds: float32, q < kv, q = 1 and q = kv.
CPU_PARAMS = [
    [1, 4],
    [4],
    [(16, 48), (1, 48), (32, 32)],
    [64],
    ["float32"],
]

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


@dataclasses.dataclass(frozen=True)
class AttentionConfig:
    """One parameter set of the grid, on one device."""

    batch_size: int
    num_heads: int
    q_seq_len: int
    kv_seq_len: int
    embed_dim: int
    dtype_name: str
    device: str

    @classmethod
    def from_params(
        cls,
        batch_size: int,
        num_heads: int,
        seq_lens: tuple[int, int],
        embed_dim: int,
        dtype: str,
        device: str,
    ) -> AttentionConfig:
        q_seq_len, kv_seq_len = seq_lens
        return cls(batch_size, num_heads, q_seq_len, kv_seq_len, embed_dim, dtype, device)

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype_name)


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

    def warm_up(self, mask: str, calls: int = 3) -> None:
        """A few calls of one mask, once per process, so that timing starts in the steady state.

        The first call compiles and loads kernels (cuDNN graph build, module loads:
        0.1-2 s on an H100). Seen by asv's sizing of ``number``, that call is longer
        than sample_time and warmup_time, so asv stops there and times single calls.
        """
        if mask in self.warm_masks:
            return
        run = self.runner(mask)
        for _ in range(calls):
            run()
        synchronized_clock()
        self.warm_masks.add(mask)


MASKS = ("materialized", "causal_bias")


MaskBuilder = Callable[[int, int, torch.device], torch.Tensor]


def build_case(config: AttentionConfig, mask_builder: MaskBuilder = lower_right_causal_mask) -> ForwardCase:
    device = torch.device(config.device)
    generator = torch.Generator(device=device).manual_seed(SEED)
    module = CompositeMHA(
        config.num_heads, config.embed_dim, device=device, dtype=config.dtype, generator=generator
    )

    def activations(seq_len: int) -> torch.Tensor:
        shape = (config.batch_size, seq_len, config.embed_dim)
        return torch.randn(shape, generator=generator, device=device, dtype=config.dtype)

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


def grid_configs(params: list[list], device: str) -> list[AttentionConfig]:
    """Every parameter set of an asv ``params`` grid, in asv's order."""
    return [AttentionConfig.from_params(*combination, device) for combination in itertools.product(*params)]


def raise_for_verdict(verdicts: dict[AttentionConfig, str | None], config: AttentionConfig) -> None:
    """Fail this parameter set loudly if its equivalence check did not pass."""
    if config not in verdicts:
        raise AssertionError(f"no equivalence verdict for {config}")
    verdict = verdicts[config]
    if verdict is not None:
        print(f"equivalence check failed for {config}:\n{verdict}", file=sys.stderr)
        raise AssertionError(verdict)


_prepared: dict[AttentionConfig, ForwardCase] = {}


def prepared_case(config: AttentionConfig) -> ForwardCase:
    """The ForwardCase of ``config``, built once per process.

    asv_runner calls ``setup`` before every sample (0.2) or every timed call (0.3);
    rebuilding the module and multi-GB inputs each time would be slow and noisy.
    """
    case = _prepared.get(config)
    if case is None:
        _prepared.clear()  # keep one parameter set's tensors alive at a time
        case = build_case(config)
        _prepared[config] = case
    return case


def current_case() -> ForwardCase:
    """The one case prepared_case keeps, built by the class's setup for this parameter set."""
    (case,) = _prepared.values()
    return case


def cuda_available() -> bool:
    return torch.cuda.is_available()


def skip(reason: str) -> None:
    """Skip this parameter set (asv's NotImplementedError in setup), saying why on stderr."""
    print(reason, file=sys.stderr)
    raise NotImplementedError(reason)


def require_cuda() -> None:
    if not cuda_available():
        skip(CUDA_MISSING)


def synchronized_clock() -> float:
    """perf_counter read after queued CUDA work finishes, so a sample ends when the GPU does.

    ``is_initialized`` never initialises CUDA, so the CPU grid pays nothing here.
    """
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter()


# ---------------------------------------------------------------- work and backends (issue 7 groundwork)


def visible_pairs(q_seq_len: int, kv_seq_len: int) -> int:
    """(query, key) pairs a lower-right causal mask leaves visible: query i sees i + 1 + (kv - q) keys."""
    return sum(min(kv_seq_len, max(0, i + 1 + kv_seq_len - q_seq_len)) for i in range(q_seq_len))


def forward_flops(config: AttentionConfig) -> int:
    """Useful floating-point operations of one CompositeMHA forward (a multiply-add counts 2).

    Projections: q and out over q_seq_len rows, k and v over kv_seq_len rows, each
    2 * batch * rows * embed_dim**2. Attention: Q K^T and P V, each 2 * batch *
    visible pairs * embed_dim (all heads together). Only the pairs the causal
    mask leaves visible count, for both masks: a kernel given the boolean tensor
    computes the whole rectangle, a causal kernel skips masked tiles, but the
    useful work is the same, so achieved TFLOP/s compare directly. Softmax and
    scaling are left out (a few operations per score, under 1% here).
    """
    b, e = config.batch_size, config.embed_dim
    projections = 2 * b * e * e * (2 * config.q_seq_len + 2 * config.kv_seq_len)
    attention = 2 * 2 * b * visible_pairs(config.q_seq_len, config.kv_seq_len) * e
    return projections + attention


# Recorded ATen operators -> SDPA backend; the first match wins (CPU flash before CUDA flash,
# both "flash": the device tells them apart).
BACKEND_OPERATORS = (
    ("_scaled_dot_product_flash_attention_for_cpu", "flash"),
    ("_cudnn_attention", "cuDNN"),
    ("_flash_attention", "flash"),
    ("_efficient_attention", "memory-efficient"),
    ("_attention_math", "math"),
)

# The number a track_sdpa_backend_* benchmark records: torch.nn.attention.SDPBackend's value.
BACKEND_CODES = {"math": 0, "flash": 1, "memory-efficient": 2, "cuDNN": 3}
# The unit string names the codes, so the published graph and the tools read them without torch.
BACKEND_UNIT = "SDPBackend: " + ", ".join(f"{code} {name}" for name, code in BACKEND_CODES.items())


def sdpa_backend(run: Callable[[], torch.Tensor]) -> str:
    """The SDPA backend that one call of ``run`` really used, from the operators the profiler saw.

    CausalBias calls the flash or memory-efficient operator itself, so asking SDPA's
    own backend choice would not tell; the profile does, for both masks.
    """
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    with profile(activities=activities) as profiled:
        run()
    names = {event.name for event in profiled.events()}
    for fragment, backend in BACKEND_OPERATORS:
        if any(fragment in name for name in names):
            return backend
    return "unknown"


# ---------------------------------------------------------------- figures beyond the wall time (issue 7)

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, from NVIDIA's datasheets (half
# their "with sparsity" figures); the first name fragment found in the device name wins.
DENSE_BF16_PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.5),
    ("H100", 989.4),  # SXM5, e.g. "NVIDIA H100 80GB HBM3"
    ("H200", 989.4),
    ("A100", 312.0),
)


def dense_bf16_peak_tflops(device_name: str) -> float | None:
    for fragment, tflops in DENSE_BF16_PEAK_TFLOPS:
        if fragment in device_name:
            return tflops
    return None


def graph_replay_seconds(run: Callable[[], torch.Tensor], block_seconds: float = 0.005, blocks: int = 7) -> float:
    """GPU time of one forward without launch cost: captured once in a CUDA graph, replayed.

    Replays run back to back in blocks of about ``block_seconds`` between two CUDA
    events; the median block, divided by its replays, is the figure.
    """
    side_stream = torch.cuda.Stream()
    side_stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side_stream):  # capture needs its warm-up off the default stream
        for _ in range(3):
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


def call_seconds(run: Callable[[], torch.Tensor], block_seconds: float = 0.002, blocks: int = 7) -> float:
    """Wall time of one call: the median block of back-to-back calls, per call (the clock waits for the GPU)."""
    run()
    start = synchronized_clock()
    run()
    replays = max(1, math.ceil(block_seconds / (synchronized_clock() - start)))

    def block() -> float:
        start = synchronized_clock()
        for _ in range(replays):
            run()
        return (synchronized_clock() - start) / replays

    return statistics.median(block() for _ in range(blocks))


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


@dataclasses.dataclass(frozen=True)
class DispatchCounts:
    """What one forward asks of the host, counted: the same on every run of one torch build.

    A dispatch regression (an extra operator, copy or sync, a longer Python path,
    another SDPA path) changes these by whole numbers, where the wall time of a
    launch-bound config only moves inside the host's noise.
    """

    operators: Counter[str]  # ATen operators the profiler saw, by name
    kernels: Counter[str]  # device kernels launched (CUDA only)
    syncs: int | None  # host-device synchronizations (CUDA only)
    sync_calls: Counter[str]  # their runtime calls, by name, the measurement's own final one included
    python_calls: int  # Python function calls in torch's source, the mask subclass's __torch_function__ included
    allocations: int | None  # caching-allocator allocations (CUDA only)

    def figures(self) -> dict[str, int | None]:
        """The counts the track_* benchmarks record, by figure name."""
        cuda = self.syncs is not None
        return {
            "aten_ops": sum(self.operators.values()),
            "kernels": sum(self.kernels.values()) if cuda else None,
            "syncs": self.syncs,
            "python_calls": self.python_calls,
            "allocations": self.allocations,
        }


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


@dataclasses.dataclass(frozen=True)
class MaskFigures:
    """What one mask's forward does besides its wall time: the track_* figures."""

    backend: str
    kernel_seconds: float | None  # CUDA: one CUDA-graph replay; CPU: one call
    peak_memory: int | None  # CUDA only
    error: str | None = None  # why kernel_seconds is missing
    dispatch: DispatchCounts | None = None


def measure_mask(case: ForwardCase, mask: str) -> MaskFigures:
    run = case.runner(mask)
    backend = sdpa_backend(run)  # also the warm-up: first calls compile and allocate workspaces
    cuda = case.config.device == "cuda"
    dispatch = dispatch_counts(run, cuda)
    if not cuda:
        return MaskFigures(backend, call_seconds(run), None, dispatch=dispatch)
    peak_memory = forward_peak_memory(run)
    try:
        seconds = graph_replay_seconds(run)
    except Exception as error:  # capture can fail for a backend; the other figures still stand
        return MaskFigures(backend, None, peak_memory, f"CUDA graph timing failed: {describe(error)}", dispatch)
    return MaskFigures(backend, seconds, peak_memory, dispatch=dispatch)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


@dataclasses.dataclass
class GridState:
    """What setup_cache computes once per run for one grid, for its timed and its track classes.

    ``unavailable`` says why nothing could run (no CUDA). Per config: the equivalence
    verdict (None: both masks agree) and, where it passed, each mask's figures or why
    they could not be measured.
    """

    device_name: str
    peak_tflops: float | None
    verdicts: dict[AttentionConfig, str | None] = dataclasses.field(default_factory=dict)
    figures: dict[AttentionConfig, dict[str, MaskFigures] | str] = dataclasses.field(default_factory=dict)
    unavailable: str | None = None


CUDA_MISSING = "CUDA is not available on this machine: the GPU grid is skipped (the CPU classes run here)"


def use_device(device: str) -> None:
    """Per-process settings of a grid's device, the same where it is timed and where it is checked."""
    if device == "cpu":
        # One intra-op thread: these ops are far too small to gain from more, and
        # a thread per core makes every sample wait on the busiest core.
        torch.set_num_threads(1)


def measure_grid(
    configs: list[AttentionConfig], mask_builder: MaskBuilder = lower_right_causal_mask
) -> GridState:
    """Check every config, then measure the figures of those that passed; one bad config fails alone.

    All checks come first, so that a figure whose measurement breaks the CUDA
    context (a failed graph capture, say) cannot take the timed benchmarks' verdicts with it.
    """
    device = configs[0].device if configs else "cpu"
    if device == "cuda" and not cuda_available():
        return GridState("", None, unavailable=CUDA_MISSING)
    use_device(device)
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    state = GridState(name, dense_bf16_peak_tflops(name) if device == "cuda" else None)
    for config in configs:
        state.verdicts[config] = _outcome(config, check_case, mask_builder)
    for config in configs:
        if state.verdicts[config] is not None:
            state.figures[config] = "the equivalence check failed"
            continue
        figures: dict[str, MaskFigures] = {}

        def measure(case: ForwardCase, figures: dict[str, MaskFigures] = figures) -> None:
            figures.update({mask: measure_mask(case, mask) for mask in MASKS})

        state.figures[config] = _outcome(config, measure, mask_builder) or figures
    return state


def _outcome(config: AttentionConfig, action: Callable[[ForwardCase], None], mask_builder: MaskBuilder) -> str | None:
    """None where ``action`` on the config's case succeeds, else what went wrong."""
    try:
        action(build_case(config, mask_builder))
        return None
    except Exception as error:  # mismatch, out of memory, kernel error: this config's outcome
        return describe(error)
    finally:
        if config.device == "cuda":
            torch.cuda.empty_cache()


NO_CAUSAL_BIAS = f"torch {torch.__version__} has no torch.nn.attention.bias.causal_lower_right: nothing to compare"


def grid_state(params: list[list], device: str, mask_builder: MaskBuilder = lower_right_causal_mask) -> GridState:
    if causal_lower_right is None:
        return GridState("", None, unavailable=NO_CAUSAL_BIAS)
    state = measure_grid(grid_configs(params, device), mask_builder)
    write_dispatch_names(state)
    return state


# Where the operator and kernel names of a run go (asv results hold numbers only):
# tools/record_run.py sets it to <results>/<machine>/<commit>.dispatch.
DISPATCH_FILE_VARIABLE = "ATTENTION_BIAS_DISPATCH_FILE"


def asv_label(config: AttentionConfig) -> str:
    """asv's parameter string of a config, as the results files and the tools key it."""
    values = (config.batch_size, config.num_heads, (config.q_seq_len, config.kv_seq_len),
              config.embed_dim, config.dtype_name)
    return ", ".join(repr(value) for value in values)


def write_dispatch_names(state: GridState) -> None:
    """The operator and kernel names of every config and mask, beside the run's results."""
    path = os.environ.get(DISPATCH_FILE_VARIABLE)
    if not path:
        return
    names = {
        asv_label(config): {mask: {"operators": dict(f.dispatch.operators), "kernels": dict(f.dispatch.kernels),
                                   "sync_calls": dict(f.dispatch.sync_calls)}
                            for mask, f in figures.items() if f.dispatch}
        for config, figures in state.figures.items() if isinstance(figures, dict)
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(names, indent=1, sort_keys=True))
