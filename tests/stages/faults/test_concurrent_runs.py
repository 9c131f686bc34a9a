"""Two `rlhfkit train` started in the same second on one runs dir: each gets its own directory
and its own results (no `.hydra/`, config, metrics or `final/` overwritten by the other)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from _helpers import REPO_ROOT


@pytest.mark.slow
def test_two_runs_started_together_keep_their_own_directories(tmp_path, sft_file):
    runs = tmp_path / "runs"
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    procs = [subprocess.Popen([sys.executable, "-m", "rlhfkit.cli", "train", "stage=sft", f"data.sft.train.path={sft_file}",
                               "model.size=nano", "stage.max_epochs=1", "stage.valid_fraction=0.3", "stage.n_samples=1", "stage.max_new_tokens=4",
                               f"seed={seed}", "logger=csv", f"paths.runs_dir={runs}"],
                              cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for seed in (1, 2)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()[-3000:]
    dirs = sorted(p for p in (runs / "train").iterdir() if p.is_dir())
    assert len(dirs) == 2, dirs
    seeds = set()
    for run in dirs:
        assert (run / "final" / "model.safetensors").exists() and (run / "metrics.json").exists()
        seed = yaml.safe_load((run / "resolved_config.yaml").read_text())["seed"]
        assert yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["seed"] == seed
        assert json.loads((run / "metrics.json").read_text())["val/loss"] > 0
        seeds.add(seed)
    assert seeds == {1, 2}
