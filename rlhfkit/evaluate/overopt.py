"""Over-optimisation of the reward model (Gao et al. 2022; RLHF_DETAILS items 31-33).

During PPO, :class:`PolicySnapshots` saves the policy every ``every`` iterations. Each snapshot
is then sampled on held-out prompts and scored three ways: the proxy RM's score, the "gold"
score (the held-out labelers' noise-free utility) and d = sqrt(KL(pi || pi_init)) estimated on
the samples. Gao et al. fit the gold score of RL policies as R(d) = d (alpha - beta log d)
(item 32), measured from the initial policy's score: :func:`fit_gao_rl`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch


class PolicySnapshots(pl.Callback):
    """Saves ``pl_module.policy`` (with ``pl_module.tokenizer``) as ``<dir>/iter<NNNNNN>/`` after
    every ``every``-th PPO iteration (``pl_module.iteration``); ``every = 0`` saves nothing.
    Modules without a ``policy`` (SFT, RM) are ignored."""

    def __init__(self, dir: str, every: int = 0) -> None:
        self.dir, self.every = Path(dir), int(every)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        policy = getattr(pl_module, "policy", None)
        iteration = getattr(pl_module, "iteration", None)
        if not self.every or policy is None or iteration is None or not trainer.is_global_zero:
            return
        if iteration % self.every == 0:
            path = self.dir / f"iter{iteration:06d}"
            policy.save_pretrained(path, safe_serialization=True)
            tokenizer = getattr(pl_module, "tokenizer", None)
            if tokenizer is not None:
                tokenizer.save_pretrained(path)


def snapshot_dirs(root: str | Path) -> list[tuple[int, Path]]:
    """(iteration, directory) of the snapshots under ``root``, in iteration order."""
    root = Path(root)
    if not root.exists():
        return []
    out = [(int(p.name[4:]), p) for p in root.iterdir() if p.is_dir() and p.name.startswith("iter")]
    return sorted(out)


def sqrt_kl(kl: float) -> float:
    """d = sqrt(KL) with small negative estimates (sampling noise) clipped to 0."""
    return math.sqrt(max(kl, 0.0))


def fit_gao_rl(d: Sequence[float], r: Sequence[float]) -> dict[str, float]:
    """Least-squares fit of R(d) = d (alpha - beta log d) (Gao et al. eq. for RL, item 32).

    ``r`` is the gold score relative to the initial policy (R(0) = 0). The model is linear in
    (alpha, beta): R = alpha * d - beta * d log d. Points with d <= 0 carry no information
    (both features vanish) and are dropped. Returns ``{alpha, beta, rmse, n}`` (NaN when fewer
    than 2 points remain).
    """
    pts = [(x, y) for x, y in zip(d, r, strict=True) if x > 0]
    if len(pts) < 2:
        return {"alpha": math.nan, "beta": math.nan, "rmse": math.nan, "n": float(len(pts))}
    x = torch.tensor([p[0] for p in pts], dtype=torch.float64)  # (n,)
    y = torch.tensor([p[1] for p in pts], dtype=torch.float64)  # (n,)
    features = torch.stack([x, -x * torch.log(x)], dim=1)  # (n, 2): R = alpha * d + beta * (-d log d)
    solution = torch.linalg.lstsq(features, y[:, None]).solution.squeeze(1)  # (2,)
    rmse = float(torch.sqrt(((features @ solution - y) ** 2).mean()))
    return {"alpha": float(solution[0]), "beta": float(solution[1]), "rmse": rmse, "n": float(len(pts))}


def gao_rl_curve(d: float, alpha: float, beta: float) -> float:
    """R(d) = d (alpha - beta log d); R(0) = 0."""
    return 0.0 if d <= 0 else d * (alpha - beta * math.log(d))


def fit_gao_bon(d: Sequence[float], r: Sequence[float]) -> dict[str, float]:
    """Least-squares fit of Gao et al.'s best-of-n form R(d) = d (alpha - beta d) (arXiv
    2210.10760 eq. 1), ``r`` relative to n = 1; d <= 0 dropped. ``{alpha, beta, rmse, n, d_max}``."""
    pts = [(x, y) for x, y in zip(d, r, strict=True) if x > 0]
    if len(pts) < 2:
        return {"alpha": math.nan, "beta": math.nan, "rmse": math.nan, "n": float(len(pts)), "d_max": math.nan}
    x = torch.tensor([p[0] for p in pts], dtype=torch.float64)  # (n,)
    y = torch.tensor([p[1] for p in pts], dtype=torch.float64)  # (n,)
    features = torch.stack([x, -x * x], dim=1)  # (n, 2): R = alpha * d + beta * (-d^2)
    solution = torch.linalg.lstsq(features, y[:, None]).solution.squeeze(1)  # (2,)
    rmse = float(torch.sqrt(((features @ solution - y) ** 2).mean()))
    return {"alpha": float(solution[0]), "beta": float(solution[1]), "rmse": rmse, "n": float(len(pts)),
            "d_max": float(x.max())}


def gao_bon_curve(d: float, alpha: float, beta: float) -> float:
    """R(d) = d (alpha - beta d)."""
    return d * (alpha - beta * d)
