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
    opener = next(step for step in steps if "gh issue create" in step.get("run", ""))
    assert opener["if"] == "steps.nightly.outputs.code == '1'"


def test_names_only_commands_that_exist():
    text = WORKFLOW.read_text()
    for script in re.findall(r"tools/[\w.]+\.py", text):
        assert (REPO_ROOT / script).is_file(), script
    for target in re.findall(r"make (\w+)", text):
        assert re.search(rf"^{target}:", (REPO_ROOT / "Makefile").read_text(), re.M), target
