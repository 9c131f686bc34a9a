"""A resumed SFT, RM or pretraining run takes the steps the uninterrupted run would have taken,
bit for bit on the CPU: the same batches in the same order, the same dropout masks.

Lightning restores weights, optimizers, schedulers and loop counters, but not the random streams:
a ``shuffle=True`` DataLoader draws each epoch's order from torch's global generator, and so does
dropout, and a resumed process starts them afresh (epoch 0's batch order, other masks). Here
every random draw of training is a function of (seed, epoch) or (seed, rank, epoch, batch) alone:

* :class:`EpochShuffle`: epoch e's order is ``randperm`` seeded with ``seed + e`` (Lightning calls
  ``set_epoch``; under DDP it swaps in its DistributedSampler, which is seeded the same way);
* :class:`BatchSeeds`: torch's generators are reseeded before every training batch from
  (seed, global rank, epoch, batch index), so its dropout does not depend on what ran before.

PPO keeps its own streams in its checkpoint (``rlhfkit.stages.ppo.streams``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sized
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import RandomSampler

def batch_seed(seed: int, rank: int, epoch: int, batch_idx: int) -> int:
    """The seed of one training batch: distinct for distinct (seed, rank, epoch, batch), < 2**63."""
    digest = hashlib.blake2b(f"{seed}/{rank}/{epoch}/{batch_idx}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class EpochShuffle(RandomSampler):
    """A permutation per epoch, seeded ``seed + epoch`` (a RandomSampler, so Lightning replaces it
    by its seeded DistributedSampler under DDP)."""

    def __init__(self, data: Sized, seed: int = 0) -> None:
        super().__init__(data)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(len(self.data_source), generator=generator).tolist())


class BatchSeeds(pl.Callback):
    """Reseeds torch (CPU and accelerators) before each training batch: see the module doc."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        torch.manual_seed(batch_seed(self.seed, trainer.global_rank, trainer.current_epoch, batch_idx))
