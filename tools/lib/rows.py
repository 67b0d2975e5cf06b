"""A grid's rows in one run: per config, both masks' wall times (from either source) and the night's figures."""

from __future__ import annotations

import ast
import dataclasses
import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

from asv.results import Results

from lib.cli import ToolError
from lib.results import ASV, NIGHT, impossible
from lib.suite import schema

# Where a config's wall time comes from: the night's measuring process, or asv's own time_* benchmarks.
WALL_SOURCES = (NIGHT, ASV)


# ---------------------------------------------------------------- config rows


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One benchmark result of one config: asv's value and, for a wall time, how far its visits spread."""

    value: float | None  # None: failed or missing; NaN is turned into None as skipped
    spread: float | None  # wall times: slowest visit of the night less the fastest (the value), or of asv's
    #                       recorded samples (asv's time_*), where known
    status: str  # "ok", "failed", "skipped", "missing", or IMPOSSIBLE and the value

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def known(self) -> float:
        """The value of a measurement that is ok."""
        if self.value is None:
            raise ValueError(f"no value: {self.status}")
        return self.value


MISSING = Measurement(None, None, "missing")
# A number no run can have measured (lib.results.impossible): a fault, listed, never judged.
IMPOSSIBLE = "impossible value"


@dataclasses.dataclass(frozen=True)
class ConfigRow:
    """Both masks' wall times of one parameter set, and the night's figures where recorded."""

    params: dict[str, Any]
    label: str  # asv's parameter string, e.g. "1, 16, (128, 256), 2048, 'bfloat16'"
    walls: dict[str, Measurement]  # by mask
    figures: dict[str, Measurement] = dataclasses.field(default_factory=dict)  # by track_* method

    def figure(self, figure: str, mask: str) -> float | None:
        """One figure of the night for one mask, None where not recorded, failed or skipped."""
        return self.figures.get(schema.night_method(figure, mask), MISSING).value

    @property
    def gpu_speedup(self) -> float | None:
        """The speedup in GPU time (CUDA-graph replay), without launch cost."""
        materialized, causal = (self.figure(schema.GPU_TIME.name, mask) for mask in schema.MASKS)
        return materialized / causal if materialized and causal else None

    @property
    def complete(self) -> bool:
        return all(self.walls[mask].ok for mask in schema.MASKS)

    @property
    def speedup(self) -> float | None:
        """Materialized time / CausalBias time: above 1 means CausalBias is faster."""
        if not self.complete:
            return None
        return self.walls[schema.MATERIALIZED].known / self.walls[schema.CAUSAL_BIAS].known

    def config_columns(self) -> dict[str, object]:
        """The reference's config columns, with the seq_lens axis split in two."""
        columns: dict[str, Any] = {}
        for name, value in self.params.items():
            if name == "seq_lens":
                columns["q_seq_len"], columns["k_seq_len"] = value
            else:
                columns[name] = value
        if "embed_dim" in columns and "num_heads" in columns:
            columns["head_dim"] = columns["embed_dim"] // columns["num_heads"]
        return columns

    def config(self, grid: schema.Grid) -> schema.AttentionConfig:
        batch, heads, seq_lens, embed, dtype = (self.params[name] for name in schema.PARAM_NAMES)
        return schema.AttentionConfig.from_params(batch, heads, seq_lens, embed, dtype, grid.device)


def parse_param(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def suite_params(run: str, label: str, values: dict[str, object]) -> dict[str, object]:
    """One parameter set's values, where they make a config of the suite's kind (AttentionConfig's types, each
    size above 0); else one line: a results file of another suite, or one edited by hand."""
    seq_lens = values["seq_lens"]
    sizes = [*(values[name] for name in ("batch_size", "num_heads", "embed_dim")),
             *(seq_lens if isinstance(seq_lens, tuple) else ())]  # five where the lengths are a pair
    if not (all(type(size) is int and size > 0 for size in sizes) and len(sizes) == 5
            and isinstance(values["dtype"], str)):
        raise ToolError(f"run {run[:8]} holds the parameter set ({label}), which is no config of the suite's")
    return values


def _measurements(results: Results, name: str, params: list[list[str]]) -> list[Measurement]:
    """asv's value of every parameter set of one benchmark."""
    if name not in results.get_all_result_keys():
        return [MISSING] * _sets(params)
    return [_measurement(name, value) for value in results.get_result_value(name, params)]


def _samples(results: Results, name: str, params: list[list[str]]) -> list[list[float] | None]:
    """asv's samples of every parameter set of one benchmark, where the run recorded them (--record-samples);
    None where not."""
    if name not in results.get_all_result_keys():
        return [None] * _sets(params)
    return results.get_result_samples(name, params)


def _sets(params: list[list[str]]) -> int:
    """How many parameter sets the axes ``params`` make."""
    return math.prod(len(axis) for axis in params)


def _measurement(name: str, value: float | None, visits: list[float] | None = None) -> Measurement:
    if value is None:
        return Measurement(None, None, "failed")
    if math.isnan(value):
        return Measurement(None, None, "skipped")
    if impossible(name, value):
        return Measurement(None, None, f"{IMPOSSIBLE} {value!r}, read as not measured")
    spread = max(visits) - min(visits) if visits else None
    return Measurement(float(value), spread, "ok")


def wall_names(grid: schema.Grid, source: str) -> dict[str, str]:
    """Each mask's wall-time benchmark of a grid: the night's track_wall_time_*, or asv's time_*."""
    return {mask: grid.night_benchmark(schema.WALL_TIME.name, mask) if source == NIGHT else grid.timed_benchmark(mask)
            for mask in schema.MASKS}


def figure_names(grid: schema.Grid) -> dict[str, str]:
    """The night class's figures besides the wall time, by track_* method."""
    methods = [schema.night_method(figure.name, mask) for figure in schema.NIGHT_FIGURES
               if figure is not schema.WALL_TIME for mask in schema.MASKS]
    return {method: schema.benchmark_name(grid.night_class, method) for method in methods}


def config_rows(results: Results, grid: schema.Grid, param_names: list[str], source: str = NIGHT,
                visits: dict[str, dict[str, list[float]]] | None = None) -> list[ConfigRow]:
    """One row per parameter set of ``grid`` recorded in ``results``, in asv's order.

    ``source``: which wall time (WALL_SOURCES); ``visits`` (ResultsStore.night_visits):
    each night wall time's visits, by label and mask, for its spread.
    """
    names = wall_names(grid, source)
    keys = results.get_all_result_keys()
    recorded = [results.get_result_params(n) for n in names.values() if n in keys]
    if not recorded:
        return []
    params = recorded[0]
    per_mask = {mask: _measurements(results, name, params) for mask, name in names.items()}
    # Each figure's values mapped onto the wall time's parameter sets (asv maps them by set): one recorded over
    # fewer configs (a figure run again by hand after the grid changed) reads as failed where it has none.
    per_figure = {method: _measurements(results, name, params) for method, name in figure_names(grid).items()
                  if name in keys}
    rows = []
    samples = {mask: _samples(results, name, params) for mask, name in names.items()} if source == ASV else None
    for index, combination in enumerate(itertools.product(*params)):
        label = schema.params_label(combination)
        walls = {mask: per_mask[mask][index] for mask in schema.MASKS}
        for mask in schema.MASKS:
            spread_of = samples[mask][index] if samples else (visits or {}).get(label, {}).get(mask)
            if spread_of and walls[mask].ok:
                walls[mask] = _measurement(names[mask], walls[mask].value, spread_of)
        rows.append(ConfigRow(
            params=suite_params(results.commit_hash, label,
                                {n: parse_param(v) for n, v in zip(param_names, combination)}),
            label=label,
            walls=walls,
            figures={method: values[index] for method, values in per_figure.items()},
        ))
    return rows


def paired_rows(base_rows: Sequence[ConfigRow], new_rows: Sequence[ConfigRow]) -> Iterator[tuple[ConfigRow, ConfigRow]]:
    """(base, new) rows of the same parameter set, in the base run's order."""
    new_by_label = {row.label: row for row in new_rows}
    for base in base_rows:
        if base.label in new_by_label:
            yield base, new_by_label[base.label]


def has_results(results: Results, grid: schema.Grid, source: str = NIGHT) -> bool:
    """Whether the run measured any wall time of this grid from this source (failed, skipped and impossible
    ones are not measured)."""
    keys = results.get_all_result_keys()
    for name in wall_names(grid, source).values():
        if name in keys:
            values = results.get_result_value(name, results.get_result_params(name))
            if any(_measurement(name, v).ok for v in values):
                return True
    return False


def choose_grid(results: Results, grid_name: str | None, source: str | None) -> tuple[schema.Grid, str]:
    """The named grid (else the GPU grid where it has results, else the CPU grid) and the wall-time
    source (else the night's where recorded, else asv's time_* benchmarks)."""
    grids = [g for g in schema.GRIDS if grid_name in (None, g.name)]
    sources = WALL_SOURCES if source is None else (source,)
    for grid in grids:
        for candidate in sources:
            if has_results(results, grid, candidate):
                return grid, candidate
    wanted = " or ".join(f"{g.name} grid" for g in grids)
    raise ToolError(f"run {results.commit_hash[:8]} has no {wanted} wall times"
                    + (f" from the {source} source" if source else ""))


def problem_rows(rows: Sequence[ConfigRow]) -> Iterator[str]:
    """'mask(params): status' for each wall time that failed, was skipped or is missing; 'method(params):
    status' for each other figure that failed or holds an impossible value where its mask's wall time is ok
    (where the wall time failed, its line says so for the mask)."""
    for row in rows:
        for mask, measurement in row.walls.items():
            if not measurement.ok:
                yield f"{mask}({row.label}): {measurement.status}"
        for method, measurement in row.figures.items():
            mask = next(m for m in schema.MASKS if method.endswith(f"_{m}"))
            if row.walls[mask].ok and (measurement.status == "failed" or measurement.status.startswith(IMPOSSIBLE)):
                yield f"{method}({row.label}): {measurement.status}"


# ---------------------------------------------------------------- asv compare's flag


def asv_flag(base: Measurement, new: Measurement, factor: float) -> str:
    """What `asv compare --factor` marks for base -> new: '+' slower, '-' faster, ' ' neither.

    asv's own rule; the night's figures carry no samples, so it is the factor alone.
    """
    from asv.commands.compare import _is_result_better

    if not (base.ok and new.ok):
        return " "
    if _is_result_better(new.value, base.value, None, None, factor):
        return "-"
    if _is_result_better(base.value, new.value, None, None, factor):
        return "+"
    return " "
