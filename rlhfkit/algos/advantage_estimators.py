"""Advantage estimators behind the ``advantage`` plugin kind: GAE (with a critic), RLOO and GRPO.

Each is called with per-token rewards (B, T), values (B, T) or None, the response mask (B, T) and
the sequence scores (B,), and returns (advantages (B, T), returns (B, T) or None).
"""

from __future__ import annotations

import torch

from rlhfkit.algos import broadcast_sequence_advantage, gae, group_normalized_advantages, masked_sum, rloo_advantages


class GAEEstimator:
    """Generalised advantage estimation on the KL-shaped per-token rewards (RLHF_DETAILS item 18).

    Args:
        gamma: discount; IG and LHP use 1 (items 14, 17).
        lam: GAE lambda; LHP 0.95 (item 17).
    """

    needs_critic = True

    def __init__(self, gamma: float = 1.0, lam: float = 0.95) -> None:
        self.gamma, self.lam = gamma, lam

    def __call__(self, rewards: torch.Tensor, values: torch.Tensor | None, mask: torch.Tensor, scores: torch.Tensor):
        if values is None:
            raise ValueError("advantage 'gae' needs a value model; use 'rloo' or 'grpo' for critic-free runs")
        return gae(rewards, values, mask, self.gamma, self.lam)


class _SequenceLevel:
    """Critic-free: one advantage per sequence from the summed shaped reward, spread over its tokens."""

    needs_critic = False

    def __init__(self, group_size: int) -> None:
        self.group_size = group_size

    def sequence_advantages(self, returns: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, rewards: torch.Tensor, values: torch.Tensor | None, mask: torch.Tensor, scores: torch.Tensor):
        sequence_return = masked_sum(rewards, mask, dim=-1)  # (B,) score - kl_coef * KL
        return broadcast_sequence_advantage(self.sequence_advantages(sequence_return), mask), None


class RLOOEstimator(_SequenceLevel):
    """REINFORCE leave-one-out (arXiv 2402.14740); ``group_size`` samples per prompt, consecutive."""

    def sequence_advantages(self, returns: torch.Tensor) -> torch.Tensor:
        return rloo_advantages(returns, self.group_size)


class GRPOEstimator(_SequenceLevel):
    """Group-normalised advantages (GRPO, arXiv 2402.03300)."""

    def __init__(self, group_size: int, scale: bool = True) -> None:
        super().__init__(group_size)
        self.scale = scale

    def sequence_advantages(self, returns: torch.Tensor) -> torch.Tensor:
        return group_normalized_advantages(returns, self.group_size, scale=self.scale)
