"""What every run leaves in its directory besides checkpoints: resolved config, plugin versions,
final metrics. Secrets never reach these files: the config holds no keys, and values of
environment variables whose names look secret are masked if they were interpolated in."""

from __future__ import annotations

import json
import platform
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

_SECRET_KEY = re.compile(r"(api_?key|token|secret|password)", re.IGNORECASE)


def _mask_secrets(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: ("***" if _SECRET_KEY.search(str(k)) and v else _mask_secrets(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_mask_secrets(v) for v in node]
    return node


def save_resolved_config(cfg: DictConfig, run_dir: Path) -> Path:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    path = run_dir / "resolved_config.yaml"
    path.write_text(OmegaConf.to_yaml(OmegaConf.create(_mask_secrets(resolved))))
    return path


def save_versions(plugins_used: list[dict[str, Any]], run_dir: Path) -> Path:
    """Versions of python, the core libraries and each plugin part the run used."""
    import pytorch_lightning
    import torch
    import transformers

    import rlhfkit

    info = {
        "python": platform.python_version(),
        "rlhfkit": rlhfkit.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "pytorch_lightning": pytorch_lightning.__version__,
        "plugins": plugins_used,
    }
    path = run_dir / "versions.json"
    path.write_text(json.dumps(info, indent=2) + "\n")
    return path


def save_metrics(metrics: dict[str, Any], run_dir: Path, name: str = "metrics.json") -> Path:
    path = run_dir / name
    path.write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    return path
