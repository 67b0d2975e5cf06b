"""What the suite measures, without torch: the grids, a config, the figures a run records.

asv's forkserver imports the benchmark modules once and forks a child per
benchmark and parameter set. Only the grid's ``setup_cache`` needs torch (it
imports ``benchmarks.measure.common`` itself); every other child only returns a figure
that ``setup_cache`` measured. Without torch in the parent a fork and exit cost
about 0.5 ms instead of 11 ms, and the night forks 1,760 of them.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections import Counter

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

MASKS = ("materialized", "causal_bias")


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
    def dtype(self):
        """The torch dtype (imported here: only the measuring process needs it)."""
        import torch

        return getattr(torch, self.dtype_name)


def grid_configs(params: list[list], device: str) -> list[AttentionConfig]:
    """Every parameter set of an asv ``params`` grid, in asv's order."""
    return [AttentionConfig.from_params(*combination, device) for combination in itertools.product(*params)]


def asv_label(config: AttentionConfig) -> str:
    """asv's parameter string of a config, as the results files and the tools key it."""
    values = (config.batch_size, config.num_heads, (config.q_seq_len, config.kv_seq_len),
              config.embed_dim, config.dtype_name)
    return ", ".join(repr(value) for value in values)


def skip(reason: str) -> None:
    """Skip this parameter set (asv's NotImplementedError in setup), saying why on stderr."""
    print(reason, file=sys.stderr)
    raise NotImplementedError(reason)


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


# The number a track_sdpa_backend_* benchmark records: torch.nn.attention.SDPBackend's value.
BACKEND_CODES = {"math": 0, "flash": 1, "memory-efficient": 2, "cuDNN": 3}
# The unit string names the codes, so the published graph and the tools read them without torch.
BACKEND_UNIT = "SDPBackend: " + ", ".join(f"{code} {name}" for name, code in BACKEND_CODES.items())

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


@dataclasses.dataclass
class MaskFigures:
    """What the night measured of one mask's forward: its wall time and what explains it."""

    # Wall time of one forward, one value per visit (pass) of the night, in the order taken.
    wall_visits: list[float] = dataclasses.field(default_factory=list)
    kernel_seconds: float | None = None  # CUDA: one CUDA-graph replay; CPU: one call
    peak_memory: int | None = None  # CUDA only
    dispatch: DispatchCounts | None = None
    errors: list[str] = dataclasses.field(default_factory=list)  # what could not be measured, and why

    @property
    def backend(self) -> str:
        """The SDPA backend that ran, from the operators the counted forward dispatched."""
        return backend_of(self.dispatch.operators) if self.dispatch else "unknown"

    @property
    def wall_seconds(self) -> float | None:
        """The fastest visit: the forward at the best host speed the night saw (docs/design.md)."""
        return min(self.wall_visits) if self.wall_visits else None

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) or None


@dataclasses.dataclass
class GridState:
    """What setup_cache measures once per run for one grid, for its timed and its Profile class.

    ``unavailable`` says why nothing could run (no CUDA). Per config: the equivalence
    verdict (None: both masks agree) and, where it passed, each mask's figures or why
    they could not be measured. ``phases``: seconds spent per phase of the measurement.
    """

    device_name: str
    peak_tflops: float | None
    verdicts: dict[AttentionConfig, str | None] = dataclasses.field(default_factory=dict)
    figures: dict[AttentionConfig, dict[str, MaskFigures] | str] = dataclasses.field(default_factory=dict)
    unavailable: str | None = None
    phases: dict[str, float] = dataclasses.field(default_factory=dict)


CUDA_MISSING = "CUDA is not available on this machine: the GPU grid is skipped (the CPU classes run here)"


def raise_for_verdict(verdicts: dict[AttentionConfig, str | None], config: AttentionConfig) -> None:
    """Fail this parameter set loudly if its equivalence check did not pass."""
    if config not in verdicts:
        raise AssertionError(f"no equivalence verdict for {config}")
    verdict = verdicts[config]
    if verdict is not None:
        print(f"equivalence check failed for {config}:\n{verdict}", file=sys.stderr)
        raise AssertionError(verdict)


# Where the operator and kernel names of a run go (asv results hold numbers only):
# tools/record_run.py sets it to <results>/<machine>/<commit>.dispatch.
DISPATCH_FILE_VARIABLE = "ATTENTION_BIAS_DISPATCH_FILE"
# Beside it, the night's phases and every visit's wall time (benchmarks/measure/common.py, write_night).
NIGHT_SUFFIX = ".night"
