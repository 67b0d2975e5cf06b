"""A night recorded into a results folder: asv runs it into a staging folder beside the results, the
night's figures are added to asv's results there (night_figures.py), and only what parses lands, side files
first. record_run.py records one commit so; torch_commits.py run, each commit of a range.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from asv.results import Results
from filelock import FileLock, Timeout

from lib.bytecode import child_environment
from lib.cli import MACHINE_WRITE_ERRORS, ToolError, one_line, read_json_object, write_whole
from lib.conf import ASV_SOME_FAILED, asv
from lib.night_figures import NightFiguresError, figures_path, forked_pattern, record_night_figures
from lib.results import BENCHMARKS_FILE, MACHINE_FILE, NIGHT, ResultsStore, read_results, side_file
from lib.rows import has_results
from lib.suite import schema


@contextlib.contextmanager
def one_record_at_a_time(machine_dir: Path) -> Iterator[None]:
    """A lock on the machine's results folder: a second record into it is refused, not interleaved."""
    try:
        machine_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(machine_dir / ".record.lock"))
        lock.acquire(timeout=0)
    except Timeout:
        raise ToolError(f"another record is running into {machine_dir}; wait for it to end") from None
    except OSError as error:
        if error.errno in MACHINE_WRITE_ERRORS:
            raise  # the machine's fault, not the user's: exit 3
        raise ToolError(f"cannot write into {machine_dir}: {one_line(error)}") from None
    try:
        yield
    finally:
        lock.release()


class StagingError(Exception):
    """A file asv or the night wrote does not parse: left out of the results, the tool's own failure (exit 3)."""


STAGING = ".staging-"


@contextlib.contextmanager
def staging_folder(results_dir: Path, machine: str) -> Iterator[Path]:
    """A folder beside the results folder (outside the tree asv publish walks; the same filesystem but where
    the results folder is a mount point: ``moved``) that asv writes into; removed afterwards. Under the
    machine's lock: a staging folder of this machine left by a record killed earlier is this project's own
    and goes."""
    prefix = f".{results_dir.name}.{machine}{STAGING}"
    for stale in results_dir.parent.glob(f"{prefix}*"):
        shutil.rmtree(stale, ignore_errors=True)
    try:
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=results_dir.parent))
    except OSError as error:
        if error.errno in MACHINE_WRITE_ERRORS:
            raise
        raise ToolError(f"cannot write beside {results_dir}: {one_line(error)}") from None
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


TORCH_PROBE = """
import json, subprocess, torch
cuda = torch.cuda.is_available()
driver = None
if cuda:
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True).stdout.split()[0]
    except (OSError, IndexError):
        pass
print(json.dumps({
    "version": torch.__version__,
    "git_version": torch.version.git_version,
    "cuda": cuda,
    "cuda_version": torch.version.cuda,
    "device": torch.cuda.get_device_name(0) if cuda else None,
    "memory_gib": torch.cuda.get_device_properties(0).total_memory / 2**30 if cuda else None,
    "driver": driver,
}))
"""


PROBE_KEYS = ("version", "git_version", "cuda", "cuda_version", "device", "memory_gib", "driver")  # TORCH_PROBE's


def probe_torch(python: str) -> dict:
    """The torch of ``python``: version, git commit, whether it sees CUDA (in a subprocess)."""
    try:
        done = subprocess.run([python, "-c", TORCH_PROBE], capture_output=True, text=True, env=child_environment())
    except OSError as error:
        raise ToolError(f"cannot start {python}: {one_line(error)}") from None
    if done.returncode:  # the traceback's last line says why
        raise NoTorch(python, (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1])
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as error:
        raise NoTorch(python, one_line(error)) from None
    if not (isinstance(answer, dict) and set(PROBE_KEYS) <= answer.keys()):
        raise NoTorch(python, f"its answer is not the probe's ({', '.join(PROBE_KEYS)}): {str(answer)[:80]}")
    return answer


class NoTorch(ToolError):
    """A Python whose torch does not import (``why``: the error's last line)."""

    def __init__(self, python: str, why: str) -> None:
        super().__init__(f"cannot import torch with {python}: {why}")
        self.why = why


# The suffix of a results file set aside because it did not read, where a run lands in its place (move_aside).
UNREADABLE = ".unreadable"


def staged_conf(conf_path: Path, conf: dict, staging: Path, machine: str, commit: str) -> None:
    """Point the run's conf copy at the staging folder, with the commit's results already there:
    asv merges a run into an existing results file of the same commit (a --bench of a few)."""
    write_whole(conf_path, json.dumps({**conf, "results_dir": str(staging)}, indent=2))
    (staging / machine).mkdir()
    for earlier in (Path(conf["results_dir"]) / machine).glob(f"{commit[:8]}-*.json"):
        if parses(earlier):  # one that does not is set aside where this run lands over it (land)
            shutil.copy2(earlier, staging / machine / earlier.name)
            # asv keeps one result per commit and environment: a second night of one commit and Python replaces
            # the first's values; of another Python, it lands beside it, and the tools read the newer.
            print(f"note: {earlier.name} already holds a run of commit {commit[:8]} on {machine!r}: this run's "
                  "values replace its values where it is of the same Python (asv keeps one result per commit and "
                  "environment), else the tools read this run's; the night's side files are this run's",
                  flush=True)


def free_name(path: Path, suffix: str) -> Path:
    """``path`` with ``suffix`` added, numbered where that name is taken (an earlier one set aside)."""
    names = (path.with_name(f"{path.name}{'' if n == 1 else f'.{n}'}{suffix}") for n in itertools.count(1))
    return next(name for name in names if not name.exists())


def parses(path: Path) -> bool:
    """Whether a staged file reads back: a results file as the tools read it (lib.results, which refuses what
    no tool could judge), any other as the JSON object every reader of a side file takes (lib.cli)."""
    try:
        if path.suffix == ".json" and path.name not in (MACHINE_FILE, BENCHMARKS_FILE):
            read_results(path)
        else:
            read_json_object(path, "corrupt")
    except (ToolError, OSError, ValueError, RecursionError):
        return False
    return True


def land(staging: Path, results_dir: Path, machine: str) -> None:
    """Move what asv and the night wrote into the results folder, each file only once it parses.

    Side files first, the night's results last: a results file in the folder has its side files
    beside it. A damaged results file holds its night's side files back with it.
    """
    staged = [path for path in (staging / machine).iterdir() if not path.name.startswith(".")]
    shared = [staging / BENCHMARKS_FILE] if (staging / BENCHMARKS_FILE).exists() else []
    sides = [p for p in staged if p.suffix != ".json" or p.name == MACHINE_FILE]
    runs = [p for p in staged if p not in sides]
    damaged = [path for path in shared + staged if not parses(path)]
    night_lost = any(path in damaged for path in runs)
    for path in shared + sides + runs:
        held_back = night_lost and path.suffix != ".json"  # the side files of a night that did not land
        if path not in damaged and not held_back:
            destination = results_dir / path.relative_to(staging)
            if path in runs and destination.exists() and not parses(destination):
                move_aside(destination)
            moved(path, destination)
    if damaged:
        names = ", ".join(str(path.relative_to(staging)) for path in damaged)
        raise StagingError(f"left out of {results_dir}, does not parse: {names}"
                           + ("; the night's side files held back with it" if night_lost else ""))


def move_aside(results_file: Path) -> None:
    """A results file that does not read, where a run of its commit and environment lands: kept under a name no
    reader globs (a file cut short by a full disk), never written over."""
    aside = free_name(results_file, UNREADABLE)
    results_file.rename(aside)
    print(f"note: {results_file.name} does not read: kept as {aside.name}, which no tool reads; this run's "
          "results land in its place", flush=True)


def moved(source: Path, destination: Path) -> None:
    """``source`` renamed onto ``destination`` at once; where the results folder is another filesystem than
    its parent's staging folder (a mount point), copied beside the destination first, then renamed there:
    never half a file under the destination's name."""
    try:
        os.replace(source, destination)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        landing = destination.with_name(f".{destination.name}{STAGING}")
        shutil.copy2(source, landing)
        os.replace(landing, destination)
        source.unlink()


# Free bytes below which a failed asv run is put down to a full disk, the machine's fault (exit 3).
FULL_DISK_BYTES = 1 << 20


def space_left(folder: Path) -> None:
    """After asv failed: where the disk it wrote to is full, say that (exit 3), not asv's exit code (exit 2)."""
    if shutil.disk_usage(folder).free < FULL_DISK_BYTES:
        raise OSError(errno.ENOSPC, f"no space left beside {folder}: asv could not write the night")


# What --grid takes where a night is recorded: a grid by name, or auto (the tool's own rule for this machine).
GRID_CHOICES = ("auto", *schema.GRIDS_BY_NAME)


class NothingMeasured(Exception):
    """asv ran the night and every result failed: a broken job (exit 3), never a night; of a range, every
    commit."""


class NoNight(NightFiguresError):
    """asv left no results of the night (its output says why): nothing to record the figures into."""


def record_night(conf_path: Path, staging: Path, machine: str, commit: str, grid: schema.Grid,
                 where: Sequence[str], bench: str | None = None, extra: Sequence[str] = ()) -> int:
    """asv's run of the grid's night at ``commit`` into ``staging`` (``staged_conf``), its figures recorded with
    it; ``where``: asv run's arguments that give the commit and environment; ``bench``: asv's own --bench
    instead, each figure forked. asv's exit code, ASV_SOME_FAILED where a recorded figure failed."""
    # The night's setup_cache writes each config's operator and kernel names, its visits and its figures there.
    dispatch = side_file(staging / machine, commit, schema.DISPATCH_SUFFIX)
    os.environ[schema.DISPATCH_FILE_VARIABLE] = str(dispatch)
    if not bench:
        os.environ[schema.NIGHT_ONLY_VARIABLE] = "1"
    code = asv("run", *where, "--machine", machine, "--bench", bench or forked_pattern(grid),
               "--record-samples", "--show-stderr", *extra, conf=conf_path, allowed=(0, ASV_SOME_FAILED))
    failed = 0
    if not bench:
        results = commit_run(staging, machine, commit)
        if results is None:
            raise NoNight(f"asv left no results of the night that read in {staging}: its figures cannot be "
                          "recorded")
        failed = record_night_figures(staging, results, dispatch, grid)
    figures_path(dispatch).unlink(missing_ok=True)  # its values are in asv's results: never a side file
    return ASV_SOME_FAILED if failed else code


def commit_run(results_dir: Path, machine: str, commit: str, source: str | None = NIGHT) -> Results | None:
    """The results folder's run of ``commit`` (of ``source``'s files: ResultsStore); None where it has none, or
    one that does not read."""
    try:
        store = ResultsStore(results_dir, source)
        return store.load(store.choose_run(machine, commit))
    except ToolError:
        return None


def measured(results_dir: Path, machine: str, commit: str, grid: schema.Grid) -> bool:
    """Whether the results folder holds a night of ``commit`` with a wall time of ``grid``."""
    results = commit_run(results_dir, machine, commit)
    return results is not None and has_results(results, grid)


def selected_measured(results_dir: Path, machine: str, commit: str, pattern: str) -> bool:
    """Whether the results folder holds, for ``commit``, a value of a benchmark that ``pattern`` selects (asv's
    ``--bench``: a regular expression searched in each name); failed and skipped ones are not values."""
    results = commit_run(results_dir, machine, commit, None)
    return results is not None and any(
        value is not None and value == value  # NaN: skipped
        for name in results.get_all_result_keys() if re.search(pattern, name)
        for value in results.get_result_value(name, results.get_result_params(name)))
