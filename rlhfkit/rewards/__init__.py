"""Reward functions: ``RewardFn(prompts, completions) -> Tensor (B,)``."""

from rlhfkit.rewards.base import RewardFn
from rlhfkit.rewards.rules import KeywordReward, LengthReward
from rlhfkit.rewards.weighted_sum import WeightedSumReward

__all__ = ["KeywordReward", "LengthReward", "RewardFn", "WeightedSumReward"]
