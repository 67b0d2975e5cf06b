"""The tools never import torch or the measuring code: they run where no torch is installed.

They read the suite's names from its schema (benchmarks/schema.py), which imports no torch.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import TOOLS

# The command-line tools: every script of tools/; what they share lives in tools/lib/.
TOOL_SCRIPTS = sorted(p.name for p in TOOLS.glob("*.py"))
LIBRARIES = sorted(f"lib.{p.stem}" for p in (TOOLS / "lib").glob("*.py") if p.stem != "__init__")


@pytest.fixture
def no_torch(tmp_path):
    """A PYTHONPATH on which `import torch` fails loudly."""
    (tmp_path / "torch.py").write_text("raise ImportError('the tools must not import torch')\n")
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


@pytest.mark.parametrize("script", TOOL_SCRIPTS)
def test_help_runs_without_torch(script, no_torch):
    completed = subprocess.run([sys.executable, str(TOOLS / script), "--help"],
                               capture_output=True, text=True, env=no_torch)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage:")


def test_summary_runs_without_torch(cpu_runs, no_torch):
    completed = subprocess.run([sys.executable, str(TOOLS / "speedup_summary.py"),
                                "--results-dir", str(cpu_runs["results"])],
                               capture_output=True, text=True, env=no_torch)
    assert completed.returncode == 0, completed.stderr
    assert "Geomean" in completed.stdout


def test_the_tools_libraries_load_the_schema_and_never_the_measuring_code(no_torch):
    """Every library of tools/ imported together: the schema is there, torch and benchmarks.measure are not."""
    script = (f"import sys; sys.path.insert(0, {str(TOOLS)!r})\n"
              + "".join(f"import {name}\n" for name in LIBRARIES)
              + "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'benchmarks')))\n")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=no_torch)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "['benchmarks', 'benchmarks.schema']"


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
