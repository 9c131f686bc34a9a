"""Bad config values are refused at start-up, before any model loads: one line naming the key and
what it accepts (the CLI prints it as `rlhfkit: error: ...`, exit 2, no traceback)."""

from __future__ import annotations

import functools

import pytest
from _helpers import run_cli, write_jsonl
from hydra import compose, initialize_config_dir

from rlhfkit.config_dir import config_dir
from rlhfkit.plugins import get_plugin_manager
from rlhfkit.plugins.manager import PluginManager
from rlhfkit.stages import run_stage
from rlhfkit.train_command import USER_ERRORS

# (overrides, the key the one-line message must name, a word of what it accepts)
CASES = [
    (["stage=ppo", "stage.clip_range=-1"], "stage.clip_range", "> 0"),
    (["stage=ppo", "stage.value_clip_range=0"], "stage.value_clip_range", "> 0"),
    (["stage=ppo", "stage.temperature=0"], "stage.temperature", "> 0"),
    (["stage=ppo", "stage.top_p=2"], "stage.top_p", "(0, 1]"),
    (["stage=ppo", "stage.top_p=0"], "stage.top_p", "(0, 1]"),
    (["stage=ppo", "stage.ppo_epochs=0"], "stage.ppo_epochs", ">= 1"),
    (["stage=ppo", "stage.total_steps=0"], "stage.total_steps", ">= 1"),
    (["stage=ppo", "stage.minibatch_size=5"], "stage.minibatch_size", "must divide"),
    (["stage=ppo", "stage.max_new_tokens=0"], "stage.max_new_tokens", ">= 1"),
    (["stage=ppo", "stage.missing_eos_mode=drop"], "stage.missing_eos_mode", "replace, subtract"),
    (["stage=ppo", "stage.value_init=/no/such/dir"], "stage.value_init", "directory"),
    (["stage=ppo", "stage.grad_clip=0"], "stage.grad_clip", "null or"),
    (["stage=ppo", "stage.fast_kernels.fused_gelu=maybe"], "stage.fast_kernels.fused_gelu", "auto, true or false"),
    (["stage=ppo", "stage.fast_kernels.torch_compile=yes please"], "stage.fast_kernels.torch_compile",
     "auto, true or false"),
    (["stage=ppo", "stage.old_logprobs=cached"], "stage.old_logprobs", "forward, sampler"),
    (["stage=ppo", "stage.old_logprobs=sampler", "stage.top_k=40"], "stage.old_logprobs", "top_k 0"),
    (["stage=ppo", "kl=adaptive", "kl.target=0"], "kl", "target"),
    (["stage=ppo", "kl=fixed", "kl.kl_coef=-1"], "kl", "kl_coef"),
    (["stage=ppo", "kl.estimator=k9"], "kl.estimator", "k1"),
    (["stage=ppo", "+kl.horizn=5"], "kl.horizn", "horizon"),
    (["stage=sft", "stage.batch_size=-4"], "stage.batch_size", ">= 1"),
    (["stage=sft", "stage.lr=0"], "stage.lr", "> 0"),
    (["stage=sft", "stage.max_length=-1"], "stage.max_length", ">= 2"),
    (["stage=sft", "stage.max_epochs=0"], "stage.max_epochs", "-1"),
    (["stage=sft", "stage.max_epochs=-1"], "stage.max_epochs", "max_steps"),
    (["stage=sft", "stage.limit_train_batches=1.5"], "stage.limit_train_batches", "fraction"),
    (["stage=sft", "stage.valid_fraction=1.0"], "stage.valid_fraction", "[0, 1)"),
    (["stage=rm", "stage.margin=-1"], "stage.margin", ">= 0"),
    (["stage=rm", "stage.normalisation.mode=zscore"], "stage.normalisation.mode", "demonstrations"),
    (["stage=rm", "stage.normalisation.target_std=0"], "stage.normalisation.target_std", "> 0"),
    (["stage=pretrain", "stage.valid_limit=0"], "stage.valid_limit", "null or"),
    (["stage=sft", "ckpt_path=/"], "ckpt_path", "is a directory"),
    (["stage=sft", "ckpt_path=/no/such.ckpt"], "ckpt_path", "no checkpoint file"),
    (["stage=sft", "+model.attn_implementation=sdpa"], "model.attn_implementation", "its options"),
]


@pytest.fixture
def no_model_loads(monkeypatch):
    """Every model factory raises if called (its signature kept, for the option check)."""
    real_get = PluginManager.get

    def get(self, kind, name, *args, **kwargs):
        factory = real_get(self, kind, name, *args, **kwargs)
        if kind != "model":
            return factory

        @functools.wraps(factory)
        def refuse(*a, **k):
            raise AssertionError(f"model '{name}' was loaded before the bad value was refused")

        return refuse

    monkeypatch.setattr(PluginManager, "get", get)


@pytest.fixture
def data_overrides(tmp_path):
    rows = [{"prompt": f"p{i}", "completion": " c", "chosen": " a", "rejected": " b", "user_id": f"u{i % 4}"}
            for i in range(8)]
    sft = write_jsonl(tmp_path / "sft.jsonl", [{k: r[k] for k in ("prompt", "completion", "user_id")} for r in rows])
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{k: r[k] for k in ("prompt", "chosen", "rejected", "user_id")}
                                                   for r in rows])
    text = write_jsonl(tmp_path / "text.jsonl", [{"text": "a b c"}] * 8)
    return [f"data.sft.train.path={sft}", f"data.preference.train.path={pairs}", f"data.prompts.train.path={sft}",
            f"data.pretrain.train.path={text}", "logger=csv", f"paths.output_dir={tmp_path / 'run'}"]


@pytest.mark.parametrize("overrides, key, accepted", CASES, ids=[" ".join(c[0][1:]) for c in CASES])
def test_a_bad_value_is_refused_before_any_model_loads(tmp_path, no_model_loads, data_overrides, overrides, key,
                                                       accepted):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*overrides, *data_overrides])
    with pytest.raises(USER_ERRORS) as caught:
        run_stage(cfg, get_plugin_manager(), tmp_path / "run")
    message = str(caught.value)
    assert "\n" not in message and f"'{key}" in message and accepted in message, message


@pytest.mark.parametrize("override, key", [("stage.top_p=2", "stage.top_p"), ("stage.lr=abc", "stage.lr"),
                                           ("stage.max_epochs=1.5", "stage.max_epochs")])
def test_the_cli_prints_one_line_and_exits_2(tmp_path, override, key):
    stage = "stage=ppo" if "top_p" in override else "stage=sft"
    result = run_cli("train", stage, override, "logger=csv", f"paths.runs_dir={tmp_path}")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rlhfkit: error:") and key in lines[0], result.stderr
