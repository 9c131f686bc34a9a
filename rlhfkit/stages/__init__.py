"""The stages of the recipe, one folder each (``pretrain/``, ``sft/``, ``rm/``, ``ppo/``): its
LightningModule (``module.py``), its typed config (``config.py``, every option once with its
default), its builder (``builder.py``: config -> parts -> Trainer -> fit -> export) and its own
batching. What all four share is :mod:`rlhfkit.stages.lifecycle`.

Importing this package stores each stage's config schema in Hydra's ConfigStore
(``stage/<name>_schema``), which ``conf/stage/<name>.yaml`` composes.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from rlhfkit.plugins.errors import UnknownPluginNameError
from rlhfkit.stages import typed_config
from rlhfkit.stages.ppo.config import PPOConfig
from rlhfkit.stages.pretrain.config import PretrainConfig
from rlhfkit.stages.rm.config import RMConfig
from rlhfkit.stages.sft.config import SFTConfig

# stage name -> (its config, "module:function" taking (cfg, plugins, run_dir) and returning final metrics)
STAGES: dict[str, tuple[type, str]] = {
    "pretrain": (PretrainConfig, "rlhfkit.stages.pretrain.builder:run_pretrain"),
    "sft": (SFTConfig, "rlhfkit.stages.sft.builder:run_sft"),
    "rm": (RMConfig, "rlhfkit.stages.rm.builder:run_rm"),
    "ppo": (PPOConfig, "rlhfkit.stages.ppo.builder:run_ppo"),
}

for _name, (_config, _) in STAGES.items():
    typed_config.register(_name, _config)


def get_stage(name: str) -> Callable:
    if name not in STAGES:
        raise UnknownPluginNameError("stage", name, list(STAGES), "stage.name")
    module, func = STAGES[name][1].split(":")
    return getattr(importlib.import_module(module), func)


def apply_debug_limits(cfg: DictConfig) -> DictConfig:
    """``debug_limits`` (set by ``debug=fast``) onto the running stage: each key the stage has takes
    that value, keys it does not have are skipped (one file shrinks every stage)."""
    limits = cfg.get("debug_limits")
    if not limits:
        return cfg
    names = typed_config.option_names(STAGES[cfg.stage.name][0])
    with open_dict(cfg):
        for key, value in limits.items():
            if key in names and key != MODEL_LIMITS:
                cfg.stage[key] = value
    return cfg


MODEL_LIMITS = "model"  # debug_limits.model: values for the model plugin's options


def model_options_taken(factory: Callable, present: Iterable[str] = ()) -> Callable[[str], bool]:
    """Which option names a model factory takes: its named parameters; a factory taking ``**kwargs``
    takes the keys already in its config (``present``) and no others."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no signature to read: only what the config already has
        params = {}
    named = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()) or not params:
        named |= set(present)
    return named.__contains__


def apply_debug_model_limits(cfg: DictConfig, plugins: Any) -> DictConfig:
    """``debug_limits.model`` (set by ``debug=fast``) onto ``cfg.model``: each key the model plugin's
    factory takes gets that value, the others are skipped (the tiny model's ``size`` and
    ``max_positions`` shrink it; ``model=hf`` takes neither and loads as configured). An unknown
    model name is left for the stage's own check to report."""
    limits = (cfg.get("debug_limits") or {}).get(MODEL_LIMITS)
    model = cfg.get("model")
    if not limits or not model or model.get("name") is None:
        return cfg
    try:
        factory = plugins.get("model", model.name)
    except UnknownPluginNameError:
        return cfg
    takes = model_options_taken(factory, list(model))
    with open_dict(cfg):
        for key, value in limits.items():
            if key != "name" and takes(key):
                cfg.model[key] = value
    return cfg


def run_stage(cfg: DictConfig, plugins: Any, run_dir: Path) -> dict[str, Any]:
    """Run the stage named by ``cfg.stage.name`` in ``run_dir``; its final metrics."""
    stage = get_stage(cfg.stage.name)
    return stage(apply_debug_model_limits(apply_debug_limits(cfg), plugins), plugins, Path(run_dir))
