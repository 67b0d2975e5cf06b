"""Child processes that end with the tool that started them, even when it is killed with kill -9.

Standard library only. Used for asv (lib/conf.py), the nightly's steps (tools/nightly.py) and the
re-measurement's workers (lib/remeasure.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

# Runs a command as the leader of a process group of its own that ends with its parent:
# killed (even by kill -9), the tool takes the command and every process under it along (asv,
# its forkserver and the night's setup_cache child; a worker and its forked children) instead
# of leaving them to run on. asv starts its forkserver and setup_cache in process groups of
# their own, so a group kill is not enough: the supervisor is the subreaper of everything under
# it and kills the whole tree, by /proc. Linux's PR_SET_PDEATHSIG tells it its parent died;
# elsewhere it only runs the command. stdin and stdout pass through: the command inherits them.
SUPERVISOR = """
import ctypes, os, signal, subprocess, sys, time
parent = os.getppid()
os.setsid()
def tree():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [os.getpid()]
    while todo:
        more = children.get(todo.pop(), [])
        found += more
        todo += more
    return found
def end_tree():
    for _ in range(100):
        try:
            pids = tree()
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        time.sleep(0.01)
def stop(*_):
    end_tree()
    os.killpg(0, signal.SIGKILL)
signal.signal(signal.SIGTERM, stop)
try:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: what asv leaves orphaned comes to us, not to init
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() != parent:
    stop()
code = subprocess.call(sys.argv[1:])
end_tree()  # the command ended: nothing it started runs on
sys.exit(128 - code if code < 0 else code)  # ended by signal N: 128 + N, as a shell says it
"""


# A process ended by signal N exits 128 + N under the supervisor, as under a shell.
SIGNALLED = 128


def ending_signal(returncode: int) -> int | None:
    """The signal that ended a supervised command (the supervisor's own -N, or its command's 128 + N); None
    where it exited."""
    if returncode < 0:
        return -returncode
    return returncode - SIGNALLED if SIGNALLED < returncode < SIGNALLED + signal.NSIG else None


def supervised(command: list[str]) -> list[str]:
    """``command`` run under the supervisor: its process group ends with this process."""
    return [sys.executable, "-c", SUPERVISOR, *command]


def relayed(command: list[str], cwd: Path, env: dict[str, str] | None = None, lines: list[str] | None = None) -> int:
    """Run ``command`` under the supervisor, its output passed through ours line by line; its return code.
    Never onto our file descriptor: where our reader has gone (cli.LosableOutput) the output is lost and the
    command goes on; on the descriptor it died at its first line. ``lines``: its stderr joins its stdout, and
    each line is also kept there."""
    with subprocess.Popen(supervised(command), stdout=subprocess.PIPE,
                          stderr=None if lines is None else subprocess.STDOUT, text=True, cwd=cwd,
                          env=env) as process:
        for line in process.stdout or ():
            print(line, end="", flush=True)
            if lines is not None:
                lines.append(line.rstrip("\n"))
    return process.returncode


def end_group(process: subprocess.Popen) -> None:
    """Kill a supervised command's whole group (the supervisor leads it), not only the supervisor."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()
