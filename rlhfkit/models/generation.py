"""Sampling from causal LMs: the one sampler that PPO's rollouts, the pipeline's rankings and the
evaluation all use (RLHF_DETAILS items 21, 22, 34, 35).

* :func:`sample_responses`: batched sampling with a KV cache from left-padded prompts;
* :func:`response_logits` / :func:`response_values`: one scoring pass over prompt + response;
* :func:`sample_completions`: ``n`` completions per prompt as text (evaluation, rankings), every
  model sampled the same way: temperature ``temperature`` (1.0 by default: the policy's own
  distribution, the one PPO optimises and the KL is measured on), no top-k/top-p, at most
  ``max_new_tokens`` tokens ending at the first EOS, from one seeded generator, so two runs of the
  same model give the same completions;
* :func:`greedy_samples`: ``generate``'s greedy decoding for the sample tables logged in training.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from rlhfkit.algos import logprobs_from_logits
from rlhfkit.algos.sampling import sample_tokens, truncate_at_eos
from rlhfkit.models.encoding import encode_prompts
from rlhfkit.models.fast_kernels import _preallocated_cache, gains_measured
from rlhfkit.models.scalar_head import positions_from_mask


@dataclass(frozen=True)
class SamplingConfig:
    """How responses are drawn (items 14, 22, 34).

    Args:
        max_new_tokens: R_max, the most tokens a response may have (EOS included).
        temperature: the logits are divided by it when sampling AND when scoring (item 22).
        top_k: 0 = off (item 34).
        top_p: 1.0 = off (item 34).
    """

    max_new_tokens: int
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0


def _cache_names(model: nn.Module) -> tuple[str, str]:
    """(forward kwarg, output key) of the KV cache: ``cache`` in transformers >= 5, else ``past_key_values``."""
    if "cache" in inspect.signature(model.forward).parameters:
        return "cache", "cache"
    return "past_key_values", "past_key_values"


@functools.lru_cache(maxsize=None)
def _takes_logits_to_keep(model_class: type) -> bool:
    """Whether the model's forward can compute the LM head on the last positions only (``logits_to_keep``)."""
    return "logits_to_keep" in inspect.signature(model_class.forward).parameters


def _keep_last(model: nn.Module, n: int, enabled: bool | None) -> dict:
    """Forward kwargs asking for the logits of the last ``n`` positions only, where the model supports it
    and the ``lm_head_last_only`` switch is on (None: :func:`rlhfkit.models.fast_kernels.gains_measured`):
    the LM head is not applied where no logit is used (same logits where it is)."""
    if enabled is None:
        enabled = gains_measured(model)
    return {"logits_to_keep": n} if enabled and _takes_logits_to_keep(type(model)) else {}


@torch.no_grad()
def sample_responses(
    policy: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    sampling: SamplingConfig,
    eos_id: int,
    generator: torch.Generator | None = None,
    preallocated_kv_cache: bool | None = None,
    lm_head_last_only: bool | None = None,
) -> torch.Tensor:
    """Autoregressive sampling with a KV cache from left-padded prompts (items 22, 34, 35).

    Args:
        policy: a causal LM (``transformers``), in eval mode.
        prompt_ids: (B, P) left-padded prompt tokens.
        prompt_mask: (B, P) 1 on real tokens.
        sampling: temperature / top_k / top_p / max_new_tokens.
        eos_id: stop once every row has produced this token.
        generator: the sampling random stream (per-rank seed, item 40).
        preallocated_kv_cache, lm_head_last_only: speed-up switches (:mod:`rlhfkit.models.fast_kernels`);
            None decides by the model (on for GPT-2-family fp32 models on the CPU).

    Returns:
        (B, R) raw sampled tokens, R <= max_new_tokens (shorter when all rows ended early);
        tokens after a row's EOS are whatever was sampled: see :func:`truncate_at_eos`.
    """
    if sampling.max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {sampling.max_new_tokens}")
    cache_kwarg, cache_key = _cache_names(policy)
    mask = prompt_mask.long()  # (B, P)
    if preallocated_kv_cache is None:
        preallocated_kv_cache = gains_measured(policy)
    cache = _preallocated_cache(prompt_ids.shape[1] + sampling.max_new_tokens) if preallocated_kv_cache else None
    out = policy(input_ids=prompt_ids, attention_mask=mask, position_ids=positions_from_mask(mask), use_cache=True,
                 **_keep_last(policy, 1, lm_head_last_only), **({cache_kwarg: cache} if cache is not None else {}))
    next_position = mask.sum(dim=1, keepdim=True)  # (B, 1) position id of the first new token (item 35)
    tokens, done = [], torch.zeros(prompt_ids.shape[0], dtype=torch.bool, device=prompt_ids.device)
    for step in range(sampling.max_new_tokens):
        token = sample_tokens(out.logits[:, -1], sampling.temperature, sampling.top_k, sampling.top_p, generator)  # (B,)
        tokens.append(token)
        done |= token == eos_id
        if step == sampling.max_new_tokens - 1 or bool(done.all()):
            break  # no forward pass for a token nothing will be sampled after
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # (B, P + t + 1)
        out = policy(input_ids=token[:, None], attention_mask=mask, position_ids=next_position,
                     use_cache=True, **{cache_kwarg: out[cache_key]})
        next_position = next_position + 1
    return torch.stack(tokens, dim=1)  # (B, R)


def response_logits(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, prompt_length: int,
                    lm_head_last_only: bool | None = None) -> torch.Tensor:
    """(B, P + R) -> (B, R, V): the logits that predict each response token (position ids from the mask, item 35).

    With ``lm_head_last_only`` (None: decided by the model), only the last R + 1 positions go through
    the LM head where the model allows it (the others' logits are never used)."""
    n_response = input_ids.shape[1] - prompt_length
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions_from_mask(attention_mask),
                   **_keep_last(model, n_response + 1, lm_head_last_only)).logits  # (B, P + R or R + 1, V)
    return logits[:, logits.shape[1] - n_response - 1:-1]  # (B, R, V): logits[:, t] predicts input_ids[:, P + t]


def response_values(value_model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, prompt_length: int) -> torch.Tensor:
    """(B, P + R) -> (B, R): V of the state before each response token (a ``ScalarHeadModel``)."""
    values = value_model(input_ids, attention_mask)  # (B, P + R), fp32 head (item 39)
    return values[:, prompt_length - 1:-1]  # (B, R)


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
