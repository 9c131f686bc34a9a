"""Masked statistics over a batch split across data-parallel ranks.

Pure torch: the caller passes ``all_reduce``, a function that sums a tensor over all ranks and
returns the sum (``None``: one process). With it, every rank gets the statistics of the whole
global batch, so advantage whitening (RLHF_DETAILS item 19) and the logged numbers do not depend
on how the batch was split (issue: "advantage whitening and logged statistics are computed over
all ranks"). The variance is the population one (item 37), computed in two passes (mean first)
for accuracy.
"""

from collections.abc import Callable

import torch

from rlhfkit.algos._validation import as_bool_mask, check_same_shape
from rlhfkit.algos.masked import WHITEN_EPS, masked_sum

AllReduce = Callable[[torch.Tensor], torch.Tensor]


def _reduce(t: torch.Tensor, all_reduce: AllReduce | None) -> torch.Tensor:
    return t if all_reduce is None else all_reduce(t)


def global_masked_mean(x: torch.Tensor, mask: torch.Tensor, all_reduce: AllReduce | None = None) -> torch.Tensor:
    """Mean of ``x`` over the real entries of every rank.

    Args:
        x: this rank's values, any shape (e.g. (B, T)).
        mask: same shape; 1/True on real entries.
        all_reduce: sums a tensor over ranks; None for a single process.

    Returns:
        0-dim tensor, the same on every rank. ValueError if no rank has a real entry.
    """
    check_same_shape(x=x, mask=mask)
    m = as_bool_mask(mask)
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    local = torch.stack([masked_sum(x.to(dtype), m), m.sum().to(dtype)])  # (2,) sum, count
    total, count = _reduce(local, all_reduce).unbind()  # () each: global sum and count
    if not bool(count > 0):
        raise ValueError("global_masked_mean: no rank has a real (non-zero) mask entry")
    return total / count


def global_masked_var(x: torch.Tensor, mask: torch.Tensor, all_reduce: AllReduce | None = None) -> torch.Tensor:
    """Population variance (item 37) of ``x`` over the real entries of every rank; 0-dim."""
    m = as_bool_mask(mask)
    mean = global_masked_mean(x, m, all_reduce)  # () global mean
    return global_masked_mean((x - mean) ** 2, m, all_reduce)  # () population variance, second pass


def global_whiten(
    x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, all_reduce: AllReduce | None = None
) -> torch.Tensor:
    """:func:`rlhfkit.algos.whiten` with the mean and variance of the global batch (item 19).

    ``(x - mean) * rsqrt(var + 1e-8)``; ``shift_mean=False`` adds the mean back (scale-only
    reward whitening, items 17 and 19). With ``all_reduce=None`` it equals ``whiten``.

    Args:
        x: this rank's values, e.g. advantages (B, T).
        mask: same shape.
        shift_mean: True -> mean 0, var 1; False -> mean kept, var 1.
        all_reduce: sums a tensor over ranks; None for a single process.

    Returns:
        Same shape as ``x``; masked-out entries are 0.
    """
    m = as_bool_mask(mask)
    mean = global_masked_mean(x, m, all_reduce).to(x.dtype)  # ()
    var = global_masked_var(x, m, all_reduce).to(x.dtype)  # () population, item 37
    out = (x - mean) * torch.rsqrt(var + WHITEN_EPS)  # item 19
    if not shift_mean:
        out = out + mean  # scale only: mean kept (LHP whiten(shift_mean=False))
    return torch.where(m, out, torch.zeros((), dtype=out.dtype, device=out.device))


def global_explained_variance(
    values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, all_reduce: AllReduce | None = None
) -> torch.Tensor:
    """:func:`rlhfkit.algos.explained_variance` over every rank: ``1 - Var[R - V] / Var[R]``.

    Args:
        values: (B, T) V; returns: (B, T) R; mask: (B, T).
        all_reduce: sums a tensor over ranks; None for a single process.

    Returns:
        0-dim tensor; NaN if ``Var[R] == 0`` (population variances, item 37).
    """
    check_same_shape(values=values, returns=returns, mask=mask)
    var_r = global_masked_var(returns, mask, all_reduce)  # ()
    var_resid = global_masked_var(returns - values, mask, all_reduce)  # ()
    if not bool(var_r > 0):
        return torch.full_like(var_r, float("nan"))
    return 1.0 - var_resid / var_r  # ()
