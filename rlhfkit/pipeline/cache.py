"""Stage outputs cached by configuration.

A stage's key is a hash of its resolved configuration (with the keys that cannot change its
outputs left out, :data:`VOLATILE_KEYS`), the keys of the stages it reads, and the rlhfkit
version. Its outputs live in ``<runs_dir>/cache/<stage>-<key>/``; the marker file ``DONE`` is
written last, so a directory without it (a crash, Ctrl-C) is not trusted and is redone. A rerun
with the same configuration finds ``DONE`` and skips the stage.

Code changes inside one rlhfkit version are NOT seen by the key: delete ``<runs_dir>/cache``
(or one stage's directory) after editing a stage's code.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DONE = "DONE"
META = "stage_meta.json"
KEY_LENGTH = 12
# Dotted keys that cannot change what a stage computes (where files go, how progress is shown,
# which trackers watch); they are dropped before hashing so that e.g. `logger=csv` reuses a cache.
VOLATILE_KEYS = (
    "paths", "hydra", "logger", "callbacks", "task_name", "tags", "ckpt_path", "optimized_metric",
    "trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.log_every_n_steps",
    "trainer.default_root_dir",
)


def _drop(node: dict, dotted: str) -> None:
    head, _, rest = dotted.partition(".")
    if head not in node:
        return
    if rest:
        if isinstance(node[head], dict):
            _drop(node[head], rest)
    else:
        del node[head]


def canonical_config(config: Mapping[str, Any], volatile: tuple[str, ...] = VOLATILE_KEYS) -> dict[str, Any]:
    """A deep copy of ``config`` (plain containers) without the ``volatile`` dotted keys."""
    out = json.loads(json.dumps(config, sort_keys=True, default=str))
    for key in volatile:
        _drop(out, key)
    return out


def stage_key(config: Mapping[str, Any], input_keys: Mapping[str, str] | None = None,
              version: str | None = None) -> str:
    """Hex digest (:data:`KEY_LENGTH` characters) of ``config`` (canonical), the input stages'
    keys and ``version``. Any change of a config value or of an input's key gives a new key."""
    if version is None:
        import rlhfkit

        version = rlhfkit.__version__
    payload = {"config": canonical_config(config), "inputs": dict(sorted((input_keys or {}).items())),
               "version": version}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:KEY_LENGTH]


class StageCache:
    """The cache directories under ``root`` (``<runs_dir>/cache``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def dir(self, stage: str, key: str) -> Path:
        return self.root / f"{stage}-{key}"

    def is_done(self, stage: str, key: str) -> bool:
        return (self.dir(stage, key) / DONE).exists()

    def prepare(self, stage: str, key: str) -> Path:
        """An empty directory for a stage about to run (a leftover without DONE is removed)."""
        path = self.dir(stage, key)
        if path.exists() and not (path / DONE).exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def finish(self, stage: str, key: str, meta: Mapping[str, Any]) -> Path:
        """Record ``meta`` (wall time, metrics, config) and then, last, the DONE marker."""
        path = self.dir(stage, key)
        (path / META).write_text(json.dumps({**meta, "stage": stage, "key": key,
                                             "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")},
                                            indent=2, default=float) + "\n")
        (path / DONE).write_text(key + "\n")
        return path

    def meta(self, stage: str, key: str) -> dict[str, Any]:
        path = self.dir(stage, key) / META
        return json.loads(path.read_text()) if path.exists() else {}
