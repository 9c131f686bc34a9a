"""Shared fixtures: the repo paths, tiny data files, the CLI in a subprocess, config composition."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))  # tests/_helpers.py

# Tests read W&B's offline files; a developer's API key must not send test runs online.
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models on a small shared machine: one intra-op thread per process is many times faster
# than threads contending for the cores (subprocess runs of the CLI inherit this).
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

import rlhfkit.run_dirs  # noqa: E402,F401 (the ${run_id:} of conf/hydra/default.yaml)
import rlhfkit.stages  # noqa: E402,F401 (stores the stage config schemas that conf/stage/ composes)

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

from _helpers import REPO_ROOT, SHARED_DATA, write_jsonl, write_sft_file  # noqa: E402


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"{SHARED_DATA} is absent (the shared data folder beside the repo)")
    return SHARED_DATA


@pytest.fixture
def sft_file(tmp_path: Path) -> Path:
    return write_sft_file(tmp_path / "sft.jsonl")


@pytest.fixture
def jsonl(tmp_path: Path):
    def write(name: str, rows: list[dict]) -> Path:
        return write_jsonl(tmp_path / name, rows)

    return write
