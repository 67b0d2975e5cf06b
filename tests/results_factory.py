"""Hand-written asv results trees, saved with asv's own Results class."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from asv.results import Results
from asv.runner import BenchmarkResult
from suite import METHODS, PROFILE_CLASSES, benchmark_name

PARAM_NAMES = ["batch_size", "num_heads", "seq_lens", "embed_dim", "dtype"]
SMALL_PARAMS = [["1", "2"], ["4"], ["(16, 48)", "(1, 48)"], ["64"], ["'float32'"]]
FIGURE_UNITS = {"gpu_time": "seconds", "peak_memory": "bytes", "tflops": "TFLOP/s",
                "peak_fraction": "fraction of dense bf16 peak",
                "sdpa_backend": "SDPBackend: 0 math, 1 flash, 2 memory-efficient, 3 cuDNN",
                "aten_ops": "operators", "kernels": "kernels", "syncs": "syncs", "python_calls": "calls",
                "allocations": "allocations"}


def write_benchmarks_json(results_dir: Path, benchmark_class: str, params=SMALL_PARAMS) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    entries = {
        benchmark_name(benchmark_class, method): {
            "name": benchmark_name(benchmark_class, method), "param_names": PARAM_NAMES,
            "params": params, "type": "track", "unit": "seconds", "version": "1",
        }
        for method in METHODS
    }
    for figure, unit in FIGURE_UNITS.items():
        for mask in ("materialized", "causal_bias"):
            name = benchmark_name(PROFILE_CLASSES[benchmark_class], f"track_{figure}_{mask}")
            entries[name] = {"name": name, "param_names": PARAM_NAMES, "params": params, "type": "track",
                             "unit": unit, "version": "1"}
    (results_dir / "benchmarks.json").write_text(json.dumps({**entries, "version": 2}))


def write_run(
    results_dir: Path,
    machine: str,
    commit_hash: str,
    date_ms: int,
    walls: dict[str, list[float | None]],
    benchmark_class: str = "AttentionBiasCPU",
    params=SMALL_PARAMS,
    figures: dict[str, list[float | None]] | None = None,
    visits: dict[tuple[int, str], list[float]] | None = None,
) -> Path:
    """One results file: ``walls[method][i]`` is the wall time of config i (None: failed).

    ``figures["track_gpu_time_materialized"][i]``, etc.: the Profile class's values;
    ``visits[(i, mask)]``: the night's visits of that wall time, written to ``<commit>.night``.
    """
    write_benchmarks_json(results_dir, benchmark_class, params)
    machine_dir = results_dir / machine
    machine_dir.mkdir(parents=True, exist_ok=True)
    (machine_dir / "machine.json").write_text(json.dumps({"machine": machine, "version": 1}))
    results = Results({"machine": machine, "python": "3.11"}, {}, commit_hash, date_ms,
                      "3.11", "existing-py", {})
    combinations = list(itertools.product(*params))
    count = len(combinations)
    for method, values in walls.items():
        assert len(values) == count
        add_track(results, benchmark_name(benchmark_class, method), params, values)
    for method, values in (figures or {}).items():
        assert len(values) == count
        add_track(results, benchmark_name(PROFILE_CLASSES[benchmark_class], method), params, values)
    results.save(str(results_dir))
    if visits:
        labels = [", ".join(combination) for combination in combinations]
        night = {"seconds": 1.0, "phases": {}, "wall_visits": {}}
        for (index, mask), values in visits.items():
            night["wall_visits"].setdefault(labels[index], {})[mask] = values
        (machine_dir / f"{commit_hash}.night").write_text(json.dumps(night))
    return machine_dir / results._filename.split("/")[-1]


def add_track(results: Results, name: str, params, values: list[float | None]) -> None:
    count = len(values)
    results.add_result(
        {"name": name, "version": "1", "params": params},
        BenchmarkResult(result=values, samples=[None] * count, number=[None] * count,
                        errcode=0, stderr="", profile=None),
    )
