"""The nightly verdict's steps: tonight's nights against the history, candidates, decisions, counts.

Per result (grid, config, mask) and signal, tonight against the recent nights of
one machine: counts are exact, so any change is a finding at once; GPU time and
wall time go through the noise model (``lib.noise``), and where a candidate
cannot be called on one night it is re-measured (``lib.remeasure``) and decided
over per-process values. A suspect kept last night that is still slower tonight
is a regression.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys

from lib import noise, remeasure
from lib.cli import ToolError, write_whole
from lib.findings import LEVELS, LISTED, NOISE, REGRESSION, SUSPECT, Finding
from lib.nights import (
    SIGNALS,
    Key,
    Night,
    benchmark_of,
    in_tonights_series,
    read_night,
    reference_level,
    result_classes,
)
from lib.results import SET_ASIDE, ResultsStore, RunFile, dispatch_names, previous_suspects, verdict_path
from lib.suite import schema

ONE_NIGHT_CALL = f"beyond {noise.Z_CALL:g} sigma of this machine's noise"
SHORT_OF_FACTOR = f"slower by less than the factor, within {remeasure.SHORT_WINDOW_SPREADS} spreads of it"
# Said of a GPU time's one-night call left out for the budget that each build of its night calls (mark_standing).
CALLED_ON_ITS_NIGHT = ("in each build of its night; not re-measured: the budget went first to candidates the "
                       "night alone cannot call")
CALLED_WHERE_FAILED = "in each build of its night; not re-measured: re-measurement failed"
# Said of a refuted candidate whose processes show it slower beyond doubt (p_change under ALPHA_CONFIRM).
SLOWER_UNDER_FACTOR = "slower for certain, by less than the factor"
# Said of a suspect kept from last night, re-measured (against last night's build), and where that confirmed it.
PERSISTING_REMEASURED = "re-measured against last night's build"
PERSISTING_CONFIRMED = f"{PERSISTING_REMEASURED}: confirmed, a step of tonight's own"
# Said of a result the factor slower than its class's lower quartile, short of it over the move taken out, where
# only part of its class moved (judge's ``lower``).
PART_OF_CLASS = "only part of its class moved"
# Said of a result that moved the factor or more with its class, whose move was confirmed (Finding.members).
MOVED_WITH_ITS_CLASS = "moved with its class, whose move was confirmed"
# Said of a class's stand-in re-measured that the class's finding does not list: it keeps its own outcome.
STOOD_FOR_CLASS = "re-measured for its class's move"
# Between a class's why and a stand-in's outcome in the stand-in's own why (decide).
FOR_THEM = "; this result re-measured for them: "
# Said of a count that changed tonight after it moved by itself in the history (moved_by_itself).
COUNT_MOVED = "this count moved in the history: back to an earlier value, or again before a night held it"
# Said in short_left_out of a GPU time short of the factor the re-measurement did not measure: left out for the
# budget, planned and dropped for the pace, or left undecided by a broken re-measurement.
SHORT_LEFT_OUT, SHORT_DROPPED, SHORT_FAILED = "left out", "dropped", "failed"
# Said of tonight's results of a config that no night of the history measured (the grid gained it).
NEW_CONFIG = "no night of the history measured its config: a new one"
ORDER = {level: rank for rank, level in enumerate(LEVELS)}  # the report's order, the gravest first
LEVEL_OF_OUTCOME = {"confirmed": REGRESSION, "refuted": NOISE, "undecided": SUSPECT}  # a re-measurement's
OUTCOME_OF_LEVEL = {level: outcome for outcome, level in LEVEL_OF_OUTCOME.items()}
# A class's move is re-measured on this many of its results nearest it, and most of them decide: one
# result alone could be slower on its own beside a move of the host's, and pass for the whole class.
CLASS_STAND_INS = 3


# The nights that teach the noise model, at most: two weeks of nightlies.
# The slowdown a night is judged against where --factor names none (asv compare's for the noise report).
DEFAULT_FACTOR = 1.05
DEFAULT_HISTORY = 14


@dataclasses.dataclass(frozen=True)
class Settings:
    factor: float
    window: int
    pythons: dict[str, str] | None  # side -> Python of the re-measurement; None: none configured
    processes: int
    seed: int
    budget: float  # seconds the re-measurement may take
    short_budget: float = 0.0  # seconds more that only GPU times short of the factor may take
    history: int = DEFAULT_HISTORY  # the nights that measured, at most, that teach the noise model


@dataclasses.dataclass
class Verdict:
    machine: str
    baseline: RunFile
    contender: RunFile
    nights: int
    factor: float
    findings: list[Finding]
    floors: list[dict]
    not_measured: list[str]
    names: dict[tuple[str, str], str]
    remeasurement: dict | None
    steps: list[dict] | None = None  # what asv publish's step detection found, where asked
    shifts: list[dict] = dataclasses.field(default_factory=list)  # class_shifts: tonight per class and signal
    new_series: list[str] = dataclasses.field(default_factory=list)  # benchmarks whose version changed: not compared
    unjudged: list[dict] = dataclasses.field(default_factory=list)  # tonight's values not judged, and why (unjudged)

    def level(self, level: str) -> list[Finding]:
        return [f for f in self.findings if f.level == level]

    @property
    def word(self) -> str:
        return REGRESSION if self.level(REGRESSION) else SUSPECT if self.level(SUSPECT) else "no regression"

    @property
    def headline(self) -> str:
        regressions, suspects = self.level(REGRESSION), self.level(SUSPECT)
        if regressions:
            return f"REGRESSION: {len(regressions)} finding(s)" + (f", {len(suspects)} suspect(s)" if suspects else "")
        if suspects:
            return f"no regression; {len(suspects)} suspect(s)"
        return "no regression"


# ---------------------------------------------------------------- continuous signals and counts


Moves = dict[tuple[str, str], float]  # (class, signal) -> its common move tonight (a ratio), where taken out


def classify(history: list[Night], tonight: Night, model: noise.NoiseModel, classes: dict[Key, str],
             suspects_before: dict[tuple, dict], settings: Settings,
             moves: Moves | None = None, shares: dict[Key, float] | None = None,
             lower: Moves | None = None) -> tuple[list[Finding], list[Finding]]:
    """(findings before the re-measurement, candidates to re-measure) of every key and continuous signal,
    each judged by how far it moved away from its class's common move (a wall time's call on one night and
    a suspect's persisting, over the host's share in it where that is larger: ``host_shares``; a candidate
    also over its class's lower quartile where only part of the class moved: ``partial_moves``), and of each
    class's move itself."""
    moves, shares, lower = moves or {}, shares or {}, lower or {}
    findings: list[Finding] = []
    candidates: list[Finding] = []
    for key, values in tonight.values.items():
        for signal in schema.TIMED_SIGNALS:
            now = values.get(signal)
            if now:
                judged, candidate = judge(history, key, signal, now, model, classes[key], suspects_before, settings,
                                          moves.get((classes[key], signal), 1.0),
                                          shares.get(key) if signal == schema.WALL else None,
                                          lower.get((classes[key], signal)))
                if judged:
                    (candidates if candidate else findings).append(judged)
    for finding in class_move_findings(history, tonight, model, classes, moves, settings):
        (candidates if settings.pythons is not None else findings).append(finding)
    # A class's stand-in is re-measured for the class: not a second time over the class's lower quartile.
    stand_ins = {(finding.key, finding.signal) for finding in candidates if finding.common}
    candidates = [finding for finding in candidates if not (finding.partial and (finding.key, finding.signal)
                                                            in stand_ins)]
    return findings, candidates


def judge(history: list[Night], key: Key, signal: str, now: float, model: noise.NoiseModel, klass: str,
          suspects_before: dict[tuple, dict], settings: Settings,
          move: float, host: float | None = None, lower: float | None = None) -> tuple[Finding | None, bool]:
    """One key and signal tonight: (its finding or None, whether it is a candidate to re-measure).

    ``move``: its class's common move tonight; the key is judged by its ratio over it. ``host``: the host's
    share in its wall time tonight, where larger than ``move`` (``host_shares``): a call on one night alone
    and a suspect's persisting are judged over it, since the host alone would move it that far. ``lower``:
    where only part of its class moved, the class's lower quartile (``partial_moves``): short of the factor
    over ``move``, the factor slower than that, it is a candidate where both builds are re-measured (never
    where the host's share is given: that is larger than ``move``, so the host alone may explain it)."""
    floor = model.floor(key, signal, klass, settings.factor)
    suspect_before = suspects_before.get((*key, signal))
    if suspect_before:
        # Against the nights before the suspect one: a step that stayed shows there. A class's move kept
        # as a suspect is judged as it was, without the class's move taken out.
        held = 1.0 if suspect_before.get("common") else move
        host = None if suspect_before.get("common") else host
        over = held if host is None else max(held, host)
        before = reference_level(history[:-1], key, signal, settings.window)
        if before and now / before / over >= suspect_before["bar"]:
            return Finding(REGRESSION, key, signal, before, now, klass, floor,
                           "persisted: a suspect last night, still slower tonight", move=held,
                           host_move=host), False
        kept = Finding(SUSPECT, key, signal, before, now, klass, floor, "", move=held, host_move=host,
                       persisting=True) if before and math.isinf(suspect_before["bar"]) else None
        if kept and kept.beyond_host >= settings.factor:
            # Kept before the history had a spread: its step now sits in the reference and in the model's
            # spread, so only the night before it still shows it; never called on that. Where both sides are
            # re-measured, against last night's build: slower than it, the step is tonight's own (decide).
            kept.why = (f"{persisting_why(kept)}; the history is too short to call it: the noise model needs "
                        f"{noise.NIGHTS_TO_CALL} clean nights")
            return kept, both_sides(settings)
    reference = reference_level(history, key, signal, settings.window)
    if not reference:
        return None, False
    relative = relative_to_class(reference, now, move)
    if relative < settings.factor and lower is not None and host is None and both_sides(settings) \
            and relative_to_class(reference, now, lower) >= settings.factor:
        # The move taken out is the most the host can have done; the results that did not move say it may be
        # as little as their quartile, and only a re-measurement, its sides under one host, tells which.
        return Finding(SUSPECT, key, signal, reference, now, klass, floor,
                       f"{PART_OF_CLASS} ({move:.3f}x taken out, its lower quartile {lower:.3f}x): the factor "
                       "slower than the quartile", move=lower, partial=True), True
    if relative < settings.factor:
        return short_candidate(Finding(SUSPECT, key, signal, reference, now, klass, floor, SHORT_OF_FACTOR,
                                       move=move, short=True), settings)
    beyond = model.callable(relative if host is None else now / reference / max(move, host), key, signal, klass,
                            settings.factor)
    if settings.pythons is not None:
        # Re-measured even when the night alone would call it: one night is one process,
        # and a slow episode of the host can pass 6 spreads of a calm history.
        return Finding(SUSPECT, key, signal, reference, now, klass, floor,
                       ONE_NIGHT_CALL if beyond else "candidate", one_night=beyond, move=move, host_move=host), True
    if beyond:
        return Finding(REGRESSION, key, signal, reference, now, klass, floor, ONE_NIGHT_CALL, move=move,
                       host_move=host), False
    if math.isinf(floor) or model.nights_of(key, signal) < noise.NIGHTS_TO_CALL:
        return Finding(SUSPECT, key, signal, reference, now, klass, floor,
                       f"the history of {model.nights_of(key, signal)} night(s) is too short to judge: the noise "
                       f"model needs {noise.NIGHTS_TO_CALL}, and no re-measurement is configured", move=move,
                       host_move=host), False
    if relative >= floor:
        return Finding(SUSPECT, key, signal, reference, now, klass, floor,
                       "above its one-night floor; no re-measurement configured" + host_said(host, now / reference),
                       move=move, host_move=host), False
    return None, False


def persisting_why(kept: Finding) -> str:
    """Where a suspect kept last night is still the factor slower than the nights before it: its ratio over
    them, its class's move (or the host's share, where larger) taken out."""
    return f"a suspect last night too, still {kept.beyond_host:.2f}x the night before it"


def both_sides(settings: Settings) -> bool:
    """Whether the re-measurement runs the baseline's build too (it can confirm, not only refute)."""
    return settings.pythons is not None and schema.BASELINE in settings.pythons


def host_said(host: float | None, ratio: float) -> str:
    """What a finding's why adds where the host's share in its wall time is larger than its class's move."""
    return (f"; the host's slower dispatch alone would move it {host:.2f}x, {ratio / host:.3f}x beyond that"
            if host else "")


def may_stand(finding: Finding) -> bool:
    """A GPU time's one-night call of its own (not a class's move): what ``mark_standing`` looks at."""
    return finding.signal == schema.GPU and finding.one_night and not finding.common


def mark_standing(candidates: list[Finding], builds: dict[str, dict[str, list[float]]],
                  model: noise.NoiseModel, factor: float) -> None:
    """Mark each GPU time's one-night call that each of its night's builds (``builds``: the night file's GPU
    times by label and mask, schema.GPU_PASSES of them at least) would call alone (``NoiseModel.callable``: Z_CALL
    spreads over its reference and the factor, its class's move taken out). Each build is a pass of its own, so
    the night's passes replicate the call; a slow stretch of one pass moves one build. Such a call needs no
    re-measurement to stand (its night calls it), so the plan takes it after the candidates that do."""
    for finding in filter(may_stand, candidates):
        each = builds.get(finding.key[1], {}).get(finding.key[2]) or []
        finding.stands = len(each) >= schema.GPU_PASSES and all(
            model.callable(build / finding.reference / finding.move, finding.key, finding.signal, finding.klass,
                           factor) for build in each)


def host_shares(history: list[Night], tonight: Night, classes: dict[Key, str], moves: Moves, window: int,
                factor: float) -> dict[Key, float]:
    """Where the launch-bound wall times moved slower as one by ``factor`` or more (the host's dispatch slowed
    by that move, m), how far that alone pushes the wall time of each result of another class, where farther
    than its class's move: a forward's wall time is about the longer of its dispatch and its GPU work, and the
    launch-bound results' median reference wall time D is the dispatch's, so one of reference W goes to
    ``min(m, m D / W)``, kept where above 1 and its class's move (docs/noise.md, "The host's share in a
    GPU-bound wall time")."""
    host = moves.get((noise.LAUNCH_BOUND, schema.WALL), 1.0)
    if host < factor:
        return {}
    levels = tonight_levels(history, tonight, schema.WALL, window)
    dispatch = launch_bound_wall(levels, classes)
    shares = {}
    for key, (reference, _) in levels.items():
        if classes[key] != noise.LAUNCH_BOUND:
            share = min(host, host * dispatch / reference)
            if share > max(1.0, moves.get((classes[key], schema.WALL), 1.0)):  # a slower dispatch that reaches it
                shares[key] = share
    return shares


def launch_bound_wall(levels: dict[Key, tuple[float, float]], classes: dict[Key, str]) -> float:
    """The median reference wall time of the launch-bound results among ``levels`` (``tonight_levels``): a
    forward's dispatch on this host."""
    return noise.dispatch_wall({key: reference for key, (reference, _) in levels.items()}, classes)


def short_candidate(finding: Finding, settings: Settings) -> tuple[Finding | None, bool]:
    """A change short of the factor is a candidate only where both builds are re-measured (only they can
    confirm it) and it is within remeasure.SHORT_WINDOW_SPREADS spreads of the factor; else nothing to say."""
    if both_sides(settings) and remeasure.short_of_factor(finding, settings.factor):
        return finding, True
    return None, False


def partial_moves(shifts: list[dict]) -> Moves:
    """Per (class, signal) whose common move was taken out lower than its median (only part of the class moved,
    ``noise.common_move``), the class's lower quartile, taken as 1.0 where below: where its unmoved results
    stand."""
    return {(row["class"], row["signal"]): max(1.0, row["lower"]) for row in shifts
            if row["move"] is not None and row["move"] < row["median"]}


def class_move_findings(history: list[Night], tonight: Night, model: noise.NoiseModel, classes: dict[Key, str],
                        moves: Moves, settings: Settings) -> list[Finding]:
    """Each class whose results moved as one by the factor or more: one finding, on the result that moved
    most like the class (the host's speed or a path of torch's common to them; a re-measurement, whose
    sides alternate under one host, tells which)."""
    findings = []
    for (klass, signal), move in sorted(moves.items()):
        if move < settings.factor:
            continue
        levels = {key: pair for key, pair in sorted(tonight_levels(history, tonight, signal, settings.window).items())
                  if classes[key] == klass}
        nearest = sorted(levels, key=lambda k: abs(math.log(levels[k][1] / levels[k][0] / move)))
        why = (f"the {klass} results moved {move:.2f}x as one ({len(levels)} results)"
               + ("" if settings.pythons is not None else
                  ": the host's speed or torch; no re-measurement is configured to tell which"))
        # Only a re-measurement can confirm the move as the build's, and list these with it (with_members).
        members = [Finding(REGRESSION, key, signal, *levels[key], klass, model.floor(key, signal, klass,
                                                                                      settings.factor), "")
                   for key in levels if levels[key][1] / levels[key][0] >= settings.factor
                   ] if settings.pythons is not None else []
        findings += [Finding(SUSPECT, key, signal, *levels[key], klass,
                             model.floor(key, signal, klass, settings.factor), why, common=len(levels),
                             members=members)
                     for key in nearest[:CLASS_STAND_INS if settings.pythons is not None else 1]]
    return findings


def with_members(findings: list[Finding], factor: float) -> list[Finding]:
    """The findings, and after each class's move confirmed, its members that have no finding of their own:
    its stand-ins confirmed with it, and each other result that moved the factor or more beyond the host's
    part in the move (the class's finding's ratio tonight over its re-measured one: what the build alone
    does not explain), so a host that was slow as well lists no untouched result. A stand-in listed apart
    (``Finding.stood_for``) whose key and signal have a finding of their own (a candidate of its own, a suspect
    that persisted) is not listed: that one decides, and each key is listed once."""
    decided_alone = {(finding.key, finding.signal) for finding in findings if finding.stood_for is None}
    findings = [finding for finding in findings
                if finding.stood_for is None or (finding.key, finding.signal) not in decided_alone]
    own = {(finding.key, finding.signal) for finding in findings}
    members = []
    for finding in findings:
        if not (finding.common and finding.level == REGRESSION):
            continue
        remeasured = (finding.confirmation or {}).get("ratio")
        host = max(1.0, finding.ratio / remeasured) if remeasured else 1.0
        for member in finding.members:
            if (member.key, member.signal) in own or not (member.confirmation or member.ratio / host >= factor):
                continue
            own.add((member.key, member.signal))
            members.append(dataclasses.replace(
                member, level=REGRESSION, move=host, common=0, members=[], member_of=finding.config_mask,
                why=f"{MOVED_WITH_ITS_CLASS} (the class's finding: {' '.join(finding.config_mask)}, "
                    f"{finding.ratio:.3f}x)"))
    return findings + members


def count_findings(history: list[Night], tonight: Night, classes: dict[Key, str],
                   suspects_before: dict[tuple, dict] | None = None) -> list[Finding]:
    """Counts that changed since the last night that has them (one it failed to count is passed over):
    regression where the history held them constant (a step that held counts as constant), a suspect where
    it moved by itself (``moved_by_itself``); a count kept as a suspect last night that stayed
    up is a regression (persisted), as a time is."""
    findings = []
    for key, values in tonight.values.items():
        for count in schema.COUNT_FIGURES:
            now = values.get(count)
            kept = (suspects_before or {}).get((*key, count))
            if now is not None and kept and kept["contender"] <= now:  # a count suspect is a rise: never a fall
                findings.append(Finding(REGRESSION, key, count, kept["reference"], now, classes[key], 1.0,
                                        "persisted: a suspect last night, still as high tonight"))
                continue
            before = next((v for night in reversed(history) if (v := night.value(key, count)) is not None), None)
            if now is None or before is None or now == before:
                continue
            level, why = (REGRESSION, "exact count changed") if not moved_by_itself(history, key, count) else (
                SUSPECT, COUNT_MOVED)
            if now < before:
                level, why = NOISE, "fewer: " + why
            findings.append(Finding(level, key, count, before, now, classes[key], 1.0, why))
    return findings


def moved_by_itself(history: list[Night], key: Key, count: str) -> bool:
    """Whether the count moved by itself in the history: it went back to a value it had left (or a regression
    and its fix), or changed again before a second night held its new value. A count whose every step held
    (a change that landed) is still held constant."""
    runs: list[list[float]] = []  # the nights' values, equal neighbours together (a night without it passed over)
    for value in (night.value(key, count) for night in history):
        if value is None:
            continue
        if runs and runs[-1][0] == value:
            runs[-1].append(value)
        else:
            runs.append([value])
    values = [run[0] for run in runs]
    return len(values) != len(set(values)) or any(len(run) < 2 for run in runs[1:])


# ---------------------------------------------------------------- the re-measurement's decisions


def remeasured_findings(candidates: list[Finding], device: str, settings: Settings, history: list[Night],
                        tonight: Night, measure: remeasure.Measure = remeasure.remeasure) -> tuple[list[Finding], dict]:
    """Re-measure the candidates and decide each over per-process values.

    Without a baseline environment the history's nights (one process each) stand
    in for the baseline side: that can refute a candidate, never confirm one.
    """
    assert settings.pythons is not None
    groups = stand_in_groups(candidates)
    short = [finding for finding in candidates if finding.short]
    failed: str | None = None
    refused = False
    try:
        measured, left_out, rounds = remeasure.remeasure_in_rounds(
            candidates, tonight, device, settings.pythons, settings.processes, settings.seed, settings.budget,
            settings.factor, measure, settings.short_budget,
            {schema.BASELINE: history[-1].torch if history else None, schema.CONTENDER: tonight.torch})
    except remeasure.RemeasureError as error:
        # The rounds before the failed one decide what they measured; the rest are suspects but where they stand.
        assert error.measured is not None and error.unmeasured is not None, error
        measured, left_out, rounds, failed = error.measured, error.unmeasured, error.rounds, str(error)
        refused = isinstance(error, remeasure.TorchMismatch)
    # One the plan left out whose key and signal a class's stand-in had measured is decided on those processes.
    left_out = [finding for finding in left_out
                if not measured.side(finding.config_mask, finding.signal, schema.CONTENDER)]
    whys = [group[0].why for group in groups]  # a class's, before a stand-in left out says so in its own
    short_left_out = [finding for finding in left_out if finding.short]
    called = [finding for finding in left_out if finding.stands]
    left_out = [finding for finding in left_out if not finding.short and finding not in called]
    for finding in called:
        call_on_night(finding, failed)
    for finding in left_out:
        kept_why = finding.common or finding.persisting or finding.partial
        finding.why = (f"{finding.why}; " if kept_why else "") + not_measured_why(finding, settings, failed)
        if not both_sides(settings) and finding.one_night and not failed:
            # Contender side only, the re-measurement can refute a one-night call, never weigh it: left out,
            # it stands, as it would with no re-measurement at all (``decide``'s undecided one).
            finding.level, finding.why = REGRESSION, f"{ONE_NIGHT_CALL}, {finding.why} (contender side only)"
    decided = [finding for group, why in zip(groups, whys) if group[0] not in short_left_out
               for finding in ([group[0]] if all(f in left_out or f in called for f in group) else
                               decide_together(group, why, left_out, measured, history, settings))]
    # One short of the factor is reported only where confirmed: else it is what the night said, nothing.
    decided = [finding for finding in decided if not finding.short or finding.level == REGRESSION]
    return decided, {"seed": settings.seed,  # the order of the processes: a re-measurement is repeated with it
                     # "refused": a side's torch is not its night's (an expected state), not a broken worker.
                     **({"error": failed, "refused": refused} if failed else {}),
                     "seconds": measured.seconds, "processes": measured.processes, "keys": len(measured.values),
                     "rounds": rounds, "left_out": 0 if failed else len(left_out), "budget": settings.budget,
                     **({"unmeasured": len(left_out)} if failed else {}),
                     "short_budget": settings.short_budget,
                     "short_of_factor": len(short),
                     "short_measured": len([finding for finding in short if finding not in short_left_out]),
                     # Named: a GPU time short of the factor left out is no finding, and nothing else says so.
                     "short_left_out": [[*f.config_mask, SHORT_DROPPED if f.config_mask in measured.dropped
                                         else SHORT_FAILED if failed else SHORT_LEFT_OUT] for f in short_left_out],
                     "left_out_above_floor": 0 if failed else sum(remeasure.above_floor(f) for f in left_out),
                     "called_on_night": len(called),
                     "dropped": len(measured.dropped), "refuted_early": len(measured.refuted_early),
                     "extended": len(measured.extended),
                     "disturbed": sum(len(left) for sides in measured.disturbed.values() for left in sides.values()),
                     "workers_per_side": remeasure.WORKERS_PER_SIDE,
                     "phases": measured.phases,
                     "per_process": [dataclasses.asdict(cost) for cost in measured.costs],
                     "values": measured.as_json()}


def call_on_night(finding: Finding, failed: str | None) -> None:
    """A call that stands, not re-measured (the budget, or a re-measurement that failed): its night calls it,
    each build a pass of its own; a fault of the re-measurement does not move the night's builds."""
    finding.level = REGRESSION
    finding.why = f"{ONE_NIGHT_CALL}, " + (f"{CALLED_WHERE_FAILED}: {failed}" if failed else CALLED_ON_ITS_NIGHT)


def not_measured_why(finding: Finding, settings: Settings, failed: str | None) -> str:
    """Why a candidate was not re-measured: a round that failed, else the budget (and where it is under its floor,
    that one night's noise reaches it)."""
    if failed:
        return f"re-measurement failed: {failed}"
    return f"not re-measured: beyond the re-measurement's budget of {settings.budget:.0f} s" + (
        "" if remeasure.above_floor(finding) else
        f" (under its floor of {remeasure.floor_of(finding):.3f}" + (
            " over the host's share" if finding.host_explains else ": one night's noise") + ")") + (
        host_said(finding.host_move if finding.host_explains else None, finding.ratio))


def stand_in_groups(candidates: list[Finding]) -> list[list[Finding]]:
    """The candidates in order, one group each, a class's move's stand-ins in one group: decided as one."""
    groups: dict[object, list[Finding]] = {}
    for index, finding in enumerate(candidates):
        groups.setdefault((finding.klass, finding.signal) if finding.common else index, []).append(finding)
    return list(groups.values())


def decide_together(stand_ins: list[Finding], why: str, left_out: list[Finding], measured: remeasure.Remeasured,
                    history: list[Night], settings: Settings) -> list[Finding]:
    """One candidate decided; a class's move (``why``) re-measured on its stand-ins: the level most of them
    get, one left out for the budget counting as undecided, else a suspect; on the first of them with that
    level, its why listing each. That finding comes first, then, at its own outcome (``stand_in_of``), each stand-in
    re-measured that its why would hide: graver than the class's level, or, where the move is confirmed, not listed
    with it as a member (``with_members`` drops one where the key has a finding of its own)."""
    if len(stand_ins) == 1:
        return [decide(stand_ins[0], measured, history, settings)]
    decided = [finding if finding in left_out else decide(finding, measured, history, settings)
               for finding in stand_ins]
    contender_only = not both_sides(settings)
    outcomes = ", ".join((f"{OUTCOME_OF_LEVEL[finding.level]} {finding.confirmation['ratio']:.3f}"
                          + slower_said(decision_of(finding.confirmation), contender_only)
                          if finding.confirmation else "not re-measured") + f" ({' '.join(finding.config_mask)})"
                         for finding in decided)
    levels = [finding.level for finding in decided]
    level = next((level for level in ORDER if 2 * levels.count(level) > len(levels)), SUSPECT)
    # Where none has the class's level (two stand-ins that disagree), the least grave carries it: a stand-in's
    # own outcome is not lost. With three, a suspect is always among them.
    chosen = next((finding for finding in decided if finding.level == level),
                  max(decided, key=lambda finding: ORDER[finding.level]))
    if chosen.level != level:  # the class's call is none of theirs, nor its numbers
        chosen.level, chosen.confirmation = level, None
    chosen.why = f"{why}; for the class, its {len(decided)} results nearest the move: {outcomes}"
    others = [finding for finding in decided if finding is not chosen and finding.confirmation]
    if level == REGRESSION:  # its members: the stand-ins re-measured with it, then the class's others
        with_it = [finding for finding in others if moved_with_it(finding, settings.factor)]
        # with_members lists each key once: a stand-in's re-measured row before its night's, none beside a row apart
        chosen.members = with_it + chosen.members
        others = [finding for finding in others if finding not in with_it]
    else:  # the class's why says the rest; a graver outcome would be hidden in it
        others = [finding for finding in others if ORDER[finding.level] < ORDER[level]]
    return [chosen] + [stand_in_of(finding, chosen, contender_only) for finding in others]


def moved_with_it(stand_in: Finding, factor: float) -> bool:
    """Whether a stand-in re-measured is listed with its class's confirmed move: confirmed, or undecided at the
    factor or more (alone it may not reach certainty; with the class's it is the class's). One re-measured under
    the factor is not: its processes say the host, not the build, moved it tonight."""
    return stand_in.level == REGRESSION or (
        stand_in.level == SUSPECT and stand_in.confirmation is not None and stand_in.confirmation["ratio"] >= factor)


def stand_in_of(stand_in: Finding, chosen: Finding, contender_only: bool) -> Finding:
    """A class's stand-in re-measured that its class's finding (``chosen``) does not list: its own finding at
    its own outcome, no longer standing for the class."""
    assert stand_in.confirmation is not None
    return dataclasses.replace(stand_in, common=0, members=[], stood_for=chosen.config_mask, why=(
        f"{STOOD_FOR_CLASS} (the class's finding: {' '.join(chosen.config_mask)}, {chosen.level}); "
        f"re-measured: {said(decision_of(stand_in.confirmation), contender_only)}"))


def decide(finding: Finding, measured: remeasure.Remeasured, history: list[Night], settings: Settings) -> Finding:
    """One re-measured candidate's level: confirmed -> regression, refuted -> noise, undecided -> suspect."""
    contender_only = not both_sides(settings)
    if contender_only:  # the nights' values as measured: no clock beside them
        base = [v for night in history if (v := night.value(finding.key, finding.signal))]
        new, clock = measured.side(finding.config_mask, finding.signal, schema.CONTENDER), None
    else:
        base, new, clock = measured.decided(finding.config_mask, finding.signal)
    if not (base and new):
        finding.why = f"{finding.why}; not re-measured" if finding.persisting or finding.partial else "not re-measured"
        return finding
    decision = noise.decide(base, new, settings.factor)
    finding.confirmation = dataclasses.asdict(decision) | {"processes": len(base) + len(new)}
    if finding.signal == schema.GPU:
        clocks = {side: measured.sm_clock(finding.config_mask, side) for side in remeasure.SIDES}
        if any(clocks.values()):
            finding.confirmation["sm_clock_mhz"] = clocks
    if clock is not None:
        finding.confirmation["at_sm_clock_mhz"] = clock
    elif finding.signal == schema.GPU and not contender_only:  # said, since a clock's move then counts as the build's
        finding.confirmation["at_sm_clock_mhz"] = None
    outcome = outcome_of(decision, contender_only)
    if finding.persisting:
        return persisting_decided(finding, outcome)
    finding.level = LEVEL_OF_OUTCOME[outcome]
    if contender_only and finding.one_night and outcome == "undecided":
        finding.level = REGRESSION  # the night's evidence stands where no baseline side can weigh in
    finding.why = (f"{'one night beyond the noise, ' if finding.one_night else ''}"
                   + (f"{SHORT_OF_FACTOR} tonight, " if finding.short else "")
                   + (f"{finding.why}{FOR_THEM}" if finding.common else
                      f"{finding.why}; re-measured: " if finding.partial else "re-measured: ")
                   + said(decision, contender_only))
    return finding


def outcome_of(decision: noise.Decision, contender_only: bool) -> str:
    """The re-measurement's outcome for the finding: one side measured now against nights refutes, it never
    confirms."""
    return "undecided" if contender_only and decision.outcome == "confirmed" else decision.outcome


def said(decision: noise.Decision, contender_only: bool) -> str:
    """The re-measurement's outcome as a finding's why ends with it."""
    return (outcome_of(decision, contender_only) + (" (contender side only)" if contender_only else "")
            + slower_said(decision, contender_only))


def slower_said(decision: noise.Decision, contender_only: bool) -> str:
    """Where both builds' processes refuted a slowdown yet found one for certain, that said; else nothing."""
    return f", {SLOWER_UNDER_FACTOR}" if not contender_only and slower_under_factor(decision) else ""


def decision_of(confirmation: dict) -> noise.Decision:
    """The decision a finding's ``confirmation`` holds (``decide`` adds the processes and clocks to it)."""
    return noise.Decision(**{field.name: confirmation[field.name] for field in dataclasses.fields(noise.Decision)})


def persisting_decided(finding: Finding, outcome: str) -> Finding:
    """A suspect kept from last night, re-measured against last night's build: confirmed, tonight's build is the
    factor slower than last night's, a step of its own (a regression); else listed as it was, since a step kept
    from last night reads as noise against its own build."""
    if outcome == "confirmed":
        finding.level = REGRESSION
        finding.why = f"{persisting_why(finding)}; {PERSISTING_CONFIRMED}"
    else:
        finding.why = f"{finding.why}; {PERSISTING_REMEASURED}: {outcome}"
    return finding


def slower_under_factor(decision: noise.Decision) -> bool:
    """Refuted, yet slower beyond doubt: a real change smaller than the factor, not the machine's noise."""
    return decision.outcome == "refuted" and decision.ratio > 1.0 and decision.p_change < noise.ALPHA_CONFIRM


# ---------------------------------------------------------------- names, floors, the whole check


def name_changes(before: dict, after: dict, config: str, mask: str) -> str:
    """'+aten::alias x1; -aten::foo x2' between two runs' names of one config and mask."""
    parts = []
    for kind in (schema.DISPATCH_OPERATORS, schema.DISPATCH_KERNELS):
        old = before.get(config, {}).get(mask, {}).get(kind, {})
        new = after.get(config, {}).get(mask, {}).get(kind, {})
        for name in sorted(set(old) | set(new)):
            delta = new.get(name, 0) - old.get(name, 0)
            if delta:
                parts.append(f"{'+' if delta > 0 else '-'}{name} x{abs(delta)}")
    return "; ".join(parts)


def relative_to_class(reference: float, now: float, move: float) -> float:
    """Tonight's value over its reference level, its class's common move taken out: how far one result moved
    away from its class, what its floor and the factor are set against."""
    return now / reference / move


def relatives(history: list[Night], tonight: Night, classes: dict[Key, str], window: int,
              moves: Moves) -> dict[tuple[Key, str], float]:
    """Every result's and signal's ``relative_to_class`` tonight, where it has a reference level."""
    return {(key, signal): relative_to_class(reference, now, moves.get((classes[key], signal), 1.0))
            for signal in schema.TIMED_SIGNALS for key, (reference, now) in tonight_levels(history, tonight, signal,
                                                                                  window).items()}


def floor_rows(model: noise.NoiseModel, keys: list[Key], classes: dict[Key, str], factor: float,
               moved: dict[tuple[Key, str], float] | None = None) -> list[dict]:
    """Per result: its class, and per signal its one-night floor (None where infinite) and, from ``moved``
    (``relatives``), how far it moved away from its class tonight (None without a reference level): a result
    that is no finding shows here how far it was from one."""
    rows = []
    for key in keys:
        row: dict = {"grid": key[0], "config": key[1], "mask": key[2], "class": classes[key]}
        for signal in schema.TIMED_SIGNALS:
            floor = model.floor(key, signal, classes[key], factor)
            row[f"{signal}_floor"] = None if math.isinf(floor) else floor
            row[f"{signal}_relative"] = (moved or {}).get((key, signal))
        rows.append(row)
    return rows


def class_shifts(history: list[Night], tonight: Night, classes: dict[Key, str], window: int,
                 factor: float, model: noise.NoiseModel) -> list[dict]:
    """Per class and signal, tonight over each result's reference level: the median, how many of them are
    slower by the factor or more, and the common move taken out of each (``noise.common_move``; None for a
    class of too few results) (docs/noise.md)."""
    shifts = []
    for signal in schema.TIMED_SIGNALS:
        ratios = {key: now / reference for key, (reference, now) in tonight_levels(history, tonight, signal,
                                                                                   window).items()}
        logs = {key: math.log(ratio) for key, ratio in ratios.items()}
        spreads = {klass: model.pooled.get((signal, klass), math.nan) for klass in set(classes.values())}
        common = noise.common_move(logs, classes, spreads)
        lower = noise.lower_quartiles(logs, classes)
        for klass, (median, results) in noise.class_medians(logs, classes).items():
            shifts.append({"class": klass, "signal": signal, "results": results, "median": math.exp(median),
                           "slower": sum(ratio >= factor for key, ratio in ratios.items() if classes[key] == klass),
                           "move": math.exp(common[klass]) if klass in common else None,
                           "lower": math.exp(lower[klass]) if klass in lower else None})
    return sorted(shifts, key=lambda row: (row["class"], schema.TIMED_SIGNALS.index(row["signal"])))


def tonight_levels(history: list[Night], tonight: Night, signal: str, window: int) -> dict[Key, tuple[float, float]]:
    """Each result's (reference level, value tonight) of one signal, where it has both."""
    return {key: (reference, now) for key in tonight.values
            if (now := tonight.value(key, signal)) and (reference := reference_level(history, key, signal, window))}


def class_moves(shifts: list[dict]) -> Moves:
    """The common moves ``class_shifts`` takes out, per (class, signal)."""
    return {(row["class"], row["signal"]): row["move"] for row in shifts if row["move"] is not None}


def fitted_model(history: list[Night], tonight: Night, classes: dict[Key, str],
                 calibration: tuple[Night, Night] | None) -> noise.NoiseModel:
    series = {key: {s: [n.value(key, s) for n in history] for s in schema.TIMED_SIGNALS} for key in tonight.values}
    pair = None
    if calibration:
        a, b = calibration
        pair = {key: {s: [a.value(key, s), b.value(key, s)] for s in schema.TIMED_SIGNALS} for key in tonight.values}
    return noise.fit(series, classes, pair)


class NightNotMeasured(Exception):
    """Tonight has no measured result of a grid the last night measured: a broken night (exit 3), not judged."""


def after_broken_nights(history: list[Night], tonight: Night) -> tuple[list[Night], list[str]]:
    """The history without its last nights that share no grid with tonight where a night before them does:
    nights refused as broken when they were tonight's (the recorder saw no CUDA and measured the CPU grid),
    each set aside with a line, so that a repaired night is judged against the last night like it."""
    grids = {key[0] for key in tonight.values}
    last = len(history)
    while last and not grids & {key[0] for key in history[last - 1].values}:
        last -= 1
    if last in (0, len(history)):  # no night like tonight's before them: tonight is the one to refuse
        return history, []
    return history[:last], [f"set aside: the night of {commit_of(night)} measured none of tonight's grids, which "
                            "the nights before it measured (a broken night)" for night in history[last:]]


def unmeasured(history: list[Night], tonight: Night) -> None:
    """Raise NightNotMeasured where tonight measured nothing of a grid the history's last night measured (its every
    result failed, or the recorder saw no CUDA and measured the CPU grid): no result compared would read as a
    clean night."""
    last = history[-1]
    grids = sorted({key[0] for key in last.values} - {key[0] for key in tonight.values})
    if grids:
        raise NightNotMeasured(f"tonight ({commit_of(tonight)}) measured no result of the "
                               f"{' and '.join(grid.upper() for grid in grids)} grid, which the last night "
                               f"({commit_of(last)}) measured: a broken night, not judged")


def unjudged(tonight: Night, new_series: list[str], history: list[Night]) -> list[dict]:
    """Tonight's values the check left out, each with why: measured in part (a later visit failed), of a
    benchmark whose version changed since the last night, or of a config no night of the history measured
    (the grid gained it)."""
    rows = [{"config": key[1], "mask": key[2], "signal": signal, "why": "measured in part: " + "; ".join(messages)}
            for key, signals in sorted(tonight.in_part.items()) for signal, messages in signals.items()]
    rows += [{"config": key[1], "mask": key[2], "signal": signal, "why": "a new version of its benchmark"}
             for key in sorted(tonight.values) for signal in SIGNALS if benchmark_of(key, signal) in new_series]
    measured_before = {key for night in history for key in night.values}
    rows += [{"config": key[1], "mask": key[2], "signal": signal, "why": NEW_CONFIG}
             for key in sorted(set(tonight.values) - measured_before) for signal in SIGNALS
             if tonight.value(key, signal) is not None]
    return rows


def commit_of(night: Night) -> str:
    """The night's commit as the report names it: its first 8 hex digits."""
    return night.run.commit_hash[:8] if night.run else "no run"


@dataclasses.dataclass
class Judged:
    """Tonight judged against the history before any re-measurement: what ``check`` decides from."""

    tonight: Night
    history: list[Night]
    baseline: RunFile  # the history's last night
    set_aside: list[str]  # the history's nights that did not read whole, and why
    new_series: list[str]  # the benchmarks whose version tonight differs from the history's (in_tonights_series)
    classes: dict[Key, str]
    model: noise.NoiseModel
    shifts: list[dict]
    findings: list[Finding]
    candidates: list[Finding]


def judged(store: ResultsStore, machine: str, history_runs: list[RunFile], contender: RunFile,
           calibration: tuple[RunFile, RunFile] | None, settings: Settings) -> Judged:
    """Each result and signal of tonight against the history: its findings, and the candidates a
    re-measurement is asked to decide where ``settings.pythons`` configures one."""
    tonight = read_night(store, contender)
    unreadable = store.set_aside(machine)  # files whose head does not read: never among the store's runs
    history, set_aside = readable_nights(store, [run for run in history_runs if run.path not in unreadable],
                                         settings.history)
    history, broken = after_broken_nights(history, tonight)
    # Said where they may be of the nights read.
    oldest = history[0].run.date if history and history[0].run else 0
    set_aside = [aside.line for aside in unreadable.values()
                 if aside.date is None or oldest <= aside.date <= contender.date] + set_aside + broken
    for line in set_aside:
        print(line, file=sys.stderr)
    if not history:
        raise NoBaseline(set_aside)
    unmeasured(history, tonight)
    history, new_series = in_tonights_series(history, tonight)
    classes = result_classes(history, tonight)
    pair = None
    if calibration:  # an A/A pair of nights, in tonight's series as the history is
        first, second = in_tonights_series([read_night(store, run) for run in calibration], tonight)[0]
        pair = (first, second)
    model = fitted_model(history, tonight, classes, pair)
    baseline = history[-1].run
    assert baseline is not None
    shifts = class_shifts(history, tonight, classes, settings.window, settings.factor, model)
    moves = class_moves(shifts)
    findings, candidates = classify(history, tonight, model, classes,
                                    previous_suspects(store, machine, baseline.commit_hash), settings,
                                    moves, host_shares(history, tonight, classes, moves, settings.window,
                                                       settings.factor), partial_moves(shifts))
    if any(map(may_stand, candidates)):  # tonight's builds read only where a call could stand on them
        mark_standing(candidates, store.night_visits(contender, schema.GPU), model, settings.factor)
    return Judged(tonight, history, baseline, set_aside, new_series, classes, model, shifts, findings, candidates)


def check(store: ResultsStore, machine: str, history_runs: list[RunFile], contender: RunFile,
          calibration: tuple[RunFile, RunFile] | None, settings: Settings,
          measure: remeasure.Measure = remeasure.remeasure) -> Verdict:
    night = judged(store, machine, history_runs, contender, calibration, settings)
    tonight, history, candidates, findings = night.tonight, night.history, night.candidates, night.findings
    summary = None
    if candidates:
        device = schema.GRIDS_BY_NAME[candidates[0].key[0]].device
        decided, summary = remeasured_findings(candidates, device, settings, history, tonight, measure)
        findings = with_members(findings + decided, settings.factor)
    findings += count_findings(history, tonight, night.classes,
                               previous_suspects(store, machine, night.baseline.commit_hash))
    baseline = night.baseline
    names = changed_names(store, machine, baseline, contender, findings)
    findings.sort(key=lambda f: (ORDER[f.level], -f.relative))
    floors = floor_rows(night.model, sorted(tonight.values), night.classes, settings.factor,
                        relatives(history, tonight, night.classes, settings.window, class_moves(night.shifts)))
    return Verdict(machine, baseline, contender, len(history), settings.factor, findings, floors,
                   [f"contender {p}" for p in tonight.problems] + night.set_aside + store.others_nights(), names,
                   summary,
                   shifts=night.shifts, new_series=night.new_series,
                   unjudged=unjudged(tonight, night.new_series, history))


class NoBaseline(Exception):
    """No night before tonight's measured anything: tonight is the first night (exit 0), those set aside named."""

    def __init__(self, set_aside: list[str]) -> None:
        super().__init__("; ".join(set_aside))
        self.set_aside = set_aside


def readable_nights(store: ResultsStore, runs: list[RunFile], wanted: int) -> tuple[list[Night], list[str]]:
    """The last ``wanted`` of the nights that read whole and measured something, oldest first, read from the
    newest back; a damaged one (a full disk's partial file, say) or one whose every result failed is set aside
    with one line naming it, and takes no place among them: the last night is the last that measured (its
    grids, its suspects), not a broken one."""
    nights: list[Night] = []
    set_aside: list[str] = []
    for run in reversed(runs):
        if len(nights) == wanted:
            break
        try:
            night = read_night(store, run)
        except ToolError as error:
            set_aside.insert(0, f"{SET_ASIDE}{error}")
            continue
        if night.values:
            nights.insert(0, night)
        else:
            set_aside.insert(0, f"set aside: the night of {commit_of(night)} measured nothing (every result failed)")
    return nights, set_aside


def changed_names(store: ResultsStore, machine: str, baseline: RunFile, contender: RunFile,
                  findings: list[Finding]) -> dict[tuple[str, str], str]:
    """Operators and kernels that appeared or vanished, where a count is a finding."""
    if not any(f.signal in schema.COUNT_FIGURES and f.level != NOISE for f in findings):
        return {}
    try:
        before = dispatch_names(store, machine, baseline.commit_hash)
        after = dispatch_names(store, machine, contender.commit_hash)
    except ToolError as error:  # the names only explain a count's finding: a damaged file never ends the check
        return {f.config_mask: f"names not read: {error}" for f in findings
                if f.signal in schema.COUNT_FIGURES and f.level != NOISE}
    return {f.config_mask: change for f in findings
            if f.signal in schema.COUNT_FIGURES and (change := name_changes(before, after, *f.config_mask))}


def keep_suspects(store: ResultsStore, verdict: Verdict) -> None:
    """Tonight's suspects beside its results (``<commit>.verdict``), for tomorrow's persistence rule."""
    suspects = [f.as_dict() | {"bar": max(verdict.factor, f.floor if f.signal in schema.TIMED_SIGNALS else 1.0)}
                for f in verdict.level(SUSPECT)]
    write_whole(verdict_path(store, verdict.machine, verdict.contender.commit_hash),
                json.dumps({"contender": verdict.contender.commit_hash, LISTED[SUSPECT]: suspects}))


# ---------------------------------------------------------------- which nights, and how much time

# The re-measurement's share of the night's own time (asv's durations), at least MIN_BUDGET
# (a CPU night takes seconds), and the budget where asv recorded no durations. On an H200 0.6 of a 60 s
# night is about 36 s, what a check needs for the 10-13 keys of a host-slow night (docs/noise.md).
BUDGET_SHARE = 0.6
MIN_BUDGET = 30.0
DEFAULT_BUDGET = 120.0
# What GPU times short of the factor may take beyond the budget, as a share of the same: they come last in
# the plan, and a +5% step shows as 1.035-1.05 on half its nights (docs/noise.md, "The short candidates'
# allowance"). Each adds a GPU time to processes the budget pays for: about 0.06 s a process for a light key.
SHORT_BUDGET_SHARE = 0.24


def default_budget(store: ResultsStore, contender: RunFile) -> float:
    night = store.run_seconds(contender)
    return max(MIN_BUDGET, BUDGET_SHARE * night) if night else DEFAULT_BUDGET


def default_short_budget(store: ResultsStore, contender: RunFile) -> float:
    """The short candidates' allowance: SHORT_BUDGET_SHARE of the night, as the budget is BUDGET_SHARE of it."""
    return default_budget(store, contender) * SHORT_BUDGET_SHARE / BUDGET_SHARE


def earlier_nights(store: ResultsStore, machine: str, contender: RunFile, baseline: str | None,
                   history: int | None) -> list[RunFile]:
    """The nights before the contender (up to ``baseline`` where given), the last ``history`` of them (None:
    all; the check reads back from the last until ``Settings.history`` of them measured)."""
    runs = store.runs(machine)
    earlier = [run for run in runs if run.order < contender.order and run.commit_hash != contender.commit_hash]
    if baseline:
        chosen = store.choose_run(machine, baseline, runs)
        if chosen.commit_hash == contender.commit_hash:
            raise ToolError(f"baseline and contender are the same commit {chosen.commit_hash[:8]}")
        if chosen.order >= contender.order:
            raise ToolError(f"baseline {chosen.commit_hash[:8]} is not older than the contender")
        earlier = [run for run in earlier if run.order <= chosen.order]
    return earlier if history is None else earlier[-history:]
