"""Every option of ``stage=ppo`` and ``stage=ppo_ptx`` (RLHF_DETAILS items 12-24, 34-40).

Sizes suit tiny CPU models; IG's and LHP's values are in the comments. The reward, the KL
controller (and its ``estimator``) and the advantage estimator are the ``reward/``, ``kl/`` and
``advantage/`` groups; the optimizer kind and its betas/eps come from ``optim/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional

from rlhfkit.errors import ConfigError
from rlhfkit.stages.option_rules import (COUNT, LEARNING_RATE, NONNEGATIVE_COUNT, Rule, above, at_least, between,
                                          one_of, optional)

SWITCH = Rule("auto, true or false", lambda v: v == "auto" or isinstance(v, bool))
VALUE_INIT = Rule("auto, reward, policy, or the directory of a saved reward/value model",
                  lambda v: v in ("auto", "reward", "policy") or Path(str(v)).expanduser().is_dir())


def ig_constant_with_warmup() -> dict[str, Any]:
    """IG's PPO schedule: constant LR after 10 warm-up iterations (item 14)."""
    return {"name": "constant", "warmup_steps": 10}


@dataclass(frozen=True)
class FastKernelsConfig:
    """Speed-ups that compute the same function (benchmarks/README.md measures each with ``--ablate``).

    ``auto`` turns a switch on where the benchmark measured a gain (GPT-2-family models, fp32, on
    the CPU) and off elsewhere (other architectures, GPUs); ``true``/``false`` force it. The
    start-up log names the switches applied.
    """

    fused_gelu: Any = "auto"       # GPT-2's 8-op tanh GELU as one sigmoid-form kernel
    onednn_linear: Any = "auto"    # fp32 CPU products on oneDNN (AVX-512) instead of MKL; auto: AMD CPUs only
    preallocated_kv_cache: Any = "auto"  # the sampler's KV cache written in place, not re-concatenated per token
    lm_head_last_only: Any = "auto"  # the LM head only on the positions whose logits are used (logits_to_keep)
    torch_compile: Any = "auto"    # inductor for the scoring passes and PPO epochs; auto: off (no gain measured on the CPU)

    RULES: ClassVar = {name: SWITCH for name in ("fused_gelu", "onednn_linear", "preallocated_kv_cache",
                                                 "lm_head_last_only", "torch_compile")}


OLD_LOGPROBS = ("forward", "sampler")  # stage.old_logprobs


@dataclass(frozen=True)
class PPOConfig:
    name: str = "ppo"
    total_steps: int = 100        # PPO iterations (one rollout + ppo_epochs of updates each); IG: 256k episodes / 512 = 500 (item 14)
    rollout_batch_size: int = 16  # prompts per rank per iteration (x group_size samples for rloo/grpo); IG 512 (item 14)
    minibatch_size: int = 8       # episodes per optimizer step; IG 64 (item 14); >= 8 for whitening statistics (item 19)
    ppo_epochs: int = 4           # LHP noptepochs 4 (item 17); IG 1 (item 14)
    clip_range: float = 0.2       # policy ratio clip (items 14, 17, 20)
    value_clip_range: float = 0.2  # LHP cliprange_value (item 17)
    vf_coef: float = 0.1          # item 17 (LHP)
    temperature: float = 1.0      # IG (item 14); applied when sampling AND when recomputing logprobs (item 22)
    top_k: int = 0                # no filtering during RL, or the KL goes negative (item 34)
    top_p: float = 1.0            # item 34
    max_new_tokens: int = 24      # response tokens, EOS included (item 21: truncated at the first EOS)
    max_prompt_length: int = 64   # prompts keep their last this many tokens (left-padded, item 35)
    missing_eos_penalty: Optional[float] = None  # item 21: null = off; LHP replaced the score of an unfinished response by -1
    missing_eos_mode: str = "replace"  # item 21: replace (LHP: score := penalty) | subtract (TRL: score -= penalty)
    whiten_rewards: bool = False  # items 17, 19: scale-only reward whitening (LHP on; IG does not say; N+ off)
    whiten_advantages: bool = True  # item 19: mean 0, variance 1 over the global batch (all ranks)
    value_init: str = "auto"      # item 24: auto = from the RM when reward is a reward_model sharing the policy's tokenizer (IG, N+), else a head on a policy copy; reward | policy | <dir>
    shared_value_head: bool = False  # item 24: true = LHP's value head on the policy's own body (one optimizer)
    optimizer_mode: str = "auto"  # policy + separate critic: two = an optimizer each; one = one optimizer, a parameter group each (own LR, schedule and clipping: the same update); auto = one under DeepSpeed (it allows one optimizer), else two
    value_lora: bool = True       # with model.lora.r > 0: the critic is a LoRA adapter (model.lora's options) on its body (the RM's or a policy copy's) and a fully trained head; false = the critic trains in full
    ptx_coef: float = 0.0         # IG eq. 2 gamma (item 12): 0 = PPO; stage=ppo_ptx sets IG's 27.8 (item 13)
    ptx_batch_size: int = 8       # pretraining texts per minibatch; IG used 8x the RL episodes (item 13)
    ptx_max_length: int = 128     # tokens per pretraining text
    grad_clip: Optional[float] = 1.0  # max gradient norm per optimizer (null = off); not from the papers
    lr: float = 3.0e-4            # the policy's peak LR; tiny-model value, LHP 1e-5 (item 17)
    value_lr: float = 3.0e-4      # the critic's peak LR; tiny-model value, IG 9e-6 (item 14)
    lr_scheduler: Optional[dict[str, Any]] = field(default_factory=ig_constant_with_warmup)  # stepped once per PPO iteration; `linear` is LHP's decay to 0 (item 17)
    sample_table_every: int = 10  # a table of (prompt, response, score, KL) every N iterations (0 = never)
    n_sample_rows: int = 4        # rows of that table
    checkpoint_every: int = 50    # a kept checkpoint iterNNNNNN.ckpt (policy, value, optimizers, KL controller, RNG, data position) every N iterations (0 = never)
    last_checkpoint_every: int = 5  # checkpoints/last.ckpt (the resume point, overwritten) every N iterations and at the end (0 = never)
    old_logprobs: str = "forward"  # pi_old's logprobs: forward = the policy's scoring pass (item 22); sampler = the sampler's own (TRL's choice: one policy forward fewer per iteration; needs top_k 0, top_p 1)
    fast_kernels: FastKernelsConfig = field(default_factory=FastKernelsConfig)

    RULES: ClassVar = {
        "total_steps": COUNT, "rollout_batch_size": COUNT, "minibatch_size": COUNT, "ppo_epochs": COUNT,
        "clip_range": above(0), "value_clip_range": above(0), "vf_coef": at_least(0), "temperature": above(0),
        "top_k": at_least(0), "top_p": between(0, 1, low_open=True), "max_new_tokens": COUNT,
        "max_prompt_length": COUNT, "missing_eos_penalty": optional(Rule("a finite number", math.isfinite)),
        "missing_eos_mode": one_of("replace", "subtract"), "value_init": VALUE_INIT, "ptx_coef": at_least(0),
        "ptx_batch_size": COUNT, "ptx_max_length": at_least(2), "grad_clip": optional(above(0)),
        "lr": LEARNING_RATE, "value_lr": LEARNING_RATE, "sample_table_every": NONNEGATIVE_COUNT,
        "n_sample_rows": NONNEGATIVE_COUNT, "checkpoint_every": NONNEGATIVE_COUNT,
        "last_checkpoint_every": NONNEGATIVE_COUNT, "optimizer_mode": one_of("auto", "two", "one"),
        "old_logprobs": one_of(*OLD_LOGPROBS),
    }

    def cross_checks(self):
        problem = old_logprobs_problem(self.old_logprobs, self.top_k, self.top_p)
        if problem:
            yield "old_logprobs", problem



def old_logprobs_problem(old_logprobs: str, top_k: int, top_p: float) -> str | None:
    """Why ``stage.old_logprobs`` cannot be used with this sampling, or None: an unknown source, or
    "sampler" with top-k/top-p filtering, whose logprobs are of the truncated distribution, not of
    pi_old (items 22, 34)."""
    if old_logprobs not in OLD_LOGPROBS:
        return f"{old_logprobs!r} is not accepted; accepted: {', '.join(OLD_LOGPROBS)}"
    if old_logprobs == "sampler" and (top_k or top_p < 1.0):
        return (f"'sampler' needs unfiltered sampling (stage.top_k 0 and stage.top_p 1.0, item 34), got top_k "
                f"{top_k}, top_p {top_p}: a filtered sampler's logprobs are not the policy's; use old_logprobs=forward")
    return None


def check_minibatch(config: PPOConfig, group_size: int) -> None:
    """Minibatches tile each rank's episodes (rollout_batch_size prompts x group_size samples)."""
    episodes = config.rollout_batch_size * group_size
    if episodes % config.minibatch_size:
        raise ConfigError(f"config key 'stage.minibatch_size': {config.minibatch_size} must divide the episodes per "
                          f"rank and iteration (rollout_batch_size * group_size = {episodes})")
