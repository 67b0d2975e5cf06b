"""The night: one measuring process per grid checks every config and visits it in several passes.

Run from the night class's ``setup_cache`` (``grid_state``); the ``NightValues`` it
returns is what asv hands each ``track_*`` child. Imports torch. Why one process
and several passes: docs/design.md, "One measuring process a night".
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from ..night_state import CUDA_MISSING, GridState, MaskFigures, NightValues
from ..schema import (
    DISPATCH_FILE_VARIABLE,
    DISPATCH_KERNELS,
    DISPATCH_OPERATORS,
    DISPATCH_SYNC_CALLS,
    FIGURES_SUFFIX,
    GPU,
    GPU_PASSES,
    GPU_REST_SECONDS,
    MASKS,
    NIGHT_IN_PART,
    NIGHT_SUFFIX,
    NIGHT_TIMELINE,
    NIGHT_TORCH,
    NIGHT_VISITS,
    SHORT_CALL_SECONDS,
    SM_CLOCK,
    WALL,
    AttentionConfig,
    Phase,
    forward_flops,
    grid_configs,
    heavy_rest_seconds,
)
from ..whole_file import write_whole
from .counts import dispatch_counts
from .model import (
    ForwardCase,
    MaskBuilder,
    build_case,
    check_case,
    cuda_available,
    in_steady_folder,
    lower_right_causal_mask,
    unavailable,
    use_device,
)
from .timers import (
    VISIT_BLOCK_SECONDS,
    adding_seconds,
    graph_replay_seconds,
    sm_clock_mhz,
    visit_seconds,
)

# The night visits every config this many times, each pass in its own order, and
# keeps the fastest visit. Configs whose calls take under SHORT_CALL_SECONDS are
# launch-bound or near it: the host's speed moves them most, and a visit costs
# them milliseconds, so they get more passes, of shorter blocks: the fastest of
# 16 visits moves far less between nights than the fastest of 8 (docs/noise.md).
WALL_PASSES = 4
SHORT_CALL_PASSES = 16
SHORT_VISIT_BLOCK_SECONDS = 0.002
# CUDA: the GPU times come after every wall visit, in passes of their own (a build each), as the
# re-measurement takes them: each pass after GPU_REST_SECONDS of rest, the least GPU work first, a heavy
# key's blocks after a rest of their own (schema.heavy_rest_seconds). The figure is the two builds'
# geometric mean (MaskFigures.kernel_seconds; schema.GPU_PASSES of them). Taken right after a config's wall
# visits, in a random order, an H200's builds spread 2.7-3% over 11 nights; the rested worker's processes
# 0.15-0.5% (docs/noise.md).


def measure_counts(case: ForwardCase, mask: str, figures: MaskFigures) -> None:
    """Dispatch counts (the backend with them) and (CUDA) peak memory of one mask, warmed by one call first."""
    run = case.runner(mask)
    run()
    figures.dispatch, figures.peak_memory = dispatch_counts(run, case.config.device == "cuda")


def measure_kernel_time(case: ForwardCase, mask: str, figures: MaskFigures,
                        rest: Callable[[float], None] | None = None) -> None:
    """CUDA: GPU time of one CUDA-graph replay, ``rest`` called with one replay's seconds before its blocks;
    CPU: the time of one call (the CPU does the work)."""
    run = case.runner(mask)
    if case.config.device == "cuda":
        figures.kernel_visits.append(graph_replay_seconds(run, rest))
        figures.sm_clocks_mhz.append(sm_clock_mhz())
    else:
        figures.kernel_visits.append(visit_seconds(run, block_seconds=0.002, blocks=7))


def masks_of_pass(index: int) -> tuple[str, ...]:
    """The masks' order in pass ``index``: the first pass's order on even passes, reversed on odd ones, so each
    mask runs first after a build in as many wall passes as the other (the full ones and the short ones)."""
    return MASKS if index % 2 == 0 else MASKS[::-1]


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class NightPasses:
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

    def phase(self, name: str) -> contextlib.AbstractContextManager[None]:
        return adding_seconds(self.state.phases, name)

    def build(self, config: AttentionConfig) -> ForwardCase:
        with self.phase(Phase.BUILD):
            return build_case(config, self.mask_builder)

    def release(self, config: AttentionConfig) -> None:
        if config.device == "cuda":
            with self.phase(Phase.BUILD):
                torch.cuda.empty_cache()  # the next config's tensors get the memory, not this one's cache

    def attempt(self, figures: MaskFigures, what: str, phase: str, action: Callable[[], object]) -> None:
        """Run one measurement of one mask; a failure is recorded on the mask, the night goes on."""
        with self.phase(phase):
            try:
                action()
            except Exception as error:  # out of memory, a kernel or capture error: this figure's outcome
                figures.failed(phase, f"{what} failed: {describe(error)}")

    def first_pass(self, config: AttentionConfig) -> None:
        """Check both masks; where they agree, a first visit of each."""
        self._check_and_measure(config)
        self.release(config)  # the case is gone with the call above: its memory goes back now

    def _check_and_measure(self, config: AttentionConfig) -> None:
        try:
            case = self.build(config)
            with self.phase(Phase.CHECK):
                check_case(case)
        except Exception as error:  # mismatch, out of memory, kernel error: this config's verdict
            self.state.verdicts[config] = describe(error)
            self.state.figures[config] = "the equivalence check failed"
            return
        self.state.verdicts[config] = None
        figures = {mask: MaskFigures() for mask in MASKS}
        self.state.figures[config] = figures
        self.visit(case, figures, masks_of_pass(0), warm=True)  # the check has just run both masks

    def visit(self, case: ForwardCase, figures: dict[str, MaskFigures], masks: tuple[str, ...],
              block_seconds: float = VISIT_BLOCK_SECONDS, warm: bool = False) -> None:
        for mask in masks:
            self.attempt(figures[mask], "wall timing", Phase.WALL, lambda mask=mask: figures[mask].wall_visits.append(
                visit_seconds(case.runner(mask), block_seconds=block_seconds, warm=warm)))

    def later_pass(self, index: int, configs: list[AttentionConfig], last: bool, short: bool = False) -> None:
        """Visit the given checked configs again, in this pass's own order (``short``: a pass of the short calls
        only); on the CPU grid alone, each config's call time in the last full pass (``last``)."""
        order = self.checked(configs)
        random.Random(index).shuffle(order)
        masks = masks_of_pass(index)
        for config in order:
            self._revisit(config, index, masks, last, short)
            self.release(config)

    def checked(self, configs: list[AttentionConfig]) -> list[AttentionConfig]:
        """The configs whose masks agreed in the first pass, in the given order."""
        return [config for config in configs if self.state.verdicts.get(config) is None]

    def rebuilt(self, config: AttentionConfig, which: str, phase: str) -> ForwardCase | None:
        """A checked config built again for a later pass of ``phase``; None where that failed, said on both
        masks."""
        try:
            return self.build(config)
        except Exception as error:
            for figures in self.state.figures[config].values():
                figures.failed(phase, f"{which}: building failed: {describe(error)}")
            return None

    def _revisit(self, config: AttentionConfig, index: int, masks: tuple[str, ...], last: bool, short: bool) -> None:
        figures = self.state.figures[config]
        case = self.rebuilt(config, f"pass {index + 1}", Phase.WALL)
        if case is None:
            return
        self.visit(case, figures, masks, SHORT_VISIT_BLOCK_SECONDS if short else VISIT_BLOCK_SECONDS)
        if last and config.device == "cpu":  # CUDA's GPU times: gpu_pass
            for mask in MASKS:
                self.attempt(figures[mask], "call time", Phase.KERNEL,
                             lambda mask=mask: measure_kernel_time(case, mask, figures[mask]))

    def gpu_pass(self, index: int, configs: list[AttentionConfig]) -> None:
        """CUDA: each checked config's GPU times, a build each, after GPU_REST_SECONDS of rest, the least GPU
        work first (a GPU near its power cap stays slower for 100-300 ms after), a heavy key's blocks after a
        rest of their own (schema.heavy_rest_seconds of one replay)."""
        order = sorted(self.checked(configs), key=forward_flops)
        with self.phase(Phase.GPU_REST):
            time.sleep(GPU_REST_SECONDS)
        masks = masks_of_pass(index)
        for config in order:
            self._gpu_times(config, index, masks)
            self.release(config)

    def _gpu_times(self, config: AttentionConfig, index: int, masks: tuple[str, ...]) -> None:
        self.each_mask_rebuilt(config, f"GPU pass {index + 1}", masks, "GPU time", Phase.KERNEL,
                               lambda case, mask, figures: measure_kernel_time(case, mask, figures, self.heavy_rest))

    def counts_pass(self, configs: list[AttentionConfig]) -> None:
        """Each checked config's counts, a build each, after everything timed: the profiler leaves CUPTI attached
        to the process, and every later launch would pay its callbacks (docs/noise.md "CUPTI after the counts")."""
        for config in self.checked(configs):
            self.each_mask_rebuilt(config, "counts", MASKS, "counting", Phase.COUNTS, measure_counts)
            self.release(config)

    def each_mask_rebuilt(self, config: AttentionConfig, which: str, masks: tuple[str, ...], what: str, phase: str,
                          measure: Callable[[ForwardCase, str, MaskFigures], None]) -> None:
        """Build ``config`` again (for ``which`` pass) and ``measure`` each of ``masks`` on it, each in turn."""
        figures = self.state.figures[config]
        case = self.rebuilt(config, which, phase)
        if case is None:
            return
        for mask in masks:
            self.attempt(figures[mask], what, phase, lambda mask=mask: measure(case, mask, figures[mask]))

    def heavy_rest(self, once: float) -> None:
        """The rest before a heavy key's blocks: a phase of its own, counted in Phase.KERNEL too (the
        worker's Phase.GPU leaves it out)."""
        rest = heavy_rest_seconds(once)
        if rest:
            with self.phase(Phase.HEAVY_REST):
                time.sleep(rest)


def measure_grid(configs: list[AttentionConfig], mask_builder: MaskBuilder = lower_right_causal_mask,
                 passes: int = WALL_PASSES, short_passes: int = SHORT_CALL_PASSES - WALL_PASSES) -> GridState:
    """Check every config, then time and measure those that passed, in ``passes`` passes over the grid
    and ``short_passes`` more over the configs of short calls; on CUDA then GPU_PASSES passes of GPU times;
    last the counts (``counts_pass``).

    One config failing fails alone. The CUDA-graph capture, the one figure that
    can break the CUDA context, comes only in the GPU passes, after every check
    and every wall visit; a broken context would fail the counts after it too
    (each failure named), which come last since a profile slows every launch after it.
    """
    device = configs[0].device if configs else "cpu"
    if device == "cuda" and not cuda_available():
        return GridState("", unavailable=CUDA_MISSING)
    use_device(device)
    state = GridState(torch.cuda.get_device_name() if device == "cuda" else "CPU")
    night = NightPasses(state, mask_builder)
    try:
        _run_passes(night, configs, passes, short_passes)
    finally:
        night.release_cpus()
    return state


def _run_passes(night: NightPasses, configs: list[AttentionConfig], passes: int, short_passes: int) -> None:
    night.on_cpu_of_pass(0)
    for config in configs:
        night.first_pass(config)
    for index in range(1, passes):
        night.on_cpu_of_pass(index)
        night.later_pass(index, configs, last=index == passes - 1)
    # Which calls are short is known only after the full passes' visits.
    short = [config for config in configs if _short_calls(night.state.figures.get(config))]
    for index in range(passes, passes + short_passes):
        night.on_cpu_of_pass(index)
        night.later_pass(index, short, last=False, short=True)
    if configs and configs[0].device == "cuda":
        for index in range(GPU_PASSES):
            night.gpu_pass(index, configs)
    night.counts_pass(configs)


def _short_calls(figures: dict[str, MaskFigures] | str | None) -> bool:
    """Both masks' calls under SHORT_CALL_SECONDS so far."""
    return isinstance(figures, dict) and all(
        f.wall_seconds is not None and f.wall_seconds < SHORT_CALL_SECONDS for f in figures.values())


def grid_state(params: list[list], device: str, mask_builder: MaskBuilder = lower_right_causal_mask,
               import_marks: tuple[float, float, float] | None = None) -> NightValues:
    """The night of one grid: every config measured, the side files written beside the run's results,
    the figures' values returned for asv's track_* children. ``import_marks``: when setup_cache called it,
    when torch was imported, when the measuring code was (epoch seconds, NIGHT_TIMELINE)."""
    reason = unavailable(device)
    if reason:
        return write_figures(NightValues(unavailable=reason))
    process_started, imported = process_started_at(), time.time()
    started = time.perf_counter()
    with in_steady_folder():
        state = measure_grid(grid_configs(params, device), mask_builder)
    seconds = time.perf_counter() - started
    measured = time.time()
    write_dispatch_names(state)
    write_night(state, seconds, [process_started, *(import_marks or (None, None, None)), imported, measured])
    return write_figures(state.night_values())


def write_figures(values: NightValues) -> NightValues:
    """For the recorder, which records every figure from them (schema.FIGURES_SUFFIX): the values themselves."""
    path = os.environ.get(DISPATCH_FILE_VARIABLE)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_whole(Path(path).with_suffix(FIGURES_SUFFIX), values.to_json())
    return values


def process_started_at() -> float | None:
    """When this process started (epoch seconds, to 10 ms), from Linux's /proc; None elsewhere."""
    try:
        started_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - uptime + started_ticks / os.sysconf("SC_CLK_TCK")


def _measured(state: GridState) -> Iterator[tuple[AttentionConfig, dict[str, MaskFigures]]]:
    """The configs that passed their check, with their figures."""
    return ((config, figures) for config, figures in state.figures.items() if isinstance(figures, dict))


def write_dispatch_names(state: GridState) -> None:
    """The operator and kernel names of every config and mask, beside the run's results."""
    path = os.environ.get(DISPATCH_FILE_VARIABLE)
    if not path:
        return
    names = {
        config.label: {mask: {DISPATCH_OPERATORS: dict(f.dispatch.operators),
                              DISPATCH_KERNELS: dict(f.dispatch.kernels),
                              DISPATCH_SYNC_CALLS: dict(f.dispatch.sync_calls)}
                       for mask, f in figures.items() if f.dispatch}
        for config, figures in _measured(state)
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_whole(Path(path), json.dumps(names, indent=1, sort_keys=True))


def write_night(state: GridState, seconds: float, marks: list[float | None] | None = None) -> None:
    """Beside the dispatch names, <commit>.night: the measurement's seconds by phase, every visit's wall
    time, and the setup_cache process's timeline (NIGHT_TIMELINE: ``marks``, then the side files written).

    asv keeps one number per result and shows a setup_cache's output only when
    it fails; this is where the night's own cost and spread can be read.
    """
    path = os.environ.get(DISPATCH_FILE_VARIABLE)
    if not path:
        return
    visits = {config.label: {mask: f.wall_visits for mask, f in figures.items()}
              for config, figures in _measured(state)}
    gpu_visits = {config.label: {mask: f.kernel_visits for mask, f in figures.items()}
                  for config, figures in _measured(state) if config.device == "cuda"}
    clocks = {config.label: {mask: f.sm_clocks_mhz for mask, f in figures.items()}
              for config, figures in _measured(state) if any(any(f.sm_clocks_mhz) for f in figures.values())}
    marks = marks or [None] * (len(NIGHT_TIMELINE) - 1)
    assert len(marks) == len(NIGHT_TIMELINE) - 1, marks
    timeline = dict(zip(NIGHT_TIMELINE, [*marks, time.time()]))
    in_part = {config.label: marked for config, figures in _measured(state)
               if (marked := {mask: signals for mask, f in figures.items() if (signals := f.in_part())})}
    record = {"seconds": seconds, "phases": state.phases, "timeline": timeline, NIGHT_VISITS[WALL]: visits,
              NIGHT_VISITS[GPU]: gpu_visits, NIGHT_VISITS[SM_CLOCK]: clocks, NIGHT_IN_PART: in_part,
              NIGHT_TORCH: torch.version.git_version}
    write_whole(Path(path).with_suffix(NIGHT_SUFFIX), json.dumps(record, indent=1, sort_keys=True))

