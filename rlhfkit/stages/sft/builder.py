"""`stage=sft`: build the SFT module and its data from the config, fit, export ``final/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

from rlhfkit.plugins import PluginManager
from rlhfkit.stages.sft import SFTModule
from rlhfkit.training.collate import SFTCollator, count_too_long, make_loader
from rlhfkit.training.common import build_trainer, final_dir, finish_loggers, train_valid
from rlhfkit.training.hygiene_step import filter_hook, filter_keys
from rlhfkit.training.resolve import as_spec, check_names
from rlhfkit.training.run_dir import save_metrics, save_resolved_config, save_versions


def optimizer_factories(cfg: DictConfig, plugins: PluginManager, key: str = "optim", **overrides: Any):
    """``(params -> Optimizer, (optimizer, total_steps) -> scheduler)`` from an ``optim`` group."""
    spec = as_spec(cfg, key)
    scheduler_spec = spec.pop("scheduler", None)
    spec.update(overrides)

    def make_optimizer(params):
        return plugins.build("optimizer", spec, key, params=params)

    if not scheduler_spec:
        return make_optimizer, None

    def make_scheduler(optimizer, total_steps: int):
        return plugins.build("lr_scheduler", scheduler_spec, f"{key}.scheduler", optimizer=optimizer, total_steps=total_steps)

    return make_optimizer, make_scheduler


def run_sft(cfg: DictConfig, plugins: PluginManager, run_dir: Path) -> dict[str, Any]:
    used = check_names(cfg, plugins, [
        ("model", "model"), ("dataset", "data.sft.train"), ("dataset", "data.sft.valid"),
        ("optimizer", "optim"), ("lr_scheduler", "optim.scheduler"), *filter_keys(cfg, "sft"),
    ])
    save_resolved_config(cfg, run_dir)
    save_versions(used, run_dir)
    pl.seed_everything(cfg.seed, workers=True)
    stage = cfg.stage

    bundle = plugins.build("model", as_spec(cfg, "model"), "model")
    hygiene: dict[str, float] = {}
    train, valid = train_valid(cfg, plugins, "sft", "sft", stage.valid_fraction,
                               prepare=filter_hook(cfg, plugins, "sft", hygiene))
    count_too_long(bundle.tokenizer, train, stage.max_length, "data.sft.train")
    collate = SFTCollator(bundle.tokenizer, stage.max_length)
    make_optimizer, make_scheduler = optimizer_factories(cfg, plugins)
    module = SFTModule(
        bundle.model, bundle.tokenizer, make_optimizer, make_scheduler, mask_prompt=stage.mask_prompt,
        sample_prompts=[e.prompt for e in valid[: stage.n_samples]], max_new_tokens=stage.max_new_tokens,
        sample_every_n_epochs=stage.sample_every_n_epochs, samples_dir=str(run_dir),
    )
    trainer = build_trainer(cfg, max_epochs=stage.max_epochs, max_steps=stage.max_steps,
                            limit_train_batches=stage.limit_train_batches)
    if hygiene:
        for logger in trainer.loggers:
            logger.log_metrics(hygiene, step=0)
    trainer.fit(
        module,
        train_dataloaders=make_loader(train, collate, stage.batch_size, shuffle=True, num_workers=stage.num_workers),
        val_dataloaders=make_loader(valid, collate, stage.batch_size, shuffle=False, num_workers=stage.num_workers),
        ckpt_path=cfg.ckpt_path,
    )
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()} | hygiene
    if trainer.is_global_zero:
        bundle.save_pretrained(final_dir(run_dir))
        save_metrics(metrics, run_dir)
    finish_loggers(trainer)
    return metrics
