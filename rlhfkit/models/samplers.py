"""The rollout's generation backend: the ``sampler`` plugin kind (``generation`` config group).

Contract (:func:`rlhfkit.plugins.hookspecs.rlhfkit_samplers`): a sampler has

* ``sample(policy, prompt_ids (B, P), prompt_mask (B, P), sampling, eos_id, generator, **hints)
  -> (tokens (B, R), logprobs (B, R))``: left-padded prompts in (item 35), the raw sampled tokens
  out (PPO truncates them at the first EOS, item 21) with each token's log-probability under the
  distribution it was drawn from (temperature and filtering as ``sampling`` says, items 22, 34);
  ``generator`` is the rank's random stream (item 40); ``hints`` are speed switches a sampler may
  ignore (``preallocated_kv_cache``, ``lm_head_last_only``). With ``stage.old_logprobs=sampler``
  PPO takes these as pi_old's logprobs: a backend of other numerics (a bf16 engine) moves the first
  PPO ratio away from 1;
* ``update_weights(policy)``: called after every PPO iteration's updates with the policy whose
  weights changed; a backend that keeps its own copy (a vLLM engine on a GPU) loads them here.
  The built-ins sample from the live policy and have nothing to do.

Built-ins: ``auto`` (rlhfkit's KV-cache decoder where it applies, transformers' ``generate``
elsewhere; one log line says which), ``hf_generate`` (always ``generate``), ``rlhfkit`` (the
decoder, refused for a model it does not support).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rlhfkit.errors import ConfigError
from rlhfkit.models.generation import SamplingConfig, generate_responses, sample_responses, sampler_support


class AutoSampler:
    """The fast decoder where :func:`sampler_support` says it applies, ``generate`` elsewhere."""

    def sample(self, policy: nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, sampling: SamplingConfig,
               eos_id: int, generator: torch.Generator | None = None, preallocated_kv_cache: bool | None = None,
               lm_head_last_only: bool | None = None, **hints: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return sample_responses(policy, prompt_ids, prompt_mask, sampling, eos_id, generator, preallocated_kv_cache,
                                lm_head_last_only, return_logprobs=True)

    def update_weights(self, policy: nn.Module) -> None:
        """Nothing: the decoder samples from the live policy."""


class GenerateSampler(AutoSampler):
    """transformers' ``generate`` for every model, under rlhfkit's sampling rules."""

    def sample(self, policy, prompt_ids, prompt_mask, sampling, eos_id, generator=None, **hints):
        return generate_responses(policy, prompt_ids, prompt_mask, sampling, eos_id, generator)


class DecoderSampler(AutoSampler):
    """rlhfkit's KV-cache decoder only: a model it does not support is refused, naming why."""

    def sample(self, policy, prompt_ids, prompt_mask, sampling, eos_id, generator=None, **hints):
        support = sampler_support(policy)
        if not support.fast:
            raise ConfigError(f"config key 'generation.name': the rlhfkit decoder does not support "
                              f"{type(policy).__name__} ({support.reason}); use generation=auto or hf_generate")
        return super().sample(policy, prompt_ids, prompt_mask, sampling, eos_id, generator, **hints)


SAMPLERS = {"auto": AutoSampler, "hf_generate": GenerateSampler, "rlhfkit": DecoderSampler}
