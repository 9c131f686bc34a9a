"""Stage outputs cached by configuration, one owner at a time.

A stage's key is a hash of its resolved configuration (with the keys that cannot change its
outputs left out, :data:`VOLATILE_KEYS`, and the paths under the cache root or the runs dir
written relative to it, :func:`relocatable`), the keys of the stages it reads, and the rlhfkit
version. Its outputs live in ``<runs_dir>/cache/<stage>-<key>/``; the marker file ``DONE`` is
written last, so a directory without it (a crash, Ctrl-C, a failed stage) is not trusted and is
redone. A rerun with the same configuration finds ``DONE`` and skips the stage; so does a rerun
in a runs dir that was moved or copied elsewhere (the key holds no absolute path under it).

Two pipelines on one runs dir never compute into the same directory: a stage's directory is
owned by whoever holds ``<stage>-<key>.lock`` beside it (:class:`CacheLock`, ``fcntl.flock``),
and only the owner wipes it (:meth:`StageCache.prepare`) or writes ``DONE``
(:meth:`StageCache.finish`).

Code changes inside one rlhfkit version are NOT seen by the key: delete ``<runs_dir>/cache``
(or one stage's directory) after editing a stage's code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlhfkit.errors import ConfigError

DONE = "DONE"
FAILED = "FAILED"
META = "stage_meta.json"
LOCK_SUFFIX = ".lock"
KEY_LENGTH = 12
LOCK_POLL_S = 0.5  # how often a pipeline waiting on another's stage looks again
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


def _root_forms(roots: Mapping[str, str | Path]) -> list[tuple[str, str]]:
    """(prefix, placeholder) pairs, longest prefix first: each root as given (a relative runs dir
    gives relative paths in the wiring), absolute and with symlinks resolved, so that any of the
    spellings of one directory maps to the same placeholder."""
    forms: dict[str, str] = {}
    for placeholder, root in roots.items():
        if root is None or str(root) == "":
            continue
        given = Path(root)
        for form in (str(given), os.path.abspath(given), str(given.resolve())):
            forms.setdefault(form.rstrip("/") or "/", f"<{placeholder}>")
    return sorted(forms.items(), key=lambda item: len(item[0]), reverse=True)


def relocatable(node: Any, roots: Mapping[str, str | Path]) -> Any:
    """``node`` with every string that is a path under one of ``roots`` ({placeholder: dir})
    rewritten relative to it, e.g. ``/x/runs/cache/world-abc/sft.jsonl`` -> ``<cache>/world-abc/sft.jsonl``.

    Why: the wiring hands a stage the absolute paths of its inputs' outputs, which live in the
    cache; hashed as they are, moving or copying a runs dir would change every key. Only whole
    path prefixes match (``/x/runs-old`` is not under ``/x/runs``)."""
    forms = _root_forms(roots)

    def strip(text: str) -> str:
        for prefix, placeholder in forms:
            if text == prefix or text.startswith(prefix.rstrip("/") + "/"):
                return placeholder + text[len(prefix.rstrip("/")):]
        return text

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return strip(value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(node) if forms else node


def stage_key(config: Mapping[str, Any], input_keys: Mapping[str, str] | None = None,
              version: str | None = None, roots: Mapping[str, str | Path] | None = None) -> str:
    """Hex digest (:data:`KEY_LENGTH` characters) of ``config`` (canonical; paths under ``roots``,
    {placeholder: dir}, made relative by :func:`relocatable`), the input stages' keys and
    ``version``. Any change of a config value or of an input's key gives a new key; where the
    runs dir lives does not."""
    if version is None:
        import rlhfkit

        version = rlhfkit.__version__
    payload = {"config": relocatable(canonical_config(config), roots or {}),
               "inputs": dict(sorted((input_keys or {}).items())), "version": version}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:KEY_LENGTH]


# --------------------------------------------------------------------------- the lock


class CacheLockedError(ConfigError):
    """Another process owns a stage's cache directory and ``cache_lock: fail`` says not to wait."""


@dataclass(frozen=True)
class LockOwner:
    pid: int | None
    host: str

    def describe(self) -> str:
        """'pid N' (and 'on host H' when it is not this host), for one-line messages."""
        who = f"pid {self.pid}" if self.pid is not None else "another process"
        return who if not self.host or self.host == socket.gethostname() else f"{who} on host {self.host}"


class CacheLock:
    """An exclusive ``fcntl.flock`` on ``path`` (``<root>/<stage>-<key>.lock``), which holds the
    owner's pid and host for the messages of whoever meets it.

    Why flock: the kernel drops it when the owner dies (kill -9, a crash), so a stale lock never
    needs cleaning. The owner deletes the file when it releases (a finished stage leaves no lock
    file behind); because a waiter may then hold a lock on the deleted file, :meth:`try_acquire`
    only counts a lock on the file that is at ``path`` now. Locks are per open file, so two
    locks in one process exclude each other too.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it (never blocks); True when this object now owns it."""
        import fcntl

        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):  # a new file each time the owner deleted the one we locked
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
                self._fd = fd
                return True
            os.close(fd)
        return False

    def acquire(self, poll_s: float = LOCK_POLL_S, timeout_s: float | None = None) -> bool:
        """Wait for the lock (polling: a Ctrl-C is seen at once); False after ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.try_acquire():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)
        return True

    def release(self) -> None:
        """Delete the lock file (while still holding it, so nobody can be locking it anew) and unlock."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def owner(self) -> LockOwner:
        """Who holds it, as written in the file (pid None while the owner has not written it yet)."""
        try:
            pid, _, host = self.path.read_text().strip().partition(" ")
            return LockOwner(int(pid), host)
        except (OSError, ValueError):
            return LockOwner(None, "")


def locked_error(lock: CacheLock, stage_dir: Path) -> CacheLockedError:
    """The one-line error of ``cache_lock: fail``: whose lock, on which directory, what to change."""
    return CacheLockedError(f"cache_lock=fail: {stage_dir} is being computed by {lock.owner().describe()} "
                            f"(lock {lock.path}); wait for it to finish, or set cache_lock=wait")


# --------------------------------------------------------------------------- the directories


class StageCache:
    """The cache directories under ``root`` (``<runs_dir>/cache``); ``runs_dir`` is the other
    directory whose paths the keys hold relative (:func:`relocatable`)."""

    def __init__(self, root: str | Path, runs_dir: str | Path | None = None) -> None:
        self.root = Path(root)
        self.runs_dir = Path(runs_dir) if runs_dir is not None else None

    def dir(self, stage: str, key: str) -> Path:
        return self.root / f"{stage}-{key}"

    def key(self, config: Mapping[str, Any], input_keys: Mapping[str, str] | None = None,
            version: str | None = None) -> str:
        """:func:`stage_key` with this cache's root and runs dir as the relocatable roots."""
        roots: dict[str, str | Path] = {"cache": self.root}
        if self.runs_dir is not None:
            roots["runs"] = self.runs_dir
        return stage_key(config, input_keys, version, roots=roots)

    def lock(self, stage: str, key: str) -> CacheLock:
        """The (not yet taken) lock of one stage directory: ``<root>/<stage>-<key>.lock``."""
        return CacheLock(self.root / f"{stage}-{key}{LOCK_SUFFIX}")

    def is_done(self, stage: str, key: str) -> bool:
        return (self.dir(stage, key) / DONE).exists()

    def _check_owner(self, stage: str, key: str, lock: CacheLock | None) -> CacheLock | None:
        """The invariant of :meth:`prepare` and :meth:`finish`: they run under the directory's lock.
        Given a lock, it must be held and be this directory's; without one, a lock is taken for the
        call (returned, for the caller to release), and a lock held elsewhere is an error."""
        expected = self.lock(stage, key).path
        if lock is not None:
            if not lock.held or lock.path != expected:
                raise RuntimeError(f"{self.dir(stage, key)}: written without holding its lock {expected}")
            return None
        own = self.lock(stage, key)
        if not own.try_acquire():
            raise locked_error(own, self.dir(stage, key))
        return own

    def prepare(self, stage: str, key: str, lock: CacheLock | None = None) -> Path:
        """An empty directory for a stage about to run (a leftover without DONE is removed).
        Only the lock's owner may wipe: never a directory another process is computing in."""
        own = self._check_owner(stage, key, lock)
        try:
            path = self.dir(stage, key)
            if path.exists() and not (path / DONE).exists():
                shutil.rmtree(path)
            path.mkdir(parents=True, exist_ok=True)
            return path
        finally:
            if own is not None:
                own.release()

    def finish(self, stage: str, key: str, meta: Mapping[str, Any], lock: CacheLock | None = None) -> Path:
        """Record ``meta`` (wall time, metrics, config) and then, last, the DONE marker (only the
        lock's owner writes it)."""
        own = self._check_owner(stage, key, lock)
        try:
            path = self.dir(stage, key)
            (path / FAILED).unlink(missing_ok=True)
            (path / META).write_text(json.dumps({**meta, "stage": stage, "key": key,
                                                 "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")},
                                                indent=2, default=float) + "\n")
            (path / DONE).write_text(key + "\n")
            return path
        finally:
            if own is not None:
                own.release()

    def fail(self, stage: str, key: str, message: str, lock: CacheLock | None = None) -> Path:
        """Mark a stage failed: a ``FAILED`` file with the error, no DONE (so the next run redoes it)."""
        own = self._check_owner(stage, key, lock)
        try:
            path = self.dir(stage, key)
            path.mkdir(parents=True, exist_ok=True)
            (path / FAILED).write_text(message.rstrip("\n") + "\n")
            return path
        finally:
            if own is not None:
                own.release()

    def meta(self, stage: str, key: str) -> dict[str, Any]:
        path = self.dir(stage, key) / META
        return json.loads(path.read_text()) if path.exists() else {}
