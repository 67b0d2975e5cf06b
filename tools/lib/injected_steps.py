"""The injector's GPU steps, measured where the check measures them and tuned to their amount.

``torch.cuda._sleep`` counts SM cycles, but what a spin of a given length adds to
a config's CUDA-graph GPU time is not its length: on an H200 a "+5%" spin at
the sleep rate added 0.6-1.7 of its amount, and of the steps a length measured
in one process beside the plain forward made, half of those the check
re-measured landed at 1.035-1.047 (docs/measurements/2026-12-04-h200-process-level.md,
2026-12-04-h200-tuned-steps.md).
So ``tools/inject.py install --baseline-python`` measures each GPU slowdown's
step as the re-measurement does (``lib.remeasure``: fresh processes of the
environment without the slowdowns and of the one with them, alternating, each
GPU time taken to one SM clock) and moves each spin's length by what its step
missed, until the step lands within STEP_TOLERANCE above its amount or
TUNE_ROUNDS have run. Each slowdown keeps the length of its first step that
landed, else of the nearest at or above its amount, else the nearest below
(``best``); the steps of the last tuning are kept beside the spec for ``score``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from lib.cli import ToolError, read_json_object
from lib.remeasure import Remeasured, Workers, remeasure
from lib.suite import INJECTOR_DIR, schema, write_whole

sys.path.insert(0, str(INJECTOR_DIR))
import attention_slowdown as injector  # noqa: E402  (standard library only)

TUNE_ROUNDS = 3
# Processes a side in a round: the median ratio of six a side moves about 0.2% on an H200's light keys.
TUNE_PROCESSES = 6
# A step lands from its amount to this much above it (of the GPU time): "+5%" means at least 5%, and the
# margin of the check's factor refutes a step that is certainly short of it.
STEP_TOLERANCE = 0.006
# A round moves a length at most this factor either way: one round's step of a 50 ms key can be noise.
MAX_MOVE = 2.0
# Far above a round's seconds: the re-measurement drops keys that would not fit a budget.
ROUND_BUDGET_SECONDS = 600.0
MEDIAN_ERROR = math.sqrt(math.pi / 2)  # a median's standard error over a mean's, for normal values


@dataclasses.dataclass(frozen=True)
class Step:
    """One slowdown's step as a round measured it: the baseline's median GPU time, the contender's over it,
    the spin's length it was measured at."""

    config: str
    mask: str
    amount_us: float
    cycles: int
    round: int
    base_seconds: float | None = None
    ratio: float | None = None
    error: float | None = None  # the ratio's standard error, relative: a noisy key's step is known loosely

    @property
    def target(self) -> float | None:
        """The ratio the amount makes of the baseline's GPU time; None where nothing was measured."""
        return 1.0 + self.amount_us * 1e-6 / self.base_seconds if self.base_seconds else None

    @property
    def landed(self) -> bool:
        return self.ratio is not None and landed(self.ratio, self.target)

    def as_json(self) -> dict:
        return dataclasses.asdict(self) | {"target": self.target, "landed": self.landed}


def landed(ratio: float, target: float | None) -> bool:
    return target is not None and target <= ratio <= target + STEP_TOLERANCE


def next_cycles(step: Step, at_rate: int, rate: float) -> int:
    """The length that would add the amount and half the tolerance, from the step ``step`` measured: what
    it missed in seconds, at ``rate`` cycles a microsecond; at most MAX_MOVE from the length measured, and
    within the injector's CALIBRATION_RANGE of the rate's length ``at_rate`` (beyond it the injector would
    spin the rate's)."""
    assert step.ratio is not None and step.base_seconds
    aim = step.amount_us * 1e-6 + STEP_TOLERANCE / 2 * step.base_seconds
    missed = aim - (step.ratio - 1.0) * step.base_seconds
    moved = min(max(step.cycles + missed * 1e6 * rate, step.cycles / MAX_MOVE), step.cycles * MAX_MOVE)
    lowest, highest = math.ceil(at_rate / injector.CALIBRATION_RANGE), int(at_rate * injector.CALIBRATION_RANGE)
    return min(max(round(moved), lowest, 1), highest)


def best(steps: list[Step]) -> Step:
    """Of one slowdown's measured steps, the one to keep: the first that landed, else the nearest to its
    target among those at or above it, else the nearest below."""
    missed = {step: step.ratio - step.target for step in steps if step.ratio is not None and step.target is not None}
    if not missed:
        return steps[-1]
    for step in missed:
        if step.landed:
            return step
    above = [step for step, by in missed.items() if by >= 0]
    return min(above or missed, key=lambda step: abs(missed[step]))


def measured_step(measured: Remeasured, key: tuple[str, str]) -> tuple[float, float, float] | None:
    """The baseline's median GPU time, the contender's ratio over it, as the check's decision takes them
    (``Remeasured.decided``: at one SM clock), and the ratio's standard error; None where a side has none
    (or a time that is no time)."""
    baseline, contender, _ = measured.decided(key, schema.GPU)
    if not (baseline and contender) or min(baseline + contender) <= 0:
        return None
    base = statistics.median(baseline)
    return base, statistics.median(contender) / base, ratio_error(baseline, contender)


def ratio_error(baseline: list[float], contender: list[float]) -> float:
    """The standard error of a ratio of two medians, relative: each side's median's (MEDIAN_ERROR times the
    mean's, of the logs), added in quadrature; infinite where a side has one value."""
    if min(len(baseline), len(contender)) < 2:
        return math.inf
    return math.hypot(*(MEDIAN_ERROR * statistics.stdev(math.log(v) for v in side) / math.sqrt(len(side))
                        for side in (baseline, contender)))


def sleep_rate(spec: str, gpu: str) -> float:
    """``gpu``'s sleep rate, as the round's processes kept it beside the spec (the injector's first slowed
    forward on a GPU measures it)."""
    rate = injector.kept_rate(spec, gpu)
    if rate is None:
        raise ToolError(f"the slowdowns' processes kept no sleep rate of {gpu} beside {spec}")
    return rate


def gpu_slowdowns(slowdowns: list[dict]) -> dict[tuple[str, str], dict]:
    return {(entry["config"], entry["mask"]): entry for entry in slowdowns if entry.get("gpu_us")}


def round_plan(entries: dict[tuple[str, str], dict]) -> dict[tuple[str, str], schema.WorkerKey]:
    """Each slowdown's GPU time alone, after the heavy rest where the planned night's GPU time was heavy (a
    spec without it: always)."""
    return {key: schema.WorkerKey(*key, (schema.GPU,), 1, schema.heavy_rest_seconds(entry.get("night_gpu_seconds",
                                                                                          math.inf)))
            for key, entry in entries.items()}


def tune(spec: str, slowdowns: list[dict], pythons: dict[str, str], gpu: str, seed: int,
         say: Callable[[str], None] = print) -> list[Step]:
    """Measure and tune every GPU slowdown of ``spec`` (installed in ``pythons['contender']``) on ``gpu``;
    each slowdown's kept step. Writes the kept lengths and the steps beside the spec: a tuning that fails
    leaves the rate's lengths on ``gpu`` and no steps."""
    entries = gpu_slowdowns(slowdowns)
    Path(spec + injector.STEPS_SUFFIX).unlink(missing_ok=True)
    try:
        measured_steps = _rounds(spec, entries, pythons, gpu, random.Random(seed), say)
    except BaseException:
        injector.keep_for_gpu(spec + injector.SPIN_SUFFIX, gpu, {})
        raise
    kept = {key: best(steps) for key, steps in measured_steps.items()}
    injector.keep_for_gpu(spec + injector.SPIN_SUFFIX, gpu, {
        injector.entry_key(entries[key]): step.cycles for key, step in kept.items()})
    write_whole(Path(spec + injector.STEPS_SUFFIX),
                json.dumps({"gpu": gpu, "steps": [step.as_json() for step in kept.values()]}))
    return list(kept.values())


def _rounds(spec: str, entries: dict[tuple[str, str], dict], pythons: dict[str, str], gpu: str,
            rng: random.Random, say: Callable[[str], None]) -> dict[tuple[str, str], list[Step]]:
    """Up to TUNE_ROUNDS rounds, each over the slowdowns whose step has not landed yet; each one's steps."""
    measured_steps: dict[tuple[str, str], list[Step]] = {key: [] for key in entries}
    pending = dict(entries)
    with Workers(pythons, "cuda") as workers:
        for index in range(1, TUNE_ROUNDS + 1):
            measured = remeasure(round_plan(pending), workers, "cuda", TUNE_PROCESSES, rng.randrange(2**32),
                                 ROUND_BUDGET_SECONDS)
            rate = sleep_rate(spec, gpu)
            lengths = injector.kept_spins(spec, gpu)
            for key, entry in list(pending.items()):
                got = measured_step(measured, key)
                base, ratio, error = got or (None, None, None)
                step = Step(key[0], key[1], entry["gpu_us"], injector.spin_cycles(entry, spec, gpu, rate), index,
                            base, ratio, error)
                measured_steps[key].append(step)
                say(step_line(step))
                if got is None or step.landed:
                    del pending[key]
                else:  # after the last round too: the lengths kept are written over these
                    lengths[injector.entry_key(entry)] = next_cycles(step, injector.cycles_at_rate(entry, rate), rate)
            if not pending:
                break
            injector.keep_for_gpu(spec + injector.SPIN_SUFFIX, gpu, lengths)
    return measured_steps


def step_line(step: Step) -> str:
    said = (f"round {step.round}: {step.config} {step.mask}: {step.amount_us:.2f} {schema.MICROSECONDS}, "
            f"{step.cycles} cycles: ")
    if step.ratio is None or step.target is None:
        return said + "no GPU time measured"
    verdict = "landed" if step.landed else ("short" if step.ratio < step.target else "beyond the tolerance")
    error = "" if step.error is None else f" +- {step.error:.4f}"
    return said + f"{step.ratio:.4f}{error} for {step.target:.4f} ({verdict})"


Steps = dict[tuple[str, str], tuple[float | None, float | None]]


def kept_steps(spec: str, slowdowns: list[dict]) -> Steps:
    """Each tuned slowdown's kept step (its ratio and the ratio's standard error; None where install measured
    none), as the last tuning kept them beside ``spec``, for those of ``slowdowns`` whose amount it tuned;
    empty where nothing was tuned. A damaged file is a user error."""
    path = Path(spec + injector.STEPS_SUFFIX)
    if not path.exists():
        return {}
    amounts = {(entry["config"], entry["mask"]): entry.get("gpu_us") for entry in slowdowns}
    damaged = "not the steps of a tuning as install keeps them:"
    try:
        steps = read_json_object(path, damaged)["steps"]
        kept = {(step["config"], step["mask"]): (step["ratio"], step.get("error")) for step in steps
                if amounts.get((step["config"], step["mask"])) == step["amount_us"]}
    except (TypeError, KeyError):
        raise ToolError(f"{damaged} {path}: no list of steps, each with its config, mask, amount and ratio") from None
    if not all((ratio is None or (type(ratio) is float and 0 < ratio < math.inf))
               and (error is None or (type(error) is float and error >= 0)) for ratio, error in kept.values()):
        raise ToolError(f"{path}: a step that is not a positive number, or its error not a number from 0")
    return kept
