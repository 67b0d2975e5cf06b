"""SDPA with a lower-right causal mask: a materialized boolean tensor versus CausalBias.

Two kinds of class per grid (``benchmarks/schema.py``):

- ``AttentionBias`` (the reference's 80 CUDA configs) and ``AttentionBiasCPU``:
  asv time benchmarks. ``setup`` builds CompositeMHA (q/k/v projections, SDPA,
  output projection), the seeded inputs and both masks of one config and checks
  the two outputs equal; ``time_materialized`` and ``time_causal_bias`` run one
  forward, timed by asv with a clock that waits for the GPU at both ends of a
  sample. asv's commands work on them: one config, ``profile``, ``compare``,
  ``publish``; ``continuous`` and ``find`` over torch builds through
  ``tools/torch_commits.py`` (asv runs neither in an existing environment).
- ``AttentionBiasNight`` and ``AttentionBiasNightCPU``: the nightly's figures.
  One process a night, the grid's ``setup_cache``, checks and visits every
  config in several passes and measures what explains a time (GPU time, peak
  memory, the SDPA backend, exact dispatch counts); each ``track_*`` returns one
  of those figures.

Why both, and which to read for what: docs/design.md.
"""

from __future__ import annotations

import os
import sys
import time
from types import ModuleType
from typing import NoReturn

from asv_runner.benchmarks.mark import SkipNotImplemented

from .night_state import FigureOutcome, NightValues, config_outcome, figure_outcome, skip
from .schema import (
    CPU_GRID,
    GPU_GRID,
    MASKS,
    NIGHT_FIGURES,
    NIGHT_ONLY_VARIABLE,
    PARAM_NAMES,
    AttentionConfig,
    Figure,
    Grid,
    night_method,
)

if not os.environ.get(NIGHT_ONLY_VARIABLE):
    # asv's forkserver imports this module once and forks every child from it: a timed
    # child then starts with torch instead of importing it (seconds) before its first call.
    try:
        from .measure import model as _model  # noqa: F401
    except ImportError:  # no torch, or one without the attention biases: setup says why
        pass


def _measuring_code() -> ModuleType:
    """The model and its check (torch): only the processes that measure import it."""
    from .measure import model

    return model


def _night_code() -> ModuleType:
    """The night's passes (torch): only the grid's setup_cache imports them."""
    from .measure import night

    return night


def gpu_synchronized_clock() -> float:
    """asv's ``timer`` for a forward: the night's clock, which reads perf_counter once the GPU has
    finished what was queued. timeit reads the timer before and after each sample, so a sample
    starts and ends with an idle GPU, as torch.utils.benchmark's timer does."""
    from .measure.timers import synchronized_clock  # torch: imported where a sample is timed

    return synchronized_clock()


class _OnGpu:
    """The GPU grid's parameters and device (schema.GPU_GRID), for its timed and its night class."""

    params = GPU_GRID.params
    device = GPU_GRID.device


class _OnCpu:
    """The CPU grid's parameters and device (schema.CPU_GRID)."""

    params = CPU_GRID.params
    device = CPU_GRID.device


class _Timed:
    """One forward of one config per mask, timed by asv; subclasses name the grid (_OnGpu, _OnCpu).

    asv's attributes (docs/design.md, "The timed benchmarks"): one process per
    benchmark and config (``rounds``); 5 to 10 samples of at least 10 ms each, at
    most 2 s of sampling; a short warm-up, since ``setup``'s check has already
    made each mask's first call.
    """

    param_names = PARAM_NAMES
    device: str
    version = "1"
    rounds = 1
    repeat = (5, 10, 2.0)
    sample_time = 0.01
    warmup_time = 0.05
    timeout = 120
    timer = staticmethod(gpu_synchronized_clock)

    def setup(self, *params):
        model = _measuring_code()
        reason = model.unavailable(self.device)
        if reason:
            skip(reason)
        config = AttentionConfig.from_params(*params, self.device)
        # asv_runner calls setup again before every sample after the first: the case built and checked
        # for these parameters is kept, so each sample times steady calls, not calls after a rebuild.
        if getattr(self, "case", None) is not None and self.case.config == config:
            return
        self.case = None  # the old case's memory freed before the new one is built
        # A config that fails its check or runs out of memory fails here, alone.
        self.case = model.checked_case(config)

    def time_materialized(self, *params):
        self.case.run_materialized()

    def time_causal_bias(self, *params):
        self.case.run_causal_bias()


class AttentionBias(_OnGpu, _Timed):
    """The reference script's 80 configs, bfloat16, on CUDA."""


class AttentionBiasCPU(_OnCpu, _Timed):
    """A small float32 grid that runs on any CPU in seconds (one thread)."""


def _measure_night(grid: Grid) -> NightValues:
    called = time.time()  # before torch's import: the night file says what each import cost
    import torch  # noqa: F401  (the measuring process: torch's own import, dated apart from the measuring code's)

    torch_imported = time.time()
    night = _night_code()
    return night.grid_state(grid.params, grid.device, import_marks=(called, torch_imported, time.time()))


# Each grid needs its own setup_cache function: asv keys a cache by the function.
class _GpuNight(_OnGpu):
    def setup_cache(self) -> NightValues:
        """Check and measure every GPU config, in one process."""
        return _measure_night(GPU_GRID)

    setup_cache.timeout = 900  # 80 configs: about a minute on an H200 (docs/measurements)


class _CpuNight(_OnCpu):
    def setup_cache(self) -> NightValues:
        """Check and measure every CPU config, in one process."""
        return _measure_night(CPU_GRID)

    setup_cache.timeout = 300


class _NightFigures:
    """A config's figures from the night's measurement. The underscore keeps asv from collecting it."""

    param_names = PARAM_NAMES
    device: str
    version = "1"

    state: NightValues
    label: str

    def setup(self, state: NightValues, *params):
        self.state, self.label = state, AttentionConfig.from_params(*params, self.device).label
        problem = config_outcome(state, self.label)
        if problem and problem.skipped:
            skip(problem.skipped)
        if problem:
            fail(problem)

    def value(self, figure: Figure, mask: str) -> float | int:
        outcome = figure_outcome(self.state, self.label, self.device, figure, mask)
        if outcome.skipped:
            print(outcome.skipped, file=sys.stderr)
            raise SkipNotImplemented(outcome.skipped)
        if outcome.value is None:
            fail(outcome)
        return outcome.value


def fail(outcome: FigureOutcome) -> NoReturn:
    """A failed figure: asv records no value; why goes to stderr."""
    print(outcome.failed, file=sys.stderr)
    raise AssertionError(outcome.failed)


def _track(figure: Figure, mask: str):
    def track(self, state, *params):
        return self.value(figure, mask)

    track.__name__ = night_method(figure.name, mask)
    track.unit = figure.unit
    return track


for _figure in NIGHT_FIGURES:
    for _mask in MASKS:
        setattr(_NightFigures, night_method(_figure.name, _mask), _track(_figure, _mask))


class AttentionBiasNight(_GpuNight, _NightFigures):
    """The nightly's figures of the GPU grid; GPU time from CUDA-graph replay timed with CUDA events."""


class AttentionBiasNightCPU(_CpuNight, _NightFigures):
    """The nightly's figures of the CPU grid (wall time, backend, operator and Python-call counts)."""
