"""Optimizer and LR-schedule factories behind the ``optimizer`` and ``lr_scheduler`` plugin kinds."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR
from rlhfkit.errors import ConfigError


def make_adamw(params: Iterable, lr: float, betas: tuple[float, float] = (0.9, 0.95), eps: float = 1e-8, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """AdamW; IG's betas (0.9, 0.95) by default (RLHF_DETAILS item 2)."""
    return torch.optim.AdamW(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)


def make_adam(params: Iterable, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-5, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam; LHP's eps 1e-5 by default (item 17; item 36 on TF vs PyTorch eps)."""
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)


def make_sgd(params: Iterable, lr: float, momentum: float = 0.0) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum)


def _warmup(step: int, warmup_steps: int) -> float:
    return (step + 1) / warmup_steps if step < warmup_steps else 1.0


def lr_multiplier(kind: str, step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """The factor on the peak LR at ``step`` (0-based) of ``total_steps``."""
    if step < warmup_steps:
        return _warmup(step, warmup_steps)
    if kind == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if kind == "cosine":
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if kind == "linear":
        return 1.0 - (1.0 - min_ratio) * progress
    raise ValueError(f"unknown schedule '{kind}'")


def _schedule(kind: str, default_min_ratio: float) -> Callable[..., LambdaLR]:
    def factory(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0, min_ratio: float = default_min_ratio) -> LambdaLR:
        if total_steps < 1:
            raise ConfigError(f"lr_scheduler: total_steps must be >= 1, got {total_steps}")
        return LambdaLR(optimizer, lambda step: lr_multiplier(kind, step, total_steps, warmup_steps, min_ratio))

    factory.__name__ = f"{kind}_schedule"
    factory.__doc__ = f"{kind} LR schedule with linear warm-up."
    return factory


# cosine to 10% of peak: IG SFT and RM (items 1 and 7); linear to 0: LHP PPO (item 17);
# constant after warm-up: IG PPO (item 14).
SCHEDULES: dict[str, Callable[..., LambdaLR]] = {
    "constant": _schedule("constant", 1.0),
    "cosine": _schedule("cosine", 0.1),
    "linear": _schedule("linear", 0.0),
}


def lightning_optimizers(params: Iterable, make_optimizer: Callable, lr: float, make_scheduler: Callable | None,
                         total_steps: int):
    """What ``configure_optimizers`` returns for a stage with one optimizer (``make_optimizer(params, lr)``)
    stepped per batch and an optional per-step LR schedule over ``total_steps`` (the trainer's
    estimated stepping batches)."""
    optimizer = make_optimizer(params, lr)
    if make_scheduler is None:
        return optimizer
    scheduler = make_scheduler(optimizer, total_steps)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
