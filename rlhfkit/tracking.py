"""Experiment tracking: W&B offline unless the user's environment says online, or CSV.

No API key is ever written to a config or a log: the mode is decided from the environment at run
time and only the mode ("online"/"offline") is recorded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger, WandbLogger
from rlhfkit.errors import ConfigError


def wandb_mode(mode: str = "auto") -> str:
    """"auto": online when WANDB_MODE=online or an API key is in the environment, else offline."""
    if mode not in ("auto", "online", "offline", "disabled"):
        raise ConfigError(f"logger.mode: unknown W&B mode '{mode}'; known: auto, online, offline, disabled")
    if mode != "auto":
        return mode
    env_mode = os.environ.get("WANDB_MODE", "").lower()
    if env_mode in ("online", "offline", "disabled"):
        return env_mode
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def make_wandb_logger(
    save_dir: str,
    project: str = "rlhfkit",
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    mode: str = "auto",
    log_model: bool = False,
) -> WandbLogger:
    """A Lightning WandbLogger whose files live under the run directory (``<save_dir>/wandb``)."""
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_SILENT", "true")
    resolved = wandb_mode(mode)
    return WandbLogger(
        save_dir=save_dir, project=project, name=name, group=group, tags=list(tags or []),
        offline=resolved == "offline", mode=resolved, log_model=log_model,
    )


def make_csv_logger(save_dir: str, name: str = "csv") -> CSVLogger:
    return CSVLogger(save_dir=save_dir, name=name)


def log_table(logger: Any, key: str, columns: list[str], rows: list[list[Any]], save_dir: str | None = None) -> None:
    """A table of examples: a W&B table when W&B is on, else a JSONL file in the run directory."""
    if isinstance(logger, WandbLogger):
        logger.log_table(key=key, columns=columns, data=rows)
        return
    if save_dir is not None:
        import json

        path = Path(save_dir) / "tables" / f"{key.replace('/', '_')}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            for row in rows:
                f.write(json.dumps(dict(zip(columns, row)), default=str) + "\n")
