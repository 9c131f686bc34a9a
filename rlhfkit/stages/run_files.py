"""What every run leaves in its directory besides checkpoints: resolved config, plugin versions,
final metrics. Secrets never reach these files: the value of every secret-named key, of every
secret override and of every secret-named environment variable interpolated in is masked
(the rule: :mod:`rlhfkit.secret_masking`), here and in the Hydra files of the run directory."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rlhfkit.secret_masking import mask_config, mask_text, secret_values


def save_resolved_config(cfg: DictConfig, run_dir: Path) -> Path:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    path = run_dir / "resolved_config.yaml"
    path.write_text(OmegaConf.to_yaml(OmegaConf.create(mask_config(resolved))))
    return path


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` in one step: DDP ranks (and parallel sweep jobs) may mask the same file at once."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def mask_hydra_files(run_dir: Path, subdir: str = ".hydra") -> list[Path]:
    """Rewrite, masked, the files Hydra wrote before the run began: ``<run_dir>/.hydra/*.yaml`` (the
    config, the overrides, hydra.yaml with its override lists and ``job.override_dirname``) and a
    sweep's ``multirun.yaml`` beside the job directories. Hydra copies the command line's overrides
    there verbatim, so ``+hf_token=...`` would stay readable. Returns the files rewritten (a file
    already masked is left untouched)."""
    run_dir = Path(run_dir)
    hydra_dir = run_dir / subdir
    paths = sorted(hydra_dir.glob("*.yaml")) if hydra_dir.is_dir() else []
    if (run_dir.parent / "multirun.yaml").is_file():
        paths.append(run_dir.parent / "multirun.yaml")
    texts = {path: path.read_text() for path in paths}
    loaded: dict[Path, Any] = {}
    for path, text in texts.items():
        try:
            loaded[path] = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
        except (yaml.YAMLError, OmegaConfBaseException, ValueError):  # not a config: masked as plain text below
            loaded[path] = None
    values = secret_values([c for c in loaded.values() if c is not None])
    changed = []
    for path, container in loaded.items():
        if container is None:
            masked_text = mask_text(texts[path], values)
        else:
            masked = mask_config(container, values)
            masked_text = texts[path] if masked == container else OmegaConf.to_yaml(OmegaConf.create(masked))
        if masked_text != texts[path]:
            _write_atomic(path, masked_text)
            changed.append(path)
    return changed


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
