"""Writes that are whole or absent: asv's results land through a staging folder, the night's side files by rename."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, checksums, make_standin_repo, run_tool
from lib import cli

NIGHT_CLASS = "attention_bias.AttentionBiasNightCPU"


def staging_left(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if ".staging-" in p.name]


def test_real_nights_land_through_staging_and_asv_publishes_them(cpu_runs, tmp_path):
    """The three real CPU nights of the session: whole in the machine folder, nothing staged left, published."""
    assert staging_left(cpu_runs["root"]) == []
    machine_dir = cpu_runs["results"] / cpu_runs["machine"]
    for commit in cpu_runs["commits"]:
        assert (machine_dir / f"{commit}.night").is_file() and (machine_dir / f"{commit}.dispatch").is_file()
        assert len(list(machine_dir.glob(f"{commit[:8]}-*.json"))) == 1
    conf = {"version": 1, "project": "attention-bias-benchmarks", "repo": str(cpu_runs["root"] / "repo"),
            "branches": ["main"], "environment_type": "existing", "benchmark_dir": str(REPO_ROOT / "benchmarks"),
            "results_dir": str(cpu_runs["results"]), "html_dir": str(tmp_path / "html"),
            "env_dir": str(tmp_path / "env")}
    (tmp_path / "asv.conf.json").write_text(json.dumps(conf))
    subprocess.run([sys.executable, "-m", "asv", "publish", "--config", str(tmp_path / "asv.conf.json")],
                   check=True, capture_output=True, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    graph = next((tmp_path / "html" / "graphs").rglob(f"{NIGHT_CLASS}.track_wall_time_causal_bias.json"))
    assert len(json.loads(graph.read_text())) == len(cpu_runs["commits"])


@pytest.fixture
def damaging_record(cpu_runs, tmp_path, monkeypatch):
    """record_run.py in this process over a copy of the session's nights, its staged files damaged by
    ``damage(staging_machine_dir, commit)`` after the real asv run and before they land."""
    import record_run

    results = tmp_path / "results"
    shutil.copytree(cpu_runs["results"], results)
    (commit,) = make_standin_repo(tmp_path / "repo", ["damaged"])
    monkeypatch.setenv("HOME", str(cpu_runs["env"]["HOME"]))
    for variable in (record_run.schema.DISPATCH_FILE_VARIABLE, record_run.schema.NIGHT_ONLY_VARIABLE):
        monkeypatch.setenv(variable, "")  # record() sets them: restored afterwards
    original = record_run.record

    def run(damage) -> int:
        def record(args, torch_info, staging, conf_path, commit, grid):
            code = original(args, torch_info, staging, conf_path, commit, grid)
            damage(staging / args.machine, commit)
            return code

        monkeypatch.setattr(record_run, "record", record)
        return cli.run_tool(record_run.main, ["--grid", "cpu", "--repo", str(tmp_path / "repo"), "--commit", commit,
                                              "--results-dir", str(results), "--machine", cpu_runs["machine"]])

    return {"run": run, "results": results, "commit": commit, "machine_dir": results / cpu_runs["machine"]}


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # what a full disk leaves of asv's write


def infinite(path: Path) -> None:
    """A value no tool could judge, in a file that parses as JSON: asv writes Infinity for float('inf')."""
    data = json.loads(path.read_text())
    name = next(name for name in data["results"] if ".track_wall_time_" in name)
    data["results"][name][0][0] = math.inf
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("damage", [truncated, infinite])
def test_a_damaged_staged_night_never_lands_and_the_earlier_nights_stay_byte_identical(damaging_record, capsys,
                                                                                        damage):
    results, commit = damaging_record["results"], damaging_record["commit"]
    before = checksums(results)
    code = damaging_record["run"](lambda staged, commit: damage(next(staged.glob(f"{commit[:8]}-*.json"))))
    assert code == cli.TOOL_FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "does not parse" in err and f"{commit[:8]}-" in err and "side files held back" in err
    assert checksums(results) == before  # no file of the damaged night, every earlier one unchanged
    assert staging_left(results.parent) == []
    checked = run_tool("check_regressions.py", "--results-dir", str(results))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def not_an_object(path: Path) -> None:
    """JSON that parses, but not the object every reader of a side file takes."""
    path.write_text(json.dumps([json.loads(path.read_text())]))


@pytest.mark.parametrize("damage", [truncated, not_an_object])
def test_a_damaged_side_file_is_left_out_and_its_night_lands(damaging_record, capsys, damage):
    machine_dir, commit = damaging_record["machine_dir"], damaging_record["commit"]
    code = damaging_record["run"](lambda staged, commit: damage(staged / f"{commit}.night"))
    assert code == cli.TOOL_FAILED
    assert f"does not parse: {machine_dir.name}/{commit}.night" in capsys.readouterr().err
    assert not (machine_dir / f"{commit}.night").exists()
    assert (machine_dir / f"{commit}.dispatch").is_file() and list(machine_dir.glob(f"{commit[:8]}-*.json"))


def test_a_staging_folder_left_by_a_killed_record_is_cleared_by_the_next(tmp_path):
    from lib import recording

    results = tmp_path / "results"
    results.mkdir()
    stale = tmp_path / f".results.ci{recording.STAGING}killed"
    other = tmp_path / f".results.other{recording.STAGING}running"
    for folder in (stale, other):
        (folder / "ci").mkdir(parents=True)
    with recording.staging_folder(results, "ci") as staging:
        assert staging.parent == tmp_path and not stale.exists() and other.is_dir()
    assert not staging.exists() and other.is_dir()  # another machine's record is not this one's to clear


def test_the_nights_side_files_are_written_whole_or_not_at_all(tmp_path):
    """A write that fails half-way (here: text that cannot be encoded) leaves the file as it was; the night's
    side files and the tools' files go through the same writer."""
    from lib import cli
    from lib.suite import write_whole

    sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.measure import night

    assert night.write_whole is cli.write_whole is write_whole

    path = tmp_path / "commit.night"
    path.write_text('{"seconds": 1.0}')
    with pytest.raises(UnicodeEncodeError):
        write_whole(path, '{"seconds": "' + "x" * 100_000 + "\ud800" + '"}')
    assert path.read_text() == '{"seconds": 1.0}' and [p.name for p in tmp_path.iterdir()] == ["commit.night"]
    write_whole(path, '{"seconds": 2.0}')
    assert json.loads(path.read_text()) == {"seconds": 2.0}


def test_a_results_folder_on_another_filesystem_gets_its_night_whole(damaging_record, monkeypatch):
    """A results folder that is a mount point: renaming from the staging folder beside it fails (EXDEV), and
    every night was lost. Each file is copied beside its place and renamed there."""
    from lib import recording

    renamed = os.replace

    def across_filesystems(source, destination) -> None:
        if Path(source).parent.parent != Path(destination).parent.parent:  # staging -> results: another disk
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        renamed(source, destination)

    monkeypatch.setattr(recording.os, "replace", across_filesystems)
    assert damaging_record["run"](lambda machine_dir, commit: None) == 0
    landed = sorted(p.name for p in damaging_record["machine_dir"].iterdir()
                    if damaging_record["commit"] in p.name or p.name.startswith(damaging_record["commit"][:8]))
    commit = damaging_record["commit"]
    assert [name for name in landed if not name.endswith(".json")] == [f"{commit}.dispatch", f"{commit}.night"]
    assert len([name for name in landed if name.endswith(".json")]) == 1
    assert not [p for p in damaging_record["machine_dir"].iterdir() if recording.STAGING in p.name]
