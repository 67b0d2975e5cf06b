"""The one reader of the files the tools read: asv's results, the night's side files, asv's pages.

It imports neither torch nor the measuring code, so the tools start fast on any
machine with asv installed. Parsing is asv's own (``asv.results.Results``); this
module adds the choice of machine and run, and the checks that catch damaged
input once for every tool. A run's config rows are ``lib.rows``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NamedTuple, TypeVar

from asv.results import Results

from lib.cli import ToolError, one_line, read_json_object
from lib.conf import conf_dir_path, git_commit, read_conf
from lib.findings import LEVELS, LISTED, SUSPECT
from lib.suite import DEFAULT_CONF, schema

_T = TypeVar("_T")

# asv's own files in a results folder: the suite's benchmarks (one for all machines), and each machine's file.
BENCHMARKS_FILE, MACHINE_FILE = "benchmarks.json", "machine.json"

# The start of an asv results file as asv writes it: commit hash, environment, date.
HEAD = re.compile(r'\{"commit_hash": "(?P<commit>[0-9a-f]+)", "env_name": "[^"]*", "date": (?P<date>\d+)')


# ---------------------------------------------------------------- locating results


def side_file(machine_dir: Path, commit: str, suffix: str) -> Path:
    """A night's side file beside its results (schema's *_SUFFIX): named by the full commit hash."""
    return machine_dir / f"{commit}{suffix}"


NIGHT, ASV = "night", "asv"  # the wall time's sources (lib.rows.WALL_SOURCES): whose files a store reads
SOURCE_CLASS = {NIGHT: "night_class", ASV: "timed_class"}
SOURCE_RUNS = {NIGHT: " of the night", ASV: " of asv's time_* benchmarks"}

HASH_PREFIX = re.compile(r"[0-9a-f]{1,40}")


def named_commit(name: str, conf_path: Path = DEFAULT_CONF) -> str:
    """The full hash of a git name (``HEAD^``, a tag, a branch) in the repository asv.conf.json names, as asv's
    own commands take one; a user error naming both where git does not know it."""
    found = _git_name(name, conf_path)
    if found is None:
        raise ToolError(f"{name!r} is neither a commit hash (prefix) nor a commit of {_conf_repo(conf_path)}")
    return found


def _conf_repo(conf_path: Path) -> Path:
    return conf_dir_path(conf_path, read_conf(conf_path), "repo")


def _git_name(name: str, conf_path: Path = DEFAULT_CONF) -> str | None:
    """The full hash git gives ``name`` in the conf's repository; None where it gives none."""
    return git_commit(_conf_repo(conf_path), name)


def open_machine(args: argparse.Namespace, source: str | None = NIGHT) -> tuple[ResultsStore, str]:
    """The results store (of ``source``'s files) and machine that --results-dir and --machine name."""
    store = ResultsStore(args.results_dir, source)
    return store, store.choose_machine(args.machine)



def default_results_dir(conf_path: Path = DEFAULT_CONF) -> Path:
    """results_dir of asv.conf.json, relative to the conf file (asv's rule)."""
    return conf_dir_path(conf_path, read_conf(conf_path), "results_dir")


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
        return read_results(self.path)


def read_results(path: Path) -> Results:
    """A results file as the tools read it: asv's loader, then ``damaged``; a ToolError naming what is wrong."""
    try:
        results = Results.load(str(path))
        problem = damaged(results)
    except Exception as error:  # asv raises several kinds for a damaged file
        raise ToolError(f"corrupt results file {path}: {one_line(error)}") from None
    if problem:
        raise ToolError(f"corrupt results file {path}: {problem}")
    return results


def night_walls(results: Results) -> dict[tuple[str, str], float]:
    """Each night wall time the results measured, by (label, mask)."""
    walls = {}
    for grid in schema.GRIDS:
        for mask in schema.MASKS:
            name = grid.night_benchmark(schema.WALL_TIME.name, mask)
            if name not in results.get_all_result_keys():
                continue
            params = results.get_result_params(name)
            for combination, value in zip(itertools.product(*params), results.get_result_value(name, params)):
                if _positive(value):
                    walls[(schema.params_label(combination), mask)] = float(value)
    return walls


def _holds(path: Path, marks: list[bytes]) -> bool:
    """Whether a results file names a benchmark of one of ``marks``' classes; one that does not parse whole is
    kept, for its reader to set aside as damaged."""
    try:
        text = path.read_bytes()
    except OSError:
        return True
    if any(mark in text for mark in marks):
        return True
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return True
    return False


def _positive(value: object) -> bool:
    """A finite number above zero, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def method_of(name: str) -> str:
    """A benchmark's method (schema.benchmark_name's inverse), without the parameters asv may write after it."""
    return name.split("(")[0].rsplit(".", 1)[-1]


def must_be_positive(name: str) -> bool:
    """Durations and sizes: asv's time benchmarks and the night's positive figures."""
    method = method_of(name)
    figure = schema.night_figure(method)
    return schema.is_timed_method(method) or (figure is not None and figure.positive)


def impossible(name: str, value: float) -> bool:
    """A number no run can have measured: below zero, or zero where the figure is positive (a duration, a size,
    a CUDA forward's kernels). A fault of the measurement, read as not measured (lib.rows): the file's other
    values stand."""
    return value < 0 or (value == 0 and must_be_positive(name))


def damaged(results: Results) -> str | None:
    """What makes a file unreadable: values that do not match the parameter sets, a non-number, an infinity.

    None and NaN stay: asv's failed and skipped; so does an impossible number (``impossible``).
    """
    for name in results.get_all_result_keys():
        params = results.get_result_params(name)
        if not (isinstance(params, list) and all(isinstance(axis, list) and all(isinstance(v, str) for v in axis)
                                                 for axis in params)):
            return f"{name} has parameters that are not lists of names"
        values = stored_values(results, name)
        expected = math.prod(len(axis) for axis in params) if params else 1
        if values is None:  # asv's "every value missing" (a failed build)
            continue
        if len(values) != expected:
            return f"{name} has {len(values)} values for {expected} parameter sets"
        for value in values:
            if value is None:
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isinf(value):
                return f"{name} has the value {value!r}"
    return None


def stored_values(results: Results, name: str) -> list | None:
    """The values asv keeps for ``name``, as the file lists them. Its get_result_value maps them onto parameter
    sets, padding a short list with None and dropping a long one's surplus (asv.results._compatible_results),
    which hides a file whose values and parameters disagree; asv 0.6 has no public accessor of the list."""
    return results._results[name]


SET_ASIDE = "set aside, not read: "


class SetAside(NamedTuple):
    """A results file that does not read: the line that names it, and its date where its head said it."""

    line: str
    date: int | None


def _readable(path: Path, date: int | None, read: Callable[[], RunFile],
              set_aside: dict[Path, SetAside]) -> RunFile | None:
    """The run ``read`` reads of ``path``; None where it does not read, the file in ``set_aside`` with a line
    naming it and ``date``, where known."""
    try:
        return read()
    except ToolError as error:
        set_aside[path] = SetAside(f"{SET_ASIDE}{error}", date)
        return None


class ResultsStore:
    """The results tree of asv: <dir>/benchmarks.json and <dir>/<machine>/<run>.json."""

    def __init__(self, results_dir: Path | None, source: str | None = NIGHT) -> None:
        """``source``: the runs read are the files holding that wall time's benchmarks (NIGHT, the night's
        figures; ASV, asv's own time_*), the newest of each commit; None: every file. asv writes one file per
        commit and environment: a hand ``asv run`` or a torch range of one commit lands beside its night."""
        self.source = source
        self.dir = Path(results_dir) if results_dir else default_results_dir()
        if self.dir.exists() and not self.dir.is_dir():
            raise ToolError(f"{self.dir} is a file, not a results directory")
        if not self.dir.is_dir():
            raise ToolError(f"no results directory at {self.dir}: run the suite first (make bench)")
        self._runs: dict[str, list[RunFile]] = {}
        self._set_aside: dict[str, dict[Path, SetAside]] = {}
        self._others_nights: dict[Path, str | None] = {}  # per night file: why it is another run's, or None
        self._benchmarks: dict | None = None

    def machines(self) -> list[str]:
        return sorted(p.parent.name for p in self.dir.glob("*/machine.json"))

    def runs(self, machine: str) -> list[RunFile]:
        """The machine's runs, oldest first (each file indexed once per store).

        Each file's head is read (commit and date); where several runs share
        a commit date, as stand-in commits made in one second do, their files are
        read whole to order them by when they ran. A store of one source reads
        each file's bytes once more, for the benchmarks it holds (``_of_source``).
        """
        if machine not in self._runs:
            set_aside: dict[Path, SetAside] = {}
            paths = sorted(path for path in (self.dir / machine).glob("*.json") if path.name != MACHINE_FILE)
            runs = [run for path in paths
                    if (run := _readable(path, None, partial(self._index, path, machine), set_aside))]
            dates = Counter(run.date for run in runs)
            runs = [run for indexed in runs if (run := _readable(
                indexed.path, indexed.date, partial(self._ordered, indexed, dates[indexed.date]), set_aside))]
            self._set_aside[machine] = set_aside
            self._runs[machine] = self._of_source(sorted(runs, key=lambda run: run.order))
        return self._runs[machine]

    def _of_source(self, runs: list[RunFile]) -> list[RunFile]:
        """The runs whose files hold the store's source, the newest of each commit (all: no source)."""
        if self.source is None:
            return runs
        marks = [f'"{schema.benchmark_name(getattr(grid, SOURCE_CLASS[self.source]), "")}'.encode()
                 for grid in schema.GRIDS]
        held = [run for run in runs if _holds(run.path, marks)]
        newest = {run.commit_hash: run for run in held}  # oldest first: the last of a commit wins
        return [run for run in held if newest[run.commit_hash] is run]

    def set_aside(self, machine: str) -> dict[Path, SetAside]:
        """The machine's results files that do not read (a damaged head, or a damaged file of a date others
        share), each with a line naming it and its date where its head said it: left out of ``runs``, never
        blocking the runs around them; a tool that reads past them says so."""
        self.runs(machine)
        return dict(self._set_aside[machine])

    def _index(self, path: Path, machine: str) -> RunFile:
        try:
            with open(path) as handle:
                head = HEAD.match(handle.read(4096))
            if head:
                return RunFile(path, machine, head["commit"], int(head["date"]), 0)
            data = json.loads(path.read_text())  # not asv's usual layout: read it whole
            commit = data["commit_hash"]
            if not (isinstance(commit, str) and HASH_PREFIX.fullmatch(commit)):
                raise ValueError(f"commit_hash {commit!r} is no commit")
            return RunFile(path, machine, commit, int(data["date"]), 0)
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
            raise ToolError(f"corrupt results file {path}: {one_line(error)}") from None

    def _ordered(self, run: RunFile, runs_of_its_date: int) -> RunFile:
        """The run, with when it ran where other runs share its date."""
        return self._with_start(run) if runs_of_its_date > 1 else run

    def _with_start(self, run: RunFile) -> RunFile:
        try:
            data = json.loads(run.path.read_text())
            column = data["result_columns"].index("started_at")
            started = max((entry[column] or 0 for entry in data["results"].values()), default=0)
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
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
        """The run of ``commit`` (a hash prefix, or a git name of the conf's repository: ``HEAD^``, a tag, as asv
        takes them) on ``machine``, or its most recent one."""
        runs = self.runs(machine) if runs is None else runs
        if commit is not None and not HASH_PREFIX.fullmatch(commit):
            commit = named_commit(commit)
        unreadable = self._set_aside.get(machine, {})
        # The newest may be a file that does not read: where its date is unknown or not older, none stands in.
        newer = [aside for aside in unreadable.values()
                 if aside.date is None or not runs or aside.date >= runs[-1].date]
        if commit is None and newer:
            raise ToolError(f"which run of {machine!r} is the most recent is not known: "
                            f"{newer[0].line.removeprefix(SET_ASIDE)}; name the run's commit")
        if not runs:
            of = SOURCE_RUNS[self.source] if self.source else ""
            raise ToolError(f"machine {machine!r} has no recorded runs{of} in {self.dir}")
        if commit is None:
            return runs[-1]
        matches = [run for run in runs if run.commit_hash.startswith(commit)]
        damaged = [aside.line for path, aside in unreadable.items() if path.name.startswith(commit[:8])]
        if not matches and damaged:
            raise ToolError(damaged[0].removeprefix(SET_ASIDE))
        if not matches and HASH_PREFIX.fullmatch(commit) and (named := _git_name(commit)) and named != commit:
            return self.choose_run(machine, named, runs)  # a branch or tag that looks like a hash prefix
        if not matches:
            available = ", ".join(run.commit_hash[:8] for run in runs[-10:])
            raise ToolError(f"no run of commit {commit!r} on machine {machine!r}; recent: {available}")
        if len({run.commit_hash for run in matches}) > 1:
            raise ToolError(f"commit prefix {commit!r} is ambiguous on machine {machine!r}")
        return matches[-1]

    def benchmarks(self) -> dict:
        """asv's benchmarks.json, read once; a damaged one is a user error naming the file."""
        if self._benchmarks is None:
            path = self.dir / BENCHMARKS_FILE
            try:
                benchmarks = json.loads(path.read_text())
            except (OSError, ValueError, RecursionError) as error:
                raise ToolError(f"cannot read {path}: {one_line(error)}") from None
            if not isinstance(benchmarks, dict) or not all(
                    isinstance(entry, dict) for name, entry in benchmarks.items() if name != "version"):
                raise ToolError(f"corrupt {path}: not an object of benchmark entries")
            self._benchmarks = benchmarks
        return self._benchmarks

    def load(self, run: RunFile) -> Results:
        """A run's results. Each run is read by its own parameters, by config label: a grid that gained or lost
        configs since (asv rewrites benchmarks.json) leaves its older nights comparable where configs are shared."""
        return run.load()

    def run_seconds(self, run: RunFile) -> float | None:
        """What the run's benchmarks and setup_caches took together, by asv's own durations (None: not recorded)."""
        try:
            data = json.loads(run.path.read_text())
            column = data["result_columns"].index("duration")
            seconds = sum(entry[column] or 0.0 for entry in data["results"].values() if len(entry) > column)
            seconds += sum(data.get("durations", {}).values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
            raise ToolError(f"corrupt results file {run.path}: {one_line(error)}") from None
        return seconds or None

    def night_visits(self, run: RunFile, signal: str = schema.WALL) -> dict[str, dict[str, list[float]]]:
        """Each wall time's (or, ``signal`` schema.GPU, GPU time's) visits in the run's night (``<commit>.night``),
        by label and mask; {} without the file, and without GPU times in it (a CPU grid's night, or one recorded
        before they were kept)."""
        def visits(record: dict) -> dict[str, dict[str, list[float]]]:
            name = schema.NIGHT_VISITS[signal]
            found = record[name] if signal == schema.WALL else record.get(name, {})
            if not all(_positive(v) for masks in found.values() for values in masks.values() for v in values):
                raise ValueError("a visit is not a positive number")
            return found

        assert signal in schema.TIMED_SIGNALS, signal
        return self._night_file(run, visits)

    def night_clocks(self, run: RunFile) -> dict[str, dict[str, list[float | None]]]:
        """The SM clock (MHz) read beside each GPU-time build of the run's night, by label and mask, None where
        NVML could not say; {} without the file or the clocks."""
        def clocks(record: dict) -> dict[str, dict[str, list[float | None]]]:
            found = record.get(schema.NIGHT_VISITS[schema.SM_CLOCK], {})
            if not all(v is None or _positive(v) for masks in found.values() for values in masks.values()
                       for v in values):
                raise ValueError("a clock is neither a positive number nor null")
            return found

        return self._night_file(run, clocks)

    def night_in_part(self, run: RunFile) -> dict[str, dict[str, dict[str, list[str]]]]:
        """The signals the run's night measured in part, by label and mask, each with what failed
        (schema.NIGHT_IN_PART); {} without the file or the entry (a night before it was recorded)."""
        def in_part(record: dict) -> dict[str, dict[str, dict[str, list[str]]]]:
            found = record.get(schema.NIGHT_IN_PART, {})
            if not all(signal in schema.TIMED_SIGNALS and isinstance(messages, list) and messages
                       and all(isinstance(m, str) for m in messages)
                       for masks in found.values() for signals in masks.values()
                       for signal, messages in signals.items()):
                raise ValueError("a signal measured in part is not a timed signal with its errors")
            return found

        return self._night_file(run, in_part)

    def night_torch(self, run: RunFile) -> str | None:
        """The torch (its git commit) the run's night measured with (schema.NIGHT_TORCH); None without the file or
        the entry (a night before it was recorded)."""
        def torch(record: dict) -> str:
            found = record.get(schema.NIGHT_TORCH, "")
            if not isinstance(found, str):
                raise ValueError("the torch is not a git commit")
            return found

        found = self._night_file(run, torch)
        return found if isinstance(found, str) and found else None

    def _night_file(self, run: RunFile, read: Callable[[dict], _T]) -> _T | dict:
        """``read`` of the run's night file (``<commit>.night``); {} without the file, or where it is another run's
        (``others_nights``); one line where damaged."""
        path = side_file(run.path.parent, run.commit_hash, schema.NIGHT_SUFFIX)
        if not path.is_file():
            return {}
        record = read_json_object(path, "corrupt")
        if path not in self._others_nights:
            self._others_nights[path] = self._not_its_night(run, path, record)
        if self._others_nights[path]:
            return {}
        try:
            return read(record)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ToolError(f"corrupt {path}: {one_line(error)}") from None

    def _not_its_night(self, run: RunFile, path: Path, record: dict) -> str | None:
        """Why the night file is not the run's, or None: each wall time the run has is the fastest of the file's
        visits (NightPasses), exactly. A plain `asv run` of the night class over a recorded commit replaces the
        values and leaves the file of the night before."""
        visits = record.get(schema.NIGHT_VISITS[schema.WALL])
        if not isinstance(visits, dict):
            return None  # damaged: the reader says so
        for (label, mask), value in night_walls(self.load(run)).items():
            found = visits.get(label, {}).get(mask) if isinstance(visits.get(label), dict) else None
            if isinstance(found, list) and found and all(_positive(v) for v in found) and min(found) != value:
                return (f"{path} is another run's night: {label} {mask} is {value!r} in {run.path.name}, its visits' "
                        f"fastest {min(found)!r} (asv run over the night class by hand?); not read")
        return None

    def others_nights(self) -> list[str]:
        """The night files read so far that are not their run's, each a line saying why: left unread."""
        return [why for why in self._others_nights.values() if why]

    def param_names(self, grid: schema.Grid) -> list[str]:
        """param_names of a grid's classes, from asv's benchmarks.json."""
        path = self.dir / BENCHMARKS_FILE
        prefixes = tuple(schema.benchmark_name(name, "") for name in (grid.night_class, grid.timed_class))
        entry = next((e for name, e in self.benchmarks().items() if name.startswith(prefixes)), None)
        if entry is None:
            raise ToolError(f"{path} does not describe {grid.night_class} or {grid.timed_class}")
        names = entry.get("param_names")
        if names != schema.PARAM_NAMES:  # the rows read each config by these names
            raise ToolError(f"corrupt {path}: param_names of {grid.night_class} are not the suite's "
                            f"({', '.join(schema.PARAM_NAMES)})")
        return names

    def peak_tflops(self, machine: str) -> float | None:
        """The dense bf16 peak of the machine's GPU, named in asv's machine file (record_run.py puts it in arch)."""
        try:
            arch = json.loads((self.dir / machine / MACHINE_FILE).read_text()).get("arch", "")
        except (OSError, ValueError, AttributeError):
            return None
        return schema.dense_bf16_peak_tflops(arch) if isinstance(arch, str) else None

    def backend_names(self, grid: schema.Grid) -> dict[int, str]:
        """SDPA backend code -> name, from the unit of the night class's backend benchmark."""
        name = grid.night_benchmark(schema.SDPA_BACKEND.name, schema.CAUSAL_BIAS)
        unit = self.benchmarks().get(name, {}).get("unit", "")
        if not isinstance(unit, str):
            raise ToolError(f"corrupt {self.dir / BENCHMARKS_FILE}: the unit of {name} is not a string")
        return {int(code): name.strip() for code, name in schema.BACKEND_LEGEND.findall(unit)}


# ---------------------------------------------------------------- side files and asv's pages


def verdict_path(store: ResultsStore, machine: str, commit: str) -> Path:
    return side_file(store.dir / machine, commit, schema.VERDICT_SUFFIX)


def previous_suspects(store: ResultsStore, machine: str, commit: str) -> dict[tuple, dict]:
    """The suspects a night's check kept (``<commit>.verdict``), by (grid, config, mask, signal)."""
    path = verdict_path(store, machine, commit)
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text())[LISTED[SUSPECT]]
        kept = {(e["grid"], e["config"], e["mask"], e["signal"]): e for e in entries}
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
        raise ToolError(f"corrupt verdict file {path}: {one_line(error)}") from None
    damaged = next((entry for key, entry in kept.items() if not whole_suspect(key, entry)), None)
    if damaged is not None:  # the persistence rule reads them: one of another shape is one line, not a traceback
        raise ToolError(f"corrupt verdict file {path}: a suspect without its names or the numbers the persistence "
                        f"rule reads: {json.dumps(damaged)[:200]}")
    return kept


def whole_suspect(key: tuple, entry: dict) -> bool:
    """A kept suspect's names are strings, and the numbers the persistence rule reads of it numbers: its bar,
    and a count's levels (verdict.keep_suspects writes them)."""
    numbers = ("bar", "reference", "contender") if key[-1] in schema.COUNT_FIGURES else ("bar",)
    return all(isinstance(name, str) for name in key) and all(
        isinstance(entry.get(field), (int, float)) and not isinstance(entry[field], bool) for field in numbers)


# What a reader of a check's JSON report (check_regressions.py --format json) takes of each finding.
REPORT_FINDING_FIELDS = {"config", "mask", "signal", "level", "relative", "floor", "why"}


def report_findings(report: dict) -> list[dict]:
    """A check's JSON report's findings, every level."""
    return [finding for level in LEVELS for finding in report[LISTED[level]]]


def report_floor_rows(report: dict) -> dict[tuple[str, str], dict]:
    """A check's JSON report's row per result (its class, and per signal its floor and how far it moved away
    from its class tonight: ``<signal>_floor``, ``<signal>_relative``), by (config, mask); none in a report
    without them."""
    return {(row["config"], row["mask"]): row for row in report.get("floors") or []}


def report_remeasured(report: dict) -> set[tuple[str, str, str]]:
    """(config, mask, signal) of every value a check's JSON report says its re-measurement took: each entry is
    its config, its mask and each side's values by signal (``Remeasured.as_json``)."""
    values = (report.get("confirmation") or {}).get("values") or []
    return {(entry["config"], entry["mask"], signal) for entry in values
            for side in schema.SIDES for signal in entry.get(side, {}) if signal != schema.SM_CLOCK}


def report_not_measured(report: dict) -> dict[tuple[str, str], str]:
    """(config, mask) of each GPU time short of the factor a check's JSON report says its re-measurement did
    not measure: "left out" for the budget, "dropped" with its key after the first processes ran slower
    than planned, or "failed" where a later round failed before measuring it; none in a report without them."""
    named = ((report.get("confirmation") or {}).get("short_left_out") or [])
    return {(config, mask): why for config, mask, why in named}


def report_unjudged(report: dict) -> dict[tuple[str, str, str], str]:
    """(config, mask, signal) of each of tonight's values a check's JSON report says it did not judge, and why;
    none in a report without them."""
    return {(row["config"], row["mask"], row["signal"]): row["why"] for row in report.get("unjudged") or []}


def check_report(path: Path) -> dict:
    """A check's JSON report: its factor and its findings, each with REPORT_FINDING_FIELDS; its rows per
    result, its re-measured values and the candidates it did not measure where it has them
    (``report_floor_rows``, ``report_remeasured``, ``report_not_measured``)."""
    report = read_json_object(path, "not a check's JSON report:")
    try:
        report["factor"] = float(report["factor"])
        incomplete = [f for f in report_findings(report) if not REPORT_FINDING_FIELDS <= f.keys()]
        # read whole here: a damaged one is refused now
        report_floor_rows(report), report_remeasured(report), report_not_measured(report)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise ToolError(f"not a check's JSON report: {path}: {one_line(error)}") from None
    if incomplete:
        raise ToolError(f"not a check's JSON report: {path}: a finding without "
                        f"{', '.join(sorted(REPORT_FINDING_FIELDS - incomplete[0].keys()))}")
    return report


def dispatch_names(store: ResultsStore, machine: str, commit: str) -> dict:
    """Operator and kernel names per config and mask, as the run's setup_cache wrote them."""
    path = side_file(store.dir / machine, commit, schema.DISPATCH_SUFFIX)
    if not path.is_file():
        return {}
    names = read_json_object(path, "corrupt names file")
    if not nested_counts(names, 4):  # of another shape: one line, never a traceback where the names are compared
        raise ToolError(f"corrupt names file {path}: not {{config: {{mask: {{kind: {{name: count}}}}}}}}")
    return names


def nested_counts(value: object, depth: int) -> bool:
    """``value`` is ``depth`` levels of JSON objects over whole counts."""
    if depth == 0:
        return type(value) is int  # a bool is no count
    return isinstance(value, dict) and all(nested_counts(inner, depth - 1) for inner in value.values())



def lower_is_better(name: str) -> bool:
    """asv's time benchmarks and the night's figures whose schema says lower is better."""
    method = method_of(name)
    figure = schema.night_figure(method)
    return schema.is_timed_method(method) or (figure is not None and bool(figure.lower_is_better) and not figure.exact)


def published_steps(html_dir: Path, machine: str) -> list[dict]:
    """Steps that `asv publish` detected over the history of this machine (regressions.json)."""
    path = html_dir / "regressions.json"
    if not path.is_file():
        raise ToolError(f"no {path}: run `asv publish` first, or leave out --html-dir")
    try:
        entries = json.loads(path.read_text())["regressions"]
        index = json.loads((html_dir / "index.json").read_text())
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
        raise ToolError(f"cannot read asv's pages in {html_dir}: {one_line(error)}") from None
    try:
        return machine_steps(entries, index, machine)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ToolError(f"cannot read asv's pages in {html_dir}: {one_line(error)}") from None


def machine_steps(entries: list, index: dict, machine: str) -> list[dict]:
    """regressions.json's steps of this machine's series, each with its commits and ratios."""
    to_hash = {int(k): v for k, v in index.get("revision_to_hash", {}).items()}
    several = len(index.get("params", {}).get("machine", [])) > 1
    found = []
    for name, graph_path, _params, _index, last_value, best_value, jumps in entries:
        if not lower_is_better(name):
            continue  # asv reads every series as lower-is-better; backend codes are not, counts are judged above
        if several and f"machine-{machine}/" not in graph_path:
            continue
        for before_revision, after_revision, before, after in jumps:
            if not (before > 0 and after > 0):
                continue  # a 0 is a figure not measured, as the check reads it: no step of the forward's
            after_commit = to_hash.get(after_revision, str(after_revision))[:8]
            found.append({
                "benchmark": name, "after_commit": after_commit,
                # asv writes no revision before a step of one commit: it is that commit's parent, git's "^"
                "before_commit": f"{after_commit}^" if before_revision is None else to_hash.get(before_revision,
                                                                                                "")[:8],
                "before": before, "after": after, "ratio": after / before,
                # A night that measured nothing keeps the series' best at 0: its later steps stand all the same.
                "now_vs_best": last_value / best_value if best_value > 0 else None,
            })
    return found
