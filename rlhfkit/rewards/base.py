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


def reward_parts(reward_fn: object) -> list[object]:
    """A reward plugin and, recursively, the parts of a weighted sum (``.parts``: (name, weight, reward))."""
    out = [reward_fn]
    for _, _, part in getattr(reward_fn, "parts", []) or []:
        out += reward_parts(part)
    return out


def place_rewards(reward_fn: object, device: torch.device) -> list[str]:
    """Call the optional ``place(device)`` hook of a reward plugin and of every part of it: a model-backed
    reward whose device is ``auto`` moves there (PPO calls this with the policy's device once the
    strategy has placed it). Returns the names of the rewards that moved."""
    moved = []
    for part in reward_parts(reward_fn):
        place = getattr(part, "place", None)
        if callable(place) and place(device):
            moved.append(type(part).__name__)
    return moved


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
