"""lib.nights by unit: what the verdict reads of a night, each config's class and the reference level, with
exact values from hand-written asv results. In-process and fast: `make mutation` runs these against every
mutant of the module."""

from __future__ import annotations

import math

from lib import nights
from lib.nights import Night
from lib.results import ResultsStore
from lib.suite import schema
from results_factory import write_run

LABELS = ["1, 4, (16, 48), 64, 'float32'", "1, 4, (1, 48), 64, 'float32'",
          "2, 4, (16, 48), 64, 'float32'", "2, 4, (1, 48), 64, 'float32'"]  # results_factory's SMALL_PARAMS
KEY = ("cpu", LABELS[0], "materialized")


def night_run(tmp_path, walls: dict, figures: dict | None = None) -> Night:
    results = tmp_path / "results"
    write_run(results, "box", "a" * 40, 1_000, walls, figures=figures)
    store = ResultsStore(results)
    (run,) = store.runs("box")
    return nights.read_night(store, run)


def test_a_night_reads_every_signal_of_every_config_and_mask(tmp_path):
    walls = {"track_wall_time_materialized": [1.0, 2.0, 3.0, 4.0],
             "track_wall_time_causal_bias": [0.5, 0.25, 0.125, 0.0625]}
    figures = {"track_gpu_time_materialized": [0.1, 0.2, 0.3, 0.4],
               "track_aten_ops_causal_bias": [85.0, 86.0, 87.0, 88.0]}
    night = night_run(tmp_path, walls, figures)
    assert night.problems == []
    assert sorted(night.values) == sorted(("cpu", label, mask) for label in LABELS for mask in schema.MASKS)
    assert night.values[KEY] == {"wall": 1.0, "gpu": 0.1, "aten_ops": None, "kernels": None, "syncs": None,
                                 "python_calls": None, "allocations": None}
    assert night.values[("cpu", LABELS[3], "causal_bias")] == {
        "wall": 0.0625, "gpu": None, "aten_ops": 88.0, "kernels": None, "syncs": None, "python_calls": None,
        "allocations": None}
    assert nights.SIGNALS == ("wall", "gpu", *schema.COUNT_FIGURES) and schema.TIMED_SIGNALS == ("wall", "gpu")


def test_failed_and_missing_wall_times_are_problems_skipped_ones_are_not(tmp_path):
    walls = {"track_wall_time_materialized": [None, 2.0, math.nan, 4.0],
             "track_wall_time_causal_bias": [0.5, 0.25, 0.125, 0.0625]}
    night = night_run(tmp_path, walls)
    assert night.problems == [f"AttentionBiasNightCPU.materialized({LABELS[0]}): failed"]
    assert night.value(KEY, "wall") is None
    assert night.value(("cpu", LABELS[2], "materialized"), "wall") is None
    assert night.value(("cpu", LABELS[1], "materialized"), "wall") == 2.0


def test_a_night_without_the_grids_wall_times_has_no_values(tmp_path):
    walls = {"track_wall_time_materialized": [None] * 4, "track_wall_time_causal_bias": [math.nan] * 4}
    night = night_run(tmp_path, walls)
    assert (night.values, night.problems) == ({}, [])


def test_a_value_that_was_never_read_is_none():
    night = Night(None, {KEY: {"wall": 1.0}})
    assert night.value(KEY, "wall") == 1.0
    assert night.value(KEY, "gpu") is None
    assert night.value(("cpu", "x", "materialized"), "wall") is None


def test_the_times_come_from_the_latest_night_with_both():
    launch = Night(None, {KEY: {"wall": 3e-3, "gpu": 2e-3}})
    gpu_bound = Night(None, {KEY: {"wall": 2e-3, "gpu": 2e-3}})
    partial = Night(None, {KEY: {"wall": 9.0, "gpu": None}})
    assert nights.key_times([gpu_bound, launch, partial], KEY) == (3e-3, 2e-3)
    assert nights.key_times([launch, gpu_bound], KEY) == (2e-3, 2e-3)
    assert nights.key_times([partial], KEY) is None
    assert nights.key_times([], KEY) is None


def test_tonights_results_take_tonights_class_the_historys_where_tonight_lacks_a_time():
    """A config 1.4x its GPU time in the history is 1.6x tonight, the host slower: launch-bound tonight, judged
    by the host's move; one without a GPU time tonight keeps the history's class."""
    older = ("gpu", "older", "causal_bias")
    history = [Night(None, {KEY: {"wall": 1.4e-3, "gpu": 1e-3}, older: {"wall": 20e-3, "gpu": 20e-3}})]
    tonight = Night(None, {KEY: {"wall": 1.6e-3, "gpu": 1e-3}, older: {"wall": 20e-3, "gpu": None}})
    assert nights.result_classes(history, tonight) == {KEY: "launch-bound", older: "long GPU-bound"}
    assert nights.result_classes([], tonight) == {KEY: "launch-bound", older: "unknown"}


def test_a_gpu_bound_result_whose_wall_time_is_near_the_dispatch_is_near_launch_bound():
    """Two launch-bound results of 120 and 140 us: the dispatch 130 us, the line 162.5 us. A GPU-bound result
    of 160 us is near it (its GPU time 150 us: 1.07x), one of 165 us is not; a long one never is. Tonight's
    wall time counts, the history's where tonight lacks a time, as for the class."""
    times = {("gpu", "a", "materialized"): (120e-6, 40e-6), ("gpu", "b", "materialized"): (140e-6, 50e-6),
             ("gpu", "near", "materialized"): (160e-6, 150e-6), ("gpu", "far", "materialized"): (165e-6, 160e-6)}
    tonight = Night(None, {key: {"wall": wall, "gpu": gpu} for key, (wall, gpu) in times.items()})
    history = [Night(None, {("gpu", "then", "causal_bias"): {"wall": 150e-6, "gpu": 140e-6}})]
    tonight.values[("gpu", "then", "causal_bias")] = {"wall": 150e-6, "gpu": None}
    assert nights.result_classes(history, tonight) == {
        ("gpu", "a", "materialized"): "launch-bound", ("gpu", "b", "materialized"): "launch-bound",
        ("gpu", "near", "materialized"): "near launch-bound", ("gpu", "far", "materialized"): "GPU-bound",
        ("gpu", "then", "causal_bias"): "near launch-bound"}


def test_without_a_launch_bound_result_none_is_near_launch_bound():
    long = ("gpu", "long", "materialized")
    tonight = Night(None, {KEY: {"wall": 1e-6, "gpu": 1e-6}, long: {"wall": 1e-2, "gpu": 1e-2}})
    assert nights.result_classes([], tonight) == {KEY: "GPU-bound", long: "long GPU-bound"}


def test_the_reference_is_the_median_of_the_last_window_nights_with_a_value():
    history = [Night(None, {KEY: {"wall": v}}) for v in (100.0, 1.0, None, 3.0, 2.0, 0.0)]
    assert nights.reference_level(history, KEY, "wall", 4) == 2.5  # (None, 3, 2, 0): 3 and 2
    assert nights.reference_level(history, KEY, "wall", 5) == 2.0  # 1, 3, 2
    assert nights.reference_level(history, KEY, "wall", 6) == 2.5  # 100, 1, 3, 2
    assert nights.reference_level(history, KEY, "wall", 1) is None  # 0.0 is no value
    assert nights.reference_level(history, KEY, "gpu", 6) is None


def test_a_signal_named_at_run_time_reads_the_same_value(tmp_path):
    """Signal names read from a file are equal to the literals, not the same objects."""
    walls = {"track_wall_time_materialized": [1.0, 2.0, 3.0, 4.0],
             "track_wall_time_causal_bias": [0.5, 0.25, 0.125, 0.0625]}
    results = tmp_path / "results"
    write_run(results, "box", "a" * 40, 1_000, walls, figures={"track_gpu_time_materialized": [0.1, 0.2, 0.3, 0.4]})
    store = ResultsStore(results)
    (run,) = store.runs("box")
    from lib.rows import config_rows

    (row, *_) = config_rows(store.load(run), schema.GRIDS[1], store.param_names(schema.GRIDS[1]))
    wall, gpu = "".join(["wa", "ll"]), "".join(["g", "pu"])
    assert (nights.signal_value(row, "materialized", wall), nights.signal_value(row, "materialized", gpu)) == (1.0, 0.1)
    assert nights.signal_value(row, "materialized", "aten_ops") is None


def test_a_night_reads_each_benchmarks_version_and_the_history_keeps_tonights_series(tmp_path):
    walls = {"track_wall_time_materialized": [1.0, 2.0, 3.0, 4.0], "track_wall_time_causal_bias": [5.0] * 4}
    gpus = {"track_gpu_time_materialized": [0.5] * 4}
    before = night_run(tmp_path / "a", walls, gpus)
    results = tmp_path / "b" / "results"
    write_run(results, "box", "b" * 40, 2_000, walls, figures=gpus, versions={"track_wall_time_materialized": "2"})
    store = ResultsStore(results)
    tonight = nights.read_night(store, store.runs("box")[0])
    wall = schema.benchmark_name("AttentionBiasNightCPU", "track_wall_time_materialized")
    assert (before.versions[wall], tonight.versions[wall]) == ("1", "2")
    assert nights.benchmark_of(KEY, schema.WALL) == wall
    assert nights.benchmark_of(KEY, schema.GPU) == wall.replace("wall_time", "gpu_time")
    assert nights.benchmark_of(KEY, "kernels") == wall.replace("wall_time", "kernels")
    (series,), changed = nights.in_tonights_series([before], tonight)
    assert changed == [wall]
    # only the bumped benchmark's values leave the history: the other mask's wall time, the GPU time stay
    assert [series.value(("cpu", label, "materialized"), schema.WALL) for label in LABELS] == [None] * 4
    assert series.value(("cpu", LABELS[1], "causal_bias"), schema.WALL) == 5.0
    assert series.value(KEY, schema.GPU) == 0.5
    assert nights.in_tonights_series([before], before) == ([before], [])
    # a benchmark tonight lacks (not run, failed) starts no new series
    tonight.versions.pop(wall)
    assert nights.in_tonights_series([before], tonight) == ([before], [])


def test_versions_are_compared_for_equality_alone(tmp_path):
    """A version bumped from v9 to v10 (tonight's sorts before the history's) is a change, and so is one set
    back; the same version read from two files (equal strings, not the same object) is none."""
    walls = {"track_wall_time_materialized": [1.0] * 4}
    read = []
    for index, version in enumerate(("v10", "v9", "v9")):
        results = tmp_path / str(index) / "results"
        write_run(results, "box", "a" * 40, 1_000, walls, versions={"track_wall_time_materialized": version})
        store = ResultsStore(results)
        read.append(nights.read_night(store, store.runs("box")[0]))
    later, earlier, again = read
    wall = schema.benchmark_name("AttentionBiasNightCPU", "track_wall_time_materialized")
    assert nights.in_tonights_series([earlier], later)[1] == [wall]
    assert nights.in_tonights_series([later], earlier)[1] == [wall]
    assert nights.in_tonights_series([earlier], again) == ([earlier], [])


def test_a_signal_measured_in_part_is_read_as_failed_and_said_among_the_problems(tmp_path):
    import json

    walls = {"track_wall_time_materialized": [1.0, 2.0, 3.0, 4.0], "track_wall_time_causal_bias": [5.0] * 4}
    gpus = {"track_gpu_time_materialized": [0.5] * 4, "track_gpu_time_causal_bias": [0.25] * 4}
    results = tmp_path / "results"
    write_run(results, "box", "a" * 40, 1_000, walls, figures=gpus)
    in_part = {LABELS[1]: {"materialized": {schema.WALL: ["pass 2: building failed: OOM"]},
                           "causal_bias": {schema.GPU: ["GPU pass 1: building failed: OOM", "GPU time failed: x"]}}}
    (results / "box" / f"{'a' * 40}{schema.NIGHT_SUFFIX}").write_text(
        json.dumps({schema.NIGHT_VISITS[schema.WALL]: {}, schema.NIGHT_IN_PART: in_part}))
    store = ResultsStore(results)
    night = nights.read_night(store, store.runs("box")[0])
    assert night.value(("cpu", LABELS[1], "materialized"), schema.WALL) is None
    assert night.value(("cpu", LABELS[1], "materialized"), schema.GPU) == 0.5
    assert night.value(("cpu", LABELS[1], "causal_bias"), schema.WALL) == 5.0
    assert night.value(("cpu", LABELS[1], "causal_bias"), schema.GPU) is None
    assert night.value(("cpu", LABELS[0], "materialized"), schema.WALL) == 1.0
    assert night.problems == [
        f"AttentionBiasNightCPU.track_wall_time_materialized({LABELS[1]}): measured in part, not judged: "
        "pass 2: building failed: OOM",
        f"AttentionBiasNightCPU.track_gpu_time_causal_bias({LABELS[1]}): measured in part, not judged: "
        "GPU pass 1: building failed: OOM; GPU time failed: x"]


def test_a_night_file_whose_signals_in_part_are_damaged_is_one_line(tmp_path):
    import json

    import pytest
    from lib.cli import ToolError

    results = tmp_path / "results"
    write_run(results, "box", "a" * 40, 1_000, {"track_wall_time_materialized": [1.0] * 4})
    path = results / "box" / f"{'a' * 40}{schema.NIGHT_SUFFIX}"
    store = ResultsStore(results)
    for damaged in ({LABELS[0]: {"materialized": {"kernels": ["x"]}}}, {LABELS[0]: {"materialized": {"wall": [1]}}},
                    {LABELS[0]: {"materialized": {"wall": []}}}, {LABELS[0]: {"materialized": {"wall": "oom"}}},
                    [1]):
        path.write_text(json.dumps({schema.NIGHT_IN_PART: damaged}))
        with pytest.raises(ToolError, match=rf"^corrupt {path}: "):
            store.night_in_part(store.runs("box")[0])
    path.write_text("[]")
    with pytest.raises(ToolError, match=rf"^corrupt {path}: not a JSON object$"):
        store.night_in_part(store.runs("box")[0])


def versioned(night: int, versions: dict[str, str]) -> Night:
    """A hand-made night of one key's wall and GPU time, with ``versions`` by benchmark name."""
    return Night(None, {KEY: {schema.WALL: 1.0 + night, schema.GPU: 0.5 + night}}, [], versions)


def test_a_version_missing_on_either_side_is_no_change_as_in_asv():
    wall = nights.benchmark_of(KEY, schema.WALL)
    tonight = versioned(9, {wall: "2"})
    assert nights.in_tonights_series([versioned(0, {})], tonight) == ([versioned(0, {})], [])
    assert nights.in_tonights_series([versioned(0, {wall: "1"})], versioned(9, {})) == ([versioned(0, {wall: "1"})], [])


def test_nights_before_a_bump_stay_out_and_only_the_night_of_the_bump_names_it():
    wall, timed = nights.benchmark_of(KEY, schema.WALL), "attention_bias.AttentionBiasCPU.time_materialized"
    history = [versioned(0, {wall: "1", timed: "1"}), versioned(1, {wall: "2", timed: "1"})]
    series, changed = nights.in_tonights_series(history, versioned(9, {wall: "2", timed: "2"}))
    assert changed == []  # the bump came last night; asv's time_* is not the check's
    assert [night.value(KEY, schema.WALL) for night in series] == [None, 2.0]
    assert [night.value(KEY, schema.GPU) for night in series] == [0.5, 1.5]
    assert nights.in_tonights_series(history[:1], versioned(9, {wall: "2"}))[1] == [wall]
