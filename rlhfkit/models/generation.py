"""Completions of evaluation prompts, sampled the way PPO samples (RLHF_DETAILS items 22, 34, 35).

Every model is evaluated the same way: ``n`` samples per prompt at temperature ``temperature``
(1.0 by default: the policy's own distribution, the one PPO optimises and the KL is measured
on), no top-k/top-p, at most ``max_new_tokens`` tokens ending at the first EOS, from one seeded
generator, so two runs of the same model give the same completions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rlhfkit.algos import logprobs_from_logits
from rlhfkit.algos.sampling import truncate_at_eos
from rlhfkit.models.encoding import encode_prompts
from rlhfkit.rollout import SamplingConfig, response_logits, sample_responses


@dataclass
class Samples:
    """``completions[i]`` answers ``prompts[i]`` (prompts repeated ``n`` times in a row).

    ``logprob`` (N,): sum over response tokens (EOS included) of log pi(y_t) at the temperature;
    ``ref_logprob`` (N,) the same under the reference model (when one was given), so
    ``logprob - ref_logprob`` is a one-sample estimate of KL(pi || ref) per sequence.
    ``tokens``: prompt + response tokens processed (for the FLOPs count).
    """

    prompts: list[str]
    completions: list[str]
    logprob: torch.Tensor | None = None
    ref_logprob: torch.Tensor | None = None
    tokens: int = 0

    @property
    def kl(self) -> float:
        """Mean sequence KL(pi || ref) over the samples (needs both logprobs)."""
        if self.logprob is None or self.ref_logprob is None:
            raise ValueError("Samples.kl needs logprob and ref_logprob")
        return float((self.logprob - self.ref_logprob).mean())


def load_causal_lm(path: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path)
    return model.eval(), AutoTokenizer.from_pretrained(path)


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def sample_completions(model, tokenizer, prompts: Sequence[str], n: int = 1, temperature: float = 1.0,
                       max_new_tokens: int = 13, batch_size: int = 256, seed: int = 0,
                       max_prompt_length: int = 64, ref_model=None, with_logprobs: bool = False) -> Samples:
    """``n`` completions per prompt (see the module doc); logprobs on request (and under
    ``ref_model`` when given)."""
    model.eval()
    if ref_model is not None:
        ref_model.eval()
    sampling = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature)
    generator = torch.Generator().manual_seed(seed)
    flat = [p for p in prompts for _ in range(n)]
    completions: list[str] = []
    logprobs, ref_logprobs, tokens = [], [], 0
    for start in range(0, len(flat), batch_size):
        chunk = flat[start:start + batch_size]
        ids, mask, _ = encode_prompts(tokenizer, chunk, max_prompt_length)  # (b, P) left-padded, item 35
        raw = sample_responses(model, ids, mask, sampling, tokenizer.eos_token_id, generator)  # (b, R)
        resp, resp_mask, _ = truncate_at_eos(raw, tokenizer.eos_token_id, tokenizer.pad_token_id)  # item 21
        completions += tokenizer.batch_decode(resp.tolist(), skip_special_tokens=True)
        tokens += int(mask.sum() + resp_mask.sum())
        if with_logprobs or ref_model is not None:
            input_ids, attn = torch.cat([ids, resp], 1), torch.cat([mask, resp_mask], 1)  # (b, P + R)
            p = ids.shape[1]
            lp = logprobs_from_logits(response_logits(model, input_ids, attn, p), resp, temperature)  # (b, R)
            logprobs.append((lp * resp_mask).sum(1))
            if ref_model is not None:
                rlp = logprobs_from_logits(response_logits(ref_model, input_ids, attn, p), resp, temperature)
                ref_logprobs.append((rlp * resp_mask).sum(1))
    return Samples(flat, [c.strip() for c in completions],
                   torch.cat(logprobs) if logprobs else None,
                   torch.cat(ref_logprobs) if ref_logprobs else None, tokens)
