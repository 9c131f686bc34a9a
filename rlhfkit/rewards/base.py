"""The reward-function protocol every ``reward`` plugin returns."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from rlhfkit.errors import NonFiniteError


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
    finite = torch.isfinite(scores)
    if not bool(finite.all()):
        first = float(scores[~finite][0])
        raise NonFiniteError(f"reward plugin '{who}' returned {int((~finite).sum())} non-finite scores of {batch} "
                             f"(first: {first})")
    return scores.float()
