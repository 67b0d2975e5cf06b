#!/usr/bin/env python3
"""Speedup of CausalBias over a materialized mask, from asv's results.

speedup = materialized time / CausalBias time (above 1: CausalBias is faster).
The default table is the reference script's: Average, Geomean, Max and Min over
the configs, with the config of Max and Min. ``--all`` prints every config (with
the GPU-time speedup and each mask's SDPA backend where the Profile class ran);
``--figures`` every config's Profile figures; ``--compare BASE`` the speedup at
BASE next to the chosen run's. Configs that failed or are missing are listed
under the table, never dropped.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

import numpy as np
from asv_results import ConfigRow, choose_benchmark_class, config_rows, open_machine, problem_rows
from cli import ToolError, add_format_argument, add_results_arguments, run_tool
from suite import BENCHMARK_CLASSES, COUNT_FIGURES, MASKS, wall_method
from tabulate import tabulate

CONFIG_COLUMNS = ["batch_size", "num_heads", "q_seq_len", "k_seq_len", "embed_dim", "dtype", "head_dim"]
FORMATS = ("pretty", "github", "csv", "json")


def summary_records(rows: list[ConfigRow]) -> list[dict[str, object]]:
    """Average, Geomean, Max and Min rows in the reference's columns."""
    complete = [row for row in rows if row.complete]
    if not complete:
        return []
    speedups = np.array([row.speedup for row in complete])
    blank = dict.fromkeys(CONFIG_COLUMNS)
    fastest = complete[int(np.argmax(speedups))]
    slowest = complete[int(np.argmin(speedups))]
    return [
        {"Type": "Average", "Speedup": float(np.mean(speedups)), **blank},
        {"Type": "Geomean", "Speedup": float(np.exp(np.mean(np.log(speedups)))), **blank},
        {"Type": "Max", "Speedup": float(speedups.max()), **_config(fastest)},
        {"Type": "Min", "Speedup": float(speedups.min()), **_config(slowest)},
    ]


def _config(row: ConfigRow) -> dict[str, object]:
    columns = row.config_columns()
    return {name: columns.get(name) for name in CONFIG_COLUMNS}


def _microseconds(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e6


def per_config_records(rows: list[ConfigRow], backends: dict[int, str]) -> list[dict[str, object]]:
    """Every config: both times in microseconds, how far the night's visits spread (slowest less fastest), the speedup.

    Where the Profile class ran: the speedup in GPU time and each mask's backend too.
    """
    profiled = any(row.figures for row in rows)
    records = []
    for row in rows:
        materialized = row.times[wall_method("materialized")]
        causal = row.times[wall_method("causal_bias")]
        record = {
            **_config(row),
            "materialized_us": _microseconds(materialized.value),
            "materialized_spread_us": _microseconds(materialized.spread),
            "causal_bias_us": _microseconds(causal.value),
            "causal_bias_spread_us": _microseconds(causal.spread),
            "Speedup": row.speedup,
        }
        if profiled:
            record["gpu_speedup"] = row.gpu_speedup
            record.update({f"backend_{mask}": backend_name(row, mask, backends) for mask in MASKS})
        records.append(record)
    return records


def backend_name(row: ConfigRow, mask: str, backends: dict[int, str]) -> str | None:
    code = row.figure("sdpa_backend", mask)
    return None if code is None else backends.get(int(code), f"code {int(code)}")


def figure_records(rows: list[ConfigRow], backends: dict[int, str]) -> list[dict[str, object]]:
    """Every config's Profile figures per mask: GPU time, peak memory, TFLOP/s, % of peak, backend, counts."""
    records = []
    for row in rows:
        record: dict[str, object] = {**_config(row), "Speedup": row.speedup, "gpu_speedup": row.gpu_speedup}
        for mask in MASKS:
            memory = row.figure("peak_memory", mask)
            fraction = row.figure("peak_fraction", mask)
            record.update({
                f"{mask}_gpu_us": _microseconds(row.figure("gpu_time", mask)),
                f"{mask}_peak_MiB": None if memory is None else memory / 2**20,
                f"{mask}_TFLOPs": row.figure("tflops", mask),
                f"{mask}_pct_of_peak": None if fraction is None else 100 * fraction,
                f"{mask}_backend": backend_name(row, mask, backends),
            })
            record.update({f"{mask}_{count}": _count(row.figure(count, mask)) for count in COUNT_FIGURES})
        records.append(record)
    return records


def _count(value: float | None) -> int | None:
    return None if value is None else int(value)


def compare_records(base_rows: list[ConfigRow], rows: list[ConfigRow]) -> list[dict[str, object]]:
    """Per config: the speedup at the base commit, at the chosen one, and its change (new / base - 1)."""
    base_by_label = {row.label: row for row in base_rows}
    records = []
    for row in rows:
        base = base_by_label.get(row.label)
        before = base.speedup if base else None
        after = row.speedup
        change = after / before - 1.0 if before and after else None
        records.append({**_config(row), "base_speedup": before, "speedup": after, "change": change})
    return records


def render(records: list[dict[str, object]], output_format: str) -> str:
    if output_format == "json":
        return json.dumps(records, indent=2)
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]) if records else [])
        writer.writeheader()
        writer.writerows(records)
        return buffer.getvalue().rstrip("\n")
    # tabulate's "pretty" format does not parse numbers, so floats are formatted here.
    shown = [{k: f"{v:.4g}" if isinstance(v, float) else v for k, v in r.items()} for r in records]
    return tabulate(shown, headers="keys", tablefmt=output_format, missingval="")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_results_arguments(parser)
    parser.add_argument("--commit", help="commit hash or prefix (default: the machine's most recent run)")
    parser.add_argument(
        "--benchmark",
        choices=BENCHMARK_CLASSES,
        help="benchmark class (default: the one with results, the GPU one first)",
    )
    view = parser.add_mutually_exclusive_group()
    view.add_argument("--all", action="store_true", help="one row per config instead of the summary")
    view.add_argument("--figures", action="store_true",
                      help="one row per config: GPU time, peak memory, TFLOP/s, %% of peak, backend per mask")
    view.add_argument("--compare", metavar="BASE",
                        help="per config, the speedup at commit BASE next to the chosen commit's, and its change")
    add_format_argument(parser, FORMATS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    store, machine = open_machine(args)
    run = store.choose_run(machine, args.commit)
    results = store.load(run)
    benchmark_class = choose_benchmark_class(results, args.benchmark)
    rows = config_rows(results, benchmark_class, store.param_names(benchmark_class), store.night_visits(run))
    backends = store.backend_names(benchmark_class)

    if args.figures:
        if not any(row.figures for row in rows):
            raise ToolError(f"run {run.commit_hash[:8]} has no Profile figures: record without --times-only")
        records = figure_records(rows, backends)
    elif args.compare:
        base_run = store.choose_run(machine, args.compare)
        base_rows = config_rows(store.load(base_run), benchmark_class, store.param_names(benchmark_class))
        records = compare_records(base_rows, rows)
    else:
        records = per_config_records(rows, backends) if args.all else summary_records(rows)
    problems = list(problem_rows(rows))
    if args.format == "json":
        print(json.dumps(
            {
                "machine": machine,
                "commit_hash": run.commit_hash,
                "benchmark": benchmark_class,
                "configs": len(rows),
                "rows": records,
                "not_measured": problems,
            },
            indent=2,
        ))
        return 0
    if args.format != "csv":
        complete = sum(row.complete for row in rows)
        print(f"{benchmark_class} on {machine}, commit {run.commit_hash[:8]}: "
              f"{complete} of {len(rows)} configs measured; speedup = materialized / CausalBias")
    print(render(records, args.format) if records else "no config has both results")
    if problems:
        print(f"\nNot measured ({len(problems)}):", file=sys.stdout if args.format != "csv" else sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stdout if args.format != "csv" else sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
