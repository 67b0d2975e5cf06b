"""FLOP count by hand, and which SDPA backend ran, on the CPU."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from types import SimpleNamespace

import pytest
import torch
from conftest import REPO_ROOT
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, str(REPO_ROOT))
from benchmarks import night_state  # noqa: E402
from benchmarks import schema as grid  # noqa: E402
from benchmarks.measure import counts, model, night  # noqa: E402


def test_visible_pairs_by_hand():
    # q = 2, kv = 4: query 0 sees keys 0..2 (3), query 1 sees 0..3 (4)
    assert grid.visible_pairs(2, 4) == 7
    assert grid.visible_pairs(1, 2048) == 2048  # decode: one query sees every key
    assert grid.visible_pairs(3, 3) == 6  # q = kv: the classic triangle
    mask = model.lower_right_causal_mask(512, 4097, torch.device("cpu"))
    assert grid.visible_pairs(512, 4097) == int(mask.sum())


def test_forward_flops_by_hand_for_two_configs():
    tiny = grid.AttentionConfig.from_params(1, 1, (2, 4), 2, "float32", "cpu")
    # projections 2*1*2*2*(2*2 + 2*4) = 96; attention 2*2*1*7*2 = 56
    assert grid.forward_flops(tiny) == 96 + 56
    largest = grid.AttentionConfig.from_params(128, 32, (512, 4097), 4096, "bfloat16", "cuda")
    projections = 2 * 128 * 4096**2 * (2 * 512 + 2 * 4097)
    attention = 4 * 128 * (512 * 4097 - 512 * 511 // 2) * 4096
    assert grid.forward_flops(largest) == projections + attention == 43_715_787_751_424  # 43.7 TFLOP


@pytest.mark.parametrize("run", ["run_materialized", "run_causal_bias"])
def test_cpu_backend_is_detected_from_the_counted_forwards_operators(run):
    """As the night takes it: the operators of dispatch_counts' profiled call (MaskFigures.backend)."""
    case = model.build_case(grid.AttentionConfig.from_params(1, 4, (16, 48), 64, "float32", "cpu"))

    def backend(forward) -> str:
        dispatched, _ = counts.dispatch_counts(forward, cuda=False)
        return grid.backend_of(dispatched.operators)

    assert backend(getattr(case, run)) == "flash"
    with sdpa_kernel(SDPBackend.MATH):
        assert backend(case.run_materialized) == "math"


def test_only_the_nights_share_a_setup_cache_and_each_grid_has_its_own():
    """asv keys setup_cache by function: each night class has one of its own; a timed class has none, so
    asv running one of its configs measures nothing else."""
    from asv_runner.benchmarks._base import get_setup_cache_key

    from benchmarks import attention_bias as suite

    def key(cls):
        return get_setup_cache_key(getattr(cls(), "setup_cache", None))

    assert key(suite.AttentionBias) is None and key(suite.AttentionBiasCPU) is None
    assert None is not key(suite.AttentionBiasNight) != key(suite.AttentionBiasNightCPU) is not None


def test_dense_peak_by_device_name():
    assert grid.dense_bf16_peak_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert grid.dense_bf16_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert grid.dense_bf16_peak_tflops("Some Future GPU") is None


def test_the_night_visits_every_config_in_each_pass_and_keeps_the_fastest_visit():
    """One measuring process: every config and mask gets a visit per pass, the wall time is the fastest."""
    state = night.measure_grid(grid.grid_configs([[1, 4], [4], [(16, 48)], [64], ["float32"]], "cpu"))
    assert set(state.phases) == {"build", "check", "wall", "counts", "kernel"}
    for config, figures in state.figures.items():
        assert state.verdicts[config] is None
        for mask in grid.MASKS:
            measured = figures[mask]
            assert len(measured.wall_visits) == night.SHORT_CALL_PASSES, measured.errors  # CPU calls are short
            assert measured.wall_seconds == min(measured.wall_visits) > 0
            assert measured.kernel_seconds > 0 and measured.backend == "flash" and measured.error is None
            assert len(measured.kernel_visits) == 1  # a CPU call's time: the last full pass alone


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="pinning to a CPU needs Linux")
def test_a_re_measurement_process_visits_a_short_key_once_a_pass_on_each_cpu_and_keeps_the_fastest(monkeypatch):
    """worker.measure: visit i of a key runs pinned to the request's CPU i; its value is the fastest visit."""
    from benchmarks.measure import worker

    cpus = sorted(os.sched_getaffinity(0))
    wanted = (cpus[-1], cpus[0], cpus[-1], cpus[0])
    planned = {"run_materialized": [3.0, 1.0, 2.0, 5.0], "run_causal_bias": [4.0]}
    seen: dict[str, list[set[int]]] = {name: [] for name in planned}
    blocks_of: dict[str, set[tuple[float, int]]] = {name: set() for name in planned}

    def visit(run, block_seconds: float, blocks: int) -> float:
        seen[run.__name__].append(os.sched_getaffinity(0))
        blocks_of[run.__name__].add((block_seconds, blocks))
        return planned[run.__name__][len(seen[run.__name__]) - 1]

    monkeypatch.setattr(worker, "visit_seconds", visit)
    label = "1, 4, (16, 48), 64, 'float32'"
    keys = (grid.WorkerKey(label, "materialized", ("wall",), 4), grid.WorkerKey(label, "causal_bias", ("wall",), 1))
    request = grid.WorkerRequest("cpu", 0, wanted, keys)
    try:
        answer = worker.measure(grid.WorkerRequest.from_json(request.to_json()))  # as the tools send it
    finally:
        os.sched_setaffinity(0, cpus)
    answer = grid.WorkerAnswer.from_json(answer.to_json())  # as the tools read it
    assert answer.error is None and answer.pid == os.getpid()
    assert [v.wall for v in answer.values] == [1.0, 4.0]
    assert [v.gpu for v in answer.values] == [None, None]  # wall only, and no CUDA
    assert seen == {"run_materialized": [{cpu} for cpu in wanted], "run_causal_bias": [{wanted[0]}]}
    # A key visited on several CPUs gets the short blocks, a key visited once the longer ones.
    assert blocks_of == {"run_materialized": {worker.SHORT_VISIT_BLOCKS}, "run_causal_bias": {worker.VISIT_BLOCKS}}


def test_a_pass_visits_the_least_gpu_work_first_and_a_configs_two_masks_in_a_seeded_random_order():
    """After a key that ran the GPU at its power cap the next is timed slow: no key follows a heavier one."""
    import random

    from benchmarks.measure import worker

    labels = ["8, 4, (16, 48), 64, 'float32'", "1, 4, (16, 48), 64, 'float32'", "2, 4, (16, 96), 64, 'float32'"]
    keys = [grid.WorkerKey(label, mask, ("gpu",), 1) for label in labels for mask in grid.MASKS]
    work = {key: grid.forward_flops(grid.AttentionConfig.from_label(key.config, "cpu")) for key in keys}
    assert work[keys[2]] < work[keys[4]] < work[keys[0]]
    orders = {seed: worker.pass_order(keys, work, random.Random(seed)) for seed in range(8)}
    assert {tuple(key.config for key in order) for order in orders.values()} == {
        tuple(label for label in (labels[1], labels[2], labels[0]) for _ in grid.MASKS)}
    assert len({tuple(key.mask for key in order) for order in orders.values()}) > 1  # ties: at random
    assert worker.pass_order(keys, work, random.Random(3)) == orders[3]


def test_a_process_visits_its_keys_least_gpu_work_first_and_rests_only_on_a_gpu(monkeypatch):
    from benchmarks.measure import worker

    visited: list[str] = []
    monkeypatch.setattr(worker, "visit_seconds",
                        lambda run, block_seconds, blocks: visited.append(run.__self__.config.label) or 1e-3)
    heavy, light = "8, 4, (16, 48), 64, 'float32'", "1, 4, (16, 48), 64, 'float32'"
    keys = (grid.WorkerKey(heavy, "causal_bias", ("wall",), 1), grid.WorkerKey(light, "causal_bias", ("wall",), 1))
    answer = worker.measure(grid.WorkerRequest("cpu", 0, (), keys))
    assert visited == [light, heavy] and answer.phases["gpu_rest"] == 0.0


@pytest.mark.parametrize("waited, rest", [(0.0, 0.2), (0.05, 0.15), (0.2, 0.0), (0.6, 0.0)])
def test_a_gpu_process_rests_before_its_passes_what_its_wait_for_the_quiet_lock_did_not(monkeypatch, waited, rest):
    """The rest comes inside the lock, before the first timed visit, and the lock's wait counts as rest."""
    from benchmarks.measure import worker

    class Case:
        def runner(self, mask: str):
            return lambda: None

        def warm_up(self, mask: str) -> None:  # the first time only, as a ForwardCase's
            if "first calls" not in events:
                events.append("first calls")

    class Quiet:
        def __enter__(self) -> None:
            clock[0] += waited
            events.append("locked")

        def __exit__(self, *_: object) -> None:
            events.append("unlocked")

    events: list[str] = []
    clock = [0.0]
    monkeypatch.setattr(worker, "start_device", lambda device: None)
    monkeypatch.setattr(worker, "prepared_case", lambda config: Case())
    monkeypatch.setattr(worker.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(worker.time, "sleep", lambda seconds: events.append(f"rest {seconds:.2f}"))
    monkeypatch.setattr(worker, "visit_seconds", lambda run, block_seconds, blocks: events.append("visit") or 1e-3)
    label = "1, 4, (16, 48), 64, 'float32'"
    answer = worker.measure(grid.WorkerRequest("cuda", 0, (), (grid.WorkerKey(label, "causal_bias", ("wall",), 1),)),
                            Quiet())
    assert events == ["first calls", "locked", f"rest {rest:.2f}", "visit", "unlocked"]
    assert answer.phases["quiet"] == waited and answer.phases["gpu_rest"] == 0.0  # the fake sleep takes no time


def test_a_keys_gpu_time_is_taken_in_its_last_visit_with_the_sm_clock_read_right_after_it(monkeypatch):
    from benchmarks.measure import worker

    class Case:
        def runner(self, mask: str):
            return lambda: None

        def warm_up(self, mask: str) -> None:
            pass

    taken: list[int] = []
    monkeypatch.setattr(worker, "prepared_case", lambda config: Case())
    monkeypatch.setattr(worker, "captured_replays", lambda run: ("graph", 1, 1e-3))
    monkeypatch.setattr(worker, "replayed_seconds", lambda graph, replays: taken.append(1) or 1e-3)
    monkeypatch.setattr(worker, "sm_clock_mhz", lambda: 1965 + len(taken))
    walls: list[int] = []
    monkeypatch.setattr(worker, "visit_seconds", lambda run, block_seconds, blocks: walls.append(1) or 2e-3)
    visits = worker._Visits("cuda")
    c, d = "1, 4, (16, 48), 64, 'float32'", "4, 4, (32, 32), 64, 'float32'"
    both, wall = (grid.WorkerKey(c, mask, signals, 3) for mask, signals in
                  (("causal_bias", ("gpu", "wall")), ("materialized", ("wall",))))
    gpu = grid.WorkerKey(d, "causal_bias", ("gpu",), 1)
    for index in range(3):
        visits.visit(both, index)
        visits.visit(wall, index)
    visits.visit(gpu, 0)
    answer = grid.WorkerAnswer((visits.value(both), visits.value(wall), visits.value(gpu)))
    assert grid.WorkerAnswer.from_json(answer.to_json()).values == (
        grid.WorkerValue(c, "causal_bias", 2e-3, 1e-3, 1966), grid.WorkerValue(c, "materialized", 2e-3),
        grid.WorkerValue(d, "causal_bias", None, 1e-3, 1967))
    assert taken == [1, 1] and len(walls) == 6  # three visits of two keys; the GPU time alone: no wall visit


def test_a_gpu_time_is_captured_then_rested_with_one_replays_seconds_then_timed_in_blocks(monkeypatch):
    from benchmarks.measure import timers

    events: list = []
    monkeypatch.setattr(timers, "_captured", lambda run: events.append("capture") or "graph")
    monkeypatch.setattr(timers, "replay_block", lambda graph, replays: events.append(("block", replays)) or 5e-4)
    seconds = timers.graph_replay_seconds(lambda: None, rest=lambda once: events.append(("rest", once)))
    assert seconds == 5e-4
    assert events == ["capture", ("block", 1), ("rest", 5e-4), ("block", 4), ("block", 4), ("block", 4)]


@pytest.mark.parametrize("warm, untimed", [(False, 1), (True, 0)])
def test_a_visit_calls_once_untimed_unless_the_case_has_just_run(monkeypatch, warm, untimed):
    """A call as long as a block: one timed call, after one untimed call unless ``warm``."""
    from benchmarks.measure import timers

    clock, calls, reads = [0.0], [], []
    monkeypatch.setattr(timers, "synchronized_clock", lambda: reads.append(len(calls)) or clock[0])

    def run():
        calls.append(1)
        clock[0] += 0.01  # longer than a visit's block

    assert timers.visit_seconds(run, warm=warm) == 0.01
    assert len(calls) == untimed + 1 and reads == [untimed, untimed + 1]


def test_a_heavy_keys_gpu_time_rests_between_its_capture_and_its_timed_blocks_and_says_so(monkeypatch):
    from benchmarks.measure import timers, worker

    events: list[str] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        events.append(f"rest {seconds}")
        clock[0] += seconds

    monkeypatch.setattr(worker, "prepared_case", lambda config: None)
    monkeypatch.setattr(worker, "captured_replays", lambda run: events.append("capture") or ("graph", 4, 5e-3))
    monkeypatch.setattr(worker, "replayed_seconds",
                        lambda graph, replays: events.append(f"blocks of {replays}") or 5e-3)
    monkeypatch.setattr(worker, "sm_clock_mhz", lambda: events.append("clock") or 1980)
    monkeypatch.setattr(worker.time, "sleep", sleep)
    monkeypatch.setattr(worker.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(timers, "synchronized_clock", lambda: clock[0])
    visits = worker._Visits("cuda")
    heavy, light = (grid.WorkerKey(c, "causal_bias", ("gpu",), 1, rest) for c, rest in (("h", 0.1), ("l", 0.0)))
    visits.gpu_time(heavy, lambda: None)
    visits.gpu_time(light, lambda: None)
    assert events == ["capture", "rest 0.1", "blocks of 4", "clock", "capture", "blocks of 4", "clock"]
    assert visits.gpus == {("h", "causal_bias"): 5e-3, ("l", "causal_bias"): 5e-3}
    assert (visits.phases["heavy_rest"], visits.phases["gpu"]) == (0.1, 0.0)  # the rest is a phase of its own
    assert grid.WorkerRequest.from_json(grid.WorkerRequest("cuda", 0, (), (heavy, light)).to_json()).keys == (
        heavy, light)


def test_the_worker_process_answers_each_request_line_with_one_answer_line():
    """python -m benchmarks.measure.worker: a WorkerAnswer line per line read, an unreadable one included."""
    label = "1, 4, (16, 48), 64, 'float32'"
    request = grid.WorkerRequest("cpu", 0, (), (grid.WorkerKey(label, "causal_bias", ("wall",), 2),))
    completed = subprocess.run([sys.executable, "-m", "benchmarks.measure.worker"], cwd=REPO_ROOT,
                               input=request.to_json() + "\n{}\n", capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    ready, measured, unreadable = (grid.WorkerAnswer.from_json(line) for line in completed.stdout.splitlines())
    import torch

    # First, before any request: the worker's pid and torch.
    assert ready == grid.WorkerAnswer(pid=ready.pid, torch=torch.version.git_version) and ready.pid is not None
    assert measured.error is None and measured.pid is not None
    assert [(v.config, v.mask, v.gpu) for v in measured.values] == [(label, "causal_bias", None)]
    assert measured.values[0].wall > 0
    assert unreadable.error.startswith("unreadable request") and not unreadable.values


@pytest.mark.parametrize("method, mask", [("track_wall_time_materialized", "materialized"),
                                          ("track_wall_time_causal_bias", "causal_bias")])
def test_a_wall_time_benchmark_returns_the_nights_value(method, mask):
    """asv's child for a wall time only reads the night's measurement: it builds and times nothing."""
    from asv_runner.discovery import get_benchmark_from_name

    benchmark = get_benchmark_from_name(str(REPO_ROOT / "benchmarks"),
                                        f"attention_bias.AttentionBiasNightCPU.{method}-0")
    state = night.grid_state([[1], [4], [(16, 48)], [64], ["float32"]], "cpu")
    benchmark.set_cache(state)
    model._prepared.clear()
    assert benchmark.do_setup() is False  # not skipped
    config = grid.AttentionConfig(1, 4, 16, 48, 64, "float32", "cpu")
    assert benchmark.do_run() == state.figures[config.label][mask].figures["wall_time"] > 0
    assert not model._prepared


def test_the_track_children_get_each_figures_value_and_nothing_else():
    """setup_cache hands asv the values alone: asv unpickles them once per track_* child."""
    import pickle

    state = night.grid_state([[1], [4], [(16, 48)], [64], ["float32"]], "cpu")
    config = grid.AttentionConfig(1, 4, 16, 48, 64, "float32", "cpu")
    for mask in grid.MASKS:
        values = state.figures[config.label][mask]
        assert isinstance(values, night_state.MaskValues) and values.error is None
        assert set(values.figures) == {figure.name for figure in grid.NIGHT_FIGURES}
        assert values.figures["sdpa_backend"] == grid.BACKEND_CODES["flash"]
        assert values.figures["gpu_time"] > 0  # the CPU grid's call time, which its track_gpu_time_* skips
        assert [name for name, value in values.figures.items() if value is None] == [
            "peak_memory", "kernels", "syncs", "allocations"]  # no CUDA
    assert b"MaskFigures" not in pickle.dumps(state) and b"Counter" not in pickle.dumps(state)


@pytest.mark.parametrize("night_only, torch_loaded", [("1", "False"), ("", "True")])
def test_the_forkserver_holds_torch_unless_only_the_night_runs(night_only, torch_loaded):
    """asv's forkserver imports every module of benchmarks/ and forks each child from it: with torch for
    the timed children (so none imports it itself), without it where the recorder runs the night alone."""
    script = (
        "import sys\n"
        "from asv_runner.discovery import disc_benchmarks\n"
        f"benchmarks = list(disc_benchmarks({str(REPO_ROOT / 'benchmarks')!r}))\n"
        "print(len(benchmarks), 'torch' in sys.modules)\n"
    )
    env = {**os.environ, grid.NIGHT_ONLY_VARIABLE: night_only}
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert completed.returncode == 0, completed.stderr
    # 2 grids x (2 time_* + 9 night figures x 2 masks)
    assert completed.stdout.split() == ["40", torch_loaded]


def test_a_profile_that_lost_its_cuda_records_is_taken_again_and_three_such_give_no_counts(monkeypatch):
    """Where CUPTI lost a profile's records (an H200 night lost 4 of 160 while it was torn down after each),
    the profile saw no kernel, or not its own synchronize: the counts profile again, and after three such say
    so rather than count 0 kernels and -1 syncs."""
    full = (Counter({"aten::mul": 2}), Counter({"kernel_a": 5}),
            Counter({"cudaDeviceSynchronize": 2}))  # one of them the forward's own
    lost = (Counter({"aten::mul": 2}), Counter(), Counter())
    no_kernel = (Counter({"aten::mul": 2}), Counter(), Counter({"cudaDeviceSynchronize": 1}))
    no_sync = (Counter({"aten::mul": 2}), Counter({"kernel_a": 5}), Counter())
    profiles = [lost, no_kernel, full]
    monkeypatch.setattr(counts, "profiled_call", lambda run, cuda: profiles.pop(0))
    monkeypatch.setattr(counts, "counted_call", lambda run, cuda: (40, 3, 4096))
    dispatch, peak = counts.dispatch_counts(lambda: None, cuda=True)
    assert profiles == [] and counts.PROFILE_ATTEMPTS == 3
    assert dispatch.figures() == {"aten_ops": 2, "kernels": 5, "syncs": 1, "python_calls": 40, "allocations": 3}
    assert peak == 4096
    profiles.extend([no_sync, lost, no_kernel, full])
    with pytest.raises(RuntimeError, match="lost the CUDA records of 3 profiles"):
        counts.dispatch_counts(lambda: None, cuda=True)
    assert profiles == [full]
    # On the CPU there are no CUDA records to miss: one profile.
    profiles[:] = [lost, full]
    assert counts.dispatch_counts(lambda: None, cuda=False)[0].figures()["aten_ops"] == 2 and profiles == [full]


def test_the_counts_warm_the_mask_with_one_call_before_counting(monkeypatch):
    """The night's counts pass builds the config afresh: one call first, so that what is counted is a warm
    forward's, as it was when the counts followed a config's first visit."""
    calls: list[str] = []
    case = SimpleNamespace(config=SimpleNamespace(device="cuda"), runner=lambda mask: lambda: calls.append(mask))

    def counted(run, cuda):
        calls.append(f"counted, cuda {cuda}")
        return "counts", 1024

    monkeypatch.setattr(night, "dispatch_counts", counted)
    figures = night.MaskFigures()
    night.measure_counts(case, "causal_bias", figures)
    assert calls == ["causal_bias", "counted, cuda True"]
    assert (figures.dispatch, figures.peak_memory) == ("counts", 1024)


def test_dispatch_counts_are_exact_and_see_one_extra_operator():
    """Counted twice: identical. One more ATen operator in the forward: exactly one more, by name."""
    model.use_device("cpu")
    case = model.build_case(grid.AttentionConfig.from_params(1, 4, (16, 48), 64, "float32", "cpu"))
    for mask in grid.MASKS:
        run = case.runner(mask)
        run()
        (first, peak), (second, _) = counts.dispatch_counts(run, cuda=False), counts.dispatch_counts(run, cuda=False)
        assert first == second and peak is None
        assert first.figures()["kernels"] is None and first.syncs is None and first.allocations is None
        assert first.figures()["aten_ops"] == sum(first.operators.values()) > 10

        def with_extra_operator(run=run):
            torch.ops.aten.alias(case.query)
            return run()

        extra, _ = counts.dispatch_counts(with_extra_operator, cuda=False)
        assert extra.figures()["aten_ops"] == first.figures()["aten_ops"] + 1
        assert extra.operators - first.operators == {"aten::alias": 1}
    # The mask subclass dispatches through Python inside torch; the boolean mask does not.
    materialized = counts.dispatch_counts(case.runner("materialized"), cuda=False)[0].python_calls
    assert counts.dispatch_counts(case.runner("causal_bias"), cuda=False)[0].python_calls > materialized


def test_a_torch_without_attention_biases_skips_with_the_reason(tmp_path):
    """Discovery must survive an old torch: the module imports, and each grid says why it cannot run."""
    script = (
        "import sys; sys.modules['torch.nn.attention.bias'] = None\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "from benchmarks import attention_bias, schema\n"
        "from benchmarks.measure import night\n"
        "state = night.grid_state(schema.CPU_PARAMS, 'cpu')\n"
        "print(state.unavailable)\n"
        "for benchmark, args in ((attention_bias.AttentionBiasNightCPU(), (state,)),\n"
        "                        (attention_bias.AttentionBiasCPU(), ())):\n"
        "    try:\n"
        "        benchmark.setup(*args, 1, 4, (16, 48), 64, 'float32')\n"
        "    except NotImplementedError as error:\n"
        "        print('skipped:', error)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].endswith("has no torch.nn.attention.bias.causal_lower_right: nothing to compare")
    assert lines[1:] == [f"skipped: {lines[0]}"] * 2


def test_the_counts_are_the_schemas():
    """What the measuring code counts is what the schema names, in its order."""
    counts = night_state.DispatchCounts(Counter(), Counter(), 0, Counter(), 0, 0).figures()
    assert tuple(counts) == grid.COUNT_FIGURES


def _served(lines: Iterable[str]) -> list[grid.WorkerAnswer]:
    """worker.serve over ``lines`` in this process (its children fork from here); the answers after its ready
    line. It returns once every child has ended."""
    import torch

    from benchmarks.measure import worker

    out = io.StringIO()
    worker.serve(iter(lines), out)
    ready, *answers = (grid.WorkerAnswer.from_json(line) for line in out.getvalue().splitlines())
    assert ready == grid.WorkerAnswer(pid=os.getpid(), torch=torch.version.git_version)
    return answers


def _request_line(seed: int = 0) -> str:
    key = grid.WorkerKey("1, 4, (16, 48), 64, 'float32'", "causal_bias", ("wall",), 1)
    return grid.WorkerRequest("cpu", seed, (), (key,)).to_json() + "\n"


def test_a_child_that_ends_without_answering_gets_one_error_answer_and_the_worker_goes_on(monkeypatch):
    """A measuring child killed before its answer (out of memory, a signal): one error line, then the next request."""
    from benchmarks.measure import worker

    def measure(request, *_):
        if request.seed == 0:
            os._exit(3)  # in the child: gone without a word
        return grid.WorkerAnswer(pid=os.getpid())

    monkeypatch.setattr(worker, "measure", measure)
    died, answered = _served([_request_line(0), _request_line(1)])
    assert died.error == "the measuring child ended without an answer (status 768)" and not died.values
    assert answered.error is None and answered.pid not in (None, os.getpid())


def test_the_answer_goes_out_before_its_child_has_ended(monkeypatch, tmp_path):
    """The worker reads the next request while the child that answered is still ending (CUDA's teardown):
    the child waits for that read, and says whether it came."""
    from benchmarks.measure import worker

    read_next, seen = tmp_path / "next request read", tmp_path / "what the child saw"

    def end_child() -> None:
        for _ in range(200):  # 20 s at most: a worker that waits for this child never reads on
            if read_next.exists():
                break
            time.sleep(0.1)
        seen.write_text("read while ending" if read_next.exists() else "not read")
        os._exit(0)

    def lines():
        yield _request_line()
        read_next.touch()
        yield "{}\n"

    monkeypatch.setattr(worker, "measure", lambda request, *_: grid.WorkerAnswer(pid=os.getpid()))
    monkeypatch.setattr(worker, "_end_child", end_child)
    answered, unreadable = _served(lines())
    assert seen.read_text() == "read while ending"
    assert answered.error is None and unreadable.error.startswith("unreadable request")


def _builds_record_their_folder(monkeypatch, module) -> list[str]:
    """Every build_case of ``module`` records the folder it runs from."""
    folders: list[str] = []
    real_build = module.build_case

    def recording_build(*args, **kwargs):
        folders.append(os.getcwd())
        return real_build(*args, **kwargs)

    monkeypatch.setattr(module, "build_case", recording_build)
    return folders


def test_the_night_file_dates_the_setup_cache_process_in_order(monkeypatch, tmp_path):
    """The process's start, setup_cache's call, the imports, the measurement's end, the side files: in that
    order, each a date (epoch seconds), where asv's own times can be set against them."""
    import json

    monkeypatch.setenv(grid.DISPATCH_FILE_VARIABLE, str(tmp_path / "c.dispatch"))
    called = time.time()
    marks = (called - 2e-3, called - 1e-3, called)
    night.grid_state([[1], [4], [(16, 48)], [64], ["float32"]], "cpu", import_marks=marks)
    timeline = json.loads((tmp_path / "c.night").read_text())["timeline"]
    assert set(timeline) == set(grid.NIGHT_TIMELINE)
    assert (timeline["called"], timeline["torch_imported"], timeline["code_imported"]) == marks
    dates = [timeline[mark] for mark in grid.NIGHT_TIMELINE]
    assert dates == sorted(dates) and dates[-1] <= time.time()


def test_the_night_measures_from_the_steady_folder_and_returns_to_asvs(monkeypatch, tmp_path):
    """asv runs a setup_cache from a fresh temporary folder, where CUDA's JIT cache finds none of cuDNN's
    kernels: the night builds and runs every config from the repository's folder, then goes back to
    asv's, where asv writes its cache.pickle."""
    folders = _builds_record_their_folder(monkeypatch, night)
    monkeypatch.chdir(tmp_path)
    night.grid_state([[1], [4], [(16, 48)], [64], ["float32"]], "cpu")
    assert folders and set(folders) == {str(model.STEADY_FOLDER)} == {str(REPO_ROOT)}
    assert os.getcwd() == str(tmp_path)


def test_a_timed_setup_checks_its_config_from_the_steady_folder(monkeypatch, tmp_path):
    folders = _builds_record_their_folder(monkeypatch, model)
    monkeypatch.chdir(tmp_path)
    model.checked_case(grid.AttentionConfig.from_params(1, 4, (16, 48), 64, "float32", "cpu"))
    assert folders == [str(REPO_ROOT)] and os.getcwd() == str(tmp_path)


def test_the_steady_folder_is_left_even_when_the_block_fails(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError), model.in_steady_folder():
        assert os.getcwd() == str(REPO_ROOT)
        raise RuntimeError("a config failed its check")
    assert os.getcwd() == str(tmp_path)


def test_a_worker_child_measures_from_the_steady_folder(monkeypatch, tmp_path):
    """The worker's caller may run it from anywhere: its children measure from the night's folder."""
    from benchmarks.measure import worker

    monkeypatch.setattr(worker, "measure", lambda request, *_: grid.WorkerAnswer(error=os.getcwd()))
    monkeypatch.chdir(tmp_path)
    (answer,) = _served([_request_line()])
    assert answer.error == str(REPO_ROOT)


def _logged(path, what: str) -> None:
    with open(path, "a") as log:
        log.write(f"{what} {time.monotonic()!r}\n")


def overlapping(intervals: list[tuple[float, float]]) -> list[int]:
    """How many intervals each run of overlapping ones holds, in time order."""
    runs: list[list[float]] = []  # [end, count]
    for begin, end in sorted(intervals):
        if runs and begin <= runs[-1][0]:
            runs[-1] = [max(runs[-1][0], end), runs[-1][1] + 1]
        else:
            runs.append([end, 1])
    return [int(count) for _, count in runs]


def test_a_childs_start_never_runs_beside_another_childs_timed_passes(monkeypatch, tmp_path):
    """Children start ahead of their requests, sharing the quiet lock, and time their passes holding it
    alone: on a log of every start (0.2 s each) and every visit, no visit falls inside a start, and the
    children forked together start at once. The first request waited for its child's start, and says so
    in its "start" phase."""
    from benchmarks.measure import worker

    log = tmp_path / "log"
    started: list[str] = []  # each forked child's own copy: empty where it forked

    def start_device(device: str) -> None:  # once a process, as the real one
        if not started:
            _logged(log, "begin")
            time.sleep(0.2)
            _logged(log, "end")
            started.append(device)

    def visit(run, block_seconds: float, blocks: int) -> float:
        _logged(log, "visit")
        return 1e-3

    monkeypatch.setattr(worker, "start_device", start_device)
    monkeypatch.setattr(worker, "visit_seconds", visit)
    key = grid.WorkerKey("1, 4, (16, 48), 64, 'float32'", "causal_bias", ("wall",), 3)
    requests = [grid.WorkerRequest("cpu", seed, (), (key,)).to_json() + "\n" for seed in range(6)]
    out = io.StringIO()
    worker.serve(iter(requests), out, "cpu", str(tmp_path / "quiet.lock"))
    _, *answers = (grid.WorkerAnswer.from_json(line) for line in out.getvalue().splitlines())
    assert [answer.error for answer in answers] == [None] * 6
    # Handed a fork or two after its child began a start of 0.2 s: most of that start is the process's.
    assert answers[0].phases["start"] > 0.1
    events = [(float(when), what) for what, when in (line.split() for line in log.read_text().splitlines())]
    starts = [when for when, what in events if what == "begin"]
    ends = [when for when, what in events if what == "end"]
    visits = [when for when, what in events if what == "visit"]
    # Six asked and four more ready at the end: every child started, each once.
    assert len(starts) == len(ends) == 6 + worker.READY_CHILDREN == 10 and len(visits) == 6 * 3
    assert not [v for v in visits for begin, end in zip(sorted(starts), sorted(ends)) if begin <= v <= end]
    # The first four at once, then two at once after every second request.
    together = grid.CHILDREN_STARTED_TOGETHER
    assert overlapping(list(zip(sorted(starts), sorted(ends)))) == [worker.READY_CHILDREN, *[together] * 3]


def test_a_ready_child_never_asked_ends_without_a_word(monkeypatch):
    """The worker's input ends: the children started ahead of a request end, and nothing more is written."""
    from benchmarks.measure import worker

    monkeypatch.setattr(worker, "start_device", lambda device: None)
    out = io.StringIO()
    worker.serve(iter([]), out)
    assert [grid.WorkerAnswer.from_json(line) for line in out.getvalue().splitlines()] == [
        grid.WorkerAnswer(pid=os.getpid(), torch=worker.torch.version.git_version)]


def test_every_re_measurement_shares_one_quiet_lock_file_per_user_kept_in_a_folder_of_its_own(tmp_path, monkeypatch):
    """The tools start each side's worker with the device and the one lock file of the user and host: two
    re-measurements at once (here one after the other) lock the same file, and it stays when they stop."""
    from lib import remeasure

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = tmp_path / f"attention-bias-benchmarks-{os.getuid()}"
    lock = str(folder / "quiet.lock")
    assert remeasure.quiet_lock_path() == lock and folder.stat().st_mode & 0o777 == 0o700
    open(lock, "w").close()  # as an earlier re-measurement left it
    for _ in range(2):
        with remeasure.Workers({side: sys.executable for side in remeasure.SIDES}, "cpu") as workers:
            running = workers.started()
            assert workers.quiet_lock == lock
            assert [len(running[side]) for side in remeasure.SIDES] == [remeasure.WORKERS_PER_SIDE] * 2 == [2, 2]
            for worker in workers.every_worker():
                assert worker.process is not None
                assert worker.process.args[-6:] == ["-m", "benchmarks.measure.worker", "--device", "cpu",
                                                    "--quiet-lock", lock]
        assert os.listdir(folder) == ["quiet.lock"]


@pytest.mark.parametrize("make", ["open to others", "a link"])
def test_a_quiet_lock_folder_not_the_users_alone_is_refused_in_one_line(tmp_path, monkeypatch, make):
    """Another user's folder or link in the shared temporary folder could hold the lock or move it."""
    from lib import remeasure

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = tmp_path / f"attention-bias-benchmarks-{os.getuid()}"
    if make == "open to others":
        folder.mkdir(mode=0o755)
        folder.chmod(0o777)
    else:
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        folder.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(remeasure.RemeasureError, match=f"^{folder} is not a folder of this user's alone"):
        remeasure.quiet_lock_path()


def test_a_child_whose_start_fails_answers_its_request_with_the_error(monkeypatch, tmp_path):
    """CUDA's start fails in a child started ahead: the request handed to it gets one error answer, never a
    wait, and the next request the next child's. The children never asked fail too, after the worker
    stopped reading: they end all the same, and none returns into the worker's loop (here, this test)."""
    from benchmarks.measure import worker

    def start_device(device: str) -> None:
        raise RuntimeError("no CUDA here")

    monkeypatch.setattr(worker, "start_device", start_device)
    parent = os.getpid()
    try:
        first, second = _served([_request_line(0), _request_line(1)])
    finally:
        if os.getpid() != parent:  # a child returned from serve: say so, and end it here
            (tmp_path / "returned").touch()
            os._exit(1)
    assert "RuntimeError: no CUDA here" in first.error and "RuntimeError: no CUDA here" in second.error
    assert not (tmp_path / "returned").exists()  # serve waited for every child to end


@pytest.mark.parametrize("one", grid.GRIDS, ids=lambda one: one.name)
def test_each_grids_classes_measure_its_params_on_its_device(one):
    """The classes of benchmarks/attention_bias.py are the schema's grids (the tools read names from the schema)."""
    from benchmarks import attention_bias as suite

    for name in (one.timed_class, one.night_class):
        assert (getattr(suite, name).params, getattr(suite, name).device) == (one.params, one.device)
    timed, night_class = getattr(suite, one.timed_class), getattr(suite, one.night_class)
    assert sorted(m for m in dir(timed) if m.startswith("time_")) == sorted(map(grid.timed_method, grid.MASKS))
    assert sorted(m for m in dir(night_class) if m.startswith("track_")) == sorted(
        grid.night_method(figure.name, mask) for figure in grid.NIGHT_FIGURES for mask in grid.MASKS)
