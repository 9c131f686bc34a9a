"""Switch off the stage's speed-ups one by one (``--ablate``), to measure each one's before/after.

    sampler         the sampler as it was before issue 6 (commit 60f2960): the default growing KV cache
                    (a concatenation per token and layer), a forward pass after the last token, the
                    LM head on every prompt position of the prefill
    kv_cache        only the growing cache (transformers' DynamicCache instead of the preallocated one)
    logits_to_keep  the LM head on every position of every scoring pass (policy, reference, PPO epochs)
    gelu            GPT-2's NewGELUActivation (8 elementwise ops) instead of the fused GELU
    onednn          PyTorch's default fp32 GEMM (MKL) instead of oneDNN
    all             all of the above: the stage's code as it was before issue 6

Only the benchmark process is patched; nothing here changes rlhfkit.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

NAMES = ("sampler", "kv_cache", "logits_to_keep", "gelu", "onednn")


@torch.no_grad()
def sample_responses_before(policy: nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, sampling,
                            eos_id: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """rlhfkit.rollout.sample_responses as of commit 60f2960 (verbatim apart from this docstring)."""
    from rlhfkit.algos.sampling import sample_tokens
    from rlhfkit.models.scalar_head import positions_from_mask
    from rlhfkit.rollout import _cache_names

    if sampling.max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {sampling.max_new_tokens}")
    cache_kwarg, cache_key = _cache_names(policy)
    mask = prompt_mask.long()  # (B, P)
    out = policy(input_ids=prompt_ids, attention_mask=mask, position_ids=positions_from_mask(mask), use_cache=True)
    next_position = mask.sum(dim=1, keepdim=True)  # (B, 1) position id of the first new token (item 35)
    tokens, done = [], torch.zeros(prompt_ids.shape[0], dtype=torch.bool, device=prompt_ids.device)
    for _ in range(sampling.max_new_tokens):
        token = sample_tokens(out.logits[:, -1], sampling.temperature, sampling.top_k, sampling.top_p, generator)  # (B,)
        tokens.append(token)
        done |= token == eos_id
        if bool(done.all()):
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # (B, P + t + 1)
        out = policy(input_ids=token[:, None], attention_mask=mask, position_ids=next_position,
                     use_cache=True, **{cache_kwarg: out[cache_key]})
        next_position = next_position + 1
    return torch.stack(tokens, dim=1)  # (B, R)


def apply(names: list[str]) -> list[str]:
    """Patch the named speed-ups out of this process; returns the names applied."""
    import rlhfkit.rollout as rollout
    import rlhfkit.stages.ppo as ppo

    names = list(NAMES) if "all" in names else list(names)
    unknown = set(names) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown ablation(s) {sorted(unknown)}; known: {', '.join(NAMES)}, all")
    if "sampler" in names:
        rollout.sample_responses = sample_responses_before
    if "kv_cache" in names:
        rollout._preallocated_cache = lambda capacity: None
    if "logits_to_keep" in names:
        rollout._keep_last = lambda model, n: {}
    if "gelu" in names or "onednn" in names:
        ppo.use_fast_kernels = functools.partial(rollout.use_fast_kernels, gelu="gelu" not in names,
                                                 onednn="onednn" not in names)
    return names
