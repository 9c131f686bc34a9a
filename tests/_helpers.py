"""Helpers the tests import (tests/conftest.py puts this folder on sys.path)."""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_sft_file(path: Path, n: int = 48, seed: int = 0) -> Path:
    """Sort-the-letters demonstrations from 8 users: learnable by a nano model in a few steps."""
    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < n:  # distinct prompts, so the default de-duplication filter keeps them all
        letters = [rng.choice("abcdef") for _ in range(4)]
        if tuple(letters) in seen:
            continue
        seen.add(tuple(letters))
        i = len(rows)
        rows.append({"prompt": "sort : " + " ".join(letters) + " =>",
                     "completion": " " + " ".join(sorted(letters)), "user_id": f"u{i % 8}"})
    return write_jsonl(path, rows)


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``rlhfkit ARGS`` in a fresh process (as a user would run it)."""
    full_env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run([sys.executable, "-m", "rlhfkit.cli", *args], cwd=cwd or REPO_ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def single_run_dir(runs_dir: Path, task: str = "train") -> Path:
    dirs = sorted(p for p in (runs_dir / task).iterdir() if p.is_dir())
    assert len(dirs) == 1, f"expected one run directory under {runs_dir / task}, found {dirs}"
    return dirs[0]


def read_wandb_records(run_file: Path) -> list[Any]:
    """Every protobuf ``Record`` of an offline W&B run (its ``run-*.wandb`` transaction log).

    The file is a LevelDB-style log (32 KiB blocks of chunks: crc u32, length u16, type u8) of
    protobuf ``Record`` messages after a 7-byte header.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", f"{run_file} is not a W&B transaction log"
    block, pos, pending, chunks = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            break
        if kind == 1:
            chunks.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            chunks.append(pending + chunk)
    records = []
    for raw in chunks:
        record = pb.Record()
        record.ParseFromString(raw)
        records.append(record)
    return records


def read_wandb_history(run_file: Path) -> list[dict[str, Any]]:
    """The history rows of an offline W&B run, values JSON-decoded."""
    return [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            for record in read_wandb_records(run_file) if record.WhichOneof("record_type") == "history"]


QUIET_IN_PROCESS = ["logger=none", "callbacks=none", "trainer.enable_progress_bar=false"]


def run_stage_in_process(run_dir: Path, *overrides: str) -> dict[str, Any]:
    """Compose the real config (as `rlhfkit train` would, quiet) and run its stage in this process;
    the stage's final metrics."""
    from hydra import compose, initialize_config_dir

    from rlhfkit.config_dir import config_dir
    from rlhfkit.plugins import get_plugin_manager
    from rlhfkit.stages import run_stage

    run_dir.mkdir(parents=True, exist_ok=True)
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*QUIET_IN_PROCESS, *overrides, f"paths.output_dir={run_dir}"])
    return run_stage(cfg, get_plugin_manager(), run_dir)
