"""The re-measurement: candidates measured again in fresh processes of both torch builds, alternating.

A night is one process per grid, and one process lives in one state of the
host's CPU speed, so a candidate is measured again in several short processes
a side: the baseline's Python and the contender's alternate in blocks of ABBA
or BAAB chosen at random (forked children land on alternating vCPUs, and a
strict ABAB order would put every A on one vCPU). Every process measures every
chosen key, on a GPU after a rest, each pass the least GPU work first (a GPU
that ran at its power cap runs slower for a while), a heavy key's GPU time
after a rest of its own; a key of short calls whose
wall time is asked for is visited PASSES times, each on another CPU in an order drawn at
random (every CPU once where the process has 16), and its fastest visit counts,
as in the night; a key asked for its GPU time alone is visited once, for that
alone.

The plan fits the candidates to a budget of seconds, strongest evidence first,
with a cost model per process and key (docs/measurements/2026-11-26-h100-remeasurement.md),
the GPU times that stand on their night (``Finding.stands``: called by it where left out) after the
rest, and those short of the factor last, with an allowance of their own beside it;
a key refuted at a look before the last is set aside, and what a round leaves
unspent goes to the next strongest, at the pace it measured, with the same workers.
A wall time is decided without the processes caught in a burst of the host's
slowness (``disturbed_processes``).
The workers (``benchmarks/measure/worker.py``) import torch; this module does not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import shutil
import stat
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable

from lib.bytecode import child_environment
from lib.findings import Finding
from lib.nights import Night
from lib.noise import (
    EXTRA_PROCESSES,
    GPU_BOUND,
    LAUNCH_BOUND,
    LONG_GPU_BOUND,
    MAX_EXTRA_PROCESSES,
    NEAR_LAUNCH_BOUND,
    PROCESSES_TO_CONFIRM,
    PROCESSES_TO_REFUTE_EARLY,
    UNKNOWN,
    Z_CANDIDATE,
    at_one_clock,
    refuted_early,
    undecided,
)
from lib.suite import REPO_ROOT, schema
from lib.supervisor import end_group, ending_signal, supervised

SIDES = schema.SIDES
# The longest a worker may take to answer one request: its start (torch's import, 2-3.5 s on an H200 VM,
# about 10 s where it compiles torch) or one process (seconds). A worker that takes longer is ended and the
# re-measurement fails: its candidates stay suspects, never regressions.
ANSWER_SECONDS = 300.0
# Each side's processes are forked from this many workers of its own, in turn. A process forked from a
# worker shares its memory layout and hash seed, which can set a host-bound forward's time apart from another
# worker's for every process it forks: on an H200 an A/A check with one worker a side confirmed a wall
# time 1.076 slower at p = 7e-5, the next check 0.97-1.03 (docs/noise.md, "A side's workers"). With two,
# one odd worker moves half of a side's values, not all of them (pyperf spawns some 20 processes for this).
WORKERS_PER_SIDE = 2
# A worker's phases that grow with the keys a process measures: all but the device's start, the wait
# for the quiet lock (another child's start) and the GPU's rest before the passes.
KEY_PHASES = tuple(phase for phase in schema.WORKER_PHASES
                   if phase not in (schema.Phase.START, schema.Phase.QUIET, schema.Phase.GPU_REST))
# Visits of a short-call key in each process, each pinned to another CPU: a vCPU can sit well
# above the fastest, a different one each time, and only the fastest of visits on many CPUs
# gives a process's value that a host slowdown of 25% stands out from (docs/noise.md).
PASSES = 16
# The cost model: seconds the workers take to start (torch's import, all at once, once a round), a
# process (the hand-over, the pipes), a key (its build and first calls), a visit (blocks of 1-2
# ms), and calls of the key's own time per visit (WALL_CALLS); a GPU time (gpu_time_work): its
# blocks, GPU_CALLS replays more (the capture's warm-ups, the one that sizes the blocks) and
# GPU_KEY_SECONDS (the capture); a
# process's keys' first calls wait for the next children's start (CHILD_START_SECONDS: the quiet lock
# keeps a start out of the visits), one process in schema.CHILDREN_STARTED_TOGETHER. Fitted to measured
# re-measurements' processes (experiments/fit_remeasure_cost.py, docs/noise.md); the workers' start on an
# H200 with the night's bytecode cache (2.0-3.5 s; 10 s where each worker compiled torch) and a margin.
# One formula prices a process (CostModel): the plan, the pace and the fit read it alike.
WORKERS_SECONDS = {"cuda": 3.0, "cpu": 3.0}
# A round's first process waits for its worker's first child to start (CUDA's context, the libraries' first
# loads), which nothing overlaps and the per-process model prices at a share of the GPU's rest: the first round
# plans it beside the workers' start, so that its first block does not drop keys the plan fit (docs/noise.md).
FIRST_CHILD_SECONDS = {"cuda": 2.3, "cpu": 0.0}
PROCESS_SECONDS = {"cuda": 0.014, "cpu": 0.05}
KEY_SECONDS = {"cuda": 0.043, "cpu": 0.02}
CHILD_START_SECONDS = {"cuda": 0.71, "cpu": 0.05}
VISIT_SECONDS = 0.0023
WALL_CALLS = 2
GPU_CALLS = 3.3
GPU_KEY_SECONDS = 0.0046


@dataclasses.dataclass(frozen=True)
class ProcessWork:
    """What a process measures, in the cost model's terms: the plan adds a key's, a measured process records
    its own (``ProcessCost.work``)."""

    keys: int = 0
    visits: int = 0  # the visits that time a wall, over its keys
    call_seconds: float = 0.0  # each key's wall-timing visits times its wall time: WALL_CALLS's regressor
    gpu_times: int = 0  # GPU_KEY_SECONDS's regressor
    gpu_block_seconds: float = 0.0  # the GPU times' timed blocks (GPU_TIME_BLOCKS each)
    gpu_seconds: float = 0.0  # the GPU times' own seconds: GPU_CALLS's regressor
    heavy_rest: float = 0.0  # the rests before heavy keys' blocks

    def __add__(self, other: ProcessWork) -> ProcessWork:
        return ProcessWork(*(mine + theirs for mine, theirs in
                             zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)))


@dataclasses.dataclass(frozen=True)
class CostModel:
    """The cost model of one device's processes (its constants above; the fit's own where it tries others)."""

    process: float
    key: float
    child_start: float
    visit: float
    wall_calls: float
    gpu_calls: float
    gpu_key: float
    rest: float  # the GPU's rest before a process's passes: schema.GPU_REST_SECONDS, none on a CPU
    together: int = schema.CHILDREN_STARTED_TOGETHER

    def work_seconds(self, work: ProcessWork) -> float:
        """The seconds that grow with what a process measures."""
        return (self.key * work.keys + self.visit * work.visits + self.wall_calls * work.call_seconds
                + self.gpu_key * work.gpu_times + work.gpu_block_seconds + self.gpu_calls * work.gpu_seconds
                + work.heavy_rest)

    def child_start_share(self, keys: int) -> float:
        """A process's share of the wait for the next children's start, where its ``keys``' builds and first
        calls end sooner: one process in ``together`` waits, the others find their lock free; on a GPU each
        rests ``rest`` before its passes, the one that waited for as much as it has not waited."""
        wait = max(0.0, self.child_start - self.process - self.key * keys)
        return (max(wait, self.rest) + (self.together - 1) * self.rest) / self.together

    def process_seconds(self, work: ProcessWork) -> float:
        """One process's estimate: the hand-over, its work and its share of the children's start."""
        return self.process + self.work_seconds(work) + self.child_start_share(work.keys)


def cost_model(device: str) -> CostModel:
    """The cost model the re-measurement plans ``device``'s processes with."""
    return CostModel(PROCESS_SECONDS[device], KEY_SECONDS[device], CHILD_START_SECONDS[device], VISIT_SECONDS,
                     WALL_CALLS, GPU_CALLS, GPU_KEY_SECONDS, schema.GPU_REST_SECONDS if device == "cuda" else 0.0)


# A GPU time this many of its spreads or fewer under the factor is re-measured with the short candidates'
# allowance: a change of the factor reads under one spread below it one night in six, under two one in 44
# (docs/noise.md, "The short candidates' allowance").
SHORT_WINDOW_SPREADS = 2
# How far one night moves a signal before the history has a spread of its own: the scale a
# candidate's evidence is ranked by until then (docs/noise.md, "The verdict", 5.: the plan's order).
PRIOR_SPREAD = {schema.GPU: 1.03, GPU_BOUND: 1.03, LONG_GPU_BOUND: 1.03, NEAR_LAUNCH_BOUND: 1.05, LAUNCH_BOUND: 1.15,
                UNKNOWN: 1.1}

# A burst of the host's slowness: for seconds every short wall time ran 1.2-1.5x its side's median, in both
# sides' processes at once, and the rank test saw the slower processes of the baseline among the contender's
# (docs/noise.md, "A burst of the host's slowness"). A process whose other keys' wall times ran DISTURBED_LEVEL
# or more over their side's medians (three times the 5% a process's level spreads otherwise) is left out of a
# wall time's decision, where LEVEL_KEYS other keys or more tell its level; so is a key's value DISTURBED_LEVEL
# or more over its side where LEVEL_KEYS other keys of its process are too (a burst through part of a process
# hits some of its keys alone). The rule sees each side apart, so an unchanged key's two sides lose processes alike
# on average; a side left faster by it makes a difference under the factor a little likelier to be confirmed
# (docs/noise.md, "A burst of the host's slowness").
# It never leaves a side fewer than PROCESSES_TO_CONFIRM (the fewest that can confirm), the most disturbed first.
DISTURBED_LEVEL = 1.15
LEVEL_KEYS = 3

Plan = dict[tuple[str, str], schema.WorkerKey]  # (config, mask) -> what each process measures of it
Values = dict[tuple[str, str], dict[str, dict[str, list[float]]]]  # key -> side -> signal -> per-process values
Disturbed = dict[tuple[str, str], dict[str, tuple[int, ...]]]  # key -> side -> indices of its wall values left out


class RemeasureError(Exception):
    """A worker could not start or answer. Raised by ``remeasure_in_rounds`` with what the rounds before the one
    that failed measured (``measured``: none where the first failed), the candidates not yet measured and the
    rounds' number."""

    measured: Remeasured | None = None
    unmeasured: list[Finding] | None = None
    rounds: int = 0


class TorchMismatch(RemeasureError):
    """A side's Python has another torch than its night measured with: refused, not broken. The nightly's
    baseline environment is last night's torch: after a night that failed, or a job run twice, it is not the
    baseline night's (docs/noise.md)."""


# ---------------------------------------------------------------- the plan


def spread_of(finding: Finding) -> float:
    """How far one night moves this key's signal: from the history's floor (Z_CANDIDATE spreads), else the prior."""
    if math.isfinite(finding.floor):
        return finding.floor ** (1 / Z_CANDIDATE)
    return PRIOR_SPREAD[schema.GPU] if finding.signal == schema.GPU else PRIOR_SPREAD[finding.klass]


def floor_of(finding: Finding) -> float:
    """The smallest slowdown one night shows: the history's floor, or Z_CANDIDATE prior spreads before it has one."""
    return finding.floor if math.isfinite(finding.floor) else spread_of(finding) ** Z_CANDIDATE


def above_floor(finding: Finding) -> bool:
    """Whether it moved its floor or more beyond its class's move (beyond the host's share in it, where larger)."""
    return finding.beyond_host >= floor_of(finding)


def priority(finding: Finding) -> tuple[bool, bool, bool, float]:
    """Strongest evidence first: a class's common move (it stands for many results), one-night calls, then
    candidates above their floor, then the move away from the class in units of the signal's spread. A wall
    time that the host's slower dispatch would move further than its class (``Finding.host_move``) is ranked
    by its move beyond that: the host, not torch, explains the rest (docs/noise.md, "The host's share")."""
    return (not finding.common, not finding.one_night, not above_floor(finding),
            -math.log(finding.beyond_host) / math.log(spread_of(finding)))


def plan_order(finding: Finding) -> tuple[bool, bool, bool, tuple[bool, bool, bool, float]]:
    """The order the plan takes candidates in: by priority, one over its class's lower quartile
    (``Finding.partial``: short of the factor over the class's move) after those over the move, a GPU time's
    one-night call that stands on its night (``Finding.stands``) after every other but those short of the
    factor, and those after it. Each gets what the ones before it leave: a stronger candidate left out did not
    fit beside the plan, and a later round takes it first. One that stands is called by its night where left
    out; the short ones have an allowance of their own."""
    return finding.short, finding.stands, finding.partial, priority(finding)


def short_of_factor(finding: Finding, factor: float) -> bool:
    """Whether a GPU time slower by less than the factor is within SHORT_WINDOW_SPREADS spreads of it: worth
    re-measuring where the budget allows. GPU time only: a CUDA graph's replay has no host time in it, and its
    processes spread 1-9% where a short key's wall time spreads more (docs/noise.md)."""
    return (finding.signal == schema.GPU and 1.0 < finding.relative < factor
            <= finding.relative * spread_of(finding) ** SHORT_WINDOW_SPREADS)


def visits(values: dict[str, float | None], signals: tuple[str, ...]) -> int:
    """Visits a process of one key: PASSES for short calls whose wall time is asked for; one where the
    GPU sets the time, or where only the GPU time is (a CUDA graph's replay: the host's speed is not in it)."""
    wall = values.get(schema.WALL)
    return PASSES if schema.WALL in signals and wall is not None and wall < schema.SHORT_CALL_SECONDS else 1


def wall_visits(values: dict[str, float | None], signals: tuple[str, ...]) -> int:
    """The visits that time a key's wall, before its WorkerKey exists."""
    return schema.wall_visits_of(signals, visits(values, signals))


def signals_of(plan: Plan, key: tuple[str, str]) -> tuple[str, ...]:
    """The signals already chosen for a key, none where it is not chosen yet."""
    return plan[key].signals if key in plan else ()


def key_cost(finding: Finding, plan: Plan, tonight: Night, device: str) -> float:
    """What measuring this finding's key and signal adds to each process, beyond ``plan``."""
    return cost_model(device).work_seconds(key_work(finding, plan, tonight, device))


def key_work(finding: Finding, plan: Plan, tonight: Night, device: str) -> ProcessWork:
    """What measuring this finding's key and signal adds to each process's work, beyond ``plan``."""
    values = tonight.values.get(finding.key, {})
    before = signals_of(plan, finding.config_mask)
    more_visits = wall_visits(values, (*before, finding.signal)) - wall_visits(values, before)
    work = ProcessWork(keys=0 if before else 1, visits=more_visits,
                       call_seconds=more_visits * (values.get(schema.WALL) or 0.0))
    if finding.signal == schema.GPU and schema.GPU not in before and device == "cuda":  # a CPU worker takes no GPU time
        work += gpu_time_work(values.get(schema.GPU)) + ProcessWork(heavy_rest=heavy_rest(values, (finding.signal,)))
    return work


def gpu_time_work(gpu: float | None) -> ProcessWork:
    """A GPU time's work in a process, from tonight's: GPU_TIME_BLOCKS blocks, GPU_CALLS replays more and
    GPU_KEY_SECONDS. A block is 2 ms of short replays or one long one: a price per replay overprices the long
    keys (by 29% over the 20 processes with long keys of seven H200 checks) and underprices the short."""
    return ProcessWork(gpu_times=1, gpu_block_seconds=gpu_blocks_seconds(gpu or 0.0), gpu_seconds=gpu or 0.0)


def gpu_blocks_seconds(gpu: float) -> float:
    """The timed blocks of a GPU time whose replay takes ``gpu``: GPU_TIME_BLOCKS of schema.gpu_time_block_seconds."""
    return schema.GPU_TIME_BLOCKS * schema.gpu_time_block_seconds(gpu)


def heavy_rest(values: dict[str, float | None], signals: tuple[str, ...]) -> float:
    """The rest a key's GPU time's blocks take after its capture: HEAVY_GPU_REST_SECONDS where its GPU time
    is asked for and tonight's is heavy (schema.HEAVY_GPU_SECONDS or more), none otherwise."""
    return schema.heavy_rest_seconds(values.get(schema.GPU)) if schema.GPU in signals else 0.0


def fitted_plan(candidates: list[Finding], tonight: Night, processes: int, device: str, budget: float,
                pace: float = 1.0, first_round: bool = True,
                short_allowance: float = 0.0, sides: int = 2) -> tuple[Plan, list[Finding], float]:
    """The keys to re-measure, in priority order, as many as ``processes`` a side of ``sides`` (one where
    only the contender is measured) can measure within ``budget`` seconds; the candidates left out; the
    estimated seconds a process.

    ``pace``: measured over estimated seconds a process, from an earlier round (1 before any);
    ``first_round``: the workers start within the budget, and the strongest candidate is taken
    even where it alone does not fit; later rounds find the workers started.
    ``short_allowance``: seconds beyond ``budget`` that only candidates short of the factor may take,
    in the same processes as the others (docs/noise.md, "The short candidates' allowance").
    """
    plan: Plan = {}
    left_out: list[Finding] = []
    model = cost_model(device)
    seconds = model.process  # a process's seconds without its share of the children's start
    workers = workers_seconds(device, first_round)
    for finding in sorted(candidates, key=plan_order):
        cost = key_cost(finding, plan, tonight, device)
        keys = len(plan) + (finding.config_mask not in plan)
        limit = budget + (short_allowance if finding.short else 0.0)
        if (plan or not first_round) and (
                round_seconds(processes, pace, seconds + cost + model.child_start_share(keys), workers, sides)
                > limit):
            left_out.append(finding)
            continue
        seconds += cost
        key = finding.config_mask
        signals = tuple(sorted({*signals_of(plan, key), finding.signal}))
        values = tonight.values.get(finding.key, {})
        plan[key] = schema.WorkerKey(*key, signals, visits(values, signals), heavy_rest(values, signals))
    return plan, left_out, seconds + model.child_start_share(len(plan))


def round_seconds(processes: int, pace: float, process_seconds: float, workers: float, sides: int = 2) -> float:
    """A round's seconds as the plan reckons them: ``processes`` a side of ``sides`` of ``process_seconds`` each
    at ``pace``, and the workers' start where the round starts them (``workers_seconds``)."""
    return sides * processes * pace * process_seconds + workers


def workers_seconds(device: str, first_round: bool) -> float:
    """The workers' start in a round's seconds: in the first round, which starts them, WORKERS_SECONDS and the
    wait for the first child (FIRST_CHILD_SECONDS); later rounds find both started."""
    return WORKERS_SECONDS[device] + FIRST_CHILD_SECONDS[device] if first_round else 0.0


# ---------------------------------------------------------------- the workers


@dataclasses.dataclass
class Worker:
    """One environment's worker: a Python with torch that forks a child per request."""

    side: str
    python: str
    device: str = "cpu"
    quiet_lock: str | None = None  # the file every worker's children lock (worker.QuietLock)
    process: subprocess.Popen | None = None
    torch: str | None = None  # the git commit of the torch its side's night measured with, where known

    def start(self) -> None:
        # Checked here: the supervisor would start and its command fail later. The tools pass absolute paths
        # (cli.python_path); a relative one is the worker's cwd's (the repository's), as Popen's is.
        if shutil.which(self.python if os.sep not in self.python else str(REPO_ROOT / self.python)) is None:
            raise RemeasureError(f"cannot start {self.python}: not an executable")
        try:
            self.process = subprocess.Popen(
                supervised([self.python, "-m", "benchmarks.measure.worker", "--device", self.device,
                            *(["--quiet-lock", self.quiet_lock] if self.quiet_lock else [])]), cwd=REPO_ROOT,
                env=child_environment(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        except OSError as error:
            raise RemeasureError(f"cannot start {self.python}: {error}") from None

    def ready(self) -> None:
        """Wait for the worker's first line: its imports (torch's, seconds on a GPU VM) are done. A torch other
        than its night's would measure other builds than the nights compared: refused."""
        found = self._answer_line().torch
        if self.torch and found and found != self.torch:
            raise TorchMismatch(f"the {self.side} Python ({self.python}) has torch git {found[:12]}, not the "
                                 f"{self.torch[:12]} its night measured with")

    def ask(self, request: schema.WorkerRequest) -> schema.WorkerAnswer:
        assert self.process and self.process.stdin
        try:
            self.process.stdin.write(request.to_json() + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the worker is gone: reading says so
        return self._answer_line()

    def _answer_line(self) -> schema.WorkerAnswer:
        assert self.process and self.process.stdout
        process, stdout, ended = self.process, self.process.stdout, threading.Event()

        def end() -> None:  # a worker that hangs (a CUDA call that never returns) must not hold the nightly
            ended.set()
            end_group(process)

        timer = threading.Timer(ANSWER_SECONDS, end)
        timer.start()
        try:
            line = stdout.readline()
        except OSError:
            line = ""
        finally:
            timer.cancel()
            timer.join()
        if ended.is_set() or not line:
            raise RemeasureError(f"the {self.side} worker ({self.python}) stopped answering"
                                 + (f": no answer in {ANSWER_SECONDS:g} s, ended" if ended.is_set()
                                    else exited(process)))
        try:
            answer = schema.WorkerAnswer.from_json(line)
        except (ValueError, KeyError, TypeError) as error:
            raise RemeasureError(f"the {self.side} worker answered what is not an answer: {error}") from None
        if answer.error:
            raise RemeasureError(f"the {self.side} worker failed: {answer.error.strip().splitlines()[-1]}")
        return answer

    def stop(self) -> None:
        if self.process:
            try:
                if self.process.stdin:
                    self.process.stdin.close()
                self.process.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                end_group(self.process)


def exited(process: subprocess.Popen) -> str:
    """How a worker that closed its output ended: its exit code, its own error being on stderr above (a Python
    without torch, say)."""
    try:
        code = process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return ""
    signalled = ending_signal(code)
    if signalled is not None:
        return f": it was ended by signal {signalled}"
    return f": it exited with code {code} (its stderr above says why)" if code else ""


def quiet_lock_path() -> str:
    """The quiet lock's file: one per user and host, kept, in a folder of the user's alone (another user's
    file or link in the shared temporary folder could hold the lock or redirect it). Two re-measurements at
    once keep their starts and passes apart too, and a check killed with kill -9 leaves no file behind."""
    folder = os.path.join(tempfile.gettempdir(), f"attention-bias-benchmarks-{os.getuid()}")
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
        status = os.lstat(folder)
    except OSError as error:
        raise RemeasureError(f"cannot make the quiet lock's folder {folder}: {error.strerror}") from error
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid() or status.st_mode & 0o077:
        raise RemeasureError(f"{folder} is not a folder of this user's alone (mode 700): remove it")
    return os.path.join(folder, "quiet.lock")


class Workers:
    """The two sides' workers of one re-measurement, WORKERS_PER_SIDE a side, started at the first round's
    first use and kept for the rounds after it (torch's import: 2-3.5 s on an H200 VM, all at once), with the
    quiet lock their children share (``quiet_lock_path``); a context manager that stops them."""

    def __init__(self, pythons: dict[str, str], device: str = "cpu", torch: dict[str, str | None] | None = None
                 ) -> None:
        self.pythons = pythons
        self.device = device
        self.torch = torch or {}  # each side's night's torch (git commit), where known: its worker must have it
        self.running: dict[str, list[Worker]] = {}
        self.quiet_lock: str | None = None

    def started(self) -> dict[str, list[Worker]]:
        """Each side's workers, started (all at once) and ready where they were not yet."""
        if not self.running:
            self.quiet_lock = quiet_lock_path()
            self.running = {side: [Worker(side, self.pythons[side], self.device, self.quiet_lock,
                                          torch=self.torch.get(side))
                                   for _ in range(WORKERS_PER_SIDE)]
                            for side in SIDES if side in self.pythons}
            for worker in self.every_worker():
                worker.start()
            for worker in self.every_worker():
                worker.ready()
        return self.running

    def every_worker(self) -> list[Worker]:
        return [worker for workers in self.running.values() for worker in workers]

    def stop(self) -> None:
        for worker in self.every_worker():
            worker.stop()
        self.running = {}

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


# The processes of both sides run in blocks of ABBA or BAAB, chosen at random: balanced against period-2
# placement and drift. A look, a stop and a dropped key come only at a block's start.
ABBA = (schema.BASELINE, schema.CONTENDER, schema.CONTENDER, schema.BASELINE)
BAAB = (schema.CONTENDER, schema.BASELINE, schema.BASELINE, schema.CONTENDER)  # not ABBA reversed: that is ABBA
BLOCK = len(ABBA)


def process_order(processes_per_side: int, rng: random.Random) -> list[str]:
    """Sides in blocks of ABBA or BAAB, chosen at random."""
    order: list[str] = []
    while len(order) < 2 * processes_per_side:
        order += ABBA if rng.random() < 0.5 else BAAB
    return order[: 2 * processes_per_side]


@dataclasses.dataclass(frozen=True)
class ProcessCost:
    """One process's work and seconds: the rows the cost model's constants are fitted to
    (``experiments/fit_remeasure_cost.py``)."""

    side: str
    device: str
    keys: int
    visits: int  # the visits that timed a wall, over its keys
    call_seconds: float  # each key's visits times its wall time in this process: WALL_CALLS's regressor
    gpu_seconds: float  # the seconds of the GPU times it took: GPU_CALLS's regressor
    seconds: float  # from its request to its answer
    phases: dict[str, float]  # the worker's (schema.WORKER_PHASES)
    gpu_times: int = 0  # the number of GPU times it took: GPU_KEY_SECONDS's regressor
    gpu_block_seconds: float = 0.0  # their blocks' seconds (GPU_TIME_BLOCKS each, at the times it took)

    @property
    def work(self) -> ProcessWork:
        """What it measured, in the cost model's terms, its heavy keys' rests as they ran."""
        return ProcessWork(self.keys, self.visits, self.call_seconds, self.gpu_times, self.gpu_block_seconds,
                           self.gpu_seconds, self.phases.get(schema.Phase.HEAVY_REST, 0.0))


def modelled_seconds(cost: ProcessCost) -> float:
    """The cost model's estimate of one process from what it measured."""
    return cost_model(cost.device).process_seconds(cost.work)


def measured_pace(measured: Remeasured, estimate: float) -> float:
    """A round's measured over estimated seconds, each process priced for the keys it measured: after keys
    refuted early or dropped the later processes measure fewer, and pricing each at the plan's ``estimate``
    made the next round plan as if processes ran faster than the model. One that records no keys is priced at
    ``estimate``."""
    modelled = sum(modelled_seconds(cost) if cost.keys else estimate for cost in measured.costs)
    return (measured.seconds - measured.workers_seconds - first_child_wait(measured)) / modelled


def first_child_wait(measured: Remeasured) -> float:
    """The first process's wait for its child in the round that started the workers, up to what that round
    planned for it apart (FIRST_CHILD_SECONDS): a later round, which finds its children started, waits none."""
    if not measured.workers_seconds or not measured.costs:
        return 0.0
    first = measured.costs[0]
    return min(FIRST_CHILD_SECONDS[first.device], first.phases.get(schema.Phase.START, 0.0))


def phase_totals(costs: tuple[ProcessCost, ...], workers_seconds: float = 0.0) -> dict[str, float]:
    """Seconds over ``costs``' processes per worker phase (schema.WORKER_PHASES) and "process" (each from its
    request to its answer: the fork, the exit and the pipes are the difference), and "workers" where they
    started."""
    totals: dict[str, float] = {}
    for cost in costs:
        for name, seconds in (("process", cost.seconds), *cost.phases.items()):
            totals[name] = totals.get(name, 0.0) + seconds
    if workers_seconds:
        totals["workers"] = workers_seconds
    return totals


@dataclasses.dataclass
class Remeasured:
    """Per key (config, mask): each side's per-process values of each signal, in the order measured."""

    values: dict[tuple[str, str], dict[str, dict[str, list[float]]]]
    seconds: float
    costs: tuple[ProcessCost, ...] = ()  # each process's, in the order run
    workers_seconds: float = 0.0  # starting the workers (torch's import), where this round did
    # Keys of the plan dropped after its first processes ran slower than planned: not decided.
    dropped: tuple[tuple[str, str], ...] = ()
    # Keys set aside as refuted at a look before the last: measured in the processes before it only.
    refuted_early: tuple[tuple[str, str], ...] = ()
    # Keys undecided at the last look, given more processes (``extra_processes``).
    extended: tuple[tuple[str, str], ...] = ()
    # Wall values taken in a burst of the host's slowness (``disturbed_processes``), each round's: left out.
    disturbed: Disturbed = dataclasses.field(default_factory=dict)

    @property
    def processes(self) -> int:
        return len(self.costs)

    @property
    def phases(self) -> dict[str, float]:
        return phase_totals(self.costs, self.workers_seconds)

    def side(self, key: tuple[str, str], signal: str, side: str) -> list[float]:
        return self.values.get(key, {}).get(side, {}).get(signal, [])

    def decided(self, key: tuple[str, str], signal: str) -> tuple[list[float], list[float], float | None]:
        """Each side's values of ``signal`` as the decision takes them, and the clock (``decided_values``)."""
        return decided_values(self.values.get(key, {}), signal, self.disturbed.get(key))

    def sm_clock(self, key: tuple[str, str], side: str) -> float | None:
        """The median SM clock (MHz) read after ``side``'s GPU times of ``key``; None where none was read."""
        clocks = self.side(key, schema.SM_CLOCK, side)
        return statistics.median(clocks) if clocks else None

    def merged(self, other: Remeasured) -> Remeasured:
        """This round's values with a later round's (``other``): a signal the later round measured again takes its
        values (a key dropped is measured afresh), with its processes left out; one it did not keeps this one's."""
        values = {key: dict(sides) for key, sides in self.values.items()}
        for key, sides in other.values.items():
            kept = values.setdefault(key, {})
            for side, signals in sides.items():
                kept[side] = {**kept.get(side, {}), **signals}
        walls_again = {key for key, sides in other.values.items()
                       if any(schema.WALL in signals for signals in sides.values())}
        # once each: a key a later round planned again can be dropped again
        dropped = tuple(dict.fromkeys(key for key in (*self.dropped, *other.dropped) if key not in values))
        return Remeasured(values, self.seconds + other.seconds, self.costs + other.costs,
                          self.workers_seconds + other.workers_seconds, dropped,
                          self.refuted_early + other.refuted_early, self.extended + other.extended,
                          {key: left for key, left in self.disturbed.items() if key not in walls_again}
                          | other.disturbed)

    def as_json(self) -> list[dict]:
        return [{"config": c, "mask": m, **sides,
                 **({"disturbed": {side: list(left) for side, left in self.disturbed[(c, m)].items()}}
                    if (c, m) in self.disturbed else {})}
                for (c, m), sides in self.values.items()]


def remeasure(plan: Plan, workers: Workers, device: str, processes_per_side: int, seed: int,
              budget_seconds: float = 120.0, factor: float | None = None,
              most_extra: int = MAX_EXTRA_PROCESSES) -> Remeasured:
    """Measure every key of ``plan`` in ``processes_per_side`` fresh processes of each side's workers,
    in turn (one side or both).

    The nightly's cost stays bounded and the sides balanced: at the start of each block
    of four, where the processes so far say the rest would end past ``budget_seconds``,
    the plan's weakest keys are dropped (``Remeasured.dropped``) until the rest fit,
    before each side has the processes a confirmation needs; from there on, no block
    starts that would end past the budget. With ``factor`` and both sides, a key refuted
    at a look before the last (``noise.refuted_early``) is set aside and the later
    processes measure the rest (``Remeasured.refuted_early``), and the keys
    still undecided after the last (``noise.undecided``) get as many processes a side more
    as the budget left holds (``extra_processes``, ``most_extra`` at most), where it allows
    (``Remeasured.extended``).
    Starting the workers, where this round does, is a phase of its own, "workers".
    """
    started = time.perf_counter()
    first = not workers.running
    running = workers.started()
    workers_seconds = time.perf_counter() - started if first else 0.0
    run = _Round(plan, running, device, budget_seconds, factor, random.Random(seed), started)
    order = (process_order(processes_per_side, run.rng) if len(running) == 2
             else [next(iter(running))] * processes_per_side)
    if run.processes_of(order) and (open_keys := run.undecided()):
        extra = extra_processes(budget_seconds - (time.perf_counter() - started), run.process_seconds,
                                run.processes, most_extra)
        run.active, before = open_keys, run.processes
        run.processes_of(process_order(extra, run.rng), looks=False)
        run.extended = open_keys if run.processes > before else []
    kept = {key: sides for key, sides in run.values.items() if key not in run.dropped}
    return Remeasured(kept, time.perf_counter() - started, tuple(run.costs), workers_seconds, tuple(run.dropped),
                      tuple(run.set_aside), tuple(run.extended), run.disturbed(kept))


@dataclasses.dataclass
class _Round:
    """One round's processes and what they measured so far: the keys still measured (``active``), those
    dropped for the pace, set aside as refuted early, or extended after the last look."""

    plan: Plan
    running: dict[str, list[Worker]]
    device: str
    budget: float
    factor: float | None
    rng: random.Random
    started: float
    dropped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    extended: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    costs: list[ProcessCost] = dataclasses.field(default_factory=list)
    # The processes left out as bursts when the last look decided (``undecided``): what a key not extended after
    # it is decided with, so that the verdict says what the look saw.
    looked: Disturbed | None = None
    # Each key set aside as refuted at a look, in that order, with the processes the look left out as bursts:
    # it is decided with them, so it comes back refuted, whatever the later processes do to the bursts.
    set_aside: Disturbed = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values: dict[tuple[str, str], dict[str, dict[str, list[float]]]] = {
            key: {side: {} for side in self.running} for key in self.plan}
        self.active = list(self.plan)
        self.cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []

    @property
    def processes(self) -> int:
        return len(self.costs)

    @property
    def paced(self) -> tuple[ProcessCost, ...]:
        """The processes the pace is taken from: all but the round's first, once there are others. The first
        waits for its worker's first child and loads what nothing has loaded yet, several times a later
        process's seconds (docs/noise.md): counted, it made the first block drop keys that fit."""
        return tuple(self.costs[1:]) if len(self.costs) > 1 else tuple(self.costs)

    @property
    def scale(self) -> float:
        """Processes so far over the paced ones: their sums below stand for every process so far."""
        return len(self.costs) / len(self.paced) if self.costs else 1.0

    @property
    def process_seconds(self) -> float:
        """The processes' seconds so far, each from its request to its answer, at the paced ones' mean."""
        return self.scale * sum(cost.seconds for cost in self.paced)

    @property
    def key_seconds(self) -> float:
        """The processes' seconds so far in the phases that grow with the keys they measure, likewise."""
        return self.scale * sum(cost.phases.get(phase, 0.0) for cost in self.paced for phase in KEY_PHASES)

    @property
    def key_visits(self) -> float:
        """Keys measured so far, over the processes (a key measured in four processes counts four times), likewise."""
        return self.scale * sum(cost.keys for cost in self.paced)

    @property
    def looking(self) -> bool:
        """Whether keys are decided between processes: with a factor, and both sides measured."""
        return self.factor is not None and len(self.running) == 2

    def processes_of(self, order: list[str], looks: bool = True) -> bool:
        """Run a process of each side in ``order`` while the budget and the keys allow; whether all ran.
        ``looks``: refute at the looks before the last; the processes after the last look have none, so
        that their keys are decided once, over all their processes."""
        for position, side in enumerate(order):
            index, elapsed = self.processes, time.perf_counter() - self.started
            if stop_before(index, len(self.running), elapsed, self.process_seconds, self.budget, position):
                return False
            if looks and self.looking and looks_early(index):
                disturbed = disturbed_processes(self.values)
                refuted = [key for key in self.active
                           if all(self.says(refuted_early, key, signal, disturbed)
                                  for signal in self.plan[key].signals)]
                self.active = [key for key in self.active if key not in refuted]
                self.set_aside |= {key: disturbed.get(key, {}) for key in refuted}
            if not self.active:
                return False
            if index % BLOCK == 0 and not enough_to_confirm(index, len(self.running)):
                keep = keys_that_fit(len(self.active), len(order) - position, self.budget - elapsed,
                                     self.process_seconds, self.key_seconds, index, self.key_visits)
                self.active, self.dropped = self.active[:keep], self.dropped + self.active[keep:]
            self.ask(side)
        return True

    def ask(self, side: str) -> None:
        """One process of ``side``'s worker over the active keys, in an order and on CPUs drawn at random."""
        request = schema.WorkerRequest(self.device, self.rng.randrange(2**32),
                                       tuple(self.rng.sample(self.cpus, min(PASSES, len(self.cpus)))),
                                       tuple(self.plan[key] for key in self.active))
        # The side's workers in turn: its k-th process (and each key's k-th value) is its worker k % W's.
        workers = self.running[side]
        worker = workers[sum(cost.side == side for cost in self.costs) % len(workers)]
        asked = time.perf_counter()
        answer = worker.ask(request)
        seconds = time.perf_counter() - asked
        for value in answer.values:
            per_signal = self.values[(value.config, value.mask)][side]
            if value.wall is not None:  # a key asked for its GPU time alone has none
                per_signal.setdefault(schema.WALL, []).append(value.wall)
            if value.gpu is not None:
                per_signal.setdefault(schema.GPU, []).append(value.gpu)
            if value.sm_clock_mhz is not None:  # where NVML reads it: on a GPU, beside each GPU time
                per_signal.setdefault(schema.SM_CLOCK, []).append(value.sm_clock_mhz)
        self.costs.append(process_cost(side, request, answer, seconds))

    def undecided(self) -> list[tuple[str, str]]:
        """The active keys of which a signal is still undecided; none without looks."""
        if not self.looking:
            return []
        disturbed = self.looked = disturbed_processes(self.values)
        return [key for key in self.active
                if any(self.says(undecided, key, signal, disturbed) for signal in self.plan[key].signals)]

    def disturbed(self, kept: Iterable[tuple[str, str]]) -> Disturbed:
        """The burst processes each of ``kept`` is decided without: as the look that set it aside left them out;
        else as the last look did, where there was one and the key got no processes after it; else over every
        key's values (the dropped ones' too, as the looks took them)."""
        now = disturbed_processes(self.values)
        chosen = {key: self.set_aside[key] if key in self.set_aside else
                  (now if self.looked is None or key in self.extended else self.looked).get(key) for key in kept}
        return {key: left for key, left in chosen.items() if left}

    def says(self, rule: Callable[[list[float], list[float], float], bool], key: tuple[str, str], signal: str,
             disturbed: Disturbed) -> bool:
        """Whether ``key``'s values so far of ``signal`` meet ``rule`` (``sides_say``); only while looking."""
        assert self.factor is not None
        return sides_say(rule, self.values[key], signal, self.factor, disturbed.get(key))


def process_cost(side: str, request: schema.WorkerRequest, answer: schema.WorkerAnswer,
                 seconds: float) -> ProcessCost:
    """What one process was asked and answered, and its seconds."""
    visits = {(key.config, key.mask): key.wall_visits for key in request.keys}
    gpus = [v.gpu for v in answer.values if v.gpu is not None]
    return ProcessCost(side, request.device, len(request.keys), sum(visits.values()),
                       sum(visits.get((v.config, v.mask), 0) * (v.wall or 0.0) for v in answer.values),
                       sum(gpus), seconds, dict(answer.phases), len(gpus),
                       sum(gpu_blocks_seconds(gpu) for gpu in gpus))


def sides_say(rule: Callable[[list[float], list[float], float], bool], sides: dict[str, dict[str, list[float]]],
              signal: str, factor: float, disturbed: dict[str, tuple[int, ...]] | None = None) -> bool:
    """Whether a key's values so far of ``signal`` meet ``rule`` (``noise.refuted_early``,
    ``noise.undecided``); never without values on both sides."""
    baseline, contender, _ = decided_values(sides, signal, disturbed)
    return bool(baseline and contender) and rule(baseline, contender, factor)


def decided_values(sides: dict[str, dict[str, list[float]]], signal: str,
                   disturbed: dict[str, tuple[int, ...]] | None = None) -> tuple[list[float], list[float],
                                                                                  float | None]:
    """Each side's values of ``signal`` as the decision takes them, and the clock they were taken to: wall
    times without those of ``disturbed`` processes (``disturbed_processes``); GPU times at the median SM
    clock of both sides (``at_one_clock``) where every one has its clock, above zero; as measured otherwise
    (None)."""
    baseline, contender = (sides.get(side, {}).get(signal, []) for side in SIDES)
    if signal == schema.WALL and disturbed:
        baseline, contender = ([value for index, value in enumerate(values) if index not in disturbed.get(side, ())]
                               for side, values in zip(SIDES, (baseline, contender), strict=True))
    base_clocks, new_clocks = (sides.get(side, {}).get(schema.SM_CLOCK, []) for side in SIDES)
    every_clock = base_clocks + new_clocks
    if (signal != schema.GPU or not (baseline and contender) or len(base_clocks) != len(baseline)
            or len(new_clocks) != len(contender) or min(every_clock) <= 0):
        return baseline, contender, None
    clock = statistics.median(every_clock)
    return at_one_clock(baseline, base_clocks, clock), at_one_clock(contender, new_clocks, clock), clock


def disturbed_processes(values: Values) -> Disturbed:
    """Per key and side, the indices of its wall values taken in a burst of the host's slowness: in a process
    whose other keys' wall times ran DISTURBED_LEVEL or more over their side's medians (``process_level``), or
    themselves that far over where LEVEL_KEYS other keys of the process are too (``burst_hit``); the highest
    of the two first (a value's own ratio and its process's level ranked alike), as many as leave the side
    PROCESSES_TO_CONFIRM values. ``values``: one round's, where the i-th wall value of every key of a side
    is that side's i-th process's (a key set aside stops early)."""
    walls = {key: {side: signals.get(schema.WALL, []) for side, signals in sides.items()}
             for key, sides in values.items()}
    medians = {key: {side: statistics.median(own) for side, own in sides.items() if own}
               for key, sides in walls.items()}
    disturbed: Disturbed = {}
    for key, sides in walls.items():
        for side, own in sides.items():
            levels = {index: max(process_level(walls, medians, key, side, index),
                                 burst_hit(walls, medians, key, side, index)) for index in range(len(own))}
            over = sorted((index for index, level in levels.items() if level >= DISTURBED_LEVEL),
                          key=lambda index: -levels[index])
            left = tuple(sorted(over[:max(0, len(own) - PROCESSES_TO_CONFIRM)]))
            if left:
                disturbed.setdefault(key, {})[side] = left
    return disturbed


def over_median(walls: dict[str, list[float]], medians: dict[str, float], side: str, index: int) -> float | None:
    """One key's wall time in ``side``'s process ``index`` over its side's median; None where it has none."""
    own = walls.get(side, [])
    return own[index] / medians[side] if len(own) > index and medians.get(side, 0) > 0 else None


def process_level(walls: dict[tuple[str, str], dict[str, list[float]]],
                  medians: dict[tuple[str, str], dict[str, float]], key: tuple[str, str], side: str,
                  index: int) -> float:
    """The median, over the other keys measured in ``side``'s process ``index``, of their wall time there over
    their side's median; 1 where fewer than LEVEL_KEYS other keys tell it."""
    ratios = others_over_median(walls, medians, key, side, index)
    return statistics.median(ratios) if len(ratios) >= LEVEL_KEYS else 1.0


def others_over_median(walls: dict[tuple[str, str], dict[str, list[float]]],
                       medians: dict[tuple[str, str], dict[str, float]], key: tuple[str, str], side: str,
                       index: int) -> list[float]:
    """Each other key's wall time in ``side``'s process ``index`` over its side's median, where it has one."""
    return [ratio for other in walls if other != key
            if (ratio := over_median(walls[other], medians[other], side, index)) is not None]


def burst_hit(walls: dict[tuple[str, str], dict[str, list[float]]],
              medians: dict[tuple[str, str], dict[str, float]], key: tuple[str, str], side: str,
              index: int) -> float:
    """``key``'s wall time in ``side``'s process ``index`` over its side's median, where it is DISTURBED_LEVEL
    or more and LEVEL_KEYS or more other keys of that process are too (a burst that hit part of its keys:
    H100 VM 38a, docs/noise.md); 1 otherwise."""
    own = over_median(walls[key], medians[key], side, index)
    if own is None or own < DISTURBED_LEVEL:
        return 1.0
    hit = sum(ratio >= DISTURBED_LEVEL for ratio in others_over_median(walls, medians, key, side, index))
    return own if hit >= LEVEL_KEYS else 1.0


def looks_early(index: int) -> bool:
    """Whether the process at ``index`` (of both sides, alternating in blocks of four) starts a block after
    which each side has PROCESSES_TO_REFUTE_EARLY processes or more: a look before it."""
    return index % BLOCK == 0 and index >= 2 * PROCESSES_TO_REFUTE_EARLY


def keys_that_fit(keys: int, remaining: int, seconds_left: float, process_seconds: float, key_seconds: float,
                  processes: int, key_visits: float) -> int:
    """How many of the plan's strongest ``keys`` the ``remaining`` processes can measure in ``seconds_left``,
    at the pace of the processes so far: each a fixed part (fork, device start, exit) and an equal share
    per key measured (``key_seconds`` over ``key_visits``); one at least, to decide the strongest.
    No seconds in the keys yet (no process has measured one): no pace to judge by, all of them."""
    if key_seconds <= 0:
        return keys
    fixed = (process_seconds - key_seconds) / processes
    per_key = key_seconds / key_visits
    return max(1, min(keys, math.floor((seconds_left / remaining - fixed) / per_key)))


def extra_processes(seconds_left: float, process_seconds: float, processes: int,
                    most: int = MAX_EXTRA_PROCESSES) -> int:
    """More processes a side for the keys still undecided after the last look: as many blocks as
    ``seconds_left`` holds at the pace of the ``processes`` so far (``process_seconds`` in all, each over every
    key then measured), EXTRA_PROCESSES at least (the budget stops a block that would not fit) and ``most``
    at most. From the budget and the pace, not from the decision the key's values gave: the second look's
    bar holds whatever the first saw (noise.EXTRA_PROCESSES)."""
    if processes <= 0 or process_seconds <= 0:
        return EXTRA_PROCESSES
    blocks = math.floor(seconds_left / (BLOCK * process_seconds / processes))
    return min(most, max(EXTRA_PROCESSES, blocks * BLOCK // len(SIDES)))


def stop_before(index: int, sides: int, elapsed: float, process_seconds: float, budget_seconds: float,
                position: int | None = None) -> bool:
    """Whether the process at ``index`` is not started: at a block's start, where the block would end past
    the budget at the pace so far, and only once each side has enough processes to confirm a slowdown
    (fewer would spend the budget on values that can only refute). ``position``: its place in the order
    being run (``index`` by default), whose blocks start at 0: the processes after the last look start
    blocks of their own wherever the first order ended (an odd number a side ends it within a block)."""
    if (index if position is None else position) % BLOCK or not enough_to_confirm(index, sides):
        return False
    return elapsed + BLOCK * process_seconds / index > budget_seconds


def enough_to_confirm(processes: int, sides: int) -> bool:
    """Whether ``processes`` in all give each of ``sides`` the processes a confirmation needs."""
    return processes >= sides * PROCESSES_TO_CONFIRM


Measure = Callable[[Plan, Workers, str, int, int, float, float | None, int], Remeasured]


def needs_measuring(left_out: list[Finding]) -> bool:
    """Whether a round left out a candidate that only a re-measurement decides: one that stands on its night
    (``Finding.stands``) is called by it."""
    return any(not finding.stands for finding in left_out)


def remeasure_in_rounds(candidates: list[Finding], tonight: Night, device: str, pythons: dict[str, str],
                        processes: int, seed: int, budget: float, factor: float,
                        measure: Measure = remeasure, short_allowance: float = 0.0,
                        torch: dict[str, str | None] | None = None) -> tuple[Remeasured, list[Finding], int]:
    """Re-measure the strongest candidates that fit the budget (those short of the factor: the budget and
    ``short_allowance``); with what that round left unspent (its candidates refuted early leave the
    most), at the pace it measured, the next strongest, with the same workers; and so on. A round that
    left out a candidate only a re-measurement decides (``needs_measuring``) gives its keys undecided at the
    last look EXTRA_PROCESSES more a side at most, so that what it leaves unspent goes to candidates never
    measured; else it gives them what the budget left holds. Returns the values, the candidates left out
    (those a round dropped among them) and the number of rounds; a RemeasureError carries the same of the rounds
    before it failed (none where the workers could not start, had another torch than their side's night
    (``torch``, by side), or the first round failed)."""
    merged = Remeasured({}, 0.0)
    pending, pace, rounds = candidates, 1.0, 0
    try:
        with Workers(pythons, device, torch) as workers:
            while pending:
                left = budget - merged.seconds
                plan, left_out, estimate = fitted_plan(pending, tonight, processes, device, left, pace,
                                                       first_round=rounds == 0, short_allowance=short_allowance,
                                                       sides=len(pythons))
                if not plan:
                    break
                # A round runs into the allowance only where a short candidate planned needs it; its processes
                # after the last look and its pace may then spend it on any key of the round (docs/noise.md).
                shorts = any(finding.short and finding not in left_out for finding in pending)
                planned = round_seconds(processes, pace, estimate, workers_seconds(device, rounds == 0), len(pythons))
                measured = measure(plan, workers, device, processes, seed + rounds,
                                   left + (short_allowance if shorts and planned > left else 0.0), factor,
                                   EXTRA_PROCESSES if needs_measuring(left_out) else MAX_EXTRA_PROCESSES)
                merged = merged.merged(measured)
                if measured.processes:
                    pace = measured_pace(measured, estimate)
                pending = [f for f in pending if f in left_out or f.config_mask in measured.dropped]
                rounds += 1
    except RemeasureError as error:
        # What the rounds before decided stands: the fault leaves only the candidates not yet measured.
        error.measured, error.unmeasured, error.rounds = merged, pending, rounds
        raise
    return merged, pending, rounds
