"""PPO clipped policy loss and clipped value loss over real tokens (RLHF_DETAILS item 20).

Policy: arXiv 1707.06347 eq. 7 (as a loss to minimise); value clipping as in LHP / N (item 17:
cliprange_value 0.2). The total loss is ``pg + vf_coef * vf`` (item 20), left to the caller.
Stats are detached 0-dim tensors (no host sync here; call ``.item()`` when logging).
"""

import torch

from rlhfkit.algos._validation import as_bool_mask, check_ndim, check_positive, check_same_shape
from rlhfkit.algos.masked import masked_mean


def ppo_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate policy loss.

    loss = masked_mean(max(-A * rho, -A * clip(rho, 1 - eps, 1 + eps))), rho = exp(logp - logp_old)
    (RLHF_DETAILS item 20; arXiv 1707.06347 eq. 7, negated).

    Args:
        logprobs: (B, T) current policy logprobs (with grad).
        old_logprobs: (B, T) rollout-time logprobs (treated as constants).
        advantages: (B, T) advantages (usually whitened, item 19; treated as constants).
        mask: (B, T) 1 on real response tokens.
        clip_range: eps > 0 (IG / LHP: 0.2, items 14, 17).

    Returns:
        loss: 0-dim tensor.
        stats: dict of detached 0-dim tensors:
            clip_fraction: share of real tokens where the clipped term is the larger one (LHP pg_clipfrac);
            approx_kl: k3 estimate of KL(pi_old || pi) = mean((rho - 1) - log rho) over real tokens
                (joschu.net/blog/kl-approx.html; samples come from pi_old);
            ratio_mean: mean rho over real tokens.
    """
    check_ndim("logprobs", logprobs, 2, "(B, T)")
    check_same_shape(logprobs=logprobs, old_logprobs=old_logprobs, advantages=advantages, mask=mask)
    check_positive("clip_range", clip_range)
    m = as_bool_mask(mask)
    adv = advantages.detach()  # (B, T)
    zero = torch.zeros((), dtype=logprobs.dtype, device=logprobs.device)
    # (B, T) log rho; 0 on pads, so garbage there can't overflow exp() into NaN gradients
    log_ratio = torch.where(m, logprobs - old_logprobs.detach(), zero)
    ratio = torch.exp(log_ratio)  # (B, T) rho = exp(logp - logp_old), item 20
    pg_losses = -adv * ratio  # (B, T) -A * rho
    pg_losses_clipped = -adv * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)  # (B, T) -A * clip(rho)
    loss = masked_mean(torch.maximum(pg_losses, pg_losses_clipped), m)  # () item 20; arXiv 1707.06347 eq. 7
    with torch.no_grad():
        clip_fraction = masked_mean((pg_losses_clipped > pg_losses).to(ratio.dtype), m)  # () LHP pg_clipfrac
        approx_kl = masked_mean(torch.expm1(log_ratio) - log_ratio, m)  # () k3: (rho - 1) - log rho
        ratio_mean = masked_mean(ratio, m)  # ()
    stats = {"clip_fraction": clip_fraction, "approx_kl": approx_kl, "ratio_mean": ratio_mean}
    return loss, stats


def ppo_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped value loss.

    loss = 0.5 * masked_mean(max((V - R)^2, (clip(V, V_old - c, V_old + c) - R)^2))  (RLHF_DETAILS item 20).

    Args:
        values: (B, T) current value predictions (with grad).
        old_values: (B, T) rollout-time values (constants).
        returns: (B, T) GAE returns (constants; ``gae``).
        mask: (B, T) 1 on real response tokens.
        clip_range: c > 0 (LHP cliprange_value 0.2, item 17).

    Returns:
        loss: 0-dim tensor.
        stats: {"clip_fraction": share of real tokens where the clipped error is the larger one
            (LHP vf_clipfrac)}, detached 0-dim.
    """
    check_ndim("values", values, 2, "(B, T)")
    check_same_shape(values=values, old_values=old_values, returns=returns, mask=mask)
    check_positive("clip_range", clip_range)
    m = as_bool_mask(mask)
    zero = torch.zeros((), dtype=values.dtype, device=values.device)
    v_old = torch.where(m, old_values.detach(), zero)  # (B, T); garbage on pads can't reach the grads
    ret = torch.where(m, returns.detach(), zero)  # (B, T)
    v_clipped = v_old + torch.clamp(values - v_old, -clip_range, clip_range)  # (B, T) clip(V, V_old-c, V_old+c)
    vf_losses = (values - ret) ** 2  # (B, T)
    vf_losses_clipped = (v_clipped - ret) ** 2  # (B, T)
    loss = 0.5 * masked_mean(torch.maximum(vf_losses, vf_losses_clipped), m)  # () item 20
    with torch.no_grad():
        clip_fraction = masked_mean((vf_losses_clipped > vf_losses).to(vf_losses.dtype), m)  # () LHP vf_clipfrac
    return loss, {"clip_fraction": clip_fraction}
