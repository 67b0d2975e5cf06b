"""Mutation testing of the verdict's logic with cosmic-ray: `make mutation` (docs/design.md, "Mutation testing").

Per module: a cosmic-ray session of every mutant its operators make, less those outside
the module's scope below and those inside annotations (never evaluated: every module
has ``from __future__ import annotations``), each mutant tested by the module's fast unit
tests alone. cosmic-ray mutates files in place, so it runs in a scratch copy of the
working tree: an interrupted run never leaves a mutant in the library. Sessions stay in
.asv/mutation/<module>.sqlite (``cr-report`` reads them); the score counts killed mutants
(a failing or timed-out test run) over the mutants tested.

    python tests/mutation/run.py [module ...]   # all modules where none is named
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# cosmic-ray is imported where used: the fast test of this file (tests/test_mutation_setup.py) runs without it.
REPO_ROOT = Path(__file__).resolve().parents[2]
SESSIONS = REPO_ROOT / ".asv" / "mutation"
TIMEOUT_SECONDS = 20.0  # a mutant whose tests run past this (an endless loop) counts as killed
KILL_TARGET = 90.0  # percent of tested mutants killed, per module


@dataclasses.dataclass(frozen=True)
class Scope:
    """What of one module is mutated, and the fast tests that must kill its mutants."""

    path: str
    tests: tuple[str, ...]
    # Qualified names ("NoiseModel.sigma", "judge"); None: the whole module, constants included.
    names: tuple[str, ...] | None = None


NOISE_TESTS = ("tests/test_noise_units.py",)
MODULES = {
    "noise": Scope("tools/lib/noise.py", NOISE_TESTS),
    "verdict": Scope("tools/lib/verdict.py",
                     ("tests/test_verdict_units.py", "tests/test_short_allowance_and_bursts.py")),
    # The plan, its rounds and the process order; not the workers (processes of torch: the slow
    # end-to-end tests) nor the cost model's fitted constants (tests name them, docs/design.md).
    "remeasure": Scope("tools/lib/remeasure.py",
                       ("tests/test_remeasure_units.py", "tests/test_short_allowance_and_bursts.py"),
                       ("priority", "plan_order", "visits", "signals_of", "key_cost", "fitted_plan",
                        "round_seconds", "workers_seconds", "process_order", "extra_processes", "Remeasured",
                        "needs_measuring", "remeasure_in_rounds", "stop_before", "enough_to_confirm", "keys_that_fit",
                        "sides_say", "decided_values", "disturbed_processes", "over_median", "process_level",
                        "others_over_median", "burst_hit", "looks_early", "_Round.ask", "_Round.processes_of",
                        "_Round.disturbed", "above_floor", "measured_pace",
                        "first_child_wait", "key_work",
                        "gpu_time_work", "ProcessWork.__add__", "CostModel.work_seconds",
                        "CostModel.child_start_share", "CostModel.process_seconds", "ProcessCost.work",
                        "modelled_seconds")),
    "findings": Scope("tools/lib/findings.py", ("tests/test_verdict_units.py",)),
    "nights": Scope("tools/lib/nights.py", ("tests/test_nights_units.py",)),
    # The reader's checks of what it reads; not the locating of files and runs.
    "results": Scope("tools/lib/results.py", ("tests/test_results_checks.py", "tests/test_nights_units.py"),
                     ("RunFile.load", "must_be_positive", "impossible", "damaged", "ResultsStore.benchmarks",
                      "ResultsStore.load", "ResultsStore.run_seconds", "ResultsStore.night_visits",
                      "ResultsStore.night_clocks", "_positive", "ResultsStore.night_in_part",
                      "ResultsStore._night_file", "ResultsStore.param_names", "ResultsStore.night_torch",
                      "ResultsStore._not_its_night", "ResultsStore.others_nights", "night_walls",
                      "ResultsStore.runs", "ResultsStore._of_source", "_holds", "_readable", "ResultsStore._ordered",
                      "ResultsStore.set_aside",
                      "ResultsStore.choose_run", "previous_suspects", "whole_suspect", "dispatch_names",
                      "nested_counts", "method_of", "lower_is_better", "machine_steps")),
    # What the tools count as measured in a run, and the rows they compare; not the benchmarks' names.
    "rows": Scope("tools/lib/rows.py", ("tests/test_rows_units.py", "tests/test_results_checks.py"),
                  ("Measurement", "ConfigRow", "_measurements", "_measurement", "config_rows", "suite_params",
                   "paired_rows", "has_results", "choose_grid", "problem_rows", "asv_flag")),
    # install's tuning of the injected GPU steps, its constants included.
    "injected_steps": Scope("tools/lib/injected_steps.py", ("tests/test_injected_steps.py",)),
}


# ---------------------------------------------------------------- which mutants count


Span = tuple[int, int, int, int]  # start line, start column, end line, end column (ast's and parso's)
WHOLE: Span = (1, 0, sys.maxsize, 0)


def span(node: ast.AST) -> Span:
    return (node.lineno, node.col_offset, node.end_lineno or node.lineno, node.end_col_offset or 0)


def within(position: tuple[int, int], spans: list[Span]) -> bool:
    """Whether a (line, column) position lies inside any of the spans."""
    return any((s[0], s[1]) <= position < (s[2], s[3]) for s in spans)


def definitions(tree: ast.Module) -> dict[str, Span]:
    """Every function and class of a module and of its classes, by qualified name."""
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = span(node)
        if isinstance(node, ast.ClassDef):
            for inner in node.body:
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found[f"{node.name}.{inner.name}"] = span(inner)
    return found


def annotations(tree: ast.Module) -> list[Span]:
    """Every annotation: of arguments, of returns, of annotated names."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation:
            found.append(span(node.annotation))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            found.append(span(node.returns))
        elif isinstance(node, ast.AnnAssign):
            found.append(span(node.annotation))
    return found


def out_of_scope(source: str, scope: Scope) -> tuple[list[Span], list[Span]]:
    """(the spans mutated, or None for all; the annotation spans never mutated)."""
    tree = ast.parse(source)
    spans = definitions(tree)
    unknown = set(scope.names or ()) - set(spans)
    if unknown:
        raise SystemExit(f"{scope.path} defines no {', '.join(sorted(unknown))}: update tests/mutation/run.py")
    included = [spans[name] for name in scope.names] if scope.names is not None else [WHOLE]
    return included, annotations(tree)


def skip_outside(session: Path, source: str, scope: Scope) -> dict[str, int]:
    """Mark the session's mutants outside the scope, or in an annotation, as skipped; their counts."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    included, annotation_spans = out_of_scope(source, scope)
    skipped = {"outside the scope": [], "in an annotation": []}
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            (mutation,) = item.mutations
            start = tuple(mutation.start_pos)
            if within(start, annotation_spans):
                skipped["in an annotation"].append(item.job_id)
            elif not within(start, included):
                skipped["outside the scope"].append(item.job_id)
        for why, job_ids in skipped.items():
            if job_ids:
                db.set_multiple_results(job_ids, WorkResult(output=why, worker_outcome=WorkerOutcome.SKIPPED))
    return {why: len(job_ids) for why, job_ids in skipped.items()}


# ---------------------------------------------------------------- a run and its score


def scratch_copy(destination: Path) -> None:
    """The working tree's files (tracked, and untracked ones git does not ignore) and the venv link."""
    listed = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], check=True, capture_output=True, text=True).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file() and not source.is_symlink():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def config(scope: Scope) -> str:
    from cosmic_ray.config import serialize_config

    tests = " ".join(scope.tests)
    return serialize_config({
        "module-path": scope.path, "timeout": TIMEOUT_SECONDS, "excluded-modules": [],
        "test-command": f"{sys.executable} -B -m pytest -x -q -p no:cacheprovider {tests}",
        "distributor": {"name": "local"},
    })


# Each mutant's tests start a fresh pytest: without the plugins installed beside it (hypothesis's, say),
# which these tests do not use, it starts in half the time.
TEST_ENVIRONMENT = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def cosmic_ray(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "cosmic_ray.cli", *args], cwd=cwd, check=True, env=TEST_ENVIRONMENT)


@dataclasses.dataclass
class Score:
    module: str
    killed: int
    tested: int
    skipped: dict[str, int]
    survivors: list[str]
    seconds: float

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.tested if self.tested else 100.0


def survivor_line(item, source_lines: list[str]) -> str:
    (mutation,) = item.mutations
    line = mutation.start_pos[0]
    return f"{mutation.module_path}:{line}: {mutation.operator_name} #{mutation.occurrence}: " \
           f"{source_lines[line - 1].strip()}"


def score_of(module: str, session: Path, source: str, seconds: float) -> Score:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    killed = tested = 0
    survivors = []
    skipped: dict[str, int] = {}
    lines = source.splitlines()
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                skipped[result.output] = skipped.get(result.output, 0) + 1
            elif result.worker_outcome != WorkerOutcome.NORMAL:
                continue  # no mutation possible
            elif result.test_outcome == TestOutcome.SURVIVED:
                tested += 1
                survivors.append(survivor_line(item, lines))
            else:
                tested += 1
                killed += 1
    return Score(module, killed, tested, skipped, sorted(survivors, key=survivor_sort), seconds)


def survivor_sort(line: str) -> tuple[int, str]:
    return int(line.split(":")[1]), line


def run_module(module: str, scope: Scope, scratch: Path, sessions: Path) -> Score:
    started = time.monotonic()
    (scratch / f"mutation-{module}.toml").write_text(config(scope))
    session = sessions / f"{module}.sqlite"
    baseline = subprocess.run([sys.executable, "-B", "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               *scope.tests], cwd=scratch, capture_output=True, text=True, env=TEST_ENVIRONMENT)
    if baseline.returncode != 0:
        raise SystemExit(f"{module}: the unit tests fail without a mutant:\n{baseline.stdout[-3000:]}")
    cosmic_ray("init", f"mutation-{module}.toml", str(session), "--force", cwd=scratch)
    source = (scratch / scope.path).read_text()
    skip_outside(session, source, scope)
    cosmic_ray("exec", f"mutation-{module}.toml", str(session), cwd=scratch)
    return score_of(module, session, source, time.monotonic() - started)


def report(scores: list[Score]) -> bool:
    """Print each module's score and survivors and the total; whether every module reaches the target."""
    for score in scores:
        excluded = ", ".join(f"{count} {why}" for why, count in score.skipped.items() if count)
        print(f"\n{score.module}: {score.killed}/{score.tested} killed ({score.percent:.1f}%) in "
              f"{score.seconds:.0f} s; not mutated: {excluded or 'none'}")
        for line in score.survivors:
            print(f"  survived: {line}")
    killed, tested = sum(s.killed for s in scores), sum(s.tested for s in scores)
    print(f"\ntotal: {killed}/{tested} killed ({100.0 * killed / max(tested, 1):.1f}%)")
    return all(score.percent >= KILL_TARGET for score in scores)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help=f"of {', '.join(MODULES)} (default: all)")
    parser.add_argument("--sessions", type=Path, default=SESSIONS, help="where the sessions go (%(default)s)")
    parser.add_argument("--report", action="store_true", help="only print the scores of the sessions there")
    parser.add_argument("--tests", nargs="+", help="these tests (pytest's node ids) for every module instead")
    args = parser.parse_args(argv)
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"no module {', '.join(sorted(unknown))}; the modules: {', '.join(MODULES)}")
    if args.report:
        return 0 if report([score_of(module, args.sessions / f"{module}.sqlite",
                                     (REPO_ROOT / MODULES[module].path).read_text(), 0.0)
                            for module in args.modules or list(MODULES)
                            if (args.sessions / f"{module}.sqlite").is_file()]) else 1
    args.sessions.mkdir(parents=True, exist_ok=True)
    scores = []
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        scratch_copy(Path(scratch))
        for module in args.modules or list(MODULES):
            scope = MODULES[module]
            if args.tests:
                scope = dataclasses.replace(scope, tests=tuple(args.tests))
            scores.append(run_module(module, scope, Path(scratch), args.sessions.resolve()))
    return 0 if report(scores) else 1


if __name__ == "__main__":
    sys.exit(main())
