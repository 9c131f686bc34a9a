"""Turning (prompt, completion) text into padded token tensors, the one way every stage does it.

Special tokens follow the tokenizer's own ``add_special_tokens`` behaviour:

- The prompt starts with the tokens ``tokenizer(text)`` puts before a text (Llama's BOS; found by
  comparing ``tokenizer("x")`` with and without special tokens: :func:`leading_special_ids`),
  unless the text already starts with them: text rendered by a chat template usually begins with
  the BOS string (``"<s>..."``), and gets no second BOS. Tokenizers that add nothing (GPT-2, the
  byte and word tokenizers of :mod:`rlhfkit.models.tokenizers`) get nothing.
- The completion is followed by EOS (unless it already ends with it, as a template that closes the
  assistant turn with the EOS string does), so a reward model reads its score at the EOS token of a
  finished response (RLHF_DETAILS items 8 and 21), exactly where PPO adds the score.

Prompt and completion are tokenized separately so that their boundary is exact. Truncation never
drops the leading special tokens: the prompt loses the tokens after them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

_PROBES = ("x", "hello", "a b")  # texts to find the leading special tokens with


@dataclass
class EncodedPairs:
    """Shapes: input_ids, attention_mask, completion_mask (B, T); truncated (B,) bool.

    completion_mask is 1 on completion tokens (and their EOS), 0 on prompt and padding.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor
    truncated: torch.Tensor


def leading_special_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The ids ``tokenizer(text)`` puts before the text's own tokens (e.g. ``[bos_token_id]``).

    Found by locating ``tokenizer(probe, add_special_tokens=False)`` inside ``tokenizer(probe)``;
    ``[]`` when the tokenizer adds nothing in front (or the probes cannot tell).
    """
    for probe in _PROBES:
        plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
        full = tokenizer(probe)["input_ids"]
        if not plain:
            continue
        for start in range(len(full) - len(plain) + 1):
            if full[start:start + len(plain)] == plain:
                return list(full[:start])
    return []


def prompt_ids(tokenizer: PreTrainedTokenizerBase, text: str, lead: list[int] | None = None) -> tuple[list[int], int]:
    """``(ids, n_lead)``: ``text``'s tokens with the tokenizer's leading special tokens in front
    unless the text already starts with them (by ids, or by their string, e.g. ``"<s>"``);
    ``n_lead`` is how many of the ids are those leading tokens (kept by truncation).
    ``lead``: :func:`leading_special_ids`, when the caller has it already.
    """
    lead = leading_special_ids(tokenizer) if lead is None else lead
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not lead:
        return ids, 0
    if ids[:len(lead)] == lead:
        return ids, len(lead)
    if text.startswith("".join(tokenizer.convert_ids_to_tokens(lead))):
        return ids, 0  # the string is there but not tokenized as the special tokens: add none
    return list(lead) + ids, len(lead)


def completion_ids(tokenizer: PreTrainedTokenizerBase, text: str, add_eos: bool = True) -> list[int]:
    """``text``'s tokens (no special tokens added) ending in exactly one EOS.

    A chat template that closes the assistant turn with the EOS token and then writes a newline
    (Qwen's ``<|im_end|>`` + ``"\n"``, the EOS of its instruct tokenizers) ends the completion at
    that EOS: the whitespace after it is dropped rather than followed by a second EOS, so the
    trained sequence ends where sampling stops (at the first EOS, item 21) and a reward model reads
    its score at the EOS token (item 8). Otherwise one EOS is appended (none when it already ends
    with it).
    """
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    if not add_eos or eos is None:
        return ids
    if eos in ids:
        last = len(ids) - 1 - ids[::-1].index(eos)
        if not tokenizer.decode(ids[last + 1:]).strip():
            return ids[:last + 1]
    return ids + [eos]


def pair_length(tokenizer: PreTrainedTokenizerBase, prompt: str, completion: str, lead: list[int] | None = None) -> int:
    """Tokens of ``prompt`` + ``completion`` as :func:`encode_pairs` builds them, before truncation."""
    return len(prompt_ids(tokenizer, prompt, lead)[0]) + len(completion_ids(tokenizer, completion))


def encode_pairs(
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    completions: list[str],
    max_length: int,
    padding_side: str = "right",
    add_eos: bool = True,
) -> EncodedPairs:
    """Tokenize prompt and completion separately (so the boundary is exact), join, pad.

    Too-long pairs keep their completion and lose the start of the prompt (after its leading
    special tokens); if the completion alone is too long its end is cut. Either way the row is
    flagged in ``truncated`` so callers can count and report it (nothing is cut silently).
    """
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got '{padding_side}'")
    lead = leading_special_ids(tokenizer)
    rows, comp_lens, truncated = [], [], []
    for prompt, completion in zip(prompts, completions):
        p, n_lead = prompt_ids(tokenizer, prompt, lead)
        c = completion_ids(tokenizer, completion, add_eos)
        cut = len(p) + len(c) > max_length
        head, body = p[:n_lead], p[n_lead:]
        if len(head) >= max_length:  # no room to keep them
            head, body = [], p
        if len(head) + len(c) >= max_length:
            p, c = head, c[: max_length - len(head)]
        elif cut:
            p = head + body[len(p) + len(c) - max_length:]
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
    """Left-padded prompts for generation (item 35), each with the tokenizer's leading special
    tokens as :func:`prompt_ids` adds them; a too-long prompt keeps those and its last tokens.
    Returns ids (B, P), mask (B, P), n truncated."""
    lead = leading_special_ids(tokenizer)
    rows, n_cut = [], 0
    for prompt in prompts:
        ids, n_lead = prompt_ids(tokenizer, prompt, lead)
        if not ids:
            raise ValueError(f"prompt {prompt!r} tokenizes to nothing")
        if len(ids) > max_length:
            head = ids[:n_lead] if n_lead < max_length else []
            ids, n_cut = head + ids[len(ids) - (max_length - len(head)):], n_cut + 1
        rows.append(ids)
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row):] = 1
    return out, mask, n_cut
