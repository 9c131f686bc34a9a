"""PPO rollouts: batched sampling with a KV cache, one scoring pass per model, KL-shaped rewards.

What happens to a batch of prompts (RLHF_DETAILS items 15, 19, 21-23, 34, 35, 38):

1. Prompts are tokenized and LEFT-padded with a pad token distinct from EOS (item 35).
2. the sampler (:mod:`rlhfkit.models.samplers`; by default :func:`rlhfkit.models.generation.sample_responses`) draws up to ``max_new_tokens`` tokens from the policy with a KV cache,
   dividing the logits by the temperature and, by default, filtering nothing (top_k 0,
   top_p 1.0, no minimum length: item 34); position ids come from the attention mask (item 35).
3. Each response ends at its first EOS (item 21): the mask covers the tokens up to and
   including EOS; later tokens are padding.
4. ONE forward of the policy (old logprobs), the reference (frozen SFT) and the value model over
   prompt + response, position ids from the mask, logprobs at the same temperature (item 22).
   With ``old_logprobs="sampler"`` the policy's pass is skipped and the sampler's own logprobs
   are the old ones (as TRL's PPO takes them from ``generate``'s logits): one policy forward
   fewer per iteration, and the entropy is then the sampled estimate -log pi(y_t).
5. The responses are decoded (special tokens skipped) and scored by the reward function; a
   response that never produced EOS can be penalised (item 21). The reward model reads the
   truncated text; logprobs and values use the raw tokens (item 38).
6. :func:`add_advantages` shapes per-token rewards with the KL penalty (item 15), runs the
   advantage estimator and whitens the advantages over all ranks (item 19).

The models must share one tokenizer (item 38) and are put in eval mode: no dropout (item 23).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from rlhfkit.algos import apply_missing_eos_penalty, entropy_from_logits, logprobs_from_logits, shape_rewards
from rlhfkit.algos.global_stats import AllReduce, global_whiten
from rlhfkit.algos.sampling import truncate_at_eos
from rlhfkit.errors import ConfigError
from rlhfkit.models.encoding import encode_prompts
from rlhfkit.models.generation import SamplingConfig, response_logits, response_values
from rlhfkit.models.samplers import AutoSampler
from rlhfkit.rewards.base import check_scores
from rlhfkit.stages.ppo.config import old_logprobs_problem


@dataclass
class Rollout:
    """One batch of episodes. B = episodes on this rank, P = prompt width, R = response width.

    Tokens:
        prompt_ids (B, P) int64: left-padded prompts (pad != EOS, item 35).
        prompt_mask (B, P) int64: 1 on real prompt tokens.
        response_ids (B, R) int64: sampled tokens, ``pad`` after the first EOS (item 21).
        response_mask (B, R) int64: 1 on response tokens up to and including the first EOS.
        has_eos (B,) bool: the response produced an EOS within ``max_new_tokens``.
    Text:
        prompts, responses: B strings each; responses are decoded up to EOS, specials skipped.
    Model outputs at rollout time (no grad, fp32):
        logprobs (B, R): log pi_old(y_t | x, y_<t) at temperature T (item 22).
        ref_logprobs (B, R): the same under the frozen reference (SFT) policy.
        values (B, R) or None: V(x, y_<t), the critic's value of the state before token t;
            None for critic-free estimators.
        entropy (B, R): entropy of pi_old's next-token distribution at each response position
            (with old logprobs from the sampler: its one-sample estimate -logprobs).
    Scores:
        raw_scores (B,): the reward function's output.
        scores (B,): after the missing-EOS penalty (item 21); what the policy is trained on.
    Filled by :func:`add_advantages` (None before):
        rewards (B, R): -kl_coef * kl_t, + score at the last real token (item 15).
        sequence_kl (B,): sum_t kl_t over the response (the logged/controlled KL, item 15).
        advantages (B, R): from the advantage estimator, whitened over all ranks (item 19).
        returns (B, R) or None: value targets (GAE returns); None without a critic.
    All tensors are 0 (or pad) at masked response positions.
    """

    prompts: list[str]
    responses: list[str]
    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    has_eos: torch.Tensor
    logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor | None
    entropy: torch.Tensor
    raw_scores: torch.Tensor
    scores: torch.Tensor
    rewards: torch.Tensor | None = None
    sequence_kl: torch.Tensor | None = None
    advantages: torch.Tensor | None = None
    returns: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.response_ids.shape[0]

    @property
    def prompt_length(self) -> int:
        """P: the response starts at this index of :attr:`input_ids`."""
        return self.prompt_ids.shape[1]

    @property
    def input_ids(self) -> torch.Tensor:
        """(B, P + R) prompt and response."""
        return torch.cat([self.prompt_ids, self.response_ids], dim=1)

    @property
    def attention_mask(self) -> torch.Tensor:
        """(B, P + R) 1 on real prompt tokens and on response tokens up to EOS."""
        return torch.cat([self.prompt_mask, self.response_mask], dim=1)

    def select(self, index: torch.Tensor) -> Rollout:
        """The episodes at ``index`` ((b,) int64), every field sliced along B (a minibatch)."""
        rows = index.tolist()
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                out[f.name] = value[index.to(value.device)]
            elif isinstance(value, list):
                out[f.name] = [value[i] for i in rows]
            else:
                out[f.name] = value
        return Rollout(**out)


# --------------------------------------------------------------------------- phase timing


def timed_phase(timer, name: str) -> AbstractContextManager:
    """``timer.phase(name)`` (a context that times one phase, see benchmarks/ppo_step.py), or a no-op
    context when ``timer`` is None: the stage pays nothing when nobody measures it."""
    return nullcontext() if timer is None else timer.phase(name)


# --------------------------------------------------------------------------- the rollout


RewardFn = Callable[[list[str], list[str]], torch.Tensor]


def check_old_logprobs(old_logprobs: str, sampling: SamplingConfig) -> None:
    """The rule of ``stage.old_logprobs`` (:func:`rlhfkit.stages.ppo.config.old_logprobs_problem`) for
    callers of :func:`make_rollout` that build no :class:`PPOConfig`."""
    problem = old_logprobs_problem(old_logprobs, sampling.top_k, sampling.top_p)
    if problem:
        raise ConfigError(f"config key 'stage.old_logprobs': {problem}")


@torch.no_grad()
def check_sampled(out, prompt_ids: torch.Tensor, sampling: SamplingConfig, sampler) -> tuple[torch.Tensor, torch.Tensor]:
    """A sampler's ``(tokens (B, R), logprobs (B, R))`` checked against the contract (one line naming it)."""
    name = type(sampler).__name__
    if not (isinstance(out, tuple) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise TypeError(f"sampler {name}.sample must return (tokens, logprobs) tensors, got {type(out).__name__}")
    tokens, logprobs = out
    batch = prompt_ids.shape[0]
    if tokens.ndim != 2 or tokens.shape[0] != batch or not 1 <= tokens.shape[1] <= sampling.max_new_tokens:
        raise ValueError(f"sampler {name}.sample returned tokens of shape {tuple(tokens.shape)}; expected "
                         f"({batch}, R) with 1 <= R <= max_new_tokens={sampling.max_new_tokens}")
    if logprobs.shape != tokens.shape:
        raise ValueError(f"sampler {name}.sample returned logprobs of shape {tuple(logprobs.shape)} for tokens of "
                         f"shape {tuple(tokens.shape)}")
    if tokens.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"sampler {name}.sample returned tokens of dtype {tokens.dtype}; expected integer ids")
    return tokens.long(), logprobs


@torch.no_grad()  # a rollout is data: a graph here would keep every scoring pass's activations to the end of the iteration
def make_rollout(
    prompts: Sequence[str],
    policy: nn.Module,
    ref_policy: nn.Module,
    value_model: nn.Module | None,
    reward_fn: RewardFn,
    tokenizer,
    sampling: SamplingConfig,
    max_prompt_length: int,
    generator: torch.Generator | None = None,
    missing_eos_penalty: float | None = None,
    missing_eos_mode: str = "replace",
    timer=None,
    reward_name: str = "reward",
    lm_head_last_only: bool | None = None,
    preallocated_kv_cache: bool | None = None,
    sampler=None,
    scoring_policy: nn.Module | None = None,
    old_logprobs: str = "forward",
) -> Rollout:
    """Sample one response per prompt and score it (steps 1-5 of the module docstring).

    Args:
        prompts: B prompt strings (repeat a prompt G times in a row for group estimators).
        policy, ref_policy: causal LMs sharing ``tokenizer`` (item 38); the reference of a LoRA policy
            is the policy run with its adapter disabled (:class:`rlhfkit.models.lora.AdapterDisabledReference`).
            The policy samples with ``sampler`` (by default its fast decoder, or transformers'
            ``generate`` for a model it does not support).
        value_model: a ``ScalarHeadModel`` critic, or None (critic-free).
        reward_fn: ``(prompts, responses) -> (B,)`` scores; ``reward_name`` names it in errors
            (a non-finite score raises :class:`rlhfkit.errors.NonFiniteError`).
        tokenizer: pad token distinct from EOS (item 35).
        sampling: see :class:`SamplingConfig`.
        max_prompt_length: prompts are cut to their last ``max_prompt_length`` tokens.
        generator: sampling random stream.
        missing_eos_penalty: None = no penalty; else applied with ``missing_eos_mode`` (item 21).
        missing_eos_mode: "replace" (LHP: score := penalty) or "subtract" (TRL: score -= penalty).
        timer: optional phase timer (``generate``, ``policy_forward``, ``ref_forward``,
            ``value_forward``, ``reward``); None costs nothing.
        lm_head_last_only, preallocated_kv_cache: speed-up switches of the sampler and the scoring
            passes (:mod:`rlhfkit.models.fast_kernels`); None decides by the policy.
        sampler: the generation backend (:mod:`rlhfkit.models.samplers`, the ``generation`` group);
            None = ``auto``. Its output is checked against the contract.
        scoring_policy: the policy's forward for its scoring pass (the same module under a
            ``torch.compile`` wrapper: :mod:`rlhfkit.models.compile_scoring`); None = ``policy``.
        old_logprobs: "forward" (the policy's scoring pass, item 22) or "sampler" (the sampler's logprobs,
            no policy pass; needs unfiltered sampling, top_k 0 and top_p 1, item 34).

    Returns:
        A :class:`Rollout` without advantages (see :func:`add_advantages`).
    """
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise ValueError("the tokenizer needs a pad token distinct from EOS (RLHF_DETAILS item 35)")
    check_old_logprobs(old_logprobs, sampling)
    models = [m for m in (policy, ref_policy, value_model) if m is not None]
    for m in models:
        m.eval()  # item 23: no dropout in any model during RL
    device = next(policy.parameters()).device
    prompts = list(prompts)
    prompt_ids, prompt_mask, _ = encode_prompts(tokenizer, prompts, max_prompt_length)  # (B, P) left-padded
    prompt_ids, prompt_mask = prompt_ids.to(device), prompt_mask.to(device)
    with timed_phase(timer, "generate"):
        sampler = sampler if sampler is not None else AutoSampler()
        raw, sampled_logprobs = check_sampled(sampler.sample(policy, prompt_ids, prompt_mask, sampling, tokenizer.eos_token_id,
                                              generator, preallocated_kv_cache=preallocated_kv_cache,
                                              lm_head_last_only=lm_head_last_only),
                               prompt_ids, sampling, sampler)  # (B, R), (B, R)
        response_ids, response_mask, has_eos = truncate_at_eos(raw, tokenizer.eos_token_id, tokenizer.pad_token_id)  # item 21

    input_ids = torch.cat([prompt_ids, response_ids], dim=1)  # (B, P + R)
    attention_mask = torch.cat([prompt_mask, response_mask], dim=1)  # (B, P + R)
    p = prompt_ids.shape[1]
    if old_logprobs == "sampler":
        # (B, R) at temperature T (the sampler's contract); what a sampler returns after EOS never counts (item 21)
        logprobs = sampled_logprobs.to(device=device, dtype=torch.float32).masked_fill(response_mask == 0, 0.0)
        entropy = -logprobs  # (B, R): E_y[-log pi(y)] = H, one sample per position
    else:
        with timed_phase(timer, "policy_forward"):
            logits = response_logits(scoring_policy if scoring_policy is not None else policy, input_ids,
                                     attention_mask, p, lm_head_last_only)  # (B, R, V)
            logprobs = logprobs_from_logits(logits, response_ids, sampling.temperature)  # (B, R) item 22
            entropy = entropy_from_logits(logits, sampling.temperature)  # (B, R)
            del logits
    with timed_phase(timer, "ref_forward"):
        ref_logits = response_logits(ref_policy, input_ids, attention_mask, p, lm_head_last_only)  # (B, R, V)
        ref_logprobs = logprobs_from_logits(ref_logits, response_ids, sampling.temperature)  # (B, R) item 22
        del ref_logits
    with timed_phase(timer, "value_forward"):
        values = response_values(value_model, input_ids, attention_mask, p) if value_model is not None else None

    with timed_phase(timer, "reward"):
        responses = tokenizer.batch_decode(response_ids.cpu().tolist(), skip_special_tokens=True)  # EOS and pads dropped
        raw_scores = check_scores(reward_fn(prompts, responses), len(prompts), reward_name).to(device)  # (B,)
        scores = raw_scores
        if missing_eos_penalty is not None:
            scores = apply_missing_eos_penalty(raw_scores, has_eos, float(missing_eos_penalty), missing_eos_mode)  # item 21
    mf = response_mask.to(logprobs.dtype)
    return Rollout(
        prompts=prompts, responses=responses, prompt_ids=prompt_ids, prompt_mask=prompt_mask,
        response_ids=response_ids, response_mask=response_mask, has_eos=has_eos,
        logprobs=logprobs * mf, ref_logprobs=ref_logprobs * mf,
        values=values * mf if values is not None else None, entropy=entropy * mf,
        raw_scores=raw_scores, scores=scores,
    )


@torch.no_grad()
def add_advantages(
    rollout: Rollout,
    kl_coef: float,
    advantage_fn: Callable,
    kl_estimator: str = "k1",
    whiten_rewards: bool = False,
    whiten_advantages: bool = True,
    all_reduce: AllReduce | None = None,
) -> Rollout:
    """KL-shaped rewards (item 15), advantages from the estimator plugin, whitening (item 19).

    Args:
        rollout: from :func:`make_rollout`.
        kl_coef: beta, the KL controller's current value (item 15).
        advantage_fn: ``(rewards, values | None, mask, scores) -> (advantages, returns | None)``.
        kl_estimator: "k1" (item 15), "k2", "k3" or "abs".
        whiten_rewards: scale the shaped rewards to variance 1, mean kept (items 17, 19).
        whiten_advantages: advantages to mean 0, variance 1 (item 19).
        all_reduce: sums a tensor over ranks, so whitening uses the global batch; None = one process.

    Returns:
        The same rollout with ``rewards``, ``sequence_kl``, ``advantages``, ``returns`` set.
    """
    mask = rollout.response_mask
    rewards, sequence_kl = shape_rewards(rollout.scores, rollout.logprobs, rollout.ref_logprobs, mask,
                                         kl_coef, kl_estimator)  # (B, R), (B,) item 15
    if whiten_rewards:
        rewards = global_whiten(rewards, mask, shift_mean=False, all_reduce=all_reduce)  # items 17, 19: scale only
    advantages, returns = advantage_fn(rewards, rollout.values, mask, rollout.scores)  # (B, R), (B, R) | None
    if whiten_advantages:
        advantages = global_whiten(advantages, mask, shift_mean=True, all_reduce=all_reduce)  # item 19
    return dataclasses.replace(rollout, rewards=rewards, sequence_kl=sequence_kl, advantages=advantages, returns=returns)
