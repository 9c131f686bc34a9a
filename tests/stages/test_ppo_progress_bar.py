"""PPO's progress bar reads "iterations done / total" after a resume too (not "n/?")."""

from __future__ import annotations

import random

from _helpers import run_cli, write_jsonl

WORDS = "please thanks hello world the a cat dog say tell me you".split()
ENV = {"WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}


def test_a_resumed_run_shows_its_total(tmp_path):
    rng = random.Random(0)
    prompts = write_jsonl(tmp_path / "prompts.jsonl",
                          [{"prompt": " ".join(rng.choice(WORDS) for _ in range(3))} for _ in range(16)])
    args = ["stage=ppo", f"data.prompts.train.path={prompts}", "model.size=nano", "model.tokenizer=words",
            f"+model.words=[{','.join(WORDS)}]", "stage.max_new_tokens=4", "stage.rollout_batch_size=8",
            "stage.minibatch_size=8", "stage.ppo_epochs=1", "stage.checkpoint_every=1", "logger=csv"]
    first = run_cli("train", *args, "stage.total_steps=1", f"hydra.run.dir={tmp_path / 'a'}", env=ENV)
    assert first.returncode == 0, first.stderr[-2000:]
    resumed = run_cli("train", *args, "stage.total_steps=3", f"hydra.run.dir={tmp_path / 'b'}",
                      f"ckpt_path={tmp_path / 'a' / 'checkpoints' / 'iter000001.ckpt'}", env=ENV)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    bar = (resumed.stdout + resumed.stderr).replace("\r", "\n")
    lines = [line for line in bar.splitlines() if line.startswith("Training:")]
    shown = [line.split("|")[-1].split(" [")[0].strip() for line in lines]
    # the bar is created without a total (Lightning skips the epoch start), then gets it at once
    assert shown[0] == "0/?" and "/?" not in "".join(shown[1:]), shown
    assert "1/3" in shown and shown[-1] == "3/3", shown  # counted from the resumed iteration
