"""Hand-written asv results trees, saved with asv's own Results class."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from asv.results import Results
from asv.runner import BenchmarkResult
from lib.suite import schema

SMALL_PARAMS = [["1", "2"], ["4"], ["(16, 48)", "(1, 48)"], ["64"], ["'float32'"]]
CPU = schema.GRIDS_BY_NAME["cpu"]


def write_benchmarks_json(results_dir: Path, grid: schema.Grid = CPU, params=SMALL_PARAMS) -> None:
    """benchmarks.json of a grid's timed and night classes, as asv writes it."""
    results_dir.mkdir(parents=True, exist_ok=True)
    entries = {}
    for mask in schema.MASKS:
        name = grid.timed_benchmark(mask)
        entries[name] = {"name": name, "param_names": schema.PARAM_NAMES, "params": params, "type": "time",
                         "unit": "seconds", "version": "1"}
        for figure in schema.NIGHT_FIGURES:
            name = grid.night_benchmark(figure.name, mask)
            entries[name] = {"name": name, "param_names": schema.PARAM_NAMES, "params": params,
                             "type": "track", "unit": figure.unit, "version": "1"}
    (results_dir / "benchmarks.json").write_text(json.dumps({**entries, "version": 2}))


def class_of(method: str, grid: schema.Grid) -> str:
    """asv's time_* methods belong to the grid's timed class, every track_* to its night class."""
    return grid.timed_class if method.startswith("time_") else grid.night_class


def write_run(
    results_dir: Path,
    machine: str,
    commit_hash: str,
    date_ms: int,
    walls: dict[str, list[float | None]],
    grid: schema.Grid = CPU,
    params=SMALL_PARAMS,
    figures: dict[str, list[float | None]] | None = None,
    visits: dict[tuple[int, str], list[float]] | None = None,
    versions: dict[str, str] | None = None,
    env_name: str = "existing-py",
) -> Path:
    """One results file: ``walls[method][i]`` is the wall time of config i (None: failed), the night's
    (``track_wall_time_<mask>``) or asv's (``time_<mask>``).

    ``figures["track_gpu_time_materialized"][i]``, etc.: the night class's other figures;
    ``visits[(i, mask)]``: the night's visits of that wall time, written to ``<commit>.night``;
    ``versions[method]``: that benchmark's asv version, where not "1"; ``env_name``: asv's environment, which
    names the file (one per commit and environment).
    """
    write_benchmarks_json(results_dir, grid, params)
    machine_dir = results_dir / machine
    machine_dir.mkdir(parents=True, exist_ok=True)
    (machine_dir / "machine.json").write_text(json.dumps({"machine": machine, "version": 1}))
    results = Results({"machine": machine, "python": "3.11"}, {}, commit_hash, date_ms,
                      "3.11", env_name, {})
    combinations = list(itertools.product(*params))
    count = len(combinations)
    for method, values in {**walls, **(figures or {})}.items():
        assert len(values) == count
        add_track(results, schema.benchmark_name(class_of(method, grid), method), params, values,
                  (versions or {}).get(method, "1"))
    results.save(str(results_dir))
    if visits:
        labels = [", ".join(combination) for combination in combinations]
        night = {"seconds": 1.0, "phases": {}, "wall_visits": {}}
        for (index, mask), values in visits.items():
            night["wall_visits"].setdefault(labels[index], {})[mask] = values
        (machine_dir / f"{commit_hash}.night").write_text(json.dumps(night))
    return machine_dir / results._filename.split("/")[-1]


def add_track(results: Results, name: str, params, values: list[float | None], version: str = "1") -> None:
    count = len(values)
    results.add_result(
        {"name": name, "version": version, "params": params},
        BenchmarkResult(result=values, samples=[None] * count, number=[None] * count,
                        errcode=0, stderr="", profile=None),
    )
