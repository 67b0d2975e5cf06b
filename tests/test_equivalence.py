"""The equivalence check, the per-parameter-set cache and failure isolation, on the CPU."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT, make_standin_repo

sys.path.insert(0, str(REPO_ROOT))
from benchmarks import night_state  # noqa: E402
from benchmarks.measure import model, night, timers  # noqa: E402
from benchmarks.schema import GPU_PARAMS, AttentionConfig  # noqa: E402


def cpu_config(batch_size=1, seq_lens=(16, 48)) -> AttentionConfig:
    return AttentionConfig.from_params(batch_size, 4, seq_lens, 64, "float32", "cpu")


@pytest.mark.parametrize("seq_lens", [(16, 48), (1, 48), (32, 32)])
def test_both_masks_agree(seq_lens):
    model.check_case(model.build_case(cpu_config(seq_lens=seq_lens)))


def test_upper_left_mask_is_caught():
    """Where q < kv, an upper-left causal mask gives other outputs than CausalBias(LOWER_RIGHT)."""
    case = model.build_case(cpu_config(seq_lens=(16, 48)))
    case.materialized_mask = model.upper_left_causal_mask(16, 48, torch.device("cpu"))
    with pytest.raises(AssertionError, match="CausalBias output differs"):
        model.check_case(case)


def test_all_zero_output_is_rejected():
    """A zeroed output projection (the reference's defect) cannot pass as equivalent."""
    case = model.build_case(cpu_config())
    case.module.out_proj.data.zero_()
    with pytest.raises(AssertionError, match="all zeros"):
        model.check_case(case)


def test_projections_are_used():
    """The output changes when a projection does: none of them is dead work."""
    case = model.build_case(cpu_config())
    before = case.run_causal_bias()
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        weight = getattr(case.module, name)
        saved = weight.data.clone()
        weight.data.mul_(0.5)
        assert not torch.allclose(case.run_causal_bias(), before), name
        weight.data.copy_(saved)


def test_inputs_are_seeded(monkeypatch):
    """Two builds agree, and the seed is what they agree on: another seed gives other inputs."""
    first, second = model.build_case(cpu_config()), model.build_case(cpu_config())
    assert torch.equal(first.key, second.key)
    assert torch.equal(first.module.k_proj, second.module.k_proj)
    monkeypatch.setattr(model, "SEED", model.SEED + 1)
    other = model.build_case(cpu_config())
    assert not torch.equal(first.key, other.key) and not torch.equal(first.module.k_proj, other.module.k_proj)


def test_prepared_cases_are_kept_per_parameter_set_oldest_freed_first_beyond_the_bytes(monkeypatch):
    model._prepared.clear()
    one, two, four = (cpu_config(batch_size=n) for n in (1, 2, 4))
    first = model.prepared_case(one)
    assert model.prepared_case(one) is first
    sizes = {n: model.case_bytes(model.prepared_case(cpu_config(batch_size=n))) for n in (1, 2, 4)}
    assert list(model._prepared) == [one, two, four]  # all kept under the default bytes
    # query 1 x 16 x 64 floats, key and value 1 x 48 x 64, mask 16 x 48 booleans, 4 weights 64 x 64.
    assert sizes[1] == 4 * (16 * 64 + 2 * 48 * 64) + 16 * 48 + 4 * 4 * 64 * 64
    # Used again, the first becomes the newest; the bytes of two of them keep the two newest.
    assert model.prepared_case(one) is first
    monkeypatch.setattr(model, "PREPARED_BYTES", sizes[1] + sizes[4])
    model.prepared_case(cpu_config(batch_size=8))
    assert list(model._prepared) == [cpu_config(batch_size=8)]  # 8's alone is over: the rest go
    model.prepared_case(one)
    assert list(model._prepared) == [one]  # 8's and 1's together are over: the oldest goes
    model.prepared_case(four)
    assert list(model._prepared) == [one, four]  # exactly the bytes: kept
    model._prepared.clear()


def test_gpu_classes_skip_without_cuda(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from benchmarks.attention_bias import AttentionBias, AttentionBiasNight

    with pytest.raises(NotImplementedError, match="CUDA is not available"):
        AttentionBias().setup(1, 16, (128, 256), 2048, "bfloat16")
    assert "CUDA is not available" in capsys.readouterr().err
    with pytest.raises(NotImplementedError, match="CUDA is not available"):
        AttentionBiasNight().setup(night.grid_state(GPU_PARAMS, "cuda"), 1, 16, (128, 256), 2048, "bfloat16")
    assert "CUDA is not available" in capsys.readouterr().err


@pytest.mark.parametrize("clock", ["night", "asv"])
def test_the_clock_waits_for_the_gpu_only_where_cuda_was_started(monkeypatch, clock):
    """Where CUDA is merely available the clock must not start it; where it runs, every read syncs.
    Both clocks: the night's visits' and the timed benchmarks' asv ``timer``."""
    from benchmarks import attention_bias

    read = {"night": timers.synchronized_clock, "asv": attention_bias.gpu_synchronized_clock}[clock]
    synced = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *args: synced.append(True))
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    read()
    assert synced == []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    first = read()
    assert synced == [True] and read() >= first and synced == [True, True]


BROKEN_MODULE = '''
from .measure import model, night
from .attention_bias import AttentionBiasNightCPU


def one_wrong_mask(q_seq_len, kv_seq_len, device):
    if (q_seq_len, kv_seq_len) == (16, 48):
        return model.upper_left_causal_mask(q_seq_len, kv_seq_len, device)
    return model.lower_right_causal_mask(q_seq_len, kv_seq_len, device)


class WrongMaskCPU(AttentionBiasNightCPU):
    """The (16, 48) parameter sets get an upper-left mask: their check must fail, the others run."""

    def setup_cache(self):
        return night.grid_state(self.params, self.device, one_wrong_mask)
'''


def test_verdicts_keep_going_after_a_failure():
    configs = [cpu_config(seq_lens=(16, 48)), cpu_config(seq_lens=(1, 48))]

    def wrong_first(q, kv, device):
        if q == 16:
            return model.upper_left_causal_mask(q, kv, device)
        return model.lower_right_causal_mask(q, kv, device)

    state = night.measure_grid(configs, wrong_first)
    verdicts = state.verdicts
    assert verdicts[configs[0]].startswith("AssertionError: CausalBias output differs")
    assert verdicts[configs[1]] is None
    assert state.figures[configs[0]] == "the equivalence check failed"
    assert set(state.figures[configs[1]]) == {"materialized", "causal_bias"}
    values = state.night_values()
    failed = night_state.config_outcome(values, configs[0].label)
    assert failed == night_state.FigureOutcome(failed=f"equivalence check failed for {configs[0].label}:\n"
                                                      f"{verdicts[configs[0]]}")
    assert night_state.config_outcome(values, configs[1].label) is None


def test_a_failing_parameter_set_does_not_stop_the_others(tmp_path):
    """A real asv run: the wrong-mask set fails (result null), every other set is timed."""
    bench_dir = tmp_path / "benchmarks"
    shutil.copytree(REPO_ROOT / "benchmarks", bench_dir, ignore=shutil.ignore_patterns("__pycache__"))
    (bench_dir / "wrong_mask.py").write_text(BROKEN_MODULE)
    (commit,) = make_standin_repo(tmp_path / "repo", ["only"])
    conf = {
        "version": 1, "project": "t", "repo": str(tmp_path / "repo"), "branches": ["main"],
        "environment_type": "existing", "launch_method": "forkserver",
        "benchmark_dir": str(bench_dir), "results_dir": str(tmp_path / "results"),
        "html_dir": str(tmp_path / "html"), "env_dir": str(tmp_path / "env"),
    }
    (tmp_path / "asv.conf.json").write_text(json.dumps(conf))
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    asv = [sys.executable, "-m", "asv"]
    config = ["--config", str(tmp_path / "asv.conf.json")]
    subprocess.run([*asv, "machine", "--yes", "--machine", "t", *config], check=True, env=env,
                   capture_output=True)
    completed = subprocess.run(
        [*asv, "run", "--environment", f"existing:{sys.executable}", "--set-commit-hash", commit,
         "--machine", "t", "--bench", r"WrongMaskCPU\.track_wall_time_", "--show-stderr", *config],
        env=env, capture_output=True, text=True,
    )
    assert "CausalBias output differs" in completed.stdout + completed.stderr
    results_file = next((tmp_path / "results" / "t").glob(f"{commit[:8]}-*.json"))
    results = json.loads(results_file.read_text())["results"]
    for method in ("track_wall_time_materialized", "track_wall_time_causal_bias"):
        values = results[f"wrong_mask.WrongMaskCPU.{method}"][0]
        # params: batch (1, 4) x seq_lens ((16, 48), (1, 48), (32, 32)); (16, 48) fails twice
        assert values[0] is None and values[3] is None, values
        assert all(isinstance(v, float) and v > 0 for v in values[1:3] + values[4:]), values

