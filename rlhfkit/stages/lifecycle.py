"""What every stage does around its own fit, written once for all four (pretrain, SFT, RM, PPO).

    run = StageRun.start(cfg, plugins, run_dir, parts)   # names checked, config + versions saved, seeded
    bundle = run.build("model", "model")                 # a plugin part from its config key
    trainer = run.trainer(max_epochs=...)                # trainer/ + logger/ + callbacks/ groups
    trainer.fit(module, ...)
    return run.finish(trainer, metrics, export)          # final/ (+ adapter/ with LoRA) + metrics.json on rank 0
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from omegaconf import DictConfig
from torch import nn
from torch.utils.data import DataLoader

from rlhfkit.errors import ConfigError, NonFiniteError
from rlhfkit.models.bundle import ADAPTER_DIR
from rlhfkit.models.fsdp_wrap import fsdp_strategy, is_fsdp
from rlhfkit.plugins import PluginManager
from rlhfkit.plugins.config_specs import as_spec, check_names, select
from rlhfkit.stages.checkpoint_files import AtomicCheckpointIO, resolve_ckpt_path
from rlhfkit.stages.exact_resume import BatchSeeds, EpochShuffle
from rlhfkit.stages.finite_guard import FiniteGuard, first_non_finite, last_good_checkpoint
from rlhfkit.stages.run_files import mask_hydra_files, save_metrics, save_resolved_config, save_versions

log = logging.getLogger(__name__)


@dataclass
class StageRun:
    """One stage run: its config, the plugin manager and the run directory."""

    cfg: DictConfig
    plugins: PluginManager
    run_dir: Path
    ckpt_path: str | None = None  # the checked checkpoint to resume from (config key ``ckpt_path``)

    @classmethod
    def start(cls, cfg: DictConfig, plugins: PluginManager, run_dir: Path, parts: list[tuple[str, str]]) -> StageRun:
        """Check every plugin name in ``parts`` ((kind, config key) pairs) and the resume checkpoint
        before anything is built, write ``resolved_config.yaml`` and ``versions.json``, and seed
        every generator."""
        mask_hydra_files(Path(run_dir))  # first: Hydra's own files hold the overrides verbatim, secrets too
        used = check_names(cfg, plugins, parts)
        run_dir = Path(run_dir)
        ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_resolved_config(cfg, run_dir)
        save_versions(used, run_dir)
        pl.seed_everything(cfg.seed, workers=True)
        return cls(cfg, plugins, run_dir, ckpt_path)

    @property
    def final_dir(self) -> Path:
        return self.run_dir / "final"

    @property
    def adapter_dir(self) -> Path:
        """Where a LoRA run's adapter alone goes (``final/`` holds the merged model):
        :meth:`rlhfkit.models.ModelBundle.save_pretrained` writes it beside ``final/``."""
        return self.run_dir / ADAPTER_DIR

    def build(self, kind: str, key: str, **kwargs: Any) -> Any:
        """The ``kind`` plugin part whose spec (name + options) is at config ``key``."""
        return self.plugins.build(kind, as_spec(self.cfg, key), key, **kwargs)

    def optimizers(self) -> tuple[Callable[..., Any], Callable[..., Any] | None]:
        """``(params, lr) -> Optimizer`` from ``optim/`` (the optimizer kind, betas, eps, weight decay)
        and ``(optimizer, total_steps) -> LR scheduler`` from ``stage.lr_scheduler`` (None when null).

        One convention for every stage: the learning rates are the stage's (``stage.lr``, and
        ``stage.value_lr`` for PPO's critic), as is the schedule; ``optim/`` says which optimizer.
        """
        spec = as_spec(self.cfg, "optim")
        for misplaced in ("lr", "scheduler"):
            if misplaced in spec:
                raise ConfigError(f"config key 'optim.{misplaced}': learning rates and their schedule are the stage's "
                                  "(stage.lr, stage.lr_scheduler; PPO's critic: stage.value_lr); optim/ holds the "
                                  "optimizer kind and its betas, eps and weight decay")
        scheduler_key = "stage.lr_scheduler"
        scheduler_spec = as_spec(self.cfg, scheduler_key) if select(self.cfg, scheduler_key) else None

        def make_optimizer(params, lr: float):
            return self.plugins.build("optimizer", {**spec, "lr": lr}, "optim", params=params)

        def make_scheduler(optimizer, total_steps: int):
            return self.plugins.build("lr_scheduler", scheduler_spec, scheduler_key, optimizer=optimizer,
                                      total_steps=total_steps)

        return make_optimizer, (make_scheduler if scheduler_spec else None)

    def trainer(self, reseed_batches: bool = True, shard: Iterable[nn.Module] = (), **schedule: Any) -> pl.Trainer:
        """The Trainer of ``trainer/`` (hardware, strategy) with ``logger/`` and ``callbacks/``, plus
        the stage's schedule arguments (``max_epochs``, ``max_steps`` ...). Under FSDP, ``shard``
        (the stage's models) gives the auto-wrap policy: one unit per transformer block
        (:mod:`rlhfkit.models.fsdp_wrap`).

        Every stage's Trainer stops at a non-finite loss, gradient or weight (:class:`FiniteGuard`)
        and writes its checkpoints atomically (:class:`AtomicCheckpointIO`); ``reseed_batches``
        makes each batch's dropout a function of the seed and its position, for an exact resume
        (:mod:`rlhfkit.stages.exact_resume`; PPO keeps its own streams and turns it off).
        """
        cfg = self.cfg
        loggers = [hydra.utils.instantiate(spec) for spec in (cfg.get("logger") or {}).values() if spec]
        from rlhfkit.tracking import record_run_config  # W&B: the whole resolved config + resolved_config.yaml
        record_run_config(loggers, cfg, self.run_dir)
        callbacks = [hydra.utils.instantiate(spec) for spec in (cfg.get("callbacks") or {}).values() if spec]
        callbacks = without_progress_bars(callbacks, cfg.trainer.get("enable_progress_bar", True))
        callbacks.append(FiniteGuard(str(cfg.stage.name), self.run_dir))
        if reseed_batches:
            callbacks.append(BatchSeeds(cfg.seed))
        trainer = hydra.utils.instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks,
                                          **strategy_override(cfg, shard), **schedule)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # strategies with their own IO keep it
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        return trainer

    def finish(self, trainer: pl.Trainer, metrics: dict[str, Any], export: Callable[[Path], Any],
               models: Iterable[nn.Module] = ()) -> dict[str, Any]:
        """On rank 0: ``export(final_dir)`` and ``metrics.json``; then close the loggers (W&B's offline
        run directory is complete when the command returns). ``models``: checked finite first."""
        for model in models:
            name = first_non_finite(model.state_dict().items())
            if name is not None:
                raise NonFiniteError(f"stage {self.cfg.stage.name}: weight '{name}' is not finite at the end of "
                                     f"training; final/ was not written (last good checkpoint: "
                                     f"{last_good_checkpoint(self.run_dir)})")
        if trainer.is_global_zero:
            export(self.final_dir)  # a LoRA model: merged in final/, its adapter in adapter/ (ModelBundle)
            if self.adapter_dir.is_dir():
                log.info("stage %s: merged model in %s, LoRA adapter in %s", self.cfg.stage.name, self.final_dir,
                         self.adapter_dir)
            save_metrics(metrics, self.run_dir)
        for logger in trainer.loggers:
            logger.finalize("success")
            experiment = getattr(logger, "_experiment", None)
            if experiment is not None and hasattr(experiment, "finish"):
                experiment.finish()
        return metrics


def fit_on_examples(run: StageRun, trainer: pl.Trainer, module: pl.LightningModule, train: list, valid: list,
                    collate, stage: Any) -> None:
    """The fit of the stages trained on examples (SFT, RM): train shuffled per epoch (seeded, for an
    exact resume), valid in order, resumed from the checked ``ckpt_path``."""
    trainer.fit(
        module,
        train_dataloaders=make_loader(train, collate, stage.batch_size, shuffle=True, num_workers=stage.num_workers,
                                      seed=run.cfg.seed),
        val_dataloaders=make_loader(valid, collate, stage.batch_size, shuffle=False, num_workers=stage.num_workers),
        ckpt_path=run.ckpt_path,
    )


def strategy_override(cfg: DictConfig, shard: Iterable[nn.Module]) -> dict[str, Any]:
    """``{"strategy": FSDPStrategy(auto_wrap_policy=<the models' blocks>)}`` under ``trainer=fsdp``
    (:func:`rlhfkit.models.fsdp_wrap.fsdp_strategy`); otherwise nothing: the config's strategy stands."""
    strategy = select(cfg, "trainer.strategy")
    return {"strategy": fsdp_strategy(strategy, shard)} if is_fsdp(strategy) else {}


def without_progress_bars(callbacks: list, enabled: Any) -> list:
    """``trainer.enable_progress_bar=false`` wins over ``callbacks.progress_bar`` (Lightning refuses
    the pair: "configured with enable_progress_bar=False but found TQDMProgressBar")."""
    if enabled is not False:
        return callbacks
    kept = [c for c in callbacks if not isinstance(c, pl.callbacks.ProgressBar)]
    if len(kept) < len(callbacks):
        log.info("trainer.enable_progress_bar=false: the callbacks' progress bar is left out")
    return kept


def trainer_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The trainer's last logged value of every metric, as floats."""
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def log_to_trainer(trainer: pl.Trainer, metrics: dict[str, float], step: int = 0) -> None:
    """Metrics computed outside the fit (data reports, hygiene counts) into every logger."""
    if metrics:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)


def make_loader(examples: list, collate, batch_size: int, shuffle: bool, num_workers: int = 0,
                drop_last: bool = False, seed: int = 0) -> DataLoader:
    """``shuffle``: epoch e in the order of ``randperm`` seeded ``seed + e`` (an exact resume)."""
    return DataLoader(examples, batch_size=batch_size, sampler=EpochShuffle(examples, seed) if shuffle else None,
                      collate_fn=collate, num_workers=num_workers, drop_last=drop_last,
                      persistent_workers=num_workers > 0)
