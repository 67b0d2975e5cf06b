#!/usr/bin/env python3
"""Did the contender run get slower than the baseline run? The nightly verdict.

A benchmark and parameter set regresses when the contender is slower by more
than --factor and asv's own significance test agrees (what `asv compare`
marks '+': Mann-Whitney U on the recorded samples, else non-overlapping 99%
confidence intervals). A drop of the CausalBias speedup (materialized time /
CausalBias time) beyond the factor is a finding of its own, when at least one
of the two times moved significantly in the direction that lowers it.

Where the Profile class ran, each finding carries the same comparison in GPU
time (CUDA-graph replay): a wall time that moved while the GPU time did not
points at the CPU side. A change of the SDPA backend between the two runs is
listed on its own.

With --html-dir, the step detection of `asv publish` (regressions.json) over the
whole history is added: slow drifts that no single night shows.

Exit codes: 0 no regression (also on the first night, with no baseline yet),
1 at least one regression, 2 an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path

from asv_results import (
    BENCHMARK_CLASSES,
    MASKS,
    METHODS,
    ConfigRow,
    ResultsStore,
    RunFile,
    ToolError,
    add_results_arguments,
    asv_flag,
    config_rows,
    has_results,
    one_line,
    open_machine,
    paired_rows,
    problem_rows,
    run_tool,
    significantly_different,
)
from speedup_summary import summary_records
from tabulate import tabulate

# From the H100 A/A runs (NOTES.md): configs of 1 ms and more differ by up to
# 9.5% between two runs of the same code, so 1.10 is the smallest factor the
# issue allows that stays above that; launch-bound configs are noisier still.
DEFAULT_FACTOR = 1.10


@dataclasses.dataclass(frozen=True)
class Finding:
    kind: str  # "time" or "speedup"
    benchmark: str
    params: str
    baseline: float
    contender: float
    significant: str
    gpu_ratio: float | None = None  # the same comparison in GPU time, where recorded

    @property
    def ratio(self) -> float:
        return self.contender / self.baseline


def compare_rows(benchmark_class: str, base_rows: list[ConfigRow], new_rows: list[ConfigRow],
                 factor: float) -> tuple[list[Finding], list[Finding]]:
    """(regressions, improvements) of one benchmark class, times and speedups."""
    regressions, improvements = [], []
    for base, new in paired_rows(base_rows, new_rows):
        slower = False
        for method in METHODS:
            a, b = base.times[method], new.times[method]
            flag = asv_flag(a, b, factor)
            if flag == " ":
                continue
            finding = Finding("time", f"{benchmark_class}.{method}", base.label, a.value, b.value,
                              significance(a, b), gpu_ratio(base, new, method.removeprefix("time_")))
            (regressions if flag == "+" else improvements).append(finding)
            slower = slower or flag == "+"
        # A slower time already explains a lower speedup: report the drop only on its own.
        speedup_finding = None if slower else speedup_drop(benchmark_class, base, new, factor)
        if speedup_finding:
            regressions.append(speedup_finding)
    return regressions, improvements


def gpu_ratio(base: ConfigRow, new: ConfigRow, mask: str) -> float | None:
    before, after = base.figure("gpu_time", mask), new.figure("gpu_time", mask)
    return after / before if before and after else None


def backend_changes(benchmark_class: str, base_rows: list[ConfigRow], new_rows: list[ConfigRow],
                    names: dict[int, str]) -> list[dict]:
    """Configs and masks whose SDPA backend differs between the two runs."""
    changes = []
    for base, new in paired_rows(base_rows, new_rows):
        for mask in MASKS:
            before, after = base.figure("sdpa_backend", mask), new.figure("sdpa_backend", mask)
            if before is not None and after is not None and before != after:
                changes.append({"benchmark": benchmark_class, "config": base.label, "mask": mask,
                                "baseline": names.get(int(before), str(before)),
                                "contender": names.get(int(after), str(after))})
    return changes


def significance(a, b) -> str:
    """Which of asv's tests the data allowed (asv falls back to CIs on few samples)."""
    return "asv: samples (Mann-Whitney U)" if a.samples and b.samples else "asv: 99% CIs"


def speedup_drop(benchmark_class: str, base: ConfigRow, new: ConfigRow, factor: float) -> Finding | None:
    """The speedup fell by more than the factor, and a significant time change explains it."""
    if base.speedup is None or new.speedup is None or base.speedup / new.speedup <= factor:
        return None
    materialized = (base.times["time_materialized"], new.times["time_materialized"])
    causal = (base.times["time_causal_bias"], new.times["time_causal_bias"])
    materialized_faster = materialized[1].value < materialized[0].value and significantly_different(*materialized)
    causal_slower = causal[1].value > causal[0].value and significantly_different(*causal)
    if not (materialized_faster or causal_slower):
        return None
    why = " and ".join(part for part, moved in (("materialized faster", materialized_faster),
                                                ("CausalBias slower", causal_slower)) if moved)
    gpu = new.gpu_speedup / base.gpu_speedup if base.gpu_speedup and new.gpu_speedup else None
    return Finding("speedup", f"{benchmark_class}.speedup", base.label, base.speedup, new.speedup, why, gpu)


# ---------------------------------------------------------------- asv publish's step detection


LOWER_IS_BETTER = re.compile(r"\.(time_|track_gpu_time_|track_peak_memory_)")


def drifts(html_dir: Path, machine: str) -> list[dict]:
    """Steps that `asv publish` detected over the history of this machine (regressions.json)."""
    path = html_dir / "regressions.json"
    if not path.is_file():
        raise ToolError(f"no {path}: run `asv publish` first, or leave out --html-dir")
    try:
        entries = json.loads(path.read_text())["regressions"]
        index = json.loads((html_dir / "index.json").read_text())
    except (OSError, ValueError, KeyError) as error:
        raise ToolError(f"cannot read asv's pages in {html_dir}: {one_line(error)}") from None
    to_hash = {int(k): v for k, v in index.get("revision_to_hash", {}).items()}
    found = []
    for name, graph_path, _params, _index, last_value, best_value, jumps in entries:
        if not LOWER_IS_BETTER.search(name):
            continue  # asv reads every series as lower-is-better; TFLOP/s and backend codes are not
        if f"machine-{machine}/" not in graph_path and len(index.get("params", {}).get("machine", [])) > 1:
            continue
        for before_revision, after_revision, before, after in jumps:
            found.append({
                "benchmark": name, "after_commit": to_hash.get(after_revision, str(after_revision))[:8],
                "before_commit": "" if before_revision is None else to_hash.get(before_revision, "")[:8],
                "before": before, "after": after, "ratio": after / before,
                "now_vs_best": last_value / best_value,
            })
    return found


# ---------------------------------------------------------------- report


def microseconds(seconds: float) -> str:
    return f"{seconds * 1e6:.4g} us"


def in_unit(benchmark: str, value: float) -> str:
    return f"{value / 2**20:.4g} MiB" if "peak_memory" in benchmark else microseconds(value)


def findings_table(findings: list[Finding]) -> str:
    rows = [{
        "benchmark": f.benchmark, "config": f.params,
        "baseline": microseconds(f.baseline) if f.kind == "time" else f"{f.baseline:.3f}x",
        "contender": microseconds(f.contender) if f.kind == "time" else f"{f.contender:.3f}x",
        "ratio": f"{f.ratio:.3f}", "significance": f.significant,
        "GPU-time ratio": "" if f.gpu_ratio is None else f"{f.gpu_ratio:.3f}",
    } for f in findings]
    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True) if rows else "none"


def speedup_table(summaries: dict[str, list[dict]]) -> str:
    rows = []
    for run_label, records in summaries.items():
        for record in records:
            config = ", ".join(str(record[k]) for k in ("batch_size", "num_heads", "q_seq_len",
                                                       "k_seq_len", "embed_dim") if record[k] is not None)
            rows.append({"run": run_label, "Type": record["Type"], "Speedup": f"{record['Speedup']:.3f}",
                         "config": config})
    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True) if rows else "none"


@dataclasses.dataclass
class Comparison:
    machine: str
    baseline: RunFile
    contender: RunFile
    factor: float
    regressions: list[Finding]
    improvements: list[Finding]
    summaries: dict[str, list[dict]]
    not_measured: list[str]
    drifts: list[dict] | None
    backend_changes: list[dict] = dataclasses.field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.regressions:
            return f"REGRESSION: {len(self.regressions)} finding(s)"
        return "no regression"

    def markdown(self) -> str:
        base, new = self.baseline.commit_hash[:8], self.contender.commit_hash[:8]
        parts = [
            f"# {self.verdict}",
            "",
            f"Machine `{self.machine}`, baseline `{base}` -> contender `{new}`, factor {self.factor}, "
            "significance by asv's own test. GPU-time ratio: the same comparison in CUDA-graph GPU "
            "time (no launch cost); near 1 while the wall time moved, the change is on the CPU side.",
            "",
            f"## Regressions ({len(self.regressions)})", "", findings_table(self.regressions), "",
            f"## Improvements ({len(self.improvements)})", "", findings_table(self.improvements), "",
            "## Speedup summary (materialized / CausalBias)", "", speedup_table(self.summaries), "",
            f"## SDPA backend changes ({len(self.backend_changes)})", "",
            tabulate(self.backend_changes, headers="keys", tablefmt="github") if self.backend_changes else "none",
            "",
            f"## Failed or missing in either run ({len(self.not_measured)})", "",
        ]
        parts.extend([f"- {item}" for item in self.not_measured] or ["none"])
        if self.drifts is not None:
            parts += ["", f"## Steps found by asv publish over the history ({len(self.drifts)})", ""]
            rows = [{**d, "before": in_unit(d["benchmark"], d["before"]),
                     "after": in_unit(d["benchmark"], d["after"]),
                     "ratio": f"{d['ratio']:.3f}", "now_vs_best": f"{d['now_vs_best']:.3f}"}
                    for d in self.drifts]
            parts.append(tabulate(rows, headers="keys", tablefmt="github") if rows else "none")
        return "\n".join(parts) + "\n"

    def as_json(self) -> str:
        return json.dumps({
            "verdict": self.verdict, "machine": self.machine, "factor": self.factor,
            "baseline": self.baseline.commit_hash, "contender": self.contender.commit_hash,
            "regressions": [dataclasses.asdict(f) | {"ratio": f.ratio} for f in self.regressions],
            "improvements": [dataclasses.asdict(f) | {"ratio": f.ratio} for f in self.improvements],
            "speedup_summary": self.summaries, "backend_changes": self.backend_changes,
            "not_measured": self.not_measured, "drifts": self.drifts,
        }, indent=2)


def compare(store: ResultsStore, machine: str, baseline: RunFile, contender: RunFile,
            factor: float, html_dir: Path | None) -> Comparison:
    base_results, new_results = baseline.load(), contender.load()
    regressions, improvements, not_measured, summaries, changes = [], [], [], {}, []
    for benchmark_class in BENCHMARK_CLASSES:
        in_base, in_new = has_results(base_results, benchmark_class), has_results(new_results, benchmark_class)
        if not (in_base or in_new):
            continue
        param_names = store.param_names(benchmark_class)
        base_rows = config_rows(base_results, benchmark_class, param_names)
        new_rows = config_rows(new_results, benchmark_class, param_names)
        found, better = compare_rows(benchmark_class, base_rows, new_rows, factor)
        regressions += found
        improvements += better
        changes += backend_changes(benchmark_class, base_rows, new_rows, store.backend_names(benchmark_class))
        for label, rows in (("baseline", base_rows), ("contender", new_rows)):
            not_measured += [f"{label} {benchmark_class}.{p}" for p in problem_rows(rows)
                             if not p.endswith("skipped")]
            summaries[f"{label} {benchmark_class}"] = summary_records(rows)
    return Comparison(machine, baseline, contender, factor, regressions, improvements, summaries,
                      not_measured, drifts(html_dir, machine) if html_dir else None, changes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_results_arguments(parser)
    parser.add_argument("--baseline", help="commit hash (prefix) of the baseline (default: the run before the contender)")
    parser.add_argument("--contender", help="commit hash (prefix) of the contender (default: the most recent run)")
    parser.add_argument("--factor", type=float, default=DEFAULT_FACTOR,
                        help=f"slowdown factor that counts (default {DEFAULT_FACTOR}, from the measured noise)")
    parser.add_argument("--html-dir", type=Path, help="asv publish's output: adds its step detection")
    parser.add_argument("--report", type=Path, help="also write the markdown report to this file")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.factor <= 1.0:
        raise ToolError(f"--factor must be above 1, not {args.factor}")
    store, machine = open_machine(args)
    runs = store.runs(machine)
    contender = store.choose_run(machine, args.contender, runs)
    earlier = [run for run in runs if run.order < contender.order]
    if args.baseline is None and not earlier:
        print(f"first night on {machine!r}: no baseline to compare {contender.commit_hash[:8]} with yet")
        return 0
    baseline = store.choose_run(machine, args.baseline, runs) if args.baseline else earlier[-1]
    if baseline.commit_hash == contender.commit_hash:
        raise ToolError(f"baseline and contender are the same commit {baseline.commit_hash[:8]}")
    comparison = compare(store, machine, baseline, contender, args.factor, args.html_dir)
    report = comparison.markdown()
    if args.report:
        args.report.write_text(report)
    print(comparison.as_json() if args.format == "json" else report, end="" if args.format != "json" else "\n")
    return 1 if comparison.regressions else 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
