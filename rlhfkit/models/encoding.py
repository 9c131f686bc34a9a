"""Turning (prompt, completion) text into padded token tensors, the one way every stage does it.

A completion is followed by EOS, so a reward model reads its score at the EOS token of a finished
response (RLHF_DETAILS items 8 and 21), exactly where PPO adds the score.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase


@dataclass
class EncodedPairs:
    """Shapes: input_ids, attention_mask, completion_mask (B, T); truncated (B,) bool.

    completion_mask is 1 on completion tokens (and their EOS), 0 on prompt and padding.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor
    truncated: torch.Tensor


def encode_pairs(
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    completions: list[str],
    max_length: int,
    padding_side: str = "right",
    add_eos: bool = True,
) -> EncodedPairs:
    """Tokenize prompt and completion separately (so the boundary is exact), join, pad.

    Too-long pairs keep their completion and lose the start of the prompt; if the completion alone
    is too long its end is cut. Either way the row is flagged in ``truncated`` so callers can count
    and report it (nothing is cut silently).
    """
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got '{padding_side}'")
    eos = [tokenizer.eos_token_id] if add_eos else []
    rows, comp_lens, truncated = [], [], []
    for prompt, completion in zip(prompts, completions):
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c = tokenizer(completion, add_special_tokens=False)["input_ids"] + eos
        cut = len(p) + len(c) > max_length
        if len(c) >= max_length:
            p, c = [], c[: max_length]
        elif cut:
            p = p[len(p) + len(c) - max_length:]
        rows.append(p + c)
        comp_lens.append(len(c))
        truncated.append(cut)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    comp = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, n_comp) in enumerate(zip(rows, comp_lens)):
        start = 0 if padding_side == "right" else width - len(row)
        ids[i, start:start + len(row)] = torch.tensor(row, dtype=torch.long)
        attn[i, start:start + len(row)] = 1
        comp[i, start + len(row) - n_comp:start + len(row)] = 1
    return EncodedPairs(ids, attn, comp, torch.tensor(truncated))


def encode_prompts(tokenizer: PreTrainedTokenizerBase, prompts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Left-padded prompts for generation (item 35). Returns ids (B, P), mask (B, P), n truncated."""
    rows, n_cut = [], 0
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ValueError(f"prompt {prompt!r} tokenizes to nothing")
        if len(ids) > max_length:
            ids, n_cut = ids[-max_length:], n_cut + 1
        rows.append(ids)
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row):] = 1
    return out, mask, n_cut
