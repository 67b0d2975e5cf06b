"""Which candidates a check's re-measurement plans, replayed from recorded nights, at several budgets.

    python experiments/plan_replay.py RESULTS MACHINE --baseline B --contender C [--spec SPEC.json [--step 1.05]]
        [--extra-budget 0 10 30 | --short-allowance 0 5 10] [--by-evidence] [--factor 1.05] [--history 14]
    python experiments/plan_replay.py RESULTS MACHINE --baseline B --contender C --step 1.05 --random-sets 20
        [--configs 10] [--seed 1] [--short-allowance 16]

The check's own steps (``verdict.judged``: the history's noise model, each
result over its class's move, the candidates; ``remeasure.fitted_plan``: the
first round's plan) on the contender night against the nights up to the
baseline, with the check's default budget plus each ``--extra-budget`` (or with
each ``--short-allowance``: seconds that only the candidates short of the factor
may take beyond it, as ``check_regressions.py --short-budget``); nothing is
measured. Prints per budget the keys planned, the candidates above their
floor left out (and apart, the GPU times their night calls where left out:
``Finding.stands``) and the short-of-factor ones planned. ``--spec``
(``tools/inject.py plan``'s file): per injected result, its GPU time tonight,
its move away from its class, floor and spread, whether it was a candidate,
short of the factor, planned; and how many injected GPU times each budget
plans. Only the first round: a real check may plan more in a second with what
keys refuted early leave. ``--by-evidence`` plans in another order, a
candidate for its check: after a class's move, the one-night calls and those
above their floor, every other (short of the factor or not) by the evidence for
a slowdown of the factor over none, the log-likelihood ratio of the two under
the key's spread; the calls that stand on their night after all of them.
``--step``: the contender is a synthetic night, C as recorded with the spec's
GPU times ``step`` times slower (the GPU time alone: none of the injector's
counts), written as a night after C into a copy of the results folder; with
``--baseline`` the night before C, a step on a recorded night's own noise.
``--random-sets N`` (with ``--step``, in place of ``--spec``): N sets of
``--configs`` GPU times drawn at random (``--seed``) from C's, each stepped and
replayed in turn; prints per set how many of its GPU times each budget plans,
and the totals. CPU only, seconds (a set).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from check_regressions import DEFAULTS  # noqa: E402
from lib import remeasure, verdict  # noqa: E402
from lib.findings import Finding  # noqa: E402
from lib.results import ResultsStore  # noqa: E402
from lib.suite import schema  # noqa: E402

PROCESSES, WINDOW = DEFAULTS["processes"], DEFAULTS["window"]
BOTH_SIDES = {"baseline": "-", "contender": "-"}  # planned as a check with both builds plans, never started


def by_evidence(factor: float):
    """The plan's order with the candidates under their floor, short ones among them, ranked by
    ln(factor) * (2 ln(relative) - ln(factor)) / (2 ln(spread)^2): a slowdown of the factor over none."""
    def order(finding: Finding) -> tuple[bool, bool, bool, bool, float]:
        spread, relative = math.log(remeasure.spread_of(finding)), math.log(finding.beyond_host)
        evidence = math.log(factor) * (2 * relative - math.log(factor)) / (2 * spread * spread)
        return (finding.stands, not finding.common, not finding.one_night, not remeasure.above_floor(finding),
                -evidence)
    return order


def planned(plan: remeasure.Plan, finding: Finding) -> bool:
    return finding.config_mask in plan and finding.signal in plan[finding.config_mask].signals


def injected_rows(night: verdict.Judged, injected: list[tuple[str, str]], plans: dict[float, remeasure.Plan],
                  grid: str) -> list[str]:
    rows = []
    for config, mask in injected:
        key = (grid, config, mask)
        found = [f for f in night.candidates if f.key == key and f.signal == schema.GPU]
        reference = verdict.reference_level(night.history, key, schema.GPU, WINDOW)
        now = night.tonight.value(key, schema.GPU)
        if not found or not reference or not now:
            rows.append(f"  {config} {mask}: not a candidate (GPU time {now} tonight, {reference} its level)")
            continue
        f = found[0]
        status = ", ".join(f"+{extra:g} s {'planned' if planned(plan, f) else 'out'}" for extra, plan in plans.items())
        rows.append(f"  {config} {mask}: {now * 1e3:.3f} ms, {f.relative:.4f} over its class (floor "
                    f"{remeasure.floor_of(f):.3f}, spread {remeasure.spread_of(f):.4f}){' short' if f.short else ''}: "
                    f"{status}")
    return rows


def spec_keys(spec: Path) -> list[tuple[str, str]]:
    """The (config, mask) of each of a spec's slowdowns."""
    return [(s["config"], s["mask"]) for s in json.loads(spec.read_text())["slowdowns"]]


def gpu_time_keys(results_dir: Path, machine: str, commit: str) -> list[tuple[str, str]]:
    """The (config, mask) of every GPU time ``commit``'s night recorded, in the results' order."""
    run = ResultsStore(results_dir).choose_run(machine, commit)
    data = json.loads(run.path.read_text())
    columns, keys = data["result_columns"], []
    for grid, mask in itertools.product(schema.GRIDS, schema.MASKS):
        row = data["results"].get(grid.night_benchmark(schema.GPU_TIME.name, mask))
        if row is not None:
            values = row[columns.index("result")]
            keys += [(", ".join(combo), mask) for index, combo in enumerate(itertools.product(
                *row[columns.index("params")])) if values[index] is not None]
    return keys


def synthetic_night(results_dir: Path, machine: str, commit: str, slower: set[tuple[str, str]],
                    step: float) -> tuple[Path, str]:
    """A copy of ``results_dir`` (in a temporary folder) with one night more, ``commit``'s as recorded but the
    GPU times of ``slower`` ``step`` times slower, a second after it, as the commit with its first 8 digits f."""
    copy = Path(tempfile.mkdtemp(prefix="plan-replay-")) / "results"
    shutil.copytree(results_dir, copy)
    store = ResultsStore(copy)
    run = store.choose_run(machine, commit)
    data = json.loads(run.path.read_text())
    fake = "f" * 8 + run.commit_hash[8:]
    data["commit_hash"], data["date"] = fake, data["date"] + 1000
    columns = data["result_columns"]
    for grid, mask in itertools.product(schema.GRIDS, schema.MASKS):
        row = data["results"].get(grid.night_benchmark(schema.GPU_TIME.name, mask))
        if row is None:
            continue
        values = row[columns.index("result")]
        for index, combo in enumerate(itertools.product(*row[columns.index("params")])):
            if (", ".join(combo), mask) in slower and values[index] is not None:
                values[index] *= step
    run.path.with_name(fake[:8] + run.path.name[8:]).write_text(json.dumps(data))
    for side_file in run.path.parent.glob(run.commit_hash + ".*"):  # the dispatch names and the night's file
        shutil.copy(side_file, side_file.with_name(fake + side_file.suffix))
    return copy, fake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("machine")
    parser.add_argument("--baseline", required=True, help="the last night before the contender (commit prefix)")
    parser.add_argument("--contender", required=True, help="tonight (commit prefix)")
    parser.add_argument("--spec", type=Path, help="tools/inject.py plan's spec of the contender's slowdowns")
    parser.add_argument("--step", type=float, help="the contender made this much slower in the spec's GPU times")
    parser.add_argument("--random-sets", type=int, help="with --step: this many random sets of GPU times stepped")
    parser.add_argument("--configs", type=int, default=10, help="GPU times in a random set")
    parser.add_argument("--seed", type=int, default=1, help="the random sets' draw")
    parser.add_argument("--extra-budget", type=float, nargs="+", default=[0.0],
                        help="seconds added to the check's default budget, one replay each")
    parser.add_argument("--short-allowance", type=float, nargs="+",
                        help="seconds that only candidates short of the factor may take beyond the default budget, "
                             "one replay each (in place of --extra-budget)")
    parser.add_argument("--by-evidence", action="store_true", help="plan by the evidence for the factor")
    parser.add_argument("--factor", type=float, default=DEFAULTS["factor"])
    parser.add_argument("--history", type=int, default=DEFAULTS["history"])
    args = parser.parse_args()
    if args.by_evidence:
        remeasure.plan_order = by_evidence(args.factor)  # type: ignore[assignment]  # the probe's order, here alone
    if args.random_sets:
        if not args.step or args.spec:
            parser.error("--random-sets needs --step and no --spec")
        random_sets(args)
    elif args.step:
        if not args.spec:
            parser.error("--step needs --spec")
        results, contender = synthetic_night(args.results_dir, args.machine, args.contender,
                                             set(spec_keys(args.spec)), args.step)
        replay(args, results, contender, spec_keys(args.spec))
    else:
        replay(args, args.results_dir, args.contender, spec_keys(args.spec) if args.spec else None)


def random_sets(args: argparse.Namespace) -> None:
    """Each random set of GPU times stepped on the contender's night and replayed; the totals planned."""
    rng = random.Random(args.seed)
    keys = gpu_time_keys(args.results_dir, args.machine, args.contender)
    totals: dict[float, int] = {}
    for index in range(args.random_sets):
        chosen = rng.sample(keys, args.configs)
        print(f"set {index + 1}:")
        results, contender = synthetic_night(args.results_dir, args.machine, args.contender, set(chosen), args.step)
        counts = replay(args, results, contender, chosen, quiet=True)
        shutil.rmtree(results.parent)
        for extra, count in counts.items():
            totals[extra] = totals.get(extra, 0) + count
    for extra, count in totals.items():
        print(f"all sets, +{extra:g} s: {count} of {args.random_sets * args.configs} stepped GPU times planned")


def replay(args: argparse.Namespace, results_dir: Path, contender_commit: str,
           injected: list[tuple[str, str]] | None, quiet: bool = False) -> dict[float, int]:
    """The check's first-round plan of the contender at each budget, printed; per budget, how many of the
    ``injected`` GPU times it plans (each injected result's row too, unless ``quiet``)."""
    store = ResultsStore(results_dir)
    contender = store.choose_run(args.machine, contender_commit)
    history = verdict.earlier_nights(store, args.machine, contender, args.baseline, args.history)
    budget = verdict.default_budget(store, contender)
    settings = verdict.Settings(args.factor, WINDOW, BOTH_SIDES, PROCESSES, 0, budget)
    night = verdict.judged(store, args.machine, history, contender, None, settings)
    extras = args.short_allowance or args.extra_budget
    if not night.candidates:
        print("no candidates tonight")
        return {extra: 0 for extra in extras}
    grid = night.candidates[0].key[0]
    device = schema.GRIDS_BY_NAME[grid].device
    print(f"history {len(night.history)} nights; {len(night.candidates)} candidates, "
          f"{sum(f.short for f in night.candidates)} short of the factor; default budget {budget:.1f} s")
    plans = {}
    for extra in extras:
        plan, left_out, estimate = remeasure.fitted_plan(
            night.candidates, night.tonight, PROCESSES, device, budget + (0.0 if args.short_allowance else extra),
            short_allowance=extra if args.short_allowance else 0.0)
        plans[extra] = plan
        print(f"+{extra:g} s: {len(plan)} keys, {estimate:.2f} s a process "
              f"({remeasure.round_seconds(PROCESSES, 1.0, estimate, remeasure.workers_seconds(device, True)):.1f} "
              f"s); above their floor left out "
              f"{sum(remeasure.above_floor(f) for f in left_out if not f.short and not f.stands)} (called on "
              f"the night {sum(f.stands for f in left_out)}); short planned "
              f"{sum(planned(plan, f) for f in night.candidates if f.short)}")
    counts: dict[float, int] = {}
    if injected is not None:
        if not quiet:
            print("\n".join(injected_rows(night, injected, plans, grid)))
        for extra, plan in plans.items():
            counts[extra] = sum(planned(plan, f) for f in night.candidates
                                if f.signal == schema.GPU and f.config_mask in injected)
            print(f"+{extra:g} s: {counts[extra]} of {len(injected)} injected GPU times planned")
    return counts


if __name__ == "__main__":
    sys.exit(main())
