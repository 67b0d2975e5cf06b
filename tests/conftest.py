"""Shared fixtures: the tools' library on sys.path, real asv runs of the CPU grid, hand-written results."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS = REPO_ROOT / "tools"
# How a suspect kept by last night's check before the history had a spread starts its why (verdict.judge): on
# real CPU nights the machine's noise can list one, and it persists where the next night is as slow.
KEPT_SUSPECT_WHY = (r"a suspect last night too, still \d+\.\d\dx the night before it; the history is too short to call "
                    r"it: the noise model needs \d+ clean nights")
sys.path.insert(0, str(TOOLS))
sys.path.insert(0, str(REPO_ROOT / "tests"))


def partial_why(quartile: float) -> str:
    """How a candidate over its class's lower quartile (``quartile``, its finding's move) starts its why
    (verdict.judge): on real CPU nights re-measured on both sides, part of a class can move."""
    from lib.verdict import PART_OF_CLASS

    return (rf"{re.escape(PART_OF_CLASS)} \(\d+\.\d{{3}}x taken out, its lower quartile "
            + re.escape(f"{quartile:.3f}x): the factor slower than the quartile"))


def checksums(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` by its sha256: what a tool must leave byte-identical."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def git(repo: Path, *args: str, env: dict | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        check=True, capture_output=True, text=True, env={**os.environ, **(env or {})},
    ).stdout.strip()


def make_standin_repo(path: Path, labels: list[str]) -> list[str]:
    """A git repo with one empty commit per label; returns their hashes, oldest first."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    hashes = []
    for label in labels:
        git(path, "commit", "-q", "--allow-empty", "-m", label)
        hashes.append(git(path, "rev-parse", "HEAD"))
    return hashes


def contender_environment(path: Path) -> Path:
    """A venv whose site-packages reach this Python's (the Makefile's contender environment)."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "main_venv.pth").write_text("\n".join(p for p in sys.path if p.endswith("-packages")))
    return python


def gpu_time_cost(gpu: float | None) -> float:
    """A GPU time's seconds in a re-measurement process, as the cost model prices them on a GPU."""
    from lib import remeasure

    return remeasure.cost_model("cuda").work_seconds(remeasure.gpu_time_work(gpu))


def process_costs(count: int, seconds: float = 0.0, phases: dict[str, float] | None = None) -> tuple:
    """``count`` re-measurement processes of ``seconds`` each (``remeasure.ProcessCost``), as a round records them."""
    from lib.remeasure import ProcessCost

    return tuple(ProcessCost("baseline", "cuda", 0, 0, 0.0, 0.0, seconds, dict(phases or {})) for _ in range(count))


def run_tool(script: str, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOLS / script), *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd,
    )


@pytest.fixture(scope="session")
def cpu_runs(tmp_path_factory) -> dict:
    """Three real `asv run`s of AttentionBiasCPU, recorded at three commits of a stand-in repo."""
    root = tmp_path_factory.mktemp("cpu_runs")
    commits = make_standin_repo(root / "repo", ["run A", "run B", "run C"])
    env = {"HOME": str(root / "home")}
    (root / "home").mkdir()
    for commit in commits:
        # The last as a user types it: its Python a path relative to the folder it runs in, ".venv/bin/python"
        # (asv runs from the conf's folder, and found no environment where the tool passed the path on as given).
        last = commit == commits[-1]
        folder = Path(sys.executable).parent.parent.parent if last else None
        python = ["--python", os.path.relpath(sys.executable, folder)] if folder else []
        completed = run_tool(
            "record_run.py", "--grid", "cpu", "--repo", str(root / "repo"), "--commit", commit,
            "--results-dir", str(root / "results"), "--machine", "ci-cpu", *python, env=env, cwd=folder,
        )
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return {"root": root, "results": root / "results", "commits": commits, "env": env,
            "machine": "ci-cpu"}
