"""A recorded night as the verdict reads it: per result (grid, config, mask), each signal's value.

Signals, most precise first: the counts of one forward (exact), ``gpu`` (the
CUDA-graph GPU time) and ``wall`` (the night's wall time of one forward).
"""

from __future__ import annotations

import dataclasses
import statistics

from lib.noise import UNKNOWN, config_class
from lib.results import ResultsStore, RunFile
from lib.rows import ConfigRow, config_rows, has_results, problem_rows
from lib.suite import schema

Key = tuple[str, str, str]  # (grid name, config label, mask)
SIGNALS = (*schema.TIMED_SIGNALS, *schema.COUNT_FIGURES)


def signal_value(row: ConfigRow, mask: str, signal: str) -> float | None:
    if signal == schema.WALL:
        measurement = row.walls[mask]
        return measurement.value if measurement.ok else None
    return row.figure(schema.GPU_TIME.name if signal == schema.GPU else signal, mask)


@dataclasses.dataclass
class Night:
    """One recorded run's values: per key, per signal; and what failed in it."""

    run: RunFile | None
    values: dict[Key, dict[str, float | None]]
    problems: list[str] = dataclasses.field(default_factory=list)

    def value(self, key: Key, signal: str) -> float | None:
        return self.values.get(key, {}).get(signal)


def read_night(store: ResultsStore, run: RunFile) -> Night:
    results = store.load(run)
    values: dict[Key, dict[str, float | None]] = {}
    problems: list[str] = []
    for grid in schema.GRIDS:
        if not has_results(results, grid):
            continue
        rows = config_rows(results, grid, store.param_names(grid))
        problems += [f"{grid.night_class}.{p}" for p in problem_rows(rows) if not p.endswith("skipped")]
        for row in rows:
            for mask in schema.MASKS:
                values[(grid.name, row.label, mask)] = {signal: signal_value(row, mask, signal) for signal in SIGNALS}
    return Night(run, values, problems)


def key_class(nights: list[Night], key: Key) -> str:
    """The config's class from the most recent night that has both its wall and GPU time."""
    for night in reversed(nights):
        klass = config_class(night.value(key, schema.WALL), night.value(key, schema.GPU))
        if klass != UNKNOWN:
            return klass
    return UNKNOWN


def result_classes(history: list[Night], tonight: Night) -> dict[Key, str]:
    """Each of tonight's results' class from tonight, from the history where tonight lacks a time: a config
    near the launch-bound line crosses it on a night the host is slow, and that night its move is the host's,
    which its class's move takes out (taken from the history, A/A nights gave more candidates; docs/noise.md)."""
    return {key: key_class([*history, tonight], key) for key in tonight.values}


def reference_level(history: list[Night], key: Key, signal: str, window: int) -> float | None:
    """The median of the key's last ``window`` nights: one lucky or unlucky night moves it little."""
    values = [v for night in history[-window:] if (v := night.value(key, signal))]
    return statistics.median(values) if values else None
