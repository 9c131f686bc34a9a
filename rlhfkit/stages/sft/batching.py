"""Collators from example dataclasses to padded tensors (the stages' data loaders use these)."""

from __future__ import annotations

import logging

import torch
from torch.utils.data import DataLoader

from rlhfkit.models.encoding import encode_pairs

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
    """Say how many pairs will be cut to ``max_length`` (cutting is reported, never silent)."""
    too_long = 0
    for e in examples:
        n = len(tokenizer(e.prompt, add_special_tokens=False)["input_ids"]) + len(
            tokenizer(e.completion, add_special_tokens=False)["input_ids"]) + 1
        too_long += n > max_length
    if too_long:
        log.warning("%s: %d of %d examples exceed max_length=%d tokens and will be truncated "
                    "(the start of the prompt is cut)", where, too_long, len(examples), max_length)
    return too_long


def make_loader(examples: list, collate, batch_size: int, shuffle: bool, num_workers: int = 0, drop_last: bool = False) -> DataLoader:
    return DataLoader(examples, batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
                      num_workers=num_workers, drop_last=drop_last, persistent_workers=num_workers > 0)
