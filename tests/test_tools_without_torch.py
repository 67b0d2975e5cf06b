"""The tools never import torch or the benchmarks: they run where no torch is installed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import TOOLS

# The command-line tools; the libraries they share (results reader, statistics, confirmation) have no main.
TOOL_SCRIPTS = sorted(p.name for p in TOOLS.glob("*.py") if "def main(" in p.read_text())


@pytest.fixture
def no_torch(tmp_path):
    """A PYTHONPATH on which `import torch` (and `import benchmarks`) fails loudly."""
    for name in ("torch", "benchmarks"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('the tools must not import {name}')\n")
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
