"""Where the Hydra config tree (``conf/``) is: the checkout's, or the copy installed with the package."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """RLHFKIT_CONFIG_DIR, else ``conf/`` beside the package (a clone or an editable install),
    else the ``rlhfkit_conf`` package a regular install ships."""
    override = os.environ.get("RLHFKIT_CONFIG_DIR")
    if override:
        path = Path(override).expanduser().resolve()
        if not (path / "config.yaml").exists():
            raise FileNotFoundError(f"RLHFKIT_CONFIG_DIR={override}: no config.yaml there")
        return path
    beside = Path(__file__).resolve().parents[1] / "conf"
    if (beside / "config.yaml").exists():
        return beside
    import importlib.resources

    return Path(str(importlib.resources.files("rlhfkit_conf")))
