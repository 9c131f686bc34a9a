"""Greedy samples for the tables logged during training (not the RL sampler: see rlhfkit.rollout)."""

from __future__ import annotations

import torch

from rlhfkit.models.encoding import encode_prompts


@torch.no_grad()
def greedy_samples(model, tokenizer, prompts: list[str], max_new_tokens: int, max_prompt_length: int = 128) -> list[str]:
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids, mask, _ = encode_prompts(tokenizer, prompts, max_prompt_length)
    out = model.generate(
        input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens, do_sample=False,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    model.train(was_training)
    return tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
