"""How often asv publish's step detection (its Regressions page) finds a step in a nightly figure.

Simulates series like the night's figures: one value a night, no samples (so no
weights), log-normal noise of ``--sigma`` night to night, ``--before`` nights
at one level, then ``--after`` nights ``--step`` times slower. Each series goes
through asv's own ``step_detect.detect_steps`` and ``detect_regressions`` with
``--threshold`` (asv's ``regressions_thresholds``: 0.05 unless asv.conf.json sets it);
a step counts as found where a regression is reported. The same series without
the step count the false ones. CPU only, seconds.

    python experiments/step_detect_power.py [--sigma 0.012 0.016] [--step 1.05 1.10]
        [--after 1 2 3 5] [--before 14] [--threshold 0.05] [--trials 400] [--seed 1]
"""

from __future__ import annotations

import argparse

import numpy as np
from asv import step_detect


def found(series: list[float], threshold: float) -> bool:
    _, _, regressions = step_detect.detect_regressions(step_detect.detect_steps(series), threshold=threshold)
    return bool(regressions)


def rate(rng: np.random.Generator, before: int, after: int, sigma: float, step: float, threshold: float,
         trials: int) -> float:
    hits = 0
    for _ in range(trials):
        series = np.exp(rng.normal(0.0, sigma, before + after))
        series[before:] *= step
        hits += found(list(series), threshold)
    return hits / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sigma", type=float, nargs="+", default=[0.012, 0.016])
    parser.add_argument("--step", type=float, nargs="+", default=[1.05, 1.10])
    parser.add_argument("--after", type=int, nargs="+", default=[1, 2, 3, 5])
    parser.add_argument("--before", type=int, default=14)
    parser.add_argument("--threshold", type=float, default=0.05)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print("| sigma | step | nights after it | found | found without a step |")
    print("| --- | --- | --- | --- | --- |")
    for sigma in args.sigma:
        for step in args.step:
            for after in args.after:
                hit = rate(rng, args.before, after, sigma, step, args.threshold, args.trials)
                false = rate(rng, args.before, after, sigma, 1.0, args.threshold, args.trials)
                print(f"| {sigma:g} | {step:g} | {after} | {hit:.2f} | {false:.2f} |")


if __name__ == "__main__":
    main()
