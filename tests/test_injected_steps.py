"""install's tuning of the GPU slowdowns' steps (lib/injected_steps.py): the move of a length, the step kept,
the rounds over a modelled spin, and score's reading of the steps kept beside a spec."""

from __future__ import annotations

import json

import pytest
from conftest import run_tool
from lib import injected_steps
from lib.cli import ToolError
from lib.injected_steps import Step, best, landed, next_cycles
from lib.remeasure import Remeasured
from lib.suite import schema
from test_inject_score import GPU_KEY, REPORT, SHORT_KEY, SPEC

import inject

injector = injected_steps.injector
GPU = "NVIDIA H200"
Infinity = float("inf")  # a step whose sides had one value each: its error, as JSON writes it
RATE = 1900.0  # cycles a microsecond


def test_the_constants_the_rounds_are_read_with():
    assert (injected_steps.TUNE_ROUNDS, injected_steps.TUNE_PROCESSES, injected_steps.STEP_TOLERANCE,
            injected_steps.MAX_MOVE) == (3, 6, 0.006, 2.0)


def test_a_step_lands_from_its_amount_to_the_tolerance_above_it():
    assert landed(1.05, 1.05) and landed(1.0559, 1.05) and landed(1.053, 1.05)
    assert not landed(1.0499, 1.05) and not landed(1.0561, 1.05) and not landed(1.053, None)
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
        rounds.append(plan)
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
    gpu, steps = injected_steps.tune(spec, slowdowns, {"baseline": "b", "contender": "c"}, 7, said.append)
    assert gpu == GPU
    assert [list(plan) for plan in rounds] == [keys, keys[:3], keys[1:3]]
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
    assert injected_steps.kept_steps(spec) == {keys[0]: (pytest.approx(1.0504), 0.0),
                                               keys[1]: (pytest.approx(1.05408), 0.0),
                                               keys[2]: (pytest.approx(1.025), 0.0), keys[3]: (None, None)}


@pytest.mark.parametrize("text", ['{"A": [], "B": []}', '{"A": [{"config": "c"}]}', '{"A": 3}',
                                  '{"A": [{"config": "c", "mask": "m", "ratio": "1.05"}]}',
                                  '{"A": [{"config": "c", "mask": "m", "ratio": -1.0}]}',
                                  '{"A": [{"config": "c", "mask": "m", "ratio": Infinity}]}',
                                  '{"A": [{"config": "c", "mask": "m", "ratio": 1.05, "error": -0.1}]}'])
def test_damaged_steps_beside_a_spec_are_a_user_error(tmp_path, text):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    (tmp_path / ("spec.json" + injector.STEPS_SUFFIX)).write_text(text)
    with pytest.raises(ToolError, match="spec.json.steps.json: "):
        injected_steps.kept_steps(str(spec))
    (tmp_path / "check.json").write_text(json.dumps(REPORT))
    completed = run_tool("inject.py", "score", "--spec", str(spec), "--check", str(tmp_path / "check.json"))
    assert completed.returncode == 2 and completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr


def test_score_sets_each_gpu_step_install_measured_beside_what_the_check_found(tmp_path):
    """The GPU key, injected at 1.0512 and found; the short one, injected at 1.046: short of the factor by
    install's own measure, a miss of the injector and not of the check."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    steps = [{"config": GPU_KEY[0], "mask": GPU_KEY[1], "ratio": 1.0512, "error": 0.0021},
             {"config": SHORT_KEY[0], "mask": SHORT_KEY[1], "ratio": 1.046, "error": Infinity}]
    injector.keep_for_gpu(str(spec) + injector.STEPS_SUFFIX, GPU, steps)
    rows = inject.score_rows(SPEC["slowdowns"], REPORT, injected_steps.kept_steps(str(spec)))
    assert [(row["signal"], row["injected"], row["+-"], row["level"]) for row in rows] == [
        ("gpu", 1.0512, 0.0021, "regression"), ("gpu", 1.046, float("inf"), "-"), ("wall", None, None, "suspect"),
        ("aten_ops", None, None, "regression"), ("gpu", None, None, "noise")]
    (tmp_path / "check.json").write_text(json.dumps(REPORT))
    completed = run_tool("inject.py", "score", "--spec", str(spec), "--check", str(tmp_path / "check.json"))
    assert completed.returncode == 0, completed.stderr
    assert ("gpu: 1 of 3 injected a regression; 2 re-measured, 2 of them slower by the factor (1.05) or more, 1 of "
            "those a regression; 1 injected at the factor or more by install's steps, 1 of those a regression\n"
            in completed.stdout)
    (row,) = [line for line in completed.stdout.splitlines() if GPU_KEY[0] in line]
    assert [cell.strip() for cell in row.split("|")][1:-1] == [*GPU_KEY, "gpu", "1.051", "0.002", "regression",
                                                                "1.075", "1.050", "1.059", "re-measured: confirmed"]
    assert "injected at the factor" not in inject.score(SPEC["slowdowns"], REPORT)  # no steps kept: as before
