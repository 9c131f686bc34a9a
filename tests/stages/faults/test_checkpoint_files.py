"""Checkpoints are whole or absent; a torn one is refused in one line naming it; ``ckpt_path=last``
falls back to the newest intact one; temp files of killed writers do not pile up."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch
from _helpers import run_cli

from rlhfkit.errors import ConfigError
from rlhfkit.stages.checkpoint_files import AtomicCheckpointIO, resolve_ckpt_path, torn_reason


def save(path, value: float) -> None:
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.full((64,), value)}}, path)


def test_save_is_whole_and_loads_back(tmp_path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    save(path, 1.0)
    save(path, 2.0)  # overwritten in one rename
    assert torn_reason(path) is None
    assert torch.equal(AtomicCheckpointIO().load_checkpoint(path)["state_dict"]["w"], torch.full((64,), 2.0))
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]


def test_temp_files_of_killed_writers_are_removed_at_the_next_save(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".last.ckpt.tmp-{dead.pid}"
    live = tmp_path / f".other.ckpt.tmp-{os.getppid()}"  # a writer still running: left alone
    stale.write_bytes(b"x" * 1000)
    live.write_bytes(b"y")
    save(tmp_path / "last.ckpt", 0.0)
    assert not stale.exists() and live.exists()


@pytest.mark.parametrize("damage, reason", [(lambda b: b"", "empty"), (lambda b: b[: len(b) // 2], "torn")])
def test_a_torn_or_empty_checkpoint_is_refused_naming_it(tmp_path, damage, reason):
    path = tmp_path / "last.ckpt"
    save(path, 1.0)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ConfigError, match=rf"ckpt_path.*{path}.*{reason}"):
        resolve_ckpt_path(str(path), tmp_path)
    with pytest.raises(ConfigError, match=str(path)):
        AtomicCheckpointIO().load_checkpoint(path)


def test_last_takes_the_newest_intact_checkpoint(tmp_path):
    ckpts = tmp_path / "checkpoints"
    save(ckpts / "epoch000.ckpt", 0.0)
    time.sleep(0.02)
    save(ckpts / "epoch001.ckpt", 1.0)
    time.sleep(0.02)
    (ckpts / "last.ckpt").write_bytes(b"")  # the newest, torn
    assert resolve_ckpt_path("last", tmp_path) == str(ckpts / "epoch001.ckpt")
    assert resolve_ckpt_path(None, tmp_path) is None


def test_bad_ckpt_paths_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="'ckpt_path': .* is a directory"):
        resolve_ckpt_path(str(tmp_path), tmp_path)
    with pytest.raises(ConfigError, match="'ckpt_path': no checkpoint file at"):
        resolve_ckpt_path(str(tmp_path / "nope.ckpt"), tmp_path)
    with pytest.raises(ConfigError, match="'last' found no intact checkpoint"):
        resolve_ckpt_path("last", tmp_path)


def test_the_cli_refuses_a_torn_checkpoint_in_one_line(tmp_path, sft_file):
    torn = tmp_path / "last.ckpt"
    save(torn, 1.0)
    torn.write_bytes(torn.read_bytes()[:100])
    result = run_cli("train", "stage=sft", f"data.sft.train.path={sft_file}", "model.size=nano", f"ckpt_path={torn}",
                     "logger=csv", f"paths.runs_dir={tmp_path / 'runs'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("rlhfkit: error:")]
    assert len(errors) == 1 and str(torn) in errors[0] and "cannot be resumed" in errors[0]
