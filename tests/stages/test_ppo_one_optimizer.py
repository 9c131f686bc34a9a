"""PPO with one optimizer for policy and critic (``stage.optimizer_mode=one``: a parameter group
each, its own LR, schedule and gradient clipping) takes exactly the steps of two optimizers: every
logged metric of every iteration and the final weights of both models are equal."""

from __future__ import annotations

import json
import logging
import random

import pytest
import torch
from _helpers import run_stage_in_process, write_jsonl
from safetensors.torch import load_file

from rlhfkit.stages.ppo.module import one_optimizer_wanted

WORDS = "please thanks hello world the a cat dog say tell me you".split()
TIMING = ("perf/iteration_s", "perf/tokens_per_s")


def _run(tmp_path, mode: str, prompts) -> tuple[list[dict], dict, dict]:
    run = tmp_path / mode
    run_stage_in_process(run, "stage=ppo", f"data.prompts.train.path={prompts}", "model.size=nano",
                         "model.tokenizer=words", f"+model.words=[{','.join(WORDS)}]", "advantage=gae",
                         "reward=keyword", "reward.wanted=[please]", "reward.banned=[you]", "stage.max_new_tokens=6",
                         "stage.total_steps=4", "stage.rollout_batch_size=8", "stage.minibatch_size=4",
                         "stage.ppo_epochs=2", "stage.lr=3e-3", "stage.value_lr=1e-2",  # different LRs per group
                         "stage.grad_clip=0.05",  # small enough that both groups are clipped
                         "stage.lr_scheduler.warmup_steps=2", "stage.value_init=policy",
                         f"stage.optimizer_mode={mode}", "stage.checkpoint_every=0", "stage.last_checkpoint_every=0")
    history = [{k: v for k, v in json.loads(line).items() if k not in TIMING}
               for line in (run / "ppo_history.jsonl").read_text().splitlines()]
    return history, load_file(run / "final" / "model.safetensors"), load_file(run / "final_value" / "model.safetensors")


def test_one_optimizer_takes_the_same_steps_as_two(tmp_path, caplog):
    rng = random.Random(0)
    prompts = write_jsonl(tmp_path / "prompts.jsonl",
                          [{"prompt": " ".join(rng.choice(WORDS) for _ in range(3))} for _ in range(16)])
    two = _run(tmp_path, "two", prompts)
    with caplog.at_level(logging.INFO, logger="rlhfkit.stages.ppo.module"):
        one = _run(tmp_path, "one", prompts)
    assert "one optimizer for policy and value model" in caplog.text
    assert len(two[0]) == 4 and two[0] == one[0]  # every metric of every iteration, the LRs of both groups too
    assert two[0][0]["ppo/lr/policy"] == pytest.approx(1.5e-3) and two[0][0]["ppo/lr/value"] == pytest.approx(5e-3)
    for a, b in ((two[1], one[1]), (two[2], one[2])):  # policy, critic
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(row["ppo/val/loss"] > 0 for row in two[0])  # the critic trained


def test_auto_is_one_optimizer_under_deepspeed_only():
    class DeepSpeedStrategy:  # Lightning's class name; deepspeed itself need not be installed
        pass

    class DDPStrategy:
        pass

    assert one_optimizer_wanted("auto", DeepSpeedStrategy()) and not one_optimizer_wanted("auto", DDPStrategy())
    assert one_optimizer_wanted("one", DDPStrategy()) and not one_optimizer_wanted("two", DeepSpeedStrategy())
