"""`stage=pretrain`: a causal LM trained from scratch on plain text (the base model of the recipe).

The SFT module does the work: each text is a completion with an empty prompt, so the loss covers
every token after the first, and the EOS that ends the document (RLHF_DETAILS item 4's
"prompt + response" variant with no prompt). Data: ``data.pretrain.train`` (kind "text") and
``data.pretrain.valid`` (or ``stage.valid_fraction`` of train, split at random: text has no user).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlhfkit.plugins import PluginManager
from rlhfkit.stages.lifecycle import StageRun, log_to_trainer, make_loader, trainer_metrics
from rlhfkit.stages.pretrain.batching import as_lm_examples, text_train_valid, train_loader
from rlhfkit.stages.pretrain.config import PretrainConfig
from rlhfkit.stages.sft.batching import SFTCollator, truncation_counts
from rlhfkit.stages.sft.config import SFTConfig
from rlhfkit.stages.sft.module import SFTModule
from rlhfkit.stages.typed_config import from_node


def as_sft_config(stage: PretrainConfig) -> SFTConfig:
    """Pretraining is SFT with an empty prompt: the SFT module's settings from the pretrain stage's."""
    return SFTConfig(lr=stage.lr, lr_scheduler=stage.lr_scheduler, mask_prompt=True, max_length=stage.max_length,
                     batch_size=stage.batch_size, max_epochs=stage.max_epochs, max_steps=stage.max_steps,
                     sample_every_n_epochs=stage.sample_every_n_epochs, n_samples=stage.n_samples,
                     max_new_tokens=stage.max_new_tokens)


def run_pretrain(cfg: DictConfig, plugins: PluginManager, run_dir: Path) -> dict[str, Any]:
    run = StageRun.start(cfg, plugins, run_dir, [
        ("model", "model"), ("dataset", "data.pretrain.train"), ("dataset", "data.pretrain.valid"),
        ("optimizer", "optim"), ("lr_scheduler", "stage.lr_scheduler"),
    ])
    stage = from_node(PretrainConfig, cfg.stage)
    bundle = run.build("model", "model")
    counts: dict[str, float] = {}  # load and truncation counts: logged and in metrics.json
    texts_train, texts_valid = text_train_valid(cfg, plugins, stage.valid_fraction, cfg.seed, counts)
    if stage.valid_limit is not None:
        texts_valid = texts_valid[: int(stage.valid_limit)]
    train, valid = as_lm_examples(texts_train), as_lm_examples(texts_valid)
    counts |= truncation_counts(bundle.tokenizer, {"train": train, "valid": valid}, stage.max_length, "pretrain")
    collate = SFTCollator(bundle.tokenizer, stage.max_length)
    # samples: the model continues the first words of validation documents
    starts = [" ".join(e.completion.split()[: stage.sample_prefix_words]) for e in valid[: stage.n_samples]]
    module = SFTModule(bundle.model, bundle.tokenizer, as_sft_config(stage), *run.optimizers(),
                       sample_prompts=[s for s in starts if s], samples_dir=str(run.run_dir))
    trainer = run.trainer(max_epochs=stage.max_epochs, max_steps=stage.max_steps, shard=[bundle.model],
                          limit_train_batches=stage.limit_train_batches)
    log_to_trainer(trainer, counts)
    trainer.fit(
        module,
        train_dataloaders=train_loader(train, collate, stage, cfg.seed),
        val_dataloaders=make_loader(valid, collate, stage.batch_size, shuffle=False, num_workers=stage.num_workers),
        ckpt_path=run.ckpt_path,
    )
    metrics = trainer_metrics(trainer) | counts | {"data/pretrain/train_texts": float(len(train)),
                                                   "data/pretrain/valid_texts": float(len(valid))}
    return run.finish(trainer, metrics, bundle.save_pretrained, [bundle.model])
