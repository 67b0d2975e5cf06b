"""The one results reader the tools share: asv's results files, per machine, run and config.

It imports neither torch nor the measuring code, so the tools start fast on any
machine with asv installed. Parsing is asv's own (``asv.results.Results``); this
module adds the choice of machine, run and grid, the config rows of a grid with
its wall times from either source (the night's or asv's own timed benchmarks),
the checks that catch damaged input once for every tool, and thin wrappers of
asv's statistics. The suite's names come from the schema (``suite.schema``), the
command-line conventions from ``cli.py``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from asv.results import Results
from cli import ToolError, one_line
from suite import DEFAULT_CONF, schema

# The start of an asv results file as asv writes it: commit hash, environment, date.
HEAD = re.compile(r'\{"commit_hash": "(?P<commit>[0-9a-f]+)", "env_name": "[^"]*", "date": (?P<date>\d+)')
# Where a config's wall time comes from: the night's measuring process, or asv's own time_* benchmarks.
WALL_SOURCES = ("night", "asv")


# ---------------------------------------------------------------- locating results


def open_machine(args: argparse.Namespace) -> tuple[ResultsStore, str]:
    """The results store and machine that --results-dir and --machine name."""
    store = ResultsStore(args.results_dir)
    return store, store.choose_machine(args.machine)



def default_results_dir(conf_path: Path = DEFAULT_CONF) -> Path:
    """results_dir of asv.conf.json, relative to the conf file (asv's rule)."""
    try:
        import json5

        conf = json5.loads(conf_path.read_text())
    except (OSError, ValueError) as error:
        raise ToolError(f"cannot read {conf_path}: {error}") from None
    return (conf_path.parent / conf.get("results_dir", "results")).resolve()


@dataclasses.dataclass(frozen=True)
class RunFile:
    """One recorded run: a results file of one machine, commit and environment."""

    path: Path
    machine: str
    commit_hash: str
    date: int  # ms since the epoch: the commit's date in the repository asv was pointed at
    started: int  # ms since the epoch when the last benchmark started; 0 where the date alone orders

    @property
    def order(self) -> tuple[int, int]:
        """Commit order first; runs of commits made in the same second by when they ran."""
        return (self.date, self.started)

    def load(self) -> Results:
        try:
            results = Results.load(str(self.path))
            problem = impossible_value(results)
        except Exception as error:  # asv raises several kinds for a damaged file
            raise ToolError(f"corrupt results file {self.path}: {one_line(error)}") from None
        if problem:
            raise ToolError(f"corrupt results file {self.path}: {problem}")
        return results


def must_be_positive(name: str) -> bool:
    """Durations and sizes: asv's time benchmarks and the night's positive figures."""
    method = name.rsplit(".", 1)[-1]
    return method.startswith("time_") or any(
        method == schema.night_method(figure.name, mask)
        for figure in schema.NIGHT_FIGURES if figure.positive for mask in schema.MASKS)


def impossible_value(results: Results) -> str | None:
    """What no run can have recorded: a non-number, an infinite value, a time of zero or less.

    None and NaN stay: asv's failed and skipped.
    """
    for name in results.get_all_result_keys():
        params = results.get_result_params(name)
        values = results.get_result_value(name, params)
        expected = math.prod(len(axis) for axis in params) if params else 1
        if len(values) != expected:
            return f"{name} has {len(values)} values for {expected} parameter sets"
        for value in values:
            if value is None:
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isinf(value):
                return f"{name} has the value {value!r}"
            if not math.isnan(value) and (value < 0 or (value == 0 and must_be_positive(name))):
                return f"{name} has the impossible value {value!r}"
    return None


class ResultsStore:
    """The results tree of asv: <dir>/benchmarks.json and <dir>/<machine>/<run>.json."""

    def __init__(self, results_dir: Path | None) -> None:
        self.dir = Path(results_dir) if results_dir else default_results_dir()
        if not self.dir.is_dir():
            raise ToolError(f"no results directory at {self.dir}: run the suite first (make bench)")
        self._runs: dict[str, list[RunFile]] = {}
        self._benchmarks: dict | None = None

    def machines(self) -> list[str]:
        return sorted(p.parent.name for p in self.dir.glob("*/machine.json"))

    def runs(self, machine: str) -> list[RunFile]:
        """The machine's runs, oldest first (each file indexed once per store).

        Only each file's head is read (commit and date); where several runs share
        a commit date, as stand-in commits made in one second do, their files are
        read whole to order them by when they ran.
        """
        if machine not in self._runs:
            runs = [self._index(path, machine) for path in (self.dir / machine).glob("*.json")
                    if path.name != "machine.json"]
            dates = Counter(run.date for run in runs)
            runs = [self._with_start(run) if dates[run.date] > 1 else run for run in runs]
            self._runs[machine] = sorted(runs, key=lambda run: run.order)
        return self._runs[machine]

    def _index(self, path: Path, machine: str) -> RunFile:
        try:
            with open(path) as handle:
                head = HEAD.match(handle.read(4096))
            if head:
                return RunFile(path, machine, head["commit"], int(head["date"]), 0)
            data = json.loads(path.read_text())  # not asv's usual layout: read it whole
            return RunFile(path, machine, data["commit_hash"], int(data["date"]), 0)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ToolError(f"corrupt results file {path}: {one_line(error)}") from None

    def _with_start(self, run: RunFile) -> RunFile:
        try:
            data = json.loads(run.path.read_text())
            column = data["result_columns"].index("started_at")
            started = max((entry[column] or 0 for entry in data["results"].values()), default=0)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ToolError(f"corrupt results file {run.path}: {one_line(error)}") from None
        return dataclasses.replace(run, started=int(started))

    def choose_machine(self, machine: str | None) -> str:
        machines = self.machines()
        if not machines:
            raise ToolError(f"no machine has results in {self.dir}")
        if machine is None:
            if len(machines) == 1:
                return machines[0]
            return max(machines, key=lambda name: max((r.order for r in self.runs(name)), default=(0, 0)))
        if machine not in machines:
            raise ToolError(f"unknown machine {machine!r}; available: {', '.join(machines)}")
        return machine

    def choose_run(self, machine: str, commit: str | None, runs: list[RunFile] | None = None) -> RunFile:
        """The run of ``commit`` (a hash prefix) on ``machine``, or its most recent one."""
        runs = self.runs(machine) if runs is None else runs
        if not runs:
            raise ToolError(f"machine {machine!r} has no recorded runs in {self.dir}")
        if commit is None:
            return runs[-1]
        matches = [run for run in runs if run.commit_hash.startswith(commit)]
        if not matches:
            available = ", ".join(run.commit_hash[:8] for run in runs[-10:])
            raise ToolError(f"no run of commit {commit!r} on machine {machine!r}; recent: {available}")
        if len({run.commit_hash for run in matches}) > 1:
            raise ToolError(f"commit prefix {commit!r} is ambiguous on machine {machine!r}")
        return matches[-1]

    def benchmarks(self) -> dict:
        """asv's benchmarks.json, read once; a damaged one is a user error naming the file."""
        if self._benchmarks is None:
            path = self.dir / "benchmarks.json"
            try:
                benchmarks = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise ToolError(f"cannot read {path}: {one_line(error)}") from None
            if not isinstance(benchmarks, dict) or not all(
                    isinstance(entry, dict) for name, entry in benchmarks.items() if name != "version"):
                raise ToolError(f"corrupt {path}: not an object of benchmark entries")
            self._benchmarks = benchmarks
        return self._benchmarks

    def load(self, run: RunFile) -> Results:
        """A run's results, checked against benchmarks.json: the same parameter lists per benchmark."""
        results = run.load()
        benchmarks = self.benchmarks()
        for name in results.get_all_result_keys():
            described = benchmarks.get(name, {}).get("params")
            if described is not None and results.get_result_params(name) != described:
                raise ToolError(f"corrupt results file {run.path}: the parameters of {name} are not "
                                f"those {self.dir / 'benchmarks.json'} describes")
        return results

    def run_seconds(self, run: RunFile) -> float | None:
        """What the run's benchmarks and setup_caches took together, by asv's own durations (None: not recorded)."""
        try:
            data = json.loads(run.path.read_text())
            column = data["result_columns"].index("duration")
            seconds = sum(entry[column] or 0.0 for entry in data["results"].values() if len(entry) > column)
            seconds += sum(data.get("durations", {}).values())
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ToolError(f"corrupt results file {run.path}: {one_line(error)}") from None
        return seconds or None

    def night_visits(self, run: RunFile) -> dict[str, dict[str, list[float]]]:
        """Each wall time's visits in the run's night (``<commit>.night``), by label and mask; {} without the file."""
        path = run.path.parent / f"{run.commit_hash}{schema.NIGHT_SUFFIX}"
        if not path.is_file():
            return {}
        try:
            visits = json.loads(path.read_text())["wall_visits"]
            if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0
                       for masks in visits.values() for values in masks.values() for v in values):
                raise ValueError("a visit is not a positive number")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ToolError(f"corrupt {path}: {one_line(error)}") from None
        return visits

    def param_names(self, grid: schema.Grid) -> list[str]:
        """param_names of a grid's classes, from asv's benchmarks.json."""
        path = self.dir / "benchmarks.json"
        prefixes = tuple(f"{schema.BENCHMARK_MODULE}.{name}." for name in (grid.night_class, grid.timed_class))
        entry = next((e for name, e in self.benchmarks().items() if name.startswith(prefixes)), None)
        if entry is None:
            raise ToolError(f"{path} does not describe {grid.night_class} or {grid.timed_class}")
        names = entry.get("param_names")
        if not (isinstance(names, list) and all(isinstance(name, str) for name in names)):
            raise ToolError(f"corrupt {path}: param_names of {grid.night_class} is not a list of names")
        return names

    def peak_tflops(self, machine: str) -> float | None:
        """The dense bf16 peak of the machine's GPU, named in asv's machine file (record_run.py puts it in arch)."""
        try:
            arch = json.loads((self.dir / machine / "machine.json").read_text()).get("arch", "")
        except (OSError, ValueError, AttributeError):
            return None
        return schema.dense_bf16_peak_tflops(arch) if isinstance(arch, str) else None

    def backend_names(self, grid: schema.Grid) -> dict[int, str]:
        """SDPA backend code -> name, from the unit of the night class's backend benchmark."""
        name = schema.benchmark_name(grid.night_class, schema.night_method("sdpa_backend", "causal_bias"))
        unit = self.benchmarks().get(name, {}).get("unit", "")
        return {int(code): name.strip() for code, name in schema.BACKEND_LEGEND.findall(unit)}


# ---------------------------------------------------------------- config rows


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One benchmark result of one config: asv's value and, for a wall time, how far its visits spread."""

    value: float | None  # None: failed or missing; NaN is turned into None as skipped
    spread: float | None  # wall times: slowest visit of the night less the fastest (the value), where known
    status: str  # "ok", "failed", "skipped", "missing"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


MISSING = Measurement(None, None, "missing")


@dataclasses.dataclass(frozen=True)
class ConfigRow:
    """Both masks' wall times of one parameter set, and the night's figures where recorded."""

    params: dict[str, object]
    label: str  # asv's parameter string, e.g. "1, 16, (128, 256), 2048, 'bfloat16'"
    walls: dict[str, Measurement]  # by mask
    figures: dict[str, Measurement] = dataclasses.field(default_factory=dict)  # by track_* method

    def figure(self, figure: str, mask: str) -> float | None:
        """One figure of the night for one mask, None where not recorded, failed or skipped."""
        return self.figures.get(schema.night_method(figure, mask), MISSING).value

    @property
    def gpu_speedup(self) -> float | None:
        """The speedup in GPU time (CUDA-graph replay), without launch cost."""
        materialized, causal = self.figure("gpu_time", "materialized"), self.figure("gpu_time", "causal_bias")
        return materialized / causal if materialized and causal else None

    @property
    def complete(self) -> bool:
        return all(self.walls[mask].ok for mask in schema.MASKS)

    @property
    def speedup(self) -> float | None:
        """Materialized time / CausalBias time: above 1 means CausalBias is faster."""
        if not self.complete:
            return None
        return self.walls["materialized"].value / self.walls["causal_bias"].value

    def config_columns(self) -> dict[str, object]:
        """The reference's config columns, with the seq_lens axis split in two."""
        columns: dict[str, object] = {}
        for name, value in self.params.items():
            if name == "seq_lens":
                columns["q_seq_len"], columns["k_seq_len"] = value
            else:
                columns[name] = value
        if "embed_dim" in columns and "num_heads" in columns:
            columns["head_dim"] = columns["embed_dim"] // columns["num_heads"]
        return columns

    def config(self, grid: schema.Grid) -> schema.AttentionConfig:
        return schema.AttentionConfig.from_params(*self.params.values(), grid.device)


def parse_param(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _measurements(results: Results, name: str, params: list[list[str]]) -> list[Measurement]:
    """asv's value of every parameter set of one benchmark."""
    if name not in results.get_all_result_keys():
        return [MISSING] * math.prod(len(axis) for axis in params)
    return [_measurement(value) for value in results.get_result_value(name, params)]


def _measurement(value: float | None, visits: list[float] | None = None) -> Measurement:
    if value is None:
        return Measurement(None, None, "failed")
    if math.isnan(value):
        return Measurement(None, None, "skipped")
    spread = max(visits) - min(visits) if visits else None
    return Measurement(float(value), spread, "ok")


def wall_names(grid: schema.Grid, source: str) -> dict[str, str]:
    """Each mask's wall-time benchmark of a grid: the night's track_wall_time_*, or asv's time_*."""
    if source == "night":
        return {mask: schema.benchmark_name(grid.night_class, schema.night_method("wall_time", mask))
                for mask in schema.MASKS}
    return {mask: schema.benchmark_name(grid.timed_class, schema.timed_method(mask)) for mask in schema.MASKS}


def figure_names(grid: schema.Grid) -> dict[str, str]:
    """The night class's figures besides the wall time, by track_* method."""
    methods = [schema.night_method(figure.name, mask) for figure in schema.NIGHT_FIGURES
               if figure is not schema.WALL_TIME for mask in schema.MASKS]
    return {method: schema.benchmark_name(grid.night_class, method) for method in methods}


def config_rows(results: Results, grid: schema.Grid, param_names: list[str], source: str = "night",
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
    per_figure = {method: _measurements(results, name, params) for method, name in figure_names(grid).items()
                  if name in keys and results.get_result_params(name) == params}
    rows = []
    for index, combination in enumerate(itertools.product(*params)):
        label = ", ".join(combination)
        walls = {mask: per_mask[mask][index] for mask in schema.MASKS}
        for mask in schema.MASKS:
            night = (visits or {}).get(label, {}).get(mask) if source == "night" else None
            if night and walls[mask].ok:
                walls[mask] = _measurement(walls[mask].value, night)
        rows.append(ConfigRow(
            params={n: parse_param(v) for n, v in zip(param_names, combination)},
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


def has_results(results: Results, grid: schema.Grid, source: str = "night") -> bool:
    """Whether the run measured any wall time of this grid from this source."""
    keys = results.get_all_result_keys()
    for name in wall_names(grid, source).values():
        if name in keys:
            values = results.get_result_value(name, results.get_result_params(name))
            if any(v is not None and not math.isnan(v) for v in values):
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
    """'mask(params): status' for each wall time that failed, was skipped or is missing."""
    for row in rows:
        for mask, measurement in row.walls.items():
            if not measurement.ok:
                yield f"{mask}({row.label}): {measurement.status}"


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
