#!/usr/bin/env python3
"""Inject known slowdowns into a recorded contender and see what check_regressions finds.

Copies the results tree, multiplies the samples (and value and statistics) of N
random (config, method) results of the contender by SCALE, then runs the check at
each factor: how many injected slowdowns it flags, and how many other findings
(false positives) it reports.
"""

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from asv.results import Results  # noqa: E402
from asv_results import ResultsStore  # noqa: E402
from check_regressions import compare  # noqa: E402


def scale_results(path: Path, picks: list[tuple[str, int]], scale: float) -> None:
    results = Results.load(str(path))
    for name, index in picks:
        results._results[name][index] *= scale
        results._samples[name][index] = [s * scale for s in results._samples[name][index]]
        stats = results._stats[name][index]
        for key in ("ci_99_a", "ci_99_b", "q_25", "q_75"):
            stats[key] *= scale
    results.save(str(path.parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results-dir", type=Path, required=True)
    parser.add_argument("--machine", required=True)
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--contender", required=True)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--scale", type=float, default=1.10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--factors", type=float, nargs="+", default=[1.02, 1.03, 1.05, 1.07, 1.09, 1.10])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp()) / "results"
    shutil.copytree(args.results_dir, work)
    store = ResultsStore(work)
    baseline = store.choose_run(args.machine, args.baseline)
    contender = store.choose_run(args.machine, args.contender)
    loaded = contender.load()
    candidates = [(name, i) for name in sorted(loaded.get_all_result_keys())
                  for i, v in enumerate(loaded.get_result_value(name, loaded.get_result_params(name)))
                  if v is not None and v == v]
    picks = random.Random(args.seed).sample(candidates, args.count)
    scale_results(contender.path, picks, args.scale)
    labels = set()
    for name, index in picks:
        params = loaded.get_result_params(name)
        import itertools
        combination = list(itertools.product(*params))[index]
        labels.add((name.split(".", 1)[1], ", ".join(combination)))
        print(f"scaled x{args.scale}: {name.split('.', 1)[1]}({', '.join(combination)})")
    print("factor | injected flagged | other findings (false positives)")
    for factor in args.factors:
        comparison = compare(store, args.machine, baseline, contender, factor, None)
        found = {(f.benchmark, f.params) for f in comparison.regressions if f.kind == "time"}
        hits = len(found & labels)
        others = len(comparison.regressions) - hits
        print(f"{factor} | {hits} of {len(labels)} | {others}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
