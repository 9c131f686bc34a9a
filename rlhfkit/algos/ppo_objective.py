"""The loss one PPO / PPO-ptx minibatch minimises (RLHF_DETAILS items 12, 13, 20)."""

import torch


def ppo_total_loss(
    policy_loss: torch.Tensor,
    value_loss: torch.Tensor | None = None,
    vf_coef: float = 0.1,
    ptx_loss: torch.Tensor | None = None,
    ptx_coef: float = 0.0,
) -> torch.Tensor:
    """``pg + vf_coef * vf + ptx_coef * ptx``.

    Item 20: total = pg + vf_coef * vf (LHP vf_coef 0.1, item 17). Item 12 (IG eq. 2): PPO-ptx adds
    gamma * E_pretrain[log pi(x)] to the maximised objective, i.e. ``ptx_coef`` times the
    pretraining next-token NLL to this minimised loss (IG gamma 27.8, item 13). Both gradients
    come from the same minibatch's backward, so they are accumulated per minibatch (item 13).

    Args:
        policy_loss: () clipped surrogate loss (``ppo_policy_loss``).
        value_loss: () clipped value loss (``ppo_value_loss``), or None without a critic.
        vf_coef: weight of the value loss.
        ptx_loss: () mean NLL of a pretraining minibatch (``masked_lm_loss``), or None.
        ptx_coef: gamma >= 0; 0 is plain PPO.

    Returns:
        0-dim tensor.
    """
    if ptx_coef < 0:
        raise ValueError(f"ptx_coef must be >= 0, got {ptx_coef}")
    total = policy_loss
    if value_loss is not None:
        total = total + vf_coef * value_loss  # item 20
    if ptx_loss is not None and ptx_coef > 0:
        total = total + ptx_coef * ptx_loss  # items 12, 13: + gamma * pretraining NLL
    return total
