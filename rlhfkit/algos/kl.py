"""Per-token KL(pi || pi_ref) estimators from sampled-token logprobs (joschu.net/blog/kl-approx.html).

With samples y ~ pi, logp = log pi(y), logq = log pi_ref(y), log r = logq - logp:
    k1  = logp - logq = -log r                (unbiased, high variance, can be < 0; item 15 uses it)
    k2  = 0.5 * (logp - logq)^2               (biased, low variance, >= 0)
    k3  = (r - 1) - log r                     (unbiased, low variance, >= 0)
    abs = |logp - logq|                       (TRL's "abs" option, >= 0)
A negative mean k1 is a symptom of sampling != pi (RLHF_DETAILS item 34).
"""

import torch

from rlhfkit.algos._validation import check_same_shape

KL_ESTIMATORS: tuple[str, ...] = ("k1", "k2", "k3", "abs")


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Elementwise KL estimate per token; no masking (see ``shape_rewards`` for that).

    Args:
        logprobs: (B, T) log pi(y_t) of the sampled tokens under the policy.
        ref_logprobs: (B, T) log pi_ref(y_t) under the reference (SFT) model.
        estimator: one of ``KL_ESTIMATORS`` ("k1", "k2", "k3", "abs").

    Returns:
        (B, T) per-token estimates.
    """
    check_same_shape(logprobs=logprobs, ref_logprobs=ref_logprobs)
    log_ratio = logprobs - ref_logprobs  # (B, T) logp - logq
    if estimator == "k1":
        return log_ratio  # (B, T) joschu.net/blog/kl-approx.html k1; RLHF_DETAILS item 15
    if estimator == "k2":
        return 0.5 * log_ratio**2  # (B, T) kl-approx k2
    if estimator == "k3":
        log_r = -log_ratio  # (B, T) log r = logq - logp
        return torch.expm1(log_r) - log_r  # (B, T) kl-approx k3: (r - 1) - log r; expm1 for accuracy near 0
    if estimator == "abs":
        return log_ratio.abs()  # (B, T)
    raise ValueError(f"unknown KL estimator {estimator!r}; valid: {', '.join(KL_ESTIMATORS)}")
