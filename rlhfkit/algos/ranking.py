"""Reward-model losses and metrics over K ranked completions per prompt (RLHF_DETAILS items 6, 9, 11).

Ranks layout: ``ranks[b, k]`` is completion k's rank for prompt b; 0 = best, equal ranks = tie
(no pair formed, item 7 "ties dropped"), -1 = absent (prompts with fewer than K completions).
A pair (i, j) is formed when both are present and ranks[i] < ranks[j]: i is the winner y_w.
"""

import torch
import torch.nn.functional as F

from rlhfkit.algos._validation import check_ndim, check_same_shape


def _check_scores_ranks(scores: torch.Tensor, ranks: torch.Tensor) -> None:
    check_ndim("scores", scores, 2, "(B, K)")
    check_same_shape(scores=scores, ranks=ranks)
    if ranks.dtype.is_floating_point or ranks.dtype == torch.bool:
        raise ValueError(f"ranks must be an integer tensor (0 = best, -1 = absent), got dtype {ranks.dtype}")
    if ranks.numel() > 0 and bool(ranks.min() < -1):
        raise ValueError(f"ranks must be >= 0, or -1 for an absent completion; got min {int(ranks.min())}")


def pair_mask(ranks: torch.Tensor) -> torch.Tensor:
    """Which ordered pairs (i, j) are comparisons with i preferred over j.

    Args:
        ranks: (B, K) integer ranks (0 = best, ties equal, -1 absent).

    Returns:
        (B, K, K) bool, True where both present and ranks[b, i] < ranks[b, j].
    """
    present = ranks >= 0  # (B, K)
    both = present.unsqueeze(2) & present.unsqueeze(1)  # (B, K, K)
    better = ranks.unsqueeze(2) < ranks.unsqueeze(1)  # (B, K, K) i ranked above j; ties -> False (item 7)
    return both & better  # (B, K, K)


def _pair_diffs(scores: torch.Tensor) -> torch.Tensor:
    """s_i - s_j for all (i, j): (B, K) -> (B, K, K)."""
    return scores.unsqueeze(2) - scores.unsqueeze(1)  # (B, K, K)


def ranking_loss(scores: torch.Tensor, ranks: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Pairwise (Bradley-Terry) RM loss with every pair of a prompt in ONE batch element.

    RLHF_DETAILS item 6 / IG eq. 1: loss(prompt) = -1/C(K,2) * sum_pairs log sigmoid(r_w - r_l);
    here the sum is divided by the prompt's own number of pairs (== C(K,2) without ties or absent
    completions), each completion is scored once (item 6), and ``margin`` is subtracted inside
    the sigmoid (Llama 2's margin loss). The batch loss is the mean over prompts with >= 1 pair,
    so every prompt weighs the same whatever its number of pairs.

    Args:
        scores: (B, K) float RM scores, one per completion.
        ranks: (B, K) int ranks: 0 best, equal = tie (no pair), -1 absent.
        margin: m >= 0 in -log sigmoid(s_w - s_l - m).

    Returns:
        0-dim loss. ValueError if no prompt of the batch has a pair.
    """
    _check_scores_ranks(scores, ranks)
    pairs = pair_mask(ranks)  # (B, K, K)
    per_pair = -F.logsigmoid(_pair_diffs(scores) - margin)  # (B, K, K) item 6: -log sigmoid(r_w - r_l [- m])
    zero = torch.zeros((), dtype=per_pair.dtype, device=per_pair.device)
    per_pair = torch.where(pairs, per_pair, zero)  # (B, K, K)
    n_pairs = pairs.sum(dim=(1, 2))  # (B,)
    has_pairs = n_pairs > 0  # (B,)
    if not bool(has_pairs.any()):
        raise ValueError(
            "ranking_loss: no prompt in the batch has a comparable pair (all ties or < 2 present completions)"
        )
    per_prompt = per_pair.sum(dim=(1, 2)) / n_pairs.clamp(min=1).to(per_pair.dtype)  # (B,) item 6: 1/#pairs * sum
    return per_prompt[has_pairs].mean()  # () mean over prompts with >= 1 pair


def ranking_accuracy(scores: torch.Tensor, ranks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Counts of correctly ordered pairs (s_w > s_l strictly; equal scores count as wrong).

    Args:
        scores: (B, K) RM scores.
        ranks: (B, K) int ranks as in ``ranking_loss``.

    Returns:
        (correct_pairs, total_pairs): 0-dim int64 tensors, pooled over the batch (sum across
        batches/ranks, then divide).
    """
    _check_scores_ranks(scores, ranks)
    pairs = pair_mask(ranks)  # (B, K, K)
    correct = pairs & (_pair_diffs(scores) > 0)  # (B, K, K)
    return correct.sum(), pairs.sum()


def pairwise_margin(scores: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
    """Mean of s_w - s_l over all valid pairs of the batch (pooled).

    Args:
        scores: (B, K) RM scores.
        ranks: (B, K) int ranks as in ``ranking_loss``.

    Returns:
        0-dim tensor. ValueError if the batch has no pair.
    """
    _check_scores_ranks(scores, ranks)
    pairs = pair_mask(ranks)  # (B, K, K)
    n = pairs.sum()
    if not bool(n > 0):
        raise ValueError("pairwise_margin: the batch has no comparable pair")
    zero = torch.zeros((), dtype=scores.dtype, device=scores.device)
    diffs = torch.where(pairs, _pair_diffs(scores), zero)  # (B, K, K)
    return diffs.sum() / n.to(diffs.dtype)  # ()


def best_of_k_loss(scores: torch.Tensor, best_index: torch.Tensor) -> torch.Tensor:
    """LHP's K-way loss: softmax cross-entropy of the labeler's pick among K samples (RLHF_DETAILS item 11).

    Args:
        scores: (B, K) RM scores used as logits.
        best_index: (B,) int index in [0, K) of the chosen completion.

    Returns:
        0-dim mean cross-entropy.
    """
    check_ndim("scores", scores, 2, "(B, K)")
    check_ndim("best_index", best_index, 1, "(B,)")
    if best_index.shape[0] != scores.shape[0]:
        raise ValueError(
            f"best_index (B,)={tuple(best_index.shape)} and scores (B, K)={tuple(scores.shape)} disagree on B"
        )
    if best_index.dtype.is_floating_point or best_index.dtype == torch.bool:
        raise ValueError(f"best_index must be an integer tensor, got dtype {best_index.dtype}")
    k = scores.shape[1]
    if best_index.numel() > 0 and (bool(best_index.min() < 0) or bool(best_index.max() >= k)):
        raise ValueError(f"best_index must lie in [0, {k}) (K of scores)")
    return F.cross_entropy(scores, best_index.long())  # () item 11: -log softmax(scores)[best]


def reward_bias(demonstration_scores: torch.Tensor) -> torch.Tensor:
    """Bias to SUBTRACT from RM outputs so the demonstrations score mean 0 (RLHF_DETAILS item 9).

    N+: bias = mean RM(prompt, reference response) over the SFT data; use ``r - bias``.

    Args:
        demonstration_scores: (N,) RM scores of the reference/demonstration responses.

    Returns:
        0-dim tensor (the mean).
    """
    check_ndim("demonstration_scores", demonstration_scores, 1, "(N,)")
    if demonstration_scores.numel() == 0:
        raise ValueError("reward_bias: demonstration_scores is empty")
    return demonstration_scores.mean()  # () item 9


def gain_and_bias(
    scores: torch.Tensor,
    target_mean: float = 0.0,
    target_std: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """LHP's reward normalisation: gain, bias with gain * s + bias ~ (target_mean, target_std) (item 9).

    gain = target_std / std(s), bias = target_mean - gain * mean(s), population std (item 37);
    LHP fits them on samples of the reference policy.

    Args:
        scores: (N,) RM scores of reference-policy samples.
        target_mean: desired mean of the normalised reward.
        target_std: desired std (> 0).

    Returns:
        (gain, bias): 0-dim tensors; apply as ``gain * r + bias``. ValueError if std(s) == 0.
    """
    check_ndim("scores", scores, 1, "(N,)")
    if scores.numel() == 0:
        raise ValueError("gain_and_bias: scores is empty")
    if not target_std > 0:
        raise ValueError(f"target_std must be > 0, got {target_std}")
    mean = scores.mean()  # ()
    std = scores.std(correction=0)  # () population, item 37
    if not bool(std > 0):
        raise ValueError("gain_and_bias: scores have zero variance; the gain is undefined")
    gain = target_std / std  # () item 9 (LHP variant)
    bias = target_mean - gain * mean  # ()
    return gain, bias
