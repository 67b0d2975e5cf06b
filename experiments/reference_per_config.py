"""Run the reference script's own code over its 80 configs and keep every config's times.

The reference prints only Average/Max/Min; the per-config comparison with the suite
needs each config. This imports the reference module (it is not copied) from the
folder given as the first argument and writes one JSON line per config to the file
given as the second, then prints the reference's own table.
"""

import json
import sys
import time

sys.path.insert(0, sys.argv[1])
import attention_bias_benchmarks as reference  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

start = time.perf_counter()
np.random.seed(123)
torch.manual_seed(123)
experiments = []
with open(sys.argv[2], "w") as out:
    for config in reference.generate_experiment_configs():
        results = reference.run_single_experiment(config)
        experiments.append(reference.Experiment(config, results))
        record = {**config.asdict(), "dtype": str(config.dtype).removeprefix("torch."),
                  "materialized_us": results.materialized_mask_time,
                  "causal_bias_us": results.attn_mask_subclass_time}
        out.write(json.dumps(record) + "\n")
        out.flush()
reference.print_results(experiments)
print(f"reference configs: {len(experiments)} in {time.perf_counter() - start:.1f} s (after import)")
