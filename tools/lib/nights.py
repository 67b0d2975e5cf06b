"""A recorded night as the verdict reads it: per result (grid, config, mask), each signal's value.

Signals, most precise first: the counts of one forward (exact), ``gpu`` (the
CUDA-graph GPU time) and ``wall`` (the night's wall time of one forward).
"""

from __future__ import annotations

import dataclasses
import statistics

from lib.noise import classes_of
from lib.results import ResultsStore, RunFile
from lib.rows import ConfigRow, config_rows, has_results, problem_rows
from lib.suite import schema

Key = tuple[str, str, str]  # (grid name, config label, mask)
SIGNALS = (*schema.TIMED_SIGNALS, *schema.COUNT_FIGURES)


def figure_of(signal: str) -> str:
    """The night figure a signal is recorded as: the wall and GPU times', or the count's own."""
    return {schema.WALL: schema.WALL_TIME.name, schema.GPU: schema.GPU_TIME.name}.get(signal, signal)


def benchmark_of(key: Key, signal: str) -> str:
    """The asv benchmark a key's signal is recorded in: its grid's night class, the figure's track_* of its mask."""
    grid = schema.GRIDS_BY_NAME[key[0]]
    return grid.night_benchmark(figure_of(signal), key[2])


def signal_value(row: ConfigRow, mask: str, signal: str) -> float | None:
    if signal == schema.WALL:
        measurement = row.walls[mask]
        return measurement.value if measurement.ok else None
    return row.figure(figure_of(signal), mask)


@dataclasses.dataclass
class Night:
    """One recorded run's values: per key, per signal; and what failed in it."""

    run: RunFile | None
    values: dict[Key, dict[str, float | None]]
    problems: list[str] = dataclasses.field(default_factory=list)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)  # asv's version of each benchmark recorded
    in_part: dict[Key, dict[str, list[str]]] = dataclasses.field(default_factory=dict)  # left out, and what failed
    torch: str | None = None  # the git commit of the torch that measured it, where its night file says

    def value(self, key: Key, signal: str) -> float | None:
        return self.values.get(key, {}).get(signal)


def read_night(store: ResultsStore, run: RunFile) -> Night:
    """The run's values; a timed signal its night measured in part (a later visit failed, the figure from the
    visits before it) is left out, as a failed one, and said among the problems: never judged as a whole one."""
    results = store.load(run)
    marked = store.night_in_part(run)
    values: dict[Key, dict[str, float | None]] = {}
    in_part: dict[Key, dict[str, list[str]]] = {}
    problems: list[str] = []
    for grid in schema.GRIDS:
        if not has_results(results, grid):
            continue
        rows = config_rows(results, grid, store.param_names(grid))
        problems += [f"{grid.night_class}.{p}" for p in problem_rows(rows) if not p.endswith("skipped")]
        for row in rows:
            for mask in schema.MASKS:
                key = (grid.name, row.label, mask)
                values[key] = {signal: signal_value(row, mask, signal) for signal in SIGNALS}
                for signal, messages in marked.get(row.label, {}).get(mask, {}).items():
                    if values[key].get(signal) is not None:
                        values[key][signal] = None
                        in_part.setdefault(key, {})[signal] = messages
                        method = schema.night_method(figure_of(signal), mask)
                        problems.append(f"{grid.night_class}.{method}({row.label}): measured in part, not judged: "
                                        + "; ".join(messages))
    return Night(run, values, problems, dict(results.benchmark_version), in_part, store.night_torch(run))


def in_tonights_series(history: list[Night], tonight: Night) -> tuple[list[Night], list[str]]:
    """The history as asv reads it beside tonight: a value of a benchmark whose version differs from tonight's
    is not comparable (`asv compare` greys it, `asv publish` shows the current version's alone), so it is left
    out (None, as a failed result); a version missing on either side (asv's older results) is no change, as in
    asv. Returns the history and the judged benchmarks whose version changed since the last night, by name."""
    judged = {benchmark_of(key, signal) for key in tonight.values for signal in SIGNALS}
    series = []
    for night in history:
        other = {name for name in judged if different(night.versions.get(name), tonight.versions.get(name))}
        series.append(night if not other else dataclasses.replace(night, values={
            key: {signal: None if benchmark_of(key, signal) in other else value for signal, value in signals.items()}
            for key, signals in night.values.items()}))
    last = history[-1].versions if history else {}
    return series, sorted(name for name in judged if different(last.get(name), tonight.versions.get(name)))


def different(version: str | None, tonights: str | None) -> bool:
    """Whether two results of one benchmark are of different versions: both known and unequal (asv's rule)."""
    return version is not None and tonights is not None and version != tonights


def key_times(nights: list[Night], key: Key) -> tuple[float, float] | None:
    """The config's wall and GPU time from the most recent night that has both."""
    for night in reversed(nights):
        wall, gpu = night.value(key, schema.WALL), night.value(key, schema.GPU)
        if wall and gpu:
            return wall, gpu
    return None


def result_classes(history: list[Night], tonight: Night) -> dict[Key, str]:
    """Each of tonight's results' class from tonight, from the history where tonight lacks a time: a config
    near the launch-bound line crosses it on a night the host is slow, and that night its move is the host's,
    which its class's move takes out (taken from the history, A/A nights gave more candidates; docs/noise.md).
    A GPU-bound one whose wall time that night is near the launch-bound ones' is near launch-bound."""
    nights = [*history, tonight]
    return classes_of({key: key_times(nights, key) or (None, None) for key in tonight.values})


def reference_level(history: list[Night], key: Key, signal: str, window: int) -> float | None:
    """The median of the key's last ``window`` nights: one lucky or unlucky night moves it little."""
    values = [v for night in history[-window:] if (v := night.value(key, signal))]
    return statistics.median(values) if values else None
