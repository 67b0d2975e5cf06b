"""The nightly check replayed over a recorded history, night by night, without a re-measurement.

    python experiments/history_verdicts.py RESULTS_DIR MACHINE [--commits C1 C2 ...] [--factor 1.05] [--next]
        [--both-sides]

For each night from the second on (in the results' order, or the ``--commits``
given, oldest first), the check's noise model is fitted to the nights before it,
as ``tools/check_regressions.py`` fits it, and tonight is classified against
them, each result over its class's common move tonight: its candidates (what a
re-measurement would be asked to decide, a class's move among them), how many
sit above their floor, its one-night calls, the common moves taken out. Then, per class and signal, the
one-night floors the model uses (``NoiseModel.floor``: the class's pooled spread
until a config's own history is long enough) and each config's own floor from
its own steps alone, used or not (``NoiseModel.floor`` without the classes'
spreads, from OWN_STEPS steps on): median and max, of the last night's model,
or with ``--next`` of the model fitted to every night given (the floors the next
night would be judged by, before it runs). CPU only, seconds: run it on a GPU
machine's results copied back.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib import noise, remeasure, verdict  # noqa: E402
from lib.nights import read_night, result_classes  # noqa: E402
from lib.results import ResultsStore  # noqa: E402
from lib.suite import schema  # noqa: E402


def floors_by_group(model: noise.NoiseModel, keys: list, classes: dict, factor: float
                    ) -> dict[tuple[str, str], list[float]]:
    """The check's floor rows (``verdict.floor_rows``) of ``model``, per (class, signal); none where it has none."""
    floors: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for row in verdict.floor_rows(model, keys, classes, factor):
        for signal in schema.TIMED_SIGNALS:
            if row[f"{signal}_floor"] is not None:
                floors[(row["class"], signal)].append(row[f"{signal}_floor"])
    return floors


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f}, max {max(values):.3f} ({len(values)})" if values else "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("machine")
    parser.add_argument("--commits", nargs="+", help="the nights to replay, oldest first (prefixes); default all")
    parser.add_argument("--factor", type=float, default=1.05)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--both-sides", action="store_true",
                        help="as a check that re-measures both builds: candidates short of the factor too (a GPU "
                             "time within two spreads of it, a result over its class's lower quartile where only "
                             "part of the class moved)")
    parser.add_argument("--next", action="store_true",
                        help="the floors over every night given: those the night after the last is judged by")
    args = parser.parse_args()
    store = ResultsStore(args.results_dir)
    runs = store.runs(args.machine)
    if args.commits:
        runs = [store.choose_run(args.machine, prefix, runs) for prefix in args.commits]
    nights = [read_night(store, run) for run in runs]
    sides = (schema.BASELINE, schema.CONTENDER) if args.both_sides else (schema.CONTENDER,)
    settings = verdict.Settings(args.factor, args.window, dict.fromkeys(sides, "unused"), 10, 0, 0.0)
    for index in range(1, len(nights)):
        history, tonight = nights[:index], nights[index]
        classes = result_classes(history, tonight)
        model = verdict.fitted_model(history, tonight, classes, None)
        shifts = verdict.class_shifts(history, tonight, classes, args.window, args.factor, model)
        moves = verdict.class_moves(shifts)
        shares = verdict.host_shares(history, tonight, classes, moves, args.window, args.factor)
        _, candidates = verdict.classify(history, tonight, model, classes, {}, settings, moves, shares,
                                         verdict.partial_moves(shifts))
        candidates = [group[0] for group in verdict.stand_in_groups(candidates)]  # a class's move once
        above = [f for f in candidates if remeasure.above_floor(f)]
        print(f"night {index + 1} ({runs[index].commit_hash[:8]}), history {index}: {len(candidates)} candidates, "
              f"{len(above)} above their floor, {sum(f.one_night for f in candidates)} one-night calls, "
              f"{sum(f.partial for f in candidates)} over their class's lower quartile; "
              "moves taken out: "
              + (", ".join(f"{k} {s} {m:.3f}" for (k, s), m in moves.items()) or "none")
              + "".join(f"\n  above: {f.key[1]} {f.key[2]} {f.signal} {f.ratio:.3f} / {f.move:.3f} "
                        f"(floor {f.floor:.3f}){' the class' if f.common else ''}"
                        f"{' over its lower quartile' if f.partial else ''}" for f in above))
    # The last night's model, or with --next the model fitted to every night, the last one's results as tonight's.
    history = nights if args.next else nights[:-1]
    if history:
        classes = result_classes(history, nights[-1])
        print_floors(verdict.fitted_model(history, nights[-1], classes, None), sorted(nights[-1].values), classes,
                     args.factor, len(history))


def print_floors(model: noise.NoiseModel, keys: list, classes: dict, factor: float, nights: int) -> None:
    """Per class and signal: the model's floors, and each config's own floor from its own steps alone."""
    used = floors_by_group(model, keys, classes, factor)
    # The model's rule without the classes' spreads: a config's own floor from OWN_STEPS steps on.
    own = floors_by_group(noise.NoiseModel({}, model.own, model.nights), keys, classes, factor)
    print(f"floors over a history of {nights} nights ({nights - 1} steps):")
    for group in sorted(set(used) | set(own)):
        print(f"  {group[0]} {group[1]}: the model's {spread(used.get(group, []))}; "
              f"own alone {spread(own.get(group, []))}")


if __name__ == "__main__":
    main()
