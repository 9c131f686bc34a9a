"""Each train stage of the pipeline is the real `rlhfkit train` run: its config is composed from
``conf/config.yaml`` with ``hydra.compose`` (inside the running pipeline app, so the same config
tree and search path), and the stage function of :data:`rlhfkit.stages.STAGES` is called
in-process with that config, the plugin manager and the stage's cache directory.

Overrides come in this order, later ones winning: the pipeline's ``common`` list, the wiring that
connects a stage to its inputs (``model.path=<sft>/final`` ...), the stage's own ``overrides``
list, then its ``set`` mapping (merged as a nested dict). So a user's override always beats the
wiring: ``stages.rm.overrides=[model=hf,model.path=/my/model]`` swaps the RM's starting model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

PLACEHOLDER_DIR = "/__rlhfkit_stage_dir__"  # output dir while the key is computed (paths are not hashed)


def quote(value: Any) -> str:
    """A value in Hydra's override grammar: strings single-quoted (paths may hold ``=`` or ``,``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def override(key: str, value: Any) -> str:
    return f"{key}={quote(value)}"


def compose_stage(overrides: Sequence[str], set_values: Mapping[str, Any] | None = None,
                  output_dir: str | Path = PLACEHOLDER_DIR, run_name: str | None = None) -> DictConfig:
    """The train config of one stage: ``conf/config.yaml`` + ``overrides`` (+ ``set_values``),
    with ``paths.output_dir`` (which loggers and callbacks interpolate) set to ``output_dir``."""
    from hydra import compose

    import rlhfkit.stages  # noqa: F401 (stores the stage config schemas that conf/stage/ composes)

    cfg = compose(config_name="config", overrides=[*overrides, override("paths.output_dir", str(output_dir))])
    OmegaConf.set_struct(cfg, False)
    if set_values:
        cfg = OmegaConf.merge(cfg, OmegaConf.create(dict(set_values)))
    if run_name and cfg.get("logger") and cfg.logger.get("wandb"):
        cfg.logger.wandb.name = run_name  # one W&B run per pipeline stage, grouped by task_name
    return cfg


def set_output_dir(cfg: DictConfig, output_dir: str | Path) -> DictConfig:
    cfg.paths.output_dir = str(output_dir)
    return cfg


def resolved(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def run_train_stage(cfg: DictConfig, stage_dir: Path) -> dict[str, Any]:
    """Call the stage function named by ``cfg.stage.name`` (``run_sft(cfg, plugins, stage_dir)``...)."""
    from rlhfkit.plugins import get_plugin_manager
    from rlhfkit.stages import run_stage

    metrics = run_stage(cfg, get_plugin_manager(), Path(stage_dir))
    return {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float))}
