"""Where a night's GPU time moves: between its builds, between nights, and with the SM clock.

    python experiments/gpu_time_builds.py RESULTS_DIR MACHINE

A night before c3b3816 timed each call under 10 ms as a CUDA graph in three builds (fresh
tensors, a fresh graph) and reads the SM clock (NVML) beside each; its `.night`
file keeps both. Per band of GPU time, over every result of the machine's
nights: the median of each night's max/min over its builds, the median of the
max/min over nights of each night's median build, and how each build's GPU
time follows its clock (the correlation and slope of log(time / the result's
median) on log(the result's median clock / clock): a slope of 1 is a time set
by the clock alone).

A second table says how much of a result's night-to-night spread its builds
explain, per band: the standard deviation of a night's figure (the mean of its
builds' log, the geometric mean the night records) that the spread between
its builds gives (within each night, each build's own offset over the nights
taken out: a pass's place makes some results' first build slower on every
night), next to the spread of the figure between the nights of one session
(nights started less than ``--session-gap-min`` apart: one VM; a run's start
is asv's, or where the file has none its commit's date, which a label
repository's commit made for each night is) and over all
nights; the median over results of the first's variance over the second's.
Near 1, more builds a night would narrow the night-to-night spread as
one over their number; near 0, only more nights would. CPU only, seconds: run
it on a GPU machine's results copied back.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib.results import ResultsStore  # noqa: E402
from lib.suite import schema  # noqa: E402

BANDS = ((0.0, 2e-4), (2e-4, 2e-3), (2e-3, math.inf))  # seconds: launch-bound to long calls
SPREAD_BANDS = ((0.0, 2e-4), (2e-4, 1e-3), (1e-3, 2e-3), (2e-3, 1e-2), (1e-2, math.inf))


def band_row(builds: dict[tuple[str, str], list[list[tuple[float, float | None]]]], low: float, high: float) -> dict:
    """One band's row: ``builds`` per result, per night, (GPU time, clock or None where NVML could not say) of each
    build."""
    within, between, xs, ys = [], [], [], []
    for nights in builds.values():
        points = [point for night in nights for point in night]
        level = statistics.median(time for time, _ in points)
        clocked = [(time, mhz) for time, mhz in points if mhz]
        if not (low <= level < high) or not clocked:
            continue
        clock = statistics.median(mhz for _, mhz in clocked)
        xs += [math.log(clock / mhz) for _, mhz in clocked]
        ys += [math.log(time / level) for time, _ in clocked]
        within += [max(t for t, _ in night) / min(t for t, _ in night) for night in nights if len(night) > 1]
        medians = [statistics.median(t for t, _ in night) for night in nights if night]
        between.append(max(medians) / min(medians))
    if len(xs) < 3:
        return {"GPU time": f"{low * 1e6:.0f}-{high * 1e6:.0f} us", "results": 0}
    correlation = statistics.correlation(xs, ys)
    slope = statistics.linear_regression(xs, ys).slope
    return {"GPU time": f"{low * 1e6:.0f}-{high * 1e6:.0f} us", "results": len(between), "builds": len(xs),
            "builds in a night, max/min": f"{statistics.median(within):.3f}",
            "nights' medians, max/min": f"{statistics.median(between):.3f}",
            "with the clock: correlation": f"{correlation:.2f}", "slope": f"{slope:.2f}"}


Nights = list[tuple[int, list[float]]]  # per night of one result: its session, its builds' log


def spread_row(nights_by_result: dict[tuple[str, str], Nights], low: float, high: float) -> dict:
    """One band's row of the second table (the module's docstring)."""
    from_builds, in_session, overall, shares = [], [], [], []
    for nights in nights_by_result.values():
        count = statistics.mode(len(logs) for _, logs in nights)
        nights = [(session, logs) for session, logs in nights if len(logs) == count]
        if count < 2 or len(nights) < 3 or not low <= math.exp(statistics.median(
                statistics.fmean(logs) for _, logs in nights)) < high:
            continue
        offsets = [statistics.fmean(logs[index] for _, logs in nights) for index in range(count)]
        squares = sum((log - offset - statistics.fmean(logs) + statistics.fmean(offsets)) ** 2
                      for _, logs in nights for log, offset in zip(logs, offsets))
        builds_variance = squares / ((len(nights) - 1) * (count - 1)) / count
        figures = [(session, statistics.fmean(logs)) for session, logs in nights]
        sessions: dict[int, list[float]] = {}
        for session, figure in figures:
            sessions.setdefault(session, []).append(figure)
        freedom = sum(len(values) - 1 for values in sessions.values())
        if not freedom:
            continue
        session_variance = sum(statistics.pvariance(values) * len(values) for values in sessions.values()) / freedom
        from_builds.append(builds_variance)
        in_session.append(session_variance)
        overall.append(statistics.variance(figure for _, figure in figures))
        shares.append(builds_variance / session_variance if session_variance else math.inf)
    if not shares:
        return {"GPU time": _band_name(low, high), "results": 0}

    def sd(variances: list[float]) -> str:
        return f"{100 * math.sqrt(statistics.median(variances)):.2f}%"

    return {"GPU time": _band_name(low, high), "results": len(shares), "the night's figure from its builds":
            sd(from_builds), "between the nights of a session": sd(in_session), "between all nights": sd(overall),
            "builds' share": f"{statistics.median(shares):.2f}"}


def _band_name(low: float, high: float) -> str:
    return f"{low * 1e6:.0f}-{high * 1e6:.0f} us"


def sessions_of(starts: list[int], gap_ms: float) -> list[int]:
    """Each run's session: a new one where it started more than ``gap_ms`` after the run before it."""
    sessions, session = [], 0
    for index, start in enumerate(starts):
        if index and start - starts[index - 1] > gap_ms:
            session += 1
        sessions.append(session)
    return sessions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("machine")
    parser.add_argument("--session-gap-min", type=float, default=30.0,
                        help="nights started further apart than this are of different sessions (default 30)")
    args = parser.parse_args()
    store = ResultsStore(args.results_dir)
    runs = store.runs(args.machine)
    builds: dict[tuple[str, str], list[list[tuple[float, float | None]]]] = {}
    nights: dict[tuple[str, str], Nights] = {}
    sessions = sessions_of([run.started or run.date for run in runs], args.session_gap_min * 60e3)
    for run, session in zip(runs, sessions):
        times, clocks = store.night_visits(run, schema.GPU), store.night_clocks(run)
        for label, masks in times.items():
            for mask, values in masks.items():
                pairs = list(zip(values, [*clocks.get(label, {}).get(mask, []), *[None] * len(values)]))
                builds.setdefault((label, mask), []).append(pairs)
                nights.setdefault((label, mask), []).append((session, [math.log(value) for value in values]))
    print(f"{args.machine}: {len(runs)} nights")
    print(tabulate([band_row(builds, low, high) for low, high in BANDS], headers="keys", tablefmt="github"))
    print(f"\n{len(set(sessions))} sessions; "
          "standard deviations of the log, the median over results")
    print(tabulate([spread_row(nights, low, high) for low, high in SPREAD_BANDS], headers="keys", tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
