"""Best-of-n sampling against a reward model: the choice and its KL (RLHF_DETAILS item 33).

Best-of-n draws n samples from the initial policy and keeps the one the RM scores highest; it is
the cheap baseline beside PPO (Gao et al. 2022, arXiv 2210.10760; AlpacaFarm's table, arXiv
2305.14387) and the second curve of the over-optimisation plot.
"""

import math

import torch

from rlhfkit.algos._validation import check_ndim


def best_of_n_kl(n: int) -> float:
    """KL(best-of-n || pi) = log n - (n - 1) / n nats (arXiv 2210.10760 sec. 2; Stiennon et al. 2020
    appendix). An upper bound on the true KL (item 33): it is exact only when no two samples tie."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return math.log(n) - (n - 1) / n


def best_of_n_index(scores: torch.Tensor, n: int) -> torch.Tensor:
    """(P, N) RM scores of N >= n samples per prompt -> (P,) index of the best among the first n
    (the first of equal scores), so the n-sample choices of one draw are nested as n grows."""
    check_ndim("scores", scores, 2, "(P, N)")
    if not 1 <= n <= scores.shape[1]:
        raise ValueError(f"n must be in [1, {scores.shape[1]}], got {n}")
    return scores[:, :n].argmax(dim=1)  # (P,)
