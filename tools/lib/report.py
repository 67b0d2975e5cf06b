"""The verdict as people and machines read it: a markdown report and a JSON document."""

from __future__ import annotations

import json
import math
import statistics

from tabulate import tabulate

from lib import noise, remeasure
from lib.findings import LEVELS, LISTED, NOISE, REGRESSION, SUSPECT, Finding
from lib.suite import schema
from lib.verdict import NEW_CONFIG, Verdict


def formatted(signal: str, value: float) -> str:
    if signal in schema.TIMED_SIGNALS:
        return f"{schema.microseconds(value):.4g} {schema.MICROSECONDS}"
    return f"{value:g}"


def sm_clocks(confirmation: dict) -> str:
    """', SM clock 1965 / 1410 MHz, taken to 1800': the median clocks read after each side's GPU times, where
    any were, and the one clock the decision took them to; ', as measured: ...' where GPU times of both sides
    were decided without one (a process without its clock: no NVML)."""
    clocks = confirmation.get("sm_clock_mhz")
    read = (", SM clock " + " / ".join("-" if clock is None else f"{clock:.0f}" for clock in clocks.values())
            + " MHz") if clocks else ""
    if "at_sm_clock_mhz" not in confirmation:  # a wall time, one side alone, or a report from before
        return read
    taken = confirmation["at_sm_clock_mhz"]
    return read + (", as measured: not every process read its SM clock" if taken is None
                   else f", taken to {taken:.0f}")


# The column of the host's share (Finding.host_move), shown where a finding of the table has one that is more
# than its class's move (Finding.host_explains).
HOST_SHARE = "host's share"


def findings_table(findings: list[Finding]) -> str:
    with_share = any(f.host_explains for f in findings)
    rows = [{
        "config": f.key[1], "mask": f.key[2], "signal": f.signal, "class": f.klass,
        "reference": formatted(f.signal, f.reference), "tonight": formatted(f.signal, f.contender),
        "ratio": f"{f.ratio:.3f}", "over its class": "" if f.move == 1.0 else f"{f.relative:.3f}",
        **({HOST_SHARE: f"{f.host_move:.3f}" if f.host_explains else ""} if with_share else {}),
        "floor": "" if math.isinf(f.floor) else f"{f.floor:.3f}",
        "why": f.why + (f" ({f.confirmation['ratio']:.3f}, p={f.confirmation['p_change']:.2g}"
                        f"{sm_clocks(f.confirmation)})" if f.confirmation else ""),
    } for f in findings]
    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True) if rows else "none"


def floor_summary(rows: list[dict]) -> list[dict]:
    """The spread of the per-result one-night floors per class and signal: min, median, max."""
    summary = []
    for klass in sorted({row["class"] for row in rows}):
        for signal in schema.TIMED_SIGNALS:
            floors = [row[f"{signal}_floor"] for row in rows
                      if row["class"] == klass and row[f"{signal}_floor"] is not None]
            if floors:
                summary.append({"class": klass, "signal": signal, "results": len(floors),
                                "min floor": f"{min(floors):.3f}",
                                "median floor": f"{statistics.median(floors):.3f}",
                                "max floor": f"{max(floors):.3f}"})
    return summary


def shifts_table(verdict: Verdict) -> str:
    """``verdict.shifts`` (``verdict.class_shifts``) as a table."""
    rows = [{"class": row["class"], "signal": row["signal"], "results": row["results"],
             "median tonight / reference": f"{row['median']:.3f}",
             f"slower by {verdict.factor:g} or more": row["slower"],
             "common move taken out": f"{row['move']:.3f}" if row["move"] is not None else
             f"none (under {noise.MOVE_MIN_RESULTS} results)"} for row in verdict.shifts]
    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True) if rows else "none"


def markdown(verdict: Verdict) -> str:
    parts = [f"# {verdict.headline}", "", introduction(verdict), ""]
    for level, title in ((REGRESSION, "Regressions"), (SUSPECT, "Suspects (listed, not failing)")):
        found = verdict.level(level)
        parts += [f"## {title} ({len(found)})", "", findings_table(found), ""]
    if verdict.names:
        parts += ["## Operators and kernels that appeared or vanished", ""]
        parts += [f"- {config} {mask}: {change}" for (config, mask), change in sorted(verdict.names.items())]
        parts.append("")
    noise = verdict.level(NOISE)
    parts += [f"## Candidates ruled out: noise, or slower by less than the factor ({len(noise)})", "",
              findings_table(noise), ""]
    if verdict.remeasurement:
        parts += ["## Re-measurement", "", remeasurement_line(verdict.remeasurement), ""]
    parts += ["## Tonight against the reference, by class", "",
              "Where most results of a class moved together, the host's speed moved, or a path of torch's "
              "common to them. That common move (the median, no higher than the lower quartile allows where "
              "only part of the class moved) is taken out of each result's ratio before it is judged ('over "
              "its class'); a common move beyond the factor is itself a finding, its three results nearest "
              "it re-measured for the class, most of them deciding. Where only part of the class moved, a "
              "result short of the factor over that move, the factor slower than the class's lower quartile, "
              "is re-measured over the quartile ('only part of its class moved').", "", shifts_table(verdict), "",
              "## Detection floor on this machine tonight (one night, no re-measurement)", "",
              tabulate(floor_summary(verdict.floors), headers="keys", tablefmt="github") or "none", "",
              f"## Failed or missing ({len(verdict.not_measured)})", ""]
    parts.extend([f"- {item}" for item in verdict.not_measured] or ["none"])
    if verdict.new_series:
        parts += ["", f"## Benchmarks of a new version, compared from tonight on ({len(verdict.new_series)})", "",
                  "Their `version` differs from the history's: what the result means changed, so, as in asv "
                  "compare and asv publish, the history's values are not compared with tonight's.", ""]
        parts.extend(f"- `{name}`" for name in verdict.new_series)
    new_configs = sorted({row["config"] for row in verdict.unjudged if row["why"] == NEW_CONFIG})
    if new_configs:
        parts += ["", f"## Configs no night of the history measured, compared from tonight on ({len(new_configs)})",
                  ""]
        parts.extend(f"- {config}" for config in new_configs)
    if verdict.steps is not None:
        parts += ["", f"## Steps found by asv publish over the history ({len(verdict.steps)})", ""]
        rows = [{**d, "before": f"{d['before']:.4g}", "after": f"{d['after']:.4g}",
                 "ratio": f"{d['ratio']:.3f}",
                 "now_vs_best": "-" if d["now_vs_best"] is None else f"{d['now_vs_best']:.3f}"} for d in verdict.steps]
        parts.append(tabulate(rows, headers="keys", tablefmt="github") if rows else "none")
    return "\n".join(parts) + "\n"


def introduction(verdict: Verdict) -> str:
    classes: dict[str, int] = {}
    for row in verdict.floors:
        classes[row["class"]] = classes.get(row["class"], 0) + 1
    return (f"Machine `{verdict.machine}`, tonight `{verdict.contender.commit_hash[:8]}` against the last "
            f"{verdict.nights} night(s) up to `{verdict.baseline.commit_hash[:8]}`; factor {verdict.factor}. "
            "Results by class: " + ", ".join(f"{n} {k}" for k, n in sorted(classes.items()))
            + f". Launch-bound: wall time at least {schema.LAUNCH_BOUND_RATIO}x the GPU time, so the host's "
            "speed sets it and a wall-time change means little by itself. Near launch-bound: under that ratio, "
            f"a wall time under {schema.NEAR_LAUNCH_BOUND_RATIO}x the launch-bound ones' median (the host's "
            "dispatch), which the host's speed moves as well. Long GPU-bound: a GPU time of at least "
            f"{schema.LONG_CALL_SECONDS * 1e3:g} ms, which runs the GPU near its power limit. Floor: the "
            "smallest slowdown over its "
            "class's common move that one night shows on that result.")


def remeasurement_line(summary: dict) -> str:
    if "error" in summary and not summary["keys"]:
        return f"failed: {summary['error']}" + (
            f"; {summary['called_on_night']} GPU time(s) called on their night all the same: one night beyond the "
            "noise in each of its builds" if summary.get("called_on_night") else "")
    line = (f"{summary['keys']} config(s) and mask(s) in {summary['processes']} processes, "
            f"{summary['seconds']:.1f} s of a {summary['budget']:.0f} s budget"
            + (f" and {summary['short_budget']:.0f} s more for GPU times short of the factor"
               if summary.get("short_of_factor") and summary.get("short_budget") else ""))
    if summary.get("refuted_early"):
        line += f", {summary['refuted_early']} of them refuted at a look before the last"
    if summary.get("extended"):
        line += f", {summary['extended']} undecided at the last look and given more processes"
    if summary.get("disturbed"):
        line += (f", {summary['disturbed']} wall time(s) left out, taken in a burst of the host's slowness "
                 f"(the process's other keys {remeasure.DISTURBED_LEVEL}x or more over their side, or it and "
                 f"{remeasure.LEVEL_KEYS} or more of them)")
    if summary.get("short_of_factor"):
        line += (f", {summary['short_measured']} of {summary['short_of_factor']} GPU time(s) short of the factor "
                 + ("with what the budget left and their allowance" if summary.get("short_budget")
                    else "with what the budget left"))
    if summary.get("dropped"):
        line += (f"; {summary['dropped']} config(s) and mask(s) dropped after the first processes ran slower "
                 "than planned")
    if summary.get("called_on_night"):
        line += (f"; {summary['called_on_night']} GPU time(s) called on their night, not re-measured "
                 + ("as a round failed" if "error" in summary else "for the budget")
                 + ": one night beyond the noise in each of its builds")
    if summary["left_out"]:
        above = summary.get("left_out_above_floor", 0)
        line += (f"; {summary['left_out']} candidate(s) left out for the budget, weakest evidence first "
                 f"({above} above their floor, {summary['left_out'] - above} under it)")
    if "error" in summary:
        line += (f"; then a round failed ({summary['error']}): the {summary['unmeasured']} candidate(s) not yet "
                 "measured stay suspects, what the rounds before it measured is decided")
    phases = dict(summary.get("phases") or {})
    workers = phases.pop("workers", None)
    if workers is not None:
        line += f". The workers' start (torch's import): {workers:.1f} s"
    if summary["processes"] and phases.get("process"):
        per_process = {name: seconds / summary["processes"] for name, seconds in phases.items()}
        measured = sum(seconds for name, seconds in per_process.items() if name != "process")
        parts = [f"{name.replace('_', ' ')} {seconds:.2f}" for name, seconds in per_process.items()
                 if name != "process"]
        line += (f". A process: {per_process['process']:.2f} s ({', '.join(parts)}; fork, exit and pipes "
                 f"{per_process['process'] - measured:.2f})")
    return line


FIRST_NIGHT = "first night"


def first_night(machine: str, contender: str) -> str:
    """The verdict's line where the machine has no night before tonight's."""
    return f"{FIRST_NIGHT} on {machine!r}: no baseline to compare {contender[:8]} with yet"


def first_night_markdown(machine: str, contender: str, set_aside: list[str]) -> str:
    """The first night's report: its line, and the nights set aside before it."""
    return "\n".join([f"# {first_night(machine, contender)}", *(["", *(f"- {item}" for item in set_aside)]
                                                                if set_aside else [])]) + "\n"


def first_night_json(machine: str, contender: str, set_aside: list[str]) -> str:
    """The first night in --format json: the verdict's own keys, nothing judged, the nights set aside."""
    return json.dumps({"verdict": FIRST_NIGHT, "headline": first_night(machine, contender), "machine": machine,
                       "contender": contender, "nights": 0, **{LISTED[level]: [] for level in LEVELS},
                       "not_measured": set_aside}, indent=1)


def as_json(verdict: Verdict) -> str:
    return json.dumps({
        "verdict": verdict.word, "headline": verdict.headline, "machine": verdict.machine,
        "factor": verdict.factor, "baseline": verdict.baseline.commit_hash,
        "contender": verdict.contender.commit_hash, "nights": verdict.nights,
        **{LISTED[level]: [f.as_dict() for f in verdict.level(level)] for level in LEVELS},
        "name_changes": [{"config": c, "mask": m, "change": v} for (c, m), v in sorted(verdict.names.items())],
        "shifts": verdict.shifts, "floors": verdict.floors, "not_measured": verdict.not_measured,
        "new_series": verdict.new_series, "unjudged": verdict.unjudged, "confirmation": verdict.remeasurement,
        "drifts": verdict.steps,
    }, indent=1)
