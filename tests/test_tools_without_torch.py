"""The tools never import torch or the measuring code: they run where no torch is installed.

They read the suite's names from its schema (benchmarks/schema.py), which imports no torch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TOOLS, make_standin_repo
from lib.wheels import write_wheel
from results_factory import write_benchmarks_json

# The command-line tools: every script of tools/; what they share lives in tools/lib/.
TOOL_SCRIPTS = sorted(p.name for p in TOOLS.glob("*.py"))
LIBRARIES = sorted(f"lib.{p.stem}" for p in (TOOLS / "lib").glob("*.py") if p.stem != "__init__")


@pytest.fixture
def no_torch(tmp_path):
    """A PYTHONPATH on which `import torch` fails loudly."""
    (tmp_path / "no-torch").mkdir()
    (tmp_path / "no-torch" / "torch.py").write_text("raise ImportError('the tools must not import torch')\n")
    return {**os.environ, "PYTHONPATH": str(tmp_path / "no-torch")}


@pytest.mark.parametrize("script", TOOL_SCRIPTS)
def test_help_runs_without_torch(script, no_torch):
    completed = subprocess.run([sys.executable, str(TOOLS / script), "--help"],
                               capture_output=True, text=True, env=no_torch)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage:")


# Each tool's real work where `import torch` fails, but the nightly's: it is the record (below), the
# publish and the check (here) run in turn, and tests/test_nightly_path.py runs it whole.
RUN_HERE = ("check_regressions.py", "inject.py", "localize_pages.py", "noise_report.py", "speedup_summary.py",
            "synthetic_history.py", "torch_commits.py", "torch_wheel_for_commit.py")


def test_every_tool_is_run_without_torch():
    assert sorted({*RUN_HERE, "record_run.py", "nightly.py"}) == TOOL_SCRIPTS


def torch_free_run(script: str, cpu_runs: dict, folder: Path) -> tuple[list[str], str]:
    """A real invocation of ``script`` on the CPU nights, and what its output must hold."""
    results = str(cpu_runs["results"])
    a, b, c = cpu_runs["commits"]
    if script == "check_regressions.py":
        return ["--results-dir", results, "--format", "json"], f'"contender": "{c}"'
    if script == "noise_report.py":
        return [a, b, "--results-dir", results], "12 results; |B/A-1|: median"
    if script == "speedup_summary.py":
        return ["--results-dir", results], "Geomean"
    if script == "inject.py":
        return (["plan", "--results-dir", results, "--cpu", "1.0", "--configs", "2", "--out",
                 str(folder / "spec.json")], "seed 0: 2 slowdown(s) added to")
    if script == "synthetic_history.py":
        write_benchmarks_json(folder / "seed")
        return (["--out", str(folder / "history"), "--days", "2", "--benchmarks-json",
                 str(folder / "seed" / "benchmarks.json")], f"2 nightly runs on 2 machines in {folder / 'history'}")
    if script == "torch_wheel_for_commit.py":
        (folder / "wheels").mkdir()
        write_wheel(folder / "wheels", "torch", "2.13.0", {"torch/version.py": f"git_version = '{a}'\n".encode()})
        return ["--wheels", str(folder / "wheels"), "--list"], f"{a}  torch-2.13.0-py3-none-any.whl"
    if script == "torch_commits.py":
        return (["--repo", str(cpu_runs["root"] / "repo"), "--machine", cpu_runs["machine"], "--results-dir",
                 results, "--html-dir", str(folder / "html"), "publish"], f"pages of {results} in {folder / 'html'}")
    assert script == "localize_pages.py"  # its work is npm's: without pages a user error, not an import error
    (folder / "pages").mkdir()
    return [str(folder / "pages")], f"error: no asv pages in {folder / 'pages'}"


@pytest.mark.parametrize("script", RUN_HERE)
def test_each_tool_does_its_work_without_torch(script, cpu_runs, tmp_path, no_torch):
    """Not only --help: each tool's work on the CPU nights, where `import torch` fails."""
    folder = tmp_path / "work"
    folder.mkdir()
    args, expected = torch_free_run(script, cpu_runs, folder)
    completed = subprocess.run([sys.executable, str(TOOLS / script), *args], capture_output=True, text=True,
                               env={**no_torch, **cpu_runs["env"]}, cwd=folder)
    assert completed.returncode == (2 if script == "localize_pages.py" else 0), completed.stdout + completed.stderr
    assert "must not import torch" not in completed.stdout + completed.stderr
    assert expected in completed.stdout + completed.stderr


def test_a_record_runs_without_torch_in_the_tool(tmp_path, no_torch):
    """record_run.py and asv import no torch; only the benchmarked Python does (here one that leaves
    out the failing torch of the tools' path)."""
    (commit,) = make_standin_repo(tmp_path / "repo", ["A"])
    (tmp_path / "home").mkdir()
    python = tmp_path / "benchmarked-python"
    python.write_text(f'#!/bin/sh\nunset PYTHONPATH\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    completed = subprocess.run([sys.executable, str(TOOLS / "record_run.py"), "--grid", "cpu", "--python",
                                str(python), "--repo", str(tmp_path / "repo"), "--commit", commit,
                                "--results-dir", str(tmp_path / "results"), "--machine", "ci"],
                               capture_output=True, text=True, env={**no_torch, "HOME": str(tmp_path / "home")})
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "must not import torch" not in completed.stdout + completed.stderr
    assert (tmp_path / "results" / "ci" / f"{commit}.night").is_file()


def test_the_tools_libraries_load_the_schema_and_never_the_measuring_code(no_torch):
    """Every library of tools/ imported together: the schema, what the night hands its children (the recorder
    records it) and the whole-file writer are there, torch and benchmarks.measure are not."""
    script = (f"import sys; sys.path.insert(0, {str(TOOLS)!r})\n"
              + "".join(f"import {name}\n" for name in LIBRARIES)
              + "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'benchmarks')))\n")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=no_torch)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == ("['benchmarks', 'benchmarks.night_state', 'benchmarks.schema', "
                                        "'benchmarks.whole_file']")


def test_wheel_finder_runs_in_a_bare_environment(tmp_path):
    """asv's per-commit virtualenv has no asv: the install step must need the standard library only."""
    for name in ("asv", "asv_runner", "numpy", "tabulate", "json5"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('not in a bare environment: {name}')\n")
    completed = subprocess.run([sys.executable, str(TOOLS / "torch_wheel_for_commit.py"), "--help"],
                               capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert completed.returncode == 0, completed.stderr


def test_every_script_is_a_command_and_the_library_has_none():
    """Scripts are the commands (a main each); the library's modules are not."""
    assert all("def main(" in (TOOLS / script).read_text() for script in TOOL_SCRIPTS)
    assert not [name for name in LIBRARIES if "def main(" in (TOOLS / f"{name.replace('.', '/')}.py").read_text()]


def test_no_tool_imports_another_tools_script():
    """Tools share code through tools/lib/, never through each other's scripts."""
    import ast

    scripts = {name.removesuffix(".py") for name in TOOL_SCRIPTS}
    for script in TOOL_SCRIPTS:
        tree = ast.parse((TOOLS / script).read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert not imported & (scripts - {script.removesuffix(".py")}), script
