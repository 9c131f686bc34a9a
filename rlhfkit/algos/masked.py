"""Masked reductions over padded (B, T) tensors: sum, mean, variance, whitening, explained variance.

A mask is bool or 0/1 numeric, same shape as the data; True/1 marks a real token.
Masked-out entries never enter a result, even if they hold NaN/inf (``torch.where``, not ``x * mask``).
"""

import torch

from rlhfkit.algos._validation import as_bool_mask, check_same_shape

WHITEN_EPS = 1e-8  # RLHF_DETAILS item 19: "population variance + 1e-8" (LHP core.whiten)


def _count(mask: torch.Tensor, dtype: torch.dtype, dim: int | None = None) -> torch.Tensor:
    """Number of real entries: 0-dim if ``dim`` is None, else ``mask`` reduced over ``dim``."""
    if dim is None:
        return mask.sum().to(dtype)
    return mask.sum(dim=dim).to(dtype)


def masked_sum(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Sum of ``x`` over entries where ``mask`` is set.

    Args:
        x: any shape, e.g. (B, T).
        mask: same shape as ``x``.
        dim: axis to reduce; None reduces everything.

    Returns:
        0-dim tensor if ``dim`` is None, else ``x`` with ``dim`` removed (e.g. (B,) for dim=-1).
    """
    check_same_shape(x=x, mask=mask)
    m = as_bool_mask(mask)
    xm = torch.where(m, x, torch.zeros((), dtype=x.dtype, device=x.device))  # same shape as x
    return xm.sum() if dim is None else xm.sum(dim=dim)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over entries where ``mask`` is set.

    Args:
        x: any shape, e.g. (B, T).
        mask: same shape as ``x``.
        dim: axis to reduce; None reduces everything (then an all-zero mask raises ValueError).
            With ``dim`` given, a slice with no real entry gets mean 0.

    Returns:
        0-dim tensor if ``dim`` is None, else ``x`` with ``dim`` removed.
    """
    check_same_shape(x=x, mask=mask)
    m = as_bool_mask(mask)
    total = masked_sum(x, m, dim=dim)
    count = _count(m, total.dtype, dim)
    if dim is None:
        if not bool(count > 0):
            raise ValueError("masked_mean: mask has no real (non-zero) entry; the mean is undefined")
        return total / count
    return total / count.clamp(min=1.0)  # empty slice -> 0 / 1 = 0


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = False) -> torch.Tensor:
    """Variance of ``x`` over all entries where ``mask`` is set (one number for the whole tensor).

    Population variance by default: RLHF_DETAILS item 37 ("Variance: population (unbiased=False)").

    Args:
        x: any shape, e.g. (B, T).
        mask: same shape as ``x``.
        unbiased: divide by n-1 instead of n (needs n >= 2 real entries).

    Returns:
        0-dim tensor.
    """
    check_same_shape(x=x, mask=mask)
    m = as_bool_mask(mask)
    mean = masked_mean(x, m)  # () ; raises on an empty mask
    var = masked_mean((x - mean) ** 2, m)  # () population variance, item 37
    if unbiased:
        n = _count(m, var.dtype)
        if not bool(n > 1):
            raise ValueError("masked_var(unbiased=True) needs at least 2 real entries")
        var = var * n / (n - 1)  # Bessel's correction
    return var


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Normalise ``x`` over its real entries (RLHF_DETAILS item 19; LHP ``core.whiten``).

    ``(x - mean) * rsqrt(var + 1e-8)`` with the masked population variance (item 37); with
    ``shift_mean=False`` the mean is added back (LHP's reward whitening: "rewards divided by std,
    mean kept"), so the result has the original mean and variance 1. Item 19 warns the statistics
    are noisy below a minibatch of 8.

    Args:
        x: any shape, e.g. advantages or rewards (B, T).
        mask: same shape as ``x``.
        shift_mean: True -> mean 0, var 1 (advantages); False -> mean kept, var 1 (rewards).

    Returns:
        Same shape as ``x``; masked-out entries are 0.
    """
    check_same_shape(x=x, mask=mask)
    m = as_bool_mask(mask)
    mean = masked_mean(x, m)  # ()
    var = masked_var(x, m, unbiased=False)  # () population, item 37
    out = (x - mean) * torch.rsqrt(var + WHITEN_EPS)  # item 19: population var + 1e-8 inside the rsqrt
    if not shift_mean:
        out = out + mean  # LHP whiten(shift_mean=False): keep the mean
    return torch.where(m, out, torch.zeros((), dtype=out.dtype, device=out.device))  # same shape as x


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fraction of the variance of the returns explained by the value predictions.

    ``1 - Var[R - V] / Var[R]`` over real entries (population variances, item 37). 1 is perfect,
    0 is no better than a constant, negative is worse. NaN if ``Var[R] == 0``.

    Args:
        values: V, shape (B, T).
        returns: R, same shape.
        mask: same shape.

    Returns:
        0-dim tensor.
    """
    check_same_shape(values=values, returns=returns, mask=mask)
    var_r = masked_var(returns, mask)  # ()
    var_resid = masked_var(returns - values, mask)  # ()
    ev = 1.0 - var_resid / var_r.clamp(min=torch.finfo(var_r.dtype).tiny)  # ()
    return torch.where(var_r > 0, ev, torch.full_like(ev, float("nan")))  # () undefined when Var[R] = 0
