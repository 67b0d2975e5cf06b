"""Which torch wheel belongs to which torch commit (tools/torch_wheel_for_commit.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import json5
import pytest
from conftest import REPO_ROOT, run_tool
from lib.wheels import write_wheel

NIGHTLY = "70d99e998b4955e0049d13a98d77ae1b14db1f45"
OTHER = "cf30153c4c131c8164ee7798e5022d810682e2cb"


def fake_wheel(folder, name: str, version_py: str) -> None:
    with zipfile.ZipFile(folder / name, "w") as archive:
        archive.writestr("torch/version.py", version_py)
        archive.writestr("torch/__init__.py", "")


@pytest.fixture
def wheels(tmp_path):
    folder = tmp_path / "wheels"
    folder.mkdir()
    # Both spellings torch has used in version.py.
    fake_wheel(folder, "torch-2.12.0.dev20260101+cu128-cp312-cp312-linux_x86_64.whl",
               f"__version__ = '2.12.0.dev20260101+cu128'\ngit_version = '{NIGHTLY}'\n")
    fake_wheel(folder, "torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl",
               f"__version__: str = '2.13.0+cpu'\ngit_version: str = '{OTHER}'\n")
    fake_wheel(folder, "torch-0.0.0-broken.whl", "no version here\n")
    return folder


def test_finds_the_wheel_by_full_hash_and_prefix(wheels):
    for commit in (NIGHTLY, NIGHTLY[:10]):
        completed = run_tool("torch_wheel_for_commit.py", "--wheels", str(wheels), "--commit", commit)
        assert completed.returncode == 0
        assert completed.stdout.strip().endswith("torch-2.12.0.dev20260101+cu128-cp312-cp312-linux_x86_64.whl")
    completed = run_tool("torch_wheel_for_commit.py", "--commit", OTHER, env={"TORCH_WHEEL_DIR": str(wheels)})
    assert completed.stdout.strip().endswith("torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl")


def test_lists_commits(wheels):
    completed = run_tool("torch_wheel_for_commit.py", "--wheels", str(wheels), "--list")
    assert completed.stdout.splitlines() == [
        f"{NIGHTLY}  torch-2.12.0.dev20260101+cu128-cp312-cp312-linux_x86_64.whl",
        f"{OTHER}  torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl",
    ]


def test_missing_commit_exits_2_with_what_is_there(wheels):
    completed = run_tool("torch_wheel_for_commit.py", "--wheels", str(wheels), "--commit", "deadbeef")
    assert completed.returncode == 2
    assert completed.stderr == (f"error: no torch wheel for commit deadbeef in {wheels}, skipped; "
                                f"wheels there are for: {NIGHTLY[:12]}, {OTHER[:12]}\n")


def test_nightlies_in_a_folder_per_date(tmp_path):
    for day, commit in (("2026-11-23", OTHER), ("2026-11-24", NIGHTLY)):
        (tmp_path / day).mkdir()
        fake_wheel(tmp_path / day, f"torch-2.12.0.dev{day.replace('-', '')}+cpu-cp311-cp311-linux_x86_64.whl",
                   f"git_version = '{commit}'\n")
    completed = run_tool("torch_wheel_for_commit.py", "--wheels", str(tmp_path), "--commit", NIGHTLY[:8])
    expected = tmp_path / "2026-11-24" / "torch-2.12.0.dev20261124+cpu-cp311-cp311-linux_x86_64.whl"
    assert completed.stdout.strip() == str(expected)


def test_an_index_file_names_companion_wheels(wheels):
    (wheels / "triton-3.5.0-cp312-cp312-linux_x86_64.whl").write_bytes(b"")
    (wheels / "torch-wheels.json").write_text(json.dumps(
        {NIGHTLY[:10]: ["torch-2.12.0.dev20260101+cu128-cp312-cp312-linux_x86_64.whl",
                        "triton-3.5.0-cp312-cp312-linux_x86_64.whl"]}))
    completed = run_tool("torch_wheel_for_commit.py", "--wheels", str(wheels), "--commit", NIGHTLY)
    assert completed.stdout.splitlines() == [
        str(wheels / "torch-2.12.0.dev20260101+cu128-cp312-cp312-linux_x86_64.whl"),
        str(wheels / "triton-3.5.0-cp312-cp312-linux_x86_64.whl"),
    ]
    # The index is the whole truth where it exists: the other wheel's commit is not in it.
    missing = run_tool("torch_wheel_for_commit.py", "--wheels", str(wheels), "--commit", OTHER)
    assert missing.returncode == 2 and f"wheels there are for: {NIGHTLY[:10]}\n" in missing.stderr


def test_an_index_naming_a_missing_wheel_is_a_user_error(wheels):
    (wheels / "torch-wheels.json").write_text(json.dumps({NIGHTLY: ["gone.whl"]}))
    completed = run_tool("torch_wheel_for_commit.py", "--wheels", str(wheels), "--commit", NIGHTLY)
    assert completed.returncode == 2
    assert completed.stderr == (f"error: {wheels / 'torch-wheels.json'} names wheels that are not there: "
                                f"{wheels / 'gone.whl'}\n")


@pytest.mark.parametrize("entry", ["not-a-list", [1]])
def test_an_index_whose_entry_is_no_list_of_files_is_a_user_error_in_one_line(wheels, entry):
    (wheels / "torch-wheels.json").write_text(json.dumps({NIGHTLY: entry}))
    completed = run_tool("torch_wheel_for_commit.py", "--wheels", str(wheels), "--commit", NIGHTLY)
    assert completed.returncode == 2
    assert completed.stderr == (f"error: cannot read {wheels / 'torch-wheels.json'}: {NIGHTLY} names no list of "
                                f"wheel files: {entry!r}\n")


def test_the_install_step_swaps_builds_in_a_virtualenv_without_asv(tmp_path):
    """asv's virtualenv has pip and nothing of the suite's: the step installs, skips and removes for real."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    builds = {}
    for commit, version in ((OTHER, "2.13.0"), (NIGHTLY, "2.14.0")):
        (wheels / version).mkdir()
        built = write_wheel(wheels / version, "torch", version, {
            "torch/__init__.py": f"__version__ = '{version}'\n".encode(),
            "torch/version.py": f"git_version = '{commit}'\n".encode()})
        builds[commit] = f"{version}/{built.name}"
    companion = write_wheel(wheels, "slowdown_companion", "1.0", {"slowdown_companion.py": b""}).name
    (wheels / "torch-wheels.json").write_text(json.dumps(
        {OTHER: [builds[OTHER], companion], NIGHTLY: [builds[NIGHTLY]]}))
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "env")], check=True)
    python = str(tmp_path / "env" / "bin" / "python")
    tool = str(REPO_ROOT / "tools" / "torch_wheel_for_commit.py")

    def install(commit: str) -> str:
        completed = subprocess.run([python, tool, "--wheels", str(wheels), "--commit", commit, "--install"],
                                   capture_output=True, text=True)
        assert completed.returncode == 0, completed.stderr
        return completed.stdout.splitlines()[-1]

    def installed() -> str:
        return subprocess.run([python, "-c", "import importlib.util, torch; print(torch.__version__, "
                               "importlib.util.find_spec('slowdown_companion') is not None)"],
                              capture_output=True, text=True, check=True).stdout.strip()

    assert subprocess.run([python, "-c", "import asv"], capture_output=True).returncode != 0
    assert install(OTHER) == "installed: torch-2.13.0-py3-none-any.whl, slowdown_companion-1.0-py3-none-any.whl"
    assert installed() == "2.13.0 True"
    assert install(OTHER) == "installed: nothing new (same wheels as before)"
    assert install(NIGHTLY) == "installed: torch-2.14.0-py3-none-any.whl"
    assert installed() == "2.14.0 False"  # the companion of the other build is gone


def test_the_second_confs_install_command_installs_the_commits_wheel(tmp_path):
    """asv.torch-commits.conf.json's install_command, interpolated by asv itself as it does before each
    commit and run in a fresh virtualenv: that commit's torch wheel (a tiny real one) is what imports."""
    from asv.util import interpolate_command

    conf = json5.loads((REPO_ROOT / "asv.torch-commits.conf.json").read_text())
    assert (conf["environment_type"], conf["build_command"], conf["uninstall_command"]) == ("virtualenv", [], [])
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for commit, version in ((OTHER, "2.13.0"), (NIGHTLY, "2.14.0")):
        write_wheel(wheels, "torch", version, {"torch/__init__.py": f"__version__ = '{version}'\n".encode(),
                                               "torch/version.py": f"git_version = '{commit}'\n".encode()})
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    for commit, version in ((NIGHTLY, "2.14.0"), (OTHER, "2.13.0")):
        (command, env, return_codes, cwd), = [interpolate_command(line, {
            "env_dir": str(env_dir), "conf_dir": str(REPO_ROOT), "commit": commit})
            for line in conf["install_command"]]
        assert cwd == str(env_dir) and command[0] == "python"
        completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={
            **os.environ, **env, "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}", "TORCH_WHEEL_DIR": str(wheels)})
        assert completed.returncode in return_codes, completed.stdout + completed.stderr
        imported = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                                   "import torch, torch.version; print(torch.__version__, torch.version.git_version)"],
                                  capture_output=True, text=True, cwd=tmp_path, check=True).stdout.split()
        assert imported == [version, commit]
