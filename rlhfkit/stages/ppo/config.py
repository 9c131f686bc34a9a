"""Every option of ``stage=ppo`` and ``stage=ppo_ptx`` (RLHF_DETAILS items 12-24, 34-40).

Sizes suit tiny CPU models; IG's and LHP's values are in the comments. The reward, the KL
controller (and its ``estimator``) and the advantage estimator are the ``reward/``, ``kl/`` and
``advantage/`` groups; the optimizer kind and its betas/eps come from ``optim/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


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
    onednn_linear: Any = "auto"    # fp32 CPU products on oneDNN (AVX-512) instead of MKL
    preallocated_kv_cache: Any = "auto"  # the sampler's KV cache written in place, not re-concatenated per token
    lm_head_last_only: Any = "auto"  # the LM head only on the positions whose logits are used (logits_to_keep)


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
    value_init: str = "auto"      # item 24: auto = from the RM when reward is a reward_model (IG, N+), else a head on a policy copy; reward | policy | <dir>
    shared_value_head: bool = False  # item 24: true = LHP's value head on the policy's own body (one optimizer)
    ptx_coef: float = 0.0         # IG eq. 2 gamma (item 12): 0 = PPO; stage=ppo_ptx sets IG's 27.8 (item 13)
    ptx_batch_size: int = 8       # pretraining texts per minibatch; IG used 8x the RL episodes (item 13)
    ptx_max_length: int = 128     # tokens per pretraining text
    grad_clip: Optional[float] = 1.0  # max gradient norm per optimizer (null = off); not from the papers
    lr: float = 3.0e-4            # the policy's peak LR; tiny-model value, LHP 1e-5 (item 17)
    value_lr: float = 3.0e-4      # the critic's peak LR; tiny-model value, IG 9e-6 (item 14)
    lr_scheduler: Optional[dict[str, Any]] = field(default_factory=ig_constant_with_warmup)  # stepped once per PPO iteration; `linear` is LHP's decay to 0 (item 17)
    sample_table_every: int = 10  # a table of (prompt, response, score, KL) every N iterations (0 = never)
    n_sample_rows: int = 4        # rows of that table
    checkpoint_every: int = 50    # full checkpoint (policy, value, optimizers, KL controller, RNG, data position) every N iterations (0 = never)
    fast_kernels: FastKernelsConfig = field(default_factory=FastKernelsConfig)
