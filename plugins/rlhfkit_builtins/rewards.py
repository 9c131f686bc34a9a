"""Built-in reward functions: rules, a weighted sum of rewards, and a trained reward model."""

from rlhfkit import hookimpl
from rlhfkit.rewards import KeywordReward, LengthReward, WeightedSumReward


def _reward_model(**options):
    from rlhfkit.rewards.reward_model import RewardModelFn

    return RewardModelFn(**options)


@hookimpl
def rlhfkit_reward_functions():
    return {
        "keyword": KeywordReward,
        "length": LengthReward,
        "weighted_sum": WeightedSumReward,
        "reward_model": _reward_model,
    }
