"""SDPA with a lower-right causal mask: a materialized boolean tensor versus CausalBias.

Each grid is measured by one process a night, its ``setup_cache``: it checks
that both masks give the same output, then visits every config several times,
each pass over the grid in its own order, and keeps per config and mask the
wall time of one CompositeMHA forward (q/k/v projections, SDPA, output
projection), end to end: blocks of back-to-back calls, the clock waiting for
the GPU at both ends of a block, divided by the calls. That is the time a loop
of forward calls takes per call, CPU launch cost included, as the reference
script measured it. The same process measures what explains a time: GPU time
without launch cost, peak memory, achieved TFLOP/s, the SDPA backend that ran
and what one forward dispatches, counted.

Every benchmark here is a ``track_*`` that returns one of those figures: asv
forks a child per benchmark and parameter set, and a child that starts CUDA
costs the night 0.3 s, one that returns a number about 10 ms. This module
imports no torch (``benchmarks/grid.py``), so those forks stay cheap; only
``setup_cache`` imports the measuring half, ``benchmarks/measure/common.py``.
"""

from __future__ import annotations

import sys

from asv_runner.benchmarks.mark import SkipNotImplemented

from .grid import (
    BACKEND_CODES,
    BACKEND_UNIT,
    CPU_PARAMS,
    GPU_PARAMS,
    MASKS,
    PARAM_NAMES,
    AttentionConfig,
    GridState,
    MaskFigures,
    forward_flops,
    raise_for_verdict,
    skip,
)


def _measure(params: list[list], device: str) -> GridState:
    from .measure.common import grid_state  # torch: only in the process that measures

    return grid_state(params, device)


# One setup_cache per grid, shared by its timed and its Profile class: asv keys a
# cache by the function's module and line, so both classes get the same one and
# a run checks and measures the grid once. Each grid needs its own function.
class _GpuGrid:
    """The reference script's 80 configs, bfloat16, on CUDA."""

    params = GPU_PARAMS
    device = "cuda"

    def setup_cache(self) -> GridState:
        """Check and measure every GPU config, in one process."""
        return _measure(GPU_PARAMS, "cuda")

    setup_cache.timeout = 900  # 80 configs, about a minute on an H100 (docs/measurements)


class _CpuGrid:
    """A small float32 grid that runs on any CPU in seconds."""

    params = CPU_PARAMS
    device = "cpu"

    def setup_cache(self) -> GridState:
        """Check and measure every CPU config, in one process."""
        return _measure(CPU_PARAMS, "cpu")

    setup_cache.timeout = 300


def _config(device: str, params: tuple) -> AttentionConfig:
    return AttentionConfig.from_params(*params, device)


class _Figures:
    """A config's figures from the night's measurement; subclasses name the grid and the device.

    The leading underscore keeps asv from collecting this base class itself.
    """

    param_names = PARAM_NAMES
    device: str
    version = "1"

    figures: dict[str, MaskFigures]
    state: GridState
    config: AttentionConfig

    def setup(self, state: GridState, *params):
        if state.unavailable:
            skip(state.unavailable)
        self.state, self.config = state, _config(self.device, params)
        raise_for_verdict(state.verdicts, self.config)
        figures = state.figures.get(self.config)
        if not isinstance(figures, dict):
            raise AssertionError(f"no figures were measured for {self.config}: {figures}")
        self.figures = figures

    def _failed(self, figures: MaskFigures, what: str):
        reason = figures.error or f"no {what} was measured"
        print(reason, file=sys.stderr)
        raise AssertionError(reason)


class _WallTime(_Figures):
    """The two timed paths: wall time of one forward per mask."""

    def _wall(self, mask: str) -> float:
        figures = self.figures[mask]
        if figures.wall_seconds is None:
            self._failed(figures, "wall time")
        return figures.wall_seconds

    def track_wall_time_materialized(self, state, *params):
        return self._wall("materialized")

    def track_wall_time_causal_bias(self, state, *params):
        return self._wall("causal_bias")

    track_wall_time_materialized.unit = "seconds"
    track_wall_time_causal_bias.unit = "seconds"


class AttentionBias(_GpuGrid, _WallTime):
    """Wall time of one forward per mask, on the GPU grid."""


class AttentionBiasCPU(_CpuGrid, _WallTime):
    """Wall time of one forward per mask, on the CPU grid (one thread)."""


def _track(figure: str, mask: str, unit: str):
    """A track_* method returning one figure of one mask, with its unit."""

    def track(self, state, *params):
        if figure in COUNT_UNITS:
            return self._dispatch(self.figures[mask], figure)
        return getattr(self, f"_{figure}")(self.figures[mask])

    track.__name__ = f"track_{figure}_{mask}"
    track.unit = unit
    return track


class _ForwardProfile(_Figures):
    """Per config and mask: GPU time, peak memory, TFLOP/s, fraction of peak, SDPA backend, counts.

    Figures that a device lacks (GPU time and memory on the CPU, a peak for an
    unknown GPU) are skipped with the reason on stderr.
    """

    def _unavailable(self, reason: str):
        print(reason, file=sys.stderr)
        raise SkipNotImplemented(reason)

    def _kernel_seconds(self, figures: MaskFigures) -> float:
        if figures.kernel_seconds is None:
            self._failed(figures, "GPU time")
        return figures.kernel_seconds

    def _gpu_time(self, figures: MaskFigures) -> float:
        if self.device != "cuda":
            self._unavailable("no GPU time on the CPU grid: its wall time is the CPU time")
        return self._kernel_seconds(figures)

    def _peak_memory(self, figures: MaskFigures) -> int:
        if self.device != "cuda":
            self._unavailable("no GPU memory on the CPU grid")
        if figures.peak_memory is None:
            self._failed(figures, "peak memory")
        return figures.peak_memory

    def _tflops(self, figures: MaskFigures) -> float:
        return forward_flops(self.config) / self._kernel_seconds(figures) / 1e12

    def _peak_fraction(self, figures: MaskFigures) -> float:
        if self.state.peak_tflops is None:
            self._unavailable(f"no dense bf16 peak known for {self.state.device_name!r}")
        return self._tflops(figures) / self.state.peak_tflops

    def _dispatch(self, figures: MaskFigures, count: str) -> int:
        if figures.dispatch is None:
            self._failed(figures, "count")
        value = figures.dispatch.figures()[count]
        if value is None:
            self._unavailable(f"no {count.replace('_', ' ')} count on the CPU grid: it needs CUDA")
        return value

    def _sdpa_backend(self, figures: MaskFigures) -> int:
        if figures.dispatch is None:
            self._failed(figures, "SDPA backend")
        if figures.backend not in BACKEND_CODES:
            raise AssertionError(f"SDPA backend not recognised from the profile: {figures.backend}")
        return BACKEND_CODES[figures.backend]

    track_gpu_time_materialized = _track("gpu_time", "materialized", "seconds")
    track_gpu_time_causal_bias = _track("gpu_time", "causal_bias", "seconds")
    track_peak_memory_materialized = _track("peak_memory", "materialized", "bytes")
    track_peak_memory_causal_bias = _track("peak_memory", "causal_bias", "bytes")
    track_tflops_materialized = _track("tflops", "materialized", "TFLOP/s")
    track_tflops_causal_bias = _track("tflops", "causal_bias", "TFLOP/s")
    track_peak_fraction_materialized = _track("peak_fraction", "materialized", "fraction of dense bf16 peak")
    track_peak_fraction_causal_bias = _track("peak_fraction", "causal_bias", "fraction of dense bf16 peak")
    track_sdpa_backend_materialized = _track("sdpa_backend", "materialized", BACKEND_UNIT)
    track_sdpa_backend_causal_bias = _track("sdpa_backend", "causal_bias", BACKEND_UNIT)


# Counts of one forward (DispatchCounts): exact, so a change of one is a finding.
COUNT_UNITS = {"aten_ops": "operators", "kernels": "kernels", "syncs": "syncs", "python_calls": "calls",
               "allocations": "allocations"}
for _count, _unit in COUNT_UNITS.items():
    for _mask in MASKS:
        setattr(_ForwardProfile, f"track_{_count}_{_mask}", _track(_count, _mask, _unit))


class AttentionBiasProfile(_GpuGrid, _ForwardProfile):
    """The GPU grid's figures; GPU time from CUDA-graph replay timed with CUDA events."""


class AttentionBiasProfileCPU(_CpuGrid, _ForwardProfile):
    """The CPU grid's figures: TFLOP/s from the CPU time of one call, and the backend."""
