"""The suite's schema, without torch: grids, configs, masks, classes, figures, units, side files.

Both wings import it: the benchmarks (asv's forkserver imports it, so no torch
here) and the tools (which never import torch or the measuring code). Every
name of the suite is written here once.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Sequence

BENCHMARK_MODULE = "attention_bias"

# asv's parameter axes, in the order of ``params``. The (q, kv) sequence lengths
# are one axis: the reference pairs them, it does not cross them.
PARAM_NAMES = ["batch_size", "num_heads", "seq_lens", "embed_dim", "dtype"]

# The reference script's 80 configs. Never derive these from the hardware or the
# environment: results recorded over months must stay comparable.
GPU_PARAMS: list[list] = [
    [1, 8, 16, 128],
    [16, 32],
    [(128, 256), (256, 416), (512, 4097), (1024, 2048), (1, 2048)],
    [2048, 4096],
    ["bfloat16"],
]

# A grid that runs on any CPU in seconds: float32, q < kv, q = 1 and q = kv.
CPU_PARAMS: list[list] = [
    [1, 4],
    [4],
    [(16, 48), (1, 48), (32, 32)],
    [64],
    ["float32"],
]

MATERIALIZED, CAUSAL_BIAS = MASKS = ("materialized", "causal_bias")


@dataclasses.dataclass(frozen=True)
class Grid:
    """One grid of configs on one device, and the two asv classes that measure it."""

    name: str  # "gpu" or "cpu"
    device: str
    params: list[list]
    timed_class: str  # time_<mask>: asv times one config per process (asv run, continuous, find, profile)
    night_class: str  # track_<figure>_<mask>: figures of the night's one measuring process (the nightly)

    def night_benchmark(self, figure: str, mask: str) -> str:
        """asv's name of the night's ``figure`` of one mask (the night class's track_<figure>_<mask>)."""
        return benchmark_name(self.night_class, night_method(figure, mask))

    def timed_benchmark(self, mask: str) -> str:
        """asv's name of the timed wall time of one mask (the timed class's time_<mask>)."""
        return benchmark_name(self.timed_class, timed_method(mask))


GPU_GRID, CPU_GRID = GRIDS = (
    Grid("gpu", "cuda", GPU_PARAMS, "AttentionBias", "AttentionBiasNight"),
    Grid("cpu", "cpu", CPU_PARAMS, "AttentionBiasCPU", "AttentionBiasNightCPU"),
)
GRIDS_BY_NAME = {grid.name: grid for grid in GRIDS}


# The tools show durations in microseconds, named so in their columns and keys.
MICROSECONDS = "us"


def microseconds(seconds: float | None) -> float | None:
    """A duration in seconds, in MICROSECONDS; None stays None."""
    return None if seconds is None else seconds * 1e6


# asv takes a method named so for a time benchmark: a duration, lower is better.
TIMED_PREFIX = "time_"


def timed_method(mask: str) -> str:
    """The timed class's method of one mask: asv's own time benchmark."""
    return f"{TIMED_PREFIX}{mask}"


def is_timed_method(method: str) -> bool:
    """A method asv times (its name's prefix, as asv reads it)."""
    return method.startswith(TIMED_PREFIX)


def night_method(figure: str, mask: str) -> str:
    """The night class's method of one figure and mask."""
    return f"track_{figure}_{mask}"


def night_figure(method: str) -> Figure | None:
    """The night figure a ``track_<figure>_<mask>`` method records (None for any other method)."""
    for mask in MASKS:
        suffix = f"_{mask}"
        if method.startswith("track_") and method.endswith(suffix):
            return FIGURES_BY_NAME.get(method[len("track_"):-len(suffix)])
    return None


def benchmark_name(benchmark_class: str, method: str) -> str:
    return f"{BENCHMARK_MODULE}.{benchmark_class}.{method}"


@dataclasses.dataclass(frozen=True)
class Figure:
    """One figure the night records per config and mask."""

    name: str
    unit: str
    lower_is_better: bool | None  # None: a code with no better direction (the SDPA backend)
    exact: bool = False  # a count: the same on every run of one torch build
    cuda_only: bool = False
    positive: bool = False  # a duration, a size, a CUDA forward's kernels: zero or less is impossible


# The SDPA backend is recorded as torch.nn.attention.SDPBackend's value; the unit names the codes,
# so the published graph and the tools read them without torch.
BACKEND_CODES = {"math": 0, "flash": 1, "memory-efficient": 2, "cuDNN": 3}
BACKEND_UNIT = "SDPBackend: " + ", ".join(f"{code} {name}" for name, code in BACKEND_CODES.items())
BACKEND_LEGEND = re.compile(r"(\d+) ([^,]+)")

WALL_TIME = Figure("wall_time", "seconds", True, positive=True)
GPU_TIME = Figure("gpu_time", "seconds", True, cuda_only=True, positive=True)
PEAK_MEMORY = Figure("peak_memory", "bytes", True, cuda_only=True, positive=True)
SDPA_BACKEND = Figure("sdpa_backend", BACKEND_UNIT, None)
# What one forward asks of the host, counted (DispatchCounts): exact, so a change of one is a finding.
ATEN_OPS = Figure("aten_ops", "operators", True, exact=True)
# A CUDA forward launches kernels: none means the profile lost its records (counts.dispatch_counts).
KERNELS = Figure("kernels", "kernels", True, exact=True, cuda_only=True, positive=True)
SYNCS = Figure("syncs", "syncs", True, exact=True, cuda_only=True)
PYTHON_CALLS = Figure("python_calls", "calls", True, exact=True)
ALLOCATIONS = Figure("allocations", "allocations", True, exact=True, cuda_only=True)
COUNTS = (ATEN_OPS, KERNELS, SYNCS, PYTHON_CALLS, ALLOCATIONS)
NIGHT_FIGURES = (WALL_TIME, GPU_TIME, PEAK_MEMORY, SDPA_BACKEND, *COUNTS)
COUNT_FIGURES = tuple(figure.name for figure in COUNTS)
FIGURES_BY_NAME = {figure.name: figure for figure in NIGHT_FIGURES}

# Files beside a machine's results (not .json: asv reads every .json under results/ as a run).
DISPATCH_SUFFIX = ".dispatch"  # operator and kernel names per config and mask
# The dispatch file's names of each config and mask, by kind: ATen operators, CUDA kernels, the calls that synced.
DISPATCH_OPERATORS, DISPATCH_KERNELS, DISPATCH_SYNC_CALLS = "operators", "kernels", "sync_calls"
# The values the night's setup_cache hands its track_* children (night_state.NightValues, JSON), written for the
# recorder, which records them (tools/lib/night_figures.py) and never lands the file.
FIGURES_SUFFIX = ".figures"
NIGHT_SUFFIX = ".night"  # the night's seconds by phase and each visit's wall time and GPU time
# The re-measurement's two sides, each its own environment's processes: last night's torch and tonight's.
BASELINE, CONTENDER = SIDES = ("baseline", "contender")
# The two timed signals of a result, judged against its noise and re-measured: its wall time and its GPU time
# (the counts are judged apart, exactly).
WALL, GPU = TIMED_SIGNALS = ("wall", "gpu")
# The SM clock (MHz, NVML) read right after each GPU time, the night's and the re-measurement's: the GPU
# time follows the clock a little (docs/noise.md), and the clock beside it says how far.
SM_CLOCK = "sm_clock"
# The night file's visits of each signal, by label and mask: what its figures were taken from, and the SM
# clock read beside each GPU-time build.
NIGHT_VISITS = {WALL: "wall_visits", GPU: "gpu_time_visits", SM_CLOCK: "sm_clock_mhz"}
# The night file's signals measured in part, by label and mask, each with what failed: a visit of a later pass
# that failed leaves a figure from fewer visits (the fastest of fewer reads slower), which the check leaves out.
NIGHT_IN_PART = "measured_in_part"
# The night file's torch, as torch.version.git_version says it: a re-measurement's side stands for its night only
# where its Python has that torch (tools/lib/remeasure.py).
NIGHT_TORCH = "torch_git_version"


class Phase:
    """The phases a measuring process keeps its seconds by: the night's (its .night file's "phases") and a
    re-measurement worker's (WORKER_PHASES, in each answer). Where the time of a night or a check went."""

    START = "start"  # worker: the device's start (CUDA's context), only what the request waited for
    BUILD = "build"  # the configs' builds (the night's: and each config's cache released after it)
    CHECK = "check"  # night: the two masks' equivalence check of each config
    FIRST_CALLS = "first_calls"  # worker: each key's first calls (kernel loads, cuDNN graph builds)
    QUIET = "quiet"  # worker: the wait for the quiet lock (another child's start)
    GPU_REST = "gpu_rest"  # the GPU's rest (GPU_REST_SECONDS): night, before each GPU-time pass; worker, its passes
    WALL = "wall"  # the wall-time visits
    HEAVY_REST = "heavy_rest"  # the rests before heavy keys' GPU times (HEAVY_GPU_REST_SECONDS)
    KERNEL = "kernel"  # night: the GPU times (CUDA, the heavy rests in it too) or the CPU's call times
    GPU = "gpu"  # worker: the CUDA-graph GPU times
    COUNTS = "counts"  # night: the counts of one forward, the backend and (CUDA) the peak memory


# The night's phases whose visits make a timed signal's figure: a failed one leaves that figure in part.
PHASE_SIGNALS = {Phase.WALL: WALL, Phase.KERNEL: GPU}
# The night file's timeline of the setup_cache process, epoch seconds in this order: the process's start,
# setup_cache's call, torch imported, the measuring code imported (torch.nn.attention.bias brings in
# torch._dynamo), the device checked ("imported": CUDA's driver started), the measurement's end, the side
# files written; experiments/night_cost.py sets them against asv's own times.
NIGHT_TIMELINE = ("process_started", "called", "torch_imported", "code_imported", "imported", "measured", "written")
VERDICT_SUFFIX = ".verdict"  # a night's suspects, for the next night's persistence rule
# Where the night writes its side files: <results>/<machine>/<commit>.dispatch (set by tools/record_run.py).
DISPATCH_FILE_VARIABLE = "ATTENTION_BIAS_DISPATCH_FILE"
# Set by the night's recorder: the benchmark modules then leave torch out of asv's forkserver,
# so that each of the night's track_* children forks without it (docs/design.md).
NIGHT_ONLY_VARIABLE = "ATTENTION_BIAS_NIGHT_ONLY"

# Calls shorter than this are launch-bound or near it: the host's speed moves them most,
# so the night and the re-measurement visit them more often.
SHORT_CALL_SECONDS = 1e-3
# Launch-bound: the wall time of one forward at least this many times its GPU time.
LAUNCH_BOUND_RATIO = 1.5
# Near launch-bound: a wall time under this many times the launch-bound results' median (the host's dispatch of
# a forward); the GPU-bound results the host moved sat under 1.07x it (docs/noise.md, "Near the line").
NEAR_LAUNCH_BOUND_RATIO = 1.25
# Calls at least this long are long: the verdict classes a result by its GPU time, and long calls run the
# GPU near its power limit, so they do not move with the rest's clock (docs/noise.md, "Long calls").
LONG_CALL_SECONDS = 1e-2


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

    @classmethod
    def from_label(cls, label: str, device: str) -> AttentionConfig:
        """The config of asv's parameter string (``label``), e.g. "1, 16, (128, 256), 2048, 'bfloat16'"."""
        batch_size, num_heads, seq_lens, embed_dim, dtype = ast.literal_eval(f"({label},)")
        return cls.from_params(batch_size, num_heads, seq_lens, embed_dim, dtype, device)

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def label(self) -> str:
        """asv's parameter string of the config, as the results files and the tools key it."""
        values = (self.batch_size, self.num_heads, (self.q_seq_len, self.kv_seq_len),
                  self.embed_dim, self.dtype_name)
        return ", ".join(repr(value) for value in values)


def params_label(combination: Sequence[str]) -> str:
    """asv's parameter string of one combination of its parameters' strings (AttentionConfig.label's)."""
    return ", ".join(combination)


def grid_configs(params: list[list], device: str) -> list[AttentionConfig]:
    """Every parameter set of an asv ``params`` grid, in asv's order."""
    return [AttentionConfig.from_params(batch, heads, seq_lens, embed, dtype, device)
            for batch, heads, seq_lens, embed, dtype in itertools.product(*params)]


def visible_pairs(q_seq_len: int, kv_seq_len: int) -> int:
    """(query, key) pairs a lower-right causal mask leaves visible: query i sees i + 1 + (kv - q) keys."""
    return sum(min(kv_seq_len, max(0, i + 1 + kv_seq_len - q_seq_len)) for i in range(q_seq_len))


def forward_flops(config: AttentionConfig) -> int:
    """Useful floating-point operations of one CompositeMHA forward (a multiply-add counts 2).

    Projections: q and out over q_seq_len rows, k and v over kv_seq_len rows, each
    2 * batch * rows * embed_dim**2. Attention: Q K^T and P V, each 2 * batch *
    visible pairs * embed_dim (all heads together). Only the pairs the causal
    mask leaves visible count, for both masks, so achieved TFLOP/s compare
    directly (docs/design.md). Softmax and scaling are left out (under 1% here).
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


def backend_of(operator_names: set[str] | Counter[str]) -> str:
    """The SDPA backend whose ATen operator is among ``operator_names`` ("unknown" if none is)."""
    for fragment, backend in BACKEND_OPERATORS:
        if any(fragment in name for name in operator_names):
            return backend
    return "unknown"


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


# ---------------------------------------------------------------- the re-measurement worker's protocol
# tools/lib/remeasure.py asks, benchmarks/measure/worker.py answers: one JSON line each.


@dataclasses.dataclass(frozen=True)
class WorkerKey:
    """One (config, mask) to re-measure: which signals (TIMED_SIGNALS) and how many visits a process."""

    config: str  # AttentionConfig.label
    mask: str
    signals: tuple[str, ...]
    visits: int
    heavy_rest: float = 0.0  # seconds the GPU idles right before this key's timed GPU-time blocks

    @property
    def wall_visits(self) -> int:
        """Its visits that time its wall (``wall_visits_of``)."""
        return wall_visits_of(self.signals, self.visits)


def wall_visits_of(signals: tuple[str, ...], visits: int) -> int:
    """Of a key's ``visits``, those that time its wall: none where only its GPU time is asked for (its one
    visit takes that)."""
    return visits if WALL in signals else 0


@dataclasses.dataclass(frozen=True)
class WorkerRequest:
    """What one re-measurement process measures: every key, visit i pinned to ``cpus[i]``."""

    device: str
    seed: int
    cpus: tuple[int, ...]
    keys: tuple[WorkerKey, ...]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerRequest:
        data = json.loads(text)
        keys = tuple(WorkerKey(k["config"], k["mask"], tuple(k["signals"]), int(k["visits"]),
                               float(k.get("heavy_rest", 0.0))) for k in data["keys"])
        return cls(data["device"], int(data["seed"]), tuple(data["cpus"]), keys)


@dataclasses.dataclass(frozen=True)
class WorkerValue:
    """One key's values in one process: the fastest visit's wall time, and its GPU time with the SM clock read
    right after it, each where asked."""

    config: str
    mask: str
    wall: float | None
    gpu: float | None = None
    sm_clock_mhz: int | None = None


@dataclasses.dataclass(frozen=True)
class WorkerAnswer:
    """One process's answer: its values, or why it has none."""

    values: tuple[WorkerValue, ...] = ()
    pid: int | None = None
    cpu: int | None = None
    error: str | None = None
    # Seconds the process spent per phase (WORKER_PHASES): where a re-measurement's time goes.
    phases: dict[str, float] = dataclasses.field(default_factory=dict)
    torch: str | None = None  # the worker's torch.version.git_version, in its first line (its ready answer)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerAnswer:
        data = json.loads(text)
        values = tuple(WorkerValue(v["config"], v["mask"], None if v["wall"] is None else float(v["wall"]),
                                   v.get("gpu"), v.get("sm_clock_mhz"))
                       for v in data.get("values", ()))
        phases = {str(name): float(seconds) for name, seconds in (data.get("phases") or {}).items()}
        return cls(values, data.get("pid"), data.get("cpu"), data.get("error"), phases, data.get("torch"))


# A GPU time: blocks of CUDA-graph replays of at least this long, this many of them, the night's and the
# re-measurement's alike. The blocks of one measurement agree to well under 1% (a build sets the spread,
# docs/noise.md): longer blocks only cost the night's seconds.
GPU_TIME_BLOCK_SECONDS = 0.002
GPU_TIME_BLOCKS = 3
# CUDA: the builds whose GPU times a night takes (night.gpu_pass), each in a pass of its own; the figure is the
# geometric mean of two (night_state.MaskFigures.kernel_seconds), and the check reads each (verdict.mark_standing).
GPU_PASSES = 2


def gpu_time_block_replays(gpu_seconds: float, block_seconds: float = GPU_TIME_BLOCK_SECONDS) -> int:
    """The replays of a block of a GPU time whose replay takes ``gpu_seconds``: those that reach
    ``block_seconds``, one at least (and one where the replay took no time or no number)."""
    return max(1, math.ceil(block_seconds / gpu_seconds)) if gpu_seconds > 0 else 1


def gpu_time_block_seconds(gpu_seconds: float) -> float:
    """One block's seconds (``gpu_time_block_replays``); GPU_TIME_BLOCK_SECONDS where no replay time is known."""
    if not gpu_seconds > 0:
        return GPU_TIME_BLOCK_SECONDS
    return gpu_time_block_replays(gpu_seconds) * gpu_seconds


# A re-measurement process's phases (Phase), in the order a process passes them.
WORKER_PHASES = (Phase.START, Phase.BUILD, Phase.FIRST_CALLS, Phase.QUIET, Phase.GPU_REST, Phase.WALL,
                 Phase.HEAVY_REST, Phase.GPU)
# A re-measurement process on a GPU idles this long (its wait for the quiet lock counted in) before its
# first timed visit: a GPU that ran at its power cap (the previous process's heaviest key) times the next
# 20 ms 17-26% slow, the next 100 ms 1-3%, and after 300 ms under 1% (docs/noise.md). The worker rests,
# the planner prices the rest; the night rests before each of its GPU-time passes.
GPU_REST_SECONDS = 0.2
# A heavy key (its GPU time this long or more) has its GPU time's blocks taken after this much rest more,
# right before them: keys of 3-10 ms spread 2-3.4% between a check's processes without it and 0.1-0.6% with
# it; a 2.4 ms key spread 3% unrested where keys of 1-1.6 ms spread 0.1-0.5%. 50 ms held the 2-10 ms keys
# within 0.25% of 100 ms (spread 0.27% against 0.20%) for 6 s less a night (docs/noise.md, "Heavy keys").
# The planner asks for it from the night's GPU time and prices it; the worker rests; the night, which has no
# GPU time of the key yet, rests where the replay that sized the blocks was that long: near 2 ms they can differ.
HEAVY_GPU_SECONDS = 2e-3
HEAVY_GPU_REST_SECONDS = 0.05


def heavy_rest_seconds(gpu_seconds: float | None) -> float:
    """The rest before a GPU time's blocks: HEAVY_GPU_REST_SECONDS where the GPU time is heavy, none otherwise."""
    return HEAVY_GPU_REST_SECONDS if (gpu_seconds or 0.0) >= HEAVY_GPU_SECONDS else 0.0


# A re-measurement worker forks its children this many at a time, whose starts share the quiet lock and
# so run at once: a start (half a second on an H200) is paid once for this many processes. The worker
# forks them and the planner's cost model prices them.
CHILDREN_STARTED_TOGETHER = 2
