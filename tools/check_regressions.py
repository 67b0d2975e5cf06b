#!/usr/bin/env python3
"""The nightly verdict: did tonight's run make either mask's path slower, beyond this machine's noise?

Per config, mask and signal, tonight's value against the recent nights of the same
machine. Signals, most precise first: the counts of one forward (operators,
kernels, syncs, Python calls, allocations; exact, so any change is a regression at
once, a suspect where the history shows the count moving by itself); ``gpu``, the
CUDA-graph GPU time (kernel changes); ``wall``, the wall time of one forward
(host-side changes, noisy on launch-bound configs).

For gpu and wall, a noise model learned from the history (and an A/A calibration
pair, --calibration) gives each config's spread. Where nothing re-measures, a
slowdown beyond --factor that the model can call on one night is a regression; one
it cannot is a candidate. With a Python to re-measure, both are candidates.
With --baseline-python and --contender-python, candidates are re-measured in the
same job, several fresh processes a side, the two torch builds alternating, as
many as fit the budget (0.6 of the night by default), strongest evidence first,
and decided over the per-process values: confirmed -> regression, refuted ->
noise, undecided -> suspect; a GPU time that each of the night's builds would
call alone waits behind the rest, and where the budget leaves it out its night
calls it (a regression). The factor is a margin: confirmed is slower for
certain (p < 1e-4) and not shown to be slower by less than the factor; refuted is
shown to be. With both builds, a GPU time slower, within two spreads under the factor, is
re-measured too where the budget and --short-budget allow, and listed only
where confirmed.
With --contender-python alone, the re-measurement
can refute a candidate but not confirm it. A suspect that persists on the next
night (--record-verdict keeps each night's suspects) is a regression; one kept
before the history had a spread is re-measured against last night's build where
both builds are, a regression where confirmed. Where the
history is too short to judge and nothing re-measures, a change beyond the
factor is a suspect that says so. (docs/noise.md)

Exit codes: 0 no regression (suspects are listed; also the first night: no night
before tonight's measured), 1 at least one regression, 2 an error in the input, 3
the tool itself failed (also a night that measured nothing of a grid the last
night measured, and a re-measurement whose worker broke where nothing was a
regression: its candidates are listed as suspects, kept by --record-verdict,
GPU times short of the factor in the JSON's short_left_out; a side refused
because its torch is not its night's is exit 0, its candidates suspects).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from lib.cli import (
    FINDING,
    SUCCESS,
    TOOL_FAILED,
    ToolError,
    add_results_arguments,
    checked_factor,
    importing,
    outside_results,
    python_path,
    run_tool,
    runnable_pythons,
    tool_parser,
    writable_folder,
    write_report,
)

with importing():
    from lib import noise, report, verdict
    from lib.findings import REGRESSION
    from lib.results import ResultsStore, RunFile, open_machine, published_steps, verdict_path
    from lib.suite import schema

DEFAULTS = {"factor": verdict.DEFAULT_FACTOR, "history": verdict.DEFAULT_HISTORY, "window": 5, "processes": 10}


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(__doc__)
    add_results_arguments(parser)
    parser.add_argument("--baseline", help="commit (hash prefix, or a git name of the conf's repository) of the "
                        "last night to compare with (default: the run "
                        "before the contender); it and the nights before it form the history")
    parser.add_argument("--contender", help="commit (hash prefix, or a git name of the conf's repository) of "
                        "tonight's run (default: the most recent run)")
    parser.add_argument("--factor", type=float, default=DEFAULTS["factor"],
                        help=f"smallest slowdown that counts (default {DEFAULTS['factor']})")
    parser.add_argument("--history", type=int, default=DEFAULTS["history"],
                        help=f"nights that teach the noise model, the last that measured (default "
                             f"{DEFAULTS['history']})")
    parser.add_argument("--window", type=int, default=DEFAULTS["window"],
                        help=f"recent nights whose median is the reference level (default {DEFAULTS['window']})")
    parser.add_argument("--calibration", nargs=2, metavar=("A", "B"),
                        help="commits of an A/A calibration pair on this machine, added to the noise model")
    parser.add_argument("--baseline-python", type=python_path,
                        help="a Python with the baseline's torch, for the re-measurement")
    parser.add_argument("--contender-python", type=python_path,
                        help="a Python with the contender's torch, for the re-measurement")
    parser.add_argument("--processes", type=int, default=DEFAULTS["processes"],
                        help=f"fresh processes a side in the re-measurement (default {DEFAULTS['processes']}; "
                             f"at least {noise.PROCESSES_TO_CONFIRM}: fewer can never confirm a slowdown "
                             f"at p < {noise.ALPHA_CONFIRM:g})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the re-measurement's order")
    parser.add_argument("--budget", type=float,
                        help=f"seconds the re-measurement may take (default: {100 * verdict.BUDGET_SHARE:.0f}%% of "
                             f"what tonight's benchmarks took, at least {verdict.MIN_BUDGET:g} s; "
                             f"{verdict.DEFAULT_BUDGET:g} s where asv recorded no durations)")
    parser.add_argument("--short-budget", type=float,
                        help=f"seconds more that only GPU times short of the factor may take, in the same processes "
                             f"(default: {100 * verdict.SHORT_BUDGET_SHARE:.0f}%% of what tonight's benchmarks took, "
                             "as the budget; 0: none)")
    parser.add_argument("--record-verdict", action="store_true",
                        help="keep tonight's suspects beside its results, for tomorrow's persistence rule")
    parser.add_argument("--html-dir", type=Path,
                        help="asv publish's output: lists the steps its detection found over the history")
    parser.add_argument("--report", type=Path, help="also write the markdown report to this file")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    return parser


def validated(args: argparse.Namespace) -> None:
    """Every number and combination checked before any night is read."""
    checked_factor(args.factor)
    for name, least, most in (("history", 1, 10_000), ("window", 1, 10_000),
                              ("processes", noise.PROCESSES_TO_CONFIRM, 1_000)):
        if not least <= getattr(args, name) <= most:
            raise ToolError(f"--{name} must be from {least} to {most}, not {getattr(args, name)}")
    if args.baseline_python and not args.contender_python:
        raise ToolError("--baseline-python needs --contender-python")
    runnable_pythons({"--baseline-python": args.baseline_python, "--contender-python": args.contender_python})
    if args.budget is not None and not (math.isfinite(args.budget) and 0 < args.budget <= 86_400):
        raise ToolError(f"--budget must be a number of seconds above 0 and at most a day, not {args.budget}")
    if args.short_budget is not None and not (math.isfinite(args.short_budget) and 0 <= args.short_budget <= 86_400):
        raise ToolError(f"--short-budget must be a number of seconds from 0 to a day, not {args.short_budget}")
    if args.report:
        writable_folder(args.report)


def first_night(args: argparse.Namespace, machine: str, contender: str, set_aside: list[str] | None = None) -> int:
    """No night before tonight's measured: nothing to compare, said in the format asked for, and in the report
    (never last week's beside tonight's exit 0), with the nights set aside."""
    set_aside = set_aside or []
    print(report.first_night_json(machine, contender, set_aside) if args.format == "json"
          else report.first_night(machine, contender), flush=True)
    if args.report:
        write_report(args.report, report.first_night_markdown(machine, contender, set_aside))
    return SUCCESS


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    validated(args)
    store, machine = open_machine(args)
    if args.report:
        outside_results(args.report, store.dir)
    contender = store.choose_run(machine, args.contender)
    if args.record_verdict:  # a read-only results folder is said before the re-measurement's minutes
        writable_folder(verdict_path(store, machine, contender.commit_hash))
    history = verdict.earlier_nights(store, machine, contender, args.baseline, None)
    if not history:
        return first_night(args, machine, contender.commit_hash)
    pythons = {side: python for side, python in ((schema.CONTENDER, args.contender_python),
                                                 (schema.BASELINE, args.baseline_python)) if python}
    settings = verdict.Settings(args.factor, args.window, pythons or None, args.processes, args.seed,
                                args.budget or verdict.default_budget(store, contender),
                                verdict.default_short_budget(store, contender) if args.short_budget is None
                                else args.short_budget, args.history)
    calibration = calibration_pair(store, machine, args.calibration, contender) if args.calibration else None
    steps = published_steps(args.html_dir, machine) if args.html_dir else None  # pages that fail: before any work
    try:
        found = verdict.check(store, machine, history, contender, calibration, settings)
    except verdict.NoBaseline as none:  # every night before tonight's failed or does not read
        return first_night(args, machine, contender.commit_hash, none.set_aside)
    found.steps = steps
    markdown = report.markdown(found)
    # The findings first, then the files: a disk that cannot take the report or the suspects loses no finding.
    print(report.as_json(found) if args.format == "json" else markdown, end="\n" if args.format == "json" else "",
          flush=True)
    if args.report:
        write_report(args.report, markdown)
    if args.record_verdict:
        verdict.keep_suspects(store, found)
    code = exit_code(found)
    if code == TOOL_FAILED:
        failed = (found.remeasurement or {})["error"]
        print(f"failed: the re-measurement: {failed}; its candidates are listed as suspects, GPU times short "
              "of the factor in short_left_out (a broken check, not a finding)", file=sys.stderr)
    return code


def calibration_pair(store: ResultsStore, machine: str, commits: list[str],
                     contender: RunFile) -> tuple[RunFile, RunFile]:
    """The A/A pair's two nights: two commits, neither tonight's (tonight's change would be read as noise)."""
    pair = (store.choose_run(machine, commits[0]), store.choose_run(machine, commits[1]))
    if pair[0].commit_hash == pair[1].commit_hash:
        raise ToolError(f"--calibration names one commit twice ({pair[0].commit_hash[:8]}): an A/A pair is two "
                        "nights")
    if contender.commit_hash in (pair[0].commit_hash, pair[1].commit_hash):
        raise ToolError(f"--calibration includes the contender {contender.commit_hash[:8]}: its change would be "
                        "taken for noise")
    return pair


def exit_code(found: verdict.Verdict) -> int:
    """1 a regression; else 3 where a worker broke and left candidates undecided (suspects, kept for tomorrow;
    GPU times short of the factor, named in short_left_out: a job green tonight would hide that it broke, on
    every night whose candidates are all short); else 0, a side refused for its torch (an expected state after a
    failed night, docs/noise.md) among them."""
    if found.level(REGRESSION):
        return FINDING
    confirmation = found.remeasurement or {}
    left_undecided = confirmation.get("unmeasured") or any(
        why == verdict.SHORT_FAILED for *_, why in confirmation.get("short_left_out", []))
    if confirmation.get("error") and left_undecided and not confirmation.get("refused"):
        return TOOL_FAILED
    return SUCCESS


if __name__ == "__main__":
    sys.exit(run_tool(main))
