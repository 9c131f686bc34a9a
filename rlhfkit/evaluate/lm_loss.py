"""Held-out language-modelling loss: the "alignment tax" measure (RLHF_DETAILS item 28).

Every text is scored whole (no prompt), EOS appended, exactly as the pretrain stage trains on it;
the loss is the token-weighted mean next-token NLL (:func:`rlhfkit.algos.lm.masked_lm_loss`) over
all texts, in nats per token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rlhfkit.algos.lm import masked_lm_loss
from rlhfkit.models.encoding import encode_pairs


@torch.no_grad()
def heldout_lm_loss(model, tokenizer, texts: Sequence[str], max_length: int = 64,
                    batch_size: int = 256) -> tuple[float, int]:
    """(mean NLL per predicted token, number of predicted tokens) of ``texts`` under ``model``."""
    if not texts:
        raise ValueError("heldout_lm_loss: no texts")
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start:start + batch_size])
        enc = encode_pairs(tokenizer, [""] * len(chunk), chunk, max_length)  # (b, T) text + EOS
        logits = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits  # (b, T, V)
        loss, n = masked_lm_loss(logits, enc.input_ids, enc.attention_mask)
        total += float(loss) * float(n)
        count += int(n)
    return total / count, count


def tokens_in(tokenizer, texts: Sequence[str], max_length: int = 64) -> int:
    """Tokens a forward pass over ``texts`` (EOS appended, cut at ``max_length``) processes."""
    return sum(min(len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 1, max_length) for t in texts)
