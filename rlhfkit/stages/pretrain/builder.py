"""`stage=pretrain`: a causal LM trained from scratch on plain text (the base model of the recipe).

The SFT module does the work: each text is a completion with an empty prompt, so the loss covers
every token after the first, and the EOS that ends the document (RLHF_DETAILS item 4's
"prompt + response" variant with no prompt). Data: ``data.pretrain.train`` (kind "text") and
``data.pretrain.valid`` (or ``stage.valid_fraction`` of train, split at random: text has no user).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Sampler

from rlhfkit.data import SFTExample
from rlhfkit.plugins import PluginManager
from rlhfkit.stages.sft import SFTModule
from rlhfkit.stages.sft_run import optimizer_factories
from rlhfkit.training.collate import SFTCollator, count_too_long, make_loader
from rlhfkit.training.common import build_trainer, final_dir, finish_loggers, load_split
from rlhfkit.training.resolve import as_spec, check_names, select
from rlhfkit.training.run_dir import save_metrics, save_resolved_config, save_versions


class LengthBuckets(Sampler):
    """Batches of similar length (less padding, the same examples each epoch): each epoch the
    indices are shuffled (seed + epoch), cut into chunks of ``chunk_batches`` batches, sorted by
    length inside a chunk, batched, and the batches shuffled."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int = 0, chunk_batches: int = 50) -> None:
        self.lengths, self.batch_size, self.seed, self.chunk = lengths, batch_size, seed, chunk_batches * batch_size
        self.epoch = 0

    def __iter__(self):
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
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


def text_train_valid(cfg: DictConfig, plugins: PluginManager, valid_fraction: float, seed: int) -> tuple[list, list]:
    train = load_split(cfg, plugins, "data.pretrain.train", "text")
    if select(cfg, "data.pretrain.valid") is not None:
        return train, load_split(cfg, plugins, "data.pretrain.valid", "text")
    if not 0 < valid_fraction < 1:
        raise ValueError(f"stage.valid_fraction must be in (0, 1) when data.pretrain.valid is null, got {valid_fraction}")
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    n_valid = max(1, round(valid_fraction * len(train)))
    if n_valid >= len(train):
        raise ValueError(f"data.pretrain.train: {len(train)} texts are too few to hold out {valid_fraction:.0%}")
    held = set(order[:n_valid])
    return [t for i, t in enumerate(train) if i not in held], [t for i, t in enumerate(train) if i in held]


def train_loader(train: list[SFTExample], collate, stage: DictConfig, seed: int) -> DataLoader:
    if not stage.get("bucket_by_length", False):
        return make_loader(train, collate, stage.batch_size, shuffle=True, num_workers=stage.num_workers)
    lengths = [len(e.completion.split()) for e in train]  # words: a proxy of tokens for ordering only
    return DataLoader(train, batch_sampler=LengthBuckets(lengths, stage.batch_size, seed), collate_fn=collate,
                      num_workers=stage.num_workers, persistent_workers=stage.num_workers > 0)


def run_pretrain(cfg: DictConfig, plugins: PluginManager, run_dir: Path) -> dict[str, Any]:
    used = check_names(cfg, plugins, [
        ("model", "model"), ("dataset", "data.pretrain.train"), ("dataset", "data.pretrain.valid"),
        ("optimizer", "optim"), ("lr_scheduler", "optim.scheduler"),
    ])
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_resolved_config(cfg, run_dir)
    save_versions(used, run_dir)
    pl.seed_everything(cfg.seed, workers=True)
    stage = cfg.stage

    bundle = plugins.build("model", as_spec(cfg, "model"), "model")
    texts_train, texts_valid = text_train_valid(cfg, plugins, stage.valid_fraction, cfg.seed)
    if stage.valid_limit is not None:
        texts_valid = texts_valid[: int(stage.valid_limit)]
    train, valid = as_lm_examples(texts_train), as_lm_examples(texts_valid)
    count_too_long(bundle.tokenizer, train, stage.max_length, "data.pretrain.train")
    collate = SFTCollator(bundle.tokenizer, stage.max_length)
    make_optimizer, make_scheduler = optimizer_factories(cfg, plugins)
    # samples: the model continues the first words of validation documents
    starts = [" ".join(e.completion.split()[: stage.sample_prefix_words]) for e in valid[: stage.n_samples]]
    module = SFTModule(
        bundle.model, bundle.tokenizer, make_optimizer, make_scheduler, mask_prompt=True,
        sample_prompts=[s for s in starts if s], max_new_tokens=stage.max_new_tokens,
        sample_every_n_epochs=stage.sample_every_n_epochs, samples_dir=str(run_dir),
    )
    trainer = build_trainer(cfg, max_epochs=stage.max_epochs, max_steps=stage.max_steps,
                            limit_train_batches=stage.limit_train_batches)
    trainer.fit(
        module,
        train_dataloaders=train_loader(train, collate, stage, cfg.seed),
        val_dataloaders=make_loader(valid, collate, stage.batch_size, shuffle=False, num_workers=stage.num_workers),
        ckpt_path=cfg.ckpt_path,
    )
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    metrics["data/pretrain/train_texts"] = float(len(train))
    metrics["data/pretrain/valid_texts"] = float(len(valid))
    if trainer.is_global_zero:
        bundle.save_pretrained(final_dir(run_dir))
        save_metrics(metrics, run_dir)
    finish_loggers(trainer)
    return metrics
