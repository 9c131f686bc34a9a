"""The fast decoder applies to the models it supports (a capability check, not a list); any other
model (Mamba: a recurrent cache) samples with transformers' ``generate`` under the same rules and
returns the same outputs. One log line says which sampler runs; nothing crashes."""

from __future__ import annotations

import logging

import pytest
import torch
from _hf_models import save_tiny_hf

from rlhfkit.algos import logprobs_from_logits
from rlhfkit.algos.sampling import truncate_at_eos
from rlhfkit.models import load_hf
from rlhfkit.models.encoding import encode_prompts
from rlhfkit.models.generation import (
    SamplingConfig, generate_responses, response_logits, sample_completions, sample_responses, sampler_support,
)
from rlhfkit.stages.ppo.rollout import make_rollout

PROMPTS = ["hello world", "the cat and the dog", "please say"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("samplers")
    out = {}
    for arch in ("llama", "mamba"):
        bundle = load_hf(str(save_tiny_hf(root / arch, arch)))
        bundle.model.eval()
        out[arch] = bundle
    return out


def _encode(bundle):
    return encode_prompts(bundle.tokenizer, PROMPTS, 32)[:2]


def test_the_capability_check_picks_the_sampler(models):
    llama, mamba = sampler_support(models["llama"].model), sampler_support(models["mamba"].model)
    assert llama.fast and llama.preallocated and llama.reason == ""
    assert not mamba.fast and "recurrent" in mamba.reason


@pytest.mark.parametrize("arch", ["llama", "mamba"])
@pytest.mark.parametrize("preallocated", [None, True])
def test_each_model_samples_without_a_crash_and_logs_its_sampler_once(models, arch, preallocated, caplog):
    bundle = models[arch]
    ids, mask = _encode(bundle)
    sampling = SamplingConfig(max_new_tokens=6, temperature=0.9)
    with caplog.at_level(logging.INFO, logger="rlhfkit.models.generation"):
        for _ in range(2):
            tokens, logprobs = sample_responses(bundle.model, ids, mask, sampling, bundle.tokenizer.eos_token_id,
                                                torch.Generator().manual_seed(0), preallocated, return_logprobs=True)
            assert tokens.shape == logprobs.shape and tokens.shape[0] == len(PROMPTS) and 1 <= tokens.shape[1] <= 6
            assert (logprobs <= 0).all()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sampler:")]
    assert len(lines) <= 1  # once per model (the first parametrisation logs it)
    if lines:
        assert ("transformers generate" in lines[0]) == (arch == "mamba")


@pytest.mark.parametrize("arch", ["llama", "mamba"])
def test_generate_draws_from_the_same_distribution_as_the_fast_decoder(models, arch):
    """Its sampling logprobs are the temperature-scaled logprobs a full forward gives the tokens it
    drew (item 22), with generate's own warpers off (no top-k 50 default, item 34)."""
    bundle = models[arch]
    model, tok = bundle.model, bundle.tokenizer
    ids, mask = _encode(bundle)
    sampling = SamplingConfig(max_new_tokens=5, temperature=0.7)
    saved = (model.generation_config.top_k, model.generation_config.top_p)
    model.generation_config.top_k, model.generation_config.top_p = 2, 0.5  # a hub model's defaults: must not leak
    try:
        tokens, logprobs = generate_responses(model, ids, mask, sampling, tok.eos_token_id,
                                              torch.Generator().manual_seed(1))
        again, _ = generate_responses(model, ids, mask, sampling, tok.eos_token_id, torch.Generator().manual_seed(1))
        assert (model.generation_config.top_k, model.generation_config.top_p) == (2, 0.5)  # put back
    finally:
        model.generation_config.top_k, model.generation_config.top_p = saved
    assert torch.equal(tokens, again)  # seeded by the generator
    resp, resp_mask, _ = truncate_at_eos(tokens, tok.eos_token_id, tok.pad_token_id)
    for row in range(len(PROMPTS)):  # one row at a time: no padding, any architecture
        real = mask[row].bool()
        seq = torch.cat([ids[row][real], resp[row]])[None]
        with torch.no_grad():
            logits = model(input_ids=seq).logits[:, real.sum() - 1:-1]
        want = logprobs_from_logits(logits, resp[row][None], sampling.temperature)[0]
        n = int(resp_mask[row].sum())
        assert torch.allclose(logprobs[row, :n], want[:n], atol=1e-4)  # a leaked top_k=2 would renormalise


def test_top_k_1_gives_the_same_tokens_from_both_samplers(models):
    bundle = models["llama"]
    ids, mask = _encode(bundle)
    sampling = SamplingConfig(max_new_tokens=6, temperature=0.5, top_k=1)
    eos = bundle.tokenizer.eos_token_id
    fast, fast_lp = sample_responses(bundle.model, ids, mask, sampling, eos, torch.Generator().manual_seed(0),
                                     return_logprobs=True)
    slow, slow_lp = generate_responses(bundle.model, ids, mask, sampling, eos, torch.Generator().manual_seed(3))
    a, a_mask, _ = truncate_at_eos(fast, eos, bundle.tokenizer.pad_token_id)
    b, b_mask, _ = truncate_at_eos(slow, eos, bundle.tokenizer.pad_token_id)
    n = min(a.shape[1], b.shape[1])
    assert torch.equal(a[:, :n] * a_mask[:, :n], b[:, :n] * b_mask[:, :n])
    assert torch.allclose(fast_lp * a_mask, torch.zeros_like(fast_lp)) and torch.allclose(slow_lp * b_mask,
                                                                                          torch.zeros_like(slow_lp))


def test_a_mamba_policy_rolls_out_and_evaluates(models):
    bundle = models["mamba"]
    rollout = make_rollout(PROMPTS, bundle.model, bundle.model, None, lambda p, r: torch.ones(len(p)), bundle.tokenizer,
                           SamplingConfig(5), 32, torch.Generator().manual_seed(0))
    assert rollout.response_ids.shape[0] == len(PROMPTS) and torch.isfinite(rollout.logprobs).all()
    samples = sample_completions(bundle.model, bundle.tokenizer, PROMPTS, n=2, max_new_tokens=4, with_logprobs=True)
    assert len(samples.completions) == 6 and torch.isfinite(samples.logprob).all()


def test_response_logits_of_a_lora_reference_keep_the_lm_head_switch(models):
    import copy

    from rlhfkit.models.lora import AdapterDisabledReference, apply_lora, lora_options

    bundle = models["llama"]
    policy = apply_lora(copy.deepcopy(bundle.model), lora_options({"r": 2})).eval()
    ids, mask = _encode(bundle)
    full = torch.cat([ids, ids[:, -2:]], 1), torch.cat([mask, torch.ones_like(mask[:, -2:])], 1)
    with torch.no_grad():
        short = response_logits(AdapterDisabledReference(policy), *full, ids.shape[1], lm_head_last_only=True)
        long = response_logits(bundle.model, *full, ids.shape[1], lm_head_last_only=False)
    assert torch.allclose(short, long, atol=1e-5)
