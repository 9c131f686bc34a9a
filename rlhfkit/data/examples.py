"""The example dataclasses every stage consumes (plain text; the stages tokenize and collate).

Conventions shared with :mod:`rlhfkit.algos.ranking_loss`:

- ``RankingExample.ranks[i]`` is the rank of ``completions[i]``: 0 = best, larger = worse,
  equal ranks = a tie. A pairwise comparison is K = 2 with ``ranks == [0, 1]``
  (``completions == [chosen, rejected]``).
- Ranks must form a **dense ranking**: K non-negative ints whose distinct values are exactly
  ``0..m`` for some ``m`` (no gaps). A permutation of ``0..K-1`` is the tie-free case;
  ``[0, 0, 1]`` is valid (two tied best), ``[0, 2, 2]`` is not (rank 1 missing), ``[1, 1]`` is
  not (no rank 0). ``[0, 0]`` (all tied) is valid but yields no comparison; the RM drops ties
  (RLHF_DETAILS item 7), so such an example contributes nothing to its loss.
- ``prompt + completion`` is the exact text the model sees: formats keep the separator (e.g.
  the leading space after ``"Assistant:"``) in the completion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any


def is_dense_ranking(ranks: Any) -> bool:
    """True iff ``ranks`` is a list of non-negative ints (not bools) whose distinct values are 0..m."""
    if not isinstance(ranks, (list, tuple)) or not ranks:
        return False
    if not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in ranks):
        return False
    return set(ranks) == set(range(max(ranks) + 1))


@dataclass(frozen=True)
class SFTExample:
    """A demonstration: the model is trained on ``completion`` given ``prompt``."""

    prompt: str
    completion: str
    origin: str
    user_id: str | None = None  # who wrote the prompt, for split_by_user / cap_per_user (item 5)


@dataclass(frozen=True)
class TextExample:
    """Plain text for language modelling (the pretraining mix of PPO-ptx, item 12)."""

    text: str
    origin: str


@dataclass(frozen=True)
class PromptExample:
    """A prompt alone (PPO episodes, evaluation), possibly taken from an SFT or preference source."""

    prompt: str
    origin: str
    user_id: str | None = None


@dataclass(frozen=True)
class RankingExample:
    """K >= 2 completions of one prompt with their ranks (0 = best, equal = tie; see module doc)."""

    prompt: str
    completions: list[str]
    ranks: list[int]
    origin: str
    labeler_id: str | None = None
    labeler_meta: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None

    def __post_init__(self) -> None:
        if len(self.completions) != len(self.ranks):
            raise ValueError(
                f"{self.origin}: {len(self.completions)} completions but {len(self.ranks)} ranks"
            )
        if len(self.completions) < 2:
            raise ValueError(f"{self.origin}: a ranking needs at least 2 completions")
        if not is_dense_ranking(self.ranks):
            raise ValueError(f"{self.origin}: ranks {list(self.ranks)} are not a dense ranking")

    @classmethod
    def pairwise(cls, prompt: str, chosen: str, rejected: str, origin: str, **meta: Any) -> RankingExample:
        """A pairwise comparison: K = 2, ``completions = [chosen, rejected]``, ``ranks = [0, 1]``."""
        return cls(prompt, [chosen, rejected], [0, 1], origin, **meta)

    @property
    def k(self) -> int:
        return len(self.completions)

    @property
    def is_pairwise(self) -> bool:
        return self.k == 2 and list(self.ranks) == [0, 1]

    def pairs(self) -> list[tuple[int, int]]:
        """``(winner, loser)`` index pairs over all C(K,2) comparisons, ties left out (item 6-7)."""
        return [
            (i, j) if self.ranks[i] < self.ranks[j] else (j, i)
            for i, j in combinations(range(self.k), 2)
            if self.ranks[i] != self.ranks[j]
        ]


__all__ = [
    "PromptExample", "RankingExample", "SFTExample", "TextExample", "is_dense_ranking",
]


def group_of(example: Any, key: str = "group") -> str | None:
    """The labeler group of a ranking (``labeler_meta[key]``), or None."""
    value = (getattr(example, "labeler_meta", None) or {}).get(key)
    return None if value is None else str(value)
