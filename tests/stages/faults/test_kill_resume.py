"""kill -9 a stage, resume it with the one recipe (``ckpt_path=<run>/checkpoints/last.ckpt``), and
the steps it then takes are bit for bit those of the uninterrupted run: every logged loss, the
data order (the losses depend on it), and the final weights."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _helpers import REPO_ROOT, run_cli, write_jsonl
from safetensors.torch import load_file

WORDS = "please thanks hello world the a cat dog say tell me you".split()
QUIET = ["logger=csv", "callbacks.progress_bar=null", "trainer.enable_progress_bar=false",
         "trainer.log_every_n_steps=1"]
ENV = {"WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}


def kill_when(args: list[str], ready, timeout: float = 240) -> None:
    """Start ``rlhfkit train ARGS``, SIGKILL it as soon as ``ready()`` is true (it must not finish first)."""
    proc = subprocess.Popen([sys.executable, "-m", "rlhfkit.cli", "train", *args], cwd=REPO_ROOT,
                            env={**os.environ, **ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before it could be killed: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run never reached the point to kill it at")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def train(args: list[str]) -> None:
    result = run_cli("train", *args, env=ENV, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def losses_by_step(run: Path) -> dict[int, str]:
    """``train/loss`` of every step, as the CSV logger wrote it (full repr: a bitwise comparison)."""
    rows = list(csv.DictReader((run / "csv" / "version_0" / "metrics.csv").open()))
    return {int(r["step"]): r["train/loss"] for r in rows if r.get("train/loss")}


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(a / "final" / "model.safetensors"), load_file(b / "final" / "model.safetensors")
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name


def check_resume(tmp_path: Path, args: list[str], ready_file: str) -> tuple[Path, Path]:
    straight, killed, resumed = tmp_path / "straight", tmp_path / "killed", tmp_path / "resumed"
    train([*args, f"hydra.run.dir={straight}"])
    kill_when([*args, f"hydra.run.dir={killed}"], lambda: any((killed / "checkpoints").glob(ready_file)))
    last = killed / "checkpoints" / "last.ckpt"
    train([*args, f"hydra.run.dir={resumed}", f"ckpt_path={last}"])
    assert_same_weights(straight, resumed)
    return straight, resumed


@pytest.mark.slow
def test_sft_killed_and_resumed_takes_the_same_steps(tmp_path, sft_file):
    args = ["stage=sft", f"data.sft.train.path={sft_file}", "model.size=nano", "stage.max_length=48",
            "stage.batch_size=8", "stage.max_epochs=4", "stage.n_samples=1", "stage.max_new_tokens=4",
            "model.dropout=0.1", *QUIET]
    straight, resumed = check_resume(tmp_path, args, "epoch001-*.ckpt")
    before, after = losses_by_step(straight), losses_by_step(resumed)
    assert after and set(after) < set(before)  # only the steps after the checkpoint were run again
    assert {s: before[s] for s in after} == after
    assert len(set(before.values())) > len(before) // 2  # dropout on: the losses are not all alike


def preference_rows(n: int = 48) -> list[dict]:
    rng = random.Random(0)
    return [{"prompt": f"say {i} :", "chosen": " " + " ".join(rng.choice(WORDS) for _ in range(3)),
             "rejected": " " + " ".join(rng.choice(WORDS) for _ in range(2)), "user_id": f"u{i % 8}"}
            for i in range(n)]


@pytest.mark.slow
def test_rm_killed_and_resumed_takes_the_same_steps(tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", preference_rows())
    args = ["stage=rm", f"data.preference.train.path={data}", "model.size=nano", "stage.max_length=48",
            "stage.batch_size=4", "stage.max_epochs=4", "stage.valid_fraction=0.3", "model.dropout=0.1", *QUIET]
    straight, resumed = check_resume(tmp_path, args, "epoch001-*.ckpt")
    before, after = losses_by_step(straight), losses_by_step(resumed)
    assert after and set(after) < set(before)
    assert {s: before[s] for s in after} == after
    assert json.loads((straight / "metrics.json").read_text())["val/accuracy"] == \
        json.loads((resumed / "metrics.json").read_text())["val/accuracy"]


@pytest.mark.slow
def test_ppo_killed_and_resumed_takes_the_same_iterations(tmp_path):
    rng = random.Random(0)
    prompts = write_jsonl(tmp_path / "prompts.jsonl",
                          [{"prompt": " ".join(rng.choice(WORDS[2:]) for _ in range(3))} for _ in range(32)])
    args = ["stage=ppo", f"data.prompts.train.path={prompts}", "model.size=nano", "model.tokenizer=words",
            f"+model.words=[{','.join(WORDS)}]", "stage.max_new_tokens=6", "stage.total_steps=6",
            "stage.rollout_batch_size=8", "stage.minibatch_size=4", "stage.last_checkpoint_every=1",
            "stage.checkpoint_every=0", "kl=adaptive", "reward=keyword", "reward.wanted=[please]", "reward.banned=[]",
            *QUIET]
    killed_history = tmp_path / "killed" / "ppo_history.jsonl"

    def two_iterations_done() -> bool:
        return killed_history.exists() and len(killed_history.read_text().splitlines()) >= 2

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train([*args, f"hydra.run.dir={straight}"])
    kill_when([*args, f"hydra.run.dir={tmp_path / 'killed'}"], two_iterations_done)
    state = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu")
    done = state["ppo"]["iteration"]
    assert done >= 1
    train([*args, f"hydra.run.dir={resumed}", f"ckpt_path={tmp_path / 'killed' / 'checkpoints' / 'last.ckpt'}"])
    lines = [json.loads(line) for line in (straight / "ppo_history.jsonl").read_text().splitlines()]
    again = [json.loads(line) for line in (resumed / "ppo_history.jsonl").read_text().splitlines()]
    assert [row["ppo/iteration"] for row in again] == [float(i) for i in range(done + 1, 7)]
    timing = ("perf/iteration_s", "perf/tokens_per_s")

    def same(row: dict, expected: dict) -> bool:
        return {k: v for k, v in row.items() if k not in timing} == {k: v for k, v in expected.items() if k not in timing}

    assert all(same(row, lines[int(row["ppo/iteration"]) - 1]) for row in again)
    assert_same_weights(straight, resumed)

    # ckpt_path=last in the killed run's own directory: it continues there, one history line per iteration
    train([*args, f"hydra.run.dir={tmp_path / 'killed'}", "ckpt_path=last"])
    in_place = [json.loads(line) for line in killed_history.read_text().splitlines()]
    assert [row["ppo/iteration"] for row in in_place] == [float(i) for i in range(1, 7)]
    assert all(same(row, expected) for row, expected in zip(in_place, lines))
    assert_same_weights(straight, tmp_path / "killed")
