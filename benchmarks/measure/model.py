"""The model the suite measures, its seeded inputs and two masks, and the check that they agree.

Imports torch; only the processes that measure import it (asv's timed children
through the forkserver, the grid's ``setup_cache``, the re-measurement worker,
tests). What the suite measures and records, without torch, is in
``benchmarks/schema.py``. Nothing here touches CUDA at import time: a forked
child cannot use CUDA that was initialised in its parent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..night_state import CUDA_MISSING
from ..schema import CAUSAL_BIAS, MATERIALIZED, AttentionConfig
from .timers import synchronized_clock

try:
    from torch.nn.attention.bias import CausalBias, causal_lower_right
except ImportError:  # a torch older than the attention biases: every parameter set is skipped, discovery works
    CausalBias = causal_lower_right = None

SEED = 0
# CUDA's JIT cache keeps cuDNN's runtime-compiled kernels per folder the process runs from
# (measured: docs/noise.md). asv runs every benchmark from a fresh temporary folder, where
# each kernel compiles again; the measuring code runs from this one, the repository's.
STEADY_FOLDER = Path(__file__).resolve().parents[2]

NO_CAUSAL_BIAS = f"torch {torch.__version__} has no torch.nn.attention.bias.causal_lower_right: nothing to compare"

# assert_close tolerances per dtype: (rtol, atol as a fraction of the output's RMS).
# A fixed atol fails elements near zero whose error is a rounding of the
# projection's inputs, so it scales with the output instead.
# The two bf16 paths differ by bf16 rounding in a few elements (docs/design.md,
# "Equivalence"); a wrong mask differs by O(RMS) almost everywhere: bf16 allows 4 bf16
# epsilons (2**-5) of the RMS.
TOLERANCES = {
    torch.bfloat16: (1.6e-2, 2.0**-5),
    torch.float16: (1e-3, 2.0**-8),
    torch.float32: (1.3e-6, 1e-5),
}


class CompositeMHA(nn.Module):
    """Multi-head attention built from F.linear and SDPA, so that the mask reaches SDPA as given."""

    def __init__(
        self,
        num_heads: int,
        embed_dim: int,
        *,
        device: torch.device,
        dtype: torch.dtype,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.embed_dim = embed_dim

        def projection() -> nn.Parameter:
            weight = torch.empty(embed_dim, embed_dim, device=device, dtype=dtype)
            nn.init.xavier_uniform_(weight, generator=generator)
            # Inference only: no autograd graph is recorded in the timed calls.
            return nn.Parameter(weight, requires_grad=False)

        self.q_proj = projection()
        self.k_proj = projection()
        self.v_proj = projection()
        self.out_proj = projection()

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq_len, _ = x.shape
        return x.view(batch, seq_len, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | CausalBias,
    ) -> torch.Tensor:
        q = self._split_heads(F.linear(query, self.q_proj))
        k = self._split_heads(F.linear(key, self.k_proj))
        v = self._split_heads(F.linear(value, self.v_proj))
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        batch, _, q_seq_len, _ = attn.shape
        merged = attn.transpose(1, 2).reshape(batch, q_seq_len, self.embed_dim)
        return F.linear(merged, self.out_proj)


def lower_right_causal_mask(q_seq_len: int, kv_seq_len: int, device: torch.device) -> torch.Tensor:
    """Boolean mask where query i sees keys 0 .. i + (kv - q): the diagonal ends bottom right."""
    ones = torch.ones(q_seq_len, kv_seq_len, dtype=torch.bool, device=device)
    return ones.tril(diagonal=kv_seq_len - q_seq_len)


def upper_left_causal_mask(q_seq_len: int, kv_seq_len: int, device: torch.device) -> torch.Tensor:
    """Boolean mask where query i sees keys 0 .. i: the diagonal starts top left."""
    return torch.ones(q_seq_len, kv_seq_len, dtype=torch.bool, device=device).tril()


@dataclasses.dataclass
class ForwardCase:
    """The module, seeded inputs and both masks of one parameter set."""

    config: AttentionConfig
    module: CompositeMHA
    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    materialized_mask: torch.Tensor
    causal_bias: CausalBias
    warm_masks: set[str] = dataclasses.field(default_factory=set)  # masks already warmed up

    def run_materialized(self) -> torch.Tensor:
        return self.module(self.query, self.key, self.value, self.materialized_mask)

    def run_causal_bias(self) -> torch.Tensor:
        return self.module(self.query, self.key, self.value, self.causal_bias)

    def runner(self, mask: str) -> Callable[[], torch.Tensor]:
        return {MATERIALIZED: self.run_materialized, CAUSAL_BIAS: self.run_causal_bias}[mask]

    def warm_up(self, mask: str, calls: int = 1) -> None:
        """The first calls of one mask in a process, untimed: they compile and load kernels
        (cuDNN graph build, module loads: 0.1-2 s on an H100), so timing starts in the steady state.
        """
        if mask in self.warm_masks:
            return
        run = self.runner(mask)
        for _ in range(calls):
            run()
        synchronized_clock()
        self.warm_masks.add(mask)


MaskBuilder = Callable[[int, int, torch.device], torch.Tensor]


def build_case(config: AttentionConfig, mask_builder: MaskBuilder = lower_right_causal_mask) -> ForwardCase:
    device = torch.device(config.device)
    dtype = getattr(torch, config.dtype_name)
    generator = torch.Generator(device=device).manual_seed(SEED)
    module = CompositeMHA(config.num_heads, config.embed_dim, device=device, dtype=dtype, generator=generator)

    def activations(seq_len: int) -> torch.Tensor:
        shape = (config.batch_size, seq_len, config.embed_dim)
        return torch.randn(shape, generator=generator, device=device, dtype=dtype)

    # The draw order (weights, query, key, value) fixes the seeded values: keep it.
    query = activations(config.q_seq_len)
    key = activations(config.kv_seq_len)
    value = activations(config.kv_seq_len)
    return ForwardCase(
        config=config,
        module=module,
        query=query,
        key=key,
        value=value,
        materialized_mask=mask_builder(config.q_seq_len, config.kv_seq_len, device),
        causal_bias=causal_lower_right(config.q_seq_len, config.kv_seq_len),
    )


@contextlib.contextmanager
def in_steady_folder() -> Iterator[None]:
    """Run the block from STEADY_FOLDER, then return: asv reads and writes its cache.pickle in its own folder."""
    previous = os.getcwd()
    os.chdir(STEADY_FOLDER)
    try:
        yield
    finally:
        os.chdir(previous)


def checked_case(config: AttentionConfig) -> ForwardCase:
    """The case of one config, its two masks checked equal: what an asv time benchmark's setup builds.

    The check runs both masks once, which also takes their first calls (cuDNN graph
    builds, module loads) out of the timed samples.
    """
    use_device(config.device)
    with in_steady_folder():
        case = build_case(config)
        check_case(case)
    return case


def assert_equivalent(expected: torch.Tensor, actual: torch.Tensor) -> None:
    """Fail unless two outputs agree at their dtype's tolerance on a non-degenerate output."""
    if not bool(torch.isfinite(expected).all()):
        raise AssertionError("the materialized-mask output has NaN or Inf values")
    rms = float(expected.float().square().mean().sqrt())
    if rms == 0.0:
        raise AssertionError("the materialized-mask output is all zeros: the check would prove nothing")
    rtol, atol_fraction = TOLERANCES[expected.dtype]
    torch.testing.assert_close(
        actual,
        expected,
        rtol=rtol,
        atol=atol_fraction * rms,
        msg=lambda detail: f"CausalBias output differs from the materialized mask's: {detail}",
    )


def check_case(case: ForwardCase) -> None:
    """Run both masks once and compare their outputs."""
    assert_equivalent(case.run_materialized(), case.run_causal_bias())


_prepared: dict[AttentionConfig, ForwardCase] = {}  # oldest first
# The re-measurement's passes visit its keys in a shuffled order: a case kept between visits spares each
# visit a rebuild and a first call. Cases are freed, oldest first, beyond this many bytes of tensors (a
# launch-bound config's case is 1-150 MB; a GPU-bound one of several GB stays alone).
PREPARED_BYTES = 2 * 2**30


def case_bytes(case: ForwardCase) -> int:
    """The bytes of a case's own tensors: inputs, the materialized mask, the module's weights."""
    tensors = (case.query, case.key, case.value, case.materialized_mask, *case.module.parameters())
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def prepared_case(config: AttentionConfig) -> ForwardCase:
    """The ForwardCase of ``config``, kept while the cases kept hold at most PREPARED_BYTES.

    The re-measurement worker visits one key after another, each of them several times:
    keys of one config share a build, and a large config's (up to multi-GB) tensors are
    freed before the next build.
    """
    case = _prepared.pop(config, None)
    if case is not None:
        _prepared[config] = case  # the newest, last; the bytes kept are as they were
        return case
    case = _prepared[config] = build_case(config)
    while len(_prepared) > 1 and sum(map(case_bytes, _prepared.values())) > PREPARED_BYTES:
        del _prepared[next(iter(_prepared))]
    return case


def cuda_available() -> bool:
    return torch.cuda.is_available()


def use_device(device: str) -> None:
    """Per-process settings of a grid's device, the same where it is timed and where it is checked."""
    if device == "cpu":
        # One intra-op thread: these ops are far too small to gain from more, and
        # a thread per core makes every sample wait on the busiest core.
        torch.set_num_threads(1)


def unavailable(device: str) -> str | None:
    """Why nothing of a grid on ``device`` can run in this process, or None."""
    if causal_lower_right is None:
        return NO_CAUSAL_BIAS
    if device == "cuda" and not cuda_available():
        return CUDA_MISSING
    return None
