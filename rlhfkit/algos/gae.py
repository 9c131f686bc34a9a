"""Generalised Advantage Estimation over padded token sequences (RLHF_DETAILS item 18; arXiv 1506.02438)."""

import torch

from rlhfkit.algos._validation import as_bool_mask, check_ndim, check_same_shape, check_unit_interval


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns by GAE, one reversed pass over T (vectorised over B).

    RLHF_DETAILS item 18 (LHP ``compute_advantages``):
        delta_t = r_t + gamma * V_{t+1} - V_t        (V after the last real token = 0)
        A_t     = delta_t + gamma * lam * A_{t+1}
        R_t     = A_t + V_t
    Masked-out positions are terminal: a row may end early (EOS in the middle, item 21) and/or
    carry trailing padding; V and A at masked positions count as 0 for the step before them, and
    A, R are 0 there. Defaults in the recipe: gamma 1, lam 0.95 (items 14, 17).

    The outputs are regression/PG targets: computed on detached inputs, no gradient flows.

    Args:
        rewards: (B, T) per-token rewards (e.g. from ``shape_rewards``).
        values: (B, T) value predictions V_t from the rollout.
        mask: (B, T) bool or 0/1, 1 on real response tokens.
        gamma: discount in [0, 1].
        lam: GAE lambda in [0, 1].

    Returns:
        advantages (B, T), returns (B, T); both 0 at masked positions.
    """
    check_ndim("rewards", rewards, 2, "(B, T)")
    check_same_shape(rewards=rewards, values=values, mask=mask)
    check_unit_interval("gamma", gamma)
    check_unit_interval("lam", lam)
    m = as_bool_mask(mask)
    mf = m.to(values.dtype)  # (B, T)
    r = rewards.detach().to(values.dtype) * mf  # (B, T), 0 on masked
    v = values.detach() * mf  # (B, T), V = 0 where masked: terminal (item 18)
    n_steps = r.shape[1]
    next_value = torch.zeros_like(v[:, 0])  # (B,) V after the last token = 0 (item 18)
    next_adv = torch.zeros_like(v[:, 0])  # (B,)
    advantages = torch.zeros_like(v)  # (B, T)
    for t in reversed(range(n_steps)):  # loop over T only (small); B is vectorised
        delta = r[:, t] + gamma * next_value - v[:, t]  # (B,) item 18: delta_t = r_t + g*V_{t+1} - V_t
        adv = (delta + gamma * lam * next_adv) * mf[:, t]  # (B,) item 18: A_t = delta_t + g*l*A_{t+1}; 0 if masked
        advantages[:, t] = adv
        next_value = v[:, t]  # (B,) already 0 if t is masked -> terminal for t-1
        next_adv = adv  # (B,)
    returns = (advantages + v) * mf  # (B, T) item 18: returns = A + V
    return advantages, returns
