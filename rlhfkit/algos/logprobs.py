"""Per-token log-probabilities and entropies from language-model logits.

Memory: a (B, T, V) log_softmax doubles the largest activation of the step. Both functions work
one row (T, V) at a time, in fp32 (RLHF_DETAILS item 39: loss arithmetic in fp32 under mixed
precision), and never materialise a full-batch (B, T, V) copy, not even for the temperature.
"""

import torch

from rlhfkit.algos._validation import check_ndim, check_positive


def _rows_fp32(logits: torch.Tensor) -> torch.dtype:
    """Compute dtype: float64 stays float64, everything else (bf16, fp16, fp32) is done in fp32."""
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log pi(token_t | context) for every position.

    The logits are divided by ``temperature`` first, for the policy AND the reference
    (RLHF_DETAILS item 22), so the logprobs match the distribution the samples came from.
    Computed as ``z[token] - logsumexp(z)`` with ``z = logits / T`` (== log_softmax + gather).

    Args:
        logits: (B, T, V), already aligned with ``tokens`` (logits[:, t] predicts tokens[:, t]).
        tokens: (B, T) integer token ids in [0, V).
        temperature: sampling temperature, > 0 (IG: 1, item 14).

    Returns:
        (B, T) log-probabilities in fp32 (fp64 if ``logits`` is fp64); differentiable w.r.t. logits.
    """
    check_ndim("logits", logits, 3, "(B, T, V)")
    check_ndim("tokens", tokens, 2, "(B, T)")
    if tokens.shape != logits.shape[:2]:
        raise ValueError(
            f"tokens (B, T)={tuple(tokens.shape)} must match the first two dims of "
            f"logits (B, T, V)={tuple(logits.shape)}"
        )
    if tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
        raise ValueError(f"tokens must be an integer tensor, got dtype {tokens.dtype}")
    check_positive("temperature", temperature)
    vocab = logits.shape[-1]
    if tokens.numel() > 0 and (bool(tokens.min() < 0) or bool(tokens.max() >= vocab)):
        raise ValueError(
            f"tokens must lie in [0, {vocab}) (vocab size V of logits), "
            f"got min {int(tokens.min())}, max {int(tokens.max())}"
        )
    dtype = _rows_fp32(logits)
    out = []
    # one (T, V) row at a time: peak extra memory O(T*V), not O(B*T*V)
    for row_logits, row_tokens in zip(logits, tokens):
        z = row_logits.to(dtype) / temperature  # (T, V), item 22
        picked = z.gather(-1, row_tokens.long().unsqueeze(-1)).squeeze(-1)  # (T,)
        out.append(picked - torch.logsumexp(z, dim=-1))  # (T,) log softmax at the token
    if not out:
        return logits.new_zeros(tokens.shape, dtype=dtype)  # (0, T)
    return torch.stack(out)  # (B, T)


def entropy_from_logits(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Entropy H(pi(. | context)) of the next-token distribution at every position.

    ``H = logsumexp(z) - sum_v softmax(z)_v * z_v`` with ``z = logits / T`` (item 22).

    Args:
        logits: (B, T, V).
        temperature: > 0.

    Returns:
        (B, T) entropies in nats, fp32 (fp64 if ``logits`` is fp64).
    """
    check_ndim("logits", logits, 3, "(B, T, V)")
    check_positive("temperature", temperature)
    dtype = _rows_fp32(logits)
    out = []
    for row_logits in logits:  # (T, V) per row, as above
        z = row_logits.to(dtype) / temperature  # (T, V), item 22
        lse = torch.logsumexp(z, dim=-1)  # (T,)
        p = torch.softmax(z, dim=-1)  # (T, V)
        pz = torch.where(p > 0, p * z, torch.zeros((), dtype=dtype, device=z.device))  # (T, V); 0*-inf -> 0
        out.append(lse - pz.sum(dim=-1))  # (T,)
    if not out:
        return logits.new_zeros(logits.shape[:2], dtype=dtype)  # (0, T)
    return torch.stack(out)  # (B, T)
