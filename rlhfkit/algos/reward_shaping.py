"""Per-token rewards for PPO: KL shaping plus the RM score at the end of the response.

RLHF_DETAILS items 15 and 21 (LHP ``compute_rewards``; IG eq. 2 with beta = kl_coef).
"""

import torch

from rlhfkit.algos._validation import as_bool_mask, check_ndim, check_same_shape
from rlhfkit.algos.kl import kl_penalty

EOS_PENALTY_MODES: tuple[str, ...] = ("subtract", "replace")


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token of each row.

    Args:
        mask: (B, T) bool or 0/1; a row may end early (EOS in the middle) and/or have holes.

    Returns:
        (B,) int64 indices. Raises ValueError if a row has no real token.
    """
    check_ndim("mask", mask, 2, "(B, T)")
    m = as_bool_mask(mask)
    empty = ~m.any(dim=1)  # (B,)
    if bool(empty.any()):
        rows = empty.nonzero().flatten().tolist()
        raise ValueError(f"mask rows {rows} have no real token; cannot place the score (RLHF_DETAILS item 21)")
    positions = torch.arange(1, m.shape[1] + 1, device=m.device)  # (T,) 1..T so that 0 means "masked"
    return (m.long() * positions).argmax(dim=1)  # (B,) the largest real position


def shape_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
    estimator: str = "k1",
) -> tuple[torch.Tensor, torch.Tensor]:
    """KL-shaped per-token rewards.

    RLHF_DETAILS item 15: kl_t = logp_policy(y_t) - logp_ref(y_t) (estimator "k1"),
    reward_t = -kl_coef * kl_t, and the RM score is added at the last real response token.
    Item 21: tokens after EOS do not count (KL 0 there); the score goes at the EOS position,
    i.e. the last real token when the mask includes the EOS. IG eq. 2: r(x, y) - beta * log(pi/pi_SFT).

    Args:
        scores: (B,) RM scores (after any missing-EOS penalty, see ``apply_missing_eos_penalty``).
        logprobs: (B, T) policy logprobs of the sampled tokens.
        ref_logprobs: (B, T) reference logprobs of the same tokens.
        mask: (B, T) 1 on real response tokens; each row needs at least one.
        kl_coef: beta (IG: 0.02, item 13; or ``KLController.value``).
        estimator: KL estimator name, see ``rlhfkit.algos.kl.KL_ESTIMATORS``.

    Returns:
        rewards (B, T): -kl_coef * kl_t on real tokens, 0 on masked ones, + score at the last real token;
        sequence_kl (B,): sum_t kl_t over real tokens (item 15: the KL that is logged/controlled is
        the batch mean of this).
    """
    check_ndim("logprobs", logprobs, 2, "(B, T)")
    check_same_shape(logprobs=logprobs, ref_logprobs=ref_logprobs, mask=mask)
    check_ndim("scores", scores, 1, "(B,)")
    if scores.shape[0] != logprobs.shape[0]:
        raise ValueError(f"scores (B,)={tuple(scores.shape)} and logprobs (B, T)={tuple(logprobs.shape)} disagree on B")
    m = as_bool_mask(mask)
    last = last_token_index(m)  # (B,) raises on empty rows
    kl = kl_penalty(logprobs, ref_logprobs, estimator)  # (B, T) item 15
    kl = torch.where(m, kl, torch.zeros((), dtype=kl.dtype, device=kl.device))  # (B, T) item 21: KL 0 after EOS
    rewards = -kl_coef * kl  # (B, T) item 15: reward_t = -beta * kl_t
    rows = torch.arange(rewards.shape[0], device=rewards.device)  # (B,)
    # (B, T) items 15, 21: + score at the last real token (the EOS when the mask includes it)
    rewards = rewards.index_put((rows, last), scores.to(rewards.dtype), accumulate=True)
    sequence_kl = kl.sum(dim=1)  # (B,) item 15: sum_t kl_t
    return rewards, sequence_kl


def apply_missing_eos_penalty(
    scores: torch.Tensor,
    has_eos: torch.Tensor,
    penalty: float,
    mode: str,
) -> torch.Tensor:
    """Penalise responses that never produced EOS (RLHF_DETAILS item 21).

    Args:
        scores: (B,) RM scores.
        has_eos: (B,) bool, True where the response contains an EOS.
        penalty: "replace": the score given to EOS-less responses (LHP: -1);
            "subtract": the amount subtracted from their score (TRL ``missing_eos_penalty``).
        mode: one of ``EOS_PENALTY_MODES``.

    Returns:
        (B,) new scores (a new tensor; rows with EOS unchanged).
    """
    check_ndim("scores", scores, 1, "(B,)")
    check_same_shape(scores=scores, has_eos=has_eos)
    if has_eos.dtype != torch.bool:
        raise ValueError(f"has_eos must be a bool tensor, got dtype {has_eos.dtype}")
    if mode == "replace":
        penalised = torch.full_like(scores, penalty)  # (B,) LHP: score replaced by a fixed value
    elif mode == "subtract":
        penalised = scores - penalty  # (B,) TRL: score - missing_eos_penalty
    else:
        raise ValueError(f"unknown missing-EOS penalty mode {mode!r}; valid: {', '.join(EOS_PENALTY_MODES)}")
    return torch.where(has_eos, scores, penalised)  # (B,)
