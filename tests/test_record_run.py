"""tools/record_run.py: what it refuses."""

from __future__ import annotations

import json

from conftest import make_standin_repo, run_tool
from results_factory import write_run


def test_recording_at_a_commit_missing_from_the_clone_exits_2(tmp_path):
    make_standin_repo(tmp_path / "clone", ["one"])
    completed = run_tool("record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "clone"),
                         "--commit", "70d99e998b4955e0049d13a98d77ae1b14db1f45",
                         "--results-dir", str(tmp_path / "results"), env={"HOME": str(tmp_path)})
    assert completed.returncode == 2
    assert completed.stderr == (
        f"error: commit 70d99e998b49 is not in {tmp_path / 'clone'}: update the clone "
        f"(git -C {tmp_path / 'clone'} fetch --filter=blob:none origin) and run again\n")


def test_a_commit_missing_from_the_suites_own_repository_says_what_to_pass(tmp_path):
    """Without --repo the suite's own history labels the night: no fetch brings torch's commit into it."""
    import torch

    at_torch = run_tool("record_run.py", "--grid", "cpu", "--at-torch-commit", "--results-dir",
                        str(tmp_path / "results"), env={"HOME": str(tmp_path)})
    assert (at_torch.returncode, at_torch.stdout) == (2, "")
    assert at_torch.stderr == (f"error: torch's commit {torch.version.git_version[:12]} is not in this suite's "
                               "repository: pass --repo with a PyTorch clone\n")
    typo = run_tool("record_run.py", "--grid", "cpu", "--commit", "nosuch", "--results-dir",
                    str(tmp_path / "results"), env={"HOME": str(tmp_path)})
    assert (typo.returncode, typo.stdout) == (2, "")
    assert typo.stderr.startswith("error: commit nosuch is not in ")  # a shallow clone of the suite: fetch


def test_gpu_description_for_the_machine_file():
    from lib.conf import gpu_description

    h100 = {"device": "NVIDIA H100 80GB HBM3", "memory_gib": 79.6474609375, "driver": "580.159.04",
            "cuda_version": "13.0"}
    assert gpu_description(h100) == "NVIDIA H100 80GB HBM3, 79.6 GiB, driver 580.159.04, CUDA 13.0"
    assert gpu_description({**h100, "driver": None}) == "NVIDIA H100 80GB HBM3, 79.6 GiB, CUDA 13.0"
    assert gpu_description({"device": None, "cuda_version": None}) is None


def test_at_torch_commit_uses_the_probed_torch(tmp_path):
    """--at-torch-commit labels the run with torch.version.git_version, checked against the clone."""
    import torch

    make_standin_repo(tmp_path / "clone", ["one"])
    completed = run_tool("record_run.py", "--grid", "cpu", "--repo", str(tmp_path / "clone"), "--at-torch-commit",
                         "--results-dir", str(tmp_path / "results"), env={"HOME": str(tmp_path)})
    assert completed.returncode == 2
    assert f"error: commit {torch.version.git_version[:12]} is not in {tmp_path / 'clone'}" in completed.stderr


def test_machine_description_has_asv_detection_and_the_gpu():
    from lib.conf import machine_description

    cpu_only = machine_description({"device": None, "cuda_version": None})
    assert set(cpu_only) == {"os", "arch", "cpu", "num_cpu", "ram"}
    h100 = {"device": "NVIDIA H100 80GB HBM3", "memory_gib": 79.6, "driver": None, "cuda_version": "13.0"}
    assert machine_description(h100)["arch"] == cpu_only["arch"] + " + NVIDIA H100 80GB HBM3, 79.6 GiB, CUDA 13.0"


def test_torch_commits_keeps_the_gpu_description_and_describes_only_a_new_machine(tmp_path, monkeypatch):
    """record_run.py put h100's GPU into ~/.asv-machine.json; torch_commits.py (which probes no torch)
    must keep it, and describe a machine it has never seen from asv's detection alone."""
    from asv.machine import MachineCollection
    from lib.conf import describe_machine, known_machine, machine_description

    monkeypatch.setenv("HOME", str(tmp_path))
    (commit,) = make_standin_repo(tmp_path / "clone", ["one"])
    h100 = {"device": "NVIDIA H100 80GB HBM3", "memory_gib": 79.6, "driver": None, "cuda_version": "13.0"}
    assert not known_machine("h100")
    describe_machine("h100", h100)  # as record_run.py does
    walls = {"track_wall_time_materialized": [2e-6] * 4, "track_wall_time_causal_bias": [1e-6] * 4}
    for machine in ("h100", "fresh"):
        write_run(tmp_path / "results", machine, commit, 1_000, walls)
        completed = run_tool("torch_commits.py", "--repo", str(tmp_path / "clone"), "--machine", machine,
                             "--results-dir", str(tmp_path / "results"), "--html-dir", str(tmp_path / "html"),
                             "publish", env={"HOME": str(tmp_path)})
        assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    detected = machine_description({"device": None, "cuda_version": None})
    assert MachineCollection.load("h100")["arch"] == detected["arch"] + " + NVIDIA H100 80GB HBM3, 79.6 GiB, CUDA 13.0"
    fresh = MachineCollection.load("fresh")
    assert {key: fresh[key] for key in detected} == detected  # asv's detection, every field, no GPU


def test_recorded_machine_file_has_every_field(cpu_runs):
    machine = json.loads((cpu_runs["results"] / "ci-cpu" / "machine.json").read_text())
    assert {"os", "arch", "cpu", "num_cpu", "ram"} <= set(machine) and machine["machine"] == "ci-cpu"
