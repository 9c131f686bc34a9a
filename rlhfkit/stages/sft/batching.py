"""SFT (and pretraining) batches: (prompt, completion) examples to padded tensors, and a count of
the pairs that will be cut to ``max_length``."""

from __future__ import annotations

import logging

import torch

from rlhfkit.models.encoding import encode_pairs, leading_special_ids, pair_length

log = logging.getLogger(__name__)


class SFTCollator:
    """SFTExample list -> input_ids, attention_mask, completion_mask (B, T), right-padded."""

    def __init__(self, tokenizer, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, examples: list) -> dict[str, torch.Tensor]:
        enc = encode_pairs(self.tokenizer, [e.prompt for e in examples], [e.completion for e in examples], self.max_length)
        return {"input_ids": enc.input_ids, "attention_mask": enc.attention_mask,
                "completion_mask": enc.completion_mask, "truncated": enc.truncated}


def count_too_long(tokenizer, examples: list, max_length: int, where: str) -> int:
    """Say how many pairs will be cut to ``max_length`` (cutting is reported, never silent); the
    pairs are counted as :func:`encode_pairs` builds them (leading special tokens, EOS)."""
    lead = leading_special_ids(tokenizer)
    too_long = 0
    for e in examples:
        too_long += pair_length(tokenizer, e.prompt, e.completion, lead) > max_length
    if too_long:
        log.warning("%s: %d of %d examples exceed max_length=%d tokens and will be truncated "
                    "(the start of the prompt is cut)", where, too_long, len(examples), max_length)
    return too_long


def truncation_counts(tokenizer, splits: dict[str, list], max_length: int, group: str) -> dict[str, int]:
    """``data/<group>/<split>/truncated``: :func:`count_too_long` of each split, so the cut pairs
    reach ``metrics.json`` and not only the log."""
    return {f"data/{group}/{split}/truncated": count_too_long(tokenizer, examples, max_length, f"data.{group}.{split}")
            for split, examples in splits.items()}
