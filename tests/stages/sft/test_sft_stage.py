"""The SFT stage end to end through the CLI: outputs, W&B offline files, resume, sweep, DDP."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from _helpers import read_wandb_history, run_cli, single_run_dir
from transformers import AutoModelForCausalLM, AutoTokenizer

def steps_per_epoch(sft_file: Path, batch_size: int = 8, ranks: int = 1) -> int:
    """Optimizer steps per epoch: the train side of the by-user split (seed 0, 10% valid), per rank."""
    from rlhfkit.data import load_examples, split_by_user

    train, _, _ = split_by_user(load_examples(str(sft_file), kind="sft"), 0.1, seed=0)
    per_rank = math.ceil(len(train) / ranks)
    return math.ceil(per_rank / batch_size)


TINY = ["model.size=nano", "stage.max_length=48", "stage.batch_size=8", "stage.n_samples=2", "stage.max_new_tokens=6"]


def test_sft_run_writes_model_config_versions_and_wandb_metrics(tmp_path, sft_file):
    secret = "do-not-log-this-key-123"
    result = run_cli("train", "stage=sft", f"data.sft.train.path={sft_file}", "stage.max_epochs=2", *TINY,
                     f"paths.runs_dir={tmp_path}", env={"WANDB_API_KEY": secret})
    assert result.returncode == 0, result.stderr[-3000:]
    run = single_run_dir(tmp_path)

    model = AutoModelForCausalLM.from_pretrained(run / "final")  # exported with save_pretrained
    tokenizer = AutoTokenizer.from_pretrained(run / "final")
    assert model.config.n_layer == 2 and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert (run / "final" / "model.safetensors").exists()
    n = steps_per_epoch(sft_file)
    assert sorted(p.name for p in (run / "checkpoints").glob("epoch*.ckpt")) == [
        f"epoch000-step{n:06d}.ckpt", f"epoch001-step{2 * n:06d}.ckpt"]

    resolved = yaml.safe_load((run / "resolved_config.yaml").read_text())
    assert resolved["stage"]["mask_prompt"] is True and resolved["model"]["size"] == "nano"
    versions = json.loads((run / "versions.json").read_text())
    used = {(p["kind"], p["name"]): p for p in versions["plugins"]}
    assert used[("model", "tiny")]["distribution"] == "rlhfkit" and used[("model", "tiny")]["version"] == "0.1.0"
    assert ("optimizer", "adamw") in used and ("lr_scheduler", "cosine") in used

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val/loss"] > 0 and metrics["val/perplexity"] == pytest.approx(torch.tensor(metrics["val/loss"]).exp().item(), rel=1e-3)
    wandb_files = list((run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(wandb_files) == 1, "W&B must run offline (no account needed)"
    history = read_wandb_history(wandb_files[0])
    val_rows = [row for row in history if "val/loss" in row]
    assert len(val_rows) == 2  # one per epoch
    assert val_rows[-1]["val/loss"] == pytest.approx(metrics["val/loss"], rel=1e-6)
    assert any("train/loss" in row for row in history)
    assert list((run / "wandb").glob("offline-run-*/files/media/table/val/samples_*.table.json"))

    for path in run.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert secret.encode() not in path.read_bytes(), f"the API key leaked into {path}"


def test_sft_learns_the_task(tmp_path, sft_file):
    result = run_cli("train", "stage=sft", f"data.sft.train.path={sft_file}", "stage.max_epochs=6", "stage.lr=3e-3",
                     *TINY, "logger=csv", f"paths.runs_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    run = single_run_dir(tmp_path)
    rows = [line.split(",") for line in (run / "csv" / "version_0" / "metrics.csv").read_text().splitlines()]
    header, body = rows[0], rows[1:]
    col = header.index("val/loss")
    val = [float(r[col]) for r in body if r[col]]
    assert len(val) == 6 and val[-1] < 0.6 * val[0], f"validation loss did not fall: {val}"


def test_resume_from_checkpoint_continues_training(tmp_path, sft_file):
    first = run_cli("train", "stage=sft", f"data.sft.train.path={sft_file}", "stage.max_epochs=1", *TINY,
                    "logger=none", f"paths.runs_dir={tmp_path / 'a'}")
    assert first.returncode == 0, first.stderr[-3000:]
    last = single_run_dir(tmp_path / "a") / "checkpoints" / "last.ckpt"
    n = steps_per_epoch(sft_file)
    state = torch.load(last, weights_only=False)
    assert state["epoch"] == 0 and state["global_step"] == n
    resumed = run_cli("train", "stage=sft", f"data.sft.train.path={sft_file}", "stage.max_epochs=2", *TINY,
                      f"ckpt_path={last}", "logger=none", f"paths.runs_dir={tmp_path / 'b'}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    run = single_run_dir(tmp_path / "b")
    names = sorted(p.name for p in (run / "checkpoints").glob("epoch*.ckpt"))
    assert names == [f"epoch001-step{2 * n:06d}.ckpt"], "the resumed run should train epoch 1 only, from step n"
    after = torch.load(run / "checkpoints" / names[0], weights_only=False)
    assert after["global_step"] == 2 * n
    assert after["optimizer_states"][0]["state"], "optimizer state must be restored and carried on"


def test_mask_prompt_false_trains_on_the_prompt_too(tmp_path, sft_file):
    result = run_cli("train", "stage=sft", "stage.mask_prompt=false", f"data.sft.train.path={sft_file}",
                     "stage.max_epochs=1", *TINY, "logger=none", f"paths.runs_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert yaml.safe_load((single_run_dir(tmp_path) / "resolved_config.yaml").read_text())["stage"]["mask_prompt"] is False


def test_sweep_runs_one_job_per_value(tmp_path, sft_file):
    result = run_cli("train", "-m", "stage.lr=1e-3,3e-3", "stage=sft", f"data.sft.train.path={sft_file}",
                     "stage.max_epochs=1", "stage.limit_train_batches=2", *TINY, "logger=none", f"paths.runs_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted((tmp_path / "train").glob("multirun_*/*/resolved_config.yaml"))
    assert [yaml.safe_load(p.read_text())["stage"]["lr"] for p in jobs] == [1e-3, 3e-3]
    assert all((p.parent / "final" / "model.safetensors").exists() for p in jobs)


def test_bad_record_fails_with_file_and_line(tmp_path, jsonl):
    path = jsonl("bad.jsonl", [{"prompt": "a", "completion": "b"}, {"prompt": "a"}])
    result = run_cli("train", "stage=sft", f"data.sft.train.path={path}", *TINY, "logger=none", f"paths.runs_dir={tmp_path}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{path}:2" in result.stderr


@pytest.mark.ddp
def test_ddp_two_cpu_processes(tmp_path, sft_file):
    result = run_cli("train", "stage=sft", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
                     f"data.sft.train.path={sft_file}", "stage.max_epochs=1", *TINY, "logger=csv",
                     f"paths.runs_dir={tmp_path}", timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    run = single_run_dir(tmp_path)
    assert (run / "final" / "model.safetensors").exists()
    # the DistributedSampler gives each rank half the train examples: fewer steps than one process
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["global_step"] == steps_per_epoch(sft_file, ranks=2) < steps_per_epoch(sft_file)
    assert "distributed_backend=gloo" in result.stderr or "gloo" in result.stdout + result.stderr


def test_hygiene_filters_report_what_they_changed(tmp_path, jsonl):
    rows = [{"prompt": f"task {i} : mail me at user{i}@example.com", "completion": " ok", "user_id": f"u{i % 10}"} for i in range(20)]
    rows.append(dict(rows[0]))  # a duplicate prompt
    path = jsonl("pii.jsonl", rows)
    result = run_cli("train", "stage=sft", f"data.sft.train.path={path}", "stage.max_epochs=1", *TINY,
                     "logger=none", f"paths.runs_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((single_run_dir(tmp_path) / "metrics.json").read_text())
    scrub = {k.rsplit("/", 1)[-1]: v for k, v in metrics.items() if "/hygiene/0_scrub_pii/" in k}
    dedupe = {k.rsplit("/", 1)[-1]: v for k, v in metrics.items() if "/hygiene/1_dedupe/" in k}
    assert scrub["pii_email"] == 21 and scrub["in"] == scrub["out"] == 21
    assert dedupe["in"] == 21 and dedupe["out"] == 20 and dedupe["duplicate_prefix"] == 1
