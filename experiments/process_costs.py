"""Where a benchmark process's time goes on the GPU: one forked child per (config, path), as asv's forkserver does.

Prints, per child: CUDA start-up, building the case, the first and second call of
its path, then the mean of 50 back-to-back calls, the SDPA backend each mask picks
and the SM clock after the loop (NVML, where present).
"""

import multiprocessing
import sys
import time

sys.path.insert(0, ".")

CONFIGS = [
    (1, 16, (128, 256), 2048),
    (8, 16, (256, 416), 2048),
    (16, 16, (1024, 2048), 4096),
    (128, 32, (512, 4097), 4096),
]


def sm_clock() -> str:
    try:
        import torch

        return str(torch.cuda.clock_rate())
    except Exception as error:  # NVML may be missing
        return type(error).__name__


def child(params, method, queue):
    import torch

    from benchmarks.measure import model

    marks = [time.perf_counter()]
    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    marks.append(time.perf_counter())
    config = model.AttentionConfig.from_params(*params, "bfloat16", "cuda")
    case = model.build_case(config)
    torch.cuda.synchronize()
    marks.append(time.perf_counter())
    run = getattr(case, method)
    for _ in range(2):
        run()
        torch.cuda.synchronize()
        marks.append(time.perf_counter())
    for _ in range(50):
        run()
    torch.cuda.synchronize()
    marks.append(time.perf_counter())
    q = case.module._split_heads(case.query)
    k = case.module._split_heads(case.key)
    backends = [int(torch._fused_sdp_choice(q, k, k, case.materialized_mask))]
    phases = [b - a for a, b in zip(marks, marks[1:])]
    phases[-1] /= 50
    queue.put((params, method, phases, backends, sm_clock()))


def main():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "benchmarks.measure.model"])
    queue = context.Queue()
    print("config | path | cuda_init build first second steady(ms) | materialized backend | SM MHz")
    for params in CONFIGS:
        for method in ("run_materialized", "run_causal_bias"):
            start = time.perf_counter()
            process = context.Process(target=child, args=(params, method, queue))
            process.start()
            process.join()
            wall = time.perf_counter() - start
            result = queue.get()
            phases = " ".join(f"{1000 * p:.1f}" for p in result[2])
            print(f"{params} | {method} | {phases} | {result[3]} | {result[4]} | process {wall:.2f} s")


if __name__ == "__main__":
    main()
