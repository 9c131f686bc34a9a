"""A run that diverges stops at the step where it does, instead of finishing with exit 0 and NaN
weights: :class:`FiniteGuard`, a callback every stage's Trainer gets (:meth:`StageRun.trainer`).

It checks the loss a step returns, the gradient norm before every optimizer step, and every weight
of every checkpoint before it is written (so no ``last.ckpt``, epoch checkpoint or snapshot is ever
non-finite); :meth:`StageRun.finish` checks the weights again before ``final/`` is exported. PPO's
manual optimization checks its own minibatch loss with :func:`check_finite`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from rlhfkit.errors import NonFiniteError


def last_good_checkpoint(run_dir: Path | None) -> str:
    """The newest checkpoint file of ``run_dir/checkpoints`` (every one written was checked), or "none"."""
    if run_dir is None:
        return "none"
    found = sorted((run_dir / "checkpoints").glob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    return str(found[-1]) if found else "none"


def check_finite(value: torch.Tensor, stage: str, step: int, quantity: str, run_dir: Path | None) -> None:
    """Raise :class:`NonFiniteError` when ``value`` holds a NaN or an infinity."""
    flat = value.detach().float().flatten()
    bad = ~torch.isfinite(flat)
    if bool(bad.any()):
        shown = float(flat[bad][0])
        raise NonFiniteError(f"stage {stage}: step {step}: the {quantity} is {shown}; the run stopped there, nothing "
                             f"non-finite was written "
                             f"(last good checkpoint: {last_good_checkpoint(run_dir)})")


def first_non_finite(tensors: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first floating tensor with a NaN or an infinity, or None."""
    for name, tensor in tensors:
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


class FiniteGuard(pl.Callback):
    """Stops a stage at the first non-finite loss, gradient norm or checkpoint weight."""

    def __init__(self, stage: str, run_dir: str | Path | None = None) -> None:
        self.stage, self.run_dir = stage, Path(run_dir) if run_dir is not None else None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, torch.Tensor):
            check_finite(loss, self.stage, trainer.global_step, "training loss", self.run_dir)

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if grads:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
            check_finite(norm, self.stage, trainer.global_step, "gradient norm", self.run_dir)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        name = first_non_finite(checkpoint.get("state_dict", {}).items())
        if name is not None:
            raise NonFiniteError(f"stage {self.stage}: step {trainer.global_step}: weight '{name}' is not finite; "
                                 f"the checkpoint was not written (last good checkpoint: "
                                 f"{last_good_checkpoint(self.run_dir)})")
