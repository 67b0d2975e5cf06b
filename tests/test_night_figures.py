"""tools/lib/night_figures.py: the recorder records each night figure as asv's own child process returns it."""

from __future__ import annotations

import json
import math
import os

import pytest
from asv_runner.benchmarks.mark import SkipNotImplemented
from asv_runner.discovery import get_benchmark_from_name
from conftest import REPO_ROOT
from lib.night_figures import (
    NO_NIGHT,
    NightFiguresError,
    benchmark_outcomes,
    forked_benchmark,
    forked_pattern,
    night_benchmarks,
    outcome_value,
    read_night_values,
)

from benchmarks import night_state, schema

CPU = schema.GRIDS_BY_NAME["cpu"]
LABELS = [config.label for config in schema.grid_configs(CPU.params, CPU.device)]


def measured(wall: float | None, error: str | None = None) -> night_state.MaskValues:
    figures = {figure.name: None for figure in schema.NIGHT_FIGURES}
    figures.update({schema.WALL_TIME.name: wall, schema.ATEN_OPS.name: 85, schema.PYTHON_CALLS.name: 6,
                    schema.SDPA_BACKEND.name: 1})
    return night_state.MaskValues(figures, error)


def every_outcome() -> night_state.NightValues:
    """A night with each way a figure comes out: a value, a failed check, no verdict, no figures, a figure that
    was not measured (with and without why), and the CUDA-only figures skipped on the CPU grid."""
    ok = {mask: measured(5e-5) for mask in schema.MASKS}
    return night_state.NightValues(
        verdicts={LABELS[0]: None, LABELS[1]: "AssertionError: CausalBias output differs", LABELS[3]: None,
                  LABELS[4]: None, LABELS[5]: None},
        figures={LABELS[0]: ok, LABELS[3]: "out of memory while building",
                 LABELS[4]: {schema.MATERIALIZED: measured(None, "RuntimeError: a visit failed"),
                             schema.CAUSAL_BIAS: measured(None)},
                 LABELS[5]: ok},
    )


def child_value(values: night_state.NightValues, name: str, index: int) -> float | int | None:
    """What asv's child process records for one parameter set (asv_runner's run._run, in this process): the
    value, NaN where setup or the method skips, None where either fails."""
    benchmark = get_benchmark_from_name(str(REPO_ROOT / "benchmarks"), f"{name}-{index}")
    benchmark.set_cache(values)
    try:
        if benchmark.do_setup():
            return math.nan
        return benchmark.do_run()
    except SkipNotImplemented:
        return math.nan
    except AssertionError:
        return None


def same(a: object, b: object) -> bool:
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or (
        a == b and type(a) is type(b))


@pytest.mark.parametrize("values", [every_outcome(), night_state.NightValues(unavailable="no device here")],
                         ids=["every outcome", "unavailable"])
def test_every_figure_is_what_asvs_child_returns(values, monkeypatch, capsys, tmp_path):
    """The recorder reads the values back from the figures file; the children get them as asv unpickles them."""
    monkeypatch.setenv(schema.NIGHT_ONLY_VARIABLE, "1")
    benchmarks = json.loads(json.dumps(discovered()))
    entries = night_benchmarks(benchmarks, CPU)
    assert len(entries) == len(schema.NIGHT_FIGURES) * len(schema.MASKS)
    (tmp_path / "night.figures").write_text(values.to_json())
    read_back = read_night_values(tmp_path / "night.figures")
    for entry, figure, mask in entries:
        recorded = [outcome_value(outcome) for outcome in benchmark_outcomes(read_back, entry, CPU, figure, mask)]
        children = [child_value(values, entry["name"], index) for index in range(len(LABELS))]
        assert all(map(same, recorded, children)), (entry["name"], recorded, children)
    capsys.readouterr()


def discovered() -> dict:
    """asv's benchmarks.json entries of the suite, as asv's discovery writes them."""
    from asv_runner.discovery import disc_benchmarks

    return {benchmark.name: {"name": benchmark.name, "params": benchmark.params}  # asv's: each value's repr
            for benchmark in disc_benchmarks(str(REPO_ROOT / "benchmarks"))}


def test_the_outcomes_of_the_crafted_night():
    """The outcomes the child test compares, spelled out: a value, a NaN skip, and None failures."""
    entry = {"name": CPU.night_benchmark(schema.WALL_TIME.name, schema.MATERIALIZED),
             "params": [[repr(v) for v in p] for p in CPU.params]}
    outcomes = benchmark_outcomes(every_outcome(), entry, CPU, schema.WALL_TIME, schema.MATERIALIZED)
    assert [outcome_value(o) for o in outcomes] == [5e-5, None, None, None, None, 5e-5]
    assert [o.failed for o in outcomes[1:5]] == [
        f"equivalence check failed for {LABELS[1]}:\nAssertionError: CausalBias output differs",
        f"no equivalence verdict for {LABELS[2]}",
        f"no figures were measured for {LABELS[3]}: out of memory while building",
        "RuntimeError: a visit failed"]
    gpu = {**entry, "name": entry["name"].replace("wall_time", "gpu_time")}
    assert {o.skipped for o in benchmark_outcomes(every_outcome(), gpu, CPU, schema.GPU_TIME,
                                                  schema.MATERIALIZED)[::5]} == {
        "no gpu time on the CPU grid: it needs CUDA"}
    assert [o.failed for o in benchmark_outcomes(None, entry, CPU, schema.WALL_TIME, schema.MATERIALIZED)] == [
        NO_NIGHT] * len(LABELS)


def test_the_figures_file_round_trips_and_a_damaged_one_is_the_recorders_fault(tmp_path):
    path = tmp_path / f"abc{schema.FIGURES_SUFFIX}"
    assert read_night_values(path) is None
    path.write_text(every_outcome().to_json())
    assert read_night_values(path) == every_outcome()
    path.write_text('{"verdicts": {}}')
    with pytest.raises(NightFiguresError, match="corrupt night figures file"):
        read_night_values(path)
    path.write_text("[1]")
    with pytest.raises(NightFiguresError, match="not a JSON object"):
        read_night_values(path)


def test_the_recorders_asv_run_forks_one_figure(cpu_runs):
    """A real night (the session's CPU runs): asv ran one benchmark's processes, the recorder added the rest."""
    import re

    from lib.results import ResultsStore

    store = ResultsStore(cpu_runs["results"])
    run = store.choose_run(cpu_runs["machine"], cpu_runs["commits"][-1])
    results = store.load(run)
    names = [entry["name"] for entry, _, _ in night_benchmarks(store.benchmarks(), CPU)]
    assert sorted(results.get_all_result_keys()) == sorted(names)
    forked = [name for name in names if re.search(forked_pattern(CPU), f"{name}({LABELS[0]})")]
    assert forked == [forked_benchmark(CPU)]
    # asv's own duration only where its processes ran; the figures file never lands beside the results.
    assert [name for name in names if results._duration.get(name) is not None] == forked
    assert not list((cpu_runs["results"] / cpu_runs["machine"]).glob(f"*{schema.FIGURES_SUFFIX}"))
    assert os.path.exists(run.path)


def test_the_forked_figure_must_be_what_the_recorder_would_record():
    """asv's value, skip or failure that differs from the recorder's stops the night (exit 3)."""
    from asv.results import Results
    from asv.runner import BenchmarkResult
    from lib.night_figures import same_as_forked

    entry = {"name": forked_benchmark(CPU), "version": "1",
             "params": [[repr(v) for v in p] for p in CPU.params]}
    outcomes = benchmark_outcomes(every_outcome(), entry, CPU, schema.WALL_TIME, schema.MATERIALIZED)

    def results(values: list) -> Results:
        recorded = Results.unnamed()
        recorded.add_result(entry, BenchmarkResult(result=values, samples=[None] * 6, number=[None] * 6,
                                                   errcode=0, stderr="", profile=None))
        return recorded

    same_as_forked(results([5e-5, None, None, None, None, 5e-5]), entry, outcomes)
    with pytest.raises(NightFiguresError, match=r"returned 6e-05 where the night's figures file says 5e-05"):
        same_as_forked(results([5e-5, None, None, None, None, 6e-5]), entry, outcomes)
    with pytest.raises(NightFiguresError, match="returned 7e-05 where the night's figures file says None"):
        same_as_forked(results([5e-5, 7e-5, None, None, None, 5e-5]), entry, outcomes)
    # asv's processes failed where the night measured (a child's fault, a setup_cache that failed after writing
    # the file): the recorder never records values asv's own children did not return.
    with pytest.raises(NightFiguresError, match="returned None where the night's figures file says 5e-05"):
        same_as_forked(results([None] * 6), entry, outcomes)


def test_a_recorder_that_would_record_other_values_than_asvs_children_lands_nothing(cpu_runs, tmp_path,
                                                                                      monkeypatch, capsys):
    """A real night whose figures file, read back, says another wall time than asv's processes returned: exit 3,
    one line, no file of the night lands, the nights before unchanged."""
    import dataclasses
    import shutil

    import record_run
    from conftest import checksums, make_standin_repo
    from lib import cli, night_figures

    results = tmp_path / "results"
    shutil.copytree(cpu_runs["results"], results)
    (commit,) = make_standin_repo(tmp_path / "repo", ["other values"])
    monkeypatch.setenv("HOME", str(cpu_runs["env"]["HOME"]))
    for variable in (schema.DISPATCH_FILE_VARIABLE, schema.NIGHT_ONLY_VARIABLE):
        monkeypatch.setenv(variable, "")  # record() sets them: restored afterwards
    read = night_figures.read_night_values

    def slower(path):
        values = read(path)
        masks = values.figures[LABELS[0]]
        figures = {**masks[schema.MATERIALIZED].figures, schema.WALL_TIME.name: 1.0}
        masks[schema.MATERIALIZED] = dataclasses.replace(masks[schema.MATERIALIZED], figures=figures)
        return values

    monkeypatch.setattr(night_figures, "read_night_values", slower)
    before = checksums(results)
    code = cli.run_tool(record_run.main, ["--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit", commit,
                                          "--results-dir", str(results), "--machine", cpu_runs["machine"]])
    err = capsys.readouterr().err
    assert code == cli.TOOL_FAILED
    forked = forked_benchmark(CPU)
    assert err.splitlines()[-1].startswith(f"failed: NightFiguresError: {forked}: asv's processes returned ")
    assert "where the night's figures file says 1.0: the recorder would record other values" in err
    assert checksums(results) == before
    assert not [p for p in results.parent.iterdir() if ".staging-" in p.name]
