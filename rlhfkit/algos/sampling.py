"""Sampling the next token and ending responses at EOS (RLHF_DETAILS items 21, 22, 34).

Pure torch. The RL sampler divides the logits by the temperature (item 22) and, by default,
filters nothing (top_k = 0, top_p = 1.0): any filter makes the samples come from a distribution
other than pi, and the k1 KL estimate can then go negative (item 34).
"""

import torch

from rlhfkit.algos._validation import check_ndim, check_positive


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Top-k then nucleus (top-p) filtering: filtered-out entries become -inf.

    ``top_k = 0`` and ``top_p = 1.0`` (the RL defaults, item 34) return ``logits`` unchanged.

    Args:
        logits: (B, V) next-token logits (already divided by the temperature).
        top_k: keep the k largest logits per row; 0 keeps all.
        top_p: keep the smallest set of tokens whose probability sums to at least ``top_p``
            (the most likely token is always kept); 1.0 keeps all.

    Returns:
        (B, V) logits with -inf where filtered.
    """
    check_ndim("logits", logits, 2, "(B, V)")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0 = off), got {top_k}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    neg_inf = torch.tensor(float("-inf"), dtype=logits.dtype, device=logits.device)
    out = logits
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(out, top_k, dim=-1).values[:, -1:]  # (B, 1) the k-th largest logit
        out = torch.where(out < kth, neg_inf, out)  # (B, V)
    if top_p < 1.0:
        sorted_logits, order = torch.sort(out, dim=-1, descending=True)  # (B, V)
        cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)  # (B, V) mass up to and incl. each token
        drop_sorted = (cum - torch.softmax(sorted_logits, dim=-1)) >= top_p  # (B, V) mass BEFORE it already >= p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # (B, V) back to vocab order
        out = torch.where(drop, neg_inf, out)  # (B, V)
    return out


def sample_tokens(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token per row from softmax(filter(logits / T)).

    Args:
        logits: (B, V) next-token logits.
        temperature: T > 0; the logits are divided by it (item 22).
        top_k, top_p: see :func:`filter_logits` (item 34: 0 and 1.0 during RL).
        generator: the random stream (per-rank seeds under DDP, item 40).

    Returns:
        (B,) int64 token ids.
    """
    check_ndim("logits", logits, 2, "(B, V)")
    check_positive("temperature", temperature)
    z = filter_logits(logits.float() / temperature, top_k, top_p)  # (B, V) item 22, item 34
    probs = torch.softmax(z, dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)  # (B,)


def truncate_at_eos(tokens: torch.Tensor, eos_id: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """End each response at its first EOS (RLHF_DETAILS item 21).

    Args:
        tokens: (B, R) sampled response tokens.
        eos_id: the EOS token id.
        pad_id: the padding id written after the EOS (distinct from EOS, item 35).

    Returns:
        tokens (B, R): the input with every token after the first EOS replaced by ``pad_id``;
        mask (B, R) int64: 1 on tokens up to and including the first EOS (all ones without EOS);
        has_eos (B,) bool: whether the row contains an EOS.
    """
    check_ndim("tokens", tokens, 2, "(B, R)")
    if eos_id == pad_id:
        raise ValueError("pad_id must differ from eos_id (RLHF_DETAILS item 35)")
    is_eos = tokens == eos_id  # (B, R)
    eos_before = is_eos.long().cumsum(dim=-1) - is_eos.long()  # (B, R) EOS tokens strictly before t
    mask = (eos_before == 0).long()  # (B, R) 1 up to and including the first EOS
    out = torch.where(mask.bool(), tokens, torch.full_like(tokens, pad_id))  # (B, R)
    return out, mask, is_eos.any(dim=-1)
