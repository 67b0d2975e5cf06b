"""The nightly workflow's behaviour: its shell steps run for real, its job graph evaluated per exit code.

The steps that carry the nightly's exit code (record, fail, open an issue) and the one that keeps last
night's torch are run with bash as GitHub runs them, against stand-ins for make and the nightly;
the jobs' `if:` conditions are evaluated for each exit code.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "nightly.yml"


def load() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def step(job: str, name: str) -> dict:
    (found,) = [s for s in load()["jobs"][job]["steps"] if s.get("name") == name]
    return found


def run_step(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A `run:` step as GitHub's runner runs it on Linux: bash -e, the script in a file."""
    path = cwd / "step.sh"
    path.write_text(script)
    return subprocess.run(["bash", "-e", str(path)], cwd=cwd, capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], **env})


def evaluate(expression: str, context: dict[str, str]) -> bool:
    """The few forms of GitHub's expressions this workflow uses; anything else fails the test."""
    expression = expression.strip()
    if expression == "always()":
        return True
    if expression == "success()":  # the default: every job it needs succeeded
        return context["needs succeeded"] == "true"
    match = re.fullmatch(r"([\w.]+) (==|!=) '([^']*)'", expression)
    assert match, f"an expression this test does not evaluate: {expression}"
    name, operator, value = match.groups()
    return (context[name] == value) == (operator == "==")


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


@pytest.fixture
def runner(tmp_path) -> dict:
    """A checkout with stand-ins: make does nothing, .venv/bin/python logs its arguments and exits $NIGHTLY_CODE."""
    work, home, bin_dir = tmp_path / "work", tmp_path / "home", tmp_path / "bin"
    for folder in (work / ".venv" / "bin", home, bin_dir):
        folder.mkdir(parents=True)
    (bin_dir / "make").write_text("#!/bin/sh\necho \"make $*\" >> \"$LOG\"\n")
    (work / ".venv" / "bin" / "python").write_text(
        "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done > \"$ARGS\"\nexit \"$NIGHTLY_CODE\"\n")
    for stub in (bin_dir / "make", work / ".venv" / "bin" / "python"):
        stub.chmod(0o755)
    return {"work": work, "home": home, "env": {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(home),
                                                "LOG": str(tmp_path / "make.log"), "ARGS": str(tmp_path / "args"),
                                                "MACHINE": "h100-sxm-80gb",
                                                "GITHUB_OUTPUT": str(tmp_path / "github_output")},
            "args": tmp_path / "args"}


def nightly_step(runner: dict, code: int) -> tuple[subprocess.CompletedProcess, list[str], dict[str, str]]:
    env = {**runner["env"], "NIGHTLY_CODE": str(code)}
    Path(env["GITHUB_OUTPUT"]).write_text("")
    completed = run_step(step("nightly", "Record, publish, check")["run"], runner["work"], env)
    return completed, runner["args"].read_text().splitlines(), outputs(Path(env["GITHUB_OUTPUT"]))


@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_the_nightlys_exit_code_reaches_the_job_graph_and_only_1_opens_an_issue(runner, code):
    """The step records the code even where the nightly fails; the job fails on any code but 0; only a
    regression (1) opens an issue; the results and the pages are kept whatever happened."""
    completed, args, written = nightly_step(runner, code)
    assert completed.returncode == 0, completed.stderr  # set +e: the code is kept, not the step's failure
    assert written == {"code": str(code)}
    assert args[:1] == ["tools/nightly.py"]
    workflow = load()
    # The job's output is the step's output.
    assert workflow["jobs"]["nightly"]["outputs"]["code"] == "${{ steps.nightly.outputs.code }}"
    assert step("nightly", "Record, publish, check")["id"] == "nightly"
    fail = step("nightly", "Fail on a regression or a broken job")
    fails = evaluate(fail["if"], {"steps.nightly.outputs.code": written["code"]})
    assert fails == (code != 0)
    if fails:
        assert fail["env"]["CODE"] == "${{ steps.nightly.outputs.code }}"
        assert run_step(fail["run"], runner["work"], {"CODE": written["code"]}).returncode == code
    # The nightly job fails where its last step does; the others need it.
    context = {"needs.nightly.outputs.code": written["code"], "needs succeeded": str(not fails).lower()}
    assert all(job["needs"] == "nightly" for name, job in workflow["jobs"].items() if name != "nightly")
    ran = {name for name, job in workflow["jobs"].items()
           if name != "nightly" and evaluate(job.get("if", "success()"), context)}
    assert ran == ({"keep-results", "pages", "open-issue"} if code == 1 else {"keep-results", "pages"})


def test_the_nightly_runs_tonights_torch_at_its_commit_and_last_nights_as_the_baseline(runner):
    """The step before keeps last night's environment; the nightly gets it as --baseline-python, and
    tonight's Python records at torch's own commit."""
    home = runner["home"]
    keep = step("nightly", "Keep last night's torch as the baseline environment")["run"]
    # The first night: no environment yet, so no baseline side.
    assert run_step(keep, runner["work"], runner["env"]).returncode == 0
    _, args, _ = nightly_step(runner, 0)
    assert "--baseline-python" not in args
    assert args[args.index("--python") + 1] == f"{home}/torch-envs/tonight/bin/python"
    assert args[args.index("--torch-repo") + 1] == f"{home}/pytorch"
    assert args[args.index("--machine") + 1] == "h100-sxm-80gb"
    assert args[args.index("--report") + 1] == "nightly-report.md"
    # The next night: yesterday's "tonight" becomes "last", replacing the one before it.
    for name, marker in (("tonight", "yesterday"), ("last", "the day before")):
        (home / "torch-envs" / name / "bin").mkdir(parents=True)
        python = home / "torch-envs" / name / "bin" / "python"
        python.write_text(f"#!/bin/sh\n# {marker}\n")
        python.chmod(0o755)
    assert run_step(keep, runner["work"], runner["env"]).returncode == 0
    assert "yesterday" in (home / "torch-envs" / "last" / "bin" / "python").read_text()
    assert not (home / "torch-envs" / "tonight").exists()
    _, args, _ = nightly_step(runner, 0)
    assert args[args.index("--baseline-python") + 1] == f"{home}/torch-envs/last/bin/python"
    assert "make venv" in Path(runner["env"]["LOG"]).read_text()


def test_only_jobs_that_run_none_of_the_nights_code_may_write():
    """The nightly job installs an unpinned torch: it reads only and keeps no credentials. A job that
    writes runs no project code, no Python and no make, and holds only the permission it needs."""
    workflow = load()
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    night = jobs["nightly"]
    assert night["permissions"] == {"contents": "read"}
    checkouts = [s for s in night["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts and all(s["with"]["persist-credentials"] is False for s in checkouts)
    assert not re.search(r"github\.token|secrets\.", yaml.safe_dump(night))
    for name, job in jobs.items():
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        scripts = " ".join(s.get("run", "") for s in job["steps"])
        if writes:
            assert name != "nightly" and not re.search(r"tools/|\.venv|python|\bmake\b", scripts), name
        for s in job["steps"]:
            if s.get("with", {}).get("persist-credentials") is True:
                assert "contents" in writes, (name, s)  # only a job that pushes keeps its token on disk
    assert {name for name, job in jobs.items() if "issues" in job["permissions"]} == {"open-issue"}
    assert {name for name, job in jobs.items() if job["permissions"].get("contents") == "write"} == {"keep-results"}


def test_it_runs_every_night_and_by_hand_one_at_a_time():
    workflow = load()
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert triggers["schedule"] == [{"cron": "0 4 * * *"}] and "workflow_dispatch" in triggers
    assert workflow["concurrency"]["cancel-in-progress"] is False  # a night is never cut short by the next


def test_tonights_torch_can_read_the_sm_clock_beside_each_gpu_time():
    """Without NVML the clock is None and every re-measured GPU time is decided as measured."""
    script = step("nightly", "Install tonight's torch nightly in its own environment")["run"]
    assert re.search(r"tonight/bin/python\" -m pip install -q nvidia-ml-py==[\d.]+\n", script), script


def test_every_action_is_pinned_to_a_commit():
    uses = re.findall(r"uses: ([\w./-]+)@(\S+)", WORKFLOW.read_text())
    assert uses and all(re.fullmatch(r"[0-9a-f]{40}", ref) for _, ref in uses), uses


def test_names_only_commands_that_exist():
    text = WORKFLOW.read_text()
    for script in re.findall(r"tools/[\w.]+\.py", text):
        assert (REPO_ROOT / script).is_file(), script
    for target in re.findall(r"make (\w+)", text):
        assert re.search(rf"^{target}:", (REPO_ROOT / "Makefile").read_text(), re.M), target
