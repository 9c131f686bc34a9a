"""rlhfkit.models.generation: the sampler that PPO, the rankings and the evaluation share."""

from __future__ import annotations

import pytest
import torch

from rlhfkit.algos.sampling import sample_tokens
from rlhfkit.models import build_tiny, positions_from_mask
from rlhfkit.models.encoding import encode_prompts
from rlhfkit.models.generation import SamplingConfig, response_logits, sample_responses

WORDS = "please thanks hello world the a cat dog say tell me you".split()
PROMPTS = ["hello", "say please to the cat", "a dog", "tell me you say hello world the cat"]


@pytest.fixture(scope="module")
def bundle():
    return build_tiny("nano", tokenizer="words", words=WORDS, seed=0)


def test_kv_cache_sampling_matches_a_full_recompute_loop(bundle):
    model = bundle.model.eval()
    ids, mask, _ = encode_prompts(bundle.tokenizer, PROMPTS, 32)
    sampling = SamplingConfig(max_new_tokens=6, temperature=0.8)
    cached = sample_responses(model, ids, mask, sampling, bundle.tokenizer.eos_token_id, torch.Generator().manual_seed(5))
    gen, seq, seq_mask, naive = torch.Generator().manual_seed(5), ids, mask, []
    with torch.no_grad():
        for _ in range(cached.shape[1]):  # no cache: the whole sequence again at every step
            logits = model(input_ids=seq, attention_mask=seq_mask, position_ids=positions_from_mask(seq_mask)).logits
            token = sample_tokens(logits[:, -1], 0.8, 0, 1.0, gen)
            naive.append(token)
            seq, seq_mask = torch.cat([seq, token[:, None]], 1), torch.cat([seq_mask, torch.ones_like(token[:, None])], 1)
    assert torch.equal(cached, torch.stack(naive, 1))


@pytest.mark.parametrize("switch", ["preallocated_kv_cache", "lm_head_last_only"])
def test_speed_up_switches_do_not_change_the_samples(bundle, switch):
    model = bundle.model.eval()
    ids, mask, _ = encode_prompts(bundle.tokenizer, PROMPTS, 32)
    sampling = SamplingConfig(max_new_tokens=6, temperature=0.8)
    runs = [sample_responses(model, ids, mask, sampling, bundle.tokenizer.eos_token_id,
                             torch.Generator().manual_seed(5), **{switch: on}) for on in (True, False)]
    assert torch.equal(runs[0], runs[1])


def test_lm_head_last_only_gives_the_same_response_logits(bundle):
    model = bundle.model.eval()
    ids, mask, _ = encode_prompts(bundle.tokenizer, PROMPTS, 32)
    full = torch.cat([ids, ids[:, :3]], 1), torch.cat([mask, torch.ones_like(mask[:, :3])], 1)
    with torch.no_grad():
        last_only = response_logits(model, *full, ids.shape[1], lm_head_last_only=True)
        every = response_logits(model, *full, ids.shape[1], lm_head_last_only=False)
    assert last_only.shape == every.shape == (len(PROMPTS), 3, model.config.vocab_size)
    torch.testing.assert_close(last_only, every)
