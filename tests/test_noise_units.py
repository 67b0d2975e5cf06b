"""lib.noise by unit: each threshold and rule of the noise model and of the decision at both sides of its
boundary, with exact values. In-process and fast: `make mutation` runs these against every mutant of the module."""

from __future__ import annotations

import dataclasses
import math

import pytest
from lib import noise
from lib.suite import schema

KEY = ("gpu", "c", "materialized")


def model(pooled: float | None = None, own: tuple[float, int] | None = None, nights: int = 20) -> noise.NoiseModel:
    """A model of one signal ("wall") and class ("GPU-bound"): the class's spread and the key's own."""
    return noise.NoiseModel({} if pooled is None else {("wall", "GPU-bound"): pooled},
                            {} if own is None else {(*KEY, "wall"): own}, nights)


def sigma(m: noise.NoiseModel) -> float:
    return m.sigma(KEY, "wall", "GPU-bound")


# ---------------------------------------------------------------- the thresholds, by value


def test_the_thresholds_have_the_values_docs_noise_md_argues_for():
    assert (noise.Z_CALL, noise.Z_CANDIDATE, noise.NIGHTS_TO_CALL) == (6.0, 3.0, 3)
    assert (noise.OWN_STEPS, noise.OWN_STEPS_TIGHTER, noise.SIGMA_FLOOR) == (4, 10, 0.005)
    assert (noise.ALPHA_CONFIRM, noise.ALPHA_REFUTE) == (1e-4, 0.10)
    assert (noise.PROCESSES_TO_REFUTE_EARLY, noise.ALPHA_REFUTE_EARLY) == (6, 0.02)


# ---------------------------------------------------------------- the config's class


def test_launch_bound_from_a_wall_time_one_and_a_half_times_the_gpu_time():
    assert noise.config_class(0.75e-3, 0.5e-3) == "launch-bound"  # exactly 1.5
    assert noise.config_class(0.74e-3, 0.5e-3) == "GPU-bound"  # 1.48
    assert noise.config_class(0.5e-3, 0.5e-3) == "GPU-bound"
    assert noise.config_class(3.0, 0.5) == "launch-bound"


def test_a_gpu_bound_call_of_10_ms_or_more_is_long_a_launch_bound_one_stays_launch_bound():
    assert schema.LONG_CALL_SECONDS == 1e-2
    assert noise.config_class(0.01, 0.01) == noise.LONG_GPU_BOUND == "long GPU-bound"
    assert noise.config_class(0.0149, 0.01) == "long GPU-bound"  # 1.49x: not launch-bound
    assert noise.config_class(0.085, 0.084) == "long GPU-bound"
    assert noise.config_class(0.01, math.nextafter(0.01, 0)) == noise.GPU_BOUND == "GPU-bound"
    assert noise.config_class(0.015, 0.01) == noise.LAUNCH_BOUND == "launch-bound"


@pytest.mark.parametrize("wall, gpu", [(None, 0.5), (0.5, None), (0.0, 0.5), (0.5, 0.0), (None, None)])
def test_without_both_times_the_class_is_unknown(wall, gpu):
    assert noise.config_class(wall, gpu) == "unknown"


# ---------------------------------------------------------------- steps and spreads


def test_log_steps_skip_missing_zero_and_negative_values():
    assert noise.log_steps([0.5, None, 1.0, 0.0, -0.5, -2.0, 4.0]) == [math.log(2.0), math.log(4.0)]
    assert noise.log_steps([2.0, 1.0]) == [math.log(0.5)]
    assert noise.log_steps([2.0]) == []
    assert noise.log_steps([]) == []


def test_the_spread_is_the_90th_percentile_of_the_absolute_steps_over_1_645():
    # |steps| are 1..10; numpy's linear 90th percentile is 9.1.
    assert noise.robust_sigma([-1, 2, -3, 4, -5, 6, -7, 8, -9, 10]) == 9.1 / 1.645 == 5.531914893617021
    assert noise.robust_sigma([0.02]) == 0.02 / 1.645
    assert math.isnan(noise.robust_sigma([]))


# ---------------------------------------------------------------- which spread a key gets


def test_a_wider_own_spread_counts_from_4_steps():
    assert sigma(model(0.10, (0.20, 3))) == 0.10
    assert sigma(model(0.10, (0.20, 4))) == 0.20


def test_a_narrower_own_spread_counts_from_10_steps():
    assert sigma(model(0.10, (0.05, 9))) == 0.10
    assert sigma(model(0.10, (0.05, 10))) == 0.05
    assert sigma(model(0.10, (0.05, 11))) == 0.05


def test_an_own_spread_without_a_class_spread_counts_from_4_steps():
    assert sigma(model(None, (0.05, 4))) == 0.05
    assert math.isnan(sigma(model(None, (0.05, 3))))


def test_an_unknown_own_spread_leaves_the_class_spread_however_many_steps():
    assert sigma(model(0.10, (math.nan, 10))) == 0.10
    assert sigma(model(0.10, (math.nan, 5))) == 0.10


def test_no_spread_at_all_is_nan():
    assert math.isnan(sigma(model()))
    assert math.isnan(model(0.10).sigma(KEY, "gpu", "GPU-bound"))  # another signal
    assert math.isnan(model(0.10).sigma(KEY, "wall", "launch-bound"))  # another class
    assert model(0.10).sigma(KEY, "wall", "GPU-bound") == 0.10


def test_no_spread_is_taken_as_smaller_than_0_005():
    assert sigma(model(0.004)) == 0.005
    assert sigma(model(0.005)) == 0.005
    assert sigma(model(0.006)) == 0.006
    assert sigma(model(0.10, (0.001, 10))) == 0.005


# ---------------------------------------------------------------- the one-night floor


def test_the_floor_is_3_spreads_or_the_factor_whichever_is_larger():
    m = model(0.02)
    assert m.floor(KEY, "wall", "GPU-bound", 1.05) == math.exp(3.0 * 0.02) == pytest.approx(1.0618365465453596,
                                                                                           rel=1e-15)
    assert m.floor(KEY, "wall", "GPU-bound", 1.07) == 1.07
    assert model(0.005).floor(KEY, "wall", "GPU-bound", 1.0) == math.exp(0.015)


def test_without_a_spread_the_floor_is_infinite():
    assert model().floor(KEY, "wall", "GPU-bound", 1.05) == math.inf


# ---------------------------------------------------------------- the one-night call


def test_a_night_is_called_from_6_spreads_exactly():
    spread = math.log(1.5) / 6
    assert 6 * spread == math.log(1.5)  # the boundary itself is representable
    m = model(spread, nights=3)
    assert m.callable(1.5, KEY, "wall", "GPU-bound", 1.05)
    assert not m.callable(math.nextafter(1.5, 0), KEY, "wall", "GPU-bound", 1.05)


def test_a_night_is_called_from_3_nights_of_history():
    spread = math.log(1.5) / 6
    assert not model(spread, nights=2).callable(2.0, KEY, "wall", "GPU-bound", 1.05)
    assert model(spread, nights=3).callable(2.0, KEY, "wall", "GPU-bound", 1.05)
    assert model(spread, nights=4).callable(2.0, KEY, "wall", "GPU-bound", 1.05)


def test_a_night_is_called_only_from_the_factor_on():
    # The floor's spread is tiny: 6 spreads are 3%, so the factor alone decides.
    m = model(0.005, nights=3)
    assert m.callable(1.25, KEY, "wall", "GPU-bound", 1.25)
    assert not m.callable(math.nextafter(1.25, 0), KEY, "wall", "GPU-bound", 1.25)


def test_a_night_is_never_called_without_a_spread():
    assert not model(nights=30).callable(100.0, KEY, "wall", "GPU-bound", 1.05)


# ---------------------------------------------------------------- the fit


def test_the_fit_pools_steps_per_signal_and_class_and_keeps_a_keys_own_from_4_steps():
    a, b, c = ("cpu", "a", "materialized"), ("cpu", "b", "materialized"), ("cpu", "c", "causal_bias")
    series = {
        a: {"wall": [1.0, 2.0, 1.0, 2.0, 4.0], "gpu": [1.0, None, 1.0]},  # 4 wall steps: its own
        b: {"wall": [1.0, 1.0, 1.0, 1.0], "gpu": [0.0]},  # 3 steps: the class's only
        c: {"wall": [1.0, 8.0]},  # not in classes: "unknown"
    }
    fitted = noise.fit(series, {a: "GPU-bound", b: "GPU-bound"})
    two, half, zero = math.log(2.0), math.log(0.5), 0.0
    assert fitted.pooled == {
        ("wall", "GPU-bound"): noise.robust_sigma([two, half, two, two, zero, zero, zero]),
        ("gpu", "GPU-bound"): noise.robust_sigma([zero]),
        ("wall", "unknown"): noise.robust_sigma([math.log(8.0)]),
    }
    assert fitted.own == {(*a, "wall"): (noise.robust_sigma([two, half, two, two]), 4)}
    assert fitted.nights == 5


def test_the_fit_counts_the_nights_with_a_value():
    fitted = noise.fit({KEY: {"wall": [1.0, None, 0.0, 2.0]}}, {KEY: "GPU-bound"})
    assert fitted.nights == 2
    assert noise.fit({KEY: {"wall": [None]}}, {}).nights == 0


def test_a_group_without_steps_has_no_pooled_spread():
    fitted = noise.fit({KEY: {"wall": [1.0]}}, {KEY: "GPU-bound"})
    assert (fitted.pooled, fitted.own, fitted.nights) == ({}, {}, 1)


def test_a_calibration_pairs_step_counts_like_a_nights_for_the_pool_and_the_keys_own():
    pair = {KEY: {"wall": [2.0, 2.5]}}
    fitted = noise.fit({KEY: {"wall": [1.0, 2.0, 4.0, 2.0]}}, {KEY: "GPU-bound"}, pair)
    steps = [math.log(2.0), math.log(2.0), math.log(0.5), math.log(1.25)]
    assert fitted.pooled == {("wall", "GPU-bound"): noise.robust_sigma(steps)}
    assert fitted.own == {(*KEY, "wall"): (noise.robust_sigma(steps), 4)}
    assert fitted.nights == 4
    assert noise.fit({KEY: {"wall": [1.0, 2.0, 4.0, 2.0]}}, {KEY: "GPU-bound"}).own == {}


CLASS = [("gpu", f"c{i}", "materialized") for i in range(noise.MOVE_MIN_RESULTS + 1)]


def test_a_classs_common_move_is_taken_out_of_each_step_gaps_bridged_by_the_classs_level():
    # Night 2 moves the whole class by 1.5x (the host), night 3 back; one result moves 2x on its own
    # on night 3, and another misses night 2: its step from night 1 to 3 spans both class moves. Each
    # step is shared by MOVE_MIN_RESULTS results, the fewest a common move is taken from.
    series = {key: {"wall": [1.0, 1.5, 1.0]} for key in CLASS}
    series[CLASS[0]] = {"wall": [1.0, 1.5, 2.0]}
    series[CLASS[1]] = {"wall": [1.0, None, 1.0]}
    classes = {key: "launch-bound" for key in CLASS}
    assert noise.class_levels(series, classes, "wall")["launch-bound"] == pytest.approx([0.0, math.log(1.5), 0.0])
    steps = noise.class_steps(series, classes)
    assert steps[CLASS[0]]["wall"] == pytest.approx([0.0, math.log(2.0)])
    assert steps[CLASS[1]]["wall"] == pytest.approx([0.0])  # 1.0 -> 1.0 over a class that came back
    assert steps[CLASS[2]]["wall"] == pytest.approx([0.0, 0.0])


def test_the_class_levels_sum_each_nights_common_step_skip_missing_and_non_positive_values_and_know_unknown():
    # Four nights: steps 1.5x, 2x, 0.5x for the whole class; one result's value on night 2 is negative
    # (never read as a step), another's is missing: MOVE_MIN_RESULTS results still share each step.
    keys = [("cpu", f"u{i}", "materialized") for i in range(noise.MOVE_MIN_RESULTS + 2)]
    series = {key: {"wall": [1.0, 1.5, 3.0, 1.5]} for key in keys}
    series[keys[0]] = {"wall": [1.0, 1.5, -0.5, 1.5]}
    series[keys[1]] = {"wall": [1.0, 1.5, None, 1.5]}
    classes = dict.fromkeys(keys, "unknown")
    levels = noise.class_levels(series, classes, "wall")
    assert levels == {"unknown": pytest.approx([0.0, math.log(1.5), math.log(3.0), math.log(1.5)])}
    assert noise.class_steps(series, classes)[keys[0]]["wall"] == pytest.approx([0.0, 0.0])


def test_a_small_class_first_does_not_stop_the_next_classs_common_move():
    moves = {("gpu", "small", "materialized"): 0.5} | {key: 0.2 for key in CLASS}
    classes = {("gpu", "small", "materialized"): "GPU-bound"} | {key: "launch-bound" for key in CLASS}
    assert noise.common_move(moves, classes) == {"launch-bound": pytest.approx(0.2)}
    assert noise.common_move(moves, classes, {}) == {"launch-bound": pytest.approx(0.2)}


def test_a_class_smaller_than_move_min_results_keeps_its_steps_whole():
    keys = CLASS[:noise.MOVE_MIN_RESULTS - 1]
    series = {key: {"wall": [1.0, 1.5]} for key in keys}
    classes = {key: "launch-bound" for key in keys}
    assert noise.common_move({key: math.log(1.5) for key in keys}, classes) == {}
    assert noise.class_steps(series, classes)[keys[0]]["wall"] == pytest.approx([math.log(1.5)])
    medians = noise.class_medians({key: math.log(1.5) for key in keys}, classes)
    assert medians == {"launch-bound": (pytest.approx(math.log(1.5)), noise.MOVE_MIN_RESULTS - 1)}


def test_the_common_move_is_the_median_of_its_classs_moves_and_per_class():
    moves = {key: math.log(1.0 + i / 10) for i, key in enumerate(CLASS)}
    moves |= {("gpu", f"g{i}", "causal_bias"): 0.0 for i in range(noise.MOVE_MIN_RESULTS)}
    classes = {key: ("launch-bound" if key in CLASS else "GPU-bound") for key in moves}
    common = noise.common_move(moves, classes)
    assert common == {"launch-bound": pytest.approx(math.log(1.4)), "GPU-bound": 0.0}
    # With spreads: no higher than the lower quartile (1.2x) plus Z_QUARTILE spreads; without a spread
    # for the class, the lower quartile alone.
    spreads = {"launch-bound": 0.1, "GPU-bound": math.nan}
    assert noise.common_move(moves, classes, spreads) == {
        "launch-bound": pytest.approx(math.log(1.2) + noise.Z_QUARTILE * 0.1), "GPU-bound": 0.0}
    assert noise.common_move(moves, classes, {"launch-bound": 1.0}) == {
        "launch-bound": pytest.approx(math.log(1.4)), "GPU-bound": 0.0}
    assert noise.common_move(moves, classes, {}) == {"launch-bound": pytest.approx(math.log(1.2)), "GPU-bound": 0.0}
    # A lower quartile far under the rest (noisy results below their references) takes a slowdown to none,
    # never below; a class that got faster keeps its median.
    low = {key: (math.log(0.5) if i < 3 else math.log(1.1)) for i, key in enumerate(CLASS)}
    assert noise.common_move(low, classes, {"launch-bound": 0.1}) == {"launch-bound": 0.0}
    faster = {key: math.log(0.9 - i / 100) for i, key in enumerate(CLASS)}
    assert noise.common_move(faster, classes, {"launch-bound": 0.1}) == {"launch-bound": pytest.approx(math.log(0.86))}
    assert noise.Z_QUARTILE == pytest.approx(0.6744897501960817)


def test_a_classs_lower_quartile_is_taken_where_it_has_a_common_move_alone():
    """The lower quartile (where a class's results that did not move stand) of each class with MOVE_MIN_RESULTS
    results or more, as its common move; none for a smaller class."""
    moves = {key: math.log(1.0 + i / 10) for i, key in enumerate(CLASS[:noise.MOVE_MIN_RESULTS])}
    small = {("gpu", f"s{i}", "causal_bias"): 0.5 for i in range(noise.MOVE_MIN_RESULTS - 1)}
    large = {("gpu", f"l{i}", "causal_bias"): 0.25 for i in range(noise.MOVE_MIN_RESULTS + 1)}
    classes = {key: "launch-bound" for key in moves} | dict.fromkeys(small, "GPU-bound") | dict.fromkeys(
        large, "long GPU-bound")
    # Eight moves: a quarter of the way is 1.75 places in, between 1.1x and 1.2x.
    assert noise.lower_quartiles(moves | small | large, classes) == {
        "launch-bound": pytest.approx(math.log(1.1) + 0.75 * (math.log(1.2) - math.log(1.1))),
        "long GPU-bound": 0.25}


# ---------------------------------------------------------------- the re-measurement's decision

BASELINE = [100.0 + i for i in range(10)]


def test_a_complete_separation_by_the_factor_exactly_is_confirmed():
    # 104.5 * 1.25 = 130.625: the ratio of medians is the factor exactly.
    decision = noise.decide(BASELINE, [v * 1.25 for v in BASELINE], 1.25)
    assert decision == noise.Decision("confirmed", 1.25, 1.0825088224361175e-05, 1.0)  # about 2 / C(20, 10)


def test_a_certain_slowdown_the_factor_is_not_ruled_out_for_is_confirmed_under_it():
    # The medians' ratio just below 1.25: the factor is a margin, not a bar for the point estimate.
    contender = [v * 1.25 for v in BASELINE]
    contender[4] = contender[5] = math.nextafter(130.625, 0)
    decision = noise.decide(BASELINE, contender, 1.25)
    assert decision == noise.Decision("confirmed", math.nextafter(130.625, 0) / 104.5, 1.0825088224361175e-05, 1.0)
    assert decision.ratio < 1.25


def test_a_certain_slowdown_shown_smaller_than_the_factor_is_refuted_not_confirmed():
    # x1.22: a slowdown of 1.25 is not ruled out (p = 0.105): confirmed; x1.21: ruled out (p = 0.029): refuted.
    kept, ruled_out = (noise.decide(BASELINE, [v * k for v in BASELINE], 1.25) for k in (1.22, 1.21))
    assert kept == noise.Decision("confirmed", 1.22, 1.0825088224361175e-05, 0.10512243174781866)
    assert ruled_out == noise.Decision("refuted", 1.21, 1.0825088224361175e-05, 0.02880555976531208)


def test_confirmation_needs_p_below_1e_4_3_pairs_out_of_order_do_4_do_not():
    for out_of_order, outcome, p_change in ((3, "confirmed", 7.577561757119436e-05),
                                            (4, "undecided", 0.00012990105869355536)):
        contender = [120.0 + i for i in range(10)]
        contender[0] = 109.5 - out_of_order  # below that many baseline processes
        decision = noise.decide(BASELINE, contender, 1.05)
        assert (decision.outcome, decision.p_change) == (outcome, p_change)


def test_refuted_when_a_slowdown_by_the_factor_is_rejected_below_p_0_10():
    # Shrunk by the factor the contender sits 3.5 below the baseline (p = 0.029): refuted, however
    # certain its slowdown; 3 below (p = 0.105): not refuted, and certainly slower: confirmed.
    refuted = noise.decide(BASELINE, [(v - 3.5) * 2.0 for v in BASELINE], 2.0)
    assert (refuted.outcome, refuted.p_factor, refuted.p_change) == (
        "refuted", 0.02880555976531208, 1.0825088224361175e-05)
    kept = noise.decide(BASELINE, [(v - 3.0) * 2.0 for v in BASELINE], 2.0)
    assert (kept.outcome, kept.p_factor) == ("confirmed", 0.10512243174781866)
    assert kept.ratio == 203.0 / 104.5
    # Shifted 4 up against a factor of 1.05: neither certain (p = 0.029) nor ruled out: undecided.
    assert noise.decide(BASELINE, [v + 4.0 for v in BASELINE], 1.05).outcome == "undecided"


def test_refuted_needs_the_shrunk_median_strictly_below_the_baselines():
    # Equal medians (10), yet the ranks reject a slowdown by the factor (p = 0.045): not refuted.
    # (A factor of 1 keeps the contender's values as they are, and short of a confirmation.)
    baseline = [1.0] * 7 + [10.0] + [10.5] * 7
    contender = [9.5] * 7 + [10.0] + [1000.0] * 7
    decision = noise.decide(baseline, contender, 1.0)
    assert decision == noise.Decision("undecided", 1.0, 0.04533389909792308, 0.04533389909792308)


def test_the_same_values_are_refuted_with_exact_p_values():
    decision = noise.decide(BASELINE, list(BASELINE), 1.05)
    assert (decision.outcome, decision.ratio, decision.p_change) == ("refuted", 1.0, 1.0)
    assert decision.p_factor < 0.10


def test_the_decision_tests_the_contender_divided_by_the_factor_exactly():
    # Values below 1: a floor division by the factor would make every shrunk value 0.
    baseline = [0.4 + i / 10 for i in range(10)]
    decision = noise.decide(baseline, [v * 2.0 for v in baseline], 2.0)
    assert decision == noise.Decision("undecided", 2.0, 0.0028794734677087164, 1.0)


def test_a_decision_is_final():
    decision = noise.decide(BASELINE, list(BASELINE), 1.05)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.outcome = "confirmed"  # type: ignore[misc]


def test_the_fit_of_no_series_is_empty():
    assert noise.fit({}, {}) == noise.NoiseModel({}, {}, 0, {})


def test_a_result_of_fewer_nights_than_its_class_is_never_called_on_one_night():
    """The class's pooled spread is no licence: a config the grid gained, or one that failed most nights, needs
    its own NIGHTS_TO_CALL nights before one night calls it."""
    old, new = ("cpu", "a", "materialized"), ("cpu", "b", "materialized")
    fitted = noise.fit({old: {"wall": [1.0, 1.01, 0.99, 1.0, 1.02]}, new: {"wall": [None, None, None, 1.0, 1.0]}},
                       {old: "GPU-bound", new: "GPU-bound"})
    assert (fitted.nights, fitted.nights_of(old, "wall"), fitted.nights_of(new, "wall")) == (5, 5, 2)
    assert fitted.nights_of(old, "gpu") == 0  # no series at all
    assert fitted.callable(2.0, old, "wall", "GPU-bound", 1.05)
    assert not fitted.callable(2.0, new, "wall", "GPU-bound", 1.05)
    assert fitted.sigma(new, "wall", "GPU-bound") == max(noise.SIGMA_FLOOR, fitted.pooled[("wall", "GPU-bound")])


def test_a_keys_own_spread_is_kept_from_4_steps_on_not_at_4_only():
    fitted = noise.fit({KEY: {"wall": [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]}}, {KEY: "GPU-bound"})
    assert fitted.own == {(*KEY, "wall"): (math.log(2.0) / 1.645, 5)}
    assert noise.fit({KEY: {"wall": [1.0, 2.0, 1.0, 2.0]}}, {KEY: "GPU-bound"}).own == {}  # 3 steps


def test_9_processes_a_side_are_the_fewest_that_can_confirm_at_1e_4():
    assert noise.least_processes_to_confirm() == noise.PROCESSES_TO_CONFIRM == 9
    assert noise.least_processes_to_confirm(1e-3) == 7  # 2 / C(14, 7) = 0.00058; 6 a side give 0.0022
    # Every contender slower than every baseline, by half: 8 a side stay short of the bar, 9 reach it.
    eight, nine = (noise.decide(BASELINE[:n], [v * 1.5 for v in BASELINE[:n]], 1.05) for n in (8, 9))
    assert (eight.outcome, eight.p_change) == ("undecided", 0.00015540015540043773)
    assert (nine.outcome, nine.p_change) == ("confirmed", 4.113533525319419e-05)


def test_a_refutation_at_six_a_side_counts_early_only_below_its_stricter_alpha():
    baseline = [100.0 + n for n in range(6)]
    early, late = (noise.decide(baseline, [v + offset for v in baseline], 1.05) for offset in (1.5, 2.0))
    assert (early.outcome, early.p_factor) == ("refuted", pytest.approx(0.0151515, abs=1e-6))
    assert (late.outcome, late.p_factor) == ("refuted", pytest.approx(0.0259740, abs=1e-6))
    assert noise.refuted_early(baseline, [v + 1.5 for v in baseline], 1.05)
    assert not noise.refuted_early(baseline, [v + 2.0 for v in baseline], 1.05)
    assert not noise.refuted_early(baseline, [v * 1.2 for v in baseline], 1.05)  # not refuted at all
    assert noise.refuted_early(baseline, list(baseline), 1.05)  # p = 0.0043


def test_a_confirmed_slowdown_is_never_refuted_early_however_small_its_p_factor():
    baseline = [100.0 + n for n in range(10)]
    slower = noise.decide(baseline, [2 * v for v in baseline], 1.05)
    assert (slower.outcome, slower.p_factor < noise.ALPHA_REFUTE_EARLY) == ("confirmed", True)
    assert not noise.refuted_early(baseline, [2 * v for v in baseline], 1.05)


@pytest.mark.parametrize("alpha, processes", [(0.5, 2), (1 / 3, 3)])
def test_the_fewest_processes_counts_up_one_at_a_time_from_one_while_not_below_alpha(alpha, processes):
    """2 / C(2n, n) is 1 at one a side, 1/3 at two (not below 1/3: three are needed), 0.1 at three."""
    assert noise.least_processes_to_confirm(alpha) == processes


def test_undecided_is_neither_confirmed_nor_refuted_whatever_its_p():
    baseline = [100.0 + n for n in range(10)]

    def still_open(offset: float) -> bool:
        return noise.undecided(baseline, [v + offset for v in baseline], 1.05)

    def at(offset: float) -> noise.Decision:
        return noise.decide(baseline, [v + offset for v in baseline], 1.05)

    # 4.5 up: slower by 1.043, p = 0.0068; 4 up: p = 0.029; both undecided. 7.5 up: confirmed; 2 up: refuted.
    assert (at(4.5).outcome, at(4.5).p_change) == ("undecided", 0.006841455757864431) and still_open(4.5)
    assert (at(4.0).outcome, at(4.0).p_change) == ("undecided", 0.02880555976531208) and still_open(4.0)
    assert at(7.5).outcome == "confirmed" and not still_open(7.5)
    assert at(2.0).outcome == "refuted" and not still_open(2.0)
    noisy = [100.0, 190.0, 105.0, 180.0, 110.0, 170.0, 101.0, 185.0, 99.0, 175.0]
    far = noise.decide(noisy, [v * 1.1 for v in noisy], 1.05)
    assert (far.outcome, far.ratio >= 1.05, far.p_change) == ("undecided", True, 0.08920955205784918)
    assert noise.undecided(noisy, [v * 1.1 for v in noisy], 1.05)
    assert (noise.EXTRA_PROCESSES, noise.MAX_EXTRA_PROCESSES) == (4, 20)


def test_slower_by_exactly_the_factor_is_undecided():
    baseline = [96.0, 97.0, 98.0, 99.0, 100.0, 100.0, 101.0, 102.0, 103.0, 104.0]
    contender = [v + 5.0 for v in baseline]  # medians 100 and 105
    decision = noise.decide(baseline, contender, 1.05)
    assert (decision.outcome, decision.ratio, decision.p_change < 0.01) == ("undecided", 1.05, True)
    assert noise.undecided(baseline, contender, 1.05)


def test_a_gpu_time_at_one_clock_takes_out_the_clocks_share_by_the_fitted_slope():
    # The slope fitted on an H200 (docs/measurements/2026-12-03-h200-floors.md): a clock 1.5x the one
    # taken to scales a time by 1.5 ** 0.24, one half of it by 0.5 ** 0.24; the clock taken to, not at all.
    assert noise.GPU_TIME_CLOCK_SLOPE == -0.24
    assert noise.at_one_clock([2.0, 3.0, 4.0], [2700, 900, 1800], 1800) == [2.0 * 1.5**0.24, 3.0 * 0.5**0.24, 4.0]
    assert noise.at_one_clock([2.0], [1800], 1800) == [2.0]
    with pytest.raises(ValueError):  # a time without its clock is never paired with another's
        noise.at_one_clock([2.0, 3.0], [1800], 1800)


def test_near_launch_bound_is_a_gpu_bound_wall_time_under_the_ratio_times_the_dispatch():
    """The dispatch: the launch-bound results' median wall time (8 of 4, 8 and 12 here); the line 1.25x it,
    10, exactly. Under it, a GPU-bound result is near launch-bound; at it, or without a wall time, or of
    another class, it keeps its class."""
    classes = {"a": noise.LAUNCH_BOUND, "b": noise.LAUNCH_BOUND, "z": noise.LAUNCH_BOUND, "c": noise.GPU_BOUND,
               "d": noise.GPU_BOUND, "e": noise.LONG_GPU_BOUND, "f": noise.GPU_BOUND, "g": noise.UNKNOWN}
    walls = {"a": 4.0, "b": 8.0, "z": 12.0, "c": 9.999, "d": 10.0, "e": 1.0, "g": 1.0}
    assert noise.dispatch_wall(walls, classes) == 8.0
    assert noise.near_launch_bound(classes, walls) == classes | {"c": noise.NEAR_LAUNCH_BOUND}
    assert noise.dispatch_wall(walls, {}) == 0.0
    assert noise.near_launch_bound({"c": noise.GPU_BOUND}, {"c": 1e-9}) == {"c": noise.GPU_BOUND}


def test_classes_of_class_each_result_by_its_times_and_the_dispatch_of_the_others():
    """In units of 2 ** -12 s (about 0.24 ms): a launch-bound result of 4 (GPU 1) sets the line at 5 exactly; a
    GPU-bound one of 4.75 is near it, one of 5 not; a long one, and one without both times, keep config_class's
    class."""
    unit = 2.0 ** -12
    times = {"a": (4 * unit, unit), "near": (4.75 * unit, 4.5 * unit), "far": (5 * unit, 4.5 * unit),
             "long": (20e-3, 20e-3), "none": (None, None), "wall only": (4 * unit, None)}
    assert noise.classes_of(times) == {"a": noise.LAUNCH_BOUND, "near": noise.NEAR_LAUNCH_BOUND,
                                       "far": noise.GPU_BOUND, "long": noise.LONG_GPU_BOUND,
                                       "none": noise.UNKNOWN, "wall only": noise.UNKNOWN}
