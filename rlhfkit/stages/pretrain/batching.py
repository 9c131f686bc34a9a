"""Pretraining batches: plain texts as SFT examples with an empty prompt, a random validation
split (text has no user), and length-bucketed batches (less padding, the same examples each epoch)."""

from __future__ import annotations

import math
import random

from omegaconf import DictConfig
from torch.utils.data import DataLoader, Sampler

from rlhfkit.data import SFTExample
from rlhfkit.errors import ConfigError
from rlhfkit.plugins import PluginManager
from rlhfkit.plugins.config_specs import select
from rlhfkit.stages.data_sources import load_split
from rlhfkit.stages.lifecycle import make_loader


class LengthBuckets(Sampler):
    """Batches of similar length (less padding, the same examples each epoch): each epoch the
    indices are shuffled (seed + epoch), cut into chunks of ``chunk_batches`` batches, sorted by
    length inside a chunk, batched, and the batches shuffled.

    The epoch is the one Lightning sets (``set_epoch``), so a resumed run draws the same batches
    as the uninterrupted one; without ``set_epoch`` each iteration is the next epoch.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int = 0, chunk_batches: int = 50) -> None:
        self.lengths, self.batch_size, self.seed, self.chunk = lengths, batch_size, seed, chunk_batches * batch_size
        self.epoch, self._epoch_was_set = 0, False

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self._epoch_was_set = int(epoch), True

    def __iter__(self):
        rng = random.Random(self.seed + self.epoch)
        if not self._epoch_was_set:
            self.epoch += 1
        self._epoch_was_set = False
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        batches = []
        for start in range(0, len(order), self.chunk):
            chunk = sorted(order[start:start + self.chunk], key=lambda i: self.lengths[i])
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(batches)
        return iter(batches)

    def __len__(self) -> int:
        return sum(math.ceil(min(self.chunk, len(self.lengths) - s) / self.batch_size)
                   for s in range(0, len(self.lengths), self.chunk))


def as_lm_examples(texts: list) -> list[SFTExample]:
    """TextExamples -> SFTExamples with an empty prompt (the whole text is trained on)."""
    return [SFTExample("", t.text, t.origin) for t in texts]


def text_train_valid(cfg: DictConfig, plugins: PluginManager, valid_fraction: float, seed: int,
                     counts: dict[str, float] | None = None) -> tuple[list, list]:
    """``data.pretrain.train`` and ``.valid`` (or a random ``valid_fraction`` of train); ``counts``
    gets each source's load counts (records, skipped: :func:`rlhfkit.stages.data_sources.load_counts`)."""
    train = load_split(cfg, plugins, "data.pretrain.train", "text", counts)
    if select(cfg, "data.pretrain.valid") is not None:
        return train, load_split(cfg, plugins, "data.pretrain.valid", "text", counts)
    if not 0 < valid_fraction < 1:
        raise ConfigError(f"stage.valid_fraction must be in (0, 1) when data.pretrain.valid is null, got {valid_fraction}")
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    n_valid = max(1, round(valid_fraction * len(train)))
    if n_valid >= len(train):
        raise ConfigError(f"data.pretrain.train: {len(train)} texts are too few to hold out {valid_fraction:.0%}")
    held = set(order[:n_valid])
    return [t for i, t in enumerate(train) if i not in held], [t for i, t in enumerate(train) if i in held]


def train_loader(train: list[SFTExample], collate, stage, seed: int) -> DataLoader:
    if not stage.bucket_by_length:
        return make_loader(train, collate, stage.batch_size, shuffle=True, num_workers=stage.num_workers, seed=seed)
    lengths = [len(e.completion.split()) for e in train]  # words: a proxy of tokens for ordering only
    return DataLoader(train, batch_sampler=LengthBuckets(lengths, stage.batch_size, seed), collate_fn=collate,
                      num_workers=stage.num_workers, persistent_workers=stage.num_workers > 0)
