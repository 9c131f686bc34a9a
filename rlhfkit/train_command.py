"""`rlhfkit train`: compose, check names, run one stage, save what the run needs to be reproduced."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rlhfkit.plugins import get_plugin_manager
from rlhfkit.user_errors import USER_ERRORS

log = logging.getLogger(__name__)


def run_dir() -> Path:
    path = Path(HydraConfig.get().runtime.output_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(cfg: DictConfig) -> dict[str, Any]:
    from rlhfkit.stages import run_stage

    return run_stage(cfg, get_plugin_manager(), run_dir())


def run_with_clean_errors(cfg: DictConfig) -> float | None:
    """Run, turning user errors into a one-line message and exit status 2; return the sweep metric."""
    try:
        metrics = run(cfg)
    except USER_ERRORS as err:
        print(f"rlhfkit: error: {err}", file=sys.stderr)
        sys.exit(2)
    if cfg.get("optimized_metric"):
        if cfg.optimized_metric not in metrics:
            print(f"rlhfkit: error: optimized_metric '{cfg.optimized_metric}' not among the run's metrics: "
                  f"{', '.join(sorted(metrics))}", file=sys.stderr)
            sys.exit(2)
        return float(metrics[cfg.optimized_metric])
    return None
