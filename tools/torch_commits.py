#!/usr/bin/env python3
"""Benchmark a range of torch commits, or bisect it, from a folder of torch wheels: nothing compiled.

  run RANGE          the night of each commit of RANGE of a PyTorch clone (A..B as
                     asv takes it: the first-parent commits after A up to B), one
                     asv run a commit, recorded as record_run.py records a night
                     (its figures once, its side files beside it). asv's virtualenv
                     gets each commit's wheels from tools/torch_wheel_for_commit.py;
                     a commit without wheels is skipped. Ends with what was recorded.
  find RANGE BENCH   asv find: bisects RANGE for the commit that made BENCH (one
                     benchmark, e.g. attention_bias.AttentionBias.time_causal_bias)
                     slower the most; then asv continuous of that commit against
                     its parent confirms it: exits 1 where it is slower beyond
                     --factor, 0 where not (asv find names a commit whatever the
                     times: the range may hold no step). Every commit it visits
                     needs wheels: give it a range where each commit has a build.
  continuous BASE HEAD
                     asv continuous: asv's time_* benchmarks (or --bench) at both
                     commits, then asv compare; exits 1 where asv flags a slowdown
                     beyond --factor.
  publish            asv publish of these results against the clone's history
                     (the suite's own conf would look for torch's commits in this
                     repository).

The conf is asv.torch-commits.conf.json with this clone, this results folder and
this Python's version. The results are asv's like any other: speedup_summary.py,
check_regressions.py and asv publish read them.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path

from lib.cli import (
    ToolError,
    add_asv_arguments,
    checked_factor,
    importing,
    machine_name,
    one_line,
    run_tool,
    tool_parser,
)

with importing():
    from lib.conf import (
        ASV_SOME_FAILED,
        asv,
        derived_conf,
        describe_machine,
        git_commit,
        known_machine,
        read_conf,
    )
    from lib.recording import (
        GRID_CHOICES,
        NoNight,
        NothingMeasured,
        land,
        measured,
        one_record_at_a_time,
        record_night,
        staged_conf,
        staging_folder,
    )
    from lib.results import ResultsStore
    from lib.rows import WALL_SOURCES, has_results
    from lib.suite import DEFAULT_CONF, REPO_ROOT, TORCH_COMMITS_CONF, schema
    from lib.wheels import BASE_SITE_VARIABLE, WHEEL_DIR_VARIABLE, without_wheels

# asv find's last line names the commit: "Greatest regression found: 1a2b3c4d".
FOUND = re.compile(r"Greatest (?:regression|improvement) found: (\S+)")
# asv continuous's line where a benchmark got slower beyond the factor (it exits 1 then, and where it failed).
SLOWER = "PERFORMANCE DECREASED."


def commits_in_range(repo: Path, spec: str, run: bool = False) -> list[str]:
    """The commits asv takes for RANGE, oldest first: git's first-parent history, as asv's git plugin lists it;
    ``asv run HEAD`` (``run``) takes HEAD alone."""
    if run and spec == "HEAD":
        return [resolved(repo, spec)]
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-list", "--reverse", "--first-parent", *shlex.split(spec),
                              "--"], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError, ValueError) as error:  # ValueError: shlex, an open quote
        detail = getattr(error, "stderr", "") or one_line(error)
        raise ToolError(f"not a commit range of {repo}: {spec}: {one_line(Exception(detail))}") from None
    commits = out.split()
    if not commits:
        raise ToolError(f"the range {spec} of {repo} has no commits")
    return commits


def resolved(repo: Path, name: str, missing: str | None = None) -> str:
    """The full hash of ``name`` (a hash or its prefix, a branch, a tag, ``HEAD~1``) in ``repo``, as asv takes
    it; ``missing``: the error where it names none."""
    commit = git_commit(repo, name)
    if commit is None:
        raise ToolError(missing or f"not a commit of {repo}: {name}")
    return commit


def pinned_constraints(out_dir: Path) -> Path:
    """requirements.txt's exact pins as a pip constraints file: asv's virtualenv must get the
    asv_runner the suite was written for, not the newest."""
    pins = [line.split("#")[0].strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    path = out_dir / "constraints.txt"
    path.write_text("\n".join(pin for pin in pins if "==" in pin) + "\n")
    return path


def prepare(args: argparse.Namespace) -> Path:
    """The derived conf; the environment that asv's install step and pip read."""
    if args.command != "publish" and args.wheels is None:
        raise ToolError(f"no wheel folder: pass --wheels or set {WHEEL_DIR_VARIABLE}")
    if args.wheels is not None and not Path(args.wheels).is_dir():
        raise ToolError(f"no wheel folder at {args.wheels}")
    if git_commit(args.repo, "HEAD") is None:  # asv would clone it, and print its traceback
        raise ToolError(f"--repo {args.repo}: not a git repository with a commit")
    out_dir = REPO_ROOT / ".asv" / "conf-torch-commits"
    overrides: dict[str, object] = {"pythons": [args.python]}
    if "regressions_first_commits" not in read_conf(args.config):
        # The Regressions pages leave out what the nightly's leave out: asv.conf.json says what, once.
        overrides["regressions_first_commits"] = read_conf(DEFAULT_CONF).get("regressions_first_commits", {})
    if args.env_dir:
        overrides["env_dir"] = str(args.env_dir.resolve())
    conf_path, conf = derived_conf(args.config, args.repo, args.results_dir, args.html_dir, out_dir, overrides)
    if not known_machine(args.machine):  # a description with the GPU, from record_run.py, stays
        describe_machine(args.machine, {})
    if args.wheels is not None:
        os.environ[WHEEL_DIR_VARIABLE] = str(Path(args.wheels).resolve())
    if args.base_site is not None:
        os.environ[BASE_SITE_VARIABLE] = str(args.base_site.resolve())
    os.environ["PIP_CONSTRAINT"] = " ".join(filter(None, (str(pinned_constraints(out_dir)),
                                                          os.environ.get("PIP_CONSTRAINT"))))
    args.conf, args.results, args.html = conf, Path(conf["results_dir"]), Path(conf["html_dir"])
    return conf_path


def recorded(results_dir: Path, machine: str, commits: list[str]) -> dict[str, bool]:
    """Per commit of the range: whether a run with timings is recorded for it."""
    store = ResultsStore(results_dir, None)
    runs = {run.commit_hash: run for run in store.runs(machine)} if machine in store.machines() else {}
    found = {}
    for commit in commits:
        run = runs.get(commit)
        results = store.load(run) if run else None
        found[commit] = bool(results) and any(
            has_results(results, grid, source) for grid in schema.GRIDS for source in WALL_SOURCES)
    return found


def run_range(args: argparse.Namespace, conf_path: Path) -> int:
    commits = commits_in_range(args.repo, args.range, run=True)
    missing = without_wheels(Path(args.wheels), commits)
    print(f"{len(commits) - len(missing)} of {len(commits)} commits of {args.range} have wheels in {args.wheels}")
    if len(missing) == len(commits):
        raise ToolError(f"no commit of {args.range} has wheels in {args.wheels}: nothing to run "
                        "(torch_wheel_for_commit.py --list)")
    skipped = {commit: f"no wheels in {args.wheels}" for commit in missing}
    if args.bench:  # asv's own run of what was asked, each figure forked: no night to record
        with writing_results(args):
            asv("run", args.range, "--machine", args.machine, "--show-stderr", "--bench", args.bench,
                *args.asv_args, conf=conf_path, allowed=(0, ASV_SOME_FAILED))
        found = recorded(args.results, args.machine, commits)
        skipped |= {commit: "no results (its install failed: asv's output above says)"
                    for commit, ok in found.items() if not ok and commit not in missing}
    else:
        grid = range_grid(args.grid)
        with writing_results(args):
            for commit in commits:
                if commit not in missing and (why := record_commit(args, conf_path, commit, grid)):
                    skipped[commit] = why
    print(f"\n{len(commits) - len(skipped)} of {len(commits)} commits of {args.range} recorded "
          f"on machine {args.machine!r} in {args.results}")
    for commit in (commit for commit in commits if commit in skipped):
        print(f"  skipped {commit[:12]}: {skipped[commit]}")
    if len(skipped) == len(commits):  # builds to run, and none recorded: a broken job, never a quiet 0
        raise NothingMeasured(f"the range {args.range} recorded no commit: each with wheels failed (above)")
    return 0


def writing_results(args: argparse.Namespace) -> AbstractContextManager[None]:
    """The machine's results folder held as record_run.py holds it: asv run, find and continuous each save
    results there, and a record beside them would interleave its files with theirs."""
    return one_record_at_a_time(args.results / args.machine)


def record_commit(args: argparse.Namespace, conf_path: Path, commit: str, grid: schema.Grid) -> str | None:
    """One commit's night, as record_run.py records one (lib/recording.py), landed where it measured; else why
    not. A commit asv could not install or run is skipped, and the range goes on."""
    print(f"\n{commit[:12]}: the {grid.name.upper()} grid's night", flush=True)
    with staging_folder(args.results, args.machine) as staging:
        staged_conf(conf_path, args.conf, staging, args.machine, commit)
        try:
            record_night(conf_path, staging, args.machine, commit, grid, (f"{commit}^!",), extra=args.asv_args)
        except (NoNight, ToolError) as error:  # ToolError: asv failed at this commit (its install, say)
            return f"nothing recorded: {one_line(error)}"
        if not measured(staging, args.machine, commit, grid):
            hint = "; a CPU torch on a GPU machine: --grid cpu" if grid.device == "cuda" else ""
            return f"its night measured nothing (asv's output above says why{hint}); nothing of it landed"
        land(staging, args.results, args.machine)
    return None


def range_grid(choice: str) -> schema.Grid:
    """The grid a range records: ``choice``, or for auto the GPU grid where nvidia-smi lists a GPU (each commit's
    torch is its wheels', known only inside asv's virtualenv), else the CPU grid."""
    if choice not in GRID_CHOICES:  # after the range, argparse left it unchecked
        raise ToolError(f"--grid must be {', '.join(GRID_CHOICES[:-1])} or {GRID_CHOICES[-1]}, not {choice!r}")
    if choice == "auto":
        listed = ""
        if shutil.which("nvidia-smi"):
            listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
        choice = "gpu" if listed.startswith("GPU") else "cpu"
    return schema.GRIDS_BY_NAME[choice]


# What continuous compares by default: asv's own time benchmarks of both grids.
TIMED = rf"^{schema.BENCHMARK_MODULE}\.({'|'.join(grid.timed_class for grid in schema.GRIDS)})\.{schema.TIMED_PREFIX}"


def continuous(args: argparse.Namespace, conf_path: Path) -> int:
    base, head = resolved(args.repo, args.base), resolved(args.repo, args.head)
    missing = without_wheels(Path(args.wheels), [base, head])
    if missing:
        raise ToolError(f"no wheels for {', '.join(c[:12] for c in missing)} in {args.wheels}")
    with writing_results(args):
        code = compared(args, conf_path, base, head, args.bench or TIMED)
    print(f"\nasv continuous {base[:12]} {head[:12]}: "
          + ("a benchmark got slower (asv's table above)" if code else "nothing flagged"))
    return code


def compared(args: argparse.Namespace, conf_path: Path, base: str, head: str, bench: str) -> int:
    """asv continuous of ``head`` against ``base``: 1 where a benchmark got slower beyond --factor. asv exits 1
    too where it compared nothing (no benchmark selected, a run that failed): that is no finding."""
    lines: list[str] = []
    code = asv("continuous", base, head, "--machine", args.machine, "--bench", bench, "--factor", str(args.factor),
               "--show-stderr", *args.asv_args, conf=conf_path, allowed=(0, 1, ASV_SOME_FAILED), lines=lines)
    if code == ASV_SOME_FAILED:  # a benchmark failed at a commit: a broken build or run, not the user's
        raise ComparisonFailed(f"asv continuous {base[:12]} {head[:12]}: a benchmark failed (asv's output above)")
    if code and not any(line.strip() == SLOWER for line in lines):
        raise ToolError(f"asv continuous {base[:12]} {head[:12]} compared nothing (its output above says why)")
    return code


class ComparisonFailed(Exception):
    """A benchmark of a comparison failed at one of its commits: exit 3, never a slowdown nor a user error."""


def find(args: argparse.Namespace, conf_path: Path) -> int:
    commits = commits_in_range(args.repo, args.range)
    if len(commits) < 2:
        raise ToolError(f"the range {args.range} holds one commit: asv find bisects two or more "
                        "(compare one commit with its parent: continuous)")
    # asv find stops at a commit it cannot install, after minutes of runs: say so before.
    missing = without_wheels(Path(args.wheels), commits)
    if missing:
        raise ToolError(f"{len(missing)} commit(s) of {args.range} have no wheels, and asv find stops at "
                        f"such a commit: {', '.join(c[:12] for c in missing[:5])}; "
                        "bisect a range of builds (torch_wheel_for_commit.py --list)")
    with writing_results(args):
        return bisected_and_confirmed(args, conf_path)


def bisected_and_confirmed(args: argparse.Namespace, conf_path: Path) -> int:
    """asv find over the range, then asv continuous of the commit it names against its parent."""
    lines: list[str] = []
    asv("find", args.range, args.benchmark, "--machine", args.machine, "--show-stderr", *args.asv_args,
        conf=conf_path, lines=lines)
    names = [match.group(1) for line in lines if (match := FOUND.search(line))]
    if not names:
        raise ToolError("asv find named no commit (its output above says why)")
    named, parent = names[-1], parent_of(args.repo, names[-1])
    print(f"\nasv find's greatest regression of {args.range} for {args.benchmark}: {named}; against its parent "
          f"{parent[:8]} (asv find names a commit whatever the times):", flush=True)
    if without_wheels(Path(args.wheels), [parent]):  # the range's base, or a merge's first parent
        raise ToolError(f"{named} is not confirmed: its parent {parent[:12]} has no wheels; bisect a range whose "
                        "base has them")
    code = compared(args, conf_path, parent, named, rf"^{re.escape(args.benchmark)}(\(|$)")  # its every set
    print(f"\n{named[:8]} against its parent {parent[:8]} for {args.benchmark}: "
          + (f"slower beyond {args.factor:g}x: the first slow commit of {args.range}" if code
             else f"not slower by {args.factor:g}x: the range may hold no step"))
    return code


def parent_of(repo: Path, commit: str) -> str:
    """The full hash of ``commit``'s first parent in ``repo``."""
    return resolved(repo, f"{commit}^", f"no parent of {commit} in {repo}")


def publish(args: argparse.Namespace, conf_path: Path) -> int:
    asv("publish", conf=conf_path)
    print(f"\npages of {args.results} in {args.html}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(__doc__)
    parser.add_argument("--repo", type=Path, required=True, help="a PyTorch clone (a light one: README)")
    parser.add_argument("--wheels", default=os.environ.get(WHEEL_DIR_VARIABLE) or None,
                        help=f"folder of torch wheels (default: ${WHEEL_DIR_VARIABLE})")
    parser.add_argument("--machine", required=True, type=machine_name, help="asv machine name")
    parser.add_argument("--config", type=Path, default=TORCH_COMMITS_CONF, help="the conf to start from")
    parser.add_argument("--results-dir", type=Path, help="asv results directory (default: the conf's)")
    parser.add_argument("--html-dir", type=Path, help="asv html directory (default: the conf's)")
    parser.add_argument("--env-dir", type=Path, help="where asv keeps its virtualenv (default: the conf's)")
    parser.add_argument("--base-site", type=Path,
                        help="a site-packages with torch (a GPU runner's own): each commit's wheels go on top "
                             "of it; an empty wheel list in torch-wheels.json is that torch alone")
    parser.add_argument("--python", default=f"{sys.version_info.major}.{sys.version_info.minor}",
                        help="Python version of asv's virtualenv (default: this one's); the wheels' tag")
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run", help="record every commit of a range that has wheels")
    runner.add_argument("range", help="A..B")
    runner.add_argument("--grid", choices=GRID_CHOICES, default="auto",
                        help="the grid whose night is recorded (default auto: gpu where nvidia-smi lists a GPU)")
    runner.add_argument("--bench", help="asv --bench regex instead of the night: asv's own run of it, over the "
                                        "range at once, each figure forked")
    comparer = commands.add_parser("continuous", help="asv continuous between two commits with wheels")
    comparer.add_argument("base", help="the commit to compare against")
    comparer.add_argument("head", help="the commit to judge")
    comparer.add_argument("--bench", help="asv --bench regex (default: asv's time_* benchmarks of both grids)")
    finder = commands.add_parser("find", help="bisect a range for the commit that made a benchmark slower, and "
                                              "compare it with its parent")
    finder.add_argument("range", help="A..B")
    finder.add_argument("benchmark",
                        help="one benchmark, e.g. attention_bias.AttentionBias.time_causal_bias")
    for sub in (comparer, finder):
        sub.add_argument("--factor", type=float, default=1.1, help="asv's factor (default 1.1, asv's own)")
    commands.add_parser("publish", help="asv publish of the results against the clone's history")
    for sub in (runner, finder, comparer):
        add_asv_arguments(sub, "after --: more arguments for asv")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)  # after the first "--": asv's, every word
    args = build_parser().parse_args(argv[:split])
    ours = list(getattr(args, "asv_args", []))
    # Our options after the positional ones land in argparse's remainder: they are ours.
    for flag, dest in (("--bench", "bench"), ("-b", "bench"), ("--factor", "factor"), ("--grid", "grid")):
        if not hasattr(args, dest):
            continue
        for at, word in enumerate(ours):
            if word.startswith(f"{flag}="):
                setattr(args, dest, word.split("=", 1)[1])
                del ours[at]
                break
            if word == flag and at + 1 < len(ours):
                setattr(args, dest, ours[at + 1])
                del ours[at:at + 2]
                break
    args.asv_args = ours + argv[split + 1:]
    if hasattr(args, "factor"):
        try:
            args.factor = checked_factor(float(args.factor))
        except ValueError:
            raise ToolError(f"--factor must be a number, not {args.factor!r}") from None
    conf_path = prepare(args)
    commands = {"run": run_range, "find": find, "continuous": continuous, "publish": publish}
    try:
        return commands[args.command](args, conf_path)
    finally:
        conf_path.unlink(missing_ok=True)  # this run's own copy: nothing else reads it


if __name__ == "__main__":
    sys.exit(run_tool(main))
