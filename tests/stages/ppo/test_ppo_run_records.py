"""A run records itself in W&B: the stage's whole resolved config (optimizer, LR, model, reward,
KL: not only the LightningModule's hyperparameters), secrets masked, and resolved_config.yaml as
an artifact, in the offline run's files too. PPO here; every stage builds its Trainer the same way
(rlhfkit.stages.lifecycle.StageRun.trainer)."""

from __future__ import annotations

import json
import random
from typing import Any

import yaml
from _helpers import read_wandb_records, run_cli, single_run_dir, write_jsonl

WORDS = "please thanks hello world the a cat dog say tell me you".split()
TINY = ["model.size=nano", "model.tokenizer=words", f"+model.words=[{','.join(WORDS)}]", "stage.max_new_tokens=6",
        "stage.lr_scheduler.warmup_steps=0", "reward=keyword", "reward.wanted=[please]", "reward.banned=[]",
        "stage.rollout_batch_size=8", "stage.minibatch_size=8", "stage.ppo_epochs=1", "stage.total_steps=2",
        "kl=fixed", "kl.kl_coef=0.07", "stage.lr=3e-4", "callbacks=none", "trainer.enable_progress_bar=false"]
SECRET = "sekrit-token-98765"


wandb_records = read_wandb_records


def test_ppo_run_sends_its_whole_masked_config_and_resolved_config_yaml_to_wandb(tmp_path):
    rng = random.Random(0)
    prompts = write_jsonl(tmp_path / "prompts.jsonl",
                          [{"prompt": " ".join(rng.choice(WORDS[2:]) for _ in range(3))} for _ in range(16)])
    result = run_cli("train", "stage=ppo", f"data.prompts.train.path={prompts}", *TINY, "logger=wandb",
                     f"+hf_token={SECRET}", f"paths.runs_dir={tmp_path / 'runs'}", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    run = single_run_dir(tmp_path / "runs")
    [offline] = list((run / "wandb").glob("offline-run-*"))
    records = wandb_records(next(offline.glob("run-*.wandb")))

    config: dict[str, Any] = {}
    for r in records:
        if r.WhichOneof("record_type") == "config":
            config |= {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.config.update}
    assert config["stage"]["total_steps"] == 2 and config["stage"]["lr"] == 3e-4  # the stage's schedule
    assert config["optim"]["name"] and config["model"]["size"] == "nano"  # optimizer, model
    assert config["reward"]["name"] == "keyword" and config["kl"]["kl_coef"] == 0.07  # reward, KL
    assert config["hf_token"] == "***" and SECRET not in json.dumps(config)
    assert "lr" in config and "total_steps" in config  # the module's hyperparameters are still there

    artifacts = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact" and r.artifact.type == "config"]
    assert [[m.path for m in a.manifest.contents] for a in artifacts] == [["resolved_config.yaml"]]
    saved = offline / "files" / "resolved_config.yaml"
    assert saved.is_file() and yaml.safe_load(saved.read_text()) == yaml.safe_load((run / "resolved_config.yaml").read_text())
    assert yaml.safe_load(saved.read_text())["hf_token"] == "***"
    for path in run.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert SECRET.encode() not in path.read_bytes(), path
