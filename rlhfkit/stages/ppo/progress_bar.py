"""PPO's progress bar after a resume: iterations done / total with an ETA, as in a fresh run.

A PPO run is one Lightning epoch of ``total_steps`` batches (:mod:`rlhfkit.stages.ppo.streams`).
Resumed mid-epoch, Lightning skips ``on_train_epoch_start``, where its TQDM bar takes the epoch's
total, so the bar reads "n/?" with no ETA. :func:`show_resumed_total` gives the bar the total and
starts its rate count at the resumed iteration (so the ETA is from this run's speed alone).
"""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar


def show_resumed_total(trainer: pl.Trainer, done: int, total: int) -> bool:
    """Set the TQDM train bar to ``done / total`` when it has no total (a resumed epoch); whether it did."""
    callback = trainer.progress_bar_callback
    if not isinstance(callback, TQDMProgressBar) or not callback.is_enabled:
        return False
    bar = getattr(callback, "_train_progress_bar", None)
    if bar is None or bar.total not in (None, 0, float("inf")):
        return False
    bar.reset(total=total)
    bar.initial = bar.n = done
    bar.refresh()
    return True
