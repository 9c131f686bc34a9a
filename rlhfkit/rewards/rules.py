"""Rule-based rewards: cheap, exact, handy for tests and for shaping on top of a reward model."""

from __future__ import annotations

import torch


class KeywordReward:
    """+bonus for each listed word present in the completion, -penalty for each banned word.

    Args:
        wanted: words that earn ``bonus`` each (counted once per word).
        banned: words that cost ``penalty`` each.
    """

    def __init__(self, wanted: list[str] = (), banned: list[str] = (), bonus: float = 1.0, penalty: float = 1.0) -> None:
        self.wanted, self.banned = [w.lower() for w in wanted], [w.lower() for w in banned]
        self.bonus, self.penalty = bonus, penalty

    def __call__(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        scores = []
        for completion in completions:
            words = set(completion.lower().split())
            scores.append(self.bonus * sum(w in words for w in self.wanted) - self.penalty * sum(w in words for w in self.banned))
        return torch.tensor(scores, dtype=torch.float32)


class LengthReward:
    """-|words - target| * scale: pulls completions towards ``target`` words."""

    def __init__(self, target: int = 8, scale: float = 0.1) -> None:
        self.target, self.scale = target, scale

    def __call__(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        return torch.tensor([-abs(len(c.split()) - self.target) * self.scale for c in completions], dtype=torch.float32)
