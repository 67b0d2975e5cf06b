"""asv's configuration and machine file as the tools need them, and asv run as a subprocess.

A tool that runs asv starts from one of the repository's confs, with absolute
paths and its own overrides (repo, results, html), and describes the machine
with every field asv detects, the GPU added.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import json5
from filelock import FileLock

from lib.bytecode import child_environment
from lib.cli import ToolError, read_json_object, write_whole
from lib.suite import REPO_ROOT
from lib.supervisor import ending_signal, relayed


def gpu_description(torch_info: dict) -> str | None:
    """'NVIDIA H100 80GB HBM3, 79.2 GiB, driver 580.159.04, CUDA 13.0', or None without a GPU."""
    if not torch_info.get("device"):
        return None
    parts = [torch_info["device"], f"{torch_info['memory_gib']:.1f} GiB"]
    if torch_info.get("driver"):
        parts.append(f"driver {torch_info['driver']}")
    parts.append(f"CUDA {torch_info['cuda_version']}")
    return ", ".join(parts)


def machine_description(torch_info: dict) -> dict[str, str]:
    """asv's own detection of this machine (os, arch, cpu, num_cpu, ram), the GPU added to arch.

    asv's machine file has no GPU field: the GPU goes into "arch", which the
    published pages show with the machine.
    """
    from asv.machine import Machine

    detected = {key: value for key, value in Machine.get_defaults().items() if key != "machine"}
    gpu = gpu_description(torch_info)
    if gpu:
        detected["arch"] = f"{detected['arch']} + {gpu}"
    return detected


def machine_file() -> Path:
    """~/.asv-machine.json, where asv keeps every machine's description."""
    from asv.machine import MachineCollection

    return Path(MachineCollection.get_machine_file_path())


def read_machines(path: Path) -> dict:
    """The machines a machine file describes; none where it is missing or damaged."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return {key: value for key, value in data.items() if key != "version"} if isinstance(data, dict) else {}


def describe_machine(name: str, torch_info: dict) -> None:
    """Write the machine's entry in ~/.asv-machine.json with every field asv detects, the GPU added.

    Every field: `asv machine --yes --machine NAME` keeps only those that differ from its
    detection, so the pages would show the machine without them. Whole and under a lock: asv's
    own save rewrites the file in place, and two records at once read each other's half-written file.
    """
    path = machine_file()
    with FileLock(f"{path}.lock"):
        machines = read_machines(path) | {name: {"machine": name, **machine_description(torch_info)}}
        write_whole(path, json.dumps({**machines, "version": 1}, indent=4, sort_keys=True))


@contextlib.contextmanager
def private_machine_file(folder: Path) -> Iterator[Path]:
    """A copy of ~/.asv-machine.json for one asv command: asv rewrites its machine file in place at
    every run, and a run that reads another's half-written one fails ("No information stored")."""
    home = machine_file()
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="asv-machine.", suffix=".json", dir=folder)
    try:
        with FileLock(f"{home}.lock"):
            machines = read_machines(home)
        with os.fdopen(handle, "w") as out:
            json.dump({**machines, "version": 1}, out)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def known_machine(name: str) -> bool:
    """Whether ~/.asv-machine.json already describes the machine (record_run.py puts the GPU there)."""
    from asv.machine import MachineCollection
    from asv.util import UserError

    try:
        MachineCollection.load(name)
    except (UserError, OSError, ValueError):
        return False
    return True


def read_conf(conf_path: Path) -> dict:
    """An asv conf file as asv reads it (JSON with comments), or one line saying why it cannot be read."""
    return read_json_object(conf_path, "cannot read", json5.loads)


# asv's defaults for the paths a conf names, each relative to the conf's own folder.
PATH_DEFAULTS = {"repo": ".", "benchmark_dir": "benchmarks", "results_dir": "results", "html_dir": "html",
                 "env_dir": "env"}


def conf_dir_path(conf_path: Path, conf: dict, key: str) -> Path:
    """The path the conf names for ``key`` (one of PATH_DEFAULTS), absolute, as asv resolves it."""
    return (conf_path.parent / conf.get(key, PATH_DEFAULTS[key])).resolve()


def derived_conf(conf_path: Path, repo: Path | None, results_dir: Path | None,
                 html_dir: Path | None, out_dir: Path, overrides: dict | None = None) -> tuple[Path, dict]:
    """A copy of asv.conf.json with absolute paths and the given overrides (``overrides``: any key).

    asv resolves a conf's paths from the conf's own folder, so the copy holds
    absolute ones and can live anywhere.
    """
    conf = read_conf(conf_path)
    base = conf_path.parent.resolve()
    for key in PATH_DEFAULTS:
        conf[key] = str(conf_dir_path(conf_path, conf, key))
    for key, override in (("repo", repo), ("results_dir", results_dir), ("html_dir", html_dir)):
        if override is not None:
            conf[key] = str(Path(override).resolve())
    # The commands' {conf_dir} means the original conf's folder (the repository), not the copy's.
    for key in ("install_command", "uninstall_command", "build_command"):
        if isinstance(conf.get(key), list):
            conf[key] = [command.replace("{conf_dir}", str(base)) for command in conf[key]]
    conf.update(overrides or {})
    out_dir.mkdir(parents=True, exist_ok=True)
    # One copy per run: two runs at once never read each other's conf.
    handle, name = tempfile.mkstemp(prefix="asv.conf.", suffix=".json", dir=out_dir)
    with os.fdopen(handle, "w") as out:
        json.dump(conf, out, indent=2)
    return Path(name), conf


def git_commit(repo: Path, name: str) -> str | None:
    """The full hash git gives ``name`` (a hash prefix, ``HEAD^``, a tag) in ``repo``; None where it gives none."""
    found = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", "--end-of-options",
                            f"{name}^{{commit}}"], capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else None


# asv run's exit code when it ran and saved results but some benchmarks failed:
# failures are per parameter set, the run is recorded all the same.
ASV_SOME_FAILED = 2


# `python -m asv` with its machine file where ATTENTION_BIAS_ASV_MACHINE_FILE says (asv has no option for it).
ASV_MAIN = """
import os, sys
sys.path[0] = os.getcwd()  # as -m puts it: asv changes folder before it loads the conf's plugins from here
import asv.machine
path = os.environ.pop("ATTENTION_BIAS_ASV_MACHINE_FILE")
asv.machine.MachineCollection.get_machine_file_path = staticmethod(lambda: path)
sys.argv[0] = "asv"
from asv.main import main
main()
"""


def asv(*args: str, conf: Path, allowed: tuple[int, ...] = (0,), lines: list[str] | None = None) -> int:
    """Run an asv command, its output going to ours (and into ``lines`` when given).

    From the repository's root: asv loads the conf's plugins from the current folder.
    Under the supervisor: nothing of it outlives this process. With a machine file of its own.
    """
    shown = [sys.executable, "-m", "asv", *args, "--config", str(conf)]
    with private_machine_file(conf.parent) as machines:
        env = {**child_environment(), "ATTENTION_BIAS_ASV_MACHINE_FILE": str(machines)}
        returncode = relayed([sys.executable, "-c", ASV_MAIN, *args, "--config", str(conf)], REPO_ROOT, env, lines)
    if returncode not in allowed:
        signalled = ending_signal(returncode)
        if signalled is not None:
            raise AsvEnded(f"asv {args[0]} was ended by signal {signalled} (killed, or out of "
                           f"memory): {' '.join(shown)}")
        raise ToolError(f"asv {args[0]} exited with {returncode}: {' '.join(shown)}")
    return returncode


class AsvEnded(Exception):
    """asv ended by a signal: the machine's or the job's fault (exit 3), never the user's (exit 2)."""
