"""The stages of the recipe. Each entry builds its parts from plugins and runs one Lightning fit."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from rlhfkit.plugins.errors import UnknownPluginNameError

# stage name -> "module:function" taking (cfg, plugins, run_dir) and returning final metrics.
STAGES: dict[str, str] = {
    "sft": "rlhfkit.stages.sft_run:run_sft",
    "rm": "rlhfkit.stages.rm_run:run_rm",
    "ppo": "rlhfkit.stages.ppo_run:run_ppo",
    "pretrain": "rlhfkit.stages.pretrain_run:run_pretrain",
}


def get_stage(name: str) -> Callable:
    if name not in STAGES:
        raise UnknownPluginNameError("stage", name, list(STAGES), "stage.name")
    module, func = STAGES[name].split(":")
    return getattr(importlib.import_module(module), func)
