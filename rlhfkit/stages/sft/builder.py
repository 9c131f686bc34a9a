"""`stage=sft`: build the SFT module and its data from the config, fit, export ``final/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlhfkit.plugins import PluginManager
from rlhfkit.stages.data_sources import chat_template_choice, filter_hook, filter_keys, train_valid
from rlhfkit.stages.examples_preview import sft_preview, write_preview
from rlhfkit.stages.lifecycle import StageRun, fit_on_examples, log_to_trainer, trainer_metrics
from rlhfkit.stages.sft.batching import SFTCollator, truncation_counts
from rlhfkit.stages.sft.config import SFTConfig
from rlhfkit.stages.sft.module import SFTModule
from rlhfkit.stages.sft.pretrain_mix import check_source, pretrain_mix
from rlhfkit.stages.typed_config import from_node


def run_sft(cfg: DictConfig, plugins: PluginManager, run_dir: Path) -> dict[str, Any]:
    mix = cfg.stage.get("pretrain_mix") or 0  # the schema has typed it: a float
    check_source(cfg, mix)
    run = StageRun.start(cfg, plugins, run_dir, [
        ("model", "model"), ("dataset", "data.sft.train"), ("dataset", "data.sft.valid"),
        ("optimizer", "optim"), ("lr_scheduler", "stage.lr_scheduler"), *filter_keys(cfg, "sft"),
        *([("dataset", "data.pretrain.train")] if mix > 0 else []),
    ])
    stage = from_node(SFTConfig, cfg.stage)
    chat_template_choice(cfg)  # data.chat_template refused before the model loads
    bundle = run.build("model", "model")
    hygiene: dict[str, float] = {}  # load, filter and truncation counts: logged and in metrics.json
    train, valid = train_valid(cfg, plugins, "sft", "sft", stage.valid_fraction,  # rendered in the model's chat format
                               prepare=filter_hook(cfg, plugins, "sft", hygiene), counts=hygiene,
                               tokenizer=bundle.tokenizer)
    train = train + pretrain_mix(cfg, plugins, stage.pretrain_mix, len(train), cfg.seed, hygiene)  # item 3
    hygiene |= truncation_counts(bundle.tokenizer, {"train": train, "valid": valid}, stage.max_length, "sft")
    collate = SFTCollator(bundle.tokenizer, stage.max_length)
    module = SFTModule(bundle.model, bundle.tokenizer, stage, *run.optimizers(),
                       sample_prompts=[e.prompt for e in valid[: stage.n_samples]], samples_dir=str(run.run_dir))
    trainer = run.trainer(max_epochs=stage.max_epochs, max_steps=stage.max_steps, shard=[bundle.model],
                          limit_train_batches=stage.limit_train_batches)
    log_to_trainer(trainer, hygiene)
    write_preview(run.run_dir, sft_preview(bundle.tokenizer, train, collate, stage.mask_prompt), "sft", trainer.logger)
    fit_on_examples(run, trainer, module, train, valid, collate, stage)
    return run.finish(trainer, trainer_metrics(trainer) | hygiene, bundle.save_pretrained, [bundle.model])
