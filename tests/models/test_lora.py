"""LoRA through peft (``model.lora.*``): options, the frozen base, the export (merged final/ and the
adapter alone), and PPO's reference as the policy with its adapter disabled (no second copy)."""

from __future__ import annotations

import logging

import pytest
import torch
from _hf_models import save_tiny_hf
from transformers import AutoModelForCausalLM

from rlhfkit.algos import logprobs_from_logits
from rlhfkit.errors import ConfigError
from rlhfkit.models import ScalarHeadModel, load_hf, scalar_model_from
from rlhfkit.models.generation import SamplingConfig, response_logits
from rlhfkit.models.lora import (
    AdapterDisabledReference, is_lora, lora_options, parameter_counts, plain_body, policy_body_copy,
)
from rlhfkit.stages.ppo.rollout import make_rollout

LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}
PROMPTS = ["hello world", "the cat and the dog", "please say"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    return {arch: save_tiny_hf(root / arch, arch) for arch in ("llama", "gpt2")}


def _trained(bundle, seed=0):
    """Give the adapter nonzero weights (a fresh one is B = 0: the base model exactly)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in bundle.model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return bundle


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_options_are_checked_and_r_0_is_off():
    assert lora_options(None) is None and lora_options({"r": 0, "alpha": 16}) is None
    assert lora_options({"r": 8, "target_modules": ["q_proj", "v_proj"]}).target_modules == ("q_proj", "v_proj")
    for bad, key in [({"r": 4, "rank": 2}, "model.lora.rank"), ({"r": -1}, "model.lora.r"),
                     ({"r": 4, "dropout": 1.0}, "model.lora.dropout"), ({"r": 4, "alpha": 0}, "model.lora.alpha"),
                     ({"r": 4, "target_modules": 3}, "model.lora.target_modules")]:
        with pytest.raises(ConfigError, match=key):
            lora_options(bad)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_only_the_adapter_trains_and_the_counts_are_logged(saved, arch, caplog):
    with caplog.at_level(logging.INFO, logger="rlhfkit.models.lora"):
        bundle = load_hf(str(saved[arch]), lora=LORA)
    assert is_lora(bundle.model)
    trainable, total = parameter_counts(bundle.model)
    assert 0 < trainable < total / 4
    assert all(("lora_" in n) == p.requires_grad for n, p in bundle.model.named_parameters())
    assert f"{trainable:,} trainable of {total:,} parameters" in caplog.text
    ids = torch.tensor([[5, 6, 7, 8]])
    base = AutoModelForCausalLM.from_pretrained(saved[arch]).eval()
    assert torch.allclose(_logits(bundle.model.eval(), ids), _logits(base, ids), atol=1e-6)  # B = 0 at the start


def test_wrong_target_modules_are_one_line_naming_the_key(saved):
    with pytest.raises(ConfigError, match=r"model.lora.target_modules"):
        load_hf(str(saved["llama"]), lora={**LORA, "target_modules": ["no_such_proj"]})


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_export_is_the_merged_model_and_the_adapter_alone(saved, arch, tmp_path):
    from peft import PeftModel

    bundle = _trained(load_hf(str(saved[arch]), lora=LORA))
    bundle.save_pretrained(tmp_path / "final")
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    want = _logits(bundle.model.eval(), ids)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "final").eval()  # no peft needed
    assert not is_lora(merged) and torch.allclose(_logits(merged, ids), want, atol=1e-5)
    assert (tmp_path / "adapter" / "adapter_config.json").exists() and (tmp_path / "adapter" / "tokenizer.json").exists()
    assert not (tmp_path / "final" / "adapter_config.json").exists()
    adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(saved[arch]), tmp_path / "adapter").eval()
    assert torch.allclose(_logits(adapter, ids), want, atol=1e-5)
    assert torch.allclose(_logits(bundle.model, ids), want)  # the export did not change the model


def test_the_reference_is_the_base_with_the_adapter_disabled_and_no_copy(saved):
    bundle = _trained(load_hf(str(saved["llama"]), lora=LORA))
    policy = bundle.model.eval()
    ref = AdapterDisabledReference(policy)
    assert {id(p) for p in ref.parameters()} == {id(p) for p in policy.parameters()}  # the same tensors
    assert ref.state_dict() == {}
    ids = torch.tensor([[5, 6, 7, 8]])
    base = AutoModelForCausalLM.from_pretrained(saved["llama"]).eval()
    assert torch.allclose(_logits(ref, ids), _logits(base, ids), atol=1e-6)
    assert not torch.allclose(_logits(policy, ids), _logits(base, ids), atol=1e-3)  # the adapter is back on after


def test_a_rollout_scores_the_reference_with_the_adapter_off(saved):
    bundle = _trained(load_hf(str(saved["llama"]), lora=LORA))
    policy, tok = bundle.model, bundle.tokenizer
    base = AutoModelForCausalLM.from_pretrained(saved["llama"]).eval()
    if len(tok) > base.get_input_embeddings().num_embeddings:
        base.resize_token_embeddings(len(tok))
    rollout = make_rollout(PROMPTS, policy, AdapterDisabledReference(policy), None, lambda p, r: torch.zeros(len(p)),
                           tok, SamplingConfig(6), 32, torch.Generator().manual_seed(0))
    ids, mask, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_length
    with torch.no_grad():
        want = logprobs_from_logits(response_logits(base, ids, mask, p), rollout.response_ids, 1.0)
    m = rollout.response_mask.float()
    assert torch.allclose(rollout.ref_logprobs, want * m, atol=1e-5)
    assert (rollout.logprobs - rollout.ref_logprobs).abs().max() > 1e-3  # the policy is not the reference


def test_a_critic_copied_from_a_lora_policy_is_a_plain_trainable_body(saved):
    bundle = _trained(load_hf(str(saved["llama"]), lora=LORA))
    critic = scalar_model_from(bundle, "value")
    assert policy_body_copy(critic.backbone)
    critic.backbone = plain_body(critic.backbone)
    assert not policy_body_copy(critic.backbone) and all(p.requires_grad for p in critic.parameters())
    ids, mask = torch.tensor([[5, 6, 7]]), torch.ones(1, 3, dtype=torch.long)
    assert critic(ids, mask).shape == (1, 3)
    rm = ScalarHeadModel.from_causal_lm(AutoModelForCausalLM.from_pretrained(saved["llama"]), "reward")
    assert plain_body(rm.backbone) is rm.backbone  # anything else is left alone

