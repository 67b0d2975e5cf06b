"""Which pass of the night measures what: the visits per config and the GPU times per build (CUDA stood in for)."""

from __future__ import annotations

import math
import sys
from collections import Counter
from types import SimpleNamespace

import pytest
import torch
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from benchmarks import night_state  # noqa: E402
from benchmarks import schema as grid  # noqa: E402
from benchmarks.measure import night  # noqa: E402

# Each config's call, by batch size: under 1 ms (short), 2 ms, and 20 ms; GPU times half that, the last heavy.
CALL_SECONDS = {1: 0.0005, 8: 0.002, 16: 0.02}


@pytest.fixture
def passes(monkeypatch):
    """A CUDA night of three configs whose builds, timers and rests are stand-ins: what it did, in order."""
    return stand_in_night(monkeypatch)


def stand_in_night(monkeypatch, fails=lambda config, events: False, mismatch: tuple[int, ...] = ()):
    """The night of ``passes``; a build raises where ``fails(config, events so far)``, the check where the
    config's batch size is in ``mismatch``."""
    events: list[tuple] = []
    builds: list[int] = []  # each build's batch size, in order (a case knows its build's index)
    counted_with: dict[tuple[int, str], int] = {}  # (batch size, mask) -> the build its counts used

    def build(config, mask_builder):
        if fails(config, events):
            raise RuntimeError("CUDA out of memory")
        builds.append(config.batch_size)
        return SimpleNamespace(config=config, build=len(builds) - 1,
                               runner=lambda mask: SimpleNamespace(config=config, mask=mask))

    def count(case, mask, figures):
        counted_with[(case.config.batch_size, mask)] = case.build
        events.append(("count", case.config.batch_size, mask))

    def check(case):
        if case.config.batch_size in mismatch:
            raise AssertionError("the masks disagree")

    def visit(run, block_seconds=0.005, blocks=3, warm=False):
        events.append(("visit", run.config.batch_size, run.mask, block_seconds) + (("warm",) if warm else ()))
        return CALL_SECONDS[run.config.batch_size]

    def gpu_time(run, rest=None):
        seconds = CALL_SECONDS[run.config.batch_size] / 2
        events.append(("capture", run.config.batch_size, run.mask))
        if rest is not None:
            rest(seconds)  # one replay's seconds, as timers.graph_replay_seconds passes them
        return seconds

    monkeypatch.setattr(night, "cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "a stand-in GPU")
    monkeypatch.setattr(night, "build_case", build)
    monkeypatch.setattr(night, "check_case", lambda case: check(case))
    monkeypatch.setattr(night, "measure_counts", count)
    monkeypatch.setattr(night, "visit_seconds", visit)
    monkeypatch.setattr(night, "graph_replay_seconds", gpu_time)
    monkeypatch.setattr(night, "sm_clock_mhz", lambda: 1980)
    monkeypatch.setattr(night.time, "sleep", lambda seconds: events.append(("rest", seconds)))
    configs = grid.grid_configs([[16, 1, 8], [16], [(128, 256)], [2048], ["bfloat16"]], "cuda")
    state = night.measure_grid(configs)
    state.stand_in = SimpleNamespace(builds=builds, counted_with=counted_with)
    return state, events


def _figures(state, batch_size: int, mask: str):
    return next(f[mask] for config, f in state.figures.items() if config.batch_size == batch_size)


def test_calls_under_one_ms_get_sixteen_visits_the_last_twelve_in_blocks_of_2_ms(passes):
    state, events = passes
    for mask in grid.MASKS:
        blocks = [event[3] for event in events if event[:3] == ("visit", 1, mask)]
        assert blocks == [night.VISIT_BLOCK_SECONDS] * 4 + [0.002] * 12
        assert len(_figures(state, 1, mask).wall_visits) == night.SHORT_CALL_PASSES == 16
        for batch in (8, 16):  # longer calls: the four full passes only
            assert len(_figures(state, batch, mask).wall_visits) == night.WALL_PASSES == 4


def test_only_the_first_passs_visits_skip_their_untimed_call_right_after_the_check(passes):
    state, events = passes
    visits = [event for event in events if event[0] == "visit"]
    warm = [event for event in visits if event[-1] == "warm"]
    in_grid_order = [(batch, mask) for batch in (16, 1, 8) for mask in grid.MASKS]
    assert [event[1:3] for event in warm] == in_grid_order
    assert visits[:len(warm)] == warm  # the first pass's, each config right after its check


def test_each_mask_runs_first_after_a_build_in_as_many_passes_as_the_other(passes):
    """A config's two masks are visited one after the other on each build: the first after the build in half
    the full passes, half the short ones and one of the two GPU passes, each mask."""
    _, events = passes
    measured = [event for event in events if event[0] in ("visit", "capture")]
    pairs = [(first, second) for first, second in zip(measured[::2], measured[1::2])]
    assert all(first[:2] == second[:2] and first[2] != second[2] for first, second in pairs)
    firsts = Counter((first[0], first[1], first[3] if first[0] == "visit" else None, first[2])
                     for first, _ in pairs)
    for batch in (1, 8, 16):
        for mask in grid.MASKS:
            assert firsts[("visit", batch, night.VISIT_BLOCK_SECONDS, mask)] == night.WALL_PASSES // 2 == 2
            assert firsts[("capture", batch, None, mask)] == night.GPU_PASSES // 2 == 1
        for mask in grid.MASKS:
            assert firsts[("visit", batch, 0.002, mask)] == (6 if batch == 1 else 0)


def test_every_gpu_time_comes_after_every_wall_visit_one_in_each_gpu_pass(passes):
    state, events = passes
    last_visit = max(index for index, event in enumerate(events) if event[0] == "visit")
    assert all(event[0] != "capture" for event in events[:last_visit])
    for mask in grid.MASKS:
        for batch in (1, 8, 16):
            figures = _figures(state, batch, mask)
            assert night.GPU_PASSES == 2 and figures.kernel_visits == [CALL_SECONDS[batch] / 2] * 2
            assert figures.kernel_seconds == CALL_SECONDS[batch] / 2
            assert figures.sm_clocks_mhz == [1980] * 2


def test_each_gpu_pass_rests_first_takes_the_least_gpu_work_first_and_rests_a_heavy_key_before_its_blocks(passes):
    state, events = passes
    last_visit = max(index for index, event in enumerate(events) if event[0] == "visit")
    causal, materialized = "causal_bias", "materialized"
    assert grid.MASKS == (materialized, causal)

    def gpu_pass(masks):  # batch 16's GPU time, 10 ms, is heavy; batch 8's, 1 ms, is not
        return [("rest", grid.GPU_REST_SECONDS),
                *[("capture", batch, mask) for batch in (1, 8) for mask in masks],
                ("capture", 16, masks[0]), ("rest", grid.HEAVY_GPU_REST_SECONDS),
                ("capture", 16, masks[1]), ("rest", grid.HEAVY_GPU_REST_SECONDS)]

    first_count = events.index(("count", 16, materialized))
    assert events[last_visit + 1:first_count] == gpu_pass((materialized, causal)) + gpu_pass((causal, materialized))
    assert {"gpu_rest", "heavy_rest"} <= set(state.phases)  # the night's cost per phase names its rests


def test_the_counts_come_last_after_every_visit_and_gpu_time_a_build_each(passes):
    """A profile leaves CUPTI attached to the process, and every launch after it pays CUPTI's callbacks (a
    launch-bound forward 1.18-1.26x on an H200): nothing is timed after the first count."""
    state, events = passes
    first_count = next(index for index, event in enumerate(events) if event[0] == "count")
    assert events[first_count:] == [("count", batch, mask) for batch in (16, 1, 8) for mask in grid.MASKS]
    assert {"visit", "capture"} <= {event[0] for event in events[:first_count]}
    builds = state.stand_in.builds
    # 3 checks, 3 later full passes of 3, 12 short passes of batch 1, 2 GPU passes of 3, the counts' 3
    assert len(builds) == 3 + 3 * 3 + 12 + 2 * 3 + 3 and builds[-3:] == [16, 1, 8]
    assert state.stand_in.counted_with == {(batch, mask): len(builds) - 3 + index
                                           for index, batch in enumerate((16, 1, 8)) for mask in grid.MASKS}


def test_a_build_failing_in_the_counts_pass_says_so_and_the_others_are_counted(monkeypatch):
    def fails(config, events):
        return config.batch_size == 1 and ("count", 16, "causal_bias") in events

    state, events = stand_in_night(monkeypatch, fails)
    for mask in grid.MASKS:
        assert _figures(state, 1, mask).errors == ["counts: building failed: RuntimeError: CUDA out of memory"]
    assert [event[1] for event in events if event[0] == "count"] == [16, 16, 8, 8]


def test_a_config_whose_check_failed_is_not_counted(monkeypatch):
    state, events = stand_in_night(monkeypatch, mismatch=(8,))
    assert [event[1] for event in events if event[0] == "count"] == [16, 16, 1, 1]


def test_a_build_failing_in_a_gpu_pass_says_so_on_both_masks_and_the_other_pass_still_measures(monkeypatch):
    def fails(config, events):  # batch 8's build in the first GPU pass
        return config.batch_size == 8 and events.count(("rest", grid.GPU_REST_SECONDS)) == 1

    state, events = stand_in_night(monkeypatch, fails)
    for mask in grid.MASKS:
        figures = _figures(state, 8, mask)
        assert figures.errors == ["GPU pass 1: building failed: RuntimeError: CUDA out of memory"]
        assert figures.kernel_visits == [CALL_SECONDS[8] / 2]  # the second pass's
        assert _figures(state, 16, mask).kernel_visits == [CALL_SECONDS[16] / 2] * 2  # the pass went on


def test_a_config_whose_check_failed_gets_no_gpu_time_and_the_others_do(monkeypatch):
    state, events = stand_in_night(monkeypatch, mismatch=(8,))
    assert not any(event[:2] == ("capture", 8) for event in events)
    assert state.figures[next(c for c in state.figures if c.batch_size == 8)] == "the equivalence check failed"
    assert [event[1] for event in events if event[0] == "capture"] == [1, 1, 16, 16] * 2


def test_the_gpu_time_is_the_geometric_mean_of_the_two_fastest_builds():
    assert night.MaskFigures(kernel_visits=[3e-4, 2e-4, 2.5e-4]).kernel_seconds == math.sqrt(2e-4 * 2.5e-4)
    assert night.MaskFigures(kernel_visits=[2e-4, 9e-4, 2e-4]).kernel_seconds == 2e-4  # one slow build: left out
    assert night.MaskFigures(kernel_visits=[3e-4]).kernel_seconds == 3e-4  # one build: the other pass's failed
    assert night.MaskFigures().kernel_seconds is None


def test_a_masks_values_are_its_figures_by_name():
    dispatch = night_state.DispatchCounts(Counter({"aten::_scaled_dot_product_cudnn_attention": 1, "aten::mm": 3}),
                                          Counter({"k": 5}), 1, Counter({"cudaStreamSynchronize": 1}), 40, 7)
    figures = night.MaskFigures(wall_visits=[3e-4, 2e-4], kernel_visits=[1.5e-4, 1e-4], peak_memory=4096,
                                dispatch=dispatch, errors=["pass 2: building failed: OOM"])
    assert figures.values() == night_state.MaskValues(
        {"wall_time": 2e-4, "gpu_time": math.sqrt(1.5e-4 * 1e-4), "peak_memory": 4096,
         "sdpa_backend": grid.BACKEND_CODES["cuDNN"], "aten_ops": 4, "kernels": 5, "syncs": 1, "python_calls": 40,
         "allocations": 7},
        "pass 2: building failed: OOM")
    nothing = night.MaskFigures(errors=["wall timing failed: boom"]).values()
    assert set(nothing.figures.values()) == {None} and nothing.error == "wall timing failed: boom"


def test_the_night_file_keeps_every_gpu_time_and_its_clock(passes, tmp_path, monkeypatch):
    import json

    state, _ = passes
    monkeypatch.setenv(grid.DISPATCH_FILE_VARIABLE, str(tmp_path / "c.dispatch"))
    night.write_night(state, 1.0)
    record = json.loads((tmp_path / "c.night").read_text())
    label = next(config.label for config in state.figures if config.batch_size == 8)
    assert record["gpu_time_visits"][label] == {mask: [0.001] * 2 for mask in grid.MASKS}
    assert record["sm_clock_mhz"][label] == {mask: [1980] * 2 for mask in grid.MASKS}


def test_a_later_pass_that_failed_marks_its_figure_measured_in_part_in_the_night_file(monkeypatch, tmp_path):
    """Batch 8's build fails in the second wall pass and in the first GPU pass: its wall time and GPU time come
    from fewer visits, and the night file says so, with what failed; batch 16's figures are whole."""
    import json

    attempts = Counter()

    def fails(config, events):  # batch 8's builds: the first pass's, the later wall passes', the GPU passes'
        attempts[config.batch_size] += 1
        return config.batch_size == 8 and attempts[8] in (2, night.WALL_PASSES + 1)

    state, _ = stand_in_night(monkeypatch, fails)
    monkeypatch.setenv(grid.DISPATCH_FILE_VARIABLE, str(tmp_path / "c.dispatch"))
    night.write_night(state, 1.0)
    record = json.loads((tmp_path / "c.night").read_text())
    label = next(config.label for config in state.figures if config.batch_size == 8)
    oom = "building failed: RuntimeError: CUDA out of memory"
    assert record[grid.NIGHT_IN_PART] == {label: {mask: {grid.WALL: [f"pass 2: {oom}"],
                                                         grid.GPU: [f"GPU pass 1: {oom}"]} for mask in grid.MASKS}}
    visits = {batch: len(_figures(state, batch, "materialized").wall_visits) for batch in (8, 16)}
    assert visits == {8: night.WALL_PASSES - 1, 16: night.WALL_PASSES}


def test_a_figure_whose_every_visit_failed_is_failed_not_measured_in_part():
    figures = night.MaskFigures(wall_visits=[2e-4])
    figures.failed("wall", "pass 2: building failed: OOM")
    figures.failed("kernel", "GPU time failed: capture")
    figures.failed("counts", "counting failed: boom")
    assert figures.in_part() == {grid.WALL: ["pass 2: building failed: OOM"]}  # no GPU time at all: failed
    assert figures.errors == ["pass 2: building failed: OOM", "GPU time failed: capture", "counting failed: boom"]
    assert night.MaskFigures(wall_visits=[2e-4], kernel_visits=[1e-4]).in_part() == {}
