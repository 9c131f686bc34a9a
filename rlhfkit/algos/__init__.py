"""Pure-torch RLHF math (InstructGPT recipe): masked statistics, logprobs, KL, reward shaping,
GAE, PPO losses, KL controllers, critic-free advantages and reward-model ranking losses.

No framework imports (lightning, hydra, transformers, pluggy) anywhere in this package.
See docs/rlhf_details.md for the item numbers cited in the sources.
"""

from rlhfkit.algos.advantages import broadcast_sequence_advantage, group_normalized_advantages, rloo_advantages
from rlhfkit.algos.gae import gae
from rlhfkit.algos.kl import KL_ESTIMATORS, kl_penalty
from rlhfkit.algos.kl_controllers import AdaptiveKLController, FixedKLController, KLController
from rlhfkit.algos.logprobs import entropy_from_logits, logprobs_from_logits
from rlhfkit.algos.masked import explained_variance, masked_mean, masked_sum, masked_var, whiten
from rlhfkit.algos.ppo_loss import ppo_policy_loss, ppo_value_loss
from rlhfkit.algos.ranking import (
    best_of_k_loss,
    gain_and_bias,
    pair_mask,
    pairwise_margin,
    ranking_accuracy,
    ranking_loss,
    reward_bias,
)
from rlhfkit.algos.reward_shaping import EOS_PENALTY_MODES, apply_missing_eos_penalty, last_token_index, shape_rewards

__all__ = [
    "EOS_PENALTY_MODES",
    "KL_ESTIMATORS",
    "AdaptiveKLController",
    "FixedKLController",
    "KLController",
    "apply_missing_eos_penalty",
    "best_of_k_loss",
    "broadcast_sequence_advantage",
    "entropy_from_logits",
    "explained_variance",
    "gae",
    "gain_and_bias",
    "group_normalized_advantages",
    "kl_penalty",
    "last_token_index",
    "logprobs_from_logits",
    "masked_mean",
    "masked_sum",
    "masked_var",
    "pair_mask",
    "pairwise_margin",
    "ppo_policy_loss",
    "ppo_value_loss",
    "ranking_accuracy",
    "ranking_loss",
    "reward_bias",
    "rloo_advantages",
    "shape_rewards",
    "whiten",
]
