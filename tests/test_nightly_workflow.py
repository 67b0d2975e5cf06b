"""The example nightly workflow is valid YAML and names only commands that exist."""

from __future__ import annotations

import re

import yaml
from conftest import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "nightly.yml"


def load() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_is_valid_yaml_with_a_nightly_schedule():
    workflow = load()
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert triggers["schedule"][0]["cron"] == "0 4 * * *"
    steps = workflow["jobs"]["nightly"]["steps"]
    assert any("tools/nightly.py" in step.get("run", "") for step in steps)
    # Only a regression (exit 1) opens an issue; 2 and 3, a broken input or tool, only fail the job.
    assert workflow["jobs"]["open-issue"]["if"] == "needs.nightly.outputs.code == '1'"
    assert any("gh issue create" in step.get("run", "") for step in workflow["jobs"]["open-issue"]["steps"])


def test_the_job_that_runs_the_nightly_torch_can_write_nothing_and_keeps_no_credentials():
    workflow = load()
    assert workflow["permissions"] == {}
    night = workflow["jobs"]["nightly"]
    assert night["permissions"] == {"contents": "read"}
    checkouts = [step for step in night["steps"] if step.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 2 and all(step["with"]["persist-credentials"] is False for step in checkouts)
    assert "github.token" not in yaml.safe_dump(night)
    writers = {name: job["permissions"] for name, job in workflow["jobs"].items() if name != "nightly"}
    assert writers == {"keep-results": {"contents": "write"}, "open-issue": {"issues": "write"},
                       "pages": {"pages": "write", "id-token": "write"}}


def test_every_action_is_pinned_to_a_commit():
    uses = re.findall(r"uses: ([\w./-]+)@(\S+)", WORKFLOW.read_text())
    assert uses and all(re.fullmatch(r"[0-9a-f]{40}", ref) for _, ref in uses), uses


def test_names_only_commands_that_exist():
    text = WORKFLOW.read_text()
    for script in re.findall(r"tools/[\w.]+\.py", text):
        assert (REPO_ROOT / script).is_file(), script
    for target in re.findall(r"make (\w+)", text):
        assert re.search(rf"^{target}:", (REPO_ROOT / "Makefile").read_text(), re.M), target
