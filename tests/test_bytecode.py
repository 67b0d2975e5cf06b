"""The suite's processes keep their bytecode where the machine asks Python to write none (lib/bytecode.py)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, make_standin_repo, run_tool
from lib import bytecode, recording
from lib.remeasure import Worker

PREFIX, NO_BYTECODE = bytecode.BYTECODE_PREFIX_VARIABLE, bytecode.NO_BYTECODE_VARIABLE


def cached(folder: Path, source: Path) -> Path:
    """Where Python with PYTHONPYCACHEPREFIX=``folder`` keeps the bytecode of ``source`` (importlib's own rule)."""
    prefix, sys.pycache_prefix = sys.pycache_prefix, str(folder)
    try:
        return Path(importlib.util.cache_from_source(str(source)))
    finally:
        sys.pycache_prefix = prefix


def test_a_machine_that_writes_no_bytecode_gets_the_suites_folder():
    environ = bytecode.child_environment({NO_BYTECODE: "1", "HOME": "/h"})
    assert environ == {PREFIX: str(REPO_ROOT / ".asv" / "bytecode"), "HOME": "/h"}


def test_a_folder_the_user_named_is_left_as_it_is_flag_and_all():
    given = {NO_BYTECODE: "1", PREFIX: "/mine"}
    assert bytecode.child_environment(given) == given


def test_an_empty_folder_name_is_none_as_python_reads_it():
    environ = bytecode.child_environment({NO_BYTECODE: "1", PREFIX: ""})
    assert environ == {PREFIX: str(REPO_ROOT / ".asv" / "bytecode")}


@pytest.mark.parametrize("given", [{}, {NO_BYTECODE: ""}, {PREFIX: ""}])
def test_without_the_flag_python_writes_its_own(given):
    assert bytecode.child_environment(given) == given


def test_the_default_is_this_process_environment_and_it_stays_as_it_was(monkeypatch):
    monkeypatch.setenv(NO_BYTECODE, "1")
    monkeypatch.delenv(PREFIX, raising=False)
    assert bytecode.child_environment()[PREFIX] == str(bytecode.BYTECODE_FOLDER)
    assert os.environ[NO_BYTECODE] == "1" and PREFIX not in os.environ


@pytest.fixture
def python_telling_its_folder(tmp_path, monkeypatch) -> str:
    """A stand-in Python on a machine that writes no bytecode: it answers the torch probe with its environment's
    bytecode folder as the torch's version and device."""
    monkeypatch.setenv(NO_BYTECODE, "1")
    monkeypatch.delenv(PREFIX, raising=False)
    python = tmp_path / "python"
    python.write_text(f"#!{sys.executable}\nimport json, os\nfolder = os.environ.get({PREFIX!r})\n"
                      f"print(json.dumps({{key: folder for key in {recording.PROBE_KEYS!r}}}))\n")
    python.chmod(0o755)
    return str(python)


def test_the_torch_probe_of_the_recorder_and_the_injector_gets_the_folder(python_telling_its_folder):
    import inject

    assert recording.probe_torch(python_telling_its_folder)["version"] == str(bytecode.BYTECODE_FOLDER)
    assert inject.cuda_device(python_telling_its_folder) == str(bytecode.BYTECODE_FOLDER)


def test_a_re_measurement_worker_writes_its_bytecode_to_the_folder(monkeypatch):
    monkeypatch.setenv(NO_BYTECODE, "1")
    monkeypatch.delenv(PREFIX, raising=False)
    measuring_code = cached(bytecode.BYTECODE_FOLDER, REPO_ROOT / "benchmarks" / "measure" / "model.py")
    measuring_code.unlink(missing_ok=True)
    worker = Worker("baseline", sys.executable)
    worker.start()
    try:
        worker.ready()
    finally:
        worker.stop()
    assert measuring_code.is_file()


def test_a_night_on_such_a_machine_writes_the_measuring_code_s_bytecode_to_the_folder(tmp_path, monkeypatch):
    """The setup_cache process (asv's, under asv's forkserver) is the one that imports the night's code."""
    monkeypatch.setenv(NO_BYTECODE, "1")
    monkeypatch.delenv(PREFIX, raising=False)
    night_code = cached(bytecode.BYTECODE_FOLDER, REPO_ROOT / "benchmarks" / "measure" / "night.py")
    night_code.unlink(missing_ok=True)
    commit, = make_standin_repo(tmp_path / "repo", ["night"])
    (tmp_path / "home").mkdir()
    completed = run_tool("record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit", commit,
                         "--results-dir", str(tmp_path / "results"), "--machine", "ci-cpu",
                         env={"HOME": str(tmp_path / "home")})
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert night_code.is_file()
