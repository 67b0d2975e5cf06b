"""tools/nightly.py's own path, end to end on the CPU grid with real nights.

A copy of the suite is its own repository (the nightly records at its HEAD, into
its own results and pages): night A, B clean, C with one config made 2x slower
for real (tools/inject.py), D with that slowdown and an extra operator on
another config, E the same with a third config's operator and asv publish
broken. The contender's Python is a wrapper that logs every start; a second
wrapper dies as the re-measurement's worker starts. Expectations are what
cannot move with the machine's pace: exit codes, steps, counts, the levels the
rules give where the history is too short for a one-night call.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import KEPT_SUSPECT_WHY, REPO_ROOT, TOOLS, contender_environment, git, partial_why, run_tool
from lib.nights import read_night
from lib.noise import MAX_EXTRA_PROCESSES
from lib.remeasure import WORKERS_PER_SIDE
from lib.results import ResultsStore
from lib.rows import config_rows
from lib.suite import schema

MACHINE = "ci"
SUITE_FILES = ("tools", "benchmarks", "inject", "asv.conf.json")
CPU = schema.GRIDS_BY_NAME["cpu"]
WORKER = "-m benchmarks.measure.worker"
WORKER_START = re.compile(r"-m benchmarks\.measure\.worker --device cpu --quiet-lock /\S+\.lock")


def suite_copy(root: Path) -> Path:
    """The suite's files in a repository of their own: its nightly writes only there."""
    suite = root / "suite"
    suite.mkdir()
    for name in SUITE_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, suite / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, suite / name)
    git(suite, "init", "-q", "-b", "main")
    git(suite, "add", *SUITE_FILES)
    git(suite, "commit", "-q", "-m", "the suite")
    return suite


def python_wrapper(path: Path, python: str, log: Path, die_as_worker: bool = False) -> Path:
    """A contender Python that logs each start (with $NIGHT); ``die_as_worker``: kill -9 itself as the
    re-measurement's worker, before it answers anything."""
    death = f'case "$*" in *"{WORKER}"*) kill -9 $$ ;; esac\n' if die_as_worker else ""
    path.write_text(f'#!/bin/sh\necho "$NIGHT $*" >> "{log}"\n{death}exec "{python}" "$@"\n')
    path.chmod(0o755)
    return path


def report_rows(markdown: str, title: str) -> list[dict[str, str]]:
    """The rows of the report's table under the heading that starts with ``title``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {title}"))
    table = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip("|").split("|")])
    if not table:
        return []
    header, _, *rows = table
    return [dict(zip(header, row)) for row in rows]


def levels(markdown: str, title: str) -> set[tuple[str, str, str]]:
    return {(row["config"], row["mask"], row["signal"]) for row in report_rows(markdown, title)}


class Nights:
    """The fixture's state: the suite copy, its wrappers, and each night's outcome."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.suite = suite_copy(root)
        self.results = self.suite / "results"
        (root / "home").mkdir()
        (root / "bin").mkdir()
        # The pages' libraries come from npm: offline here, localize_pages.py says so and the night goes on.
        npm = root / "bin" / "npm"
        npm.write_text("#!/bin/sh\necho 'npm: offline in the tests' >&2\nexit 1\n")
        npm.chmod(0o755)
        self.env = {**os.environ, "HOME": str(root / "home"), "PATH": f"{root / 'bin'}:{os.environ['PATH']}"}
        self.environment = contender_environment(root / "contender-env")
        self.log = root / "starts.log"
        self.contender = python_wrapper(root / "contender-python", str(self.environment), self.log)
        self.baseline = python_wrapper(root / "baseline-python", sys.executable, self.log)
        self.dying = python_wrapper(root / "dying-python", str(self.environment), self.log, die_as_worker=True)
        self.runs: dict[str, subprocess.CompletedProcess] = {}
        self.commits: dict[str, str] = {}
        self.spec = root / "slowdowns.json"
        self.planned: list[subprocess.CompletedProcess] = []
        self.pages: dict = {}
        self.armed = False
        self.removed: subprocess.CompletedProcess | None = None
        self.slow_seed = ""  # the seed that planned night C's 2x config

    def report(self, night: str) -> str:
        return (self.root / f"{night}.md").read_text()

    def night(self, label: str, *flags: str) -> subprocess.CompletedProcess:
        """One nightly on a new commit of the copy, run from outside it (asv must still find its plugin)."""
        if self.commits:
            git(self.suite, "commit", "-q", "--allow-empty", "-m", f"night {label}")
        self.commits[label] = git(self.suite, "rev-parse", "HEAD")
        completed = subprocess.run(
            [sys.executable, str(self.suite / "tools" / "nightly.py"), "--machine", MACHINE,
             "--python", str(self.contender), "--report", str(self.root / f"{label}.md"), *flags],
            capture_output=True, text=True, cwd=self.root, env={**self.env, "NIGHT": label})
        self.runs[label] = completed
        return completed

    def plan(self, *args: str) -> None:
        """tools/inject.py plan (of the copy) on the latest night, then install into the contender."""
        planned = run_tool("inject.py", "plan", "--results-dir", str(self.results), "--machine", MACHINE,
                           "--out", str(self.spec), "--append", "--configs", "1", *args)
        assert planned.returncode == 0, planned.stderr
        self.planned.append(planned)
        installed = run_tool("inject.py", "install", "--python", str(self.environment), "--spec", str(self.spec))
        assert installed.returncode == 0, installed.stderr

    def seed_off_last_nights_suspects(self, *args: str) -> str:
        """The first seed from 2 whose plan picks a config last night's verdict did not list: a suspect kept
        from the night before is judged by its persisting (with the contender's side alone, listed and not
        re-measured: verdict.judge), and which configs a clean night lists moves with the machine's noise."""
        verdict = json.loads((self.results / MACHINE / f"{self.commits[list(self.commits)[-1]]}.verdict").read_text())
        listed = {(s["config"], s["mask"]) for s in verdict["suspects"]}
        trial = self.root / "trial-slowdowns.json"
        for seed in range(2, 100):
            planned = run_tool("inject.py", "plan", "--results-dir", str(self.results), "--machine", MACHINE,
                               "--out", str(trial), "--configs", "1", *args, "--seed", str(seed))
            assert planned.returncode == 0, planned.stderr
            (chosen,) = json.loads(trial.read_text())["slowdowns"]
            if (chosen["config"], chosen["mask"]) not in listed:
                return str(seed)
        raise AssertionError(f"every seed picked one of last night's suspects: {sorted(listed)}")

    def slowdowns(self) -> list[dict]:
        return json.loads(self.spec.read_text())["slowdowns"]

    def starts(self, night: str) -> list[str]:
        """The wrappers' logged starts during one night: what each was run with."""
        return [line.split(" ", 1)[1] for line in self.log.read_text().splitlines()
                if line.split(" ", 1)[0] == night]


def armed(python: Path) -> bool:
    """Whether the injector loads in this Python's start."""
    return subprocess.run([str(python), "-c", "import sys; print('attention_slowdown' in sys.modules)"],
                          capture_output=True, text=True, check=True).stdout.strip() == "True"


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> Nights:
    state = Nights(tmp_path_factory.mktemp("nightly"))
    for label in ("A", "B"):
        completed = state.night(label)
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    state.slow_seed = state.seed_off_last_nights_suspects("--cpu", "1.0")
    state.plan("--cpu", "1.0", "--seed", state.slow_seed)  # one config 2x slower
    state.night("C")
    state.plan("--extra-ops", "1", "--seed", "3")  # another config: an extra operator
    state.night("D", "--factor", "1.2", "--baseline-python", str(state.baseline),
                "--calibration", state.commits["A"], state.commits["B"])
    state.plan("--extra-ops", "1", "--seed", "4")  # a third config's operator on the night publish breaks
    state.pages = json.loads((state.suite / "html" / "index.json").read_text())  # as night D published them
    shutil.rmtree(state.suite / "html")
    (state.suite / "html").write_text("not a folder: asv publish cannot write its pages here\n")
    state.night("E")
    state.armed = armed(state.environment)
    removed = run_tool("inject.py", "remove", "--python", str(state.environment))
    assert removed.returncode == 0, removed.stderr
    state.removed = removed
    return state


def commands(completed: subprocess.CompletedProcess) -> list[list[str]]:
    """The steps the nightly printed, in order, each as its words."""
    return [line[2:].split(" ") for line in completed.stdout.splitlines() if line.startswith("+ ")]


def step_names(completed: subprocess.CompletedProcess) -> list[str]:
    names = []
    for words in commands(completed):
        script = next((Path(w).name for w in words if w.endswith(".py")), None)
        names.append(script or " ".join(words[1:4]))
    return names


# ---------------------------------------------------------------- steps, flags, what is kept


def test_the_steps_run_in_order_record_publish_localize_check(nights):
    for night in ("A", "B", "C", "D"):
        assert step_names(nights.runs[night]) == ["record_run.py", "-m asv publish", "localize_pages.py",
                                                  "check_regressions.py"], night
    record, publish, _, check = commands(nights.runs["B"])
    assert record[record.index("--python") + 1] == str(nights.contender)
    assert record[record.index("--machine") + 1] == MACHINE
    # The pages were published before the check, with tonight in them, and the check was given them.
    assert {nights.commits[n] for n in "ABCD"} <= set(nights.pages["revision_to_hash"].values())
    assert check[check.index("--html-dir") + 1] == str(nights.suite / "html")
    assert "## Steps found by asv publish over the history" in nights.report("B")
    assert "the pages still load their libraries from CDNs" in nights.runs["B"].stderr


def test_it_always_keeps_the_verdict_and_passes_the_contenders_python(nights):
    for night in ("A", "B", "C", "D", "E"):
        check = commands(nights.runs[night])[-1]
        assert "--record-verdict" in check, night
        assert check[check.index("--contender-python") + 1] == str(nights.contender), night
        assert check[check.index("--report") + 1] == str(nights.root / f"{night}.md"), night
    machine = nights.results / MACHINE
    for night in ("B", "C", "D", "E"):  # the first night has nothing to compare, so no verdict
        assert (machine / f"{nights.commits[night]}.verdict").is_file(), night
    kept = json.loads((machine / f"{nights.commits['C']}.verdict").read_text())
    (slow,) = [s for s in nights.slowdowns() if s["cpu_us"]]
    assert (slow["config"], slow["mask"], "wall") in {(s["config"], s["mask"], s["signal"]) for s in kept["suspects"]}


def test_its_flags_reach_the_check(nights):
    check = commands(nights.runs["D"])[-1]
    assert check[check.index("--factor") + 1] == "1.2"
    assert check[check.index("--baseline-python") + 1] == str(nights.baseline)
    assert check[check.index("--calibration") + 1: check.index("--calibration") + 3] == [
        nights.commits["A"], nights.commits["B"]]
    assert "; factor 1.2." in nights.report("D")
    for night in ("A", "B", "C", "E"):
        assert not {"--factor", "--baseline-python", "--calibration"} & set(commands(nights.runs[night])[-1])


# ---------------------------------------------------------------- exit codes


def test_clean_nights_exit_0_the_first_with_no_baseline(nights):
    assert [nights.runs[n].returncode for n in "ABC"] == [0, 0, 0]
    assert f"first night on '{MACHINE}': no baseline to compare {nights.commits['A'][:8]}" in nights.runs["A"].stdout
    assert (nights.root / "A.md").read_text() == (  # nothing judged on the first night, and said so
        f"# first night on '{MACHINE}': no baseline to compare {nights.commits['A'][:8]} with yet\n")
    # Two nights of history: nothing can be called on one night, and no suspect of a one-night history
    # has a finite bar to persist over: only a count could fail them, and no count moved.
    for night in ("B", "C"):
        assert nights.report(night).startswith("# no regression"), night
        assert report_rows(nights.report(night), "Regressions") == []


def night_value(nights: Nights, night: str, slowdown: dict) -> float:
    """The night's wall time of a slowed config and mask, as the check reads it."""
    store = ResultsStore(nights.results)
    return read_night(store, store.choose_run(MACHINE, nights.commits[night])).value(
        ("cpu", slowdown["config"], slowdown["mask"]), "wall")


def class_move(nights: Nights, night: str, baseline: str, klass: str, signal: str) -> float:
    """The common move of a class that the night's check took out (the JSON's shifts, exact): checked again
    with its factor and calibration pair (the pair's spread weighs in the move), without a re-measurement (the
    moves are decided before it)."""
    check = commands(nights.runs[night])[-1]
    same = [word for flag, values in (("--factor", 1), ("--calibration", 2)) if flag in check
            for word in check[check.index(flag): check.index(flag) + 1 + values]]
    completed = run_tool("check_regressions.py", "--results-dir", str(nights.results), "--machine", MACHINE,
                         "--contender", nights.commits[night], "--baseline", nights.commits[baseline],
                         *same, "--format", "json")
    assert completed.returncode in (0, 1), completed.stderr
    (move,) = [row["move"] for row in json.loads(completed.stdout)["shifts"]
               if (row["class"], row["signal"]) == (klass, signal)]
    return move or 1.0


def test_a_regression_exits_1_named_with_its_cause(nights):
    completed = nights.runs["D"]
    assert completed.returncode == 1, completed.stdout[-3000:] + completed.stderr[-3000:]
    slow, operator = nights.slowdowns()[:2]
    rows = {(r["config"], r["mask"], r["signal"]): (level, r)
            for level, title in (("regression", "Regressions"), ("suspect", "Suspects"), ("noise", "Candidates"))
            for r in report_rows(nights.report("D"), title)}
    findings = {key: (level, row["why"]) for key, (level, row) in rows.items()}
    assert findings[(operator["config"], operator["mask"], "aten_ops")] == ("regression", "exact count changed")
    assert f"- {operator['config']} {operator['mask']}: +aten::alias x1" in nights.report("D")
    # The 2x config, a suspect last night: it persists where tonight against the nights before that one
    # passes the bar kept with the suspect (the bar is the noise of nights A and B, the machine's pace), its
    # class's common move tonight taken out (the CPU grid has no launch-bound class: no host's share);
    # else tonight's check re-measures it against the baseline's Python (against last night's build, where
    # the bar is none: kept before the history had a spread). Never noise, never dropped.
    kept = json.loads((nights.results / MACHINE / f"{nights.commits['C']}.verdict").read_text())
    (bar,) = [s["bar"] for s in kept["suspects"] if (s["config"], s["mask"], s["signal"]) == (
        slow["config"], slow["mask"], "wall")]
    before = statistics.median([night_value(nights, n, slow) for n in "AB"])
    level, why = findings[(slow["config"], slow["mask"], "wall")]
    move = class_move(nights, "D", "C", rows[(slow["config"], slow["mask"], "wall")][1]["class"], "wall")
    if night_value(nights, "D", slow) / before / move >= bar:
        assert (level, why) == ("regression", "persisted: a suspect last night, still slower tonight")
    else:
        said = "re-measured against last night's build: " if math.isinf(bar) else "re-measured: "
        assert level in ("regression", "suspect") and why.split(said)[1].split(" ")[0].strip(",") in (
            "confirmed", "undecided"), why


def test_a_failed_publish_is_a_broken_job_never_a_regression(nights):
    """Night E: a third config's extra operator makes the check exit 1; the broken publish makes the job 3."""
    completed = nights.runs["E"]
    assert completed.returncode == 3, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "asv publish failed: the report goes without its step detection" in completed.stderr
    assert completed.stderr.splitlines()[-1] == "error: asv publish failed (the check exited 1): a broken job"
    assert step_names(completed) == ["record_run.py", "-m asv publish", "check_regressions.py"]
    assert "--html-dir" not in commands(completed)[-1]
    # The check ran all the same: its report and tonight's suspects are kept.
    third = nights.slowdowns()[2]
    assert (third["config"], third["mask"], "aten_ops") in levels(nights.report("E"), "Regressions")
    assert "## Steps found by asv publish" not in nights.report("E")
    assert (nights.results / MACHINE / f"{nights.commits['E']}.verdict").is_file()


def test_a_failed_record_is_a_broken_job_and_checks_nothing(nights, tmp_path):
    broken = tmp_path / "no-torch-python"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    before = sorted(p.name for p in (nights.results / MACHINE).iterdir())
    completed = subprocess.run([sys.executable, str(nights.suite / "tools" / "nightly.py"), "--machine", MACHINE,
                                "--python", str(broken), "--report", str(tmp_path / "report.md")],
                               capture_output=True, text=True, cwd=tmp_path, env=nights.env)
    assert completed.returncode == 3
    assert step_names(completed) == ["record_run.py"]
    assert completed.stderr.splitlines()[-1] == ("error: recording failed; nothing was checked "
                                                 "(a broken job, not a finding)")
    assert not (tmp_path / "report.md").exists()
    assert sorted(p.name for p in (nights.results / MACHINE).iterdir()) == before


# ---------------------------------------------------------------- the re-measurement


def remeasured_processes(markdown: str) -> int:
    """The processes the report's re-measurement line says it ran."""
    line = markdown.split("## Re-measurement\n\n", 1)[1].splitlines()[0]
    return int(line.split(" processes, ")[0].rsplit(" ", 1)[1])


def test_without_last_nights_environment_the_contender_alone_is_re_measured(nights):
    """Night C: the 2x config is re-measured in the contender's Python only, against the nights before it:
    that can refute, never confirm, so it stays a suspect that says so."""
    slow = nights.slowdowns()[0]
    suspects = {(r["config"], r["mask"], r["signal"]): r["why"] for r in report_rows(nights.report("C"), "Suspects")}
    assert suspects[(slow["config"], slow["mask"], "wall")].startswith("re-measured: undecided (contender side only)")
    workers = [start for start in nights.starts("C") if WORKER in start]
    assert len(workers) == WORKERS_PER_SIDE == 2  # the contender's; no baseline
    assert all(WORKER_START.fullmatch(start) for start in workers)
    assert 1 <= remeasured_processes(nights.report("C")) <= 10  # one side's, as many as the budget allowed


def test_with_last_nights_environment_both_sides_are_re_measured(nights, tmp_path):
    """The check as the nightly runs it with --baseline-python: two workers of each Python, alternating."""
    results = tmp_path / "results"
    shutil.copytree(nights.results, results)
    completed = run_tool("check_regressions.py", "--results-dir", str(results), "--machine", MACHINE,
                         "--contender", nights.commits["C"], "--record-verdict", "--contender-python",
                         str(nights.contender), "--baseline-python", str(nights.baseline), "--format", "json",
                         env={"NIGHT": "C-both"})
    assert completed.returncode in (0, 1), completed.stderr
    report = json.loads(completed.stdout)
    starts = nights.starts("C-both")
    assert len(starts) == 2 * WORKERS_PER_SIDE == 4 and all(WORKER_START.fullmatch(start) for start in starts)
    assert len({start.split()[-1] for start in starts}) == 1  # one quiet lock for both sides
    # Blocks of four, both sides: 10 a side a round, up to 20 more a side where a key was still undecided.
    summary = report["confirmation"]
    per_round = 2 * (10 + (MAX_EXTRA_PROCESSES if summary["extended"] else 0))
    assert summary["processes"] % 4 == 0 and 4 <= summary["processes"] <= summary["rounds"] * per_round, summary
    slow = nights.slowdowns()[0]
    (finding,) = [f for f in report["regressions"] + report["suspects"] + report["noise"]
                  if (f["config"], f["mask"], f["signal"]) == (slow["config"], slow["mask"], "wall")]
    assert finding["why"].startswith("re-measured: ") and "contender side only" not in finding["why"]
    # Each key measured by both sides alike (blocks of four), within the processes of all rounds.
    for values in report["confirmation"]["values"]:
        assert len(values["baseline"]["wall"]) == len(values["contender"]["wall"]) >= 2, values
        assert 2 * len(values["baseline"]["wall"]) <= report["confirmation"]["processes"]


def check_with_python(nights: Nights, results: Path, python: Path, *extra: str) -> subprocess.CompletedProcess:
    """The check as the nightly runs it, on night C against A and B."""
    return run_tool("check_regressions.py", "--results-dir", str(results), "--machine", MACHINE,
                    "--contender", nights.commits["C"], "--record-verdict", "--contender-python", str(python),
                    "--format", "json", *extra)


@pytest.mark.parametrize("sides", ["contender only", "both sides"])
def test_a_re_measurement_whose_worker_dies_leaves_suspects_never_a_regression(nights, tmp_path, sides):
    results = tmp_path / "results"
    shutil.copytree(nights.results, results)
    extra = ("--baseline-python", str(nights.baseline)) if sides == "both sides" else ()
    completed = check_with_python(nights, results, nights.dying, *extra)
    # A broken check (exit 3), its candidates suspects: never a regression, never a green job.
    assert completed.returncode == 3, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(completed.stdout)
    failure = f"the contender worker ({nights.dying}) stopped answering: it was ended by signal 9"
    assert {name: report["confirmation"][name] for name in ("seed", "error", "refused", "keys", "called_on_night")} == {
        "seed": 0, "error": failure, "refused": False, "keys": 0, "called_on_night": 0}
    assert completed.stderr.endswith(f"failed: the re-measurement: {failure}; its candidates are listed as suspects, "
                                     "GPU times short of the factor in short_left_out (a broken check, not a "
                                     "finding)\n")
    assert report["regressions"] == [] and report["noise"] == []
    slow = nights.slowdowns()[0]
    assert (slow["config"], slow["mask"], "wall") in {(f["config"], f["mask"], f["signal"]) for f in report["suspects"]}
    # Each suspect says the re-measurement failed; one standing for its class's common move says that move first
    # (real CPU nights: the host's speed can move a whole class between them), and one over its class's lower
    # quartile, where only part of the class moved (both sides re-measured), says that quartile first.
    # One kept by night B's check before the history had a spread is listed again first: a candidate only
    # where both sides are re-measured, and then it says the re-measurement failed after it.
    for suspect in report["suspects"]:
        move = (rf"the {re.escape(suspect['class'])} results moved \d+\.\d\dx as one \({suspect['common']} results\); "
                if suspect["common"] else "")
        if suspect["partial"]:
            move = partial_why(suspect["move"]) + "; "
        said = move + re.escape(f"re-measurement failed: {failure}")
        if suspect["persisting"]:
            said = KEPT_SUSPECT_WHY + (f"; {said}" if sides == "both sides" else "")
        assert re.fullmatch(said, suspect["why"]), suspect["why"]
    markdown = run_tool("check_regressions.py", "--results-dir", str(results), "--machine", MACHINE,
                        "--contender", nights.commits["C"], "--contender-python", str(nights.dying), *extra).stdout
    assert f"## Re-measurement\n\nfailed: {failure}\n" in markdown


# ---------------------------------------------------------------- the injector and the noise report


def test_inject_plan_sizes_the_slowdown_from_the_night_and_remove_unloads_it(nights):
    slow, operator, third = nights.slowdowns()
    store = ResultsStore(nights.results)
    rows = config_rows(store.load(store.choose_run(MACHINE, nights.commits["B"])), CPU, store.param_names(CPU))
    (row,) = [row for row in rows if row.label == slow["config"]]
    assert slow["cpu_us"] == row.walls[slow["mask"]].value * 1e6  # 1.0 x its wall time: 2x slower
    assert (slow["gpu_us"], slow["extra_ops"], slow["grid"]) == (0.0, 0, "cpu")
    assert (operator["extra_ops"], operator["cpu_us"], third["extra_ops"]) == (1, 0.0, 1)
    assert len({slow["config"], operator["config"], third["config"]}) == 3  # --append takes new configs
    assert nights.planned[0].stdout.splitlines()[-1] == f"seed {nights.slow_seed}: 1 slowdown(s) added to {nights.spec}"
    assert nights.armed is True
    assert not armed(nights.environment)
    assert nights.removed is not None
    assert nights.removed.stdout.startswith("removed ") and not Path(nights.removed.stdout.split()[1]).exists()


def test_a_plan_of_more_configs_than_the_night_has_says_how_many_it_took(nights, tmp_path):
    """The CPU grid has 6 configs: asked for 10, the plan takes 6 and says so, a note, not an error."""
    planned = run_tool("inject.py", "plan", "--results-dir", str(nights.results), "--machine", MACHINE,
                       "--commit", nights.commits["B"], "--configs", "10", "--cpu", "0.1", "--seed", "3",
                       "--out", str(tmp_path / "spec.json"))
    assert planned.returncode == 0, planned.stderr
    assert len(json.loads((tmp_path / "spec.json").read_text())["slowdowns"]) == 6
    assert planned.stderr == (f"only 6 config(s) to choose from in {nights.commits['B'][:8]}: 6 slowdown(s), "
                              "not 10 (--both-masks counts results: both masks of a config)\n")


def test_the_noise_report_of_two_real_nights(nights):
    completed = run_tool("noise_report.py", nights.commits["A"], nights.commits["B"], "--results-dir",
                         str(nights.results), "--machine", MACHINE, "--format", "json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert (report["a"], report["b"], report["machine"]) == (nights.commits["A"], nights.commits["B"], MACHINE)
    records = report["results"]
    assert len(records) == 12  # the CPU grid's 6 configs, 2 masks each
    assert {r["benchmark"] for r in records} == {f"attention_bias.AttentionBiasNightCPU.track_wall_time_{m}"
                                                 for m in schema.MASKS}  # asv's own names, as asv compare prints
    assert all(r["difference"] == pytest.approx(r["b_us"] / r["a_us"] - 1) for r in records)
    assert report["summary"]["results"] == 12
    assert report["summary"]["max_abs_difference"] == max(abs(r["difference"]) for r in records)
    text = run_tool("noise_report.py", nights.commits["A"][:8], nights.commits["B"][:8], "--results-dir",
                    str(nights.results))
    assert text.returncode == 0 and text.stdout.startswith(
        f"A/A noise on {MACHINE}: A = {nights.commits['A'][:8]}, B = {nights.commits['B'][:8]}\n")
    assert "12 results; |B/A-1|: median" in text.stdout


def test_the_noise_report_leaves_out_a_wall_time_measured_in_part(nights, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(nights.results, results)
    night = results / MACHINE / f"{nights.commits['B']}{schema.NIGHT_SUFFIX}"
    label = completed_report(results, nights)["results"][0]["params"]
    night.write_text(json.dumps(json.loads(night.read_text()) | {schema.NIGHT_IN_PART: {
        label: {"causal_bias": {schema.WALL: ["pass 2: building failed: OOM"]}}}}))
    records = completed_report(results, nights)["results"]
    assert len(records) == 11
    assert (label, "attention_bias.AttentionBiasNightCPU.track_wall_time_causal_bias") not in {
        (r["params"], r["benchmark"]) for r in records}


def completed_report(results, nights) -> dict:
    completed = run_tool("noise_report.py", nights.commits["A"], nights.commits["B"], "--results-dir",
                         str(results), "--machine", MACHINE, "--format", "json")
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


# ---------------------------------------------------------------- issue 24


def test_two_real_nights_one_config_2x_slower_without_re_measurement_is_a_named_suspect(nights):
    """Night C against B alone, nothing re-measuring: too short a history to judge, so a suspect that says why."""
    slow = nights.slowdowns()[0]
    completed = run_tool("check_regressions.py", "--results-dir", str(nights.results), "--machine", MACHINE,
                         "--contender", nights.commits["C"], "--history", "1", "--format", "json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert (report["baseline"], report["nights"], report["regressions"]) == (nights.commits["B"], 1, [])
    (doubled,) = [f for f in report["suspects"] if (f["config"], f["mask"], f["signal"]) == (
        slow["config"], slow["mask"], "wall")]
    assert doubled["why"] == ("the history of 1 night(s) is too short to judge: the noise model needs 3, "
                              "and no re-measurement is configured")
    markdown = run_tool("check_regressions.py", "--results-dir", str(nights.results), "--machine", MACHINE,
                        "--contender", nights.commits["C"], "--history", "1").stdout
    assert (slow["config"], slow["mask"], "wall") in levels(markdown, "Suspects")



# ---------------------------------------------------------------- its exit codes and flags, every case


STEPS = ("record_run.py", "publish", "localize_pages.py", "check_regressions.py")


def run_nightly(monkeypatch, codes: dict[str, int], *flags: str, confs: list | None = None
                ) -> tuple[int, list[list[str]]]:
    """nightly.main with each step answering the code given for it (0 where none): the steps it ran (and the
    arguments of its derived conf, into ``confs``)."""
    import nightly

    ran: list[list[str]] = []

    def step(*command: str) -> int:
        ran.append(list(command))
        code = codes.get(step_name(list(command)), 0)
        if step_name(list(command)) == "record_run.py" and code == 0:
            Path(command[command.index("--commit-file") + 1]).write_text(f"{TONIGHT}\n")
        return code

    monkeypatch.setattr(nightly, "step", step)
    monkeypatch.setattr(nightly, "checked_paths", lambda args: None)  # stand-in steps: what they name need not be
    monkeypatch.setattr(nightly, "derived_conf", lambda *args: (confs.append(args) if confs is not None else None,
                                                                (Path("/conf.json"), {"html_dir": "/pages"}))[1])
    code = nightly.main(["--machine", "m", "--python", "/tonight/python", "--report", "/r.md", *flags])
    return code, ran


TONIGHT = "f" * 40  # the commit the stand-in record says it recorded at


def step_name(command: list[str]) -> str:
    """Which of STEPS a command is: the script it runs, or asv's publish."""
    (name,) = [name for name in STEPS if any(word.endswith(name) for word in command[1:4])]
    return name


def names(ran: list[list[str]]) -> list[str]:
    return [step_name(command) for command in ran]


@pytest.mark.parametrize(("codes", "expected", "steps"), [
    ({}, 0, STEPS),
    ({"check_regressions.py": 1}, 1, STEPS),
    ({"check_regressions.py": 2}, 2, STEPS),
    ({"check_regressions.py": 3}, 3, STEPS),
    ({"check_regressions.py": -9}, 3, STEPS),  # the check killed: a broken job, never a finding
    ({"check_regressions.py": 4}, 3, STEPS),
    ({"localize_pages.py": 3}, 0, STEPS),  # pages that load their libraries from CDNs still work online
    ({"publish": 1}, 3, ("record_run.py", "publish", "check_regressions.py")),
    ({"publish": 1, "check_regressions.py": 1}, 3, ("record_run.py", "publish", "check_regressions.py")),
    ({"record_run.py": 2}, 3, ("record_run.py",)),  # a Python without torch, a clone not fetched: a broken job
    ({"record_run.py": 3}, 3, ("record_run.py",)),
    ({"record_run.py": 1}, 3, ("record_run.py",)),
])
def test_its_exit_code_for_every_outcome_of_its_steps(monkeypatch, codes, expected, steps):
    code, ran = run_nightly(monkeypatch, codes)
    assert (code, tuple(names(ran))) == (expected, steps)


def test_every_flag_reaches_its_step(monkeypatch):
    code, ran = run_nightly(monkeypatch, {}, "--torch-repo", "/torch", "--factor", "1.1", "--baseline-python",
                            "/last/python", "--calibration", "aaaa", "bbbb")
    record, publish, localize, check = ran
    assert code == 0
    commit_file = record[record.index("--commit-file") + 1]
    assert record[1:] == [str(TOOLS / "record_run.py"), "--python", "/tonight/python", "--machine", "m",
                          "--commit-file", commit_file, "--repo", "/torch", "--at-torch-commit"]
    assert not Path(commit_file).exists()  # a folder of its own, gone with the nightly
    assert publish[1:] == ["-m", "asv", "publish", "--config", "/conf.json"]
    assert localize[1:] == [str(TOOLS / "localize_pages.py"), "/pages"]
    assert check[1:] == [str(TOOLS / "check_regressions.py"), "--machine", "m", "--contender", TONIGHT,
                         "--report", "/r.md", "--record-verdict", "--contender-python", "/tonight/python",
                         "--html-dir", "/pages", "--baseline-python", "/last/python", "--factor", "1.1",
                         "--calibration", "aaaa", "bbbb"]


@pytest.mark.parametrize("clone", [None, "/torch"])
def test_the_pages_link_torchs_commits_to_pytorch_and_no_others(monkeypatch, clone):
    """Labelled by torch's commits, the published history links each to PyTorch's; labelled by this suite's,
    to nothing (asv.conf.json has no link: this suite's commits are not PyTorch's)."""
    from lib.conf import read_conf

    confs: list = []
    code, _ = run_nightly(monkeypatch, {}, *(["--torch-repo", clone] if clone else []), confs=confs)
    assert code == 0
    assert confs[0][1] == (Path(clone) if clone else None)
    assert confs[0][-1] == ({"show_commit_url": "https://github.com/pytorch/pytorch/commit/"} if clone else None)
    assert "show_commit_url" not in read_conf(REPO_ROOT / "asv.conf.json")


def test_without_a_pytorch_clone_the_record_takes_only_a_new_commit(monkeypatch):
    """This suite's HEAD labels the night: a second nightly at it would replace the first and compare nothing."""
    code, ran = run_nightly(monkeypatch, {})
    assert code == 0
    assert ran[0][-1] == "--new-commit-only" and "--repo" not in ran[0]


def test_paths_given_from_the_callers_folder_reach_the_steps_that_run_from_the_repository(monkeypatch, tmp_path):
    """The steps run from the repository's root (asv's plugin): relative paths are made absolute first."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()  # the report's folder is checked before the night
    code, ran = run_nightly(monkeypatch, {}, "--python", "env/bin/python", "--report", "out/r.md",
                            "--torch-repo", "torch", "--baseline-python", "python3")
    record, _, _, check = ran
    assert code == 0
    assert record[record.index("--python") + 1] == str(tmp_path / "env" / "bin" / "python")
    assert record[record.index("--repo") + 1] == str(tmp_path / "torch")
    assert check[check.index("--report") + 1] == str(tmp_path / "out" / "r.md")
    assert check[check.index("--contender-python") + 1] == str(tmp_path / "env" / "bin" / "python")
    assert check[check.index("--baseline-python") + 1] == "python3"  # a name the PATH finds stays a name
