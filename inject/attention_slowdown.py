"""A real slowdown for chosen configs of the suite, loaded into a Python environment by a .pth file.

Calibration and tests need contenders that are really slower, not scaled numbers.
``tools/inject.py install`` writes a .pth file into an environment's site-packages
that calls :func:`arm` with a spec file; when the suite's ``benchmarks.measure.model`` is
then imported, ``CompositeMHA.forward`` is wrapped so that, for the configs and
masks the spec names, each forward also does:

- ``gpu_us``: a device kernel that spins that long (``torch.cuda._sleep``), before SDPA's inputs are used;
- ``cpu_us``: that much busy host time, before the forward dispatches anything;
- ``extra_ops``: that many extra ATen operators (``aten::alias``: no kernel, no allocation).

``tools/inject.py wheel`` packages the same module, a spec and a .pth file that
calls :func:`arm_beside` as a wheel, so a folder of torch wheels can make some
builds really slower (the torch-commits tests).

torch itself is untouched, and the wrapper's own Python frames live in this file,
outside torch, so they do not change the suite's count of torch's Python calls.
Standard library only at import: the .pth runs in every start of that Python.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import json
import os
import sys
import time

TARGET_MODULE = "benchmarks.measure.model"  # the module that defines CompositeMHA
# The spec's file name inside the slowdown wheel, beside this module.
SPEC_BESIDE = "attention_slowdown_spec.json"


def arm(spec_path: str) -> None:
    """Wrap the suite's forward as soon as it is imported (called from the .pth file).

    Once per interpreter: site can read one site-packages twice (lib and a lib64 link).
    """
    if any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        return
    try:
        with open(spec_path) as handle:
            slowdowns = {(entry["config"], entry["mask"]): entry for entry in json.load(handle)["slowdowns"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"attention_slowdown: cannot read {spec_path}: {error}", file=sys.stderr)
        return
    sys.meta_path.insert(0, _PatchOnImport(slowdowns, spec_path))


def arm_beside() -> None:
    """Arm with the spec packaged next to this file (the slowdown wheel of ``tools/inject.py wheel``)."""
    arm(os.path.join(os.path.dirname(os.path.abspath(__file__)), SPEC_BESIDE))


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def __init__(self, slowdowns: dict, spec_path: str) -> None:
        self.slowdowns = slowdowns
        self.spec_path = spec_path

    def find_spec(self, name, path, target=None):
        if name != TARGET_MODULE:
            return None
        sys.meta_path.remove(self)  # once, and without finding ourselves again below
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            _wrap_forward(module, self.slowdowns, self.spec_path)

        spec.loader.exec_module = exec_module
        return spec


def _label(model, module, query, key) -> str:
    """asv's parameter string of the forward's config, as the suite writes it.

    AttentionConfig is read off ``model`` (which imports it from the schema): this file
    imports nothing of the suite, since the .pth runs it where the suite is not on the path.
    """
    batch, q_seq_len, embed_dim = query.shape
    dtype_name = str(query.dtype).removeprefix("torch.")
    config = model.AttentionConfig(batch, module.num_heads, q_seq_len, key.shape[1], embed_dim, dtype_name,
                                    query.device.type)
    return config.label


def _wrap_forward(model, slowdowns: dict, spec_path: str) -> None:
    """Wrap the forward of ``model.CompositeMHA`` (``model``: the suite's benchmarks.measure.model)."""
    module_class = model.CompositeMHA
    forward = module_class.forward

    def slowed_forward(self, query, key, value, mask):
        # The wrapper runs in every forward of every config of the environment, so
        # the untouched ones must pay next to nothing: the decision is kept on the
        # module, which the suite builds once per config, by mask type. (A lookup
        # by shapes on every call cost a 55 us CPU config 6%, enough to be found.)
        decided = self.__dict__.get("_slowdown_entries")
        if decided is None:
            decided = self.__dict__["_slowdown_entries"] = {}
        entry = decided.get(type(mask), False)
        if entry is False:
            kind = model.MATERIALIZED if type(mask).__name__ == "Tensor" else model.CAUSAL_BIAS  # the schema's
            entry = decided[type(mask)] = slowdowns.get((_label(model, self, query, key), kind))
        if entry:
            _apply(entry, query, spec_path)
        return forward(self, query, key, value, mask)

    module_class.forward = slowed_forward


def _apply(entry: dict, query, spec_path: str) -> None:
    import torch

    if entry.get("cpu_us"):
        end = time.perf_counter() + entry["cpu_us"] / 1e6
        while time.perf_counter() < end:
            pass
    for _ in range(int(entry.get("extra_ops", 0))):
        torch.ops.aten.alias(query)
    if entry.get("gpu_us") and query.is_cuda:
        if "_cycles" not in entry:  # files are read once: the suite's warm-up runs before any capture
            entry["_cycles"] = _spin_cycles(entry, spec_path)
        torch.cuda._sleep(entry["_cycles"])


def entry_key(entry: dict) -> str:
    """A slowdown's name in the files kept beside its spec, its amount in it: a spec planned again over the
    same file never takes another amount's length."""
    return f"{entry['config']} {entry['mask']} {float(entry['gpu_us']):.6g} us"


# A tuned length came out 0.33-1.47 of the rate's on an H200 (three rounds of at most 2x each reach this
# range); one beyond this ratio either way is a damaged file, and the rate's length is the better guess.
CALIBRATION_RANGE = 4.0


def cycles_at_rate(entry: dict, rate: float) -> int:
    """The spin's length for ``gpu_us`` at the sleep rate ``rate``: what a slowdown spins uncalibrated."""
    return max(1, int(entry["gpu_us"] * rate))


def within_calibration_range(cycles: int, at_rate: int) -> bool:
    return at_rate / CALIBRATION_RANGE <= cycles <= at_rate * CALIBRATION_RANGE


def _spin_cycles(entry: dict, spec_path: str) -> int:
    import torch

    return spin_cycles(entry, spec_path, torch.cuda.get_device_name(), _sleep_rate(spec_path))


def spin_cycles(entry: dict, spec_path: str, gpu: str, rate: float) -> int:
    """The spin's length on ``gpu``: the one ``tools/inject.py install`` tuned for this slowdown and amount,
    where it kept one within CALIBRATION_RANGE of the rate's, else ``gpu_us`` at the sleep rate ``rate``."""
    at_rate = cycles_at_rate(entry, rate)
    cycles = kept_spins(spec_path, gpu).get(entry_key(entry))
    if type(cycles) is int and within_calibration_range(cycles, at_rate):
        return cycles  # (JSON true is an int to Python, and no length)
    return at_rate


def kept_spins(spec_path: str, gpu: str) -> dict:
    """The spin lengths kept beside the spec for ``gpu``, by ``entry_key``; none where none are readable."""
    kept = _kept_for_gpu(spec_path + SPIN_SUFFIX, gpu)
    return kept if isinstance(kept, dict) else {}


# The sleep kernel counts SM cycles: its rate is the clock's. Right after a config that ran the GPU at its
# power cap the clock is 20% low for 100-300 ms, and a rate taken then would make every later slowdown 20%
# short: the rate is the fastest of RATE_TRIES tries RATE_PAUSE_SECONDS apart, taken once per environment
# and GPU and kept beside the spec (RATE_SUFFIX), so the re-measurement's short processes pay nothing.
RATE_TRIES = 8
RATE_PAUSE_SECONDS = 0.04
RATE_SUFFIX = ".sleep-rate.json"
# Each GPU slowdown's spin in cycles, per GPU, as ``tools/inject.py install`` tuned it to add its gpu_us.
SPIN_SUFFIX = ".spin-cycles.json"
# The steps install measured for the spins it kept, per GPU: what ``tools/inject.py score`` sets beside
# what the check found.
STEPS_SUFFIX = ".steps.json"


_RATES: dict[tuple[str, str], float] = {}  # per spec and GPU, in this process: a folder it cannot write keeps none


def _sleep_rate(spec_path: str) -> float:
    """Cycles of torch.cuda._sleep per microsecond on this GPU at its unthrottled clock."""
    import torch

    gpu = torch.cuda.get_device_name()
    if (spec_path, gpu) in _RATES:
        return _RATES[spec_path, gpu]
    rate = kept_rate(spec_path, gpu)
    if rate is None:
        rate = _measured_sleep_rate()
        keep_rate(spec_path, gpu, rate)
    _RATES[spec_path, gpu] = rate
    return rate


def _measured_sleep_rate() -> float:
    import torch

    cycles = 2_000_000
    torch.cuda._sleep(cycles // 10)  # load the kernel
    rates = []
    for _ in range(RATE_TRIES):
        time.sleep(RATE_PAUSE_SECONDS)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        torch.cuda._sleep(cycles)
        end.record()
        end.synchronize()
        rates.append(cycles / (start.elapsed_time(end) * 1e3))
    return max(rates)


def kept_rate(spec_path: str, gpu: str) -> float | None:
    """The rate kept beside the spec for this GPU; None where there is none, or none a slowdown can use."""
    rate = _kept_for_gpu(spec_path + RATE_SUFFIX, gpu)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        return None
    return float(rate) if 0 < rate < float("inf") else None


def keep_rate(spec_path: str, gpu: str, rate: float) -> None:
    keep_for_gpu(spec_path + RATE_SUFFIX, gpu, rate)


def _kept_for_gpu(kept: str, gpu: str) -> object:
    """What a file kept beside a spec holds for ``gpu``; None where it holds nothing readable."""
    return kept_per_gpu(kept).get(gpu)


def kept_per_gpu(kept: str) -> dict:
    """A file kept beside a spec, by GPU; empty where it is missing or not such a file."""
    try:
        with open(kept) as handle:
            values = json.load(handle)
    except (OSError, ValueError, RecursionError):
        return {}
    return values if isinstance(values, dict) else {}


def keep_for_gpu(kept: str, gpu: str, value: object) -> None:
    """Keep ``value`` for ``gpu`` in the file ``kept``, beside other GPUs' values; whole or not at all, as
    another process may read it now. A folder it cannot write: each process takes its own."""
    values = kept_per_gpu(kept)
    values[gpu] = value
    partial = f"{kept}.{os.getpid()}"
    try:
        with open(partial, "w") as handle:
            json.dump(values, handle)
        os.replace(partial, kept)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(partial)
