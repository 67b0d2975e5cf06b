#!/usr/bin/env python3
"""Night-to-night noise between two recorded runs of the same code (an A/A experiment).

For every wall time and parameter set: the relative difference of the two
nights, how far each night's visits spread (slowest over fastest, from the
runs' ``.night`` files), and whether `asv compare --factor` would flag it; a wall
time either night measured in part (a later visit failed) is left out, as the check
leaves it out. The summary gives the median, 95th percentile and max of |difference|. The slowdown
each config can reveal on this machine is the nightly check's per-config floor
(the "Detection floor" section of tools/check_regressions.py's report): it needs
the nights, not one pair.
"""

from __future__ import annotations

import argparse
import json
import sys

from lib.cli import (
    ToolError,
    add_format_argument,
    add_results_arguments,
    checked_factor,
    importing,
    run_tool,
    tool_parser,
)

with importing():
    import numpy as np
    from lib.results import NIGHT, ResultsStore, RunFile, open_machine
    from lib.rows import Measurement, asv_flag, config_rows, has_results, paired_rows
    from lib.suite import schema
    from lib.verdict import DEFAULT_FACTOR
    from tabulate import tabulate

FORMATS = ("pretty", "github", "json")


def visit_spread(measurement: Measurement) -> float | None:
    """Slowest visit over the fastest, less 1: how much the host's speed moved within the night."""
    return None if measurement.spread is None else measurement.spread / measurement.known


def compare_runs(store: ResultsStore, run_a: RunFile, run_b: RunFile, factor: float) -> list[dict]:
    results_a, results_b = store.load(run_a), store.load(run_b)
    in_part = (store.night_in_part(run_a), store.night_in_part(run_b))
    records = []
    for grid in schema.GRIDS:
        if not (has_results(results_a, grid) and has_results(results_b, grid)):
            continue
        param_names = store.param_names(grid)
        rows_a = config_rows(results_a, grid, param_names, NIGHT, store.night_visits(run_a))
        rows_b = config_rows(results_b, grid, param_names, NIGHT, store.night_visits(run_b))
        for row_a, row_b in paired_rows(rows_a, rows_b):
            for mask in schema.MASKS:
                a, b = row_a.walls[mask], row_b.walls[mask]
                if not (a.ok and b.ok) or any(schema.WALL in night.get(row_a.label, {}).get(mask, {})
                                              for night in in_part):
                    continue
                records.append({
                    "benchmark": grid.night_benchmark(schema.WALL_TIME.name, mask),
                    "params": row_a.label,
                    f"a_{schema.MICROSECONDS}": schema.microseconds(a.known),
                    f"b_{schema.MICROSECONDS}": schema.microseconds(b.known),
                    "difference": b.known / a.known - 1.0,
                    "visit_spread_a": visit_spread(a),
                    "visit_spread_b": visit_spread(b),
                    "asv_compare": asv_flag(a, b, factor).strip(),
                })
    return records


def summarize(records: list[dict], factor: float) -> dict:
    magnitudes = np.abs([record["difference"] for record in records])
    spreads = [r[key] for r in records for key in ("visit_spread_a", "visit_spread_b") if r[key] is not None]
    flagged = [f"{r['benchmark']}({r['params']}) {r['asv_compare']}" for r in records if r["asv_compare"]]
    return {
        "results": len(records),
        "median_abs_difference": float(np.median(magnitudes)),
        "p95_abs_difference": float(np.percentile(magnitudes, 95)),
        "max_abs_difference": float(magnitudes.max()),
        "asv_compare_factor": factor,
        "asv_compare_flagged": flagged,
        "median_visit_spread": float(np.median(spreads)) if spreads else None,
        "max_visit_spread": float(max(spreads)) if spreads else None,
    }


def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def render_text(records: list[dict], summary: dict, label_a: str, label_b: str, output_format: str) -> str:
    unit = schema.MICROSECONDS
    rows = [
        {
            "benchmark": r["benchmark"], "params": r["params"],
            f"A {label_a} ({unit})": f"{r[f'a_{unit}']:.4g}", f"B {label_b} ({unit})": f"{r[f'b_{unit}']:.4g}",
            "B/A-1": percent(r["difference"]), "visits A": percent(r["visit_spread_a"]),
            "visits B": percent(r["visit_spread_b"]), "asv compare": r["asv_compare"],
        }
        for r in records
    ]
    lines = [tabulate(rows, headers="keys", tablefmt=output_format), ""]
    lines.append(
        f"{summary['results']} results; |B/A-1|: median {percent(summary['median_abs_difference'])}, "
        f"p95 {percent(summary['p95_abs_difference'])}, max {percent(summary['max_abs_difference'])}"
    )
    if summary["median_visit_spread"] is not None:
        lines.append(f"visits within a night, slowest over fastest: median +{percent(summary['median_visit_spread'])}, "
                     f"max +{percent(summary['max_visit_spread'])}")
    flagged = summary["asv_compare_flagged"]
    lines.append(f"asv compare --factor {summary['asv_compare_factor']}: "
                 + (f"{len(flagged)} flagged" if flagged else "nothing flagged"))
    lines.extend(f"  {item}" for item in flagged)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(__doc__)
    parser.add_argument("a", help="commit hash (prefix) of run A")
    parser.add_argument("b", help="commit hash (prefix) of run B")
    add_results_arguments(parser)
    parser.add_argument("--factor", type=float, default=DEFAULT_FACTOR,
                        help=f"asv compare's factor (default {DEFAULT_FACTOR:g}, the check's)")
    add_format_argument(parser, FORMATS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    checked_factor(args.factor)
    store, machine = open_machine(args)
    run_a, run_b = store.choose_run(machine, args.a), store.choose_run(machine, args.b)
    if run_a.path == run_b.path:
        raise ToolError(f"A and B are the same run ({run_a.commit_hash[:8]})")
    records = compare_runs(store, run_a, run_b, args.factor)
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
