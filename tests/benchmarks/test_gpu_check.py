"""benchmarks/gpu_check.sh --dry-run prints what a GPU session would run, writes nothing, and every
command it prints is a valid one: the benchmark's arguments parse, each `rlhfkit train` composes."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

from _helpers import REPO_ROOT
from hydra import compose, initialize_config_dir

from rlhfkit.config_dir import config_dir

SCRIPT = REPO_ROOT / "benchmarks" / "gpu_check.sh"


def test_the_dry_run_lists_every_step_and_runs_nothing(tmp_path):
    out = tmp_path / "gpu"
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run"], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, "OUT": str(out)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("dry run: nothing was run") and not out.exists()
    commands = {line.split("] ", 1)[0][3:]: line.split("] ", 1)[1] for line in proc.stdout.splitlines()
                if line.startswith("+ [")}
    stages = [f"smoke_{t}_{s}" for t in ("gpu", "fsdp", "deepspeed") for s in ("sft", "rm", "ppo")]
    assert list(commands) == ["ppo_step_gpu_125m", "ppo_step_gpu_350m", "smoke_data", *stages]

    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    import ppo_step
    from common import CONFIGS

    for name in ("ppo_step_gpu_125m", "ppo_step_gpu_350m"):
        args = ppo_step.arg_parser().parse_args(shlex.split(commands[name])[2:])
        assert args.device == "cuda" and args.precision == "bf16" and args.compare_trl and args.config in CONFIGS
    assert CONFIGS["gpu_350m"].batch == 64 and CONFIGS["gpu_350m"].response == 128

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        for name in stages:
            words = shlex.split(commands[name])
            assert words[:2] == ["rlhfkit", "train"]
            cfg = compose(config_name="config", overrides=words[2:])
            assert cfg.trainer.accelerator == "gpu" and cfg.trainer.devices == 1, name
            assert cfg.stage.name == name.rsplit("_", 1)[1]


def test_an_unknown_option_is_refused():
    proc = subprocess.run(["bash", str(SCRIPT), "--dryrun"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown option --dryrun" in proc.stderr
