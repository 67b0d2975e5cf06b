"""Child processes that end with the tool that started them, even when it is killed with kill -9.

Standard library only. Used for asv (lib/conf.py) and the re-measurement's workers (lib/remeasure.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

# Runs a command as the leader of a process group of its own that ends with its parent:
# killed (even by kill -9), the tool takes the command and every child of it along (asv, its
# forkserver and the night's measuring child; a worker and its forked children) instead of
# leaving them to run on. Linux's PR_SET_PDEATHSIG tells the supervisor; elsewhere it only runs
# the command. stdin and stdout pass through: the command inherits them.
SUPERVISOR = """
import ctypes, os, signal, subprocess, sys
parent = os.getppid()
os.setsid()
def stop(*_):
    os.killpg(0, signal.SIGKILL)
signal.signal(signal.SIGTERM, stop)
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() != parent:
    stop()
sys.exit(subprocess.call(sys.argv[1:]))
"""


def supervised(command: list[str]) -> list[str]:
    """``command`` run under the supervisor: its process group ends with this process."""
    return [sys.executable, "-c", SUPERVISOR, *command]


def end_group(process: subprocess.Popen) -> None:
    """Kill a supervised command's whole group (the supervisor leads it), not only the supervisor."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()
