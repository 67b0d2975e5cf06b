#!/usr/bin/env python3
"""Run-to-run noise between two recorded runs of the same code (an A/A experiment).

For every benchmark and parameter set: the relative difference of the two
results, each run's spread, whether `asv compare --factor` would flag it, and the
smallest slowdown the config can reliably reveal. The summary gives the median,
95th percentile and max of |difference|.

Smallest detectable slowdown: the smallest factor by which B's samples must be
scaled for asv's significance test to call them different from A's, and never
below the A/A difference itself (a slowdown smaller than what two runs of the same
code already differ by is not reliable, whatever the test says).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from asv_results import (
    Measurement,
    ResultsStore,
    asv_flag,
    config_rows,
    has_results,
    open_machine,
    paired_rows,
    scaled,
    significantly_different,
)
from cli import ToolError, add_format_argument, add_results_arguments, run_tool
from suite import BENCHMARK_CLASSES, METHODS
from tabulate import tabulate

FORMATS = ("pretty", "github", "json")
LARGEST_FACTOR = 4.0


def detectable_slowdown(a: Measurement, b: Measurement) -> float:
    """Smallest factor f with B*f significantly slower than A, by bisection (to 0.01%)."""
    floor = max(1.0, b.value / a.value, a.value / b.value)
    if not significantly_different(a, scaled(b, LARGEST_FACTOR * floor)):
        return float("inf")
    low, high = 1.0, LARGEST_FACTOR * floor
    while high / low > 1.0001:
        middle = (low * high) ** 0.5
        shifted = scaled(b, middle)
        if shifted.value > a.value and significantly_different(a, shifted):
            high = middle
        else:
            low = middle
    return max(high, floor)


def relative_spread(measurement: Measurement) -> float | None:
    return None if measurement.spread is None else measurement.spread / measurement.value


def compare_runs(store: ResultsStore, results_a, results_b, factor: float) -> list[dict]:
    records = []
    for benchmark_class in BENCHMARK_CLASSES:
        if not (has_results(results_a, benchmark_class) and has_results(results_b, benchmark_class)):
            continue
        param_names = store.param_names(benchmark_class)
        rows_a = config_rows(results_a, benchmark_class, param_names)
        rows_b = config_rows(results_b, benchmark_class, param_names)
        for row_a, row_b in paired_rows(rows_a, rows_b):
            for method in METHODS:
                a, b = row_a.times[method], row_b.times[method]
                if not (a.ok and b.ok):
                    continue
                records.append({
                    "benchmark": f"{benchmark_class}.{method}",
                    "params": row_a.label,
                    "a_us": a.value * 1e6,
                    "b_us": b.value * 1e6,
                    "difference": b.value / a.value - 1.0,
                    "spread_a": relative_spread(a),
                    "spread_b": relative_spread(b),
                    "asv_compare": asv_flag(a, b, factor).strip(),
                    "detectable_slowdown": detectable_slowdown(a, b) - 1.0,
                })
    return records


def summarize(records: list[dict], factor: float) -> dict:
    magnitudes = np.abs([record["difference"] for record in records])
    detectable = np.array([record["detectable_slowdown"] for record in records])
    flagged = [f"{r['benchmark']}({r['params']}) {r['asv_compare']}" for r in records if r["asv_compare"]]
    return {
        "results": len(records),
        "median_abs_difference": float(np.median(magnitudes)),
        "p95_abs_difference": float(np.percentile(magnitudes, 95)),
        "max_abs_difference": float(magnitudes.max()),
        "asv_compare_factor": factor,
        "asv_compare_flagged": flagged,
        "median_detectable_slowdown": float(np.median(detectable)),
        "max_detectable_slowdown": float(detectable.max()),
    }


def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def render_text(records: list[dict], summary: dict, label_a: str, label_b: str, output_format: str) -> str:
    rows = [
        {
            "benchmark": r["benchmark"], "params": r["params"],
            f"A {label_a} (us)": f"{r['a_us']:.4g}", f"B {label_b} (us)": f"{r['b_us']:.4g}",
            "B/A-1": percent(r["difference"]), "spread A": percent(r["spread_a"]),
            "spread B": percent(r["spread_b"]), "asv compare": r["asv_compare"],
            "detectable slowdown": percent(r["detectable_slowdown"]),
        }
        for r in records
    ]
    lines = [tabulate(rows, headers="keys", tablefmt=output_format), ""]
    lines.append(
        f"{summary['results']} results; |B/A-1|: median {percent(summary['median_abs_difference'])}, "
        f"p95 {percent(summary['p95_abs_difference'])}, max {percent(summary['max_abs_difference'])}"
    )
    lines.append(
        f"detectable slowdown: median {percent(summary['median_detectable_slowdown'])}, "
        f"max {percent(summary['max_detectable_slowdown'])}"
    )
    flagged = summary["asv_compare_flagged"]
    lines.append(f"asv compare --factor {summary['asv_compare_factor']}: "
                 + (f"{len(flagged)} flagged" if flagged else "nothing flagged"))
    lines.extend(f"  {item}" for item in flagged)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="commit hash (prefix) of run A")
    parser.add_argument("b", help="commit hash (prefix) of run B")
    add_results_arguments(parser)
    parser.add_argument("--factor", type=float, default=1.05, help="asv compare's factor (default 1.05)")
    add_format_argument(parser, FORMATS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    store, machine = open_machine(args)
    run_a, run_b = store.choose_run(machine, args.a), store.choose_run(machine, args.b)
    if run_a.path == run_b.path:
        raise ToolError(f"A and B are the same run ({run_a.commit_hash[:8]})")
    records = compare_runs(store, store.load(run_a), store.load(run_b), args.factor)
    if not records:
        raise ToolError(f"runs {run_a.commit_hash[:8]} and {run_b.commit_hash[:8]} share no measured result")
    summary = summarize(records, args.factor)
    if args.format == "json":
        print(json.dumps({"machine": machine, "a": run_a.commit_hash, "b": run_b.commit_hash,
                          "summary": summary, "results": records}, indent=2))
    else:
        print(f"A/A noise on {machine}: A = {run_a.commit_hash[:8]}, B = {run_b.commit_hash[:8]}")
        print(render_text(records, summary, run_a.commit_hash[:8], run_b.commit_hash[:8], args.format))
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
