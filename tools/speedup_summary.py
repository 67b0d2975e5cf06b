#!/usr/bin/env python3
"""Speedup of CausalBias over a materialized mask, from asv's results.

speedup = materialized time / CausalBias time (above 1: CausalBias is faster).
The default table is the reference script's: Average, Geomean, Max and Min over
the configs, with the config of Max and Min. ``--all`` prints every config (with
the GPU-time speedup and each mask's SDPA backend where the night ran);
``--figures`` every config's night figures, TFLOP/s and share of the GPU's peak
derived from the GPU time (on the CPU grid, the wall time); ``--compare BASE`` the speedup at BASE next to the
chosen run's. ``--wall`` picks the wall time: the night's (``night``, what the
nightly records) or asv's own time_* benchmarks (``asv``); by default the
night's where the run has it. The first line names the one reported. Configs
that failed or are missing are listed under the table, never dropped.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from lib.cli import ToolError, add_format_argument, add_results_arguments, importing, run_tool, tool_parser

with importing():
    import numpy as np
    from lib.results import ASV, NIGHT, SOURCE_RUNS, ResultsStore, RunFile, open_machine
    from lib.rows import WALL_SOURCES, ConfigRow, choose_grid, config_rows, has_results, problem_rows
    from lib.suite import schema
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


def per_config_records(rows: list[ConfigRow], backends: dict[int, str]) -> list[dict[str, object]]:
    """Every config: both times in microseconds, how far they spread (the night's visits, or asv's recorded
    samples: slowest less fastest), the speedup.

    Where the night class ran: the speedup in GPU time and each mask's backend too.
    """
    profiled = any(row.figures for row in rows)
    records = []
    unit = schema.MICROSECONDS
    for row in rows:
        record = {**_config(row)}
        for mask in schema.MASKS:
            record[f"{mask}_{unit}"] = schema.microseconds(row.walls[mask].value)
            record[f"{mask}_spread_{unit}"] = schema.microseconds(row.walls[mask].spread)
        record["Speedup"] = row.speedup
        if profiled:
            record["gpu_speedup"] = row.gpu_speedup
            record.update({f"backend_{mask}": backend_name(row, mask, backends) for mask in schema.MASKS})
        records.append(record)
    return records


def backend_name(row: ConfigRow, mask: str, backends: dict[int, str]) -> str | None:
    code = row.figure(schema.SDPA_BACKEND.name, mask)
    return None if code is None else backends.get(int(code), f"code {int(code)}")


def figure_records(rows: list[ConfigRow], grid: schema.Grid, backends: dict[int, str],
                   peak_tflops: float | None) -> list[dict[str, object]]:
    """Every config's night figures per mask: GPU time, peak memory, TFLOP/s, % of peak, backend, counts.

    TFLOP/s: the useful work of one forward (schema.forward_flops) over its GPU time (on the
    CPU grid, over its wall time: the CPU does the work); % of peak: of the GPU's dense bf16 peak.
    """
    records = []
    for row in rows:
        record: dict[str, object] = {**_config(row), "Speedup": row.speedup, "gpu_speedup": row.gpu_speedup}
        flops = schema.forward_flops(row.config(grid))
        for mask in schema.MASKS:
            memory = row.figure(schema.PEAK_MEMORY.name, mask)
            seconds = row.figure(schema.GPU_TIME.name, mask) if grid.device == "cuda" else row.walls[mask].value
            tflops = flops / seconds / 1e12 if seconds else None
            record.update({
                f"{mask}_gpu_{schema.MICROSECONDS}": schema.microseconds(row.figure(schema.GPU_TIME.name, mask)),
                f"{mask}_peak_MiB": None if memory is None else memory / 2**20,
                f"{mask}_TFLOPs": tflops,
                f"{mask}_pct_of_peak": 100 * tflops / peak_tflops if tflops and peak_tflops else None,
                f"{mask}_backend": backend_name(row, mask, backends),
            })
            record.update({f"{mask}_{count}": _count(row.figure(count, mask)) for count in schema.COUNT_FIGURES})
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
    parser = tool_parser(__doc__)
    add_results_arguments(parser)
    parser.add_argument("--commit", help="commit hash or prefix, or a git name of the conf's repository (HEAD^) "
                        "(default: the machine's most recent run)")
    parser.add_argument("--grid", choices=[grid.name for grid in schema.GRIDS],
                        help="grid (default: the one with results, the GPU one first)")
    parser.add_argument("--wall", choices=WALL_SOURCES,
                        help="the wall time to report: the night's, or asv's own time_* benchmarks "
                             "(default: the night's where the run has it)")
    view = parser.add_mutually_exclusive_group()
    view.add_argument("--all", action="store_true", help="one row per config instead of the summary")
    view.add_argument("--figures", action="store_true",
                      help="one row per config: GPU time, peak memory, TFLOP/s, %% of peak, backend, counts per mask")
    view.add_argument("--compare", metavar="BASE",
                        help="per config, the speedup at commit BASE next to the chosen commit's, and its change")
    add_format_argument(parser, FORMATS)
    return parser


def view_records(args: argparse.Namespace, store, machine: str, run, grid, source: str,
                 rows: list[ConfigRow]) -> list[dict[str, object]]:
    """The rows of the view asked for: the summary, --all, --figures or --compare."""
    backends = store.backend_names(grid)
    if args.figures:
        if not any(row.figures for row in rows):
            raise ToolError(f"run {run.commit_hash[:8]} has no night figures: record it with tools/record_run.py")
        return figure_records(rows, grid, backends, store.peak_tflops(machine))
    if args.compare:
        try:
            base_run = store.choose_run(machine, args.compare)
        except ToolError:  # a base of the other source only: refused below, naming it
            base_run = ResultsStore(store.dir, None).choose_run(machine, args.compare)
        base_results = store.load(base_run)
        if not has_results(base_results, grid, source):  # else every base column blank, and exit 0
            raise ToolError(f"run {base_run.commit_hash[:8]} has no wall time {WALL_DESCRIPTIONS[source]} of the "
                            f"{grid.name.upper()} grid to compare with (--wall names the other source)")
        return compare_records(config_rows(base_results, grid, store.param_names(grid), source), rows)
    return per_config_records(rows, backends) if args.all else summary_records(rows)


def show(args: argparse.Namespace, header: dict, rows: list[ConfigRow], records: list[dict[str, object]]) -> None:
    problems = list(problem_rows(rows))
    if args.format == "json":
        print(json.dumps({**header, "configs": len(rows), "rows": records, "not_measured": problems}, indent=2))
        return
    if args.format != "csv":
        complete = sum(row.complete for row in rows)
        print(f"{header['grid'].upper()} grid on {header['machine']}, commit {header['commit_hash'][:8]}: "
              f"{complete} of {len(rows)} configs measured; speedup = materialized / CausalBias, "
              f"wall time {WALL_DESCRIPTIONS[header['wall']]}")
    print(render(records, args.format) if records else "no config has both results")
    out = sys.stdout if args.format != "csv" else sys.stderr
    if problems:
        print(f"\nNot measured ({len(problems)}):", file=out)
        for problem in problems:
            print(f"  {problem}", file=out)


def chosen_run(args: argparse.Namespace) -> tuple[ResultsStore, str, RunFile]:
    """The run of --commit (else the most recent) among the files of --wall's source; without --wall, of either,
    the night's where a commit has both: a commit whose only file is a hand ``asv run``'s is read from that."""
    found: list[tuple[ResultsStore, str, RunFile]] = []
    first: ToolError | None = None
    for source in [args.wall] if args.wall else WALL_SOURCES:
        store, machine = open_machine(args, source)
        try:
            found.append((store, machine, store.choose_run(machine, args.commit)))
        except ToolError as error:
            first = first or error
    if not found:
        assert first is not None
        raise first  # the night's: what the default looks for first
    newest = max(run.order for _, _, run in found)
    commit = next(run.commit_hash for _, _, run in found if run.order == newest)
    return next(chosen for chosen in found if chosen[2].commit_hash == commit)  # in source order: the night's first


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    store, machine, run = chosen_run(args)
    results = store.load(run)
    grid, source = choose_grid(results, args.grid, args.wall)
    rows = config_rows(results, grid, store.param_names(grid), source, store.night_visits(run))
    for line in store.others_nights():  # its spreads are not shown: they would be another run's
        print(f"note: {line}", file=sys.stderr)
    records = view_records(args, store, machine, run, grid, source, rows)
    show(args, {"machine": machine, "commit_hash": run.commit_hash, "grid": grid.name, "wall": source}, rows, records)
    return 0


WALL_DESCRIPTIONS = {
    NIGHT: f"{SOURCE_RUNS[NIGHT].strip()} (the fastest of its visits, tools/record_run.py)",
    ASV: f"{SOURCE_RUNS[ASV].strip()} (median of one process's samples)",
}


if __name__ == "__main__":
    sys.exit(run_tool(main))
