"""Sampling from causal LMs: the one sampler that PPO's rollouts, the pipeline's rankings and the
evaluation all use (RLHF_DETAILS items 21, 22, 34, 35).

* :func:`sample_responses`: batched sampling with a KV cache from left-padded prompts; the fast
  decoder here for every model whose forward takes explicit position ids and keeps an attention
  KV cache (:func:`sampler_support`: a capability check, a 1-token probe), transformers' ``generate``
  with the same sampling rules for any other (Mamba and other recurrent models);
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
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import LogitsProcessor

from rlhfkit.algos import logprobs_from_logits
from rlhfkit.algos.sampling import filter_logits, sample_tokens, truncate_at_eos
from rlhfkit.models.compile_scoring import uncompiled
from rlhfkit.models.encoding import encode_prompts
from rlhfkit.models.fast_kernels import _HFCache, _HFDynamicLayer, _preallocated_cache, gains_measured
from rlhfkit.models.lora import base_model_of
from rlhfkit.models.scalar_head import positions_from_mask

log = logging.getLogger(__name__)


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


@functools.lru_cache(maxsize=None)
def _forward_params(model_class: type) -> frozenset[str]:
    """The named parameters of a model class's ``forward``."""
    return frozenset(inspect.signature(model_class.forward).parameters)


def _cache_names(model: nn.Module) -> tuple[str, str]:
    """(forward kwarg, output key) of the KV cache: ``cache`` in transformers >= 5, else ``past_key_values``.
    A LoRA wrapper (or PPO's adapter-disabled reference) passes keywords through: its base model decides."""
    if "cache" in _forward_params(type(base_model_of(model))):
        return "cache", "cache"
    return "past_key_values", "past_key_values"


def _takes_logits_to_keep(model_class: type) -> bool:
    """Whether the model's forward can compute the LM head on the last positions only (``logits_to_keep``)."""
    return "logits_to_keep" in _forward_params(model_class)


def _keep_last(model: nn.Module, n: int, enabled: bool | None) -> dict:
    """Forward kwargs asking for the logits of the last ``n`` positions only, where the model supports it
    and the ``lm_head_last_only`` switch is on (None: :func:`rlhfkit.models.fast_kernels.gains_measured`):
    the LM head is not applied where no logit is used (same logits where it is)."""
    if enabled is None:
        enabled = gains_measured(model)
    plain = base_model_of(uncompiled(model))
    return {"logits_to_keep": n} if enabled and _takes_logits_to_keep(type(plain)) else {}


# --------------------------------------------------------------------------- which sampler a model gets


@dataclass(frozen=True)
class SamplerSupport:
    """What the fast decoder of :func:`sample_responses` can do with a model.

    ``fast``: the model runs with the decoder here (explicit position ids, an attention KV cache);
    otherwise it samples with transformers' ``generate``. ``preallocated``: the preallocated KV cache
    of :mod:`rlhfkit.models.fast_kernels` fits its cache (full-attention layers only). ``reason``:
    why not, in words (empty when both hold)."""

    fast: bool
    preallocated: bool
    reason: str = ""


_SUPPORT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> SamplerSupport, probed once
_SAMPLER_LOGGED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> the last sampler line logged


def _output_cache(out, cache_key: str):
    try:
        return out[cache_key]
    except (KeyError, TypeError):
        return getattr(out, cache_key, None)


def _probe_step(model: nn.Module, cache=None):
    """One 1-token forward with a KV cache (the decoder's own call); the cache it returns."""
    device = next(model.parameters()).device
    ids = torch.zeros(1, 1, dtype=torch.long, device=device)
    cache_kwarg, cache_key = _cache_names(model)
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), position_ids=torch.zeros_like(ids),
                use_cache=True, **({cache_kwarg: cache} if cache is not None else {}))
    return _output_cache(out, cache_key)


@torch.no_grad()
def _probe_support(model: nn.Module) -> SamplerSupport:
    inner = base_model_of(model)
    name = type(inner).__name__
    params = _forward_params(type(inner))
    if getattr(inner, "_is_stateful", False):
        return SamplerSupport(False, False, f"{name} is a recurrent (stateful) model: no attention KV cache")
    if not {"cache", "past_key_values"} & params:
        return SamplerSupport(False, False, f"{name}.forward takes no KV cache")
    if "position_ids" not in params:
        return SamplerSupport(False, False, f"{name}.forward takes no position_ids (left-padded prompts need them, "
                                            "item 35)")
    try:
        cache = _probe_step(model)
    except Exception as err:  # any failure of the decoder's own call: generate instead, never a crash
        return SamplerSupport(False, False, f"a 1-token step of {name} failed ({type(err).__name__}: {err})")
    if cache is None:
        return SamplerSupport(False, False, f"{name} returned no KV cache")
    if _HFCache is None or not isinstance(cache, _HFCache):  # a legacy (tuple) cache: the decoder handles it
        return SamplerSupport(True, False, f"{name}'s cache is a {type(cache).__name__}, not a layered Cache")
    kinds = sorted({type(layer).__name__ for layer in cache.layers})
    if not cache.layers or not all(isinstance(layer, _HFDynamicLayer) for layer in cache.layers):
        return SamplerSupport(False, False, f"{name}'s cache holds {', '.join(kinds) or 'no'} layers, not attention "
                                            "keys/values")
    if not all(type(layer) is _HFDynamicLayer for layer in cache.layers):
        return SamplerSupport(True, False, f"{name}'s cache has {', '.join(kinds)} layers (sliding windows)")
    try:
        cache = _probe_step(model, _preallocated_cache(2))
        ok = cache is not None and all(type(layer).__name__ == "_PreallocatedLayer" for layer in cache.layers)
    except Exception as err:
        return SamplerSupport(True, False, f"the preallocated cache failed on {name} ({type(err).__name__})")
    return SamplerSupport(True, ok, "" if ok else f"{name} did not use the preallocated cache")


def sampler_support(model: nn.Module) -> SamplerSupport:
    """Which sampler ``model`` gets (:class:`SamplerSupport`), decided once per model by what it can do:
    a recurrent model (``_is_stateful``), a forward without a KV cache or ``position_ids``, a cache of
    other than attention layers, or a failing 1-token step of the decoder's own call all mean
    ``generate``; the preallocated KV cache also needs plain full-attention cache layers."""
    try:
        return _SUPPORT[model]
    except (KeyError, TypeError):
        pass
    support = _probe_support(model)
    try:
        _SUPPORT[model] = support
    except TypeError:  # not weak-referenceable: probed again next time
        pass
    return support


def _log_sampler(model: nn.Module, line: str) -> None:
    """One log line per model saying which sampler runs (again only when that changes)."""
    try:
        if _SAMPLER_LOGGED.get(model) == line:
            return
        _SAMPLER_LOGGED[model] = line
    except TypeError:
        pass
    log.info("%s", line)


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
    return_logprobs: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Autoregressive sampling with a KV cache from left-padded prompts (items 22, 34, 35).

    The decoder here runs models that :func:`sampler_support` finds it supports; any other model
    samples with transformers' ``generate`` under the same rules (:func:`generate_responses`). One
    log line per model says which sampler runs.

    Args:
        policy: a causal LM (``transformers``, or a LoRA wrapper of one), in eval mode.
        prompt_ids: (B, P) left-padded prompt tokens.
        prompt_mask: (B, P) 1 on real tokens.
        sampling: temperature / top_k / top_p / max_new_tokens.
        eos_id: stop once every row has produced this token.
        generator: the sampling random stream (per-rank seed, item 40).
        preallocated_kv_cache, lm_head_last_only: speed-up switches (:mod:`rlhfkit.models.fast_kernels`);
            None decides by the model (on for GPT-2-family fp32 models on the CPU). A preallocated
            cache asked for a model whose cache it does not fit is replaced by the model's own.
        return_logprobs: also return the sampling logprobs.

    Returns:
        (B, R) raw sampled tokens, R <= max_new_tokens (shorter when all rows ended early);
        tokens after a row's EOS are whatever was sampled: see :func:`truncate_at_eos`. With
        ``return_logprobs``: also (B, R) log-probabilities of each sampled token under the
        distribution it was drawn from (softmax of the filtered logits / temperature).
    """
    if sampling.max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {sampling.max_new_tokens}")
    support = sampler_support(policy)
    name = type(base_model_of(policy)).__name__
    if not support.fast:
        _log_sampler(policy, f"sampler: transformers generate for {name} (the fast decoder does not apply: "
                             f"{support.reason})")
        tokens, logprobs = generate_responses(policy, prompt_ids, prompt_mask, sampling, eos_id, generator)
        return (tokens, logprobs) if return_logprobs else tokens
    if preallocated_kv_cache is None:
        preallocated_kv_cache = gains_measured(policy)
    note = ""
    if preallocated_kv_cache and not support.preallocated:
        preallocated_kv_cache, note = False, f"; preallocated KV cache off: {support.reason}"
    _log_sampler(policy, f"sampler: rlhfkit KV-cache decoder for {name} (preallocated KV cache "
                         f"{'on' if preallocated_kv_cache else 'off'}{note})")
    cache_kwarg, cache_key = _cache_names(policy)
    mask = prompt_mask.long()  # (B, P)
    cache = _preallocated_cache(prompt_ids.shape[1] + sampling.max_new_tokens) if preallocated_kv_cache else None
    out = policy(input_ids=prompt_ids, attention_mask=mask, position_ids=positions_from_mask(mask), use_cache=True,
                 **_keep_last(policy, 1, lm_head_last_only), **({cache_kwarg: cache} if cache is not None else {}))
    next_position = mask.sum(dim=1, keepdim=True)  # (B, 1) position id of the first new token (item 35)
    tokens, logprobs, done = [], [], torch.zeros(prompt_ids.shape[0], dtype=torch.bool, device=prompt_ids.device)
    for step in range(sampling.max_new_tokens):
        logits = out.logits[:, -1]  # (B, V)
        token = sample_tokens(logits, sampling.temperature, sampling.top_k, sampling.top_p, generator)  # (B,)
        tokens.append(token)
        if return_logprobs:
            logprobs.append(_token_logprobs(logits, token, sampling))
        done |= token == eos_id
        if step == sampling.max_new_tokens - 1 or bool(done.all()):
            break  # no forward pass for a token nothing will be sampled after
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # (B, P + t + 1)
        out = policy(input_ids=token[:, None], attention_mask=mask, position_ids=next_position,
                     use_cache=True, **{cache_kwarg: _output_cache(out, cache_key)})
        next_position = next_position + 1
    if return_logprobs:
        return torch.stack(tokens, dim=1), torch.stack(logprobs, dim=1)  # (B, R), (B, R)
    return torch.stack(tokens, dim=1)  # (B, R)


def _sampling_logits(logits: torch.Tensor, sampling: SamplingConfig) -> torch.Tensor:
    """(B, V) -> (B, V): the logits tokens are drawn from, as :func:`sample_tokens` draws them: fp32,
    divided by the temperature (item 22), top-k/top-p filtered (off by default, item 34)."""
    return filter_logits(logits.float() / sampling.temperature, sampling.top_k, sampling.top_p)


def _token_logprobs(logits: torch.Tensor, token: torch.Tensor, sampling: SamplingConfig) -> torch.Tensor:
    """(B, V), (B,) -> (B,) log-probability of ``token`` under the sampling distribution."""
    return torch.log_softmax(_sampling_logits(logits, sampling), dim=-1).gather(-1, token[:, None]).squeeze(-1)


class _RLHFSamplingProcessor(LogitsProcessor):
    """``generate``'s logits processor applying rlhfkit's sampling rules (:func:`_sampling_logits`),
    so both samplers draw from the same distribution; ``generate``'s own warpers are all off."""

    def __init__(self, sampling: SamplingConfig) -> None:
        self.sampling = sampling

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return _sampling_logits(scores, self.sampling)


@torch.no_grad()
def generate_responses(
    policy: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    sampling: SamplingConfig,
    eos_id: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sample_responses` by transformers' ``generate``: the same rules (temperature applied,
    top-k/top-p as configured: off during RL, item 34; no minimum length; stop at EOS) and the same
    outputs, (B, R) tokens and (B, R) sampling logprobs. The model's own ``generation_config``
    (a hub model's default top_p, repetition penalty ...) is set aside for the call, and the draw
    is seeded from ``generator`` (the per-rank stream, item 40) in a forked RNG."""
    from transformers import GenerationConfig, LogitsProcessorList

    inner = base_model_of(policy)
    device = prompt_ids.device
    pad_id = getattr(getattr(inner, "config", None), "pad_token_id", None)
    config = GenerationConfig(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=sampling.max_new_tokens,
                              eos_token_id=eos_id, pad_token_id=eos_id if pad_id is None else pad_id, use_cache=True,
                              return_dict_in_generate=True, output_scores=True)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)) if generator is not None \
        else int(torch.randint(0, 2**62, (1,)))
    saved = getattr(inner, "generation_config", None)
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    try:
        inner.generation_config = GenerationConfig()  # nothing of the model's own defaults leaks in
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            out = policy.generate(input_ids=prompt_ids, attention_mask=prompt_mask.long(), generation_config=config,
                                  logits_processor=LogitsProcessorList([_RLHFSamplingProcessor(sampling)]))
    finally:
        if saved is not None:
            inner.generation_config = saved
    tokens = out.sequences[:, prompt_ids.shape[1]:]  # (B, R)
    scores = torch.stack(list(out.scores), dim=1)[:, :tokens.shape[1]]  # (B, R, V) the processed logits
    logprobs = torch.log_softmax(scores.float(), dim=-1).gather(-1, tokens[..., None]).squeeze(-1)  # (B, R)
    return tokens, logprobs


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
                       max_prompt_length: int = 64, ref_model=None, with_logprobs: bool = False,
                       on_batch: Callable[[int], None] | None = None) -> Samples:
    """``n`` completions per prompt (see the module doc); logprobs on request (and under
    ``ref_model`` when given). ``on_batch(samples)`` is called after each sampled batch with its
    size (a progress report, :class:`rlhfkit.evaluate.progress.Progress`'s ``advance``)."""
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
        if on_batch is not None:
            on_batch(len(chunk))
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
