"""RankingExample lists -> one packed batch of (prompt, completion) rows for the reward model.

RLHF_DETAILS item 6: all K completions of a prompt sit in ONE batch element and each is scored
once, so a batch of B prompts needs one backbone forward over every completion of every prompt.
The rows are *packed*: only present completions are encoded (N = sum of each prompt's K_b rows,
at most B * K), and ``slot`` says where each row's score goes in the flattened (B * K) score
grid; absent slots (prompts with fewer than K completions) get rank -1 and are ignored by
:func:`rlhfkit.algos.ranking_loss`. Packing avoids spending a forward pass on padding
completions when K varies (IG: K = 4..9).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rlhfkit.data.examples import group_of
from rlhfkit.models.encoding import completion_ids, encode_pairs, leading_special_ids, prompt_ids

log = logging.getLogger(__name__)


class ExampleRefs:
    """The batch's examples, opaque to Lightning's device transfer (it refuses frozen dataclasses)."""

    __slots__ = ("items",)

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = list(items)

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class RankingCollator:
    """Collate rankings into the tensors :class:`rlhfkit.stages.rm.module.RewardModelModule` takes.

    Args:
        tokenizer: the RM's tokenizer (pad distinct from EOS, item 35).
        max_length: tokens per (prompt, completion) row; longer rows lose the start of the prompt.
        labeler_index: labeler id -> index for per-labeler metrics (unknown ids get -1).
        group_index: labeler group -> index for per-group metrics (unknown/none get -1).
        group_key: the ``labeler_meta`` key that holds the group.

    Returns (from ``__call__``), with B prompts, K = the largest K_b, N = sum_b K_b rows:
        input_ids, attention_mask: (N, T) right-padded, each completion followed by EOS (item 8);
        completion_mask: (N, T) 1 on each row's completion and its EOS (for the examples preview);
        slot: (N,) int64 index of each row in the flattened (B * K) score grid;
        ranks: (B, K) int64, 0 best, ties equal, -1 absent;
        labeler_idx, group_idx: (B,) int64 (-1 when unknown);
        truncated: (N,) bool, rows cut to ``max_length``;
        examples: the B input examples as :class:`ExampleRefs` (for tables of example pairs).
    """

    def __init__(self, tokenizer, max_length: int, labeler_index: Mapping[str, int] | None = None,
                 group_index: Mapping[str, int] | None = None, group_key: str = "group") -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self.labeler_index = dict(labeler_index or {})
        self.group_index = dict(group_index or {})
        self.group_key = group_key

    def __call__(self, examples: Sequence[Any]) -> dict[str, Any]:
        if not examples:
            raise ValueError("RankingCollator: empty batch")
        k = max(len(e.completions) for e in examples)
        prompts, completions, slots = [], [], []
        ranks = torch.full((len(examples), k), -1, dtype=torch.long)  # (B, K) -1 = absent
        for b, ex in enumerate(examples):
            for i, (completion, rank) in enumerate(zip(ex.completions, ex.ranks)):
                prompts.append(ex.prompt)
                completions.append(completion)
                slots.append(b * k + i)
                ranks[b, i] = rank
        enc = encode_pairs(self.tokenizer, prompts, completions, self.max_length)  # (N, T)
        labeler_idx = [self.labeler_index.get(ex.labeler_id, -1) if ex.labeler_id is not None else -1
                       for ex in examples]
        group_idx = [self.group_index.get(g, -1) if (g := group_of(ex, self.group_key)) is not None else -1
                     for ex in examples]
        return {
            "input_ids": enc.input_ids, "attention_mask": enc.attention_mask, "completion_mask": enc.completion_mask,
            "slot": torch.tensor(slots, dtype=torch.long), "ranks": ranks,
            "labeler_idx": torch.tensor(labeler_idx, dtype=torch.long),
            "group_idx": torch.tensor(group_idx, dtype=torch.long),
            "truncated": enc.truncated, "examples": ExampleRefs(examples),
        }


def count_too_long_rankings(tokenizer, examples: Sequence[Any], max_length: int, where: str) -> int:
    """How many (prompt, completion) rows exceed ``max_length`` and will be cut (reported, never silent)."""
    lead = leading_special_ids(tokenizer)
    too_long = total = 0
    for ex in examples:
        n_prompt = len(prompt_ids(tokenizer, ex.prompt, lead)[0])  # as encode_pairs builds the rows
        for completion in ex.completions:
            total += 1
            too_long += n_prompt + len(completion_ids(tokenizer, completion)) > max_length
    if too_long:
        log.warning("%s: %d of %d (prompt, completion) rows exceed max_length=%d tokens and will be "
                    "truncated (the start of the prompt is cut)", where, too_long, total, max_length)
    return too_long


def ranking_truncation_counts(tokenizer, splits: dict[str, Sequence[Any]], max_length: int) -> dict[str, int]:
    """``data/preference/<split>/truncated``: :func:`count_too_long_rankings` of each split, so the
    cut rows reach ``metrics.json`` and not only the log."""
    return {f"data/preference/{split}/truncated": count_too_long_rankings(tokenizer, examples, max_length,
                                                                          f"data.preference.{split}")
            for split, examples in splits.items()}
