"""SDPA with a lower-right causal mask: a materialized boolean tensor versus CausalBias.

Each ``time_*`` benchmark reports the steady-state wall time of one CompositeMHA
forward call (q/k/v projections, SDPA, output projection), end to end: asv times
blocks of back-to-back calls, the clock waits for the GPU at both ends of a
block, and asv divides by the number of calls. That is the time a loop of
forward calls takes per call, CPU launch cost included, as the reference script
measured it.

The ``*Profile`` classes record, per config and mask, what explains a time: GPU
time without launch cost, peak memory, achieved TFLOP/s and the SDPA backend
that ran. They are measured once per run, in the grid's ``setup_cache``, which
also checks that both masks give the same output; their ``track_*`` methods only
return the figures, so each of their processes stays cheap.
"""

from __future__ import annotations

import sys

from asv_runner.benchmarks.mark import SkipNotImplemented

from .common import (
    BACKEND_CODES,
    BACKEND_UNIT,
    CPU_PARAMS,
    GPU_PARAMS,
    MASKS,
    PARAM_NAMES,
    AttentionConfig,
    ForwardCase,
    GridState,
    MaskFigures,
    current_case,
    forward_flops,
    grid_state,
    prepared_case,
    raise_for_verdict,
    require_cuda,
    skip,
    synchronized_clock,
    use_device,
)


# One setup_cache per grid, shared by its timed and its Profile class: asv keys a
# cache by the function's module and line, so both classes get the same one and
# a run checks and measures the grid once. Each grid needs its own function.
class _GpuGrid:
    """The reference script's 80 configs, bfloat16, on CUDA."""

    params = GPU_PARAMS
    device = "cuda"

    def setup_cache(self) -> GridState:
        """Check both masks and measure their figures for every GPU config, in one process."""
        return grid_state(GPU_PARAMS, "cuda")

    setup_cache.timeout = 900  # 80 configs, about a minute on an H100 (docs/measurements)


class _CpuGrid:
    """A small float32 grid that runs on any CPU in seconds."""

    params = CPU_PARAMS
    device = "cpu"

    def setup_cache(self) -> GridState:
        """Check both masks and measure their figures for every CPU config, in one process."""
        return grid_state(CPU_PARAMS, "cpu")

    setup_cache.timeout = 300


def _config(device: str, params: tuple) -> AttentionConfig:
    return AttentionConfig.from_params(*params, device)


def _warm_up(mask: str):
    def warm_up(state, *params):
        current_case().warm_up(mask)

    return warm_up


class _MaskedForward:
    """The two timed paths; subclasses name the grid and the device.

    The leading underscore keeps asv from collecting this base class itself.
    """

    param_names = PARAM_NAMES
    device: str

    # Pinned so that edits to helper code do not split the published history;
    # bump it only when what a result means changes. "2": samples are blocks of
    # back-to-back calls since the per-method warm-up; under "1" most GPU samples
    # were single synchronized calls (latency, not per-call throughput).
    version = "2"

    # One round: a second doubles the processes, each paying the fork and CUDA
    # start-up (about 0.3 s on the H100).
    rounds = 1
    # number = 0: asv sizes a block of calls to fill sample_time, warming up as it does.
    number = 0
    sample_time = 0.02
    warmup_time = 0.1
    # (min samples, max samples, seconds); the GPU class takes fewer (its comment says why).
    repeat = (10, 50, 0.2)
    min_run_count = 2
    timer = staticmethod(synchronized_clock)

    case: ForwardCase

    def setup(self, state: GridState, *params):
        if state.unavailable:
            skip(state.unavailable)
        if self.device == "cuda":
            require_cuda()
        use_device(self.device)
        config = _config(self.device, params)
        raise_for_verdict(state.verdicts, config)
        self.case = prepared_case(config)

    def time_materialized(self, state, *params):
        self.case.run_materialized()

    def time_causal_bias(self, state, *params):
        self.case.run_causal_bias()

    # asv runs a benchmark function's own ``setup`` after the class's: warm only the timed mask.
    time_materialized.setup = _warm_up("materialized")
    time_causal_bias.setup = _warm_up("causal_bias")


class AttentionBias(_GpuGrid, _MaskedForward):
    """Wall time of one forward per mask, on the GPU grid."""

    # The process is the statistical unit (one per config and mask, one state of the
    # host's CPU speed), so a few 10 ms blocks give its value; more samples from the
    # same process would not narrow what the verdict needs, and cost the nightly time.
    sample_time = 0.01
    warmup_time = 0.05
    repeat = (5, 10, 0.06)


class AttentionBiasCPU(_CpuGrid, _MaskedForward):
    """Wall time of one forward per mask, on the CPU grid."""

    # Calls of 30-100 us: 5 ms blocks give about 35 samples in 0.2 s, enough for
    # asv's Mann-Whitney test to see a 10% change through the CPU's outliers.
    sample_time = 0.005


def _track(figure: str, mask: str, unit: str):
    """A track_* method returning one figure of one mask, with its unit."""

    def track(self, state, *params):
        if figure in COUNT_UNITS:
            return self._dispatch(self.figures[mask], figure)
        return getattr(self, f"_{figure}")(self.figures[mask])

    track.__name__ = f"track_{figure}_{mask}"
    track.unit = unit
    return track


class _ForwardProfile:
    """Per config and mask: GPU time, peak memory, TFLOP/s, fraction of peak, SDPA backend.

    Figures that a device lacks (GPU time and memory on the CPU, a peak for an
    unknown GPU) are skipped with the reason on stderr.
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
        figures = state.figures.get(self.config)
        if figures is None:
            raise AssertionError(f"no figures were measured for {self.config}")
        if isinstance(figures, str):
            print(f"no figures for {self.config}: {figures}", file=sys.stderr)
            raise AssertionError(figures)
        self.figures = figures

    def _unavailable(self, reason: str):
        print(reason, file=sys.stderr)
        raise SkipNotImplemented(reason)

    def _kernel_seconds(self, figures: MaskFigures) -> float:
        if figures.kernel_seconds is None:
            print(figures.error, file=sys.stderr)
            raise AssertionError(figures.error)
        return figures.kernel_seconds

    def _gpu_time(self, figures: MaskFigures) -> float:
        if self.device != "cuda":
            self._unavailable("no GPU time on the CPU grid: its time_* benchmarks are the CPU time")
        return self._kernel_seconds(figures)

    def _peak_memory(self, figures: MaskFigures) -> int:
        if figures.peak_memory is None:
            self._unavailable("no GPU memory on the CPU grid")
        return figures.peak_memory

    def _tflops(self, figures: MaskFigures) -> float:
        return forward_flops(self.config) / self._kernel_seconds(figures) / 1e12

    def _peak_fraction(self, figures: MaskFigures) -> float:
        if self.state.peak_tflops is None:
            self._unavailable(f"no dense bf16 peak known for {self.state.device_name!r}")
        return self._tflops(figures) / self.state.peak_tflops

    def _dispatch(self, figures: MaskFigures, count: str) -> int:
        value = figures.dispatch.figures()[count] if figures.dispatch else None
        if value is None:
            self._unavailable(f"no {count.replace('_', ' ')} count on the CPU grid: it needs CUDA")
        return value

    def _sdpa_backend(self, figures: MaskFigures) -> int:
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
