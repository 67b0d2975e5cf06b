"""lib.verdict and lib.findings by unit: each rule of the verdict, persistence and the re-measurement's
decisions, with exact values; nights built in memory, a fake re-measurement. In-process and fast:
`make mutation` runs these against every mutant of both modules."""

from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import math
from pathlib import Path

import pytest
from conftest import process_costs
from lib import noise, remeasure, report, verdict
from lib.cli import ToolError
from lib.findings import Finding
from lib.nights import Night, result_classes
from lib.results import ResultsStore, RunFile
from lib.suite import schema

KEY = ("gpu", "cfg", "causal_bias")
OTHER = ("gpu", "other", "materialized")
THIRD = ("gpu", "third", "causal_bias")
KLASS = "GPU-bound"


def settings(factor: float = 1.25, window: int = 5, pythons: dict[str, str] | None = None,
             budget: float = 100.0) -> verdict.Settings:
    return verdict.Settings(factor, window, pythons, 10, 7, budget)


def nights(*walls: float | None, key: tuple = KEY, signal: str = "wall") -> list[Night]:
    return [Night(None, {key: {signal: wall}}) for wall in walls]


def model(spread: float | None = 0.02, night_count: int = 10) -> noise.NoiseModel:
    """A spread of ``spread`` for the wall time of the GPU-bound class; none for any other."""
    return noise.NoiseModel({} if spread is None else {("wall", KLASS): spread}, {}, night_count)


def finding(level: str = "suspect", ratio: float = 2.0, signal: str = "wall", key: tuple = KEY,
            floor: float = 1.5, one_night: bool = False, why: str = "candidate") -> Finding:
    return Finding(level, key, signal, 1.0, ratio, KLASS, floor, why, one_night=one_night)


# ---------------------------------------------------------------- findings


def test_a_findings_ratio_key_parts_and_dict():
    f = Finding("suspect", KEY, "gpu", 4.0, 5.0, KLASS, 1.1, "why", {"p": 1}, one_night=True, move=0.8, common=3)
    assert (f.ratio, f.relative) == (1.25, 1.5625)
    assert f.config_mask == ("cfg", "causal_bias")
    assert f.as_dict() == {"level": "suspect", "grid": "gpu", "config": "cfg", "mask": "causal_bias",
                           "signal": "gpu", "reference": 4.0, "contender": 5.0, "ratio": 1.25, "move": 0.8,
                           "relative": 1.5625, "common": 3, "class": KLASS, "floor": 1.1, "why": "why",
                           "confirmation": {"p": 1}, "stands": False, "host_move": None,
                           "persisting": False, "partial": False, "member_of": None,
                           "stood_for": None}
    assert f.beyond_host == f.relative and not f.host_explains  # its move over its class's (0.8 here)
    f.host_move = 0.8  # no more than its class's move: that one stands
    assert f.beyond_host == f.relative and not f.host_explains
    f.host_move = 1.1
    assert (f.beyond_host, f.relative, f.host_explains) == (1.25 / 1.1, 1.5625, True)
    assert f.as_dict()["host_move"] == 1.1
    assert Finding("noise", KEY, "wall", 1.0, 1.0, KLASS, 1.0, "").confirmation is None
    assert Finding("noise", KEY, "wall", 1.0, 1.0, KLASS, 1.0, "").one_night is False


# ---------------------------------------------------------------- the verdict's word


def a_verdict(findings: list[Finding]) -> verdict.Verdict:
    run = RunFile(Path("r.json"), "box", "c" * 40, 1, 0)
    return verdict.Verdict("box", run, run, 3, 1.25, findings, [], [], {}, None)


def test_the_verdicts_word_and_headline_from_its_levels():
    regression, suspect, quiet = finding("regression"), finding("suspect"), finding("noise")
    cases = [
        ([regression, suspect, suspect], "regression", "REGRESSION: 1 finding(s), 2 suspect(s)"),
        ([regression, regression, quiet], "regression", "REGRESSION: 2 finding(s)"),
        ([suspect, quiet], "suspect", "no regression; 1 suspect(s)"),
        ([quiet], "no regression", "no regression"),
        ([], "no regression", "no regression"),
    ]
    for findings, word, headline in cases:
        v = a_verdict(findings)
        assert (v.word, v.headline) == (word, headline)
    assert a_verdict([regression, suspect, quiet]).level("suspect") == [suspect]
    read = "".join(["sus", "pect"])  # a name read at run time: equal to the literal, not the same object
    assert a_verdict([regression, suspect, quiet]).level(read) == [suspect]


# ---------------------------------------------------------------- one key and signal tonight


def judge(history: list[Night], now: float, m: noise.NoiseModel | None = None, s: verdict.Settings | None = None,
          before: dict | None = None, signal: str = "wall", move: float = 1.0) -> tuple[Finding | None, bool]:
    return verdict.judge(history, KEY, signal, now, m or model(), KLASS, before or {}, s or settings(), move)


def test_nothing_below_the_factor_and_a_finding_from_the_factor_exactly():
    history = nights(4.0, 4.0, 4.0)
    young = model(0.005, night_count=2)  # a floor of the factor, and no one-night call yet
    assert judge(history, 4.96, young) == (None, False)  # 1.24
    found, candidate = judge(history, 5.0, young)  # 1.25
    assert (found.level, found.why, found.reference, found.contender, found.floor, candidate) == (
        "suspect", "the history of 2 night(s) is too short to judge: the noise model needs 3, and no "
                   "re-measurement is configured", 4.0, 5.0, 1.25, False)


def test_without_re_measurement_a_change_above_the_floor_is_a_suspect_and_below_it_nothing():
    spread = 0.1  # floor exp(0.3) = 1.3499
    history = nights(1.0, 1.0, 1.0)
    floor = math.exp(3 * spread)
    found, _ = judge(history, floor, model(spread))
    assert (found.level, found.floor, found.one_night) == ("suspect", floor, False)
    assert judge(history, math.nextafter(floor, 0), model(spread)) == (None, False)


def test_without_re_measurement_a_change_beyond_6_spreads_is_a_regression_on_one_night():
    spread = math.log(1.5) / 6
    found, candidate = judge(nights(1.0, 1.0, 1.0), 1.5, model(spread))
    assert (found.level, found.why, candidate) == ("regression", "beyond 6 sigma of this machine's noise", False)
    assert verdict.ONE_NIGHT_CALL == "beyond 6 sigma of this machine's noise"
    found, _ = judge(nights(1.0, 1.0, 1.0), math.nextafter(1.5, 0), model(spread))
    assert found.level == "suspect"


def test_without_a_spread_a_change_is_a_suspect_that_says_the_history_is_too_short():
    found, candidate = judge(nights(1.0), 2.0, model(None, night_count=1))
    assert (found.level, found.floor, candidate) == ("suspect", math.inf, False)
    assert found.why == ("the history of 1 night(s) is too short to judge: the noise model needs 3, "
                         "and no re-measurement is configured")


def test_with_re_measurement_every_change_is_a_candidate_one_night_calls_marked():
    pythons = {"baseline": "b", "contender": "c"}
    spread = math.log(1.5) / 6
    found, candidate = judge(nights(1.0, 1.0, 1.0), 1.5, model(spread), settings(pythons=pythons))
    assert (found.level, found.why, found.one_night, candidate) == (
        "suspect", "beyond 6 sigma of this machine's noise", True, True)
    found, candidate = judge(nights(1.0, 1.0, 1.0), 1.25, model(spread), settings(pythons=pythons))
    assert (found.level, found.why, found.one_night, candidate) == ("suspect", "candidate", False, True)
    # Below the factor, still nothing to re-measure.
    assert judge(nights(1.0, 1.0, 1.0), 1.24, model(spread), settings(pythons=pythons)) == (None, False)


def test_a_gpu_time_within_two_spreads_under_the_factor_is_a_short_candidate_where_both_sides_run():
    # A floor of the factor, 1.25: a spread is 1.25 ** (1/3) = 1.0772, so short from 1.25 / 1.0772 ** 2 = 1.0772 up.
    gpu_model = noise.NoiseModel({("gpu", KLASS): 0.005}, {}, 10)
    found, candidate = judge(nights(1.0, 1.0, 1.0, signal="gpu"), 1.08, gpu_model, settings(pythons=BOTH),
                             signal="gpu")
    assert (found.level, found.why, found.short, found.floor, candidate) == (
        "suspect", verdict.SHORT_OF_FACTOR, True, 1.25, True)
    assert verdict.SHORT_OF_FACTOR == "slower by less than the factor, within 2 spreads of it"
    assert judge(nights(1.0, 1.0, 1.0, signal="gpu"), 1.07, gpu_model, settings(pythons=BOTH),
                 signal="gpu") == (None, False)
    # Only both sides can confirm it: not with the contender alone, nor without a re-measurement.
    for alone in (settings(pythons={"contender": "c"}), settings()):
        assert judge(nights(1.0, 1.0, 1.0, signal="gpu"), 1.17, gpu_model, alone, signal="gpu") == (None, False)
    # At the factor it is a candidate like any other.
    found, _ = judge(nights(1.0, 1.0, 1.0, signal="gpu"), 1.25, gpu_model, settings(pythons=BOTH), signal="gpu")
    assert (found.why, found.short) == (verdict.ONE_NIGHT_CALL, False)


def test_the_reference_is_the_median_of_the_last_window_nights():
    history = nights(8.0, 1.0, 1.0, 2.0, 2.0)  # last 3: median 2; last 5: median 2; last 4: 1.5
    found, _ = judge(history, 2.5, model(0.005), settings(window=3))
    assert found.reference == 2.0 and found.ratio == 1.25
    found, _ = judge(history, 2.5, model(0.005), settings(window=4))
    assert found.reference == 1.5
    assert judge(nights(None, None), 2.0, model(0.005)) == (None, False)  # no reference at all


def test_a_suspect_persists_from_its_bar_exactly_against_the_nights_before_it():
    history = nights(2.0, 2.0, 2.0, 2.5)  # the suspect's night last, at 2.5
    before = {(*KEY, "wall"): {"bar": 1.25}}
    found, candidate = judge(history, 2.5, model(0.005), before=before)
    assert (found.level, found.reference, found.contender, candidate) == ("regression", 2.0, 2.5, False)
    assert found.why == "persisted: a suspect last night, still slower tonight"
    assert found.floor == 1.25
    # Below the bar against the nights before: judged as any night, here against a median of 2.0 too.
    found, _ = judge(history, math.nextafter(2.5, 0), model(0.005), before=before)
    assert found is None or found.level != "regression"


def test_persistence_reads_the_window_before_the_suspects_night():
    history = nights(1.0, 2.0, 3.0, 9.0)  # the suspect's night last, at 9.0
    before = {(*KEY, "wall"): {"bar": 1.25}}
    found, _ = judge(history, 3.75, model(0.005), settings(window=1), before)  # 3.75 / 3.0 = 1.25
    assert (found.level, found.reference, found.ratio) == ("regression", 3.0, 1.25)
    found, _ = judge(history, 3.75, model(0.005), settings(window=2), before)  # median (2, 3) = 2.5
    assert (found.level, found.reference, found.ratio) == ("regression", 2.5, 1.5)


def test_a_suspect_kept_without_a_spread_is_listed_again_from_the_factor_exactly_never_called_on_the_nights():
    history = nights(2.0, 4.0)  # one clean night, then the suspect's night, kept with no spread: bar inf
    before = {(*KEY, "wall"): {"bar": math.inf}}
    found, candidate = judge(history, 2.5, model(0.005, night_count=2), before=before)  # 2.5 / 2.0 = 1.25
    assert (found.level, found.reference, found.contender, found.floor, candidate) == (
        "suspect", 2.0, 2.5, model(0.005, night_count=2).floor(KEY, "wall", KLASS, 1.25), False)
    assert found.why == ("a suspect last night too, still 1.25x the night before it; the history is too short "
                         f"to call it: the noise model needs {noise.NIGHTS_TO_CALL} clean nights")
    found, _ = judge(history, 3.0, model(0.005, night_count=2), before=before)  # well past the factor
    assert (found.level, found.ratio) == ("suspect", 1.5)
    assert found.why.startswith("a suspect last night too, still 1.50x")
    assert found.persisting and not found.one_night
    # Both sides re-measured: a candidate, against last night's build (decide). The contender's side alone can
    # refute, never confirm: it would not change what the nights say, so it is listed without one.
    found, candidate = judge(history, 2.5, model(0.005, night_count=2), settings(pythons=BOTH), before)
    assert (found.level, found.reference, found.why.startswith("a suspect last night too, still 1.25x"),
            found.one_night, found.persisting, candidate) == ("suspect", 2.0, True, False, True, True)
    found, candidate = judge(history, 2.5, model(0.005, night_count=2), settings(pythons={"contender": "c"}),
                             before)
    assert (found.level, found.persisting, candidate) == ("suspect", True, False)
    # Below the factor against the night before: judged as any night (against the median of 2 and 4).
    assert judge(history, math.nextafter(2.5, 0), model(0.005, night_count=2), before=before)[0] is None
    # No night before the suspect's with a value (a history cut to it): judged as any night, against it alone.
    for cut in (nights(4.0), nights(None, 4.0)):
        found, candidate = judge(cut, 5.0, model(0.005, night_count=2), settings(pythons=BOTH), before)
        assert (found.persisting, found.reference, candidate) == (False, 4.0, True)


def test_a_suspect_kept_without_a_spread_is_judged_over_tonights_class_move():
    history = nights(2.0, 4.0)  # kept with no spread: bar inf
    before = {(*KEY, "wall"): {"bar": math.inf}}
    young = model(0.005, night_count=2)
    found, _ = judge(history, 3.125, young, before=before, move=1.25)  # 3.125 / 2.0 / 1.25 = 1.25
    assert (found.level, found.reference, found.move, found.relative) == ("suspect", 2.0, 1.25, 1.25)
    assert found.why.startswith("a suspect last night too, still 1.25x the night before it")
    # 1.5625 / 2.0 is under the factor, and so is the rest over tonight's move: judged as any night.
    assert judge(history, 2.5, young, before=before, move=1.25)[0] is None
    # A class faster tonight: 2.1 / 2.0 / 0.8 = 1.3125 is kept, where 2.1 / 2.0 ** 0.8 would be under the factor.
    found, _ = judge(history, 2.1, young, before=before, move=0.8)
    assert (found.level, found.reference, found.relative) == ("suspect", 2.0, pytest.approx(1.3125))


def test_a_suspect_of_another_signal_does_not_persist_here():
    history = nights(2.0, 2.0, 2.0, 2.5)
    found, _ = judge(history, 2.5, model(0.005, night_count=2), before={(*KEY, "gpu"): {"bar": 1.0}})
    assert found.level == "suspect" and found.reference == 2.0  # the median of (2, 2, 2, 2.5)


def test_a_result_is_judged_by_its_ratio_over_its_classs_common_move():
    young = model(0.005, night_count=2)  # a floor of the factor, and no one-night call yet
    found, _ = judge(nights(1.0, 1.0, 1.0), 1.5625, young, move=1.25)  # 1.5625 / 1.25 = 1.25
    assert (found.level, found.ratio, found.move, found.relative) == ("suspect", 1.5625, 1.25, 1.25)
    assert judge(nights(1.0, 1.0, 1.0), math.nextafter(1.5625, 0), young, move=1.25) == (None, False)
    # A class that got faster: unchanged against the reference, 1.25x over the class.
    found, _ = judge(nights(1.0, 1.0, 1.0), 1.0, young, move=0.8)
    assert (found.level, found.ratio, found.relative) == ("suspect", 1.0, 1.25)
    # A one-night call from the ratio over the class: 1.5 / 1.2 = 1.25 at 6 spreads of log 1.25.
    found, _ = judge(nights(1.0, 1.0, 1.0), 1.5, model(math.log(1.25) / 6), move=1.2)
    assert (found.level, found.why, found.move) == ("regression", verdict.ONE_NIGHT_CALL, 1.2)


def test_a_suspect_persists_by_its_ratio_over_tonights_class_move_a_class_move_by_its_own():
    history = nights(2.0, 2.0, 2.0, 2.5)  # the suspect's night last, at 2.5
    before = {(*KEY, "wall"): {"bar": 1.25}}
    found, _ = judge(history, 3.125, model(0.005), before=before, move=1.25)  # 3.125 / 2.0 / 1.25 = 1.25
    assert (found.level, found.reference, found.move, found.relative) == ("regression", 2.0, 1.25, 1.25)
    # Tonight's class move explains the rest: judged as any night (against the median of 2.0, over 1.25).
    found, _ = judge(history, math.nextafter(3.125, 0), model(0.005), before=before, move=1.25)
    assert found is None or found.level != "regression"
    # A class's move kept last night is held by its result's own ratio.
    before[(*KEY, "wall")]["common"] = 9
    found, _ = judge(history, 2.5, model(0.005), before=before, move=1.25)
    assert (found.level, found.move, found.relative) == ("regression", 1.0, 1.25)


CLASS_KEYS = [("gpu", f"c{i}", "causal_bias") for i in range(9)]
STEADY_KEYS = [("gpu", f"s{i}", "materialized") for i in range(9)]


def moved_class(tonight_walls: list[float]) -> tuple[list[Night], Night, dict]:
    """Nine launch-bound results at 2.0 for three nights, then tonight's walls (ratios over 2.0); nine
    GPU-bound results at 1.0 that stay there but one, 1.3x tonight."""
    steady = {key: {"wall": 1.0} for key in STEADY_KEYS}
    history = [Night(None, {key: {"wall": 2.0} for key in CLASS_KEYS} | steady)] * 3
    tonight = Night(None, {key: {"wall": 2.0 * ratio} for key, ratio in zip(CLASS_KEYS, tonight_walls)}
                    | steady | {STEADY_KEYS[0]: {"wall": 1.3}})
    return history, tonight, dict.fromkeys(CLASS_KEYS, "launch-bound") | dict.fromkeys(STEADY_KEYS, "GPU-bound")


def test_a_class_that_moved_as_one_is_one_finding_on_its_results_nearest_the_median():
    # The host 1.4x slower on all nine launch-bound results; two 1.25x slower on top of it. The GPU-bound
    # class did not move (one result 1.3x): its own result is judged alone, no class finding.
    history, tonight, classes = moved_class([1.38, 1.39, 1.75, 1.36, 1.4, 1.42, 1.43, 1.76, 1.37])
    m = noise.NoiseModel({("wall", "launch-bound"): 0.03, ("wall", "GPU-bound"): 0.005}, {}, 2)
    shifts = verdict.class_shifts(history, tonight, classes, 5, 1.25, m)
    assert verdict.class_moves(shifts) == {("launch-bound", "wall"): pytest.approx(1.4), ("GPU-bound", "wall"): 1.0}
    findings, candidates = verdict.classify(history, tonight, m, classes, {}, settings(),
                                            verdict.class_moves(shifts))
    assert candidates == []
    assert [(f.key[1], f.level, f.relative, f.common) for f in findings] == [
        ("c2", "suspect", pytest.approx(1.25), 0), ("c7", "suspect", pytest.approx(1.76 / 1.4), 0),
        ("s0", "suspect", pytest.approx(1.3), 0), ("c4", "suspect", pytest.approx(1.4), 9)]
    assert findings[3].why == ("the launch-bound results moved 1.40x as one (9 results): the "
                               "host's speed or torch; no re-measurement is configured to tell which")
    assert (findings[3].reference, findings[3].ratio, findings[3].move, findings[3].floor) == (
        2.0, pytest.approx(1.4), 1.0, 1.25)
    findings, candidates = verdict.classify(history, tonight, m, classes, {}, settings(pythons=BOTH),
                                            verdict.class_moves(shifts))
    # To re-measure, the class's three results nearest its move (1.40, 1.39, 1.42), most of them to decide.
    assert findings == [] and [(f.key[1], f.common) for f in candidates] == [
        ("c2", 0), ("c7", 0), ("s0", 0), ("c4", 9), ("c1", 9), ("c5", 9)]
    assert {f.why for f in candidates[3:]} == {"the launch-bound results moved 1.40x as one (9 results)"}


def test_a_class_move_at_the_factor_exactly_is_a_finding():
    history, tonight, classes = moved_class([1.25] * 9)
    m = noise.NoiseModel({("wall", "launch-bound"): 0.005, ("wall", "GPU-bound"): 0.005}, {}, 2)
    moves = verdict.class_moves(verdict.class_shifts(history, tonight, classes, 5, 1.25, m))
    assert moves[("launch-bound", "wall")] == 1.25
    findings, _ = verdict.classify(history, tonight, m, classes, {}, settings(), moves)
    assert [(f.key[1], f.common) for f in findings] == [("s0", 0), ("c0", 9)]
    # The same night with the classes' names the other way round: the class's finding counts its own.
    swapped = {key: "GPU-bound" if klass == "launch-bound" else "launch-bound" for key, klass in classes.items()}
    m = noise.NoiseModel({("wall", "launch-bound"): 0.005, ("wall", "GPU-bound"): 0.005}, {}, 2)
    moves = verdict.class_moves(verdict.class_shifts(history, tonight, swapped, 5, 1.25, m))
    findings, _ = verdict.classify(history, tonight, m, swapped, {}, settings(), moves)
    assert [(f.key[1], f.klass, f.common) for f in findings] == [("s0", "launch-bound", 0), ("c0", "GPU-bound", 9)]


def test_where_half_a_class_slowed_its_common_move_stays_with_the_rest_by_the_lower_quartile():
    # Ten results, the host still: five 1.3x slower (one mask's path, say), five unchanged. Their median
    # (the geometric mean of 1.0 and 1.3) would make the five 1.14x over their class, under the factor.
    keys = [("gpu", f"c{i}", "causal_bias") for i in range(10)]
    history = [Night(None, {key: {"wall": 1.0} for key in keys})] * 3
    tonight = Night(None, {key: {"wall": 1.3 if i % 2 else 1.0} for i, key in enumerate(keys)})
    classes = dict.fromkeys(keys, "launch-bound")
    m = noise.NoiseModel({("wall", "launch-bound"): 0.01}, {}, 2)
    (row,) = [r for r in verdict.class_shifts(history, tonight, classes, 5, 1.25, m) if r["signal"] == "wall"]
    assert (row["median"], row["move"]) == (pytest.approx(math.sqrt(1.3)), pytest.approx(math.exp(noise.Z_QUARTILE
                                                                                                   * 0.01)))
    findings, _ = verdict.classify(history, tonight, m, classes, {}, settings(), verdict.class_moves([row]))
    assert [(f.key, f.relative) for f in findings] == [(key, pytest.approx(1.3 / row["move"])) for key in keys[1::2]]
    # Without a spread yet, the lower quartile alone bounds it: here none.
    young = noise.NoiseModel({}, {}, 1)
    (row,) = [r for r in verdict.class_shifts(history, tonight, classes, 5, 1.25, young) if r["signal"] == "wall"]
    assert row["move"] == 1.0


PART_KEYS = [("gpu", f"p{i:02}", "causal_bias") for i in range(16)]
# Six results the host moved a little, ten slowed on top of it (one mask's path, say): their ratios tonight.
PART_RATIOS = [1.00, 1.01, 1.02, 1.03, 1.03, 1.04, 1.09, 1.10, 1.10, 1.12, 1.14, 1.15, 1.16, 1.17, 1.17, 1.18]


def part_moved(ratios: list[float]) -> tuple[list[Night], Night, dict, noise.NoiseModel, list[dict]]:
    """Sixteen launch-bound results at 1.0 for three nights, tonight at ``ratios``; a class spread of 0.04."""
    history = [Night(None, {key: {"wall": 1.0} for key in PART_KEYS})] * 3
    tonight = Night(None, {key: {"wall": ratio} for key, ratio in zip(PART_KEYS, ratios)})
    classes = dict.fromkeys(PART_KEYS, "launch-bound")
    m = noise.NoiseModel({("wall", "launch-bound"): 0.04}, {}, 5)
    return history, tonight, classes, m, verdict.class_shifts(history, tonight, classes, 5, 1.05, m)


def test_where_part_of_a_class_moved_a_result_the_factor_over_its_lower_quartile_is_a_candidate():
    history, tonight, classes, m, shifts = part_moved(PART_RATIOS)
    (row,) = [r for r in shifts if r["signal"] == "wall"]
    # The lower quartile (the 3.75th of 16 ranks) is 1.03; the move is taken out no higher than
    # 1.03 * exp(0.6745 * 0.04) = 1.0582, under the median of 1.10.
    move = 1.03 * math.exp(noise.Z_QUARTILE * 0.04)
    assert (row["median"], row["move"], row["lower"]) == (pytest.approx(1.10), pytest.approx(move),
                                                           pytest.approx(1.03))
    assert verdict.partial_moves(shifts) == {("launch-bound", "wall"): pytest.approx(1.03)}
    moves, lower = verdict.class_moves(shifts), verdict.partial_moves(shifts)
    _, candidates = verdict.classify(history, tonight, m, classes, {}, settings(factor=1.05, pythons=BOTH), moves,
                                     None, lower)
    by_key = {f.key[1]: f for f in candidates if not f.common}
    # 1.09 and the two 1.10 are 1.030-1.040x over the move, 1.058-1.068x over the quartile: candidates over it;
    # 1.12 and up are candidates over the move; 1.04 is 1.010x over the quartile: nothing.
    assert {name: (f.partial, round(f.relative, 4)) for name, f in by_key.items()} == {
        "p06": (True, round(1.09 / 1.03, 4)), "p07": (True, round(1.10 / 1.03, 4)),
        "p08": (True, round(1.10 / 1.03, 4)),
        **{f"p{i:02}": (False, round(PART_RATIOS[i] / move, 4)) for i in range(9, 16)}}
    assert by_key["p06"].why == ("only part of its class moved (1.058x taken out, its lower quartile 1.030x): the "
                                 "factor slower than the quartile")
    assert (by_key["p06"].level, by_key["p06"].move, by_key["p06"].one_night) == ("suspect", pytest.approx(1.03), False)
    # Only both builds can confirm it: with the contender alone, or without a re-measurement, nothing.
    for alone in (settings(factor=1.05, pythons={"contender": "c"}), settings(factor=1.05)):
        findings, candidates = verdict.classify(history, tonight, m, classes, {}, alone, moves, None, lower)
        assert not any(f.partial for f in findings + candidates)
        assert not {f.key[1] for f in findings + candidates} & {"p06", "p07", "p08"}


def test_a_candidate_over_its_class_lower_quartile_from_the_factor_exactly_never_where_the_host_may_explain_it():
    history, m = nights(1.0, 1.0, 1.0), model(0.005)
    both = settings(factor=1.05, pythons=BOTH)
    # 1.1 over a move of 1.06 is 1.038; over a quartile of 1.04, 1.058: a candidate there, from 1.05 exactly.
    found, candidate = verdict.judge(history, KEY, "wall", 1.1, m, KLASS, {}, both, 1.06, None, 1.04)
    assert (found.partial, found.move, found.host_move, candidate) == (True, 1.04, None, True)
    assert verdict.judge(history, KEY, "wall", 1.04 * 1.05, m, KLASS, {}, both, 1.06, None, 1.04)[1]
    assert verdict.judge(history, KEY, "wall", math.nextafter(1.04 * 1.05, 0), m, KLASS, {}, both, 1.06, None,
                         1.04) == (None, False)
    # The factor exactly over the move is a candidate over the move, not over the quartile (1.5625 / 1.25 = 1.25).
    found, candidate = verdict.judge(history, KEY, "wall", 1.5625, m, KLASS, {}, settings(pythons=BOTH), 1.25, None,
                                     1.0)
    assert (found.partial, found.move, candidate) == (False, 1.25, True)
    # A host's share is given only where larger than the move (host_shares): the host alone may move it that
    # far, so nothing, even 1.2x, 1.111 over a share of 1.08.
    assert verdict.judge(history, KEY, "wall", 1.1, m, KLASS, {}, both, 1.06, 1.08, 1.04) == (None, False)
    found, _ = verdict.judge(history, KEY, "wall", 1.2, m, KLASS, {}, both, 1.06, 1.08, 1.04)
    assert (found.partial, found.move, found.host_move) == (False, 1.06, 1.08)


def test_a_class_that_moved_as_one_has_no_candidates_over_its_lower_quartile():
    # All sixteen 1.09-1.11x: the quartile plus 0.674 spreads is above the median, which is taken out whole.
    history, tonight, classes, m, shifts = part_moved([1.09 + 0.02 * i / 15 for i in range(16)])
    assert verdict.partial_moves(shifts) == {}
    _, candidates = verdict.classify(history, tonight, m, classes, {}, settings(factor=1.05, pythons=BOTH),
                                     verdict.class_moves(shifts), None, verdict.partial_moves(shifts))
    assert not any(f.partial for f in candidates)
    # A move taken out as none (the quartile plus its spreads under none): a quartile under 1.0 is taken as 1.0,
    # the move itself, so nothing is judged over less than the move.
    assert verdict.partial_moves([{"class": "launch-bound", "signal": "wall", "move": 1.0, "median": 1.02,
                                   "lower": 0.97}]) == {("launch-bound", "wall"): 1.0}


def test_a_candidate_over_its_class_lower_quartile_keeps_why_when_decided_or_left_out():
    night = Night(None, {KEY: {"wall": 1e-2}, OTHER: {"wall": 1e-2}})
    why = ("only part of its class moved (1.058x taken out, its lower quartile 1.030x): the factor slower than the "
           "quartile")
    part = dataclasses.replace(finding(ratio=1.3, floor=1.25, why=why), partial=True, move=1.03)
    assert part.as_dict()["partial"] is True
    unmeasured = dataclasses.replace(finding(key=OTHER, ratio=1.3, floor=1.25, why=why), partial=True, move=1.03)
    decided, _ = verdict.remeasured_findings([part, unmeasured], "cuda", settings(pythons=BOTH), [], night,
                                             fake_measure(measured(BASE, [v * 1.5 for v in BASE])))
    assert [(f.level, f.why) for f in decided] == [("regression", f"{why}; re-measured: confirmed"),
                                                   ("suspect", f"{why}; not re-measured")]
    part = dataclasses.replace(finding(key=OTHER, ratio=1.3, floor=1.25, why=why), partial=True, move=1.03)
    decided, _ = verdict.remeasured_findings([part, finding(ratio=3.0)], "cuda", settings(pythons=BOTH, budget=0.4),
                                             [], night, fake_measure(measured(BASE, BASE)))
    assert [(f.key, f.level, f.why) for f in decided] == [
        (OTHER, "suspect", f"{why}; not re-measured: beyond the re-measurement's budget of 0 s"),
        (KEY, "noise", "re-measured: refuted")]


def test_a_class_stand_in_is_not_also_a_candidate_over_the_lower_quartile():
    # The class's move of 1.058 is itself the factor: its three results nearest it stand for it, 1.085 among
    # them, which is also 1.053x over the quartile of 1.03: re-measured once, for the class.
    ratios = [1.00, 1.01, 1.02, 1.03, 1.03, 1.04, 1.085, 1.10, 1.10, 1.12, 1.14, 1.15, 1.16, 1.17, 1.17, 1.18]
    history, tonight, classes, m, shifts = part_moved(ratios)
    moves, lower = verdict.class_moves(shifts), verdict.partial_moves(shifts)
    assert moves[("launch-bound", "wall")] >= 1.05
    _, candidates = verdict.classify(history, tonight, m, classes, {}, settings(factor=1.05, pythons=BOTH), moves,
                                     None, lower)
    stand_ins = [f.key[1] for f in candidates if f.common]
    assert stand_ins == ["p05", "p06", "p03"]
    assert sorted(f.key[1] for f in candidates if f.partial) == ["p07", "p08"]  # p06 once, for the class
    assert len({(f.key, f.signal) for f in candidates}) == len(candidates)


def test_a_class_move_below_the_factor_or_from_too_few_results_is_no_finding():
    history, tonight, classes = moved_class([1.24] * 9)
    m = noise.NoiseModel({("wall", "launch-bound"): 0.005, ("wall", "GPU-bound"): 0.005}, {}, 2)
    moves = verdict.class_moves(verdict.class_shifts(history, tonight, classes, 5, 1.25, m))
    findings, _ = verdict.classify(history, tonight, m, classes, {}, settings(), moves)
    assert [f.key[1] for f in findings] == ["s0"]
    history, tonight, classes = moved_class([1.5] * (noise.MOVE_MIN_RESULTS - 1))
    moves = verdict.class_moves(verdict.class_shifts(history, tonight, classes, 5, 1.25, m))
    assert moves == {("GPU-bound", "wall"): 1.0}
    findings, _ = verdict.classify(history, tonight, m, classes, {}, settings(), moves)
    assert [(f.key[1], f.relative, f.common) for f in findings] == [
        (key[1], pytest.approx(1.5), 0) for key in CLASS_KEYS[:noise.MOVE_MIN_RESULTS - 1]] + [("s0", 1.3, 0)]


def test_long_calls_keep_their_own_move_when_the_gpus_clock_moves_the_rest():
    """The GPU's clock moves 24 GPU-bound results' GPU times 1.02x; eight long ones (10 ms and more, near
    the power limit) stay, but one, 1.06x. Over its own class it is 1.06x; in one class with the rest the
    common move is 1.02 and it short of the factor."""
    short = [("gpu", f"s{i}", "causal_bias") for i in range(24)]
    long = [("gpu", f"l{i}", "causal_bias") for i in range(noise.MOVE_MIN_RESULTS)]
    before = {key: {"wall": 2e-3, "gpu": 2e-3} for key in short} | {key: {"wall": 2e-2, "gpu": 2e-2} for key in long}
    history = [Night(None, before)] * 3
    tonight = Night(None, {key: {"wall": 2e-3, "gpu": 2e-3 * 1.02} for key in short}
                    | {key: {"wall": 2e-2, "gpu": 2e-2} for key in long} | {long[0]: {"wall": 2e-2, "gpu": 2.12e-2}})
    classes = result_classes(history, tonight)
    assert [classes[key] for key in short + long] == [noise.GPU_BOUND] * 24 + [noise.LONG_GPU_BOUND] * 8
    m = noise.NoiseModel({(signal, klass): 0.005 for signal in ("wall", "gpu")
                          for klass in (noise.GPU_BOUND, noise.LONG_GPU_BOUND)}, {}, 2)
    moves = verdict.class_moves(verdict.class_shifts(history, tonight, classes, 5, 1.05, m))
    assert moves == {(noise.GPU_BOUND, "wall"): 1.0, (noise.GPU_BOUND, "gpu"): pytest.approx(1.02),
                     (noise.LONG_GPU_BOUND, "wall"): 1.0, (noise.LONG_GPU_BOUND, "gpu"): 1.0}
    findings, _ = verdict.classify(history, tonight, m, classes, {}, settings(factor=1.05), moves)
    assert [(f.key, f.signal, f.relative) for f in findings] == [(long[0], "gpu", pytest.approx(1.06))]
    one_class = dict.fromkeys(short + long, noise.GPU_BOUND)
    moves = verdict.class_moves(verdict.class_shifts(history, tonight, one_class, 5, 1.05, m))
    assert moves[(noise.GPU_BOUND, "gpu")] == pytest.approx(1.02)  # the unmoved are under a quarter of 32
    assert verdict.classify(history, tonight, m, one_class, {}, settings(factor=1.05), moves)[0] == []


def test_classify_judges_each_continuous_signal_and_splits_candidates_from_findings():
    history = [Night(None, {KEY: {"wall": 1.0, "gpu": 1.0}, OTHER: {"wall": 1.0, "gpu": 1.0}})] * 3
    tonight = Night(None, {KEY: {"wall": 2.0, "gpu": 1.0, "aten_ops": 9.0}, OTHER: {"wall": None, "gpu": 0.0}})
    m = noise.NoiseModel({("wall", KLASS): 0.05, ("gpu", KLASS): 0.05}, {}, 3)
    classes = {KEY: KLASS, OTHER: KLASS}
    findings, candidates = verdict.classify(history, tonight, m, classes, {}, settings())
    assert [(f.key, f.signal, f.level) for f in findings] == [(KEY, "wall", "regression")]
    assert candidates == []
    findings, candidates = verdict.classify(history, tonight, m, classes, {}, settings(pythons={"contender": "c"}))
    assert findings == [] and [(f.key, f.signal, f.one_night) for f in candidates] == [(KEY, "wall", True)]


# ---------------------------------------------------------------- counts


def count_nights(*values: float | None, key: tuple = KEY) -> list[Night]:
    return [Night(None, {key: {"aten_ops": v}}) for v in values]


def test_a_count_that_the_history_held_constant_is_a_regression_when_it_grows():
    history = count_nights(85.0, 85.0, 85.0)
    (found,) = verdict.count_findings(history, count_nights(86.0)[0], {KEY: KLASS})
    assert (found.level, found.signal, found.reference, found.contender, found.floor, found.why, found.klass) == (
        "regression", "aten_ops", 85.0, 86.0, 1.0, "exact count changed", KLASS)


def test_a_count_that_went_back_to_an_earlier_value_in_the_history_is_a_suspect():
    history = count_nights(85.0, 84.0, None, 85.0)
    (found,) = verdict.count_findings(history, count_nights(86.0)[0], {KEY: KLASS})
    assert (found.level, found.why) == ("suspect", verdict.COUNT_MOVED)


@pytest.mark.parametrize("counts", [(85.0, 86.0), (84.0, 84.0, 85.0), (84.0, 84.0, 85.0, 86.0, 86.0),
                                    (85.0, 85.0, 84.0, 84.0, 84.0, 85.0, 85.0)])  # back, each value held
def test_a_count_that_changed_again_before_a_night_held_it_is_a_suspect(counts):
    """A step no second night held yet, or one a later step followed at once, is not yet a change that landed:
    a count that moves every night (a nondeterministic path) is never called on a single night."""
    (found,) = verdict.count_findings(count_nights(*counts), count_nights(87.0)[0], {KEY: KLASS})
    assert (found.level, found.why) == ("suspect", verdict.COUNT_MOVED)


@pytest.mark.parametrize("counts", [(84.0, 85.0, None, 85.0), (83.0, 84.0, 84.0, 85.0, 85.0), (85.0, 85.0, 86.0, 86.0),
                                    (84.0, 85.0, 85.0, 85.0)])
def test_a_count_that_stepped_and_held_is_still_held_constant(counts):
    """Steps that each held a second night and never went back are changes that landed: the next change is a
    regression."""
    (found,) = verdict.count_findings(count_nights(*counts), count_nights(87.0)[0], {KEY: KLASS})
    assert (found.level, found.reference, found.why) == ("regression", counts[-1], "exact count changed")


def test_a_count_kept_as_a_suspect_that_stayed_up_is_a_regression_the_next_night():
    """A count that moved in the history (a regression and its fix) makes a new rise a suspect; kept with
    --record-verdict, it persists as a time's suspect does, or it would vanish once last night has it too."""
    history = count_nights(85.0, 85.0, 86.0, 85.0, 85.0)
    (suspect,) = verdict.count_findings(history, count_nights(87.0)[0], {KEY: KLASS})
    assert (suspect.level, suspect.reference, suspect.contender) == ("suspect", 85.0, 87.0)
    kept = {(*KEY, "aten_ops"): suspect.as_dict()}
    tonight = count_nights(87.0)[0]
    (found,) = verdict.count_findings(history + [tonight], count_nights(87.0)[0], {KEY: KLASS}, kept)
    assert (found.level, found.reference, found.contender, found.floor, found.why) == (
        "regression", 85.0, 87.0, 1.0, "persisted: a suspect last night, still as high tonight")
    # The key's other counts are judged as ever beside it.
    both = [Night(None, {KEY: {"aten_ops": ops, "kernels": 9.0}}) for ops in (85.0, 85.0, 86.0, 85.0, 85.0, 87.0)]
    found = verdict.count_findings(both, Night(None, {KEY: {"aten_ops": 87.0, "kernels": 10.0}}), {KEY: KLASS}, kept)
    assert [(f.signal, f.level, f.why) for f in found] == [
        ("aten_ops", "regression", "persisted: a suspect last night, still as high tonight"),
        ("kernels", "regression", "exact count changed")]
    (found,) = verdict.count_findings(history + [tonight], count_nights(88.0)[0], {KEY: KLASS}, kept)
    assert (found.level, found.contender) == ("regression", 88.0)
    # Back down: no persistence (the fall is noise); without a kept suspect, an unchanged count is nothing.
    (found,) = verdict.count_findings(history + [tonight], count_nights(85.0)[0], {KEY: KLASS}, kept)
    assert found.level == "noise"
    assert verdict.count_findings(history + [tonight], count_nights(87.0)[0], {KEY: KLASS}) == []


def test_a_count_that_fell_is_noise():
    (found,) = verdict.count_findings(count_nights(85.0, 85.0), count_nights(84.0)[0], {KEY: KLASS})
    assert (found.level, found.why) == ("noise", "fewer: exact count changed")
    (found,) = verdict.count_findings(count_nights(85.0, 83.0, 85.0), count_nights(84.0)[0], {KEY: KLASS})
    assert (found.level, found.why) == ("noise", "fewer: " + verdict.COUNT_MOVED)


def test_an_unchanged_or_missing_count_is_no_finding():
    classes = {KEY: KLASS}
    assert verdict.count_findings(count_nights(85.0), count_nights(85.0)[0], classes) == []
    assert verdict.count_findings(count_nights(85.0), count_nights(None)[0], classes) == []
    assert verdict.count_findings(count_nights(None), count_nights(85.0)[0], classes) == []
    assert verdict.count_findings(count_nights(0.0), count_nights(1.0)[0], classes)[0].level == "regression"
    # Against last night: an earlier night's other value makes it a suspect, not a finding of its own.
    assert verdict.count_findings(count_nights(86.0, 85.0), count_nights(85.0)[0], classes) == []


# ---------------------------------------------------------------- the re-measurement's decisions

BASE = [100.0 + i for i in range(10)]
BOTH = {"baseline": "b", "contender": "c"}


def measured(base: list[float] | None, new: list[float], key: tuple = KEY, signal: str = "wall"
             ) -> remeasure.Remeasured:
    sides = {"contender": {signal: new}} | ({} if base is None else {"baseline": {signal: base}})
    return remeasure.Remeasured({(key[1], key[2]): sides}, 12.5, process_costs(20))


def test_both_sides_confirmed_is_a_regression_refuted_is_noise_undecided_a_suspect():
    slower = [v * 1.5 for v in BASE]
    found = verdict.decide(finding(), measured(BASE, slower), [], settings(pythons=BOTH))
    assert (found.level, found.why) == ("regression", "re-measured: confirmed")
    assert found.confirmation == {"outcome": "confirmed", "ratio": 1.5, "p_change": 1.0825088224361175e-05,
                                  "p_factor": 1.0825088224361175e-05, "processes": 20}
    found = verdict.decide(finding(), measured(BASE, list(BASE)), [], settings(pythons=BOTH))
    assert (found.level, found.why) == ("noise", "re-measured: refuted")
    noisy = [100, 190, 105, 180, 110, 170, 101, 185, 99, 175]
    found = verdict.decide(finding(), measured(noisy, [v * 1.25 for v in noisy]), [], settings(pythons=BOTH))
    assert (found.level, found.why) == ("suspect", "re-measured: undecided")


def persisting(ratio: float = 2.0, move: float = 1.0, host: float | None = None) -> Finding:
    """A suspect kept last night with no spread, ``ratio`` over the night before it (verdict.judge's)."""
    kept = Finding("suspect", KEY, "wall", 1.0, ratio, KLASS, math.inf, "", move=move, host_move=host,
                   persisting=True)
    kept.why = (f"{verdict.persisting_why(kept)}; the history is too short to call it: the noise model needs 3 "
                "clean nights")
    return kept


def test_a_suspect_kept_from_last_night_is_a_regression_where_slower_than_last_nights_build_else_listed_as_it_was():
    """A real step tonight on a config that last night's noise listed: its re-measurement against last night's
    build confirms it. A step that came last night reads as noise against its own build: listed, never lost."""
    found = verdict.decide(persisting(), measured(BASE, [v * 1.5 for v in BASE]), [], settings(pythons=BOTH))
    assert (found.level, found.why) == ("regression", "a suspect last night too, still 2.00x the night before it; "
                                        "re-measured against last night's build: confirmed, a step of tonight's own")
    assert found.why.endswith(verdict.PERSISTING_CONFIRMED)
    assert found.confirmation["outcome"] == "confirmed"
    found = verdict.decide(persisting(), measured(BASE, list(BASE)), [], settings(pythons=BOTH))
    assert (found.level, found.why) == ("suspect", "a suspect last night too, still 2.00x the night before it; the "
                                        "history is too short to call it: the noise model needs 3 clean nights; "
                                        "re-measured against last night's build: refuted")
    noisy = [100, 190, 105, 180, 110, 170, 101, 185, 99, 175]
    found = verdict.decide(persisting(), measured(noisy, [v * 1.25 for v in noisy]), [], settings(pythons=BOTH))
    assert (found.level, found.why.split("; ")[-1]) == ("suspect", "re-measured against last night's build: undecided")
    # Its ratio in the why is over the class's move, or the host's share in it where larger, as judged.
    for kept in (persisting(2.5, move=1.25), persisting(3.0, move=1.2, host=1.5), persisting(2.4, move=1.2, host=1.1)):
        found = verdict.decide(kept, measured(BASE, [v * 1.5 for v in BASE]), [], settings(pythons=BOTH))
        assert found.why.startswith("a suspect last night too, still 2.00x the night before it; re-measured"), found
    # No values came back for it: still listed, with why.
    found = verdict.decide(persisting(), measured(BASE, []), [], settings(pythons=BOTH))
    assert (found.level, found.why) == ("suspect", "a suspect last night too, still 2.00x the night before it; the "
                                        "history is too short to call it: the noise model needs 3 clean nights; "
                                        "not re-measured")


def test_a_refuted_candidate_slower_beyond_doubt_says_it_is_slower_by_less_than_the_factor():
    """VM 19c: an injected "+5%" re-measured at 1.046, p = 1e-5, was refuted by the factor's margin and listed
    as noise; it is a real change under the factor, and says so. A side alone (nights against processes)
    never says it: its p compares unlike things."""
    steady = [100.0 + i / 100 for i in range(10)]
    for step, why in ((1.046, f"re-measured: refuted, {verdict.SLOWER_UNDER_FACTOR}"), (1.0, "re-measured: refuted"),
                      (0.9, "re-measured: refuted")):
        found = verdict.decide(finding(), measured(steady, [v * step for v in steady]), [],
                               settings(factor=1.05, pythons=BOTH))
        assert (found.level, found.why) == ("noise", why), step
    p_change = found.confirmation["p_change"]
    assert verdict.slower_under_factor(noise.Decision("refuted", 1.046, noise.ALPHA_CONFIRM * 0.99, 0.01))
    for decision in (noise.Decision("refuted", 1.046, noise.ALPHA_CONFIRM, 0.01),
                     noise.Decision("refuted", 1.046, 0.3, 0.01),
                     noise.Decision("refuted", 1.0, 1e-5, 0.01), noise.Decision("undecided", 1.046, 1e-5, 0.5),
                     noise.Decision("confirmed", 1.06, 1e-5, 0.5)):
        assert not verdict.slower_under_factor(decision), decision
    assert p_change == 1.0825088224361175e-05  # the faster side, as certain
    nights = [Night(None, {KEY: {"wall": v}}) for v in steady]
    found = verdict.decide(finding(), measured(None, [v * 1.046 for v in steady]), nights,
                           settings(factor=1.05, pythons={"contender": "c"}))
    assert (found.level, found.why) == ("noise", "re-measured: refuted (contender side only)")
    # A class's stand-ins say it of each one it is true of.
    why = "the launch-bound results moved 1.40x as one (9 results)"
    both = remeasure.Remeasured({key[1:]: {"baseline": {"wall": steady},
                                           "contender": {"wall": [v * step for v in steady]}}
                                 for key, step in zip(STAND_INS, (1.046, 1.0, 1.046), strict=True)},
                                12.5, process_costs(20))
    found, = verdict.decide_together(stand_in_candidates(why), why, [], both, [], settings(factor=1.05, pythons=BOTH))
    assert (found.key[1], found.level, found.why) == ("c0", "noise", (
        f"{why}; for the class, its 3 results nearest the move: refuted 1.046, {verdict.SLOWER_UNDER_FACTOR} (c0 "
        f"causal_bias), refuted 1.000 (c1 causal_bias), refuted 1.046, {verdict.SLOWER_UNDER_FACTOR} (c2 causal_bias)"))


def test_the_findings_table_shows_the_hosts_share_only_where_one_explains_more_than_the_class():
    moved, shared, under = (dataclasses.replace(finding(ratio=1.3, key=("gpu", config, "causal_bias")), move=1.1,
                                                host_move=share) for config, share in (("a", None), ("b", 1.2),
                                                                                       ("c", 1.05)))
    assert report.HOST_SHARE not in report.findings_table([moved, under])  # 1.05: under its class's 1.1
    table = report.findings_table([moved, shared, under]).splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[header.index("over its class") + 1] == report.HOST_SHARE
    shares = [[cell.strip() for cell in row.strip("|").split("|")][header.index(report.HOST_SHARE)]
              for row in table[2:]]
    assert shares == ["", "1.200", ""]


def test_a_gpu_times_decision_carries_the_median_sm_clock_read_beside_each_side():
    sides = {"baseline": {"gpu": BASE, schema.SM_CLOCK: [1980, 1965, 1950, 1410]},
             "contender": {"gpu": [v * 1.5 for v in BASE], schema.SM_CLOCK: [1410, 1395, 1425]}}
    values = remeasure.Remeasured({(KEY[1], KEY[2]): sides}, 12.5, process_costs(20))
    found = verdict.decide(finding(signal="gpu"), values, [], settings(pythons=BOTH))
    assert found.confirmation["sm_clock_mhz"] == {"baseline": 1957.5, "contender": 1410}
    # Four clocks for ten processes, three for ten: decided as measured, and said so.
    assert report.sm_clocks(found.confirmation) == (", SM clock 1958 / 1410 MHz, as measured: not every process "
                                                    "read its SM clock")
    assert "p=1.1e-05, SM clock 1958 / 1410 MHz, as measured" in report.findings_table([found])
    # None read (no NVML): decided as measured, and said so; a wall time: nothing said of the clock.
    sides["baseline"][schema.SM_CLOCK] = sides["contender"][schema.SM_CLOCK] = []
    unclocked = verdict.decide(finding(signal="gpu"), values, [], settings(pythons=BOTH))
    assert "sm_clock_mhz" not in unclocked.confirmation and unclocked.confirmation["at_sm_clock_mhz"] is None
    assert "p=1.1e-05, as measured: not every process read its SM clock)" in report.findings_table([unclocked])
    sides["baseline"]["wall"], sides["contender"]["wall"] = sides["baseline"]["gpu"], sides["contender"]["gpu"]
    sides["baseline"][schema.SM_CLOCK] = [1980]
    walled = verdict.decide(finding(), values, [], settings(pythons=BOTH)).confirmation
    assert "sm_clock_mhz" not in walled and "at_sm_clock_mhz" not in walled
    # The contender's side alone, against the nights: no clock expected, nothing said.
    alone = verdict.decide(finding(signal="gpu"), values, nights(1.0, 1.0, signal="gpu"),
                           settings(pythons={"contender": "c"}))
    assert "at_sm_clock_mhz" not in alone.confirmation
    assert report.sm_clocks({"sm_clock_mhz": {"baseline": None, "contender": 1410.5}}) == ", SM clock - / 1410 MHz"


# A GPU time that follows its clock as noise.GPU_TIME_CLOCK_SLOPE says, 5% slower on the contender: the clocks
# of the contender's processes (1980 down to 1530 MHz) against the baseline's (1500 up to 1950 MHz).
CLOCKS = {"baseline": [1500 + 50 * i for i in range(10)], "contender": [1980 - 50 * i for i in range(10)]}
AT_1800 = {"baseline": [100 + i * 0.01 for i in range(10)], "contender": [105 + i * 0.01 for i in range(10)]}


def clocked(with_clocks: bool = True) -> remeasure.Remeasured:
    sides = {side: {"gpu": [time * (clock / 1800) ** -0.24 for time, clock in zip(AT_1800[side], CLOCKS[side])]}
             | ({schema.SM_CLOCK: CLOCKS[side]} if with_clocks else {}) for side in remeasure.SIDES}
    return remeasure.Remeasured({(KEY[1], KEY[2]): sides}, 12.5, process_costs(20))


def test_a_gpu_time_is_decided_at_one_clock_where_each_process_read_its_clock():
    found = verdict.decide(finding(signal="gpu"), clocked(), [], settings(factor=1.05, pythons=BOTH))
    assert (found.level, found.why) == ("regression", "re-measured: confirmed")
    assert found.confirmation == {"outcome": "confirmed", "ratio": 1.0499775101204458,
                                  "p_change": 1.0825088224361175e-05, "p_factor": 0.7393643508194592,
                                  "processes": 20, "sm_clock_mhz": {"baseline": 1725, "contender": 1755},
                                  "at_sm_clock_mhz": 1740}
    assert report.sm_clocks(found.confirmation) == ", SM clock 1725 / 1755 MHz, taken to 1740"
    # As measured, the contender's faster clocks hide most of it.
    found = verdict.decide(finding(signal="gpu"), clocked(False), [], settings(factor=1.05, pythons=BOTH))
    assert (found.level, found.confirmation["p_change"]) == ("suspect", 0.00032475264673405486)
    assert found.confirmation["at_sm_clock_mhz"] is None
    assert report.sm_clocks(found.confirmation) == ", as measured: not every process read its SM clock"


def test_a_class_moves_decision_names_the_class_it_stands_for():
    common = dataclasses.replace(finding(why="the launch-bound results moved 1.40x as one (9 results)"),
                                 common=9)
    found = verdict.decide(common, measured(BASE, list(BASE)), [], settings(pythons=BOTH))
    assert (found.level, found.why) == ("noise", "the launch-bound results moved 1.40x as one (9 results); this "
                                                 "result re-measured for them: refuted")


def test_a_one_night_call_says_so_in_why():
    found = verdict.decide(finding(one_night=True), measured(BASE, list(BASE)), [], settings(pythons=BOTH))
    assert (found.level, found.why) == ("noise", "one night beyond the noise, re-measured: refuted")
    noisy = [100, 190, 105, 180, 110, 170, 101, 185, 99, 175]
    found = verdict.decide(finding(one_night=True), measured(noisy, [v * 1.25 for v in noisy]), [],
                           settings(pythons=BOTH))
    assert (found.level, found.why) == ("suspect", "one night beyond the noise, re-measured: undecided")


def test_contender_only_the_history_is_the_baseline_it_refutes_never_confirms():
    history = nights(*BASE)
    only = settings(pythons={"contender": "c"})
    found = verdict.decide(finding(), measured(None, [v * 1.5 for v in BASE]), history, only)
    assert (found.level, found.why) == ("suspect", "re-measured: undecided (contender side only)")
    assert found.confirmation["outcome"] == "confirmed" and found.confirmation["processes"] == 20
    found = verdict.decide(finding(), measured(None, list(BASE)), history, only)
    assert (found.level, found.why) == ("noise", "re-measured: refuted (contender side only)")


def test_contender_only_an_undecided_one_night_call_stands_as_a_regression():
    history = nights(*BASE)
    only = settings(pythons={"contender": "c"})
    found = verdict.decide(finding(one_night=True), measured(None, [v * 1.5 for v in BASE]), history, only)
    assert (found.level, found.why) == ("regression", "one night beyond the noise, re-measured: undecided "
                                                      "(contender side only)")
    found = verdict.decide(finding(one_night=True), measured(None, list(BASE)), history, only)
    assert found.level == "noise"
    # With both sides an undecided one-night call stays a suspect.
    noisy = [100, 190, 105, 180, 110, 170, 101, 185, 99, 175]
    found = verdict.decide(finding(one_night=True), measured(noisy, [v * 1.25 for v in noisy]), [],
                           settings(pythons=BOTH))
    assert found.level == "suspect"


def test_contender_only_a_one_night_call_left_out_for_the_budget_stands_as_a_regression():
    """With no baseline Python the night's call is what decides: the budget leaving it out must not turn the
    exit 1 that the night alone gives into a suspect; a candidate that is no one-night call stays a suspect."""
    night = Night(None, {KEY: {"wall": 1e-2}, OTHER: {"wall": 1e-2}, THIRD: {"wall": 1e-2}})
    def candidates() -> list[Finding]:
        return [finding(ratio=3.0, one_night=True), finding(key=OTHER, ratio=2.0, one_night=True),
                finding(key=THIRD, ratio=1.9)]

    decided, summary = verdict.remeasured_findings(candidates(), "cuda", settings(pythons={"contender": "c"},
                                                                                budget=0.4),
                                                   nights(*BASE), night, fake_measure(measured(None, list(BASE))))
    assert [(f.key, f.level, f.why) for f in decided] == [
        (KEY, "noise", "one night beyond the noise, re-measured: refuted (contender side only)"),
        (OTHER, "regression", "beyond 6 sigma of this machine's noise, not re-measured: beyond the "
                              "re-measurement's budget of 0 s (contender side only)"),
        (THIRD, "suspect", "not re-measured: beyond the re-measurement's budget of 0 s")]
    assert (summary["left_out"], summary["left_out_above_floor"]) == (2, 2)
    # With both sides, one left out is a suspect: the baseline side could have weighed in.
    decided, _ = verdict.remeasured_findings(candidates(), "cuda", settings(pythons=BOTH, budget=0.4),
                                             nights(*BASE), night, fake_measure(measured(BASE, list(BASE))))
    assert decided[1].level == "suspect"


def test_contender_only_reads_the_history_of_this_key_and_signal_skipping_missing_nights():
    history = nights(*BASE, None) + nights(5000.0, key=OTHER) + nights(5000.0, signal="gpu")
    found = verdict.decide(finding(), measured(None, list(BASE)), history, settings(pythons={"contender": "c"}))
    assert found.confirmation["processes"] == 20 and found.level == "noise"


def test_a_candidate_without_values_on_either_side_is_not_re_measured():
    for values in (measured(BASE, []), measured([], BASE), measured(BASE, BASE, key=OTHER)):
        found = verdict.decide(finding(), values, [], settings(pythons=BOTH))
        assert (found.level, found.why, found.confirmation) == ("suspect", "not re-measured", None)
    found = verdict.decide(finding(), measured(None, BASE), [], settings(pythons={"contender": "c"}))
    assert (found.level, found.why) == ("suspect", "not re-measured")


def fake_measure(result: remeasure.Remeasured, calls: list | None = None) -> remeasure.Measure:
    def measure(plan, workers, device, processes, seed, budget, factor, most_extra):
        if calls is not None:
            calls.append((list(plan), workers.pythons, device, processes, seed, budget, factor))
        return result
    return measure


def test_remeasured_findings_decide_each_candidate_and_summarize_the_run():
    night = Night(None, {KEY: {"wall": 1e-2, "gpu": 1e-2}, OTHER: {"wall": 1e-2, "gpu": 1e-2}})
    cost = remeasure.ProcessCost("baseline", "cuda", 1, 1, 1e-2, 0.0, 0.5, {"start": 0.2})
    result = dataclasses.replace(measured(BASE, [v * 1.5 for v in BASE]), costs=(cost,))
    calls: list = []
    candidates = [finding(), finding(key=OTHER)]
    decided, summary = verdict.remeasured_findings(candidates, "cuda", settings(pythons=BOTH), [], night,
                                                   fake_measure(result, calls))
    assert [(f.key, f.level, f.why) for f in decided] == [(KEY, "regression", "re-measured: confirmed"),
                                                          (OTHER, "suspect", "not re-measured")]
    assert calls[0][1:] == (BOTH, "cuda", 10, 7, 100.0, 1.25)
    assert summary == {"seed": 7, "seconds": 12.5, "processes": 1, "keys": 1, "rounds": 1, "left_out": 0,
                       "budget": 100.0, "short_budget": 0.0, "short_of_factor": 0, "short_measured": 0,
                       "short_left_out": [], "left_out_above_floor": 0, "called_on_night": 0, "dropped": 0,
                       "refuted_early": 0, "extended": 0, "disturbed": 0, "workers_per_side": 2,
                       "phases": {"process": 0.5, "start": 0.2},
                       "per_process": [{"side": "baseline", "device": "cuda", "keys": 1, "visits": 1,
                                        "call_seconds": 1e-2, "gpu_seconds": 0.0, "seconds": 0.5,
                                        "phases": {"start": 0.2}, "gpu_times": 0, "gpu_block_seconds": 0.0}],
                       "values": result.as_json()}


def short(key: tuple = KEY, ratio: float = 1.2) -> Finding:
    return dataclasses.replace(finding(key=key, ratio=ratio, signal="gpu", why=verdict.SHORT_OF_FACTOR), short=True)


NOISY = [100, 190, 105, 180, 110, 170, 101, 185, 99, 175]


@pytest.mark.parametrize("base, contender, level", [(BASE, [v * 1.5 for v in BASE], "regression"),
                                                    (BASE, BASE, None),  # refuted
                                                    (NOISY, [v * 1.25 for v in NOISY], None)])  # undecided
def test_a_short_candidate_is_reported_only_where_confirmed(base, contender, level):
    assert noise.decide(NOISY, [v * 1.25 for v in NOISY], 1.25).outcome == "undecided"
    night = Night(None, {KEY: {"wall": 1e-2, "gpu": 1e-2}})
    decided, summary = verdict.remeasured_findings([short()], "cuda", settings(pythons=BOTH), [], night,
                                                   fake_measure(measured(base, contender, signal="gpu")))
    assert [(f.level, f.why) for f in decided] == ([] if level is None else [
        (level, "slower by less than the factor, within 2 spreads of it tonight, re-measured: confirmed")])
    assert (summary["short_of_factor"], summary["short_measured"], summary["left_out"]) == (1, 1, 0)


def test_the_short_candidates_measured_are_those_not_left_out():
    keys = [("gpu", f"s{i}", "causal_bias") for i in range(4)]
    night = Night(None, {key: {"wall": 1e-2, "gpu": 1e-2} for key in [KEY, *keys]})
    # The strongest alone fits: of four short candidates none is measured, then all four with room.
    for budget, measured_short in ((0.4, 0), (1e6, 4)):
        _, summary = verdict.remeasured_findings([finding(ratio=3.0), *(short(key=key) for key in keys)], "cuda",
                                                 settings(pythons=BOTH, budget=budget), [], night,
                                                 fake_measure(measured(BASE, BASE)))
        assert (summary["short_of_factor"], summary["short_measured"]) == (4, measured_short)


def test_a_short_candidate_left_out_for_the_budget_is_neither_listed_nor_counted():
    night = Night(None, {KEY: {"wall": 1e-2, "gpu": 1e-2}, OTHER: {"wall": 1e-2, "gpu": 1e-2}})
    decided, summary = verdict.remeasured_findings([short(key=OTHER), finding(ratio=3.0)], "cuda",
                                                   settings(pythons=BOTH, budget=0.4), [], night,
                                                   fake_measure(measured(BASE, BASE)))
    assert [(f.key, f.level) for f in decided] == [(KEY, "noise")]
    assert (summary["short_of_factor"], summary["short_measured"], summary["left_out"],
            summary["left_out_above_floor"]) == (1, 0, 0, 0)
    # named, though: the only place a reader (inject.py score) learns it was a candidate
    assert summary["short_left_out"] == [[*OTHER[1:], "left out"]]
    assert "short of the factor" in report.remeasurement_line(summary)


def test_a_candidate_dropped_for_the_pace_is_named_in_the_summary():
    night = Night(None, {KEY: {"wall": 1e-2, "gpu": 1e-2}, OTHER: {"wall": 1e-2, "gpu": 1e-2}})
    result = dataclasses.replace(measured(BASE, [v * 1.5 for v in BASE]), dropped=(OTHER[1:],))
    _, summary = verdict.remeasured_findings([finding(), short(key=OTHER)], "cuda", settings(pythons=BOTH), [],
                                             night, fake_measure(result))
    assert (summary["dropped"], summary["short_left_out"]) == (1, [[*OTHER[1:], "dropped"]])


@pytest.mark.parametrize("weak_ratio, host, why, above", [
    (1.3, None, "", 1), (1.2, None, " (under its floor of 1.250: one night's noise)", 0),
    (1.3, 1.25, " (under its floor of 1.250 over the host's share); the host's slower dispatch alone would move it "
                "1.25x, 1.040x beyond that", 0),
    (1.7, 1.25, "; the host's slower dispatch alone would move it 1.25x, 1.360x beyond that", 1), (1.3, 1.0, "", 1)])
def test_candidates_beyond_the_budget_say_so_with_the_budget_and_their_floor(weak_ratio, host, why, above):
    night = Night(None, {KEY: {"wall": 1e-2}, OTHER: {"wall": 1e-2}})
    strong, weak = finding(ratio=3.0), finding(key=OTHER, ratio=weak_ratio, floor=1.25)
    weak.host_move = host  # a share no more than its class's move (1.0 here) is not said
    # Only the first (strongest) candidate fits: each key costs more than the budget allows.
    decided, summary = verdict.remeasured_findings([weak, strong], "cuda", settings(pythons=BOTH, budget=0.4), [],
                                                   night, fake_measure(measured(BASE, BASE)))
    assert [(f.key, f.level, f.why) for f in decided] == [
        (OTHER, "suspect", "not re-measured: beyond the re-measurement's budget of 0 s" + why),
        (KEY, "noise", "re-measured: refuted")]
    assert (summary["left_out"], summary["left_out_above_floor"], summary["rounds"], summary["budget"]) == (
        1, above, 1, 0.4)


def test_a_class_move_left_out_for_the_budget_still_names_its_class():
    night = Night(None, {KEY: {"wall": 1e-2}, OTHER: {"wall": 1e-2}})
    first = dataclasses.replace(finding(ratio=1.4, floor=1.25, why="the launch-bound results moved 1.40x as one"),
                                common=20, klass="launch-bound")
    second = dataclasses.replace(finding(key=OTHER, ratio=1.3, floor=1.25, why="the GPU-bound results moved "
                                         "1.30x as one"), common=60)
    decided, _ = verdict.remeasured_findings([second, first], "cuda", settings(pythons=BOTH, budget=0.4), [],
                                             night, fake_measure(measured(BASE, BASE)))
    assert [(f.key, f.level, f.why) for f in decided] == [
        (OTHER, "suspect", "the GPU-bound results moved 1.30x as one; not re-measured: beyond the "
                           "re-measurement's budget of 0 s"),
        (KEY, "noise", "the launch-bound results moved 1.40x as one; this result re-measured for them: refuted")]


def test_a_suspect_kept_from_last_night_left_out_for_the_budget_keeps_why_it_is_listed():
    night = Night(None, {KEY: {"wall": 1e-2}, OTHER: {"wall": 1e-2}})
    kept = dataclasses.replace(persisting(1.3), key=OTHER, floor=1.25)
    decided, _ = verdict.remeasured_findings([kept, finding(ratio=3.0)], "cuda", settings(pythons=BOTH, budget=0.4),
                                             [], night, fake_measure(measured(BASE, BASE)))
    assert [(f.key, f.level, f.why) for f in decided] == [
        (OTHER, "suspect", "a suspect last night too, still 1.30x the night before it; the history is too short to "
                           "call it: the noise model needs 3 clean nights; not re-measured: beyond the "
                           "re-measurement's budget of 0 s"),
        (KEY, "noise", "re-measured: refuted")]


STAND_INS = [("gpu", f"c{i}", "causal_bias") for i in range(3)]


def stand_in_candidates(why: str) -> list[Finding]:
    return [dataclasses.replace(finding(ratio=1.4, floor=1.25, key=k, why=why), common=9, klass="launch-bound")
            for k in STAND_INS]


def stand_ins_measured(*contenders: list[float] | None) -> remeasure.Remeasured:
    """Each stand-in's baseline BASE and contender side as given; None: not measured."""
    return remeasure.Remeasured({key[1:]: {"baseline": {"wall": BASE}, "contender": {"wall": new}}
                                 for key, new in zip(STAND_INS, contenders) if new is not None},
                                12.5, process_costs(20))


@pytest.mark.parametrize("contenders, level, key, outcomes, own", [
    # One stand-in slower on its own beside the host's move: not the class's, a regression of its own.
    ((1.5, 1.0, 1.0), "noise", "c1", ("confirmed 1.500", "refuted 1.000", "refuted 1.000"),
     [("c0", "regression", "confirmed")]),
    # The move confirmed: the stand-in refuted is listed apart, so that no reader takes it for one with the class.
    ((1.0, 1.5, 1.5), "regression", "c1", ("refuted 1.000", "confirmed 1.500", "confirmed 1.500"),
     [("c0", "noise", "refuted")]),
    # No majority: a suspect, on the first of them that is one; the confirmed one a regression of its own.
    ((1.5, 1.0, None), "suspect", "c2", ("confirmed 1.500", "refuted 1.000", "not re-measured"),
     [("c0", "regression", "confirmed")]),
    ((1.0, 1.0, 1.0), "noise", "c0", ("refuted 1.000",) * 3, []),
])
def test_a_class_move_is_decided_by_most_of_its_three_stand_ins(contenders, level, key, outcomes, own):
    why = "the launch-bound results moved 1.40x as one (9 results)"
    candidates = stand_in_candidates(why)
    night = Night(None, {k: {"wall": 1e-2} for k in STAND_INS})
    result = stand_ins_measured(*[None if c is None else [v * c for v in BASE] for c in contenders])
    decided, summary = verdict.remeasured_findings(candidates, "cuda", settings(pythons=BOTH), [], night,
                                                   fake_measure(result))
    assert [(f.key[1], f.level, f.common, f.why) for f in decided] == [
        (key, level, 9, f"{why}; for the class, its 3 results nearest the move: "
                        + ", ".join(f"{outcome} (c{i} causal_bias)" for i, outcome in enumerate(outcomes)))] + [
        (config, own_level, 0, f"{verdict.STOOD_FOR_CLASS} (the class's finding: {key} causal_bias, {level}); "
                               f"re-measured: {outcome}") for config, own_level, outcome in own]
    assert [f.members for f in decided[1:]] == [[]] * len(own)
    assert summary["keys"] == len([c for c in contenders if c is not None])


def stand_ins_sides(*sides: tuple[list[float], list[float]]) -> remeasure.Remeasured:
    """Each stand-in's baseline and contender side as given."""
    return remeasure.Remeasured({key[1:]: {"baseline": {"wall": base}, "contender": {"wall": new}}
                                 for key, (base, new) in zip(STAND_INS, sides, strict=True)}, 12.5, process_costs(20))


@pytest.mark.parametrize("step, levels", [
    # H100 VM 50a's host +10%: two stand-ins confirmed, the third undecided at 1.121; it was listed nowhere.
    (1.25, [("c0", "regression", "confirmed"), ("c1", "regression", "undecided"), ("c2", "regression", "confirmed")]),
    (1.3, [("c0", "regression", "confirmed"), ("c1", "regression", "undecided"), ("c2", "regression", "confirmed")]),
    # Undecided under the factor: its processes say the host, not the build, moved it tonight; listed apart.
    (1.15, [("c0", "regression", "confirmed"), ("c1", "suspect", "undecided"), ("c2", "regression", "confirmed")]),
])
def test_a_confirmed_moves_undecided_stand_in_is_listed_with_it_at_the_factor_else_a_suspect_of_its_own(step, levels):
    why = "the launch-bound results moved 1.40x as one (9 results)"
    slower = (BASE, [v * 1.5 for v in BASE])
    night = Night(None, {k: {"wall": 1e-2} for k in STAND_INS})
    decided, _ = verdict.remeasured_findings(stand_in_candidates(why), "cuda", settings(pythons=BOTH), [], night,
                                             fake_measure(stand_ins_sides(slower, (NOISY, [v * step for v in NOISY]),
                                                                          slower)))
    found = verdict.with_members(decided, 1.25)
    assert [(f.key[1], f.level, f.confirmation["outcome"]) for f in found] == levels
    with_class = ("c0", "causal_bias")
    assert [f.member_of for f in found] == [None, with_class if step >= 1.25 else None, with_class]
    assert found[1].confirmation["ratio"] == pytest.approx(step)
    assert found[1].why == (f"{verdict.MOVED_WITH_ITS_CLASS} (the class's finding: c0 causal_bias, 1.400x)"
                            if step >= 1.25 else
                            f"{verdict.STOOD_FOR_CLASS} (the class's finding: c0 causal_bias, regression); "
                            "re-measured: undecided")


@pytest.mark.parametrize("pythons, steps, level, outcomes, apart", [
    # Both builds re-measured: a stand-in refuted yet slower for certain is listed apart, saying so.
    (BOTH, (1.5, 1.5, 1.1), "regression",
     ("confirmed 1.500", "confirmed 1.500", f"refuted 1.100, {verdict.SLOWER_UNDER_FACTOR}"),
     f"refuted, {verdict.SLOWER_UNDER_FACTOR}"),
    # The contender alone, against the nights: a stand-in slower than them is undecided, never confirmed, and one
    # refuted is not said to be slower for certain (the nights are no side of the re-measurement's).
    ({"contender": "c"}, (1.1, 1.0, 1.5), "noise", ("refuted 1.100", "refuted 1.000", "undecided 1.500"),
     "undecided (contender side only)"),
])
def test_a_stand_in_listed_apart_says_its_outcome_as_a_finding_of_its_own_would(pythons, steps, level, outcomes,
                                                                                 apart):
    why = "the launch-bound results moved 1.40x as one (9 results)"
    history = [Night(None, {k: {"wall": value} for k in STAND_INS}) for value in BASE]
    night = Night(None, {k: {"wall": 1e-2} for k in STAND_INS})
    decided, _ = verdict.remeasured_findings(
        stand_in_candidates(why), "cuda", settings(pythons=pythons), history, night,
        fake_measure(stand_ins_sides(*[(BASE, [v * step for v in BASE]) for step in steps])))
    assert [(f.key[1], f.level) for f in decided] == [("c0", level), ("c2", "noise" if level == "regression" else
                                                                        "suspect")]
    assert decided[0].why == f"{why}; for the class, its 3 results nearest the move: " + ", ".join(
        f"{outcome} (c{i} causal_bias)" for i, outcome in enumerate(outcomes))
    assert decided[-1].why == (f"{verdict.STOOD_FOR_CLASS} (the class's finding: c0 causal_bias, {level}); "
                               f"re-measured: {apart}")


def test_a_stand_in_that_is_a_candidate_of_its_own_as_well_is_decided_once():
    why = "the launch-bound results moved 1.40x as one (9 results)"
    own = dataclasses.replace(finding(ratio=1.4, floor=1.25, key=STAND_INS[0]), klass="launch-bound")
    night = Night(None, {k: {"wall": 1e-2} for k in STAND_INS})
    decided, _ = verdict.remeasured_findings([*stand_in_candidates(why), own], "cuda", settings(pythons=BOTH), [],
                                             night, fake_measure(stand_ins_measured(*[[v * c for v in BASE]
                                                                                      for c in (1.5, 1.0, 1.0)])))
    assert [(f.key[1], f.level, f.stood_for) for f in decided] == [
        ("c1", "noise", None), ("c0", "regression", ("c1", "causal_bias")), ("c0", "regression", None)]
    assert decided[1].as_dict()["stood_for"] == {"config": "c1", "mask": "causal_bias"}
    found = verdict.with_members(decided, 1.25)
    assert [(f.key[1], f.level, f.common, f.why) for f in found] == [
        ("c1", "noise", 9, f"{why}; for the class, its 3 results nearest the move: confirmed 1.500 (c0 causal_bias), "
                           "refuted 1.000 (c1 causal_bias), refuted 1.000 (c2 causal_bias)"),
        ("c0", "regression", 0, "re-measured: confirmed")]
    # A budget that fits one key: the plan takes the class's nearest stand-in and leaves out the candidate of its
    # own on the same key; that one is decided on the stand-in's processes, not listed as not re-measured.
    calls: list = []
    decided, summary = verdict.remeasured_findings(
        [*stand_in_candidates(why), own], "cuda", settings(pythons=BOTH, budget=1.0), [], night,
        fake_measure(stand_ins_measured([v * 1.5 for v in BASE]), calls))
    assert [plan for plan, *_ in calls] == [[("c0", "causal_bias")]]
    assert [(f.key[1], f.level, f.why) for f in verdict.with_members(decided, 1.25)] == [
        ("c1", "suspect", f"{why}; for the class, its 3 results nearest the move: confirmed 1.500 (c0 causal_bias), "
                          "not re-measured (c1 causal_bias), not re-measured (c2 causal_bias)"),
        ("c0", "regression", "re-measured: confirmed")]
    assert summary["left_out"] == 2


def test_a_stand_in_that_persisted_as_the_class_is_listed_once():
    """The class's finding kept as a suspect last night on c4, the host slow two nights running: c4 persisted
    (a regression by its night, not a candidate) and, a stand-in again, undecided beside two refuted."""
    walls = [1.38, 1.39, 1.75, 1.36, 1.4, 1.42, 1.43, 1.76, 1.37]
    steady = {key: {"wall": 1.0} for key in STEADY_KEYS}
    slow = Night(None, {key: {"wall": 2.0 * r} for key, r in zip(CLASS_KEYS, walls, strict=True)} | steady)
    history = [Night(None, {key: {"wall": 2.0} for key in CLASS_KEYS} | steady)] * 3 + [slow]
    classes = dict.fromkeys(CLASS_KEYS, "launch-bound") | dict.fromkeys(STEADY_KEYS, "GPU-bound")
    m = noise.NoiseModel({("wall", "launch-bound"): 0.03, ("wall", "GPU-bound"): 0.005}, {}, 2)
    moves = verdict.class_moves(verdict.class_shifts(history, slow, classes, 5, 1.25, m))
    before = {("gpu", "c4", "causal_bias", "wall"): {"bar": 1.25, "common": 9}}
    findings, candidates = verdict.classify(history, slow, m, classes, before, settings(pythons=BOTH), moves)
    assert [(f.key[1], f.level) for f in findings] == [("c4", "regression")]
    assert [f.key[1] for f in candidates if f.common] == ["c4", "c1", "c5"]
    sides = {"c4": (NOISY, [v * 1.15 for v in NOISY]), "c1": (BASE, BASE), "c5": (BASE, BASE)}
    result = remeasure.Remeasured({(f.key[1], f.key[2]): {"baseline": {"wall": sides[f.key[1]][0]},
                                                          "contender": {"wall": sides[f.key[1]][1]}}
                                   for f in candidates if f.key[1] in sides}, 12.5, process_costs(20))
    decided, _ = verdict.remeasured_findings(candidates, "cuda", settings(pythons=BOTH), history, slow,
                                             fake_measure(result))
    assert ("c4", "suspect") in [(f.key[1], f.level) for f in decided if f.stood_for]
    found = verdict.with_members(findings + decided, 1.25)
    assert [(f.level, f.why) for f in found if f.key[1] == "c4" and not f.common] == [
        ("regression", "persisted: a suspect last night, still slower tonight")]


@pytest.mark.parametrize("others, level", [(1.5, "regression"), (1.0, "noise")])
def test_a_stand_in_that_is_a_short_candidate_left_unconfirmed_keeps_its_own_outcome(others, level):
    """A GPU time short of the factor is reported only where confirmed: undecided, its stand-in's outcome is
    what is listed, apart from its class confirmed or ruled out."""
    why = "the GPU-bound results moved 1.40x as one (9 results)"
    stand_ins = [dataclasses.replace(finding(ratio=1.4, floor=1.25, key=k, why=why, signal="gpu"), common=9,
                                     klass="GPU-bound") for k in STAND_INS]
    own_short = dataclasses.replace(short(key=STAND_INS[1], ratio=1.12), klass="GPU-bound")
    sides = {STAND_INS[0]: (BASE, [v * others for v in BASE]), STAND_INS[1]: (NOISY, [v * 1.15 for v in NOISY]),
             STAND_INS[2]: (BASE, [v * others for v in BASE])}
    result = remeasure.Remeasured({key[1:]: {"baseline": {"gpu": base}, "contender": {"gpu": new}}
                                   for key, (base, new) in sides.items()}, 12.5, process_costs(20))
    night = Night(None, {key: {"wall": 1e-2, "gpu": 1e-2} for key in STAND_INS})
    decided, _ = verdict.remeasured_findings([*stand_ins, own_short], "cuda",
                                             dataclasses.replace(settings(pythons=BOTH), short_budget=100.0), [],
                                             night, fake_measure(result))
    found = verdict.with_members(decided, 1.25)
    assert [(f.key[1], f.level, f.stood_for) for f in found] == [
        ("c0", level, None), ("c1", "suspect", ("c0", "causal_bias")), *([("c2", "regression", None)] * (
            level == "regression"))]


@pytest.mark.parametrize("stand_ins, level, apart, listed", [
    (1.4, "regression", [], {"c0": 1.38, "c4": 1.40, "c3": 1.36, "c6": 1.25}),  # c6 at the factor exactly
    # Two of three confirmed: the refuted stand-in (c4) is not listed with them; it is listed apart, as noise.
    ((1.4, 1.4, 1.0), "regression", [("c4", "noise")], {"c0": 1.38, "c3": 1.36, "c6": 1.25}),
    # c4 not re-measured: a result of the class like the others, listed with it as its night says.
    ((1.4, 1.4, None), "regression", [], {"c0": 1.38, "c3": 1.36, "c4": 1.40, "c6": 1.25}),
    # Re-measured 1.3 where the night read 1.39: the host's part 1.07 taken out, c6 is not the build's.
    (1.3, "regression", [], {"c0": 1.38, "c4": 1.40, "c3": 1.36}),
    (1.0, "noise", [], {}),
])
def test_a_confirmed_class_move_lists_each_result_that_moved_the_factor_with_it(stand_ins, level, apart, listed):
    """The build slowed most of a class: its move confirmed on the three results nearest it, its other two
    stand-ins and each of its results the factor (1.25) slower beyond the host's part are regressions with
    it, one that has its own finding as that one says; refuted (the host's move), nothing but the class."""
    history, tonight, classes = moved_class([1.38, 1.39, 1.75, 1.36, 1.4, 1.42, 1.25, 1.76, 1.0])
    m = noise.NoiseModel({("wall", "launch-bound"): 0.03, ("wall", "GPU-bound"): 0.005}, {}, 2)
    moves = verdict.class_moves(verdict.class_shifts(history, tonight, classes, 5, 1.25, m))
    _, candidates = verdict.classify(history, tonight, m, classes, {}, settings(pythons=BOTH), moves)
    assert [(f.key[1], f.common, len(f.members)) for f in candidates] == [
        ("c2", 0, 0), ("c7", 0, 0), ("s0", 0, 0), ("c1", 9, 8), ("c0", 9, 8), ("c4", 9, 8)]
    votes = stand_ins if isinstance(stand_ins, tuple) else (stand_ins,) * 3
    steps = {"c2": 1.75, "c7": 1.76, "s0": 1.0, "c1": votes[0], "c0": votes[1], "c4": votes[2]}
    result = remeasure.Remeasured({(f.key[1], f.key[2]): {"baseline": {"wall": BASE},
                                                          "contender": {"wall": [v * steps[f.key[1]] for v in BASE]}}
                                   for f in candidates if steps[f.key[1]]}, 12.5, process_costs(20))
    decided, _ = verdict.remeasured_findings(candidates, "cuda", settings(pythons=BOTH), history, tonight,
                                             fake_measure(result))
    persisted = Finding("regression", CLASS_KEYS[5], "wall", 2.0, 2.84, "launch-bound", 1.25, "persisted")
    found = verdict.with_members([persisted, *decided], 1.25)[1:]  # c5's own finding stands: none more for it
    assert [(f.key[1], f.level) for f in found[:4 + len(apart)]] == [
        ("c2", "regression"), ("c7", "regression"), ("s0", "noise"), ("c1", level), *apart]
    members = found[4 + len(apart):]
    why = f"{verdict.MOVED_WITH_ITS_CLASS} (the class's finding: c1 causal_bias, 1.390x)"
    assert [(f.key[1], f.level, f.why) for f in members] == [(key, "regression", why) for key in listed]
    assert [f.ratio for f in members] == pytest.approx(list(listed.values()))
    # The stand-ins re-measured keep their re-measurement; the others have none, their host's part taken out.
    assert [f.confirmation is not None for f in members] == [steps.get(key) is not None for key in listed]
    assert [f.move for f in members] == pytest.approx([max(1.0, 1.39 / votes[0])] * len(listed), rel=1e-9)
    assert [(f.common, f.members) for f in found[4:]] == [(0, [])] * len(found[4:])
    assert [f.as_dict()["member_of"] for f in members] == [{"config": "c1", "mask": "causal_bias"}] * len(listed)
    assert [f.member_of for f in found[:4 + len(apart)]] == [None] * (4 + len(apart))  # none with the class
    assert verdict.with_members([persisted, *found], 1.25)[1:] == found  # each once


@pytest.mark.parametrize("level", ["suspect", "noise"])
def test_only_a_confirmed_class_move_lists_its_members(level):
    member = dataclasses.replace(finding(level="regression", ratio=1.3, key=("gpu", "m", "causal_bias")))
    moved = dataclasses.replace(finding(level=level, ratio=1.3, why="moved as one"), common=9, members=[member])
    assert verdict.with_members([moved], 1.25) == [moved]
    # Confirmed without a re-measured ratio of its own, the class's finding leaves the host no part.
    confirmed = dataclasses.replace(moved, level="regression")
    assert [(f.key[1], f.move) for f in verdict.with_members([confirmed], 1.25)] == [("cfg", 1.0), ("m", 1.0)]


def test_two_stand_ins_that_disagree_leave_the_class_a_suspect_without_either_ones_numbers():
    """One confirmed, one refuted is no majority: a suspect, carried by the refuted one (its outcome, noise, is
    the least), its confirmation not the class's; the confirmed one a regression of its own."""
    why = "the launch-bound results moved 1.40x as one (9 results)"
    found, confirmed = verdict.decide_together(stand_in_candidates(why)[:2], why, [],
                                               stand_ins_measured([v * 1.5 for v in BASE], BASE), [],
                                               settings(pythons=BOTH))
    assert (found.key[1], found.level, found.confirmation, found.why) == (
        "c1", "suspect", None,
        f"{why}; for the class, its 2 results nearest the move: confirmed 1.500 (c0 causal_bias), refuted 1.000 "
        "(c1 causal_bias)")
    assert (confirmed.key[1], confirmed.level, confirmed.confirmation["ratio"]) == ("c0", "regression", 1.5)
    found, = verdict.decide_together(stand_in_candidates(why)[:2], why, [], stand_ins_measured(BASE, BASE), [],
                                     settings(pythons=BOTH))
    assert (found.key[1], found.level, found.confirmation["outcome"]) == ("c0", "noise", "refuted")


def test_stand_ins_left_out_count_as_undecided_and_none_measured_leave_the_nearest():
    why = "the launch-bound results moved 1.40x as one (9 results)"
    candidates = stand_in_candidates(why)
    night = Night(None, {k: {"wall": 1e-2} for k in STAND_INS})
    # Only the first fits the budget: confirmed alone, it is not most of three; the class stays a suspect.
    decided, summary = verdict.remeasured_findings(candidates, "cuda", settings(pythons=BOTH, budget=0.4), [], night,
                                                   fake_measure(stand_ins_measured([v * 1.5 for v in BASE])))
    assert [(f.key[1], f.level, f.confirmation and f.confirmation["outcome"], f.why) for f in decided] == [
        ("c1", "suspect", None, f"{why}; for the class, its 3 results nearest the move: confirmed 1.500 "
                                "(c0 causal_bias), not re-measured (c1 causal_bias), not re-measured (c2 causal_bias)"),
        ("c0", "regression", "confirmed", f"{verdict.STOOD_FOR_CLASS} (the class's finding: c1 causal_bias, "
                                          "suspect); re-measured: confirmed")]
    assert (summary["keys"], summary["left_out"]) == (1, 2)
    # Another class's stronger move taken first, none fits: one finding for the class, on its nearest result.
    other = dataclasses.replace(finding(key=OTHER, ratio=3.0, floor=1.25, why="the GPU-bound results moved 3.00x "
                                        "as one (60 results)"), common=60)
    decided, _ = verdict.remeasured_findings([*stand_in_candidates(why), other], "cuda",
                                             settings(pythons=BOTH, budget=0.4), [],
                                             Night(None, night.values | {OTHER: {"wall": 1e-2}}),
                                             fake_measure(measured(BASE, BASE, key=OTHER)))
    assert [(f.key[1], f.level, f.why) for f in decided] == [
        ("c0", "suspect", f"{why}; not re-measured: beyond the re-measurement's budget of 0 s"),
        ("other", "noise", "the GPU-bound results moved 3.00x as one (60 results); this result re-measured for "
                           "them: refuted")]


def test_a_failed_re_measurement_keeps_a_class_move_one_suspect_that_names_its_class():
    def broken(*args):
        raise remeasure.RemeasureError("the baseline worker (b) stopped answering")
    why = "the launch-bound results moved 1.40x as one (9 results)"
    night = Night(None, {k: {"wall": 1e-2} for k in [*STAND_INS, KEY]})
    decided, _ = verdict.remeasured_findings([*stand_in_candidates(why), finding()], "cuda", settings(pythons=BOTH),
                                             [], night, broken)
    assert [(f.key[1], f.level, f.why) for f in decided] == [
        ("c0", "suspect", f"{why}; re-measurement failed: the baseline worker (b) stopped answering"),
        ("cfg", "suspect", "re-measurement failed: the baseline worker (b) stopped answering")]


FAILED_FIELDS = ("seed", "error", "refused", "keys", "processes", "rounds", "left_out", "unmeasured",
                 "short_left_out", "called_on_night")


@pytest.mark.parametrize("error, refused", [(remeasure.RemeasureError, False), (remeasure.TorchMismatch, True)])
def test_a_failed_re_measurement_keeps_every_candidate_a_suspect_saying_why(error, refused):
    """A worker that broke and a side refused for its torch (not broken: the check exits 0 for it) alike."""
    def broken(*args):
        raise error("the baseline worker (b) stopped answering")
    night = Night(None, {KEY: {"wall": 1e-2, "gpu": 1e-2}, OTHER: {"wall": 1e-2, "gpu": 1e-2}})
    candidates = [finding(), short(key=OTHER)]  # one short of the factor: nothing to list where unmeasured
    decided, summary = verdict.remeasured_findings(candidates, "cuda", settings(pythons=BOTH), [], night, broken)
    assert [(f.key, f.level, f.why) for f in decided] == [
        (KEY, "suspect", "re-measurement failed: the baseline worker (b) stopped answering")]
    assert {name: summary[name] for name in FAILED_FIELDS} == {
        "seed": 7, "error": "the baseline worker (b) stopped answering", "refused": refused, "keys": 0,
        "processes": 0, "rounds": 0, "left_out": 0, "unmeasured": 1, "short_left_out": [[*OTHER[1:], "failed"]],
        "called_on_night": 0}
    assert report.remeasurement_line(summary) == "failed: the baseline worker (b) stopped answering"


def failing_in_round_two(candidates: list[Finding], fits: Finding, first: remeasure.Remeasured,
                         failure: str) -> tuple[list[Finding], dict, list, float]:
    """The candidates re-measured with a budget that fits ``fits`` alone in a first round, which measures
    ``first``; the second round's worker fails with ``failure``. (decided, summary, each round's plan, budget)."""
    night = Night(None, {finding.key: {"wall": 1e-2, "gpu": 1e-2} for finding in candidates})
    one = remeasure.fitted_plan([fits], night, 10, "cuda", 1e9)[2]
    budget = remeasure.round_seconds(10, 1.0, one, remeasure.workers_seconds("cuda", True)) + 0.05
    rounds: list = []

    def measure(plan, *rest):
        rounds.append(list(plan))
        if len(rounds) > 1:
            raise remeasure.RemeasureError(failure)
        return dataclasses.replace(first, seconds=0.01)

    decided, summary = verdict.remeasured_findings(candidates, "cuda", settings(factor=1.05, pythons=BOTH,
                                                                                budget=budget), [], night, measure)
    return decided, summary, rounds, budget


def test_a_round_that_fails_after_one_that_confirmed_leaves_that_regression_and_only_its_own_candidates_suspects():
    """The first round fits one key and confirms it 1.5x slower; the second, for the candidate it left out, loses
    its worker: the confirmation stands, the candidate never measured is a suspect that says why."""
    strong, weak = finding(ratio=3.0), finding(key=OTHER, ratio=1.6)
    shortfall = dataclasses.replace(short(key=THIRD, ratio=1.04), floor=1.05)
    first = measured(BASE, [v * 1.5 for v in BASE])
    decided, summary, rounds, budget = failing_in_round_two([strong, weak, shortfall], strong, first,
                                                            "the contender worker (c) stopped answering")
    assert rounds == [[KEY[1:]], [OTHER[1:], THIRD[1:]]]
    assert [(f.key, f.level, f.why) for f in decided] == [
        (KEY, "regression", "re-measured: confirmed"),
        (OTHER, "suspect", "re-measurement failed: the contender worker (c) stopped answering")]
    assert {name: summary[name] for name in ("error", "keys", "rounds", "left_out", "left_out_above_floor",
                                             "unmeasured", "short_left_out", "called_on_night")} == {
        "error": "the contender worker (c) stopped answering", "keys": 1, "rounds": 1, "left_out": 0,
        "left_out_above_floor": 0, "unmeasured": 1, "short_left_out": [[*THIRD[1:], "failed"]], "called_on_night": 0}
    assert [row["config"] for row in summary["values"]] == ["cfg"]  # the first round's values are kept
    assert report.remeasurement_line(summary) == (
        f"1 config(s) and mask(s) in 20 processes, 0.0 s of a {budget:.0f} s budget, 0 of 1 GPU time(s) short of "
        "the factor with what the budget left; then a round failed (the contender worker (c) stopped answering): "
        "the 1 candidate(s) not yet measured stay suspects, what the rounds before it measured is decided")


def test_a_call_that_stands_is_called_on_its_night_where_a_later_round_failed():
    """A dead worker does not move the night's builds: the call the night makes in each of them stands."""
    strong, call = finding(key=OTHER, ratio=3.0), dataclasses.replace(gpu_call(), stands=True)
    decided, summary, _, _ = failing_in_round_two([call, strong], strong, measured(BASE, BASE, key=OTHER),
                                                  "the baseline worker (b) stopped answering")
    assert [(f.key, f.level, f.why) for f in decided] == [
        (KEY, "regression", f"{verdict.ONE_NIGHT_CALL}, in each build of its night; not re-measured: re-measurement "
                            "failed: the baseline worker (b) stopped answering"),
        (OTHER, "noise", "re-measured: refuted")]
    assert (summary["called_on_night"], summary["unmeasured"], summary["left_out"]) == (1, 0, 0)


def test_a_call_that_stands_is_called_on_its_night_where_the_first_round_failed():
    def broken(*args):
        raise remeasure.RemeasureError("the baseline worker (b) stopped answering")
    night = Night(None, {KEY: {"wall": 1e-2, "gpu": 1e-2}, OTHER: {"wall": 1e-2, "gpu": 1e-2}})
    call = dataclasses.replace(gpu_call(), stands=True)
    decided, summary = verdict.remeasured_findings([call, finding(key=OTHER)], "cuda", settings(pythons=BOTH), [],
                                                   night, broken)
    assert [(f.key, f.level, f.why) for f in decided] == [
        (KEY, "regression", f"{verdict.ONE_NIGHT_CALL}, {verdict.CALLED_WHERE_FAILED}: the baseline worker (b) "
                            "stopped answering"),
        (OTHER, "suspect", "re-measurement failed: the baseline worker (b) stopped answering")]
    assert {name: summary[name] for name in FAILED_FIELDS} == {
        "seed": 7, "error": "the baseline worker (b) stopped answering", "refused": False, "keys": 0, "processes": 0,
        "rounds": 0, "left_out": 0, "unmeasured": 1, "short_left_out": [], "called_on_night": 1}
    assert report.remeasurement_line(summary) == (
        "failed: the baseline worker (b) stopped answering; 1 GPU time(s) called on their night all the same: one "
        "night beyond the noise in each of its builds")


# ---------------------------------------------------------------- names, floors, the model


def test_name_changes_list_what_appeared_and_vanished_sorted():
    before = {"cfg": {"causal_bias": {"operators": {"aten::mm": 2, "aten::foo": 2}, "kernels": {"k": 1}}}}
    after = {"cfg": {"causal_bias": {"operators": {"aten::mm": 2, "aten::alias": 1}, "kernels": {"k": 3}}}}
    assert verdict.name_changes(before, after, "cfg", "causal_bias") == "+aten::alias x1; -aten::foo x2; +k x2"
    assert verdict.name_changes(before, before, "cfg", "causal_bias") == ""
    assert verdict.name_changes({}, after, "cfg", "materialized") == ""


def test_floor_rows_give_each_keys_floors_and_none_where_infinite():
    m = noise.NoiseModel({("wall", KLASS): 0.02}, {}, 5)
    rows = verdict.floor_rows(m, [KEY], {KEY: KLASS}, 1.05, {(KEY, "wall"): 1.25})
    assert rows == [{"grid": "gpu", "config": "cfg", "mask": "causal_bias", "class": KLASS,
                     "wall_floor": math.exp(0.06), "wall_relative": 1.25, "gpu_floor": None, "gpu_relative": None}]
    assert verdict.floor_rows(m, [KEY], {KEY: KLASS}, 1.05)[0]["wall_relative"] is None


def test_each_results_move_away_from_its_class_is_over_its_window_and_its_classs_move():
    other = ("gpu", "other", "materialized")
    history = [Night(None, {KEY: {"wall": w, "gpu": 4.0}, other: {"wall": 1.0}}) for w in (9.0, 1.0, 2.0, 2.0, 3.0)]
    tonight = Night(None, {KEY: {"wall": 3.0, "gpu": 5.0}, other: {"wall": 1.5, "gpu": 1.0}})
    moved = verdict.relatives(history, tonight, {KEY: KLASS, other: "launch-bound"}, 4,
                              {(KLASS, "wall"): 1.2, ("launch-bound", "wall"): 0.5})
    # KEY's wall: the median of its last four nights (2.0), its class's move 1.2; its GPU time: no move.
    # other's GPU time has no history: no reference, no relative.
    assert moved == {(KEY, "wall"): 3.0 / 2.0 / 1.2, (KEY, "gpu"): 5.0 / 4.0, (other, "wall"): 1.5 / 1.0 / 0.5}
    assert verdict.relative_to_class(2.0, 3.0, 1.2) == 3.0 / 2.0 / 1.2


def test_the_fitted_model_reads_each_keys_history_and_the_calibration_pair():
    history = [Night(None, {KEY: {"wall": w, "gpu": 1.0}}) for w in (1.0, 2.0, 4.0, 8.0, 16.0)]
    tonight = Night(None, {KEY: {"wall": 1.0, "gpu": 1.0}})
    fitted = verdict.fitted_model(history, tonight, {KEY: KLASS}, None)
    two = noise.robust_sigma([math.log(2.0)] * 4)
    assert fitted.pooled == {("wall", KLASS): two, ("gpu", KLASS): 0.0}
    assert fitted.own == {(*KEY, "wall"): (two, 4), (*KEY, "gpu"): (0.0, 4)}
    assert fitted.nights == 5
    pair = (Night(None, {KEY: {"wall": 1.0, "gpu": 1.0}}), Night(None, {KEY: {"wall": 1.0, "gpu": 4.0}}))
    fitted = verdict.fitted_model(history, tonight, {KEY: KLASS}, pair)
    assert fitted.own == {(*KEY, "wall"): (noise.robust_sigma([math.log(2.0)] * 4 + [0.0]), 5),
                          (*KEY, "gpu"): (noise.robust_sigma([0.0] * 4 + [math.log(4.0)]), 5)}


# ---------------------------------------------------------------- budget and nights


class FakeStore:
    """The two questions default_budget and earlier_nights ask a store."""

    def __init__(self, runs: list[RunFile], seconds: float | None = None) -> None:
        self._runs, self.seconds = runs, seconds

    def run_seconds(self, run: RunFile) -> float | None:
        return self.seconds

    def runs(self, machine: str) -> list[RunFile]:
        return self._runs

    def choose_run(self, machine: str, commit: str, runs: list[RunFile]) -> RunFile:
        return next(run for run in runs if run.commit_hash.startswith(commit))


def store(runs: list[RunFile] | None = None, seconds: float | None = None) -> ResultsStore:
    return FakeStore(runs or [], seconds)  # type: ignore[return-value]


def test_the_budget_is_0_6_of_the_night_at_least_30_s_and_120_s_without_durations():
    run = RunFile(Path("r.json"), "box", "c" * 40, 1, 0)
    assert verdict.default_budget(store(seconds=100.0), run) == 60.0
    assert verdict.default_budget(store(seconds=50.0), run) == 30.0
    assert verdict.default_budget(store(seconds=60.0), run) == 36.0
    assert verdict.default_budget(store(seconds=20.0), run) == 30.0
    assert verdict.default_budget(store(seconds=None), run) == 120.0
    assert verdict.default_budget(store(seconds=0.0), run) == 120.0
    assert (verdict.BUDGET_SHARE, verdict.MIN_BUDGET, verdict.DEFAULT_BUDGET) == (0.6, 30.0, 120.0)


def runs_of(*commits: str, dates: tuple[int, ...] | None = None) -> list[RunFile]:
    return [RunFile(Path(f"{c}.json"), "box", c * 40, (dates or tuple(range(len(commits))))[i], 0)
            for i, c in enumerate(commits)]


def test_earlier_nights_are_the_last_history_runs_before_the_contender():
    runs = runs_of("a", "b", "c", "d", "e")
    assert verdict.earlier_nights(store(runs), "box", runs[3], None, 14) == runs[:3]
    assert verdict.earlier_nights(store(runs), "box", runs[3], None, 2) == runs[1:3]
    assert verdict.earlier_nights(store(runs), "box", runs[3], None, 1) == runs[2:3]
    assert verdict.earlier_nights(store(runs), "box", runs[0], None, 14) == []


def test_earlier_nights_leave_out_other_runs_of_the_contenders_commit():
    runs = runs_of("a", "b", "b", "c")
    assert verdict.earlier_nights(store(runs), "box", runs[2], None, 14) == runs[:1]


def test_earlier_nights_are_strictly_older_in_any_order_of_hashes():
    runs = runs_of("e", "d", "a")
    assert verdict.earlier_nights(store(runs), "box", runs[2], None, 14) == runs[:2]
    same_time = runs_of("a", "b", "c", dates=(0, 1, 1))
    assert verdict.earlier_nights(store(same_time), "box", same_time[2], None, 14) == same_time[:1]


def test_a_baseline_of_the_contenders_commit_in_another_file_is_refused():
    runs = runs_of("a", "b", "b")
    with pytest.raises(ToolError, match=f"^baseline and contender are the same commit {'b' * 8}$"):
        verdict.earlier_nights(store(runs), "box", runs[2], "b", 14)


def test_earlier_nights_end_at_the_baseline_where_given():
    runs = runs_of("a", "b", "c", "d", "e")
    assert verdict.earlier_nights(store(runs), "box", runs[4], "bbbb", 14) == runs[:2]
    assert verdict.earlier_nights(store(runs), "box", runs[4], "dddd", 2) == runs[2:4]
    with pytest.raises(ToolError, match=f"^baseline and contender are the same commit {'e' * 8}$"):
        verdict.earlier_nights(store(runs), "box", runs[4], "eeee", 14)
    with pytest.raises(ToolError, match=f"^baseline {'d' * 8} is not older than the contender$"):
        verdict.earlier_nights(store(runs), "box", runs[2], "dddd", 14)
    same_date = runs_of("a", "b", dates=(5, 5))
    with pytest.raises(ToolError, match="is not older"):
        verdict.earlier_nights(store(same_date), "box", same_date[0], "bbbb", 14)


# ---------------------------------------------------------------- the check, persistence, readable nights


def test_keep_suspects_writes_each_suspect_with_its_bar(tmp_path):
    (tmp_path / "box").mkdir()
    results = ResultsStore(tmp_path)
    wall = finding("suspect", floor=1.4)
    low = finding("suspect", floor=1.1, key=OTHER)
    count = Finding("suspect", KEY, "aten_ops", 85.0, 86.0, KLASS, 1.0, "moved")
    gone = finding("noise")
    run = RunFile(tmp_path / "box" / "x.json", "box", "f" * 40, 1, 0)
    v = verdict.Verdict("box", run, run, 3, 1.25, [wall, low, count, gone], [], [], {}, None)
    verdict.keep_suspects(results, v)
    kept = json.loads((tmp_path / "box" / f"{'f' * 40}.verdict").read_text())
    assert kept["contender"] == "f" * 40
    assert [(s["config"], s["signal"], s["bar"]) for s in kept["suspects"]] == [
        ("cfg", "wall", 1.4), ("other", "wall", 1.25), ("cfg", "aten_ops", 1.25)]


# ---------------------------------------------------------------- the whole check on hand-written nights

LABELS = ["1, 4, (16, 48), 64, 'float32'", "1, 4, (1, 48), 64, 'float32'",
          "2, 4, (16, 48), 64, 'float32'", "2, 4, (1, 48), 64, 'float32'"]  # results_factory's SMALL_PARAMS


def write_nights(results_dir: Path, tonight_walls: list[float | None], tonight_ops: list[float]) -> list[RunFile]:
    """Three steady nights (1 ms on every config and mask, 85 operators), then tonight's materialized walls
    and causal_bias operator counts."""
    from results_factory import write_run

    for index in range(4):
        last = index == 3
        walls = {"track_wall_time_materialized": tonight_walls if last else [1e-3] * 4,
                 "track_wall_time_causal_bias": [1e-3] * 4}
        figures = {"track_aten_ops_causal_bias": tonight_ops if last else [85.0] * 4}
        write_run(results_dir, "box", str(index + 1) * 40, 1_000 + index, walls, figures=figures)
    return ResultsStore(results_dir).runs("box")


def test_the_check_finds_a_one_night_call_and_counts_sorted_regressions_first(tmp_path):
    runs = write_nights(tmp_path, [2e-3, 1.04e-3, 1e-3, 1e-3], [85.0, 85.0, 86.0, 84.0])
    store = ResultsStore(tmp_path)
    names = {LABELS[2]: {"causal_bias": {"operators": {"aten::mm": 1}}}}
    (tmp_path / "box" / f"{runs[2].commit_hash}.dispatch").write_text(json.dumps(names))
    names[LABELS[2]]["causal_bias"]["operators"]["aten::alias"] = 1
    (tmp_path / "box" / f"{runs[3].commit_hash}.dispatch").write_text(json.dumps(names))
    v = verdict.check(store, "box", runs[:3], runs[3], None, settings(factor=1.05))
    assert [(f.level, f.key, f.signal, f.ratio, f.why) for f in v.findings] == [
        ("regression", ("cpu", LABELS[0], "materialized"), "wall", 2.0, verdict.ONE_NIGHT_CALL),
        ("regression", ("cpu", LABELS[2], "causal_bias"), "aten_ops", 86.0 / 85.0, "exact count changed"),
        ("noise", ("cpu", LABELS[3], "causal_bias"), "aten_ops", 84.0 / 85.0, "fewer: exact count changed")]
    assert (v.machine, v.baseline, v.contender, v.nights, v.factor) == ("box", runs[2], runs[3], 3, 1.05)
    assert v.names == {(LABELS[2], "causal_bias"): "+aten::alias x1"}
    assert (v.not_measured, v.remeasurement, v.steps) == ([], None, None)
    assert len(v.floors) == 8 and v.floors[0] == {"grid": "cpu", "config": LABELS[1], "mask": "causal_bias",
                                                  "class": "unknown", "wall_floor": 1.05, "wall_relative": 1.0,
                                                  "gpu_floor": None, "gpu_relative": None}
    # Each result's move away from its class, the rows in the configs' order (the class of eight did not
    # move: six of them stayed put).
    moved = {row["config"]: row["wall_relative"] for row in v.floors if row["mask"] == "materialized"}
    assert moved == {LABELS[0]: 2e-3 / 1e-3, LABELS[1]: 1.04e-3 / 1e-3, LABELS[2]: 1.0, LABELS[3]: 1.0}


def test_the_check_re_measures_a_result_over_its_classs_lower_quartile_where_part_of_the_class_moved(tmp_path):
    """Eight results that alternate 1.00 and 1.04 ms over three nights; tonight the causal_bias ones
    1.00-1.03x their reference, the materialized ones 1.075-1.15x: the move taken out is capped at 1.034, the
    class's lower quartile 1.017, so the 1.075x one (1.040x over the move) is re-measured over the quartile."""
    from results_factory import write_run

    steady = [[1.00, 1.04, 1.00, 1.04], [1.04, 1.00, 1.04, 1.00], [1.00, 1.04, 1.00, 1.04]]
    tonight = {"track_wall_time_materialized": [1.075, 1.10, 1.12, 1.15],
               "track_wall_time_causal_bias": [1.00, 1.01, 1.02, 1.03]}
    for index, walls in enumerate(steady):
        write_run(tmp_path, "box", str(index + 1) * 40, 1_000 + index,
                  dict.fromkeys(tonight, [wall * 1e-3 for wall in walls]))
    write_run(tmp_path, "box", "4" * 40, 1_003, {method: [ratio * reference * 1e-3 for ratio, reference in
                                                          zip(ratios, steady[-1])]
                                                 for method, ratios in tonight.items()})
    store = ResultsStore(tmp_path)
    runs = store.runs("box")
    part = ("cpu", LABELS[0], "materialized")
    v = verdict.check(store, "box", runs[:3], runs[3], None, settings(factor=1.05, pythons=BOTH),
                      fake_measure(measured(BASE, [value * 1.075 for value in BASE], key=part)))
    (row,) = v.shifts
    assert (row["median"], row["move"], row["lower"]) == (pytest.approx(1.05226, abs=1e-5),
                                                          pytest.approx(1.03399, abs=1e-5),
                                                          pytest.approx(1.01749, abs=1e-5))
    (found,) = [f for f in v.findings if f.key == part]
    assert (found.level, found.partial, found.move, found.ratio) == ("regression", True, row["lower"],
                                                                      pytest.approx(1.075))
    assert found.why == ("only part of its class moved (1.034x taken out, its lower quartile 1.017x): the factor "
                         "slower than the quartile; re-measured: confirmed")
    # The others over the move, as before; none of the causal_bias ones.
    assert sorted((f.key[1], f.partial) for f in v.findings if f.key != part) == sorted(
        [(LABELS[1], False), (LABELS[2], False), (LABELS[3], False)])


def test_an_impossible_count_tonight_is_listed_never_judged_and_the_night_stands(tmp_path):
    """A profile that lost its CUDA records counted -1 syncs on an H200 night, and the check refused the whole
    file: tonight's other results went unjudged. Read as not measured, it is listed; the rest is judged."""
    runs = write_nights(tmp_path, [2e-3, 1e-3, 1e-3, 1e-3], [85.0, -1.0, 85.0, 85.0])
    v = verdict.check(ResultsStore(tmp_path), "box", runs[:3], runs[3], None, settings(factor=1.05))
    assert [(f.level, f.key, f.signal) for f in v.findings] == [("regression", ("cpu", LABELS[0], "materialized"),
                                                                 "wall")]
    assert v.not_measured == [f"contender AttentionBiasNightCPU.track_aten_ops_causal_bias({LABELS[1]}): "
                              "impossible value -1.0, read as not measured"]


def test_a_count_the_last_night_failed_to_take_is_judged_against_the_night_before():
    """A count lost on one night (the profiler lost its records) leaves the next night's count judged
    against the last night that has it, not unjudged."""
    history = [Night(None, {KEY: {"aten_ops": 85.0}}), Night(None, {KEY: {"aten_ops": None}})]
    changed = verdict.count_findings(history, Night(None, {KEY: {"aten_ops": 86.0}}), {KEY: "unknown"})
    assert [(f.level, f.signal, f.reference, f.contender, f.why) for f in changed] == [
        ("regression", "aten_ops", 85.0, 86.0, "exact count changed")]
    assert verdict.count_findings(history, Night(None, {KEY: {"aten_ops": 85.0}}), {KEY: "unknown"}) == []
    assert verdict.count_findings(history[1:], Night(None, {KEY: {"aten_ops": 86.0}}), {KEY: "unknown"}) == []


def test_the_check_names_tonights_failures_and_the_nights_set_aside(tmp_path, capsys):
    runs = write_nights(tmp_path, [None, 1e-3, 1e-3, 1e-3], [85.0] * 4)
    runs[0].path.write_text("{broken")
    v = verdict.check(ResultsStore(tmp_path), "box", runs[:3], runs[3], None, settings(factor=1.05))
    assert v.findings == [] and v.nights == 2 and v.names == {}
    assert v.not_measured[0] == f"contender AttentionBiasNightCPU.materialized({LABELS[0]}): failed"
    assert v.not_measured[1].startswith(f"set aside, not read: corrupt results file {runs[0].path}: ")
    assert len(v.not_measured) == 2
    assert capsys.readouterr().err == v.not_measured[1] + "\n"


def test_a_night_that_measured_nothing_is_set_aside_and_the_last_night_is_the_last_that_measured(tmp_path, capsys):
    from results_factory import write_run

    write_nights(tmp_path, [1e-3] * 4, [85.0] * 4)
    write_run(tmp_path, "box", "5" * 40, 1_004, {f"track_wall_time_{mask}": [None] * 4 for mask in schema.MASKS})
    runs = ResultsStore(tmp_path).runs("box")[2:]
    nights, set_aside = verdict.readable_nights(ResultsStore(tmp_path), runs, 14)
    assert [night.run for night in nights] == runs[:2]
    assert set_aside == [f"set aside: the night of {'5' * 8} measured nothing (every result failed)"]
    # Read from the newest back: the nights wanted are the last that measured, those before them unread.
    assert verdict.readable_nights(ResultsStore(tmp_path), runs, 1) == (nights[1:], set_aside)
    assert verdict.readable_nights(ResultsStore(tmp_path), runs[:1] + runs[2:], 1) == (nights[:1], set_aside)


def test_the_history_is_read_from_the_newest_back_around_the_nights_set_aside(tmp_path):
    """Damaged and failed nights in among measured ones: each said, in the nights' order, none stopping the reading
    of those before it; reading stops once ``wanted`` nights measured."""
    from results_factory import write_run

    walls = {f"track_wall_time_{mask}": [1e-3] * 4 for mask in schema.MASKS}
    failed = {f"track_wall_time_{mask}": [None] * 4 for mask in schema.MASKS}
    for index, values in enumerate([walls, walls, failed, walls, walls, failed, walls]):
        write_run(tmp_path, "box", str(index + 1) * 40, 1_000 + index, values)
    runs = ResultsStore(tmp_path).runs("box")
    runs[3].path.write_text("{broken")  # read by the check only: the store indexed it before
    nights, set_aside = verdict.readable_nights(ResultsStore(tmp_path), runs, 14)
    assert [night.run for night in nights] == [runs[0], runs[1], runs[4], runs[6]]
    assert [line[:24] for line in set_aside] == ["set aside: the night of ", "set aside, not read: cor",
                                                 "set aside: the night of "]
    assert (set_aside[0][24:32], set_aside[2][24:32]) == ("33333333", "66666666")
    assert verdict.readable_nights(ResultsStore(tmp_path), runs, 2) == (nights[2:], set_aside[2:])


def test_damaged_files_are_said_where_they_may_be_of_the_nights_read(tmp_path, capsys):
    """A file whose head does not read is not among the runs: said where its date is unknown, or between the
    oldest night read and tonight's."""
    runs = write_nights(tmp_path, [1e-3] * 4, [85.0] * 4)  # dates 1000-1003
    from results_factory import write_run

    walls = {f"track_wall_time_{mask}": [1e-3] * 4 for mask in schema.MASKS}
    write_run(tmp_path, "box", "f" * 40, 1_004, walls)
    # Cut short: the head reads, and a date another run shares has its file read whole (set aside, date known).
    damaged = {name: write_run(tmp_path, "box", commit * 40, date, walls)
               for name, commit, date in (("before", "a", 1_000), ("between", "b", 1_001), ("tonight", "c", 1_003),
                                          ("after", "d", 1_004), ("unknown", "e", 1_002))}
    for name, path in damaged.items():
        path.write_text("" if name == "unknown" else path.read_text()[:300])
    store = ResultsStore(tmp_path)
    assert len(store.set_aside("box")) == 5
    v = verdict.check(store, "box", runs[1:3], runs[3], None, settings(factor=1.05))
    said = [line.split(" ")[7].rsplit("/", 1)[-1][:1] for line in v.not_measured]
    assert said == ["e", "b", "c"], v.not_measured  # the heads that do not read first, then by name
    assert capsys.readouterr().err.splitlines() == v.not_measured


def test_each_side_is_re_measured_with_the_torch_its_night_measured_with():
    """The baseline side stands for the history's last night, the contender's for tonight: each worker must have
    that night's torch (remeasure.Worker.ready)."""
    seen: list = []

    def measure(plan, workers, *_):
        seen.append(workers.torch)
        return measured(BASE, BASE)

    history = [Night(None, {}, torch="a" * 40), Night(None, {}, torch="d" * 40), Night(None, {}, torch="b" * 40)]
    tonight = Night(None, {KEY: {"wall": 1e-2, "gpu": 1e-2}}, torch="c" * 40)
    verdict.remeasured_findings([finding()], "cuda", settings(pythons=BOTH), history, tonight, measure)
    assert seen == [{"baseline": "b" * 40, "contender": "c" * 40}]


def test_the_check_without_a_night_that_measured_has_no_baseline_and_names_those_set_aside(tmp_path):
    """Tonight is then the first night (check_regressions.first_night)."""
    runs = write_nights(tmp_path, [1e-3] * 4, [85.0] * 4)
    runs[2].path.write_text("{broken")
    with pytest.raises(verdict.NoBaseline) as raised:
        verdict.check(ResultsStore(tmp_path), "box", runs[2:3], runs[3], None, settings())
    assert len(raised.value.set_aside) == 1
    assert raised.value.set_aside[0].startswith(f"set aside, not read: corrupt results file {runs[2].path}: ")


def test_the_check_re_measures_its_candidates_on_their_grids_device(tmp_path):
    runs = write_nights(tmp_path, [2e-3, 1e-3, 1e-3, 1e-3], [85.0] * 4)
    calls: list = []
    slower = measured(BASE, [v * 2 for v in BASE], key=("cpu", LABELS[0], "materialized"))
    v = verdict.check(ResultsStore(tmp_path), "box", runs[:3], runs[3], None,
                      settings(factor=1.05, pythons=BOTH), fake_measure(slower, calls))
    assert [plan for plan, *_ in calls] == [[(LABELS[0], "materialized")]] and calls[0][2] == "cpu"
    assert [(f.level, f.why) for f in v.findings] == [
        ("regression", "one night beyond the noise, re-measured: confirmed")]
    assert v.remeasurement is not None and v.remeasurement["rounds"] == 1


def test_the_check_fits_the_calibration_pairs_steps(tmp_path):
    runs = write_nights(tmp_path, [1.3e-3, 1e-3, 1e-3, 1e-3], [85.0] * 4)
    store = ResultsStore(tmp_path)
    # Without the pair: steady nights, a spread of 0.005, 1.3x is called; with a pair 2x apart, half of the
    # results 2x slower and half 2x faster (no common move to take out), a third of the steps are log 2:
    # a spread of log 2 / 1.645 and a floor of 3.5 leave 1.3x no finding at all.
    assert verdict.check(store, "box", runs[:3], runs[3], None, settings(factor=1.05)).word == "regression"
    from results_factory import write_run

    walls = {"track_wall_time_materialized": [2e-3] * 4, "track_wall_time_causal_bias": [0.5e-3] * 4}
    write_run(tmp_path, "box", "f" * 40, 5, walls, figures={"track_aten_ops_causal_bias": [85.0] * 4})
    pair = (runs[0], next(r for r in ResultsStore(tmp_path).runs("box") if r.commit_hash == "f" * 40))
    v = verdict.check(ResultsStore(tmp_path), "box", runs[:3], runs[3], pair, settings(factor=1.05))
    assert (v.word, v.findings) == ("no regression", [])
    assert v.floors[0]["wall_floor"] == math.exp(3 * math.log(2.0) / 1.645)


def test_changed_names_only_where_a_count_is_a_finding_above_noise(tmp_path):
    runs = write_nights(tmp_path, [1e-3] * 4, [85.0] * 4)
    store = ResultsStore(tmp_path)
    before = {"cfg": {"causal_bias": {"operators": {"aten::mm": 1}}}}
    after = {"cfg": {"causal_bias": {"operators": {"aten::mm": 2}}}}
    (tmp_path / "box" / f"{runs[2].commit_hash}.dispatch").write_text(json.dumps(before))
    (tmp_path / "box" / f"{runs[3].commit_hash}.dispatch").write_text(json.dumps(after))
    count = Finding("suspect", KEY, "aten_ops", 85.0, 86.0, KLASS, 1.0, "moved")
    unchanged = Finding("suspect", OTHER, "kernels", 5.0, 6.0, KLASS, 1.0, "moved")
    assert verdict.changed_names(store, "box", runs[2], runs[3], [count, unchanged]) == {
        ("cfg", "causal_bias"): "+aten::mm x1"}
    count.level = "".join(["noi", "se"])  # read at run time: equal to the literal, not the same object
    assert verdict.changed_names(store, "box", runs[2], runs[3], [count, finding("regression")]) == {}


def test_the_check_sorts_regressions_suspects_then_noise_each_by_the_larger_change_first(tmp_path):
    """A count regression of 1.01x and one of 1.12x, a suspect of 2x and noise of 3x: the level first."""
    runs = write_nights(tmp_path, [3e-3, 2e-3, 1e-3, 1e-3], [85.0, 86.0, 95.0, 85.0])
    noisy = [100, 190, 105, 180, 110, 170, 101, 185, 99, 175]
    values = {(LABELS[0], "materialized"): {"baseline": {"wall": BASE}, "contender": {"wall": BASE}},
              (LABELS[1], "materialized"): {"baseline": {"wall": noisy},
                                            "contender": {"wall": [v * 1.25 for v in noisy]}}}
    result = remeasure.Remeasured(values, 1.0, process_costs(20))
    v = verdict.check(ResultsStore(tmp_path), "box", runs[:3], runs[3], None,
                      settings(factor=1.05, pythons=BOTH), fake_measure(result))
    assert [(f.level, f.key[1], f.signal, f.ratio) for f in v.findings] == [
        ("regression", LABELS[2], "aten_ops", 95.0 / 85.0), ("regression", LABELS[1], "aten_ops", 86.0 / 85.0),
        ("suspect", LABELS[1], "wall", 2.0), ("noise", LABELS[0], "wall", 3.0)]


def test_a_count_after_an_unchanged_one_is_still_read():
    history = [Night(None, {KEY: {"aten_ops": 85.0, "python_calls": 6.0}})] * 2
    tonight = Night(None, {KEY: {"aten_ops": 85.0, "python_calls": 7.0}})
    assert [(f.signal, f.level) for f in verdict.count_findings(history, tonight, {KEY: KLASS})] == [
        ("python_calls", "regression")]


def test_the_settings_of_a_check_are_fixed():
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings().factor = 2.0  # type: ignore[misc]


# ---------------------------------------------------------------- tonight per class


def test_each_class_and_signal_gives_its_median_move_and_how_many_moved_by_the_factor():
    """Three launch-bound results 1.3x, 1.3x and 0.9x their reference (the median of the window), one
    GPU-bound 1.3x (counted in its own class only: the classes' counts differ); a result without a
    reference or without a value tonight is not counted."""
    keys = [("gpu", f"c{i}", "causal_bias") for i in range(6)]
    history = [Night(None, {keys[0]: {"wall": 1.0, "gpu": 0.5}, keys[1]: {"wall": 2.0},
                            keys[2]: {"wall": 3.0}, keys[3]: {"wall": 4.0}, keys[4]: {"wall": 5.0}}),
               Night(None, {keys[0]: {"wall": 3.0, "gpu": 0.5}, keys[1]: {"wall": 2.0},
                            keys[2]: {"wall": 3.0}, keys[3]: {"wall": 4.0}})]
    tonight = Night(None, {keys[0]: {"wall": 2.6, "gpu": 0.5}, keys[1]: {"wall": 2.6}, keys[2]: {"wall": 2.7},
                           keys[3]: {"wall": 5.2}, keys[4]: {"wall": None}, keys[5]: {"wall": 1.0}})
    classes = dict.fromkeys(keys[:3] + keys[4:], "launch-bound") | {keys[3]: "GPU-bound"}
    m = noise.NoiseModel({("wall", "launch-bound"): 0.01}, {}, 2)
    assert verdict.class_shifts(history, tonight, classes, 5, 1.25, m) == [
        {"class": "GPU-bound", "signal": "wall", "results": 1, "median": pytest.approx(1.3), "slower": 1,
         "move": None, "lower": None},
        {"class": "launch-bound", "signal": "wall", "results": 3, "median": pytest.approx(1.3), "slower": 2,
         "move": None, "lower": None},
        {"class": "launch-bound", "signal": "gpu", "results": 1, "median": 1.0, "slower": 0, "move": None,
         "lower": None},
    ]
    # The window: the last night alone puts c0's reference at 3.0, 0.8x tonight.
    assert verdict.class_shifts(history, tonight, classes, 1, 1.25, m)[1]["median"] == pytest.approx(0.9)
    assert verdict.class_shifts(history, tonight, classes, 5, 1.3, m)[1]["slower"] == 2  # at the factor counts


def test_the_report_shows_tonight_against_the_reference_by_class():
    v = a_verdict([])
    v.shifts = [{"class": "launch-bound", "signal": "wall", "results": 37, "median": 1.409, "slower": 36,
                 "move": 1.3071},
                {"class": "unknown", "signal": "wall", "results": 7, "median": 0.98, "slower": 0, "move": None}]
    text = report.markdown(v)
    assert ("| class        | signal   | results   | median tonight / reference   | slower by 1.25 or more   "
            "| common move taken out   |\n"
            "|--------------|----------|-----------|------------------------------|--------------------------"
            "|-------------------------|\n"
            "| launch-bound | wall     | 37        | 1.409                        | 36                       "
            "| 1.307                   |\n"
            "| unknown      | wall     | 7         | 0.980                        | 0                        "
            "| none (under 8 results)  |") in text
    assert json.loads(report.as_json(v))["shifts"] == v.shifts
    v.shifts = []
    assert "## Tonight against the reference, by class\n\nWhere most results of a class moved together, the " \
           "host's speed moved, or a path of torch's common to them. That common move (the median, no higher " \
           "than the lower quartile allows where only part of the class moved) is taken out of each result's " \
           "ratio before it is judged ('over its class'); a common move beyond the factor is itself a finding, " \
           "its three results nearest it re-measured for the class, most of them deciding. Where only part of " \
           "the class moved, a result short of the factor over that move, the factor slower than the class's " \
           "lower quartile, is re-measured over the quartile ('only part of its class moved').\n\nnone\n" \
           in report.markdown(v)


# ---------------------------------------------------------------- a night that measured nothing of a grid


def night_of(commit: str, *grids: str) -> Night:
    return Night(RunFile(Path(f"{commit}.json"), "box", commit * 40, 1, 0),
                 {(grid, "c", "causal_bias"): {"wall": 1.0} for grid in grids})


def test_tonight_without_a_grid_the_last_night_measured_is_a_broken_night():
    history = [night_of("a", "cpu"), night_of("a", "cpu"), night_of("b", "gpu", "cpu")]
    with pytest.raises(verdict.NightNotMeasured) as raised:
        verdict.unmeasured(history, night_of("c", "cpu"))
    assert str(raised.value) == ("tonight (cccccccc) measured no result of the GPU grid, which the last night "
                                 "(bbbbbbbb) measured: a broken night, not judged")
    with pytest.raises(verdict.NightNotMeasured, match=r"^tonight \(cccccccc\) measured no result of the CPU and GPU "
                                                        r"grid, which the last night \(bbbbbbbb\)"):
        verdict.unmeasured(history, night_of("c"))
    assert verdict.commit_of(Night(None, {})) == "no run"


def test_a_grid_the_last_night_lacked_or_one_tonight_adds_is_no_broken_night():
    history = [night_of("a", "gpu", "cpu")] * 2 + [night_of("b", "cpu")]  # the last night's grids are what counts
    assert verdict.unmeasured(history, night_of("c", "cpu")) is None
    assert verdict.unmeasured(history, night_of("c", "gpu", "cpu")) is None


def test_a_broken_night_of_the_cpu_grid_does_not_refuse_the_repaired_gpu_night_after_it():
    """A night recorded on the CPU grid (no CUDA seen) was refused when it was tonight's; the next GPU night
    is judged against the GPU night before it, the broken ones set aside and named."""
    history = [night_of("a", "gpu"), night_of("b", "cpu"), night_of("d", "cpu")]
    kept, lines = verdict.after_broken_nights(history, night_of("c", "gpu"))
    assert kept == history[:1]
    assert lines == [f"set aside: the night of {c * 8} measured none of tonight's grids, which the nights before "
                     "it measured (a broken night)" for c in "bd"]
    assert verdict.unmeasured(kept, night_of("c", "gpu")) is None
    longer = [night_of("a", "gpu"), night_of("e", "gpu"), night_of("b", "cpu")]
    kept, lines = verdict.after_broken_nights(longer, night_of("c", "gpu"))
    assert (kept, len(lines)) == (longer[:2], 1)
    # Tonight the broken one (only the CPU grid after GPU nights): nothing set aside, tonight refused.
    gpu_nights = [night_of("a", "gpu"), night_of("b", "gpu")]
    assert verdict.after_broken_nights(gpu_nights, night_of("c", "cpu")) == (gpu_nights, [])
    # A machine that measures the CPU grid from now on: its second CPU night is judged against the first.
    moved = gpu_nights + [night_of("d", "cpu")]
    assert verdict.after_broken_nights(moved, night_of("c", "cpu")) == (moved, [])


def test_the_values_left_out_tonight_are_named_with_why():
    """Measured in part (with what failed) first, then those of a benchmark whose version changed tonight, then
    the values of a config no night of the history measured."""
    first, second = ("cpu", "a", "materialized"), ("cpu", "b", "causal_bias")
    tonight = Night(None, {first: {"wall": None, "gpu": 1.0}, second: {"wall": 2.0, "gpu": None}},
                    in_part={second: {"gpu": ["GPU pass 1: building failed: OOM", "x"]}})
    bumped = [schema.benchmark_name("AttentionBiasNightCPU", "track_kernels_materialized")]
    history = [Night(None, {first: {"wall": 1.0}}), Night(None, {first: {"wall": None}})]
    assert verdict.unjudged(tonight, bumped, history) == [
        {"config": "b", "mask": "causal_bias", "signal": "gpu", "why": "measured in part: GPU pass 1: building "
                                                                         "failed: OOM; x"},
        {"config": "a", "mask": "materialized", "signal": "kernels", "why": "a new version of its benchmark"},
        {"config": "b", "mask": "causal_bias", "signal": "wall", "why": verdict.NEW_CONFIG}]
    assert verdict.unjudged(Night(None, {first: {"wall": 1.0}}), [], history) == []


# ---------------------------------------------------------------- a GPU time's one-night call that stands


def gpu_call(key: tuple = KEY, ratio: float = 1.3, move: float = 1.0, one_night: bool = True,
             common: int = 0) -> Finding:
    return dataclasses.replace(finding(ratio=ratio, signal="gpu", key=key, floor=1.05, one_night=one_night),
                               move=move, common=common)


GPU_SPREAD = noise.NoiseModel({("gpu", KLASS): 0.01}, {}, 10)
BAR = math.exp(noise.Z_CALL * 0.01)  # each build one the night would call alone


@pytest.mark.parametrize("call, builds, stands", [
    (gpu_call(), [1.5, BAR], True),
    (gpu_call(), [1.5, math.nextafter(BAR, 0)], False),  # one build short of it: a slow stretch of one pass
    (gpu_call(), [BAR, BAR, 1.01], False),  # a night of three builds: each of them
    (gpu_call(), [BAR, BAR, 1.5], True),
    (gpu_call(), [BAR], False),  # one build: it is the night's value, no pass replicates it
    (gpu_call(), [], False),
    (gpu_call(move=1.1), [1.1 * BAR, 1.5], True),  # the class's move taken out of each build too
    (gpu_call(move=1.1), [BAR, 1.5], False),
    (gpu_call(one_night=False), [1.5, 1.5], False),  # a candidate the night cannot call
    (gpu_call(common=9), [1.5, 1.5], False),  # a class's move stands for others
    (dataclasses.replace(gpu_call(), signal="wall"), [1.5, 1.5], False),  # a wall time: the host's episodes
])
def test_a_gpu_times_one_night_call_stands_where_each_build_would_call_it_alone(call, builds, stands):
    verdict.mark_standing([call], {"cfg": {"causal_bias": builds}}, GPU_SPREAD, 1.05)
    assert call.stands is stands
    assert schema.GPU_PASSES == 2 and noise.Z_CALL == 6.0


STEADY = noise.NoiseModel({("gpu", KLASS): 0.006}, {}, 10)  # 6 spreads, 1.0367, under the factor


@pytest.mark.parametrize("builds, factor, stands", [
    ([1.04, 1.0605], 1.05, False),  # their mean a call (1.0502); the first alone short of the factor
    ([1.05, 1.0605], 1.05, True),
    ([1.04, 1.0605], 1.04, True),
    ([math.nextafter(1.04, 0), 1.0605], 1.04, False),
])
def test_a_call_stands_only_where_each_build_passes_the_factor_too(builds, factor, stands):
    """A steady GPU time's 6 spreads fall under the factor: the factor is then the bar each build must pass."""
    call = gpu_call(ratio=math.sqrt(builds[0] * builds[1]))
    verdict.mark_standing([call], {"cfg": {"causal_bias": builds}}, STEADY, factor)
    assert call.stands is stands


def test_a_call_without_builds_of_its_own_does_not_stand():
    calls = [gpu_call(), gpu_call(key=OTHER)]
    verdict.mark_standing(calls, {"cfg": {"materialized": [1.5] * 2}, "other": {"materialized": [1.5] * 2}},
                          GPU_SPREAD, 1.05)
    assert [call.stands for call in calls] == [False, True]


def test_a_call_that_stands_left_out_for_the_budget_is_a_regression_on_its_nights_evidence():
    """g5j (2026-12-05): four injected GPU times beyond the noise in both builds, left out for the budget,
    were suspects; the budget they would have taken re-measures what the night cannot call."""
    night = Night(None, {KEY: {"wall": 1e-2, "gpu": 1e-2}, OTHER: {"wall": 1e-2, "gpu": 1e-2}})
    strong, call = finding(key=OTHER, ratio=3.0), dataclasses.replace(gpu_call(), stands=True)
    decided, summary = verdict.remeasured_findings([call, strong], "cuda", settings(pythons=BOTH, budget=0.4), [],
                                                   night, fake_measure(measured(BASE, BASE, key=OTHER)))
    assert [(f.key, f.signal, f.level, f.why) for f in decided] == [
        (KEY, "gpu", "regression", f"{verdict.ONE_NIGHT_CALL}, {verdict.CALLED_ON_ITS_NIGHT}"),
        (OTHER, "wall", "noise", "re-measured: refuted")]
    assert verdict.CALLED_ON_ITS_NIGHT == ("in each build of its night; not re-measured: the budget went first "
                                           "to candidates the night alone cannot call")
    assert (summary["called_on_night"], summary["left_out"], summary["left_out_above_floor"]) == (1, 0, 0)
    # One build short of it: a one-night call as before, planned first (its values never came: not
    # re-measured), and the other left out for the budget.
    call, strong = gpu_call(), finding(key=OTHER, ratio=3.0)
    decided, summary = verdict.remeasured_findings([call, strong], "cuda", settings(pythons=BOTH, budget=0.4), [],
                                                   night, fake_measure(remeasure.Remeasured({}, 12.5,
                                                                                            process_costs(20))))
    assert [(f.key, f.level) for f in decided] == [(KEY, "suspect"), (OTHER, "suspect")]
    assert (summary["called_on_night"], summary["left_out"], summary["left_out_above_floor"]) == (0, 1, 1)


def test_a_call_that_stands_and_is_re_measured_is_decided_by_its_processes():
    night = Night(None, {KEY: {"wall": 1e-2, "gpu": 1e-2}, OTHER: {"wall": 1e-2, "gpu": 1e-2}})
    calls = [dataclasses.replace(gpu_call(key=key), stands=True) for key in (KEY, OTHER)]
    refuted = remeasure.Remeasured({KEY[1:]: {"baseline": {"gpu": BASE}, "contender": {"gpu": BASE}},
                                    OTHER[1:]: {"baseline": {"gpu": BASE}, "contender": {"gpu": BASE}}},
                                   12.5, process_costs(20))
    decided, summary = verdict.remeasured_findings(calls, "cuda", settings(pythons=BOTH), [], night,
                                                   fake_measure(refuted))
    assert [(f.key, f.level, f.why) for f in decided] == [
        (KEY, "noise", "one night beyond the noise, re-measured: refuted"),
        (OTHER, "noise", "one night beyond the noise, re-measured: refuted")]
    assert (summary["called_on_night"], summary["left_out"]) == (0, 0)
    # Three that stand and a budget for none: the first round takes the first whatever the budget (its values
    # never came: not re-measured), and the two it leaves out are called on their night.
    calls = [dataclasses.replace(gpu_call(key=("gpu", name, "causal_bias")), stands=True) for name in "abc"]
    decided, summary = verdict.remeasured_findings(calls, "cuda", settings(pythons=BOTH, budget=0.4), [], night,
                                                   fake_measure(refuted))
    assert [(f.key[1], f.level) for f in decided] == [("a", "suspect"), ("b", "regression"), ("c", "regression")]
    assert (summary["called_on_night"], summary["left_out"]) == (2, 0)


def test_the_check_calls_a_gpu_time_on_its_night_where_each_build_shows_it_and_the_budget_leaves_it_out(tmp_path):
    """Two GPU times 1.3x slower tonight, beyond the noise of three steady nights: the budget takes one. The
    one whose two builds both show the step waits behind the one whose builds disagree, and its night calls it;
    the other is re-measured and confirmed."""
    from results_factory import write_run

    gpu_grid = schema.GRIDS_BY_NAME["gpu"]
    for index in range(4):
        slower = [1.3, 1.3, 1.0, 1.0] if index == 3 else [1.0] * 4
        figures = {"track_gpu_time_materialized": [0.9e-3 * s for s in slower],
                   "track_gpu_time_causal_bias": [0.9e-3] * 4}
        write_run(tmp_path, "box", str(index + 1) * 40, 1_000 + index,
                  {f"track_wall_time_{mask}": [1e-3] * 4 for mask in schema.MASKS}, grid=gpu_grid, figures=figures)
    runs = ResultsStore(tmp_path).runs("box")
    builds = {LABELS[0]: {"materialized": [0.9e-3 * 1.25, 0.9e-3 * 1.35]},  # both builds beyond it
              LABELS[1]: {"materialized": [0.9e-3 * 1.01, 0.9e-3 * 1.69]}}  # one pass's slow stretch
    (tmp_path / "box" / f"{runs[3].commit_hash}.night").write_text(json.dumps(
        {"wall_visits": {}, "gpu_time_visits": builds}))
    slower = measured(BASE, [v * 1.3 for v in BASE], key=("gpu", LABELS[1], "materialized"), signal="gpu")
    calls: list = []
    v = verdict.check(ResultsStore(tmp_path), "box", runs[:3], runs[3], None,
                      settings(factor=1.05, pythons=BOTH, budget=1.0), fake_measure(slower, calls))
    assert [plan for plan, *_ in calls] == [[(LABELS[1], "materialized")]]
    assert [(f.level, f.key[1], f.signal, f.why) for f in v.findings] == [
        ("regression", LABELS[0], "gpu", f"{verdict.ONE_NIGHT_CALL}, {verdict.CALLED_ON_ITS_NIGHT}"),
        ("regression", LABELS[1], "gpu", "one night beyond the noise, re-measured: confirmed")]
    assert v.remeasurement is not None
    assert (v.remeasurement["called_on_night"], v.remeasurement["left_out"]) == (1, 0)


def test_tonights_builds_are_read_only_where_a_gpu_times_call_could_stand_on_them(tmp_path):
    """A wall time's one-night call on the CPU grid: a night file whose GPU builds would not read is never
    read for them, and the night is judged; a GPU time's call would read them, and stop at the damage."""
    runs = write_nights(tmp_path, [2e-3, 1e-3, 1e-3, 1e-3], [85.0] * 4)
    (tmp_path / "box" / f"{runs[3].commit_hash}.night").write_text(json.dumps(
        {"wall_visits": {}, "gpu_time_visits": {LABELS[0]: {"materialized": [0.0]}}}))
    slower = measured(BASE, [v * 2 for v in BASE], key=("cpu", LABELS[0], "materialized"))
    v = verdict.check(ResultsStore(tmp_path), "box", runs[:3], runs[3], None,
                      settings(factor=1.05, pythons=BOTH), fake_measure(slower))
    assert [(f.level, f.signal) for f in v.findings] == [("regression", "wall")]
    with pytest.raises(ToolError, match="a visit is not a positive number"):
        ResultsStore(tmp_path).night_visits(runs[3], schema.GPU)


def test_a_findings_json_is_strict_an_unknown_floor_and_a_ratio_from_zero_are_null():
    young = Finding("suspect", KEY, "wall", 1.0, 1.3, KLASS, math.inf, "history too short")
    assert (young.as_dict()["floor"], young.as_dict()["ratio"]) == (None, pytest.approx(1.3))
    started = Finding("regression", KEY, "syncs", 0.0, 2.0, KLASS, 1.0, "exact count changed")
    assert (started.ratio, started.relative) == (math.inf, math.inf)
    assert dataclasses.replace(started, contender=1.0).ratio == math.inf  # one sync where there were none
    assert dataclasses.replace(started, contender=0.0).ratio == 1.0  # none before, none now: unchanged
    assert (started.as_dict()["ratio"], started.as_dict()["relative"], started.as_dict()["floor"]) == (None, None, 1.0)
    json.dumps([young.as_dict(), started.as_dict()], allow_nan=False)


# ---------------------------------------------------------------- the host's share in a wall time


def host_night(references: dict[tuple, float], tonight: dict[tuple, float]) -> tuple[list[Night], Night]:
    """Three nights of these reference wall times, then tonight's."""
    history = [Night(None, {key: {"wall": wall} for key, wall in references.items()}) for _ in range(3)]
    return history, Night(None, {key: {"wall": wall} for key, wall in tonight.items()})


def test_the_host_share_of_a_wall_time_is_the_dispatch_slowed_by_the_launch_bound_move_over_its_own():
    """Unit-free walls, exact in binary: the launch-bound ones' median reference 128, their move 1.25."""
    launch = {("gpu", f"l{i}", "causal_bias"): wall for i, wall in enumerate((96.0, 128.0, 256.0))}
    near, mid, edge, far, long_one = (("gpu", name, "materialized") for name in ("near", "mid", "edge", "far", "long"))
    references = {**launch, near: 64.0, mid: 140.0, edge: 160.0, far: 400.0, long_one: 150.0}
    history, tonight = host_night(references, {key: 1.25 * wall for key, wall in references.items()})
    classes = {**dict.fromkeys(launch, noise.LAUNCH_BOUND), **dict.fromkeys((near, mid, edge, far), KLASS),
               long_one: noise.LONG_GPU_BOUND}
    moves = {(noise.LAUNCH_BOUND, "wall"): 1.25, (noise.LONG_GPU_BOUND, "wall"): 1.1, (KLASS, "gpu"): 1.5}
    # 1.25 x 128 over its own: 2.5 capped at the move for 64, 160 / 140 for 140, exactly 1 for 160 (no more than
    # its class's move of none: not the host's), none for 400; the long one's 160 / 150 is under its class's 1.1.
    shares = verdict.host_shares(history, tonight, classes, moves, 5, 1.05)
    assert shares == {near: 1.25, mid: 160 / 140}
    assert verdict.host_shares(history, tonight, classes, {**moves, (KLASS, "wall"): 1.2}, 5, 1.05) == {near: 1.25}
    # The host slower by less than the factor, or no launch-bound move taken out: nothing is the host's.
    assert verdict.host_shares(history, tonight, classes, moves, 5, 1.25) == shares  # a move of the factor exactly
    # The long class unmoved: its result's share 160 / 150 counts (every class but the launch-bound one's).
    assert verdict.host_shares(history, tonight, classes, {**moves, (noise.LONG_GPU_BOUND, "wall"): 1.0}, 5,
                               1.05) == {**shares, long_one: 160 / 150}
    assert verdict.host_shares(history, tonight, classes, moves, 5, 1.2500001) == {}
    # A class that got faster: a share under 1 (the dispatch short of it) is none, though above the class's move.
    assert verdict.host_shares(history, tonight, classes, {**moves, (KLASS, "wall"): 0.3}, 5, 1.05) == shares
    assert verdict.host_shares(history, tonight, classes, {(KLASS, "wall"): 1.0}, 5, 1.05) == {}
    assert verdict.launch_bound_wall({key: (wall, 0.0) for key, wall in references.items()}, classes) == 128.0
    assert verdict.launch_bound_wall({}, classes) == 0.0


def test_a_one_night_call_and_a_persisting_suspect_are_judged_over_the_hosts_share():
    """A GPU-bound wall time 1.25x tonight, the class unmoved, a spread of 2% (one night's call at 1.128):
    over a host's share of 1.2 it moved 1.042, no call; over 1.1 it is still one."""
    history = nights(1.0, 1.0, 1.0)
    with_both = settings(factor=1.05, pythons=BOTH)
    found, candidate = verdict.judge(history, KEY, "wall", 1.25, model(), KLASS, {}, with_both, 1.0, 1.2)
    assert (candidate, found.one_night, found.why, found.host_move, found.relative) == (True, False, "candidate",
                                                                                        1.2, 1.25)
    found, _ = verdict.judge(history, KEY, "wall", 1.25, model(), KLASS, {}, with_both, 1.0, 1.1)
    assert (found.one_night, found.why) == (True, verdict.ONE_NIGHT_CALL)
    # The same over a reference of 2 (tonight 2.5), and a class that moved 1.1 (the share 1.2 the larger):
    # 2.5 / 2 / 1.2 = 1.042 no call, where 2.5 * 2 or 2.5 ** 2, or over the class's 1.1 (1.136), would be one.
    found, _ = verdict.judge(nights(2.0, 2.0, 2.0), KEY, "wall", 2.5, model(), KLASS, {}, with_both, 1.1, 1.2)
    assert (found.one_night, found.relative) == (False, 2.5 / 2.0 / 1.1)
    found, _ = verdict.judge(nights(2.0, 2.0, 2.0), KEY, "wall", 2.5, model(), KLASS, {}, with_both, 1.1, None)
    assert found.one_night
    # Without a re-measurement: a suspect above its floor that says why, not a regression.
    alone = settings(factor=1.05)
    found, candidate = verdict.judge(history, KEY, "wall", 1.25, model(), KLASS, {}, alone, 1.0, 1.2)
    assert (candidate, found.level, found.why) == (
        False, "suspect", "above its one-night floor; no re-measurement configured; the host's slower dispatch "
                          "alone would move it 1.20x, 1.042x beyond that")
    found, _ = verdict.judge(history, KEY, "wall", 1.25, model(), KLASS, {}, alone, 1.0, None)
    assert (found.level, found.why, found.host_move) == ("regression", verdict.ONE_NIGHT_CALL, None)
    # A suspect last night, 1.25x the night before it tonight, bar 1.2: persisted, unless the host's share
    # tonight reaches it (1.25 / 1.1 = 1.136 under the bar); a class's move kept as a suspect is judged as it was.
    before = {(*KEY, "wall"): {"bar": 1.2}}
    stayed = nights(1.0, 1.0, 1.0, 1.0)
    found, _ = verdict.judge(stayed, KEY, "wall", 1.25, model(), KLASS, before, with_both, 1.0, None)
    assert found.level == "regression"
    found, _ = verdict.judge(stayed, KEY, "wall", 1.25, model(), KLASS, before, with_both, 1.0, 1.1)
    assert found.level != "regression" and found.host_move == 1.1
    common = {(*KEY, "wall"): {"bar": 1.2, "common": 8}}
    found, _ = verdict.judge(stayed, KEY, "wall", 1.25, model(), KLASS, common, with_both, 1.0, 1.1)
    assert (found.level, found.host_move) == ("regression", None)  # judged without the share, so none said
    # Kept before the history had a spread (bar inf): listed where still the factor beyond the share.
    young = {(*KEY, "wall"): {"bar": math.inf}}
    found, _ = verdict.judge(stayed, KEY, "wall", 1.25, model(), KLASS, young, with_both, 1.0, 1.1)
    assert (found.level, found.why.split(";")[0], found.host_move) == (
        "suspect", "a suspect last night too, still 1.14x the night before it", 1.1)
    found, candidate = verdict.judge(stayed, KEY, "wall", 1.25, model(), KLASS, young, with_both, 1.0, 1.2)
    assert (found.why, candidate) == ("candidate", True)  # 1.04x beyond the share: judged as tonight's own


def test_classify_gives_the_hosts_share_to_the_wall_time_alone():
    history = [Night(None, {KEY: {"wall": 1.0, "gpu": 1.0}})] * 3
    tonight = Night(None, {KEY: {"wall": 1.25, "gpu": 1.25}})
    spread = noise.NoiseModel({("wall", KLASS): 0.02, ("gpu", KLASS): 0.02}, {}, 10)
    _, candidates = verdict.classify(history, tonight, spread, {KEY: KLASS}, {}, settings(factor=1.05, pythons=BOTH),
                                     {}, {KEY: 1.2})
    assert sorted((f.signal, f.one_night, f.host_move) for f in candidates) == [("gpu", True, None),
                                                                               ("wall", False, 1.2)]


def test_a_wall_time_the_hosts_dispatch_explains_yields_the_plan_to_one_it_does_not():
    """h25a's case: a GPU-bound wall time near the line 1.15x where the host's share is 1.2x, against an
    injected launch-bound one 1.19x over its class (floor 1.108)."""
    near = Finding("suspect", KEY, "wall", 115e-6, 132e-6, KLASS, 1.05, "", one_night=True)
    injected = Finding("suspect", OTHER, "wall", 125e-6, 178.5e-6, noise.LAUNCH_BOUND, 1.108, "", move=1.2)
    assert sorted([near, injected], key=remeasure.plan_order) == [near, injected]  # the host's share unknown
    near = dataclasses.replace(near, one_night=False, host_move=1.2)  # as judged over the share
    assert sorted([near, injected], key=remeasure.plan_order) == [injected, near]
    assert not remeasure.above_floor(near) and remeasure.above_floor(injected)
    assert remeasure.priority(near) == (True, True, True, -math.log(132 / 115 / 1.2) / math.log(1.05 ** (1 / 3)))
    # A share no larger than its class's move leaves it as it was.
    kept = dataclasses.replace(near, move=1.25)
    assert kept.beyond_host == kept.relative == 132 / 115 / 1.25
    assert remeasure.priority(kept)[3] == -math.log(132 / 115 / 1.25) / math.log(1.05 ** (1 / 3))


def test_the_check_judges_a_gpu_bound_wall_time_near_the_dispatch_over_the_hosts_share(tmp_path):
    """Three steady GPU nights, then a host 1.3x slower: the 24 launch-bound results' wall times 1.3x, and two
    GPU-bound wall times 1.25x, one as short as the dispatch (the host's share 1.3; near launch-bound, too few
    of its class to take a common move out) and one ten times longer (none). Without a re-measurement the
    first is listed, the second called on its night."""
    from results_factory import write_run

    params = [["1", "2", "4", "8"], ["4", "8"], ["(16, 48)", "(1, 48)"], ["64"], ["'float32'"]]
    labels = [", ".join(combination) for combination in itertools.product(*params)]
    near, far = 12, 13  # configs 0-11 launch-bound; 12-15 GPU-bound
    walls = [100e-6] * 13 + [1000e-6, 500e-6, 500e-6]
    gpus = [40e-6] * 12 + [90e-6, 1000e-6, 500e-6, 500e-6]
    for index in range(4):
        tonight = index == 3
        slower = [1.3 if tonight and config < 12 else 1.0 for config in range(16)]
        materialized = [wall * s * (1.25 if tonight and config in (near, far) else 1.0)
                        for config, (wall, s) in enumerate(zip(walls, slower))]
        write_run(tmp_path, "box", str(index + 1) * 40, 1_000 + index,
                  {"track_wall_time_materialized": materialized,
                   "track_wall_time_causal_bias": [wall * s for wall, s in zip(walls, slower)]},
                  grid=schema.GRIDS_BY_NAME["gpu"], params=params,
                  figures={f"track_gpu_time_{mask}": gpus for mask in schema.MASKS})
    runs = ResultsStore(tmp_path).runs("box")
    v = verdict.check(ResultsStore(tmp_path), "box", runs[:3], runs[3], None, settings(factor=1.05))
    found = {f.key[1]: (f.klass, f.level, f.why, f.host_move) for f in v.findings
             if f.key[2] == "materialized" and f.klass != noise.LAUNCH_BOUND}
    assert found == {
        labels[near]: (noise.NEAR_LAUNCH_BOUND, "suspect", "above its one-night floor; no re-measurement "
                       "configured; the host's slower dispatch alone would move it 1.30x, 0.962x beyond that",
                       pytest.approx(1.3)),
        labels[far]: (noise.GPU_BOUND, "regression", verdict.ONE_NIGHT_CALL, None)}


def test_the_reports_published_steps_show_a_best_of_a_series_with_a_figure_not_measured_as_missing(tmp_path):
    runs = write_nights(tmp_path, [1e-3] * 4, [85.0] * 4)
    v = verdict.check(ResultsStore(tmp_path), "box", runs[:3], runs[3], None, settings(factor=1.05))
    step = {"benchmark": "b", "after_commit": "cccccccc", "before_commit": "bbbbbbbb", "before": 1e-06, "after": 2e-06,
            "ratio": 2.0}
    v.steps = [step | {"now_vs_best": None}, step | {"now_vs_best": 1.25}]
    rows = report.markdown(v).split("## Steps found by asv publish over the history (2)")[1].strip().splitlines()[2:]
    assert [[cell.strip() for cell in row.strip("|").split("|")][-1] for row in rows] == ["-", "1.250"]


def test_a_damaged_names_file_says_so_on_each_counts_finding_alone_never_ending_the_check(tmp_path):
    """The names only explain a count's finding (not a timed one, not one ruled noise): a names file that
    cannot be read says so there, and the check goes on."""
    store = ResultsStore(tmp_path)
    (tmp_path / "box").mkdir()
    baseline, contender = (RunFile(Path(f"{c}.json"), "box", c * 40, i, 0) for i, c in enumerate("ab"))
    found = [finding(level="regression", signal="aten_ops"), finding(level="noise", signal="kernels", key=OTHER),
             finding(level="regression", signal="wall", key=("gpu", "timed", "materialized"))]
    assert verdict.changed_names(store, "box", baseline, contender, found) == {}  # no names file: nothing said
    names = {"cfg": {"causal_bias": {"operators": {"aten::mm": 1}}}}
    (tmp_path / "box" / f"{'a' * 40}.dispatch").write_text(json.dumps(names))
    path = tmp_path / "box" / f"{'b' * 40}.dispatch"
    path.write_text(json.dumps({"cfg": {"causal_bias": {"operators": {"aten::mm": 1, "aten::alias": 1}}}}))
    assert verdict.changed_names(store, "box", baseline, contender, found) == {
        ("cfg", "causal_bias"): "+aten::alias x1"}
    path.write_text("[1]")
    assert verdict.changed_names(store, "box", baseline, contender, found) == {
        ("cfg", "causal_bias"): f"names not read: corrupt names file {path}: not a JSON object"}
    assert verdict.changed_names(store, "box", baseline, contender, found[1:]) == {}  # no count a finding


def test_results_near_the_dispatch_pool_their_wall_spread_apart_from_the_gpu_bound_ones(tmp_path):
    """Three A/A nights and a fourth: 16 launch-bound results (wall 100 us, GPU 40 us), 8 GPU-bound ones of
    110 us (GPU 100 us), under 1.25x the dispatch, 8% over or under their level, half each way, the other way
    each night (a step of 1.08 ** 2), and 8 of 500 us that do the same by 1%. The near ones are near
    launch-bound and pool apart: the GPU-bound wall floor is the factor (1.01 ** (6 / 1.645) under it),
    theirs 1.08 ** (6 / 1.645); pooled together, the 1% results would have had theirs."""
    from results_factory import write_run

    params = [["1", "2", "4", "8"], ["4", "8"], ["(16, 48)", "(1, 48)"], ["64"], ["'float32'"]]
    walls = [100e-6] * 8 + [110e-6] * 4 + [500e-6] * 4
    gpus = [40e-6] * 8 + [100e-6] * 4 + [480e-6] * 4
    for night in range(4):
        sign = 1 if night % 2 else -1
        moved = [wall * (1.0 if config < 8 else (1.08 if config < 12 else 1.01) ** (sign * (-1) ** config))
                 for config, wall in enumerate(walls)]
        write_run(tmp_path, "box", str(night + 1) * 40, 1_000 + night,
                  {f"track_wall_time_{mask}": moved for mask in schema.MASKS},
                  grid=schema.GRIDS_BY_NAME["gpu"], params=params,
                  figures={f"track_gpu_time_{mask}": gpus for mask in schema.MASKS})
    runs = ResultsStore(tmp_path).runs("box")
    v = verdict.check(ResultsStore(tmp_path), "box", runs[:3], runs[3], None, settings(factor=1.05))
    floors: dict[str, set[float]] = {}
    for row in v.floors:
        floors.setdefault(row["class"], set()).add(row["wall_floor"])
    assert collections.Counter(row["class"] for row in v.floors) == {
        noise.LAUNCH_BOUND: 16, noise.NEAR_LAUNCH_BOUND: 8, noise.GPU_BOUND: 8}
    assert {klass: sorted(values) for klass, values in floors.items()} == {
        noise.LAUNCH_BOUND: [1.05], noise.GPU_BOUND: [1.05],
        noise.NEAR_LAUNCH_BOUND: [pytest.approx(1.08 ** (6 / 1.645), rel=1e-12)]}
