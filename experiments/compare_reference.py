#!/usr/bin/env python3
"""Per config, the suite's speedup against the reference script's (from reference_per_config.py's JSON lines).

Usage: compare_reference.py REFERENCE_JSONL [speedup_summary.py options]
Prints how many configs agree within --tolerance (default 10%) and lists the others.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from lib.results import ResultsStore  # noqa: E402
from lib.rows import choose_grid, config_rows  # noqa: E402
from tabulate import tabulate  # noqa: E402

KEY = ("batch_size", "num_heads", "q_seq_len", "k_seq_len", "embed_dim")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reference", type=Path)
    parser.add_argument("--results-dir", type=Path)
    parser.add_argument("--machine")
    parser.add_argument("--commit")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--wall", choices=("night", "asv"), help="which wall time (default: the night's)")
    args = parser.parse_args()
    store = ResultsStore(args.results_dir)
    machine = store.choose_machine(args.machine)
    results = store.choose_run(machine, args.commit).load()
    grid, source = choose_grid(results, None, args.wall)
    ours = {}
    for row in config_rows(results, grid, store.param_names(grid), source):
        columns = row.config_columns()
        ours[tuple(columns[k] for k in KEY)] = row
    disagreeing, agreeing = [], 0
    for line in args.reference.read_text().splitlines():
        ref = json.loads(line)
        row = ours[tuple(ref[k] for k in KEY)]
        ref_speedup = ref["materialized_us"] / ref["causal_bias_us"]
        if row.speedup is not None and abs(row.speedup / ref_speedup - 1) <= args.tolerance:
            agreeing += 1
            continue
        disagreeing.append({
            **{k: ref[k] for k in KEY},
            "ref materialized/causal (us)": f"{ref['materialized_us']:.0f}/{ref['causal_bias_us']:.0f}",
            "ref speedup": f"{ref_speedup:.3f}",
            "suite materialized/causal (us)": (
                "/".join(f"{row.walls[mask].known * 1e6:.0f}" for mask in ("materialized", "causal_bias"))
                if row.complete else "n/a"),
            "suite speedup": "n/a" if row.speedup is None else f"{row.speedup:.3f}",
        })
    total = agreeing + len(disagreeing)
    print(f"{agreeing} of {total} configs agree within {args.tolerance:.0%}")
    if disagreeing:
        print(tabulate(disagreeing, headers="keys", tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
