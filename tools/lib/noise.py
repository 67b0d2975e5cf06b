"""The statistics of the nightly verdict: a noise model per machine and config, and the confirmation's decision.

The unit is the process (or the night, which is one process per benchmark and
config): samples inside one process share its CPU-speed state and are not
independent, so every spread here is taken across nights or processes.

- The noise model: for each (config, mask, signal), the night-to-night log
  ratios of the recent history of one machine (and of an A/A calibration pair),
  pooled per signal and config class, since a few nights say little about one
  config alone. A config's own spread counts once it has enough nights. Each
  step is taken less its class's common move that night (the median of the
  class's steps): the host's speed moves every launch-bound result at once, and
  a result is judged by how far it moved away from its class.
- The re-measurement's decision: a rank test over each side's per-process
  values, which the alternating order makes exchangeable when nothing changed.
  Not order statistics (the fastest process a side): with the host's bimodal
  speed, which side catches a fast process is luck (docs/noise.md).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable

import numpy as np

from lib.suite import schema

# How many night-to-night spreads (sigma, on the log scale) a change must exceed:
# to be called on one night alone, and to be a candidate where no confirmation runs.
Z_CALL = 6.0
Z_CANDIDATE = 3.0
# The model calls nothing on one night alone with fewer nights than this behind it.
NIGHTS_TO_CALL = 3
# A config's own spread counts from this many night-to-night steps on where it is wider than
# its class's (a noisy config keeps the wider floor), and from OWN_STEPS_TIGHTER where it is
# narrower (a steady config gets its own tighter floor only once its history can say so).
OWN_STEPS = 4
OWN_STEPS_TIGHTER = 10
# No spread is taken as smaller than this (log scale): rounding, clocks.
SIGMA_FLOOR = 0.005
# A class's common move is taken out of its results' moves only where at least this many results
# share it: in a smaller class the median is one or two results' own move.
MOVE_MIN_RESULTS = 8
# A normal variable's upper quartile, in spreads: how far a class's lower quartile sits under its centre
# when every result moved with it.
Z_QUARTILE = statistics.NormalDist().inv_cdf(0.75)

# A result's class: its results share a common move tonight and pool their spread.
LAUNCH_BOUND = "launch-bound"  # the host sets the wall time
# GPU-bound by its ratio, but its wall time near the host's dispatch: the host's speed moves it from night to night
# as it moves the launch-bound ones, so it pools its spread apart from the GPU-bound results it would widen
NEAR_LAUNCH_BOUND = "near launch-bound"
GPU_BOUND = "GPU-bound"
# GPU-bound calls of LONG_CALL_SECONDS or more: they run the GPU near its power limit, so they stay put
# when the rest move with the GPU's clock (docs/noise.md, "Long calls")
LONG_GPU_BOUND = "long GPU-bound"
UNKNOWN = "unknown"  # no GPU time to tell


def config_class(wall: float | None, gpu: float | None) -> str:
    """launch-bound, GPU-bound or long GPU-bound, from one night's wall and GPU time; unknown without both."""
    if not wall or not gpu:
        return UNKNOWN
    if wall / gpu >= schema.LAUNCH_BOUND_RATIO:
        return LAUNCH_BOUND
    return LONG_GPU_BOUND if gpu >= schema.LONG_CALL_SECONDS else GPU_BOUND


def dispatch_wall(walls: dict[tuple, float], classes: dict[tuple, str]) -> float:
    """The median wall time of the launch-bound results among ``walls``: a forward's dispatch on this host
    (0 without one)."""
    launch = [wall for key, wall in walls.items() if classes.get(key) == LAUNCH_BOUND]
    return statistics.median(launch) if launch else 0.0


def near_launch_bound(classes: dict[tuple, str], walls: dict[tuple, float]) -> dict[tuple, str]:
    """``classes`` with each GPU-bound result whose wall time (``walls``, from the night that classed it) is
    under schema.NEAR_LAUNCH_BOUND_RATIO times the dispatch's (``dispatch_wall``) near launch-bound."""
    line = schema.NEAR_LAUNCH_BOUND_RATIO * dispatch_wall(walls, classes)
    return {key: NEAR_LAUNCH_BOUND if klass == GPU_BOUND and walls.get(key, math.inf) < line else klass
            for key, klass in classes.items()}


def classes_of(times: dict[tuple, tuple[float | None, float | None]]) -> dict[tuple, str]:
    """Each result's class from its wall and GPU time (``config_class``), near launch-bound where its wall time
    is near the others' dispatch (``near_launch_bound``)."""
    return near_launch_bound({key: config_class(wall, gpu) for key, (wall, gpu) in times.items()},
                             {key: wall for key, (wall, _) in times.items() if wall})


def log_steps(series: Iterable[float | None], levels: list[float] | None = None) -> list[float]:
    """Log ratios of consecutive values, skipping missing ones, each less the change of ``levels``
    (a log level per night, the class's common moves summed) between the two nights."""
    present = [(night, v) for night, v in enumerate(series) if v and v > 0]
    return [math.log(b / a) - (levels[j] - levels[i] if levels else 0.0)
            for (i, a), (j, b) in zip(present, present[1:])]


def class_medians(log_moves: dict[tuple, float], classes: dict[tuple, str]) -> dict[str, tuple[float, int]]:
    """Per class, the median log move of its results and how many they are."""
    return {klass: (float(np.median(moves)), len(moves)) for klass, moves in by_class(log_moves, classes).items()}


def common_move(log_moves: dict[tuple, float], classes: dict[tuple, str],
                spreads: dict[str, float] | None = None) -> dict[str, float]:
    """Per class where at least MOVE_MIN_RESULTS results share it, their median log move: what moved them
    all at once, the host's speed or a path of torch's common to them.

    With ``spreads`` (per class, one night's spread on the log scale), a slowdown is taken no higher than
    the class's lower quartile plus Z_QUARTILE spreads, where its results stand when they moved as one,
    and never below none: where part of the class slowed (one mask's path, say), the median moves with
    that part and the quartile stays with the rest; where noisy results sit far below their references
    (a slow week behind them), the quartile falls with them and must not make the rest look slower. A
    class without a spread yet is bounded by its lower quartile alone."""
    common = {}
    for klass, moves in by_class(log_moves, classes).items():
        if len(moves) < MOVE_MIN_RESULTS:
            continue
        median = float(np.median(moves))
        if spreads is not None:  # a faster class keeps its median: min(median, max(0, ...)) is the median
            spread = spreads.get(klass, math.nan)
            bound = lower_quartile(moves) + Z_QUARTILE * (0.0 if math.isnan(spread) else spread)
            median = min(median, max(0.0, bound))
        common[klass] = median
    return common


def lower_quartiles(log_moves: dict[tuple, float], classes: dict[tuple, str]) -> dict[str, float]:
    """Per class where at least MOVE_MIN_RESULTS results share it, its lower quartile log move: where the
    results that did not move stand when only part of the class moved (``common_move``)."""
    return {klass: lower_quartile(moves) for klass, moves in by_class(log_moves, classes).items()
            if len(moves) >= MOVE_MIN_RESULTS}


def lower_quartile(moves: list[float]) -> float:
    return float(np.quantile(moves, 0.25))


def by_class(log_moves: dict[tuple, float], classes: dict[tuple, str]) -> dict[str, list[float]]:
    grouped: dict[str, list[float]] = {}
    for key, move in log_moves.items():
        grouped.setdefault(classes.get(key, UNKNOWN), []).append(move)
    return grouped


def class_levels(series: dict[tuple, dict[str, list[float | None]]], classes: dict[tuple, str],
                 signal: str) -> dict[str, list[float]]:
    """Per class, its log level night by night (0 on the first): the common moves of consecutive nights summed."""
    nights = max((len(per.get(signal, [])) for per in series.values()), default=0)
    levels = {klass: [0.0] for klass in set(classes.values()) | {UNKNOWN}}
    for night in range(1, nights):
        moves = {key: math.log(now / before) for key, per in series.items()
                 if len(values := per.get(signal, [])) > night
                 and (before := values[night - 1]) and (now := values[night]) and before > 0 and now > 0}
        common = common_move(moves, classes)
        for klass, level in levels.items():
            level.append(level[-1] + common.get(klass, 0.0))
    return levels


def robust_sigma(steps: list[float]) -> float:
    """The spread of a step between nights' log values, from their 90th percentile: √2 that of one night where
    nights are independent, so the bars counted in it (Z_CALL, Z_CANDIDATE) sit higher than as many spreads of
    one night's value, a margin the floors measured on the GPU machines carry (docs/noise.md).

    A percentile rather than the median absolute deviation: the host's noise is
    bimodal, and a median-based spread would ignore its slow states.
    """
    if not steps:
        return math.nan
    return float(np.quantile(np.abs(steps), 0.9)) / 1.645


@dataclasses.dataclass
class NoiseModel:
    """Spreads per (signal, class) pooled over configs, and per key where its history is long enough."""

    pooled: dict[tuple[str, str], float]
    own: dict[tuple, tuple[float, int]]  # (*key, signal) -> (its own spread, the steps it is taken from)
    nights: int  # the most nights any result has
    # (*key, signal) -> the nights with a value of that result; None: every result has ``nights``
    result_nights: dict[tuple, int] | None = None

    def nights_of(self, key: tuple, signal: str) -> int:
        """The nights behind one result: a config the grid gained, or one that failed most nights, has fewer."""
        return self.nights if self.result_nights is None else self.result_nights.get((*key, signal), 0)

    def sigma(self, key: tuple, signal: str, klass: str) -> float:
        """The class's pooled spread, until the key's own history says otherwise, in either direction."""
        pooled = self.pooled.get((signal, klass), math.nan)
        own, steps = self.own.get((*key, signal), (math.nan, 0))
        if math.isnan(own) or steps < OWN_STEPS:
            chosen = pooled
        elif math.isnan(pooled) or own >= pooled or steps >= OWN_STEPS_TIGHTER:
            chosen = own
        else:
            chosen = pooled  # narrower than its class, from too few steps to trust it
        return math.nan if math.isnan(chosen) else max(SIGMA_FLOOR, chosen)

    def floor(self, key: tuple, signal: str, klass: str, factor: float) -> float:
        """The smallest slowdown that one night shows as a suspect, here and now."""
        sigma = self.sigma(key, signal, klass)
        return math.inf if math.isnan(sigma) else max(factor, math.exp(Z_CANDIDATE * sigma))

    def callable(self, ratio: float, key: tuple, signal: str, klass: str, factor: float) -> bool:
        """Whether one night's ratio is beyond any doubt the noise model allows."""
        sigma = self.sigma(key, signal, klass)
        return (self.nights_of(key, signal) >= NIGHTS_TO_CALL and not math.isnan(sigma) and ratio >= factor
                and math.log(ratio) >= Z_CALL * sigma)


def class_steps(series: dict[tuple, dict[str, list[float | None]]],
                classes: dict[tuple, str]) -> dict[tuple, dict[str, list[float]]]:
    """Each key's night-to-night log steps per signal, each less its class's common move between the nights."""
    signals = {signal for per in series.values() for signal in per}
    levels = {signal: class_levels(series, classes, signal) for signal in signals}
    return {key: {signal: log_steps(values, levels[signal][classes.get(key, UNKNOWN)])
                  for signal, values in per.items()} for key, per in series.items()}


def fit(series: dict[tuple, dict[str, list[float | None]]], classes: dict[tuple, str],
        calibration: dict[tuple, dict[str, list[float | None]]] | None = None) -> NoiseModel:
    """The noise model of one machine from each key's nightly values (oldest first), per signal.

    ``calibration``: each key's values on the two nights of an A/A pair, pooled like nights.
    """
    pooled_steps: dict[tuple[str, str], list[float]] = {}
    own: dict[tuple, tuple[float, int]] = {}
    result_nights: dict[tuple, int] = {}
    history, pair = class_steps(series, classes), class_steps(calibration or {}, classes)
    for key, per_signal in series.items():
        for signal, values in per_signal.items():
            steps = history[key][signal] + pair.get(key, {}).get(signal, [])
            result_nights[(*key, signal)] = len([v for v in values if v])
            pooled_steps.setdefault((signal, classes.get(key, UNKNOWN)), []).extend(steps)
            if len(steps) >= OWN_STEPS:
                own[(*key, signal)] = (robust_sigma(steps), len(steps))
    pooled = {group: robust_sigma(steps) for group, steps in pooled_steps.items() if steps}
    return NoiseModel(pooled, own, max(result_nights.values(), default=0), result_nights)


# ---------------------------------------------------------------- the re-measurement's decision

# Two-sided Mann-Whitney p-values over per-process values (asv's own test). The sides are
# not quite exchangeable with the same torch (each side's children fork from one parent),
# so the bar sits below what untouched results reached (docs/noise.md): with 10 processes a
# side, p < 1e-4 allows at most 3 of the 100 cross-side pairs out of order.
ALPHA_CONFIRM = 1e-4
# Refuted: a slowdown as large as the factor is itself rejected (one-sided 5%).
ALPHA_REFUTE = 0.10


def least_processes_to_confirm(alpha: float = ALPHA_CONFIRM) -> int:
    """The fewest processes a side whose most lopsided outcome the two-sided rank test puts below ``alpha``.

    With n a side, every contender slower than every baseline gives p = 2 / C(2n, n):
    fewer processes than this can refute a candidate, never confirm one.
    """
    processes = 1
    while 2 / math.comb(2 * processes, processes) >= alpha:
        processes += 1
    return processes


PROCESSES_TO_CONFIRM = least_processes_to_confirm()

# A look before the last: from this many processes a side, at the start of each block of four, a
# candidate whose slowdown by the factor is rejected at ALPHA_REFUTE_EARLY is set aside as refuted
# and the processes after it measure the rest. Stricter than ALPHA_REFUTE, so that with looks at 6
# and 8 a side and the last at 10 a slowdown of exactly the factor is refuted at most 7% of the
# time (one-sided 1% + 1% + 5%, a union bound) where one look allows 5%; simulated, 4.7% against
# 4.4% (docs/noise.md).
PROCESSES_TO_REFUTE_EARLY = 6
ALPHA_REFUTE_EARLY = 0.02
# After the last look, a candidate still undecided gets more processes a side, as many as what the budget
# left holds at the round's pace (lib.remeasure.extra_processes), EXTRA_PROCESSES at least and
# MAX_EXTRA_PROCESSES at most, and is decided again over all of them: two looks that can confirm, so an
# unchanged key passes at most 2e-4 of the time (a union bound: the count comes from the budget and the
# pace, not from the decision the key's values gave) where one look allowed 1e-4. Simulated at a 5%
# per-process spread, a +10% step is confirmed 59% of the time with 4 more a side, 93% with 10 and 99.6% with
# 20 (docs/noise.md).
EXTRA_PROCESSES = 4
MAX_EXTRA_PROCESSES = 20

# How a re-measured GPU time follows the SM clock read right after it: the slope of log GPU time on log
# clock within a key and side, fitted to recorded checks (docs/noise.md, "A GPU time at one clock"). The
# clock read once after the blocks stands in, noisily, for the clock during them, so the slope is
# shallower than a clock-bound kernel's -1. A fixed slope leaves an unchanged key's two sides
# exchangeable: the rank test stays exact.
GPU_TIME_CLOCK_SLOPE = -0.24


def at_one_clock(times: list[float], clocks: list[float], clock: float) -> list[float]:
    """Each GPU time as if its SM clock had read ``clock``: its clock's share (GPU_TIME_CLOCK_SLOPE) taken out."""
    return [time * (read / clock) ** -GPU_TIME_CLOCK_SLOPE for time, read in zip(times, clocks, strict=True)]


@dataclasses.dataclass(frozen=True)
class Decision:
    outcome: str  # "confirmed", "refuted", "undecided"
    ratio: float  # median per-process value, contender / baseline
    p_change: float  # no change between the sides
    p_factor: float  # a slowdown by the factor


def decide(baseline: list[float], contender: list[float], factor: float) -> Decision:
    """Refuted: a slowdown by the factor is ruled out; confirmed: not ruled out, and slower, significantly.

    The factor is a margin, as in a non-inferiority test: a contender passes once its values show it
    within the factor. A slowdown that is certain and not shown to be smaller than the factor is
    confirmed though its median ratio sits a little under it: a change of exactly the factor would
    otherwise be missed half the time (docs/noise.md, "The factor as a margin")."""
    from asv._stats import mann_whitney_u

    ratio = statistics.median(contender) / statistics.median(baseline)
    _, p_change = mann_whitney_u(baseline, contender)
    shrunk = [value / factor for value in contender]
    _, p_factor = mann_whitney_u(baseline, shrunk)
    # A faster contender is refuted before it could be confirmed: shrunk by the factor it sits further
    # below the baseline still, at a p_factor under its p_change.
    if statistics.median(shrunk) < statistics.median(baseline) and p_factor < ALPHA_REFUTE:
        outcome = "refuted"
    elif p_change < ALPHA_CONFIRM:
        outcome = "confirmed"
    else:
        outcome = "undecided"
    return Decision(outcome, ratio, p_change, p_factor)


def refuted_early(baseline: list[float], contender: list[float], factor: float) -> bool:
    """Whether a look before the last sets a candidate aside: refuted, and at ALPHA_REFUTE_EARLY."""
    decision = decide(baseline, contender, factor)
    return decision.outcome == "refuted" and decision.p_factor < ALPHA_REFUTE_EARLY


def undecided(baseline: list[float], contender: list[float], factor: float) -> bool:
    """Whether more processes could still decide a candidate: neither confirmed nor refuted (``decide``)."""
    return decide(baseline, contender, factor).outcome == "undecided"
