#!/usr/bin/env python3
"""The nightly verdict: did tonight's run make either mask's path slower, beyond this machine's noise?

Per config, mask and signal, tonight's value against the recent nights of the same
machine. Signals, most precise first:

- counts (operators, kernels, syncs, Python calls, allocations of one forward):
  exact, so any change is a regression at once (a suspect where the history shows
  the count moving by itself);
- gpu: CUDA-graph GPU time, no launch cost: kernel changes;
- wall: the wall time of one forward, launch cost included: host-side changes,
  noisy on launch-bound configs (wall time well above GPU time) on a cloud VM.

For gpu and wall, a noise model learned from the history (and an A/A calibration
pair, --calibration) gives each config's spread. A slowdown beyond --factor that
the model can call on one night is a regression; one it cannot is a candidate.
With --baseline-python and --contender-python, candidates are re-measured in the
same job, several fresh processes a side, the two torch builds alternating
(tools/confirmation.py), as many as fit the budget (half the night by default),
strongest evidence first, and decided over the per-process values: confirmed ->
regression, refuted -> noise, undecided -> suspect. With --contender-python alone,
the re-measurement can refute a candidate but not confirm it. A suspect that
persists on the next night (--record-verdict keeps each night's suspects) is a
regression.

Exit codes: 0 no regression (suspects are listed; also the first night), 1 at
least one regression, 2 an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
from pathlib import Path

import noise_model
from asv_results import ConfigRow, ResultsStore, RunFile, config_rows, has_results, open_machine, problem_rows
from cli import ToolError, add_results_arguments, one_line, run_tool
from confirmation import PASSES, ConfirmationError, Keys, Remeasured, remeasure
from suite import schema
from tabulate import tabulate

COUNT_FIGURES = schema.COUNT_FIGURES
MASKS = schema.MASKS

DEFAULT_FACTOR = 1.05
DEFAULT_HISTORY = 14
DEFAULT_WINDOW = 5
DEFAULT_PROCESSES = 10
# The re-measurement's share of the night's own time (asv's durations), at least MIN_BUDGET
# (a CPU-grid night takes seconds), and the budget where asv recorded no durations.
BUDGET_SHARE = 0.5
MIN_BUDGET = 30.0
DEFAULT_BUDGET = 120.0
CONTINUOUS = ("wall", "gpu")

Key = tuple[str, str, str]  # (grid, config label, mask)


def signal_value(row: ConfigRow, mask: str, signal: str) -> float | None:
    if signal == "wall":
        measurement = row.walls[mask]
        return measurement.value if measurement.ok else None
    return row.figure("gpu_time" if signal == "gpu" else signal, mask)


@dataclasses.dataclass
class Night:
    """One recorded run's values: per key, per signal."""

    run: RunFile
    values: dict[Key, dict[str, float | None]]
    problems: list[str]


def read_night(store: ResultsStore, run: RunFile) -> Night:
    results = store.load(run)
    values: dict[Key, dict[str, float | None]] = {}
    problems: list[str] = []
    for grid in schema.GRIDS:
        if not has_results(results, grid):
            continue
        rows = config_rows(results, grid, store.param_names(grid))
        problems += [f"{grid.night_class}.{p}" for p in problem_rows(rows) if not p.endswith("skipped")]
        for row in rows:
            for mask in MASKS:
                values[(grid.name, row.label, mask)] = {
                    signal: signal_value(row, mask, signal) for signal in (*CONTINUOUS, *COUNT_FIGURES)}
    return Night(run, values, problems)


@dataclasses.dataclass
class Finding:
    level: str  # "regression", "suspect", "noise"
    key: Key
    signal: str
    reference: float
    contender: float
    klass: str
    floor: float  # smallest slowdown one night shows on this key and signal
    why: str
    confirmation: dict | None = None
    one_night: bool = False  # beyond what the noise model allows on one night alone

    @property
    def ratio(self) -> float:
        return self.contender / self.reference

    @property
    def config_mask(self) -> tuple[str, str]:
        """(config, mask): how the re-measurement and the names files key a result."""
        return self.key[1], self.key[2]

    def as_dict(self) -> dict:
        grid, config, mask = self.key
        return {"level": self.level, "grid": grid, "config": config, "mask": mask,
                "signal": self.signal, "reference": self.reference, "contender": self.contender,
                "ratio": self.ratio, "class": self.klass, "floor": self.floor, "why": self.why,
                "confirmation": self.confirmation}


def key_class(nights: list[Night], key: Key) -> str:
    """The config's class from the most recent night that has both its wall and GPU time."""
    for night in reversed(nights):
        values = night.values.get(key, {})
        klass = noise_model.config_class(values.get("wall"), values.get("gpu"))
        if klass != "unknown":
            return klass
    return "unknown"


def reference_level(history: list[Night], key: Key, signal: str, window: int) -> float | None:
    """The median of the key's last ``window`` nights: one lucky or unlucky night moves it little."""
    values = [v for night in history[-window:] if (v := night.values.get(key, {}).get(signal))]
    return statistics.median(values) if values else None


ONE_NIGHT_CALL = f"beyond {noise_model.Z_CALL:g} sigma of this machine's noise"


@dataclasses.dataclass
class Settings:
    factor: float
    window: int
    confirm: dict[str, str] | None  # side -> Python
    processes: int
    seed: int
    budget: float | None  # seconds; None: a share of the night's own time


def classify(history: list[Night], tonight: Night, model: noise_model.NoiseModel, classes: dict[Key, str],
             previous_suspects: dict[tuple, dict], settings: Settings) -> tuple[list[Finding], list[Finding]]:
    """(findings before confirmation, candidates to re-measure) of every key and continuous signal."""
    findings, candidates = [], []
    for key, values in tonight.values.items():
        klass = classes[key]
        for signal in CONTINUOUS:
            now = values.get(signal)
            if not now:
                continue
            floor = model.floor(key, signal, klass, settings.factor)
            suspect_before = previous_suspects.get((*key, signal))
            if suspect_before:
                # Against the nights before the suspect one: a step that stayed shows there.
                before = reference_level(history[:-1], key, signal, settings.window)
                if before and now / before >= suspect_before["bar"]:
                    findings.append(Finding("regression", key, signal, before, now, klass, floor,
                                            "persisted: a suspect last night, still slower tonight"))
                    continue
            reference = reference_level(history, key, signal, settings.window)
            if not reference or now / reference < settings.factor:
                continue
            ratio = now / reference
            beyond = model.callable(ratio, key, signal, klass, settings.factor)
            if settings.confirm is not None:
                # Re-measured even when the night alone would call it: one night is one
                # process, and a slow episode of the host can pass 6 spreads of a calm history.
                candidates.append(Finding("suspect", key, signal, reference, now, klass, floor,
                                          ONE_NIGHT_CALL if beyond else "candidate", one_night=beyond))
            elif beyond:
                findings.append(Finding("regression", key, signal, reference, now, klass, floor, ONE_NIGHT_CALL))
            elif ratio >= floor:
                findings.append(Finding("suspect", key, signal, reference, now, klass, floor,
                                        "above its one-night floor; no re-measurement configured"))
    return findings, candidates


def count_findings(history: list[Night], tonight: Night, classes: dict[Key, str]) -> list[Finding]:
    """Counts that changed since last night: regression where the history held them constant."""
    findings = []
    last = history[-1]
    for key, values in tonight.values.items():
        for count in COUNT_FIGURES:
            now, before = values.get(count), last.values.get(key, {}).get(count)
            if now is None or before is None or now == before:
                continue
            seen = {v for night in history if (v := night.values.get(key, {}).get(count)) is not None}
            level, why = ("regression", "exact count changed") if len(seen) == 1 else (
                "suspect", f"this count took {len(seen)} values in the history")
            if now < before:
                level, why = "noise", "fewer: " + why
            findings.append(Finding(level, key, count, before, now, classes[key], 1.0, why))
    return findings


# What a re-measurement process costs, by device, to fit the candidates to the budget with
# every process measuring every chosen key. From the re-measurements of the H100 VMs of
# 2026-11-26 (1.1-2.3 s a process for 5-17 keys): about 0.9 s a process (the worker's
# fork, CUDA's start), per key 0.06 s (the first build and calls); per visit a build and
# 3 blocks of 2 ms or 2 calls; for a GPU time about 9 more calls.
PROCESS_SECONDS = {"cuda": 0.9, "cpu": 0.05}
KEY_SECONDS = {"cuda": 0.06, "cpu": 0.02}
VISIT_SECONDS = 0.01
WALL_CALLS = 2
GPU_CALLS = 9
# How far one night moves a signal before the history has taught the model (H100 and
# H200 VMs, A/A pairs of 2026-11-26: GPU time up to a few percent; wall time of GPU-bound
# configs a few percent, of launch-bound ones up to 30% on a noisy host): the scale the
# evidence of a candidate is ranked by when not all of them fit the budget. Once the
# history gives a spread, that one ranks: with the prior kept as a lower bound, GPU-time
# candidates of 1.07 outranked +25% launch-bound slowdowns on an H100 VM whose history
# said 7% for launch-bound wall times and 3% for GPU times (2026-11-26).
PRIOR_SPREAD = {"gpu": 1.03, "GPU-bound": 1.03, "launch-bound": 1.15, "unknown": 1.1}


def priority(finding: Finding) -> tuple[bool, float]:
    """Strongest evidence first: one-night calls, then the change in units of the signal's spread."""
    if math.isfinite(finding.floor):  # the history's own floor: Z_CANDIDATE spreads of this key and signal
        spread = finding.floor ** (1 / noise_model.Z_CANDIDATE)
    else:
        spread = PRIOR_SPREAD["gpu"] if finding.signal == "gpu" else PRIOR_SPREAD[finding.klass]
    return (not finding.one_night, -math.log(finding.ratio) / math.log(spread))


def fitted_keys(candidates: list[Finding], tonight: Night, settings: Settings, device: str, budget: float,
                pace: float = 1.0, first_free: bool = True) -> tuple[Keys, list[Finding], float]:
    """The keys to re-measure, in priority order, as many as ``settings.processes`` a side can
    measure within ``budget`` seconds; the candidates left out; the estimated seconds a process.

    ``pace``: measured over estimated seconds a process, from an earlier round (1 before any);
    ``first_free``: the strongest candidate is taken even where it alone does not fit.
    """
    keys: Keys = {}
    left_out: list[Finding] = []
    seconds = PROCESS_SECONDS[device]
    for finding in sorted(candidates, key=priority):
        cost = key_cost(finding, keys, tonight, device)
        if (keys or not first_free) and 2 * settings.processes * pace * (seconds + cost) > budget:
            left_out.append(finding)
            continue
        seconds += cost
        key = finding.config_mask
        keys[key] = (tuple(sorted({*signals_of(keys, key), finding.signal})),
                     visits(tonight.values.get(finding.key, {})))
    return keys, left_out, seconds


def signals_of(keys: Keys, key: tuple[str, str]) -> tuple[str, ...]:
    """The signals already chosen for a key, none where it is not chosen yet."""
    return keys[key][0] if key in keys else ()


def visits(values: dict[str, float | None]) -> int:
    """Visits a process of one key: PASSES for short calls, one where the GPU sets the time."""
    wall = values.get("wall")
    return PASSES if wall is not None and wall < schema.SHORT_CALL_SECONDS else 1


def key_cost(finding: Finding, keys: Keys, tonight: Night, device: str) -> float:
    """What measuring this finding's key and signal adds to each process, beyond ``keys``."""
    key = finding.config_mask
    values = tonight.values.get(finding.key, {})
    cost = 0.0 if key in keys else (
        KEY_SECONDS[device] + visits(values) * (VISIT_SECONDS + WALL_CALLS * (values.get("wall") or 0.0)))
    if finding.signal == "gpu" and "gpu" not in signals_of(keys, key):
        cost += GPU_CALLS * (values.get("gpu") or 0.0)
    return cost


def remeasure_in_rounds(candidates: list[Finding], device: str, settings: Settings,
                        tonight: Night) -> tuple[Remeasured, list[Finding], int]:
    """Re-measure the strongest candidates that fit the budget; with what the first round left
    unspent, at the pace it measured, the next strongest; and so on. Returns the values, the
    candidates left out and the number of rounds."""
    pythons = dict(settings.confirm)
    merged = Remeasured({}, 0.0, 0)
    pending, pace, rounds = candidates, 1.0, 0
    while pending:
        budget = settings.budget - merged.seconds
        keys, left_out, estimate = fitted_keys(pending, tonight, settings, device, budget, pace,
                                               first_free=rounds == 0)
        if not keys:
            break
        measured = remeasure(keys, pythons, device, settings.processes, settings.seed + rounds, budget)
        merged = Remeasured(merged.values | measured.values, merged.seconds + measured.seconds,
                            merged.processes + measured.processes)
        if measured.processes:
            pace = measured.seconds / measured.processes / estimate
        pending, rounds = left_out, rounds + 1
    return merged, pending, rounds


def confirm(candidates: list[Finding], device: str, settings: Settings, history: list[Night],
            tonight: Night) -> tuple[list[Finding], dict]:
    """Re-measure the candidates and decide each over per-process values.

    Without a baseline environment the history's nights (one process each) stand
    in for the baseline side: that can refute a candidate, never confirm one.
    """
    contender_only = "baseline" not in settings.confirm
    try:
        measured, left_out, rounds = remeasure_in_rounds(candidates, device, settings, tonight)
    except ConfirmationError as error:
        for finding in candidates:
            finding.why = f"re-measurement failed: {error}"
        return candidates, {"error": str(error)}
    for finding in left_out:
        finding.why = f"not re-measured: beyond the re-measurement's budget of {settings.budget:.0f} s"
    candidates = [f for f in candidates if f not in left_out]
    decided = list(left_out)
    for finding in candidates:
        key = finding.config_mask
        new = measured.side(key, finding.signal, "contender")
        if contender_only:
            base = [v for night in history if (v := night.values.get(finding.key, {}).get(finding.signal))]
        else:
            base = measured.side(key, finding.signal, "baseline")
        if not (base and new):
            finding.why = "not re-measured"
            decided.append(finding)
            continue
        decision = noise_model.decide(base, new, settings.factor)
        finding.confirmation = dataclasses.asdict(decision) | {"processes": len(base) + len(new)}
        if contender_only:
            decision = dataclasses.replace(
                decision, outcome="undecided" if decision.outcome == "confirmed" else decision.outcome)
        finding.level = {"confirmed": "regression", "refuted": "noise", "undecided": "suspect"}[decision.outcome]
        if contender_only and finding.one_night and decision.outcome == "undecided":
            finding.level = "regression"  # the night's evidence stands where no baseline side can weigh in
        finding.why = (f"{'one night beyond the noise, ' if finding.one_night else ''}"
                       f"re-measured: {decision.outcome}" + (" (contender side only)" if contender_only else ""))
        decided.append(finding)
    return decided, {"seconds": measured.seconds, "processes": measured.processes, "keys": len(measured.values),
                     "rounds": rounds, "left_out": len(left_out), "budget": settings.budget,
                     "values": measured.as_json()}


# ---------------------------------------------------------------- nights, verdict files, names


def verdict_path(store: ResultsStore, machine: str, commit: str) -> Path:
    return store.dir / machine / f"{commit}{schema.VERDICT_SUFFIX}"


def previous_suspects(store: ResultsStore, machine: str, baseline: RunFile) -> dict[tuple, dict]:
    path = verdict_path(store, machine, baseline.commit_hash)
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text())["suspects"]
        return {(e["grid"], e["config"], e["mask"], e["signal"]): e for e in entries}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ToolError(f"corrupt verdict file {path}: {one_line(error)}") from None


def dispatch_names(store: ResultsStore, machine: str, commit: str) -> dict:
    """Operator and kernel names per config and mask, as the run's setup_cache wrote them."""
    path = store.dir / machine / f"{commit}{schema.DISPATCH_SUFFIX}"
    if not path.is_file():
        return {}
    try:
        names = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ToolError(f"corrupt names file {path}: {one_line(error)}") from None
    if not isinstance(names, dict):
        raise ToolError(f"corrupt names file {path}: not an object")
    return names


def name_changes(before: dict, after: dict, config: str, mask: str) -> str:
    """'+aten::alias x1; -aten::foo x2' between two runs' names of one config and mask."""
    parts = []
    for kind in ("operators", "kernels"):
        old = before.get(config, {}).get(mask, {}).get(kind, {})
        new = after.get(config, {}).get(mask, {}).get(kind, {})
        for name in sorted(set(old) | set(new)):
            delta = new.get(name, 0) - old.get(name, 0)
            if delta:
                parts.append(f"{'+' if delta > 0 else '-'}{name} x{abs(delta)}")
    return "; ".join(parts)


# ---------------------------------------------------------------- asv publish's step detection


def lower_is_better(name: str) -> bool:
    """asv's time benchmarks and the night's figures whose schema says lower is better."""
    method = name.rsplit(".", 1)[-1].split("(")[0]
    return method.startswith("time_") or any(
        method == schema.night_method(figure.name, mask)
        for figure in schema.NIGHT_FIGURES if figure.lower_is_better and not figure.exact for mask in MASKS)


def drifts(html_dir: Path, machine: str) -> list[dict]:
    """Steps that `asv publish` detected over the history of this machine (regressions.json)."""
    path = html_dir / "regressions.json"
    if not path.is_file():
        raise ToolError(f"no {path}: run `asv publish` first, or leave out --html-dir")
    try:
        entries = json.loads(path.read_text())["regressions"]
        index = json.loads((html_dir / "index.json").read_text())
    except (OSError, ValueError, KeyError) as error:
        raise ToolError(f"cannot read asv's pages in {html_dir}: {one_line(error)}") from None
    to_hash = {int(k): v for k, v in index.get("revision_to_hash", {}).items()}
    found = []
    for name, graph_path, _params, _index, last_value, best_value, jumps in entries:
        if not lower_is_better(name):
            continue  # asv reads every series as lower-is-better; backend codes are not, counts are judged above
        if f"machine-{machine}/" not in graph_path and len(index.get("params", {}).get("machine", [])) > 1:
            continue
        for before_revision, after_revision, before, after in jumps:
            found.append({
                "benchmark": name, "after_commit": to_hash.get(after_revision, str(after_revision))[:8],
                "before_commit": "" if before_revision is None else to_hash.get(before_revision, "")[:8],
                "before": before, "after": after, "ratio": after / before,
                "now_vs_best": last_value / best_value,
            })
    return found



# ---------------------------------------------------------------- report


def formatted(signal: str, value: float) -> str:
    if signal in CONTINUOUS:
        return f"{value * 1e6:.4g} us"
    return f"{value:g}"


def findings_table(findings: list[Finding]) -> str:
    rows = [{
        "config": f.key[1], "mask": f.key[2], "signal": f.signal, "class": f.klass,
        "reference": formatted(f.signal, f.reference), "tonight": formatted(f.signal, f.contender),
        "ratio": f"{f.ratio:.3f}", "floor": "" if math.isinf(f.floor) else f"{f.floor:.3f}",
        "why": f.why + (f" ({f.confirmation['ratio']:.3f}, p={f.confirmation['p_change']:.2g})"
                        if f.confirmation else ""),
    } for f in findings]
    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True) if rows else "none"


def floor_rows(model: noise_model.NoiseModel, keys: list[Key], classes: dict[Key, str],
               factor: float) -> list[dict]:
    rows = []
    for key in keys:
        row = {"grid": key[0], "config": key[1], "mask": key[2], "class": classes[key]}
        for signal in CONTINUOUS:
            floor = model.floor(key, signal, classes[key], factor)
            row[f"{signal}_floor"] = None if math.isinf(floor) else floor
        rows.append(row)
    return rows


def floor_summary(rows: list[dict]) -> list[dict]:
    """Median and max one-night floor per class and signal."""
    summary = []
    for klass in sorted({row["class"] for row in rows}):
        for signal in CONTINUOUS:
            floors = [row[f"{signal}_floor"] for row in rows
                      if row["class"] == klass and row[f"{signal}_floor"] is not None]
            if floors:
                summary.append({"class": klass, "signal": signal, "results": len(floors),
                                "median floor": f"{statistics.median(floors):.3f}",
                                "max floor": f"{max(floors):.3f}"})
    return summary


@dataclasses.dataclass
class Verdict:
    machine: str
    baseline: RunFile
    contender: RunFile
    nights: int
    factor: float
    findings: list[Finding]
    floors: list[dict]
    not_measured: list[str]
    names: dict[tuple[str, str], str]
    confirmation: dict | None
    drifts: list[dict] | None = None

    def level(self, level: str) -> list[Finding]:
        return [f for f in self.findings if f.level == level]

    @property
    def headline(self) -> str:
        regressions, suspects = self.level("regression"), self.level("suspect")
        if regressions:
            return f"REGRESSION: {len(regressions)} finding(s)" + (f", {len(suspects)} suspect(s)" if suspects else "")
        if suspects:
            return f"no regression; {len(suspects)} suspect(s)"
        return "no regression"

    def markdown(self) -> str:
        base, new = self.baseline.commit_hash[:8], self.contender.commit_hash[:8]
        klasses = {}
        for row in self.floors:
            klasses[row["class"]] = klasses.get(row["class"], 0) + 1
        parts = [
            f"# {self.headline}", "",
            f"Machine `{self.machine}`, tonight `{new}` against the last {self.nights} night(s) up to `{base}`; "
            f"factor {self.factor}. Results by class: "
            + ", ".join(f"{n} {k}" for k, n in sorted(klasses.items()))
            + ". Launch-bound: wall time at least "
            f"{noise_model.LAUNCH_BOUND_RATIO}x the GPU time, so the host's speed sets it and a wall-time "
            "change means little by itself. Floor: the smallest slowdown one night shows on that result.", "",
        ]
        for level, title in (("regression", "Regressions"), ("suspect", "Suspects (listed, not failing)")):
            found = self.level(level)
            parts += [f"## {title} ({len(found)})", "", findings_table(found), ""]
        if self.names:
            parts += ["## Operators and kernels that appeared or vanished", ""]
            parts += [f"- {config} {mask}: {change}" for (config, mask), change in sorted(self.names.items())]
            parts.append("")
        noise = self.level("noise")
        parts += [f"## Candidates found to be noise ({len(noise)})", "", findings_table(noise), ""]
        if self.confirmation:
            c = self.confirmation
            parts += ["## Re-measurement", "", (f"failed: {c['error']}" if "error" in c else
                      f"{c['keys']} config(s) and mask(s) in {c['processes']} processes, {c['seconds']:.1f} s "
                      f"of a {c['budget']:.0f} s budget"
                      + (f"; {c['left_out']} candidate(s) left out for the budget, weakest evidence first"
                         if c["left_out"] else "")), ""]
        parts += ["## Detection floor on this machine tonight (one night, no re-measurement)", "",
                  tabulate(floor_summary(self.floors), headers="keys", tablefmt="github") or "none", "",
                  f"## Failed or missing ({len(self.not_measured)})", ""]
        parts.extend([f"- {item}" for item in self.not_measured] or ["none"])
        if self.drifts is not None:
            parts += ["", f"## Steps found by asv publish over the history ({len(self.drifts)})", ""]
            rows = [{**d, "before": f"{d['before']:.4g}", "after": f"{d['after']:.4g}",
                     "ratio": f"{d['ratio']:.3f}", "now_vs_best": f"{d['now_vs_best']:.3f}"} for d in self.drifts]
            parts.append(tabulate(rows, headers="keys", tablefmt="github") if rows else "none")
        return "\n".join(parts) + "\n"

    def as_json(self) -> str:
        return json.dumps({
            "verdict": "regression" if self.level("regression") else
                       "suspect" if self.level("suspect") else "no regression",
            "headline": self.headline, "machine": self.machine, "factor": self.factor,
            "baseline": self.baseline.commit_hash, "contender": self.contender.commit_hash,
            "nights": self.nights,
            "regressions": [f.as_dict() for f in self.level("regression")],
            "suspects": [f.as_dict() for f in self.level("suspect")],
            "noise": [f.as_dict() for f in self.level("noise")],
            "name_changes": [{"config": c, "mask": m, "change": v} for (c, m), v in sorted(self.names.items())],
            "floors": self.floors, "not_measured": self.not_measured, "confirmation": self.confirmation,
            "drifts": self.drifts,
        }, indent=1)

    def record(self, path: Path) -> None:
        suspects = [f.as_dict() | {"bar": max(self.factor, f.floor if f.signal in CONTINUOUS else 1.0)}
                    for f in self.level("suspect")]
        path.write_text(json.dumps({"contender": self.contender.commit_hash, "suspects": suspects}))


def check(store: ResultsStore, machine: str, history_runs: list[RunFile], contender: RunFile,
          calibration: tuple[RunFile, RunFile] | None, settings: Settings) -> Verdict:
    history = [read_night(store, run) for run in history_runs]
    tonight = read_night(store, contender)
    everything = history + [tonight]
    classes = {key: key_class(everything, key) for key in tonight.values}
    series = {key: {s: [n.values.get(key, {}).get(s) for n in history] for s in CONTINUOUS} for key in tonight.values}
    extra = None
    if calibration:
        a, b = (read_night(store, run) for run in calibration)
        extra = {key: {s: noise_model.log_steps([a.values.get(key, {}).get(s), b.values.get(key, {}).get(s)])
                       for s in CONTINUOUS} for key in tonight.values}
    model = noise_model.fit(series, classes, extra)
    baseline = history_runs[-1]
    suspects_before = previous_suspects(store, machine, baseline)
    findings, candidates = classify(history, tonight, model, classes, suspects_before, settings)
    confirmation = None
    if candidates:
        grids = {grid.name: grid for grid in schema.GRIDS}
        device = grids[candidates[0].key[0]].device
        decided, confirmation = confirm(candidates, device, settings, history, tonight)
        findings += decided
    findings += count_findings(history, tonight, classes)
    names = {}
    if any(f.signal in COUNT_FIGURES and f.level != "noise" for f in findings):
        before = dispatch_names(store, machine, baseline.commit_hash)
        after = dispatch_names(store, machine, contender.commit_hash)
        for f in findings:
            if f.signal in COUNT_FIGURES and (change := name_changes(before, after, *f.config_mask)):
                names[f.config_mask] = change
    order = {"regression": 0, "suspect": 1, "noise": 2}
    findings.sort(key=lambda f: (order[f.level], -f.ratio))
    floors = floor_rows(model, sorted(tonight.values), classes, settings.factor)
    return Verdict(machine, baseline, contender, len(history), settings.factor, findings, floors,
                   [f"contender {p}" for p in tonight.problems], names, confirmation)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_results_arguments(parser)
    parser.add_argument("--baseline", help="commit (prefix) of the last night to compare with (default: the run "
                        "before the contender); the nights before it form the history")
    parser.add_argument("--contender", help="commit (prefix) of tonight's run (default: the most recent run)")
    parser.add_argument("--factor", type=float, default=DEFAULT_FACTOR,
                        help=f"smallest slowdown that counts (default {DEFAULT_FACTOR})")
    parser.add_argument("--history", type=int, default=DEFAULT_HISTORY,
                        help=f"nights that teach the noise model (default {DEFAULT_HISTORY})")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW,
                        help=f"recent nights whose median is the reference level (default {DEFAULT_WINDOW})")
    parser.add_argument("--calibration", nargs=2, metavar=("A", "B"),
                        help="commits of an A/A calibration pair on this machine, added to the noise model")
    parser.add_argument("--baseline-python", help="a Python with the baseline's torch, for the re-measurement")
    parser.add_argument("--contender-python", help="a Python with the contender's torch, for the re-measurement")
    parser.add_argument("--processes", type=int, default=DEFAULT_PROCESSES,
                        help=f"fresh processes a side in the re-measurement (default {DEFAULT_PROCESSES})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the re-measurement's order and bootstrap")
    parser.add_argument("--budget", type=float,
                        help=f"seconds the re-measurement may take (default: {100 * BUDGET_SHARE:.0f}%% of what "
                             f"tonight's benchmarks took, at least {MIN_BUDGET:g} s; {DEFAULT_BUDGET:g} s where asv "
                             "recorded no durations)")
    parser.add_argument("--record-verdict", action="store_true",
                        help="keep tonight's suspects beside its results, for tomorrow's persistence rule")
    parser.add_argument("--html-dir", type=Path,
                        help="asv publish's output: lists the steps its detection found over the history")
    parser.add_argument("--report", type=Path, help="also write the markdown report to this file")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    return parser


def validated(args: argparse.Namespace) -> Settings:
    if not (math.isfinite(args.factor) and args.factor > 1.0):
        raise ToolError(f"--factor must be a finite number above 1, not {args.factor}")
    for name in ("history", "window", "processes"):
        if getattr(args, name) < (2 if name == "processes" else 1):
            raise ToolError(f"--{name} must be at least {2 if name == 'processes' else 1}")
    if args.baseline_python and not args.contender_python:
        raise ToolError("--baseline-python needs --contender-python")
    confirm_with = None
    if args.contender_python:
        confirm_with = {"contender": args.contender_python}
        if args.baseline_python:
            confirm_with["baseline"] = args.baseline_python
    if args.budget is not None and not (math.isfinite(args.budget) and args.budget > 0):
        raise ToolError(f"--budget must be a positive number of seconds, not {args.budget}")
    return Settings(args.factor, args.window, confirm_with, args.processes, args.seed, args.budget)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = validated(args)
    store, machine = open_machine(args)
    runs = store.runs(machine)
    contender = store.choose_run(machine, args.contender, runs)
    if args.baseline:
        baseline = store.choose_run(machine, args.baseline, runs)
        if baseline.commit_hash == contender.commit_hash:
            raise ToolError(f"baseline and contender are the same commit {baseline.commit_hash[:8]}")
        if baseline.order >= contender.order:
            raise ToolError(f"baseline {baseline.commit_hash[:8]} is not older than the contender")
    earlier = [run for run in runs if run.order < contender.order and run.commit_hash != contender.commit_hash]
    if args.baseline:
        earlier = [run for run in earlier if run.order <= baseline.order]
    if not earlier:
        print(f"first night on {machine!r}: no baseline to compare {contender.commit_hash[:8]} with yet")
        return 0
    calibration = tuple(store.choose_run(machine, c, runs) for c in args.calibration) if args.calibration else None
    if settings.budget is None:
        night = store.run_seconds(contender)
        budget = max(MIN_BUDGET, BUDGET_SHARE * night) if night else DEFAULT_BUDGET
        settings = dataclasses.replace(settings, budget=budget)
    verdict = check(store, machine, earlier[-args.history:], contender, calibration, settings)
    if args.html_dir:
        verdict.drifts = drifts(args.html_dir, machine)
    if args.record_verdict:
        verdict.record(verdict_path(store, machine, contender.commit_hash))
    report = verdict.markdown()
    if args.report:
        args.report.write_text(report)
    print(verdict.as_json() if args.format == "json" else report, end="" if args.format != "json" else "\n")
    return 1 if verdict.level("regression") else 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
