"""Input checks shared by the ``rlhfkit.algos`` modules (private helpers, one job: raise ValueError)."""

import torch


def check_same_shape(**tensors: torch.Tensor) -> None:
    """Raise ValueError unless every tensor given has the same shape.

    Args:
        **tensors: name -> tensor, any shape (all must match each other).
    """
    items = list(tensors.items())
    first_name, first = items[0]
    for name, t in items[1:]:
        if t.shape != first.shape:
            desc = ", ".join(f"{n}={tuple(x.shape)}" for n, x in items)
            raise ValueError(f"shape mismatch: {name} {tuple(t.shape)} vs {first_name} {tuple(first.shape)} ({desc})")


def check_ndim(name: str, t: torch.Tensor, ndim: int, layout: str) -> None:
    """Raise ValueError unless ``t.dim() == ndim``; ``layout`` names the axes, e.g. "(B, T)"."""
    if t.dim() != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {tuple(t.shape)}")


def check_positive(name: str, value: float) -> None:
    """Raise ValueError unless ``value > 0``."""
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def check_unit_interval(name: str, value: float) -> None:
    """Raise ValueError unless ``0 <= value <= 1``."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


def as_bool_mask(mask: torch.Tensor) -> torch.Tensor:
    """Return ``mask`` as a bool tensor (same shape); accepts bool or 0/1 numeric masks."""
    return mask if mask.dtype == torch.bool else mask != 0
