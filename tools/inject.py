#!/usr/bin/env python3
"""Make a Python environment really slower on chosen configs: the suite's regression injector.

  plan     pick configs at random (seeded) from a recorded run and write a spec:
           --gpu F adds F x the config's CUDA-graph GPU time as a spinning kernel,
           --cpu F adds F x its wall time as busy host time, --extra-ops N adds N
           ATen operators; --class keeps to configs of one class: launch-bound
           (--launch-bound: a wall time at least 1.5x the GPU time), near
           launch-bound (under that, a wall time under 1.25x the launch-bound
           ones' median), GPU-bound, long GPU-bound (a GPU time of 10 ms or
           more, at the power cap);
           --both-masks draws results, so a config may give both its masks.
  install  write a .pth file into a Python's site-packages that loads
           inject/attention_slowdown.py with that spec (torch is not edited);
           with --baseline-python (the environment without the slowdowns), on
           CUDA, then measure each GPU slowdown's step in fresh processes of
           both, as the check does, and tune its spin until the step lands at
           its amount or up to 0.6% above it (lib/injected_steps.py); without
           it, the lengths an earlier tuning kept beside the spec, else the
           sleep rate (a wheel's spins stay at the rate).
  remove   delete that .pth file.
  wheel    package the injector with a spec as a wheel (attention_slowdown) whose
           .pth file arms it wherever pip installs it: a "slower build" to put
           beside a torch wheel in a wheel folder (torch_wheel_for_commit.py).
  score    what a check (check_regressions.py --format json) made of a spec's
           slowdowns: per injected result, its level, its move tonight, its
           re-measured ratio and why; how many are regressions by the signal
           each slowdown targets; what else the check called.

A runner measures its own detection floor with it: record a night, install a
spec into a second environment, record again with it, run the check.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import subprocess
import sys
from pathlib import Path

from lib.cli import (
    ToolError,
    add_results_arguments,
    importing,
    one_line,
    python_path,
    read_json_object,
    run_tool,
    runnable_pythons,
    tool_parser,
    writable_folder,
    write_whole,
)

with importing():
    from lib import injected_steps, noise
    from lib.findings import LISTED, REGRESSION, SUSPECT
    from lib.recording import NoTorch, probe_torch
    from lib.remeasure import RemeasureError
    from lib.results import (
        NIGHT,
        check_report,
        open_machine,
        report_findings,
        report_floor_rows,
        report_not_measured,
        report_remeasured,
        report_unjudged,
    )
    from lib.rows import choose_grid, config_rows
    from lib.suite import INJECTOR_DIR, schema
    from lib.verdict import SHORT_DROPPED, SHORT_FAILED, SHORT_LEFT_OUT
    from lib.wheels import write_wheel
    from tabulate import tabulate

PTH_NAME = "attention_slowdown.pth"
# What a slowdown may be: a calibration adds a fraction of a config's own time. An amount beyond
# these (1e9 x, or infinite) would make a forward never end: the night would spin until its
# setup_cache timeout, measuring nothing. Checked in the plan and again in any spec read.
MAX_FRACTION = 100.0  # --gpu, --cpu: at most 100 x the config's time
MAX_SLOWDOWN_US = 1e6  # gpu_us, cpu_us of one forward: at most a second
MAX_EXTRA_OPS = 10_000


def checked_amounts(args: argparse.Namespace) -> None:
    """plan's numbers, before any night is read: one line each, exit 2."""
    for name in ("gpu", "cpu"):
        value = getattr(args, name)
        if not (math.isfinite(value) and 0.0 <= value <= MAX_FRACTION):
            raise ToolError(f"--{name} must be a finite fraction from 0 to {MAX_FRACTION:g}, not {value}")
    if not 0 <= args.extra_ops <= MAX_EXTRA_OPS:
        raise ToolError(f"--extra-ops must be from 0 to {MAX_EXTRA_OPS}, not {args.extra_ops}")
    if args.configs < 1 or not any((args.gpu, args.cpu, args.extra_ops)):
        raise ToolError("plan needs --configs >= 1 and at least one of --gpu, --cpu, --extra-ops above 0")


def checked_result(entry: object, where: str) -> None:
    """A slowdown's result: a config (a string) and one of the masks. Anything else would fail only where the
    score or an appended plan looks the result up (a KeyError, a list that cannot be a key): a user error now."""
    if not isinstance(entry, dict):
        raise ToolError(f"not a slowdown spec: {where}: {str(entry)[:80]} names no config and mask")
    if not isinstance(entry.get("config"), str):
        raise ToolError(f"not a slowdown spec: {where}: {str(entry)[:80]}: its config is not a string")
    if entry.get("mask") not in schema.MASKS:
        raise ToolError(f"not a slowdown spec: {where}: {str(entry)[:80]}: its mask is not one of "
                        f"{', '.join(schema.MASKS)}")


def checked_slowdowns(slowdowns: object, where: str) -> list:
    """A spec's slowdowns, each with amounts a night can measure; anything else is a user error."""
    if not isinstance(slowdowns, list):
        raise ToolError(f"not a slowdown spec: {where}: 'slowdowns' is not a list")
    for entry in slowdowns:
        checked_result(entry, where)
        for key in ("gpu_us", "cpu_us"):
            amount = entry.get(key, 0.0)
            if not (isinstance(amount, (int, float)) and math.isfinite(amount) and 0 <= amount <= MAX_SLOWDOWN_US):
                raise ToolError(f"{where}: {entry.get('config')} {entry['mask']}: {key} {amount} is not a "
                                f"finite number of microseconds from 0 to {MAX_SLOWDOWN_US:g}")
        ops = entry.get("extra_ops", 0)
        if not (isinstance(ops, int) and 0 <= ops <= MAX_EXTRA_OPS):
            raise ToolError(f"{where}: {entry.get('config')} {entry['mask']}: extra_ops {ops} is not from 0 "
                            f"to {MAX_EXTRA_OPS}")
    return slowdowns


def plan(args: argparse.Namespace) -> dict:
    store, machine = open_machine(args)
    run = store.choose_run(machine, args.commit)
    results = store.load(run)
    grid, _ = choose_grid(results, None, NIGHT)
    rows = [row for row in config_rows(results, grid, store.param_names(grid)) if row.complete]
    times = {(row.label, mask): (row.walls[mask].value, row.figure(schema.GPU_TIME.name, mask))
             for row in rows for mask in schema.MASKS}
    classes = noise.classes_of(times)
    candidates = [(label, mask, wall, gpu) for (label, mask), (wall, gpu) in times.items()
                  if not (args.gpu and gpu is None) and (not args.klass or classes[(label, mask)] == args.klass)]
    taken = {entry["config"] for entry in args.existing}
    candidates = [c for c in candidates if c[0] not in taken]
    slowdowns = []
    for label, mask, wall, gpu in chosen(candidates, args.configs, args.both_masks, random.Random(args.seed)):
        slowdowns.append({"config": label, "mask": mask, "grid": grid.name, "night_gpu_seconds": gpu,
                          "gpu_us": schema.microseconds(args.gpu * gpu) if args.gpu else 0.0,
                          "cpu_us": schema.microseconds(args.cpu * wall) if args.cpu else 0.0,
                          "extra_ops": args.extra_ops})
    return {"seed": args.seed, "source_run": run.commit_hash, "machine": machine,
            "slowdowns": args.existing + slowdowns}


def chosen(candidates: list[tuple], count: int, both_masks: bool, rng: random.Random) -> list[tuple]:
    """``count`` of the candidate results (config, mask, wall, gpu), drawn at random: from as many configs, one
    mask each; with ``both_masks``, from the results themselves, so that a config may give both its masks
    (each its own result), where fewer configs than ``count`` qualify."""
    if both_masks:
        return rng.sample(sorted(candidates, key=lambda c: c[:2]), min(count, len(candidates)))
    configs = sorted({c[0] for c in candidates})
    return [rng.choice([c for c in candidates if c[0] == label])
            for label in rng.sample(configs, min(count, len(configs)))]


def site_packages(python: str) -> Path:
    try:
        out = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        raise ToolError(f"cannot ask {python} for its site-packages: {one_line(error)}") from None
    return Path(out)


def read_spec(spec: Path) -> list:
    slowdowns = read_json_object(spec, "not a slowdown spec:").get("slowdowns")
    if slowdowns is None:
        raise ToolError(f"not a slowdown spec: {spec}: no slowdowns")
    return checked_slowdowns(slowdowns, str(spec))


def install(python: str, spec: Path, baseline_python: str | None = None, seed: int = 0) -> Path:
    slowdowns = read_spec(spec)
    # The baseline's too, though a spec without GPU slowdowns never starts it: a typo is said now.
    runnable_pythons({"--python": python, "--baseline-python": baseline_python})
    path = site_packages(python) / PTH_NAME
    path.write_text(f"import sys; sys.path.append({str(INJECTOR_DIR)!r}); import attention_slowdown; "
                    f"attention_slowdown.arm({str(spec.resolve())!r})\n")
    if not injected_steps.gpu_slowdowns(slowdowns):
        return path
    gpu = cuda_device(python)
    if gpu is None:
        print("no CUDA device: the GPU slowdowns spin at the sleep rate, their steps not measured")
    elif baseline_python is None:
        tuned = injected_steps.injector.kept_spins(str(spec.resolve()), gpu)
        print(f"the GPU slowdowns spin at {'the lengths a tuning kept beside the spec, elsewhere ' if tuned else ''}"
              f"the sleep rate on {gpu}: --baseline-python measures their steps and tunes them")
    else:
        try:
            injected_steps.tune(str(spec.resolve()), slowdowns,
                                {schema.BASELINE: baseline_python, schema.CONTENDER: python}, gpu, seed)
        except (RemeasureError, ToolError) as error:
            path.unlink(missing_ok=True)
            raise ToolError(f"cannot measure the GPU slowdowns' steps of {spec} (no slowdown is installed): "
                            f"{one_line(error)}") from None
    return path


def cuda_device(python: str) -> str | None:
    """The CUDA device ``python``'s torch sees (its name), None without one; a Python without torch cannot run
    a slowdown at all (its .pth is taken out again)."""
    try:
        return probe_torch(python)["device"]
    except NoTorch as error:
        site_packages(python).joinpath(PTH_NAME).unlink(missing_ok=True)
        raise ToolError(f"cannot run the slowdowns in {python} (no slowdown is installed): {error.why}") from None


# A wheel's version as its file name carries it (a local one's '+' too): no separators, no '-' (the name's
# field separator).
WHEEL_VERSION = re.compile(r"[0-9][0-9A-Za-z.+]{0,63}")


def build_wheel(spec: Path, out_dir: Path, version: str) -> Path:
    """A pure-Python wheel: the injector module, the spec beside it, a .pth that arms it."""
    read_spec(spec)
    sys.path.insert(0, str(INJECTOR_DIR))
    import attention_slowdown  # for the spec's file name, which the module reads

    return write_wheel(out_dir, "attention_slowdown", version, {
        "attention_slowdown.py": (INJECTOR_DIR / "attention_slowdown.py").read_bytes(),
        attention_slowdown.SPEC_BESIDE: spec.read_bytes(),
        PTH_NAME: b"import attention_slowdown; attention_slowdown.arm_beside()\n",
    })


# The classes a plan can keep to: the verdict's, less the one a config without a GPU time falls in.
PLANNED_CLASSES = (noise.LAUNCH_BOUND, noise.NEAR_LAUNCH_BOUND, noise.GPU_BOUND, noise.LONG_GPU_BOUND)

# The signal each kind of slowdown moves: the GPU time, the wall time, the operator count.
TARGETS = {"gpu_us": schema.GPU, "cpu_us": schema.WALL, "extra_ops": schema.ATEN_OPS.name}


def targets(slowdown: dict) -> list[str]:
    """The signals a slowdown moves by what it adds: each amount above zero."""
    return [signal for amount, signal in TARGETS.items() if slowdown.get(amount, 0) > 0]


def score_rows(slowdowns: list, report: dict, steps: injected_steps.Steps | None = None) -> list[dict]:
    """Per injected result and targeted signal: what the check said of it ("-": not a finding at all, and
    then, from the report's row of the result, how far it moved away from its class tonight); with ``steps``
    (install's, ``injected_steps.kept_steps``), each GPU time's step as install measured it ("injected") and
    that ratio's standard error ("+-")."""
    by_key: dict[tuple[str, str, str], dict] = {}
    for found in report_findings(report):  # the gravest first: a class's carrier row beside its own candidate
        by_key.setdefault((found["config"], found["mask"], found["signal"]), found)
    per_result, remeasured, not_measured = report_floor_rows(report), report_remeasured(report), \
        report_not_measured(report)
    unjudged = report_unjudged(report)
    rows = []
    for slowdown in slowdowns:
        for signal in targets(slowdown):
            key = (slowdown["config"], slowdown["mask"], signal)
            ratio, error = steps.get(key[:2], (None, None)) if steps and signal == schema.GPU else (None, None)
            injected = {"injected": ratio, "+-": error} if steps else {}
            finding = by_key.get(key)
            if finding:
                confirmation = finding.get("confirmation") or {}
                rows.append({"config": key[0], "mask": key[1], "signal": signal, **injected,
                             "level": finding["level"], "tonight": finding["relative"], "floor": finding["floor"],
                             "re-measured": confirmation.get("ratio"), "why": finding["why"]})
                continue
            row = per_result.get(key[:2], {})
            tonight, floor = row.get(f"{signal}_relative"), row.get(f"{signal}_floor")
            why = f"not judged: {unjudged[key]}" if key in unjudged else unfound_why(
                tonight, key in remeasured, not_measured.get(key[:2]) if signal == schema.GPU else None)
            rows.append({"config": key[0], "mask": key[1], "signal": signal, **injected, "level": "-",
                         "tonight": tonight, "floor": floor, "re-measured": None, "why": why})
    return rows


def unfound_why(tonight: float | None, remeasured: bool, not_measured: str | None = None) -> str:
    """Why an injected result is no finding: re-measured without a finding of its own (a GPU time short of the
    factor and not confirmed, or one of the results a class's move was re-measured on); a candidate the
    re-measurement did not measure (short of the factor and left out for the budget, dropped for its pace, or
    unmeasured where a round failed);
    else no candidate; each at how far it moved away from its class where the report says."""
    if remeasured:
        return ("re-measured, no finding of its own: short of the factor and not confirmed, or a stand-in of its "
                "class's move")
    moved = "the report gives no move tonight" if tonight is None else f"{tonight:.3f} over its class tonight"
    if not_measured == SHORT_LEFT_OUT:
        return f"a candidate short of the factor, left out for the budget ({moved})"
    if not_measured == SHORT_DROPPED:
        return f"a candidate dropped after the first processes ran slower than planned ({moved})"
    if not_measured == SHORT_FAILED:
        return f"a candidate short of the factor the failed re-measurement did not measure ({moved})"
    if tonight is None:
        return f"not a candidate ({moved})"
    return f"not a candidate: {moved}"


def signal_tally(signal: str, rows: list[dict], factor: float) -> str:
    """How many of one signal's injected results are regressions, and of those re-measured, how many slowed by
    the factor or more: an injected step lands a little off its amount, and one under the factor is refuted.
    Where install measured the steps, also how many it measured at the factor or more, and of those how many
    are regressions: the figure a detection goal is read from."""
    found = sum(row["level"] == REGRESSION for row in rows)
    measured = [row for row in rows if row["re-measured"] is not None]
    landed = [row for row in measured if row["re-measured"] >= factor]
    tally = (f"{signal}: {found} of {len(rows)} injected a regression; {len(measured)} re-measured, {len(landed)} "
             f"of them slower by the factor ({factor:g}) or more, "
             f"{sum(row['level'] == REGRESSION for row in landed)} of those a regression")
    if any(row.get("injected") is not None for row in rows):
        full = [row for row in rows if row.get("injected") is not None and row["injected"] >= factor]
        tally += (f"; {len(full)} injected at the factor or more by install's steps, "
                  f"{sum(row['level'] == REGRESSION for row in full)} of those a regression")
    return tally


def score(slowdowns: list, report: dict, steps: injected_steps.Steps | None = None) -> str:
    """The table of ``score_rows``, how many of each targeted signal are regressions, and what else the check
    called: regressions and suspects on results no slowdown touched."""
    rows = score_rows(slowdowns, report, steps)
    injected = {(s["config"], s["mask"]) for s in slowdowns}
    lines = [tabulate(rows, headers="keys", tablefmt="github", floatfmt=".3f", missingval="-"), ""]
    for signal in dict.fromkeys(row["signal"] for row in rows):
        lines.append(signal_tally(signal, [row for row in rows if row["signal"] == signal], report["factor"]))
    caught = {(f["config"], f["mask"]) for f in report[LISTED[REGRESSION]]}
    lines.append(f"any signal: {len(injected & caught)} of {len(injected)} injected results a regression")
    others = {level: [f for f in report[LISTED[level]] if (f["config"], f["mask"]) not in injected]
              for level in (REGRESSION, SUSPECT)}
    lines.append(f"not injected: {len(others[REGRESSION])} regression(s), {len(others[SUSPECT])} suspect(s)")
    lines += [f"  {f['level']}: {f['config']} {f['mask']} {f['signal']} {shown(f['relative'])}: {f['why']}"
              for f in others[REGRESSION]]
    return "\n".join(lines)


def shown(value: float | None) -> str:
    """A report's number as the table shows it: a null (a count that rose from 0, its ratio infinite, which
    JSON cannot hold) is "-", the table's missing value."""
    return "-" if value is None else f"{value:.3f}"


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    planner = commands.add_parser("plan", help="choose configs and amounts from a recorded run")
    add_results_arguments(planner)
    planner.add_argument("--commit", help="the run whose times set the amounts (default: the most recent)")
    planner.add_argument("--configs", type=int, default=10, help="how many configs (one mask each)")
    planner.add_argument("--both-masks", action="store_true",
                         help="--configs counts results, both masks of a config allowed: for a class with "
                              "fewer configs than that (an H200's launch-bound)")
    planner.add_argument("--seed", type=int, default=0)
    planner.add_argument("--gpu", type=float, default=0.0,
                         help=f"extra GPU time, a fraction of the GPU time (0 to {MAX_FRACTION:g})")
    planner.add_argument("--cpu", type=float, default=0.0,
                         help=f"extra host time, a fraction of the wall time (0 to {MAX_FRACTION:g})")
    planner.add_argument("--extra-ops", type=int, default=0,
                         help=f"extra ATen operators per forward (0 to {MAX_EXTRA_OPS})")
    planner.add_argument("--class", dest="klass", choices=PLANNED_CLASSES,
                         help="only configs of this class by the run's wall and GPU time (docs/noise.md)")
    planner.add_argument("--launch-bound", dest="klass", action="store_const", const=noise.LAUNCH_BOUND,
                         help=f"the same as --class '{noise.LAUNCH_BOUND}'")
    planner.add_argument("--out", type=Path, required=True, help="the spec file to write")
    planner.add_argument("--append", action="store_true",
                         help="add to the slowdowns already in --out, on configs it does not name yet")
    for name, text in (("install", "load a spec into a Python's environment"), ("remove", "unload it")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--python", type=python_path, required=True, help="the environment's Python")
        if name == "install":
            sub.add_argument("--spec", type=Path, required=True)
            sub.add_argument("--baseline-python", type=python_path,
                             help="the same environment without the slowdowns: on CUDA, measure each GPU "
                                  "slowdown's step against it and tune the spin to its amount")
            sub.add_argument("--seed", type=int, default=0, help="the order of the tuning's processes")
    scorer = commands.add_parser("score", help="what a check's JSON report made of a spec's slowdowns")
    scorer.add_argument("--spec", type=Path, required=True, help="the spec the night was recorded with")
    scorer.add_argument("--check", type=Path, required=True,
                        help="check_regressions.py --format json's output on the night with the slowdowns")
    wheel = commands.add_parser("wheel", help="package the injector and a spec as a wheel")
    wheel.add_argument("--spec", type=Path, required=True)
    wheel.add_argument("--out", type=Path, required=True, help="folder to write the wheel into")
    wheel.add_argument("--version", default="1.0", help="the wheel's version (default 1.0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "plan":
        checked_amounts(args)
        writable_folder(args.out)
        args.existing = read_spec(args.out) if args.append and args.out.is_file() else []
        spec = plan(args)
        checked_slowdowns(spec["slowdowns"], "the plan")  # a fraction of a slow config's time can still be too much
        if len(spec["slowdowns"]) == len(args.existing):  # a spec that slows nothing would score as a miss
            raise ToolError(f"nothing to slow down in {spec['source_run'][:8]}: no "
                            f"{'result' if args.both_masks else 'config'}{f' {args.klass}' if args.klass else ''}"
                            " with the figure the amounts need (a GPU time for --gpu)"
                            + (f" that {args.out} does not name already" if args.existing else ""))
        write_whole(args.out, json.dumps(spec, indent=1))
        for entry in spec["slowdowns"][len(args.existing):]:
            unit = schema.MICROSECONDS
            print(f"{entry['config']} {entry['mask']}: +{entry['gpu_us']:.2f} {unit} GPU, "
                  f"+{entry['cpu_us']:.2f} {unit} host, +{entry['extra_ops']} operator(s)")
        added = len(spec["slowdowns"]) - len(args.existing)
        print(f"seed {args.seed}: {added} slowdown(s) added to {args.out}")
        if added < args.configs:  # a detection rate is read over what was injected, not over what was asked
            print(f"only {added} {'result' if args.both_masks else 'config'}(s)"
                  f"{f' {args.klass}' if args.klass else ''} to choose from in "
                  f"{spec['source_run'][:8]}: {added} slowdown(s), not {args.configs}"
                  + ("" if args.both_masks else " (--both-masks counts results: both masks of a config)"),
                  file=sys.stderr)
    elif args.command == "score":
        slowdowns = read_spec(args.spec)
        steps = injected_steps.kept_steps(str(args.spec.resolve()), slowdowns)
        print(score(slowdowns, check_report(args.check), steps))
    elif args.command == "wheel":
        if args.out.exists() and not args.out.is_dir():  # one not there yet is made
            raise ToolError(f"--out {args.out}: not a folder")
        if not WHEEL_VERSION.fullmatch(args.version):
            raise ToolError(f"--version {args.version!r}: not a version (a digit, then digits, letters, '.' and '+')")
        print(f"wrote {build_wheel(args.spec, args.out, args.version)}")
    elif args.command == "install":
        print(f"installed {install(args.python, args.spec, args.baseline_python, args.seed)}")
    else:
        path = site_packages(args.python) / PTH_NAME
        path.unlink(missing_ok=True)
        print(f"removed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
