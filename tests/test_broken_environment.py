"""A tool whose packages cannot be imported is a broken job (exit 3, one line), never a finding (exit 1).

Python exits 1 on an error it was not given to handle, and 1 is check_regressions.py's regression: a nightly
whose environment lost numpy must not report a regression (lib/cli.py, ``importing``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import TOOLS

TOOL_SCRIPTS = sorted(p.name for p in TOOLS.glob("*.py"))
# What the tools import beyond the standard library (requirements.txt, less torch, which they never import).
PACKAGES = ("asv", "filelock", "json5", "numpy", "tabulate")
# The tools that run in asv's bare per-commit virtualenv or before any package is installed.
STANDARD_LIBRARY_ONLY = ("localize_pages.py", "torch_wheel_for_commit.py")
ERRORS = {"missing": "ImportError('No module named {name!r}')", "broken": "RuntimeError('{name} is broken')"}


@pytest.fixture(params=sorted(ERRORS))
def broken_packages(request, tmp_path) -> dict[str, str]:
    """A PYTHONPATH on which each package's import fails: missing, or raising an error of its own."""
    for name in PACKAGES:
        (tmp_path / f"{name}.py").write_text(f"raise {ERRORS[request.param].format(name=name)}\n")
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


@pytest.mark.parametrize("script", TOOL_SCRIPTS)
def test_a_tool_that_cannot_import_its_packages_is_a_broken_job(script, broken_packages):
    completed = subprocess.run([sys.executable, str(TOOLS / script), "--help"],
                               capture_output=True, text=True, env=broken_packages)
    if script in STANDARD_LIBRARY_ONLY:
        assert completed.returncode == 0, completed.stderr
        return
    assert completed.returncode == 3, completed.stderr
    assert completed.stdout == ""
    line, = completed.stderr.splitlines()
    assert line.startswith("failed: cannot import what the tool needs: ")
    assert line.endswith("(a fault of the environment or the tool, not a finding)")
