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
            "params": params, "type": "time", "unit": "seconds", "version": "1",
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
    samples: dict[str, list[list[float] | None]],
    benchmark_class: str = "AttentionBiasCPU",
    params=SMALL_PARAMS,
    figures: dict[str, list[float | None]] | None = None,
) -> Path:
    """One results file: ``samples[method][i]`` are the samples of config i (None: failed).

    ``figures["track_gpu_time_materialized"][i]``, etc.: the Profile class's values.
    """
    write_benchmarks_json(results_dir, benchmark_class, params)
    machine_dir = results_dir / machine
    machine_dir.mkdir(parents=True, exist_ok=True)
    (machine_dir / "machine.json").write_text(json.dumps({"machine": machine, "version": 1}))
    results = Results({"machine": machine, "python": "3.11"}, {}, commit_hash, date_ms,
                      "3.11", "existing-py", {})
    count = len(list(itertools.product(*params)))
    for method, per_config in samples.items():
        assert len(per_config) == count
        results.add_result(
            {"name": benchmark_name(benchmark_class, method), "version": "1", "params": params},
            BenchmarkResult(
                result=[None if s is None else min(s) for s in per_config],
                samples=per_config,
                number=[None if s is None else 1 for s in per_config],
                errcode=0, stderr="", profile=None,
            ),
            record_samples=True,
        )
    for method, values in (figures or {}).items():
        assert len(values) == count
        results.add_result(
            {"name": benchmark_name(PROFILE_CLASSES[benchmark_class], method), "version": "1", "params": params},
            BenchmarkResult(result=values, samples=[None] * count, number=[None] * count,
                            errcode=0, stderr="", profile=None),
        )
    results.save(str(results_dir))
    return machine_dir / results._filename.split("/")[-1]


def around(value: float) -> list[float]:
    """Three samples whose median is exactly ``value`` (too few for asv's Mann-Whitney test)."""
    return [value * 0.9, value, value * 1.1]


def many_around(value: float, count: int = 21) -> list[float]:
    """``count`` samples spread evenly over value +-1%: median ``value``, enough for Mann-Whitney."""
    return [value * (0.99 + 0.02 * i / (count - 1)) for i in range(count)]


SCALED_COLUMNS = ("result", "samples", "stats_ci_99_a", "stats_ci_99_b", "stats_q_25", "stats_q_75")


def relabelled_copy(source: Path, commit_hash: str, scales: dict[tuple[str, int], float]) -> Path:
    """A copy of a real results file recorded as ``commit_hash``, with some results scaled.

    ``scales[(benchmark name, parameter index)]`` multiplies that result's value,
    samples and time statistics. The copy sits beside the source, one second later.
    """
    data = json.loads(source.read_text())
    data["commit_hash"] = commit_hash
    columns = data["result_columns"]
    for (name, index), factor in scales.items():
        entry = data["results"][name]
        for column in SCALED_COLUMNS:
            values = entry[columns.index(column)]
            if column == "samples":
                values[index] = [s * factor for s in values[index]]
            else:
                values[index] *= factor
    started = columns.index("started_at")
    for entry in data["results"].values():
        entry[started] += 1000
    target = source.parent / f"{commit_hash[:8]}-{data['env_name']}.json"
    target.write_text(json.dumps(data))
    return target
