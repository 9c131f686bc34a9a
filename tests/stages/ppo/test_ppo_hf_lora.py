"""PPO on a Hugging Face model: every model runs in eval mode in the training step (item 23, even
with dropout configured); with LoRA the reference is the policy with its adapter disabled (no
second copy, nothing in the checkpoints), gradient checkpointing still applies in eval mode, and
the run exports the merged policy to final/ and the adapter to adapter/. A Mamba policy samples
with transformers' generate."""

from __future__ import annotations

import random

import pytest
import torch
from _hf_models import save_tiny_hf
from _helpers import run_stage_in_process, write_jsonl
from transformers import AutoModelForCausalLM

from rlhfkit.models.lora import AdapterDisabledReference
from rlhfkit.stages.ppo.module import PPOModule

WORDS = "please thanks hello world the a cat dog say tell me you".split()
REWARD = ["reward=keyword", "reward.wanted=[please]", "reward.banned=[]"]
SMALL = ["stage.total_steps=2", "stage.rollout_batch_size=4", "stage.minibatch_size=4", "stage.max_new_tokens=6",
         "stage.checkpoint_every=2", "stage.lr=1e-2"]


def _prompts(path):
    rng = random.Random(0)
    return write_jsonl(path, [{"prompt": " ".join(rng.choice(WORDS) for _ in range(3))} for _ in range(16)])


@pytest.mark.parametrize("arch,lora", [("gpt2", False), ("llama", True)])
def test_training_steps_run_in_eval_mode_and_lora_uses_the_base_as_reference(tmp_path, monkeypatch, arch, lora):
    seen = []
    update = PPOModule._minibatch_update

    def probe(self, mb):
        dropout = [m for m in self.policy.modules() if isinstance(m, torch.nn.Dropout) and m.training]
        layers_flagged = sum(1 for m in self.policy.modules() if m.training)
        seen.append((self.policy.training, dropout, layers_flagged, self.value_model.training))
        return update(self, mb)

    monkeypatch.setattr(PPOModule, "_minibatch_update", probe)
    model = save_tiny_hf(tmp_path / arch, arch)
    extra = ["model.lora.r=4", "model.gradient_checkpointing=true"] if lora else []
    run = tmp_path / "run"
    run_stage_in_process(run, "stage=ppo", "model=hf", f"model.path={model}", "model.dropout=0.2", *REWARD, *SMALL,
                         f"data.prompts.train.path={_prompts(tmp_path / 'prompts.jsonl')}", *extra)
    assert len(seen) == 2 * 4  # 2 iterations of 4 PPO epochs of one minibatch
    for policy_training, dropout, flagged, value_training in seen:
        assert not policy_training and not dropout and not value_training  # item 23
        assert flagged == (2 if lora else 0)  # only the checkpointed decoder layers, not their dropout
    state = torch.load(run / "checkpoints" / "iter000002.ckpt", weights_only=False)["state_dict"]
    assert not any(k.startswith("ref_policy.") for k in state)
    final = AutoModelForCausalLM.from_pretrained(run / "final")
    assert not any("lora" in k or "base_layer" in k for k in final.state_dict())  # a plain (merged) model
    assert (run / "adapter" / "adapter_config.json").exists() == lora


def test_lora_ppo_module_shares_the_weights_with_its_reference(tmp_path):
    from rlhfkit.models import load_hf, scalar_model_from
    from rlhfkit.plugins import get_plugin_manager
    from rlhfkit.stages.ppo.config import PPOConfig

    bundle = load_hf(str(save_tiny_hf(tmp_path / "llama", "llama")), lora={"r": 4})
    plugins = get_plugin_manager()
    module = PPOModule(bundle.model, bundle.tokenizer, lambda p, r: torch.zeros(len(p)),
                       plugins.build("kl_controller", {"name": "fixed", "kl_coef": 0.1}, "kl"),
                       plugins.build("advantage", {"name": "gae"}, "advantage"),
                       lambda params, lr: torch.optim.AdamW(params, lr=lr), None, ["hello"] * 8,
                       PPOConfig(rollout_batch_size=4, minibatch_size=4), value_model=scalar_model_from(bundle, "value"))
    assert isinstance(module.ref_policy, AdapterDisabledReference) and module.ref_policy.policy is module.policy
    assert not any(k.startswith("ref_policy.") for k in module.state_dict())
    assert all(p.requires_grad for p in module.value_model.parameters())  # the critic trains in full
    with pytest.raises(Exception, match="shared_value_head"):
        PPOModule(bundle.model, bundle.tokenizer, lambda p, r: torch.zeros(len(p)),
                  plugins.build("kl_controller", {"name": "fixed", "kl_coef": 0.1}, "kl"),
                  plugins.build("advantage", {"name": "gae"}, "advantage"),
                  lambda params, lr: torch.optim.AdamW(params, lr=lr), None, ["hello"] * 8,
                  PPOConfig(rollout_batch_size=4, minibatch_size=4, shared_value_head=True),
                  value_model=scalar_model_from(bundle, "value"))


def test_torch_compile_with_a_lora_policy_trains_as_eager(tmp_path):
    """stage.fast_kernels.torch_compile=true on a LoRA policy: the compiled scoring wrapper and PPO epochs
    run through the adapter (the reference, the policy with its adapter disabled, stays eager) and log
    the eager run's figures. The reward varies (length): with a constant score and the critic's zero
    head, eager advantages are exactly 0, while compiled values carry ~1e-7 of rounding that
    whitening and Adam's scale invariance turn into real steps."""
    import json

    model = save_tiny_hf(tmp_path / "llama", "llama")
    prompts = _prompts(tmp_path / "prompts.jsonl")
    rows = {}
    for compiled in (False, True):
        run = tmp_path / f"compiled_{compiled}"
        run_stage_in_process(run, "stage=ppo", "model=hf", f"model.path={model}", "model.lora.r=4", "reward=length",
                             *SMALL, "stage.ppo_epochs=2", f"data.prompts.train.path={prompts}",
                             f"stage.fast_kernels.torch_compile={str(compiled).lower()}")
        rows[compiled] = [json.loads(line) for line in (run / "ppo_history.jsonl").read_text().splitlines()]
    assert len(rows[True]) == 2
    assert rows[False][1]["objective/kl"] != 0  # the policy moved from its reference
    for eager, compiled in zip(rows[False], rows[True]):
        for key in ("objective/score", "objective/kl", "ppo/policy/approxkl", "ppo/val/loss"):
            assert compiled[key] == pytest.approx(eager[key], rel=1e-3, abs=1e-6), key
    assert (tmp_path / "compiled_True" / "adapter" / "adapter_config.json").exists()


def test_a_mamba_policy_runs_ppo_with_generate(tmp_path, caplog):
    import logging

    model = save_tiny_hf(tmp_path / "mamba", "mamba")
    with caplog.at_level(logging.INFO, logger="rlhfkit.models.generation"):
        metrics = run_stage_in_process(tmp_path / "run", "stage=ppo", "model=hf", f"model.path={model}", *REWARD,
                                       *SMALL, f"data.prompts.train.path={_prompts(tmp_path / 'prompts.jsonl')}",
                                       "advantage=rloo", "advantage.group_size=2")
    assert metrics["ppo/iteration"] == 2
    assert "sampler: transformers generate for MambaForCausalLM" in caplog.text
