"""What the night's measuring process hands to its track_* children, without torch.

The measuring process fills a ``GridState``; the grid's ``setup_cache`` returns
its ``NightValues``, the figures' values alone, which asv pickles and every
track_* child unpickles to return one of them. These classes live outside the
measuring code so that unpickling them never imports torch.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections import Counter

from .schema import (
    ALLOCATIONS,
    ATEN_OPS,
    BACKEND_CODES,
    GPU,
    GPU_PASSES,
    GPU_TIME,
    KERNELS,
    NIGHT_FIGURES,
    PEAK_MEMORY,
    PHASE_SIGNALS,
    PYTHON_CALLS,
    SDPA_BACKEND,
    SYNCS,
    WALL,
    WALL_TIME,
    AttentionConfig,
    Figure,
    backend_of,
)

CUDA_MISSING = "CUDA is not available on this machine: the GPU grid is skipped (the CPU classes run here)"


def skip(reason: str) -> None:
    """Skip this parameter set (asv's NotImplementedError in setup), saying why on stderr."""
    print(reason, file=sys.stderr)
    raise NotImplementedError(reason)


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
        """The counts by figure name (schema.COUNTS)."""
        cuda = self.syncs is not None
        return {
            ATEN_OPS.name: sum(self.operators.values()),
            KERNELS.name: sum(self.kernels.values()) if cuda else None,
            SYNCS.name: self.syncs,
            PYTHON_CALLS.name: self.python_calls,
            ALLOCATIONS.name: self.allocations,
        }


@dataclasses.dataclass
class MaskFigures:
    """What the night measured of one mask's forward: its wall time and what explains it."""

    # Wall time of one forward, one value per visit (pass) of the night, in the order taken.
    wall_visits: list[float] = dataclasses.field(default_factory=list)
    # CUDA: GPU time of one CUDA-graph replay, one value per pass that took it (a build each);
    # CPU: the time of one call, taken once.
    kernel_visits: list[float] = dataclasses.field(default_factory=list)
    sm_clocks_mhz: list[int | None] = dataclasses.field(default_factory=list)  # CUDA: read right after each
    peak_memory: int | None = None  # CUDA only
    dispatch: DispatchCounts | None = None
    errors: list[str] = dataclasses.field(default_factory=list)  # what could not be measured, and why
    missed: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # by the night's phase: what failed

    def failed(self, phase: str, message: str) -> None:
        """A measurement of the night's ``phase`` that failed: said in the errors, kept by phase."""
        self.errors.append(message)
        self.missed.setdefault(phase, []).append(message)

    def in_part(self) -> dict[str, list[str]]:
        """The timed signals whose figure was taken though a visit of it failed (PHASE_SIGNALS), and what failed."""
        figures = {WALL: self.wall_seconds, GPU: self.kernel_seconds}
        return {PHASE_SIGNALS[phase]: messages for phase, messages in self.missed.items()
                if phase in PHASE_SIGNALS and figures[PHASE_SIGNALS[phase]] is not None}

    @property
    def backend(self) -> str:
        """The SDPA backend that ran, from the operators the counted forward dispatched."""
        return backend_of(self.dispatch.operators) if self.dispatch else "unknown"

    @property
    def wall_seconds(self) -> float | None:
        """The fastest visit: the forward at the best host speed the night saw (docs/design.md)."""
        return min(self.wall_visits) if self.wall_visits else None

    @property
    def kernel_seconds(self) -> float | None:
        """The geometric mean of the GPU_PASSES fastest builds' GPU times: one build alone moved 0.3-1.3% between
        nights on an H200 where two moved 0.2-0.9% (docs/noise.md)."""
        fastest = sorted(self.kernel_visits)[:GPU_PASSES]
        return math.sqrt(fastest[0] * fastest[-1]) if fastest else None

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) or None

    def values(self) -> MaskValues:
        """Each night figure's value (None where it was not measured), and what went wrong."""
        counts = self.dispatch.figures() if self.dispatch else {}
        measured = {WALL_TIME.name: self.wall_seconds, GPU_TIME.name: self.kernel_seconds,
                    PEAK_MEMORY.name: self.peak_memory, SDPA_BACKEND.name: BACKEND_CODES.get(self.backend), **counts}
        return MaskValues({figure.name: measured.get(figure.name) for figure in NIGHT_FIGURES}, self.error)


@dataclasses.dataclass(frozen=True)
class MaskValues:
    """A mask's night figures by name, as its track_* children return them."""

    figures: dict[str, float | int | None]
    error: str | None = None


@dataclasses.dataclass
class NightValues:
    """What the night hands asv's track_* children: each config's verdict and its masks' values, by the
    config's label (asv's parameter string).

    asv unpickles it once per child; the recorder reads its JSON (``to_json``) once a night and
    records every figure the children would have returned (tools/lib/night_figures.py). It carries
    the values only: the visits and the dispatch names are in the side files.
    """

    verdicts: dict[str, str | None] = dataclasses.field(default_factory=dict)
    figures: dict[str, dict[str, MaskValues] | str] = dataclasses.field(default_factory=dict)
    unavailable: str | None = None

    def to_json(self) -> str:
        figures = {label: {mask: dataclasses.asdict(values) for mask, values in masks.items()}
                   if isinstance(masks, dict) else masks for label, masks in self.figures.items()}
        return json.dumps({"verdicts": self.verdicts, "figures": figures, "unavailable": self.unavailable},
                          indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, record: dict) -> NightValues:
        """From ``to_json``'s object, as parsed (the tools parse every file through one reader)."""
        figures = {label: {mask: MaskValues(**values) for mask, values in masks.items()}
                   if isinstance(masks, dict) else masks for label, masks in record["figures"].items()}
        return cls(dict(record["verdicts"]), figures, record["unavailable"])


@dataclasses.dataclass(frozen=True)
class FigureOutcome:
    """What a track_* child of one figure, config and mask gives asv: a value, a skip (asv records NaN) or a
    failure (no value), with why on stderr. One home for the children and the recorder."""

    value: float | int | None = None
    skipped: str | None = None
    failed: str | None = None


def config_outcome(values: NightValues, label: str) -> FigureOutcome | None:
    """A config's skip or failure, whatever the figure: no device, a failed or missing check, no figures."""
    if values.unavailable:
        return FigureOutcome(skipped=values.unavailable)
    if label not in values.verdicts:
        return FigureOutcome(failed=f"no equivalence verdict for {label}")
    verdict = values.verdicts[label]
    if verdict is not None:
        return FigureOutcome(failed=f"equivalence check failed for {label}:\n{verdict}")
    figures = values.figures.get(label)
    if not isinstance(figures, dict):
        return FigureOutcome(failed=f"no figures were measured for {label}: {figures}")
    return None


def figure_outcome(values: NightValues, label: str, device: str, figure: Figure, mask: str) -> FigureOutcome:
    """What the track_* child of ``figure`` and ``mask`` at the config ``label`` gives asv."""
    problem = config_outcome(values, label)
    if problem:
        return problem
    if figure.cuda_only and device != "cuda":
        return FigureOutcome(skipped=f"no {figure.name.replace('_', ' ')} on the CPU grid: it needs CUDA")
    measured = values.figures[label][mask]  # type: ignore[index]  (config_outcome: a dict of masks)
    value = measured.figures[figure.name]
    if value is None:
        return FigureOutcome(failed=measured.error or f"no {figure.name.replace('_', ' ')} was measured")
    return FigureOutcome(value=value)


@dataclasses.dataclass
class GridState:
    """What setup_cache measures once per run for one grid.

    ``unavailable`` says why nothing could run (no CUDA). Per config: the equivalence
    verdict (None: both masks agree) and, where it passed, each mask's figures or why
    they could not be measured. ``phases``: seconds spent per phase of the measurement.
    """

    device_name: str
    verdicts: dict[AttentionConfig, str | None] = dataclasses.field(default_factory=dict)
    figures: dict[AttentionConfig, dict[str, MaskFigures] | str] = dataclasses.field(default_factory=dict)
    unavailable: str | None = None
    phases: dict[str, float] = dataclasses.field(default_factory=dict)

    def night_values(self) -> NightValues:
        figures = {config.label: {mask: measured.values() for mask, measured in masks.items()}
                   if isinstance(masks, dict) else masks for config, masks in self.figures.items()}
        return NightValues({config.label: verdict for config, verdict in self.verdicts.items()}, figures,
                           self.unavailable)
