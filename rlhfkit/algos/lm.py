"""Language-modelling loss with a token mask (SFT, and PPO-ptx's pretraining term).

Pure torch. Shapes: logits (B, T, V), input_ids (B, T), loss_mask (B, T).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def token_nll(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """Next-token negative log-likelihood. (B, T, V), (B, T) -> (B, T-1): nll of token t+1 at t."""
    if logits.shape[:2] != input_ids.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match input_ids {tuple(input_ids.shape)}")
    shifted = logits[:, :-1].float()  # (B, T-1, V) the prediction made at t ...
    targets = input_ids[:, 1:]  # (B, T-1) ... is scored against token t+1
    return F.cross_entropy(shifted.reshape(-1, shifted.shape[-1]), targets.reshape(-1), reduction="none").view_as(targets)


def masked_lm_loss(logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean next-token NLL over the tokens where ``loss_mask`` is 1 (the predicted token's mask).

    SFT with ``mask_prompt`` passes the completion mask (RLHF_DETAILS item 4); without it, the
    attention mask (prompt + completion, padding ignored, as N+ does).
    Returns (loss: scalar, n_tokens: scalar) so callers can weight means across batches.
    """
    nll = token_nll(logits, input_ids)  # (B, T-1)
    target_mask = loss_mask[:, 1:].to(nll.dtype)  # (B, T-1): is token t+1 trained on?
    n_tokens = target_mask.sum()
    if n_tokens == 0:
        raise ValueError("masked_lm_loss: the loss mask selects no token (all prompt or padding?)")
    return (nll * target_mask).sum() / n_tokens, n_tokens
