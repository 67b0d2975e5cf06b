"""The night's figures recorded once per night, not once per asv process.

asv runs a parametrized ``track_*`` benchmark in one process per config; each of
the night's returns a number its grid's ``setup_cache`` measured (1,440 processes
of about 9 ms a night on the GPU grid). The recorder has asv run one of them
(``forked_benchmark``), which runs the setup_cache; that process also writes the values it
hands the children (``NightValues``, ``schema.FIGURES_SUFFIX``), and here every
other figure is added to asv's results, each decided by the function the children
call (``night_state.figure_outcome``). The forked figure is checked against the
same function: a recorder that would record what asv's children do not stops.
"""

from __future__ import annotations

import datetime
import itertools
import math
import re
import sys
from pathlib import Path

from asv.results import Results
from asv.runner import BenchmarkResult

from .cli import ToolError, read_json_object
from .results import BENCHMARKS_FILE
from .suite import night_state, schema

# Where the measuring process left no values: what asv records for a benchmark whose setup_cache failed.
NO_NIGHT = "the night's measuring process left no figures (asv's output above says why)"


class NightFiguresError(Exception):
    """The night's figures could not be recorded as asv's children would return them: the recorder's own
    failure (exit 3), and the night is not landed."""


def forked_benchmark(grid: schema.Grid) -> str:
    """asv's name of the grid's forked figure: the one figure asv's own processes return each night,
    whose setup_cache measures the grid."""
    return grid.night_benchmark(schema.WALL_TIME.name, schema.MATERIALIZED)


def forked_pattern(grid: schema.Grid) -> str:
    """asv's --bench regex of the grid's forked figure, and nothing else (asv matches a parametrized
    benchmark's name with each parameter set's, in parentheses)."""
    return rf"^{re.escape(forked_benchmark(grid))}\("


def figures_path(dispatch_path: Path) -> Path:
    return dispatch_path.with_suffix(schema.FIGURES_SUFFIX)


def read_night_values(path: Path) -> night_state.NightValues | None:
    """The setup_cache's values; None where it wrote none."""
    if not path.exists():
        return None
    try:
        return night_state.NightValues.from_json(read_json_object(path, "corrupt night figures file"))
    except ToolError as error:
        raise NightFiguresError(str(error)) from None
    except (KeyError, TypeError, AttributeError) as error:
        raise NightFiguresError(f"corrupt night figures file {path}: {error!r}") from None


def outcome_value(outcome: night_state.FigureOutcome) -> float | int | None:
    """asv's stored value of an outcome: the number, NaN for a skip, None for a failure."""
    if outcome.skipped:
        return math.nan
    return outcome.value


def benchmark_outcomes(values: night_state.NightValues | None, benchmark: dict, grid: schema.Grid,
                       figure: schema.Figure, mask: str) -> list[night_state.FigureOutcome]:
    """Each config's outcome of one night benchmark, in asv's order of its parameter combinations."""
    return [night_state.figure_outcome(values, schema.params_label(combination), grid.device, figure, mask)
            if values is not None else night_state.FigureOutcome(failed=NO_NIGHT)
            for combination in itertools.product(*benchmark["params"])]


def same_as_forked(results: Results, benchmark: dict, outcomes: list[night_state.FigureOutcome]) -> None:
    """The forked figure as asv's processes returned it equals, config by config, what the recorder would
    record for it: a value, a skip or a failure alike."""
    recorded = results.get_result_value(benchmark["name"], benchmark["params"])
    expected = [outcome_value(outcome) for outcome in outcomes]
    differ = [(a, b) for a, b in zip(recorded, expected, strict=True) if not _same(a, b)]
    if differ:
        raise NightFiguresError(f"{benchmark['name']}: asv's processes returned {differ[0][0]} where the night's "
                                f"figures file says {differ[0][1]}: the recorder would record other values than "
                                "asv's children")


def _same(a: object, b: object) -> bool:
    nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return nan or a == b


def night_benchmarks(benchmarks: dict, grid: schema.Grid) -> list[tuple[dict, schema.Figure, str]]:
    """asv's entry of each of the grid's night figures and masks, with its figure and mask."""
    entries = []
    for figure in schema.NIGHT_FIGURES:
        for mask in schema.MASKS:
            name = grid.night_benchmark(figure.name, mask)
            if name not in benchmarks:
                raise NightFiguresError(f"asv's benchmarks.json has no {name}: asv did not discover the night")
            entries.append((benchmarks[name], figure, mask))
    return entries


def record_night_figures(staging: Path, results: Results, dispatch_path: Path, grid: schema.Grid) -> int:
    """Every night figure but the forked one added to ``results`` (saved under ``staging``); the failed
    configs' reasons on stderr, as asv's --show-stderr prints its children's. Returns how many failed."""
    try:
        benchmarks = read_json_object(staging / BENCHMARKS_FILE, "corrupt benchmarks file")
    except ToolError as error:  # asv wrote it just now: the recorder's fault, not the user's
        raise NightFiguresError(str(error)) from None
    values = read_night_values(figures_path(dispatch_path))
    if values is None:
        print(f"{grid.night_class}: every figure failed: {NO_NIGHT}", file=sys.stderr)
    forked = forked_benchmark(grid)
    started = datetime.datetime.now(datetime.UTC)
    failed = 0
    for benchmark, figure, mask in night_benchmarks(benchmarks, grid):
        outcomes = benchmark_outcomes(values, benchmark, grid, figure, mask)
        if benchmark["name"] == forked:
            same_as_forked(results, benchmark, outcomes)
            continue
        failures = [(combination, outcome.failed) for combination, outcome
                    in zip(itertools.product(*benchmark["params"]), outcomes) if outcome.failed]
        for combination, reason in failures if values is not None else []:
            print(f"{benchmark['name']} failed for parameters {schema.params_label(combination)}:\n  {reason}",
                  file=sys.stderr)
        failed += len(failures)
        result = [outcome_value(outcome) for outcome in outcomes]
        # asv keeps neither samples nor a track's stderr; the call's other fields are its runner's shape.
        results.add_result(benchmark, BenchmarkResult(result=result, samples=[None] * len(result),
                                                      number=[None] * len(result), errcode=int(bool(failures)),
                                                      stderr="", profile=None), started_at=started)
    results.save(str(staging))
    return failed
