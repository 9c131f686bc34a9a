"""Building the pieces every stage needs from the config: data, trainer, loggers, exports."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from rlhfkit.plugins import PluginManager
from rlhfkit.training.resolve import as_spec, select
from rlhfkit.errors import ConfigError

log = logging.getLogger(__name__)


def load_split(cfg: DictConfig, plugins: PluginManager, key: str, kind: str) -> list:
    """Examples from the dataset plugin named at config ``key`` (e.g. ``data.sft.train``)."""
    spec = as_spec(cfg, key)
    examples = plugins.build("dataset", spec, key, kind=kind)
    if not examples:
        raise ConfigError(f"config key '{key}': the data source produced no examples")
    log.info("%s: %d %s examples", key, len(examples), kind)
    return examples


def train_valid(cfg: DictConfig, plugins: PluginManager, group: str, kind: str, valid_fraction: float,
                prepare: Callable[[list, str], list] | None = None) -> tuple[list, list]:
    """``data.<group>.train`` and ``.valid``; without a valid source, a split by user id (item 5).

    ``prepare(examples, config_key)``, if given, runs on each loaded source before the split (e.g.
    the hygiene filters of :mod:`rlhfkit.training.hygiene_step`, so users are capped before splitting).
    """
    from rlhfkit.data import split_by_user

    def load(key: str) -> list:
        examples = load_split(cfg, plugins, key, kind)
        return prepare(examples, key) if prepare is not None else examples

    train = load(f"data.{group}.train")
    if select(cfg, f"data.{group}.valid") is not None:
        return train, load(f"data.{group}.valid")
    if not 0 < valid_fraction < 1:
        raise ConfigError(f"stage.valid_fraction must be in (0, 1) when data.{group}.valid is null, got {valid_fraction}")
    train, valid, report = split_by_user(train, valid_fraction, seed=cfg.seed)
    log.info("data.%s: split by user: %s", group, report)
    if not valid or not train:
        raise ConfigError(f"data.{group}: splitting {len(train) + len(valid)} examples by user left an empty split; "
                         f"set data.{group}.valid or change stage.valid_fraction")
    return train, valid


def build_loggers(cfg: DictConfig) -> list:
    return [hydra.utils.instantiate(spec) for spec in (cfg.get("logger") or {}).values() if spec]


def build_callbacks(cfg: DictConfig) -> list:
    return [hydra.utils.instantiate(spec) for spec in (cfg.get("callbacks") or {}).values() if spec]


def build_trainer(cfg: DictConfig, **stage_args: Any) -> pl.Trainer:
    """The Trainer from ``trainer/`` (hardware) plus the stage's schedule arguments."""
    return hydra.utils.instantiate(
        cfg.trainer, logger=build_loggers(cfg) or False, callbacks=build_callbacks(cfg), **stage_args
    )


def log_hyperparams(trainer: pl.Trainer, cfg: DictConfig) -> None:
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))


def finish_loggers(trainer: pl.Trainer) -> None:
    """Close W&B so the offline run directory is complete when the command returns."""
    for logger in trainer.loggers:
        logger.finalize("success")
        experiment = getattr(logger, "_experiment", None)
        if experiment is not None and hasattr(experiment, "finish"):
            experiment.finish()


def final_dir(run_dir: Path) -> Path:
    return run_dir / "final"
