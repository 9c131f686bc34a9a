"""benchmarks/ppo_step.py runs rlhfkit's PPO stage for one burn-in + one timed step on the `tiny`
config and prints a well-formed final JSON line (its correctness, not its speed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from _helpers import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "ppo_step.py"
PHASES = ("generate", "policy_forward", "ref_forward", "value_forward", "reward", "advantages", "ppo_epochs")


def run_bench(*args: str, config: str = "tiny") -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--config", config, "--burn-in", "1", "--steps", "1",
                           "--rounds", "1", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    return json.loads(last), proc.stdout


def positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def result() -> tuple[dict, str]:
    return run_bench("--threads", "1")


def test_the_last_line_is_the_json_result_with_its_keys(result):
    out, stdout = result
    for key in ("config", "tokens_per_s", "step_s_median", "phases", "peak_flop_per_s", "flops_per_step", "device",
                "versions", "commit", "threads", "precision", "frac_peak_step", "step_over_flops_bound"):
        assert key in out, key
    assert out["config"] == "tiny" and out["precision"] == "fp32" and out["threads"] == 1
    assert out["config_params"]["batch"] == 4 and out["config_params"]["response"] == 4
    assert out["tokens_per_step"] == 4 * 4
    assert positive(out["step_s_median"]) and positive(out["tokens_per_s"])
    assert out["tokens_per_s"] == pytest.approx(out["tokens_per_step"] / out["step_s_median"])
    assert positive(out["peak_flop_per_s"]["fp32"]) and positive(out["peak_flop_per_s"]["bf16"])
    assert positive(out["flops_per_step"]) and positive(out["frac_peak_step"])
    assert "torch" in out["versions"] and isinstance(out["commit"], str) and out["device"].startswith("cpu")
    assert "trl_tokens_per_s" not in out  # only with --compare-trl
    memory = out["peak_memory"]["rlhfkit"]  # sampled RSS over the run; no CUDA figure on the CPU
    assert positive(memory["rss_peak_mib"]) and 0 <= memory["rss_added_mib"] <= memory["rss_peak_mib"]
    assert memory["cuda_max_allocated_mib"] is None and "trl" not in out["peak_memory"]
    assert memory["own_process"] is False and "process_max_rss_mib" not in memory  # without --isolate
    assert "tokens/s" in stdout and "ppo_epochs" in stdout  # the human-readable table
    assert out["old_logprobs"] == "forward"


def test_every_phase_is_timed_and_the_phases_add_up_to_the_step(result):
    out, _ = result
    assert set(out["phases"]) == set(PHASES)
    for name, phase in out["phases"].items():
        assert phase["s_median"] > 0, name
        assert math.isfinite(phase["gflops"]) and phase["gflops"] >= 0, name
        assert 0 <= phase["frac_peak"] < 1.5, name  # a fraction of the measured peak (not above it by much)
    assert out["phases"]["ppo_epochs"]["gflops"] > out["phases"]["ref_forward"]["gflops"] > 0
    total = sum(p["s_median"] for p in out["phases"].values())  # one timed step: medians of one value
    assert total <= out["step_s_median"] * 1.001
    assert total >= 0.5 * out["step_s_median"], "the phases should cover most of the step"
    assert out["other_s_median"] == pytest.approx(out["step_s_median"] - out["phase_sum_s_median"])


def test_compare_trl_adds_trl_figures_and_the_ratio():
    pytest.importorskip("trl.experimental.ppo", reason="TRL is an optional extra: pip install -e '.[trl]'")
    out, stdout = run_bench("--threads", "1", "--compare-trl")
    assert positive(out["trl_tokens_per_s"]) and positive(out["trl_step_s_median"])
    assert out["speedup_vs_trl"] == pytest.approx(out["tokens_per_s"] / out["trl_tokens_per_s"])
    assert "rlhfkit / TRL" in stdout


def test_isolated_runs_report_their_own_process_peak_and_compile_is_recorded():
    """--isolate: each fresh run in a spawned process, so a framework's peak RSS is its own (VmHWM,
    not ru_maxrss, which would carry the parent's peak over into the child)."""
    out, stdout = run_bench("--threads", "1", "--isolate", "--compile")
    assert out["torch_compile"] is True and "torch_compile=on" in stdout
    memory = out["peak_memory"]["rlhfkit"]
    assert memory["own_process"] is True
    assert memory["rss_peak_mib"] <= memory["process_max_rss_mib"] * 1.01  # the run's peak is within its process's
    assert positive(out["step_s_median"]) and set(out["phases"]) == set(PHASES)


def test_old_logprobs_from_the_sampler_drop_the_policy_pass_and_its_flops(result):
    out, stdout = run_bench("--threads", "1", "--old-logprobs", "sampler")
    assert out["old_logprobs"] == "sampler" and "old_logprobs=sampler" in stdout
    assert out["phases"]["policy_forward"]["s_median"] == 0 and out["phases"]["policy_forward"]["gflops"] == 0
    forward = result[0]
    assert out["flops_per_step"] == pytest.approx(forward["flops_per_step"]
                                                  - forward["phases"]["policy_forward"]["gflops"] * 1e9)


def test_flops_model_counts_the_config():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import flops
        from common import CONFIGS
    finally:
        sys.path.remove(str(SCRIPT.parent))
    cfg = CONFIGS["tiny"]  # B=4 T=4 P=4, 1 layer x 32, V=512
    d, S = 32, 8
    body = 12 * d * d  # weights in the matmuls of one layer
    forward = 4 * (2 * body * S + 2 * 2 * d * S * (S + 1) / 2)  # B sequences, causal attention
    f = flops.phase_flops(cfg)
    assert f["ref_forward"] == pytest.approx(forward + 2 * 512 * d * 4 * 4)  # LM head on the B*T response positions
    assert f["ppo_epochs"] == pytest.approx(4 * 3 * (f["policy_forward"] + f["value_forward"]))
    assert f["advantages"] == 0


def bench_modules():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import common
        import flops
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return common, flops


def test_llama_flops_by_hand():
    common, flops = bench_modules()
    cfg = common.CONFIGS["tiny_llama"]  # 1 layer x 32, 4 query heads, 2 key/value heads, SwiGLU 88
    assert flops.body_weights(cfg) == 2 * 32 * 32 + 2 * 32 * 16 + 3 * 32 * 88  # q, o; k, v (half width); gate, up, down


@pytest.mark.parametrize("name", ["tiny", "tiny_llama"])
def test_body_weights_are_the_models_matmul_weights(name):
    """The FLOPs model's weight count equals the real model's: the Linear (and GPT-2 Conv1D) weights of its layers."""
    common, flops = bench_modules()
    cfg = common.CONFIGS[name]
    weights = common.make_weights(cfg, common.make_tokenizer(cfg))
    body = weights.value_backbone
    layers = body.h if cfg.arch == "gpt2" else body.layers
    matmul = sum(m.weight.numel() for m in layers.modules() if hasattr(m, "weight") and m.weight.dim() == 2)
    assert matmul == flops.body_weights(cfg)
    assert type(body).__name__ == ("GPT2Model" if cfg.arch == "gpt2" else "LlamaModel")


def test_the_llama_config_runs_a_ppo_step():
    out, _ = run_bench("--threads", "1", config="tiny_llama")
    assert out["config"] == "tiny_llama" and positive(out["tokens_per_s"])
    assert set(out["phases"]) >= set(PHASES)
