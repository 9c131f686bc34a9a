"""Checkpoint files that are whole or absent, and a resume path checked before anything loads.

* :class:`AtomicCheckpointIO` (every stage's Trainer, :meth:`StageRun.trainer`): a checkpoint is
  written to a temporary file beside its destination, flushed to disk, then renamed over it, so a
  kill leaves the previous ``last.ckpt`` intact, never a torn or empty one. Lightning's own save
  goes through fsspec, whose local transaction stages the file in ``$TMPDIR`` and *copies* it when
  that is another filesystem (a tmpfs): a kill then tears the destination and leaks the temp file.
  Temp files left by killed processes are removed at the next save in that directory.
* :func:`resolve_ckpt_path`: the ``ckpt_path`` key: a file that must be an intact checkpoint, or
  ``last``: the newest intact checkpoint of this run directory (torn ones named and passed over).
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from rlhfkit.errors import ConfigError

log = logging.getLogger(__name__)

TEMP_MARK = ".tmp-"  # .<name>.tmp-<pid>: the file a checkpoint is written to before its rename


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(directory: Path) -> list[Path]:
    """Delete the temp files of killed writers in ``directory`` (a live writer's file is kept)."""
    removed = []
    for path in directory.glob(f".*{TEMP_MARK}*"):
        pid = path.name.rsplit(TEMP_MARK, 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def torn_reason(path: Path) -> str | None:
    """Why ``path`` is not a whole checkpoint (torch's zip format, every member's CRC checked), or None."""
    size = path.stat().st_size
    if size == 0:
        return "it is empty (0 bytes)"
    if not zipfile.is_zipfile(path):
        return f"it is not a complete torch checkpoint ({size} bytes, no zip directory: torn by a kill?)"
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return f"it cannot be read ({err})"
    return f"its member '{bad}' fails its checksum" if bad else None


def check_intact(path: Path, key: str = "ckpt_path") -> None:
    reason = torn_reason(path)
    if reason:
        raise ConfigError(f"config key '{key}': checkpoint '{path}' cannot be resumed: {reason}; "
                          "ckpt_path=last resumes from the newest intact checkpoint of the run directory")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO, with an atomic save and a clear refusal of torn files."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(target.parent)
        temp = target.parent / f".{target.name}{TEMP_MARK}{os.getpid()}"
        try:
            with temp.open("wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself reaches the disk
        finally:
            os.close(directory)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        check_intact(Path(path))
        return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)


def resolve_ckpt_path(value: Any, run_dir: Path, key: str = "ckpt_path") -> str | None:
    """The checkpoint a stage resumes from, checked before any model loads (see the module doc)."""
    if value is None or value == "":
        return None
    if str(value) == "last":
        found = sorted((run_dir / "checkpoints").glob("*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in found:
            reason = torn_reason(path)
            if reason is None:
                log.warning("ckpt_path=last: resuming from %s", path)
                return str(path)
            log.warning("ckpt_path=last: passing over %s: %s", path, reason)
        raise ConfigError(f"config key '{key}': 'last' found no intact checkpoint in {run_dir / 'checkpoints'} "
                          "(give a file, or run in the old run's directory with hydra.run.dir=<its path>)")
    path = Path(str(value)).expanduser()
    if path.is_dir():
        raise ConfigError(f"config key '{key}': '{path}' is a directory; give a checkpoint file "
                          f"(e.g. {path / 'checkpoints' / 'last.ckpt'}) or 'last'")
    if not path.exists():
        raise ConfigError(f"config key '{key}': no checkpoint file at '{path}'")
    check_intact(path, key)
    remove_stale_temps(path.parent)  # what a kill during a save left beside it
    return str(path)
