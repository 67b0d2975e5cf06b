"""Confirmation: re-measure candidate changes in fresh processes of both torch builds, alternating.

A night gives one process per benchmark and config, and one process lives in one
state of the host's CPU speed: a launch-bound config's time moves by tens of
percent between processes. So a candidate is re-measured in several short
processes per side, the baseline's Python and the contender's alternating in
blocks of ABBA or BAAB chosen at random: forked children land on alternating
vCPUs, and a strict ABAB order would put every A on one vCPU. Each child
measures every candidate, in its own random order; a key of short calls is
visited in PASSES passes, each on another CPU drawn at random, and its fastest
visit is the process's value, as in the night.

Standard library only: the workers (``benchmarks/measure/confirm_worker.py``) import torch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

SIDES = ("baseline", "contender")
# Visits of a short-call key in each process, each pinned to another CPU. With one visit
# a process, half the baseline processes of a +25% calibration on an H100 VM were slow on
# every key, as on a slow vCPU (2026-11-26), and none of the 10 slowdowns was confirmed.
PASSES = 4

Keys = dict[tuple[str, str], tuple[tuple[str, ...], int]]  # (config, mask) -> (signals, visits)


class ConfirmationError(Exception):
    """A worker could not start or answer."""


@dataclasses.dataclass
class Worker:
    """One environment's worker: a Python with torch that forks a child per request."""

    side: str
    python: str
    process: subprocess.Popen | None = None

    def start(self) -> None:
        try:
            self.process = subprocess.Popen(
                [self.python, "-m", "benchmarks.measure.confirm_worker"], cwd=REPO_ROOT,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        except OSError as error:
            raise ConfirmationError(f"cannot start {self.python}: {error}") from None

    def ask(self, request: dict) -> dict:
        assert self.process and self.process.stdin and self.process.stdout
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            raise ConfirmationError(f"the {self.side} worker ({self.python}) stopped answering")
        answer = json.loads(line)
        if "error" in answer:
            raise ConfirmationError(f"the {self.side} worker failed: {answer['error'].strip().splitlines()[-1]}")
        return answer

    def stop(self) -> None:
        if self.process:
            self.process.stdin.close()
            self.process.wait(timeout=60)


def process_order(processes_per_side: int, rng: random.Random) -> list[str]:
    """Sides in blocks of ABBA or BAAB, chosen at random: balanced against period-2 placement and drift."""
    order: list[str] = []
    while len(order) < 2 * processes_per_side:
        block = ["baseline", "contender", "contender", "baseline"]
        order += block if rng.random() < 0.5 else block[::-1]
    return order[: 2 * processes_per_side]


@dataclasses.dataclass
class Remeasured:
    """Per key (config, mask): each side's per-process values of each signal, in the order measured."""

    values: dict[tuple[str, str], dict[str, dict[str, list[float]]]]
    seconds: float
    processes: int

    def side(self, key: tuple[str, str], signal: str, side: str) -> list[float]:
        return self.values.get(key, {}).get(side, {}).get(signal, [])

    def as_json(self) -> list[dict]:
        return [{"config": c, "mask": m, **sides} for (c, m), sides in self.values.items()]


def remeasure(keys: Keys, pythons: dict[str, str], device: str, processes_per_side: int, seed: int,
              budget_seconds: float = 120.0) -> Remeasured:
    """Measure every key (config, mask) in ``processes_per_side`` fresh processes of each Python (one side or both).

    ``keys`` name the signals each key needs ("wall", "gpu"; a CUDA-graph capture only
    where it is asked for) and its visits a process. No block of four processes starts
    that would end past ``budget_seconds`` at the pace so far: the nightly's cost stays
    bounded, and the sides stay balanced.
    """
    started = time.perf_counter()
    rng = random.Random(seed)
    workers = {side: Worker(side, pythons[side]) for side in SIDES if side in pythons}
    values: dict[tuple[str, str], dict[str, dict[str, list[float]]]] = {
        key: {side: {} for side in workers} for key in keys}
    processes = 0
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    try:
        for worker in workers.values():
            worker.start()
        order = (process_order(processes_per_side, rng) if len(workers) == 2
                 else [next(iter(workers))] * processes_per_side)
        for index, side in enumerate(order):
            elapsed = time.perf_counter() - started
            if index % 4 == 0 and index and elapsed * (1 + 4 / index) > budget_seconds:
                break
            answer = workers[side].ask({
                "device": device, "seed": rng.randrange(2**32),
                "cpus": rng.sample(cpus, min(PASSES, len(cpus))),
                "keys": [[config, mask, list(signals), visits] for (config, mask), (signals, visits) in keys.items()]})
            for value in answer["values"]:
                per_signal = values[(value["config"], value["mask"])][side]
                for signal in ("wall", "gpu"):
                    if signal in value:
                        per_signal.setdefault(signal, []).append(value[signal])
            processes += 1
    finally:
        for worker in workers.values():
            if worker.process:
                try:
                    worker.stop()
                except (OSError, subprocess.TimeoutExpired):
                    worker.process.kill()
    return Remeasured(values, time.perf_counter() - started, processes)

