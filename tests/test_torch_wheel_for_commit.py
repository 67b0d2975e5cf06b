"""Which torch wheel belongs to which torch commit (tools/torch_wheel_for_commit.py)."""

from __future__ import annotations

import json
import zipfile

import json5
import pytest
from conftest import REPO_ROOT, run_tool

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
    assert completed.stderr == (f"error: no torch wheel for commit deadbeef in {wheels}; "
                                f"wheels there are for: {NIGHTLY[:12]}, {OTHER[:12]}\n")


def test_second_conf_installs_through_the_tool():
    conf = json5.loads((REPO_ROOT / "asv.torch-commits.conf.json").read_text())
    assert conf["environment_type"] == "virtualenv" and conf["build_command"] == []
    assert "tools/torch_wheel_for_commit.py --commit {commit} --install" in conf["install_command"][0]
    assert (REPO_ROOT / "tools" / "torch_wheel_for_commit.py").is_file()
    json.dumps(conf)
