"""The suite's names, in one place: classes, methods, masks, figures, units, files.

The tools, the synthetic history and the tests read them from here instead of
restating them. Standard library only: a bare virtualenv can import it.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONF = REPO_ROOT / "asv.conf.json"
BENCHMARK_MODULE = "attention_bias"
BENCHMARK_CLASSES = ("AttentionBias", "AttentionBiasCPU")
MASKS = ("materialized", "causal_bias")
# Each timed class's wall time of one forward, per mask (a track_* figure of the night's
# measuring process, in seconds): track_wall_time_<mask>.
METHODS = tuple(f"track_wall_time_{mask}" for mask in MASKS)
# Each timed class's track_* figures (issue 7) live in its Profile class, per mask:
# track_<figure>_<mask>.
PROFILE_CLASSES = {"AttentionBias": "AttentionBiasProfile", "AttentionBiasCPU": "AttentionBiasProfileCPU"}
FIGURES = ("gpu_time", "peak_memory", "tflops", "peak_fraction", "sdpa_backend")
# Counts of what one forward dispatches (DispatchCounts in benchmarks/grid.py): exact figures.
COUNT_FIGURES = ("aten_ops", "kernels", "syncs", "python_calls", "allocations")
FIGURE_METHODS = tuple(f"track_{figure}_{mask}" for figure in FIGURES + COUNT_FIGURES for mask in MASKS)
# The unit of track_sdpa_backend_* names its codes: "SDPBackend: 0 math, 1 flash, ...".
BACKEND_LEGEND = re.compile(r"(\d+) ([^,]+)")
# Files beside a machine's results (not .json: asv reads every .json under results/ as a run):
DISPATCH_SUFFIX = ".dispatch"  # operator and kernel names per config and mask (benchmarks/measure/common.py)
NIGHT_SUFFIX = ".night"  # the measuring process's seconds by phase and each visit's wall time
VERDICT_SUFFIX = ".verdict"  # a night's suspects (tools/check_regressions.py)
DISPATCH_FILE_VARIABLE = "ATTENTION_BIAS_DISPATCH_FILE"  # where the benchmarks write the names


def wall_method(mask: str) -> str:
    """The timed class's method of one mask's wall time."""
    return f"track_wall_time_{mask}"


def benchmark_name(benchmark_class: str, method: str) -> str:
    return f"{BENCHMARK_MODULE}.{benchmark_class}.{method}"
