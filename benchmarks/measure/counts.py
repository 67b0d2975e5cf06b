"""What the host does per forward, counted (operators, kernels, syncs, Python calls, allocations, the backend),
and (CUDA) the peak memory of one forward.

Imports torch. The counts are exact (the same on every run of one torch build),
so a change of one is a finding (docs/design.md).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable

import torch

from ..night_state import DispatchCounts

# CUDA runtime calls that make the host wait for the device.
SYNC_CALLS = ("cudaDeviceSynchronize", "cudaStreamSynchronize", "cudaEventSynchronize", "cudaMemcpy ")

TORCH_SOURCE = os.path.dirname(torch.__file__)

# A profile of CUDA activity leaves CUPTI attached, and tearing it down after each profile loses a profile's
# records now and then (docs/noise.md, "CUPTI after the counts"): the night counts last, and a profile that
# saw no kernel or not the measurement's own synchronize lost its records and is taken again.
PROFILE_ATTEMPTS = 3


def dispatch_counts(run: Callable[[], torch.Tensor], cuda: bool) -> tuple[DispatchCounts, int | None]:
    """Count what warm calls of ``run`` dispatch (operators, kernels, syncs, Python calls, allocations)
    and (CUDA) the bytes one call allocates at its peak: a profiled call (up to PROFILE_ATTEMPTS on CUDA,
    until one kept its CUDA records) and one counted call. Where none did: an error, no counts at all."""
    for _ in range(PROFILE_ATTEMPTS):
        operators, kernels, sync_calls = profiled_call(run, cuda)
        if not cuda or (kernels and sync_calls):
            break
    else:
        raise RuntimeError(f"the profiler lost the CUDA records of {PROFILE_ATTEMPTS} profiles (no kernel, or "
                           "not its own synchronize): no counts rather than wrong ones")
    # Less the synchronize of profiled_call, which is the measurement's own.
    syncs = sum(sync_calls.values()) - 1 if cuda else None
    calls, allocated, peak = counted_call(run, cuda)
    return DispatchCounts(operators, kernels, syncs, sync_calls, calls, allocated), peak


def profiled_call(run: Callable[[], object], cuda: bool) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """One profiled call of ``run``: the ATen operators, (CUDA) the kernels and the synchronizing runtime
    calls, by name, the final synchronize (the measurement's own) among them."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as profiled:
        run()
        if cuda:
            torch.cuda.synchronize()  # the kernels' records arrive once they ran
    operators: Counter[str] = Counter()
    kernels: Counter[str] = Counter()
    sync_calls: Counter[str] = Counter()
    for event in profiled.events():
        if event.name.startswith("aten::"):
            operators[event.name] += 1
        elif event.device_type == torch.autograd.DeviceType.CUDA:
            kernels[event.name] += 1
        elif any(event.name.startswith(call) for call in SYNC_CALLS):
            sync_calls[event.name] += 1
    return operators, kernels, sync_calls


def counted_call(run: Callable[[], object], cuda: bool) -> tuple[int, int | None, int | None]:
    """One call of ``run``: the Python calls in torch's source, and (CUDA) the caching allocator's
    allocation requests and the bytes allocated at the peak above what was allocated before.

    Only torch's frames count: the suite's module is the same on both sides of a
    comparison, and a test double of a slower torch must not count itself. Inputs,
    weights and the mask are allocated before the call, so the peak leaves them out;
    the case is warm, so library workspaces kept for good are not in it either.
    The counting hook slows the call, never what it allocates, so one call gives all three.
    """
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call" and frame.f_code.co_filename.startswith(TORCH_SOURCE)

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        bytes_before = torch.cuda.memory_allocated()
        requests_before = torch.cuda.memory_stats()["allocation.all.allocated"]
    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        run()
    finally:
        sys.setprofile(previous)
    if not cuda:
        return calls, None, None
    torch.cuda.synchronize()
    return (calls, torch.cuda.memory_stats()["allocation.all.allocated"] - requests_before,
            torch.cuda.max_memory_allocated() - bytes_before)
