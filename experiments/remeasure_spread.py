"""How far a re-measured GPU time moves between the processes of one side, by how long the key's GPU time is.

    python experiments/remeasure_spread.py CHECK.json [CHECK.json ...] [--bands-ms 1 3] [--keys]

Reads the per-process values that ``tools/check_regressions.py --format json``
records (``confirmation.values``) and, for each key and side with a GPU time
in at least ``--least`` processes, the standard deviation of the log values
over its processes (the spread that decides whether ten processes a side
separate a 5% step). Prints, per band of the key's median GPU time (edges
``--bands-ms``), the median, 90th percentile and max of those spreads and the
key-sides counted; ``--keys`` prints each key-side too. On an H200 keys of 3 ms
or more spread about six times the others before they rested ahead of their GPU
time (f7181dc), and less than the others since (docs/noise.md, "Heavy keys").
CPU only, seconds: run it on a GPU machine's check files copied back.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np


def log_spread(values: list[float]) -> float:
    """The standard deviation of the log values: a relative spread, the same for a fast and a slow key."""
    return float(np.std(np.log(values), ddof=1))


def key_sides(check: dict, least: int) -> list[tuple[str, str, str, float, float]]:
    """(config, mask, side, median GPU seconds, spread) for each key and side with ``least`` GPU times or more."""
    rows = []
    for key in (check.get("confirmation") or {}).get("values", []):
        for side in ("baseline", "contender"):
            gpu = [value for value in key.get(side, {}).get("gpu", []) if value and value > 0]
            if len(gpu) >= least:
                rows.append((key["config"], key["mask"], side, statistics.median(gpu), log_spread(gpu)))
    return rows


def band_of(seconds: float, edges_ms: list[float]) -> tuple[float, str]:
    """The band ``seconds`` falls in, as (its lower edge, its name): under the first edge, between two, or at
    the last edge and above."""
    milliseconds = seconds * 1e3
    lower = 0.0
    for edge in edges_ms:
        if milliseconds < edge:
            return lower, f"{lower:g}-{edge:g} ms"
        lower = edge
    return lower, f">= {lower:g} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checks", nargs="+", type=Path)
    parser.add_argument("--bands-ms", nargs="+", type=float, default=[1.0, 3.0])
    parser.add_argument("--least", type=int, default=4, help="GPU times a key-side needs to be counted")
    parser.add_argument("--keys", action="store_true", help="print every key-side as well")
    args = parser.parse_args()
    bands: dict[tuple[float, str], list[float]] = {}
    for path in args.checks:
        for config, mask, side, seconds, spread in key_sides(json.loads(path.read_text()), args.least):
            bands.setdefault(band_of(seconds, sorted(args.bands_ms)), []).append(spread)
            if args.keys:
                print(f"{path.name}  {config:34s} {mask:12s} {side:9s} {seconds * 1e3:8.3f} ms  {spread:.2%}")
    for (_, band), spreads in sorted(bands.items()):
        print(f"GPU time {band:>10s}: spread median {statistics.median(spreads):.2%}, p90 "
              f"{np.quantile(spreads, 0.9):.2%}, max {max(spreads):.2%} ({len(spreads)} key-sides)")


if __name__ == "__main__":
    main()
