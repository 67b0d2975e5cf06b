"""install's tuning of the GPU slowdowns' steps (lib/injected_steps.py): the move of a length, the step kept,
the rounds over a modelled spin, and score's reading of the steps kept beside a spec."""

from __future__ import annotations

import json
import random

import pytest
from lib import injected_steps
from lib.cli import ToolError
from lib.injected_steps import Step, best, landed, next_cycles
from lib.remeasure import Remeasured
from lib.suite import schema
from test_inject_score import GPU, SPEC, injector

RATE = 1900.0  # cycles a microsecond


def test_the_constants_the_rounds_are_read_with():
    assert (injected_steps.TUNE_ROUNDS, injected_steps.TUNE_PROCESSES, injected_steps.STEP_TOLERANCE,
            injected_steps.MAX_MOVE, injected_steps.ROUND_BUDGET_SECONDS) == (3, 6, 0.006, 2.0, 600.0)


def test_a_step_lands_from_its_amount_to_the_tolerance_above_it():
    assert landed(1.05, 1.05) and landed(1.0559, 1.05) and landed(1.053, 1.05)
    assert not landed(1.0499, 1.05) and not landed(1.0561, 1.05) and not landed(1.053, None)
    assert landed(1.0 + injected_steps.STEP_TOLERANCE, 1.0)  # the window's top is in it
    step = Step("c", "m", 10.0, 19000, 1, 200e-6, 1.04, 0.002)
    assert step.target == pytest.approx(1.05, abs=1e-12) and not step.landed
    assert Step("c", "m", 10.0, 19000, 1).target is None and not Step("c", "m", 10.0, 19000, 1).landed
    assert step.as_json() == {"config": "c", "mask": "m", "amount_us": 10.0, "cycles": 19000, "round": 1,
                              "base_seconds": 200e-6, "ratio": 1.04, "error": 0.002, "target": step.target,
                              "landed": False}


def test_a_steps_error_is_each_sides_medians_added_in_quadrature():
    """Logs of 1, 1.01, 1.02 (stdev 0.009901) and of one value twice: 1.2533 x 0.009901 / sqrt(3) = 0.0071646."""
    assert injected_steps.ratio_error([1.0, 1.01, 1.02], [2.0, 2.0]) == pytest.approx(0.0071646, abs=1e-7)
    both = injected_steps.ratio_error([1.0, 1.01, 1.02], [2.0, 2.02, 2.04])
    assert both == pytest.approx(0.0071646 * 2 ** 0.5, abs=1e-7)
    assert injected_steps.ratio_error([1.0], [1.0, 1.1]) == float("inf")


def test_a_length_moves_by_what_its_step_missed_of_the_amount_and_half_the_tolerance():
    """10 us on 200 us: the aim is 10.6 us; a step of 1.04 added 8 us, 2.6 us short: 4,940 cycles more."""
    assert next_cycles(Step("c", "m", 10.0, 19000, 1, 200e-6, 1.04), 19000, RATE) == 23940
    assert next_cycles(Step("c", "m", 10.0, 19000, 1, 200e-6, 1.055), 19000, RATE) == 18240  # 0.4 us over
    # at most MAX_MOVE either way in a round
    assert next_cycles(Step("c", "m", 10.0, 19000, 1, 200e-6, 1.10), 19000, RATE) == 9500
    assert next_cycles(Step("c", "m", 10.0, 19000, 1, 200e-6, 0.99), 19000, RATE) == 38000
    # and never beyond CALIBRATION_RANGE of the rate's length, where the injector would spin the rate's
    assert next_cycles(Step("c", "m", 10.0, 6000, 1, 200e-6, 1.10), 19000, RATE) == 4750
    assert next_cycles(Step("c", "m", 10.0, 60000, 1, 200e-6, 1.0), 19000, RATE) == 76000
    # rounded, not floored: half of 19,003 is 9,501.5; a quarter of 19,001 is 4,750.25, and the least is 4,751
    assert next_cycles(Step("c", "m", 10.0, 19003, 1, 200e-6, 1.10), 19003, RATE) == 9502
    assert next_cycles(Step("c", "m", 10.0, 6000, 1, 200e-6, 1.10), 19001, RATE) == 4751
    assert next_cycles(Step("c", "m", 1e-3, 1, 1, 200e-6, 1.10), 1, RATE) == 1  # never under one cycle


def test_the_step_kept_is_the_first_that_landed_else_the_nearest_at_or_above_its_amount_else_below():
    def step(index: int, ratio: float | None) -> Step:
        return Step("c", "m", 10.0, 1000 * index, index, 200e-6, ratio)

    assert best([step(1, 1.04), step(2, 1.053), step(3, 1.051)]).round == 2
    assert best([step(1, 1.048), step(2, 1.07), step(3, 1.062)]).round == 3
    assert best([step(1, 1.04), step(2, 1.048), step(3, 1.045)]).round == 2
    assert best([step(1, None), step(2, None)]).round == 2
    assert best([step(1, 1.03), step(2, None)]).round == 1


def spin_model(added_per_cycle: dict, fixed_us: dict, base: float, spec: str, rounds: list):
    """A fake re-measurement: each key's contender adds ``fixed + added_per_cycle x cycles`` us to ``base``
    seconds, its cycles what the injector would spin now; the first round keeps the sleep rate, as a
    child does."""
    entries = {(e["config"], e["mask"]): e for e in json.loads(open(spec).read())["slowdowns"]}

    def remeasure(plan, workers, device, processes, seed, budget):
        assert (device, processes, budget) == ("cuda", 6, injected_steps.ROUND_BUDGET_SECONDS)
        rounds.append((plan, seed))
        if injector.kept_rate(spec, GPU) is None:
            injector.keep_rate(spec, GPU, RATE)
        values = {}
        for key in plan:
            if key not in added_per_cycle:
                values[key] = {"baseline": {"gpu": [base] * 6}, "contender": {}}
                continue
            cycles = injector.spin_cycles(entries[key], spec, GPU, RATE)
            added = (fixed_us[key] + added_per_cycle[key] * cycles) * 1e-6
            values[key] = {"baseline": {"gpu": [base] * 6}, "contender": {"gpu": [base + added] * 6}}
        return Remeasured(values, 1.0)

    return remeasure


class NoWorkers:
    def __init__(self, pythons, device):
        assert (pythons, device) == ({"baseline": "b", "contender": "c"}, "cuda")

    def __enter__(self):
        return self

    def __exit__(self, *_):
        pass


def test_the_rounds_tune_each_spin_until_its_step_lands_and_keep_the_nearest_where_none_does(tmp_path, monkeypatch):
    """10 us on 200 us each (the rate's length 19,000 cycles). A spin adding 0.8 of its length: 1.040, then
    23,940 cycles land at 1.0504. One adding 1.3: 1.065, 1.0494, 1.0541. One whose step does not grow with
    its length: 1.025 in every round, the rate's length kept. One the contender never measured: no step."""
    spec = str(tmp_path / "spec.json")
    keys = [(f"{batch}, 16, (128, 256), 2048, 'bfloat16'", "causal_bias") for batch in (1, 8, 16, 32)]
    night = {keys[0]: 2e-4, keys[1]: 3e-3}  # the others: a spec without it, rested
    slowdowns = [{"config": c, "mask": m, "gpu_us": 10.0, "cpu_us": 0.0, "extra_ops": 0,
                  **({"night_gpu_seconds": night[(c, m)]} if (c, m) in night else {})} for c, m in keys]
    (tmp_path / "spec.json").write_text(json.dumps({"slowdowns": slowdowns}))
    rounds: list = []
    per_cycle = {keys[0]: 0.8 / RATE, keys[1]: 1.3 / RATE, keys[2]: 0.0}
    fixed = {keys[0]: 0.0, keys[1]: 0.0, keys[2]: 5.0}
    monkeypatch.setattr(injected_steps, "remeasure", spin_model(per_cycle, fixed, 200e-6, spec, rounds))
    monkeypatch.setattr(injected_steps, "Workers", NoWorkers)
    said: list[str] = []
    (tmp_path / ("spec.json" + injector.STEPS_SUFFIX)).write_text("an earlier tuning's")
    steps = injected_steps.tune(spec, slowdowns, {"baseline": "b", "contender": "c"}, GPU, 7, said.append)
    assert [list(plan) for plan, _ in rounds] == [keys, keys[:3], keys[1:3]]
    draws = random.Random(7)
    assert [seed for _, seed in rounds] == [draws.randrange(2**32) for _ in rounds]  # the order's seeds, from 7
    rounds = [plan for plan, _ in rounds]
    assert [rounds[0][key].heavy_rest for key in keys] == [0.0, schema.HEAVY_GPU_REST_SECONDS,
                                                          schema.HEAVY_GPU_REST_SECONDS,
                                                          schema.HEAVY_GPU_REST_SECONDS]
    assert {key: (plan.signals, plan.visits) for key, plan in rounds[0].items()} == {key: (("gpu",), 1) for key in keys}
    assert [(s.round, s.cycles, None if s.ratio is None else round(s.ratio, 6), s.landed) for s in steps] == [
        (2, 23940, 1.050400, True), (3, 15808, 1.054080, True), (1, 19000, 1.025, False), (1, 19000, None, False)]
    assert said[:4] == [
        f"round 1: {keys[0][0]} causal_bias: 10.00 us, 19000 cycles: 1.0400 +- 0.0000 for 1.0500 (short)",
        f"round 1: {keys[1][0]} causal_bias: 10.00 us, 19000 cycles: 1.0650 +- 0.0000 for 1.0500 (beyond the "
        "tolerance)",
        f"round 1: {keys[2][0]} causal_bias: 10.00 us, 19000 cycles: 1.0250 +- 0.0000 for 1.0500 (short)",
        f"round 1: {keys[3][0]} causal_bias: 10.00 us, 19000 cycles: no GPU time measured"]
    assert len(said) == 9 and said[4].startswith("round 2: ") and said[-1].startswith("round 3: ")
    # The lengths kept are those of the steps kept; the steps beside them, which score reads.
    kept = json.loads((tmp_path / ("spec.json" + injector.SPIN_SUFFIX)).read_text())
    assert kept == {GPU: {injector.entry_key(e): c for e, c in zip(slowdowns, (23940, 15808, 19000, 19000))}}
    assert injected_steps.kept_steps(spec, slowdowns) == {keys[0]: (pytest.approx(1.0504), 0.0),
                                                          keys[1]: (pytest.approx(1.05408), 0.0),
                                                          keys[2]: (pytest.approx(1.025), 0.0), keys[3]: (None, None)}
    # a step of another amount (the spec planned again) is not this slowdown's
    for amount in (12.0, 8.0):
        again = [{**slowdowns[0], "gpu_us": amount}, *slowdowns[1:]]
        assert list(injected_steps.kept_steps(spec, again)) == keys[1:], amount


def test_a_tuning_whose_steps_land_in_the_first_round_ends_there_and_keeps_those_lengths(tmp_path, monkeypatch):
    spec = str(tmp_path / "spec.json")
    key = ("1, 16, (128, 256), 2048, 'bfloat16'", "causal_bias")
    slowdowns = [{"config": key[0], "mask": key[1], "gpu_us": 10.0, "night_gpu_seconds": 2e-4}]
    (tmp_path / "spec.json").write_text(json.dumps({"slowdowns": slowdowns}))
    rounds: list = []
    monkeypatch.setattr(injected_steps, "remeasure", spin_model({key: 1.05 / RATE}, {key: 0.0}, 200e-6, spec, rounds))
    monkeypatch.setattr(injected_steps, "Workers", NoWorkers)
    (step,) = injected_steps.tune(spec, slowdowns, {"baseline": "b", "contender": "c"}, GPU, 1, [].append)
    assert (len(rounds), step.round, step.cycles, step.landed) == (1, 1, 19000, True)
    assert json.loads((tmp_path / ("spec.json" + injector.SPIN_SUFFIX)).read_text()) == {
        GPU: {injector.entry_key(slowdowns[0]): 19000}}


def test_a_tuning_that_fails_leaves_the_rates_lengths_and_no_steps(tmp_path, monkeypatch):
    """Its rounds wrote lengths for the next; a failure after them must not leave those to the night."""
    spec = str(tmp_path / "spec.json")
    key = ("1, 16, (128, 256), 2048, 'bfloat16'", "causal_bias")
    slowdowns = [{"config": key[0], "mask": key[1], "gpu_us": 10.0}]
    (tmp_path / "spec.json").write_text(json.dumps({"slowdowns": slowdowns}))
    rounds: list = []
    model = spin_model({key: 0.5 / RATE}, {key: 0.0}, 200e-6, spec, rounds)

    def failing(*args):
        if rounds:
            raise ToolError("a worker's answer")
        return model(*args)

    monkeypatch.setattr(injected_steps, "remeasure", failing)
    monkeypatch.setattr(injected_steps, "Workers", NoWorkers)
    with pytest.raises(ToolError, match="a worker's answer"):
        injected_steps.tune(spec, slowdowns, {"baseline": "b", "contender": "c"}, GPU, 1, [].append)
    assert injector.kept_spins(spec, GPU) == {} and not (tmp_path / ("spec.json" + injector.STEPS_SUFFIX)).exists()


def test_a_round_without_the_gpus_sleep_rate_is_a_user_error(tmp_path):
    with pytest.raises(ToolError, match=f"kept no sleep rate of {GPU} beside "):
        injected_steps.sleep_rate(str(tmp_path / "spec.json"), GPU)
    injector.keep_rate(str(tmp_path / "spec.json"), "NVIDIA H100", 1700.0)  # another GPU's is no answer
    with pytest.raises(ToolError):
        injected_steps.sleep_rate(str(tmp_path / "spec.json"), GPU)
    injector.keep_rate(str(tmp_path / "spec.json"), GPU, RATE)
    assert injected_steps.sleep_rate(str(tmp_path / "spec.json"), GPU) == RATE


def test_a_step_is_measured_only_where_both_sides_have_times():
    key = ("c", "m")
    measured = Remeasured({key: {"baseline": {"gpu": [2.0, 2.0]}, "contender": {"gpu": [2.1, 2.1]}}}, 1.0)
    assert injected_steps.measured_step(measured, key) == (2.0, pytest.approx(1.05), 0.0)
    for contender in ([], [0.0, 2.1], [-1.0, 2.1]):
        measured = Remeasured({key: {"baseline": {"gpu": [2.0, 2.0]}, "contender": {"gpu": contender}}}, 1.0)
        assert injected_steps.measured_step(measured, key) is None, contender
    assert injected_steps.step_line(Step("c", "m", 2.0, 100, 1, 2e-4, None)) == (
        "round 1: c m: 2.00 us, 100 cycles: no GPU time measured")
    assert injected_steps.step_line(Step("c", "m", 2.0, 100, 2, 2e-4, 1.02)) == (
        "round 2: c m: 2.00 us, 100 cycles: 1.0200 for 1.0100 (beyond the tolerance)")


STEP = '{"config": "c", "mask": "m", "amount_us": 1.0'


@pytest.mark.parametrize("text", ['{"A": []}', '{"steps": [{"config": "c"}]}', '{"steps": 3}', "[",
                                  '{"steps": [' + STEP + ', "ratio": "1.05"}]}',
                                  '{"steps": [' + STEP + ', "ratio": -1.0}]}',
                                  '{"steps": [' + STEP + ', "ratio": 0.0}]}',
                                  '{"steps": [' + STEP + ', "ratio": Infinity}]}',
                                  '{"steps": [' + STEP + ', "ratio": NaN}]}',
                                  '{"steps": [' + STEP + ', "ratio": 1.05, "error": -0.1}]}'])
def test_damaged_steps_beside_a_spec_are_a_user_error(tmp_path, text):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    (tmp_path / ("spec.json" + injector.STEPS_SUFFIX)).write_text(text)
    with pytest.raises(ToolError, match="spec.json.steps.json: "):
        injected_steps.kept_steps(str(spec), [{"config": "c", "mask": "m", "gpu_us": 1.0}])


def test_steps_beside_a_spec_faster_or_exact_are_read_as_they_are(tmp_path):
    spec = tmp_path / "spec.json"
    (tmp_path / ("spec.json" + injector.STEPS_SUFFIX)).write_text(
        '{"steps": [' + STEP + ', "ratio": 0.9, "error": 0.002}]}')
    assert injected_steps.kept_steps(str(spec), [{"config": "c", "mask": "m", "gpu_us": 1.0}]) == {
        ("c", "m"): (0.9, 0.002)}
    assert injected_steps.kept_steps(str(tmp_path / "other.json"), []) == {}
