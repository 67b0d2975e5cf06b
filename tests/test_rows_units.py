"""lib.rows by unit: what the tools count as measured in a run and the rows they compare, with exact values.
In-process and fast: `make mutation` runs these against every mutant of the rows' logic."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from asv.results import Results
from asv.runner import BenchmarkResult
from lib import rows
from lib.cli import ToolError
from lib.results import ASV, ResultsStore
from lib.rows import ConfigRow, Measurement
from lib.suite import schema
from results_factory import CPU, SMALL_PARAMS, add_track, write_run

NIGHT = "attention_bias.AttentionBiasNightCPU"
LABELS = ["1, 4, (16, 48), 64, 'float32'", "1, 4, (1, 48), 64, 'float32'",
          "2, 4, (16, 48), 64, 'float32'", "2, 4, (1, 48), 64, 'float32'"]


def ok(value: float) -> Measurement:
    return Measurement(value, None, "ok")


def a_row(materialized: Measurement, causal: Measurement, figures: dict[str, Measurement] | None = None,
          params: dict | None = None) -> ConfigRow:
    return ConfigRow(params or {}, "1, 4, (16, 48), 64, 'float32'",
                     {"materialized": materialized, "causal_bias": causal}, figures or {})


def loaded(tmp_path: Path, walls: dict, figures: dict | None = None, visits: dict | None = None,
           source: str = "night") -> list[ConfigRow]:
    write_run(tmp_path / "results", "box", "a" * 40, 1_000, walls, figures=figures, visits=visits)
    store = ResultsStore(tmp_path / "results")
    run = store.runs("box")[0]
    return rows.config_rows(store.load(run), CPU, store.param_names(CPU), source,
                            store.night_visits(run) if source == "night" else None)


# ---------------------------------------------------------------- one measurement, one row


def test_a_measurement_is_ok_by_its_status_and_known_by_its_value():
    assert Measurement(1.5, None, "".join(["o", "k"])).ok  # the status's value, not one string object
    assert not Measurement(1.5, None, "failed").ok
    assert Measurement(1.5, None, "failed").known == 1.5
    with pytest.raises(ValueError, match="^no value: missing$"):
        _ = rows.MISSING.known


def test_a_rows_speedups_are_materialized_over_causal_bias_and_none_where_either_is_unknown():
    gpu = {"track_gpu_time_materialized": ok(3.0), "track_gpu_time_causal_bias": ok(2.0)}
    row = a_row(ok(6.0), ok(4.0), gpu)
    assert row.complete and row.speedup == 1.5 and row.gpu_speedup == 1.5
    assert row.figure("gpu_time", "causal_bias") == 2.0 and row.figure("kernels", "causal_bias") is None
    for broken in (Measurement(None, None, "failed"), rows.MISSING):
        assert not a_row(ok(6.0), broken).complete and a_row(ok(6.0), broken).speedup is None
        assert a_row(broken, ok(4.0)).speedup is None
    assert a_row(ok(6.0), ok(4.0), {"track_gpu_time_materialized": ok(3.0)}).gpu_speedup is None
    assert a_row(ok(6.0), ok(4.0), {"track_gpu_time_causal_bias": ok(2.0)}).gpu_speedup is None


def test_a_rows_config_columns_split_the_sequence_lengths_and_add_the_head_dimension():
    params = {"batch_size": 2, "num_heads": 4, "seq_lens": (16, 48), "embed_dim": 64, "dtype": "float32"}
    assert a_row(ok(1.0), ok(1.0), params=params).config_columns() == {
        "batch_size": 2, "num_heads": 4, "q_seq_len": 16, "k_seq_len": 48, "embed_dim": 64, "dtype": "float32",
        "head_dim": 16}
    assert type(a_row(ok(1.0), ok(1.0), params=params).config_columns()["head_dim"]) is int  # printed as 16
    assert a_row(ok(1.0), ok(1.0), params={"num_heads": 4, "seq_lens": (1, 48)}).config_columns() == {
        "num_heads": 4, "q_seq_len": 1, "k_seq_len": 48}
    assert a_row(ok(1.0), ok(1.0), params={"embed_dim": 64}).config_columns() == {"embed_dim": 64}


def test_asvs_flag_is_the_factor_alone_and_blank_where_either_is_not_measured():
    assert rows.asv_flag(ok(1.0), ok(1.2), 1.1) == "+"
    assert rows.asv_flag(ok(1.2), ok(1.0), 1.1) == "-"
    assert rows.asv_flag(ok(1.0), ok(1.05), 1.1) == " "
    failed = Measurement(None, None, "failed")
    assert rows.asv_flag(failed, ok(2.0), 1.1) == " " and rows.asv_flag(ok(1.0), failed, 1.1) == " "
    assert rows.asv_flag(Measurement(1.0, None, "skipped"), ok(2.0), 1.1) == " "


# ---------------------------------------------------------------- rows of a run


def test_a_runs_rows_carry_each_wall_time_its_visits_spread_and_the_figures(tmp_path):
    table = loaded(tmp_path, {"track_wall_time_materialized": [1.0, 2.0, 3.0, 4.0],
                              "track_wall_time_causal_bias": [0.5, 1.0, None, math.nan]},
                   figures={"track_kernels_materialized": [3, 3, 4, 4]},
                   visits={(0, "materialized"): [1.0, 4.0, 2.5], (2, "causal_bias"): [9.0, 10.0],
                           (3, "causal_bias"): [9.0, 10.0]})
    assert [row.label for row in table] == LABELS
    assert [row.params["seq_lens"] for row in table] == [(16, 48), (1, 48), (16, 48), (1, 48)]
    assert [row.walls["materialized"].value for row in table] == [1.0, 2.0, 3.0, 4.0]
    assert [row.walls["materialized"].spread for row in table] == [3.0, None, None, None]
    # A wall time that failed or was skipped stays so, its visits notwithstanding.
    assert [row.walls["causal_bias"].status for row in table] == ["ok", "ok", "failed", "skipped"]
    assert table[2].walls["causal_bias"].spread is None
    assert [row.figure("kernels", "materialized") for row in table] == [3, 3, 4, 4]
    assert [row.speedup for row in table] == [2.0, 2.0, None, None]


def test_asvs_own_wall_times_take_no_spread_from_the_nights_visits(tmp_path):
    write_run(tmp_path / "results", "box", "a" * 40, 1_000,
              {"time_materialized": [1.0, 2.0, 3.0, 4.0], "time_causal_bias": [1.0, 2.0, 3.0, 4.0]},
              visits={(0, "materialized"): [1.0, 1.5]})
    store = ResultsStore(tmp_path / "results", ASV)
    run = store.runs("box")[0]
    table = rows.config_rows(store.load(run), CPU, store.param_names(CPU), "asv", store.night_visits(run))
    assert [row.walls["materialized"].value for row in table] == [1.0, 2.0, 3.0, 4.0]
    assert [row.walls["materialized"].spread for row in table] == [None] * 4


def test_asvs_own_wall_times_spread_as_far_as_their_recorded_samples(tmp_path):
    """asv's time_* with --record-samples: a row's spread is its slowest sample less its fastest; a benchmark
    recorded without samples has none."""
    write_run(tmp_path / "results", "box", "a" * 40, 1_000, {"time_causal_bias": [1.0, 2.0, 3.0, 4.0]})
    store = ResultsStore(tmp_path / "results", ASV)
    results = Results.load(str(store.runs("box")[0].path))
    timed = {"name": schema.benchmark_name(CPU.timed_class, "time_materialized"), "version": "1",
             "params": SMALL_PARAMS}
    samples = [[1.0, 1.5, 0.5], [2.0, 2.25], [3.0], [4.0, 6.0]]
    results.add_result(timed, BenchmarkResult(result=[1.0, 2.0, 3.0, 4.0], samples=samples, number=[1] * 4,
                                              errcode=0, stderr="", profile=None), record_samples=True)
    table = rows.config_rows(results, CPU, store.param_names(CPU), ASV)
    assert [row.walls["materialized"].spread for row in table] == [1.0, 0.25, 0.0, 2.0]
    assert [row.walls["causal_bias"].spread for row in table] == [None] * 4  # recorded without samples


def test_a_mask_not_recorded_is_missing_in_every_row(tmp_path):
    table = loaded(tmp_path, {"track_wall_time_materialized": [1.0, 2.0, 3.0, 4.0]})
    assert len(table) == 4
    assert [row.walls["causal_bias"].status for row in table] == ["missing"] * 4
    assert list(rows.problem_rows(table)) == [f"causal_bias({label}): missing" for label in LABELS]
    assert loaded(tmp_path / "none", {"track_kernels_materialized": [1, 2, 3, 4]}) == []


@pytest.mark.parametrize("params, kernels", [
    (SMALL_PARAMS[:-1] + [["'float16'"]], [None] * 4),  # no config shared
    ([["1"], ["4"], ["(16, 48)"], ["64"], ["'float32'"]], [7, None, None, None]),  # run again for one config
    ([["1", "2", "3"], ["4"], ["(16, 48)", "(1, 48)"], ["64"], ["'float32'"]], [7] * 4),  # over more configs
])
def test_a_figure_recorded_over_other_parameters_is_read_by_config(tmp_path, params, kernels):
    """A figure recorded over other configs than the wall time (run again by hand after the grid changed) gives
    each row its config's value; a row it has none for reads as failed, and is listed: never left out unsaid."""
    write_run(tmp_path / "results", "box", "a" * 40, 1_000,
              {"track_wall_time_materialized": [1.0, 2.0, 3.0, 4.0], "track_wall_time_causal_bias": [1.0] * 4})
    store = ResultsStore(tmp_path / "results")
    results = Results.load(str(store.runs("box")[0].path))
    add_track(results, f"{NIGHT}.track_kernels_materialized", params, [7] * math.prod(map(len, params)))
    table = rows.config_rows(results, CPU, store.param_names(CPU))
    assert [row.figure("kernels", "materialized") for row in table] == kernels
    assert list(rows.problem_rows(table)) == [f"track_kernels_materialized({row.label}): failed"
                                              for row, value in zip(table, kernels) if value is None]


def test_paired_rows_are_the_base_runs_rows_in_its_order_that_the_new_run_has():
    first, second, third = (ConfigRow({}, label, {}) for label in ("a", "b", "c"))
    new_second, new_first = ConfigRow({}, "b", {"x": rows.MISSING}), ConfigRow({}, "a", {"y": rows.MISSING})
    assert list(rows.paired_rows([first, second, third], [new_second, new_first])) == [
        (first, new_first), (second, new_second)]
    assert list(rows.paired_rows([first], [])) == []


def test_problem_rows_name_failed_and_impossible_figures_never_skipped_ones():
    figures = {"track_kernels_materialized": Measurement(None, None, "skipped"),
               "track_syncs_materialized": Measurement(None, None, "".join(["fail", "ed"])),
               "track_allocations_causal_bias": Measurement(None, None, "missing"),
               "track_aten_ops_causal_bias": Measurement(None, None, "impossible value -1, read as not measured")}
    row = a_row(ok(1.0), ok(1.0), figures)
    assert list(rows.problem_rows([row])) == [
        f"track_syncs_materialized({row.label}): failed",
        f"track_aten_ops_causal_bias({row.label}): impossible value -1, read as not measured"]


# ---------------------------------------------------------------- which grid and source


def test_the_grid_and_source_chosen_are_the_first_with_a_measured_wall_time(tmp_path):
    write_run(tmp_path / "results", "box", "a" * 40, 1_000,
              {"time_materialized": [1.0, 2.0, 3.0, 4.0], "time_causal_bias": [1.0, 2.0, 3.0, 4.0]})
    store = ResultsStore(tmp_path / "results", ASV)
    results = store.load(store.runs("box")[0])
    assert rows.choose_grid(results, None, None) == (CPU, "asv")
    assert rows.choose_grid(results, "cpu", "asv") == (CPU, "asv")
    with pytest.raises(ToolError) as raised:
        rows.choose_grid(results, None, "night")
    assert str(raised.value) == "run aaaaaaaa has no gpu grid or cpu grid wall times from the night source"
    with pytest.raises(ToolError) as raised:
        rows.choose_grid(results, "gpu", None)
    assert str(raised.value) == "run aaaaaaaa has no gpu grid wall times"


def test_a_run_with_both_sources_is_read_from_the_nights(tmp_path):
    write_run(tmp_path / "results", "box", "a" * 40, 1_000,
              {"time_materialized": [1.0] * 4, "time_causal_bias": [1.0] * 4,
               "track_wall_time_materialized": [2.0] * 4, "track_wall_time_causal_bias": [2.0] * 4})
    store = ResultsStore(tmp_path / "results")
    assert rows.choose_grid(store.load(store.runs("box")[0]), None, None) == (CPU, "night")
    assert schema.GRIDS[0].name == "gpu"  # the GPU grid is asked first: this run has none of it


GOOD = {"batch_size": 2, "num_heads": 4, "seq_lens": (16, 48), "embed_dim": 64, "dtype": "float32"}


def test_a_parameter_set_of_the_suites_kind_is_taken_as_it_is():
    assert rows.suite_params("c" * 40, "label", dict(GOOD)) == GOOD
    assert rows.suite_params("c" * 40, "label", GOOD | {"batch_size": 1, "seq_lens": (1, 1)}) == GOOD | {
        "batch_size": 1, "seq_lens": (1, 1)}


@pytest.mark.parametrize("change", [
    {"num_heads": 0}, {"batch_size": -1}, {"embed_dim": 64.0}, {"num_heads": True}, {"embed_dim": "x"},
    {"seq_lens": "abc"}, {"seq_lens": (16,)}, {"seq_lens": (16, 48, 64)}, {"seq_lens": [16, 48]},
    {"seq_lens": (0, 48)}, {"seq_lens": (16, -48)}, {"seq_lens": (16, 4.0)}, {"dtype": 32}, {"dtype": None},
])
def test_a_parameter_set_of_another_kind_is_one_line_naming_the_run_and_the_set(change):
    with pytest.raises(ToolError) as raised:
        rows.suite_params("c" * 8 + "d" * 32, "the label", GOOD | change)
    assert str(raised.value) == "run cccccccc holds the parameter set (the label), which is no config of the suite's"
