"""Critic-free, sequence-level advantages from groups of samples of the same prompt.

Layout: ``scores`` holds B = n_prompts * group_size samples, each prompt's ``group_size``
samples consecutive (row-major view (n_prompts, group_size)).
"""

import torch

from rlhfkit.algos._validation import as_bool_mask, check_ndim


def _grouped(scores: torch.Tensor, group_size: int, min_group: int) -> torch.Tensor:
    """View (B,) scores as (B // group_size, group_size), validating the layout."""
    check_ndim("scores", scores, 1, "(B,)")
    if group_size < min_group:
        raise ValueError(f"group_size must be >= {min_group}, got {group_size}")
    if scores.shape[0] % group_size != 0:
        raise ValueError(f"batch size B={scores.shape[0]} is not a multiple of group_size={group_size}")
    return scores.reshape(-1, group_size)  # (B / G, G)


def rloo_advantages(scores: torch.Tensor, group_size: int) -> torch.Tensor:
    """REINFORCE leave-one-out: each sample's baseline is the mean of the OTHER samples of its prompt.

    A_i = s_i - (sum_j s_j - s_i) / (G - 1)   (arXiv 2402.14740, RLOO; Kool et al. 2019).

    Args:
        scores: (B,) sequence rewards, groups of ``group_size`` consecutive samples per prompt.
        group_size: G >= 2 samples per prompt.

    Returns:
        (B,) advantages (each group sums to 0).
    """
    s = _grouped(scores, group_size, min_group=2)  # (B / G, G)
    baseline = (s.sum(dim=1, keepdim=True) - s) / (group_size - 1)  # (B / G, G) leave-one-out mean
    return (s - baseline).reshape(-1)  # (B,)


def group_normalized_advantages(
    scores: torch.Tensor,
    group_size: int,
    eps: float = 1e-6,
    scale: bool = True,
) -> torch.Tensor:
    """GRPO outcome advantages: (s - mean_group) / (std_group + eps)  (arXiv 2402.03300 sec. 4.1.2).

    std is the population std (RLHF_DETAILS item 37; note TRL's GRPOTrainer uses the unbiased one).
    ``scale=False`` only subtracts the group mean (Dr. GRPO, arXiv 2503.20783).

    Args:
        scores: (B,) sequence rewards, groups of ``group_size`` consecutive samples per prompt.
        group_size: G >= 1 samples per prompt.
        eps: added to the std (a group with equal scores gets advantages 0).
        scale: divide by the group std.

    Returns:
        (B,) advantages.
    """
    s = _grouped(scores, group_size, min_group=1)  # (B / G, G)
    centred = s - s.mean(dim=1, keepdim=True)  # (B / G, G)
    if scale:
        std = s.std(dim=1, keepdim=True, correction=0)  # (B / G, 1) population std, item 37
        centred = centred / (std + eps)  # (B / G, G)
    return centred.reshape(-1)  # (B,)


def broadcast_sequence_advantage(adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Give every real token of a sequence the sequence's advantage (0 on masked tokens).

    Args:
        adv: (B,) sequence-level advantages.
        mask: (B, T) 1 on real response tokens.

    Returns:
        (B, T) advantages.
    """
    check_ndim("adv", adv, 1, "(B,)")
    check_ndim("mask", mask, 2, "(B, T)")
    if adv.shape[0] != mask.shape[0]:
        raise ValueError(f"adv (B,)={tuple(adv.shape)} and mask (B, T)={tuple(mask.shape)} disagree on B")
    m = as_bool_mask(mask)
    return torch.where(m, adv.unsqueeze(1), torch.zeros((), dtype=adv.dtype, device=adv.device))  # (B, T)
