"""The reward-function protocol every ``reward`` plugin returns."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class RewardFn(Protocol):
    def __call__(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        """Score each completion of its prompt. Returns shape (B,), float32, on the CPU."""
        ...


def check_scores(scores: torch.Tensor, batch: int, who: str) -> torch.Tensor:
    """Guard the contract so a plugin's mistake surfaces where it happens."""
    if not isinstance(scores, torch.Tensor) or scores.shape != (batch,):
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"reward '{who}' returned {shape}; expected a tensor of shape ({batch},)")
    if not torch.isfinite(scores).all():
        raise ValueError(f"reward '{who}' returned a non-finite score")
    return scores.float()
