"""Reward-model metrics: pairwise accuracy (overall, per labeler, per labeler group), tie counts,
and inter-labeler agreement (RLHF_DETAILS items 6-7 and 25; IG reports 72.6% agreement among its
training labelers and 77.3% among held-out ones).

Everything here counts; no loss is computed. Pairs follow :func:`rlhfkit.algos.pair_mask`: a pair
(w, l) is two present completions with rank[w] < rank[l] (0 = best); ties form no pair (item 7).
A pair is "correct" when the RM scores the winner strictly higher (equal scores count as wrong,
as in :func:`rlhfkit.algos.ranking_accuracy`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import torch
from torchmetrics import Metric

from rlhfkit.algos import pair_mask
from rlhfkit.data.examples import group_of


def pair_counts_per_example(scores: torch.Tensor, ranks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Correctly ordered pairs and pairs, per prompt.

    Args:
        scores: (B, K) RM scores.
        ranks: (B, K) int ranks (0 best, equal = tie, -1 absent).

    Returns:
        (correct (B,), total (B,)) int64 counts.
    """
    pairs = pair_mask(ranks)  # (B, K, K) i preferred over j
    correct = pairs & (scores.unsqueeze(2) > scores.unsqueeze(1))  # (B, K, K) s_w > s_l
    return correct.sum(dim=(1, 2)), pairs.sum(dim=(1, 2))


class PairCounts(Metric):
    """Correct and total pair counts per key (a labeler, a group, or one key for "overall").

    States are (n_keys,) sums, so DDP ranks are merged by summing (``dist_reduce_fx="sum"``).
    ``update(correct, total, keys)``: (B,) counts and (B,) key indices; a key < 0 (unknown
    labeler, no group) is skipped. ``keys=None`` puts every example on key 0.
    ``compute()`` -> ``{"correct", "total"}`` tensors; ``counts()`` -> two lists of n_keys ints.
    """

    full_state_update = False

    def __init__(self, n_keys: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_keys = max(int(n_keys), 1)
        self.add_state("correct", default=torch.zeros(self.n_keys, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", default=torch.zeros(self.n_keys, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, correct: torch.Tensor, total: torch.Tensor, keys: torch.Tensor | None = None) -> None:
        if keys is None:
            keys = torch.zeros_like(total)
        keys = keys.to(self.correct.device).long()
        keep = keys >= 0  # (B,)
        self.correct.index_add_(0, keys[keep], correct.to(self.correct.device).long()[keep])
        self.total.index_add_(0, keys[keep], total.to(self.total.device).long()[keep])

    def compute(self) -> dict[str, torch.Tensor]:
        return {"correct": self.correct, "total": self.total}

    def counts(self) -> tuple[list[int], list[int]]:
        """Synced ``(correct, total)`` as lists of n_keys ints (``compute`` squeezes one key to 0-dim)."""
        out = self.compute()
        return out["correct"].reshape(-1).tolist(), out["total"].reshape(-1).tolist()


def accuracy(correct: int, total: int) -> float:
    """correct / total, ``nan`` without pairs."""
    return correct / total if total else math.nan


def accuracy_table(names: Sequence[str], correct: Sequence[int], total: Sequence[int]) -> dict[str, dict[str, float]]:
    """``{name: {"accuracy", "correct", "n_pairs"}}`` for the keys that have at least one pair."""
    return {
        name: {"accuracy": accuracy(int(c), int(t)), "correct": int(c), "n_pairs": int(t)}
        for name, c, t in zip(names, correct, total) if int(t) > 0
    }


def tie_counts(examples: Iterable[Any]) -> dict[str, int]:
    """Over rankings: ``pairs`` formed, ``tied_pairs`` dropped (item 7), ``all_tied`` rankings
    (no pair at all) and ``rankings``."""
    out = {"rankings": 0, "pairs": 0, "tied_pairs": 0, "all_tied": 0}
    for ex in examples:
        k = len(ex.ranks)
        n_pairs = len(ex.pairs())
        out["rankings"] += 1
        out["pairs"] += n_pairs
        out["tied_pairs"] += k * (k - 1) // 2 - n_pairs  # C(K,2) minus the comparable pairs
        out["all_tied"] += n_pairs == 0
    return out


@dataclass
class Agreement:
    """Inter-labeler agreement counts.

    ``agree`` / ``total``: (labeler pair, completion pair) comparisons ordered the same way by
    both labelers, out of all such comparisons; ``tied`` comparisons (a tie by either labeler)
    are excluded; ``n_prompts``: prompts with at least one comparison; ``labeler_pairs``: pairs
    of rankings (by different labelers) compared.
    """

    agree: int = 0
    total: int = 0
    tied: int = 0
    n_prompts: int = 0
    labeler_pairs: int = 0

    @property
    def rate(self) -> float:
        return accuracy(self.agree, self.total)

    def as_dict(self) -> dict[str, float]:
        return {"rate": self.rate, "agree": self.agree, "total": self.total, "tied": self.tied,
                "n_prompts": self.n_prompts, "labeler_pairs": self.labeler_pairs}


def _ranks_by_text(example: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for text, rank in zip(example.completions, example.ranks):
        if rank >= 0:
            out.setdefault(text, rank)  # a completion repeated in one ranking: its first rank
    return out


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def ranking_agreement(rankings: Iterable[Any], labelers: Container[str] | None = None) -> Agreement:
    """Agreement between labelers who ranked the same prompt.

    Rankings are matched by exact prompt text and completions by exact text, so two labelers
    who ranked overlapping (not necessarily identical) completion sets are compared on the
    completions both saw. For each pair of rankings by *different* labelers and each pair of
    completions both ranked, the comparison agrees when both order the pair the same way; a tie
    by either labeler excludes it (counted in ``tied``). Rankings without a ``labeler_id`` are
    ignored (nobody can say whether two of them come from different people). ``labelers``
    restricts to those ids (e.g. the members of one group).
    """
    by_prompt: dict[str, list[tuple[str, dict[str, int]]]] = defaultdict(list)
    for ex in rankings:
        if ex.labeler_id is None or (labelers is not None and ex.labeler_id not in labelers):
            continue
        by_prompt[ex.prompt].append((ex.labeler_id, _ranks_by_text(ex)))
    out = Agreement()
    for entries in by_prompt.values():
        prompt_used = False
        for (la, ra), (lb, rb) in combinations(entries, 2):
            if la == lb:
                continue
            shared = [c for c in ra if c in rb]
            compared = False
            for c1, c2 in combinations(shared, 2):
                da, db = _sign(ra[c1] - ra[c2]), _sign(rb[c1] - rb[c2])
                if da == 0 or db == 0:
                    out.tied += 1
                    continue
                out.total += 1
                out.agree += da == db
                compared = True
            out.labeler_pairs += compared
            prompt_used |= compared
        out.n_prompts += prompt_used
    return out


def agreement_report(rankings: Sequence[Any], group: Callable[[Any], str | None] = group_of) -> dict[str, Any]:
    """Agreement over all labelers and within each labeler group (both labelers in the group).

    Returns ``{"all": Agreement.as_dict(), "per_group": {group: Agreement.as_dict()}}``; groups
    without any comparison are left out.
    """
    members: dict[str, set[str]] = defaultdict(set)
    for ex in rankings:
        g = group(ex)
        if g is not None and ex.labeler_id is not None:
            members[g].add(ex.labeler_id)
    per_group = {g: ranking_agreement(rankings, ids) for g, ids in sorted(members.items())}
    return {"all": ranking_agreement(rankings).as_dict(),
            "per_group": {g: a.as_dict() for g, a in per_group.items() if a.total}}


__all__ = [
    "Agreement", "PairCounts", "accuracy", "accuracy_table", "agreement_report", "group_of",
    "ranking_agreement", "pair_counts_per_example", "tie_counts",
]
