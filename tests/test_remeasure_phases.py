"""Where a re-measurement's time goes: each process's phases, summed over processes, in the report."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_ROOT
from lib import report
from lib.suite import schema


def test_a_worker_answer_says_how_long_each_phase_of_its_process_took():
    """Every phase of schema.WORKER_PHASES in the answer; on the CPU no GPU time, and time in the others."""
    label = "1, 4, (16, 48), 64, 'float32'"
    request = schema.WorkerRequest("cpu", 0, (), (schema.WorkerKey(label, "causal_bias", ("wall",), 2),))
    completed = subprocess.run([sys.executable, "-m", "benchmarks.measure.worker"], cwd=REPO_ROOT,
                               input=request.to_json() + "\n", capture_output=True, text=True, timeout=120)
    ready, answer = (schema.WorkerAnswer.from_json(line) for line in completed.stdout.splitlines())
    assert ready.pid is not None and not ready.values and ready.error is None
    assert answer.error is None and tuple(answer.phases) == schema.WORKER_PHASES
    assert answer.phases["gpu"] == answer.phases["gpu_rest"] == 0.0  # no GPU: nothing to time, nothing to rest
    assert all(answer.phases[name] > 0 for name in ("build", "first_calls", "wall")), answer.phases


def test_the_report_gives_a_process_by_phase_and_the_rest_as_fork_exit_and_pipes():
    summary = {"keys": 3, "processes": 4, "seconds": 9.0, "budget": 20.0, "left_out": 1,
               "phases": {"process": 8.0, "start": 1.0, "build": 0.4, "first_calls": 2.0, "wall": 2.0, "gpu": 0.6}}
    assert report.remeasurement_line(summary) == (
        "3 config(s) and mask(s) in 4 processes, 9.0 s of a 20 s budget; 1 candidate(s) left out for the budget, "
        "weakest evidence first (0 above their floor, 1 under it). A process: 2.00 s (start 0.25, build 0.10, "
        "first calls 0.50, wall 0.50, "
        "gpu 0.15; fork, exit and pipes 0.50)")
    assert report.remeasurement_line({**summary, "phases": {}}).endswith("(0 above their floor, 1 under it)")
    assert "(1 above their floor, 0 under it)" in report.remeasurement_line({**summary, "left_out_above_floor": 1})
    assert report.remeasurement_line({**summary, "phases": {}, "refuted_early": 2}).startswith(
        "3 config(s) and mask(s) in 4 processes, 9.0 s of a 20 s budget, 2 of them refuted at a look before the "
        "last; 1 candidate(s) left out")
    assert report.remeasurement_line({**summary, "phases": {}, "refuted_early": 2, "extended": 1}).startswith(
        "3 config(s) and mask(s) in 4 processes, 9.0 s of a 20 s budget, 2 of them refuted at a look before the "
        "last, 1 undecided at the last look and given more processes; 1 candidate(s) left out")
    # Dropped keys are the round's, planned and then dropped: whichever candidates they were, not the left out's.
    assert report.remeasurement_line({**summary, "phases": {}, "left_out": 3, "dropped": 2}) == (
        "3 config(s) and mask(s) in 4 processes, 9.0 s of a 20 s budget; 2 config(s) and mask(s) dropped after the "
        "first processes ran slower than planned; 3 candidate(s) left out for the budget, weakest evidence first "
        "(0 above their floor, 3 under it)")
    assert report.remeasurement_line({**summary, "phases": {}, "left_out": 0, "dropped": 1}) == (
        "3 config(s) and mask(s) in 4 processes, 9.0 s of a 20 s budget; 1 config(s) and mask(s) dropped after the "
        "first processes ran slower than planned")


def test_the_report_gives_the_workers_start_apart_from_the_processes():
    summary = {"keys": 1, "processes": 2, "seconds": 14.0, "budget": 20.0, "left_out": 0,
               "phases": {"workers": 10.0, "process": 4.0, "start": 0.5, "build": 0.1, "first_calls": 1.0,
                          "wall": 1.0, "gpu": 0.4}}
    assert report.remeasurement_line(summary) == (
        "1 config(s) and mask(s) in 2 processes, 14.0 s of a 20 s budget. The workers' start (torch's import): "
        "10.0 s. A process: 2.00 s (start 0.25, build 0.05, first calls 0.50, wall 0.50, gpu 0.20; fork, exit "
        "and pipes 0.50)")


def test_the_report_counts_the_gpu_times_called_on_their_night_apart_from_those_left_out():
    summary = {"keys": 3, "processes": 4, "seconds": 9.0, "budget": 20.0, "left_out": 1, "phases": {}}
    assert report.remeasurement_line({**summary, "called_on_night": 2}) == (
        "3 config(s) and mask(s) in 4 processes, 9.0 s of a 20 s budget; 2 GPU time(s) called on their night, "
        "not re-measured for the budget: one night beyond the noise in each of its builds; 1 candidate(s) left out "
        "for the budget, weakest evidence first (0 above their floor, 1 under it)")
    assert report.remeasurement_line({**summary, "called_on_night": 0}) == report.remeasurement_line(summary)
    failed = {**summary, "called_on_night": 2, "left_out": 0, "error": "the contender worker stopped answering",
              "unmeasured": 1}
    assert report.remeasurement_line(failed) == (
        "3 config(s) and mask(s) in 4 processes, 9.0 s of a 20 s budget; 2 GPU time(s) called on their night, "
        "not re-measured as a round failed: one night beyond the noise in each of its builds; then a round failed "
        "(the contender worker stopped answering): the 1 candidate(s) not yet measured stay suspects, what the "
        "rounds before it measured is decided")
