"""SDPA with a lower-right causal mask: a materialized boolean tensor versus CausalBias.

Each ``time_*`` benchmark reports the steady-state wall time of one CompositeMHA
forward call (q/k/v projections, SDPA, output projection), end to end: asv times
blocks of back-to-back calls, the clock waits for the GPU at both ends of a
block, and asv divides by the number of calls. That is the time a loop of
forward calls takes per call, CPU launch cost included, as the reference script
measured it.
"""

from __future__ import annotations

import torch

from .common import (
    CPU_PARAMS,
    GPU_PARAMS,
    PARAM_NAMES,
    AttentionConfig,
    ForwardCase,
    cuda_available,
    equivalence_verdicts,
    grid_configs,
    prepared_case,
    raise_for_verdict,
    require_cuda,
    synchronized_clock,
)


class _MaskedForward:
    """The two timed paths; subclasses name the grid and the device.

    The leading underscore keeps asv from collecting this base class itself.
    """

    param_names = PARAM_NAMES
    device = "cuda"

    # Pinned so that edits to helper code do not split the published history;
    # bump it only when what a result means changes.
    version = "1"

    # One round: a second doubles the processes, each paying the fork and CUDA
    # start-up (about 0.3 s on the H100, NOTES.md); its effect on precision is
    # not measured yet.
    rounds = 1
    # number = 0: asv sizes a block of calls to fill sample_time, warming up as it does.
    number = 0
    sample_time = 0.02
    warmup_time = 0.1
    # (min samples, max samples, seconds): at least 5 blocks; stop at 50 or after 0.2 s.
    repeat = (5, 50, 0.2)
    min_run_count = 2
    timer = staticmethod(synchronized_clock)

    case: ForwardCase

    def setup_cache(self) -> dict:
        """Check both masks' outputs once per parameter set, in one process before any timing."""
        if self.device == "cuda" and not cuda_available():
            return {}
        return equivalence_verdicts(grid_configs(self.params, self.device))

    setup_cache.timeout = 600  # the 80 GPU configs, both masks, one after the other

    def setup(self, verdicts, batch_size, num_heads, seq_lens, embed_dim, dtype):
        if self.device == "cuda":
            require_cuda()
        else:
            # One intra-op thread: these ops are far too small to gain from more, and
            # a thread per core makes every sample wait on the busiest core.
            torch.set_num_threads(1)
        config = AttentionConfig.from_params(
            batch_size, num_heads, seq_lens, embed_dim, dtype, self.device
        )
        raise_for_verdict(verdicts, config)
        self.case = prepared_case(config)

    def time_materialized(self, verdicts, *params):
        self.case.run_materialized()

    def time_causal_bias(self, verdicts, *params):
        self.case.run_causal_bias()


class AttentionBias(_MaskedForward):
    """The reference script's 80 configs, bfloat16, on CUDA."""

    params = GPU_PARAMS


class AttentionBiasCPU(_MaskedForward):
    """A small float32 grid that runs on any CPU in seconds."""

    params = CPU_PARAMS
    device = "cpu"
    # Calls of 30-100 us: 5 ms blocks give about 35 samples in 0.2 s, enough for
    # asv's Mann-Whitney test to see a 10% change through the CPU's outliers.
    sample_time = 0.005
