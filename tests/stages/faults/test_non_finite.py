"""A diverging run (absurd learning rate) stops at the step where it diverges: exit 2, one line
naming the stage, the step and the quantity, and nothing non-finite on disk (no final/, every
checkpoint finite)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from _helpers import run_cli, single_run_dir, write_jsonl

from rlhfkit.errors import NonFiniteError
from rlhfkit.stages.finite_guard import FiniteGuard, check_finite, first_non_finite

WORDS = "please thanks hello world the a cat dog say tell me you".split()
QUIET = ["logger=csv", "callbacks.progress_bar=null", "trainer.enable_progress_bar=false"]


def assert_stopped_cleanly(result, run: Path, stage: str, quantity: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("rlhfkit: error:")]
    assert len(lines) == 1 and f"stage {stage}: step" in lines[0] and quantity in lines[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (run / "final").exists() and not (run / "metrics.json").exists()
    for ckpt in (run / "checkpoints").glob("*.ckpt"):
        state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
        assert first_non_finite(state.items()) is None, ckpt


@pytest.mark.slow
def test_sft_with_an_absurd_lr_stops_at_the_first_bad_step(tmp_path, sft_file):
    runs = tmp_path / "runs"
    result = run_cli("train", "stage=sft", f"data.sft.train.path={sft_file}", "model.size=nano", "stage.lr=1e6",
                     "stage.max_epochs=2", *QUIET, f"paths.runs_dir={runs}")
    assert_stopped_cleanly(result, single_run_dir(runs), "sft", "gradient norm is nan")


@pytest.mark.slow
def test_rm_with_an_absurd_lr_stops_at_the_first_bad_step(tmp_path):
    rng = random.Random(0)
    rows = [{"prompt": f"say {i} :", "chosen": " " + " ".join(rng.choice(WORDS) for _ in range(3)),
             "rejected": " " + " ".join(rng.choice(WORDS) for _ in range(2)), "user_id": f"u{i % 8}"} for i in range(48)]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    runs = tmp_path / "runs"
    result = run_cli("train", "stage=rm", f"data.preference.train.path={data}", "model.size=nano", "stage.lr=1e8",
                     "stage.max_length=48", "stage.batch_size=8", "stage.max_epochs=3", "stage.valid_fraction=0.3",
                     *QUIET, f"paths.runs_dir={runs}")
    assert_stopped_cleanly(result, single_run_dir(runs), "rm", "is ")


@pytest.mark.slow
def test_ppo_with_an_absurd_lr_stops_before_a_non_finite_checkpoint(tmp_path):
    rng = random.Random(0)
    prompts = write_jsonl(tmp_path / "prompts.jsonl",
                          [{"prompt": " ".join(rng.choice(WORDS[2:]) for _ in range(3))} for _ in range(32)])
    runs = tmp_path / "runs"
    result = run_cli("train", "stage=ppo", f"data.prompts.train.path={prompts}", "model.size=nano",
                     "model.tokenizer=words", f"+model.words=[{','.join(WORDS)}]", "stage.max_new_tokens=8",
                     "stage.lr_scheduler.warmup_steps=0", "stage.lr=1e6", "stage.value_lr=1e6", "stage.total_steps=6",
                     "stage.rollout_batch_size=8", "stage.minibatch_size=8", "stage.checkpoint_every=1",
                     "reward=keyword", "reward.wanted=[please]", "reward.banned=[]", *QUIET, f"paths.runs_dir={runs}")
    run = single_run_dir(runs)
    assert_stopped_cleanly(result, run, "ppo", "is ")
    assert not (run / "final_value").exists()


def test_check_finite_names_the_stage_step_quantity_and_last_checkpoint(tmp_path):
    check_finite(torch.tensor([1.0, 2.0]), "sft", 3, "training loss", tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch0.ckpt").write_bytes(b"x")
    with pytest.raises(NonFiniteError, match=r"stage rm: step 7: the training loss is inf; .*epoch0.ckpt"):
        check_finite(torch.tensor([1.0, float("inf")]), "rm", 7, "training loss", tmp_path)


def test_a_checkpoint_with_a_nan_weight_is_refused():
    guard = FiniteGuard("sft")
    trainer = type("T", (), {"global_step": 4})()
    guard.on_save_checkpoint(trainer, None, {"state_dict": {"w": torch.ones(2), "step": torch.tensor(3)}})
    with pytest.raises(NonFiniteError, match=r"weight 'b' is not finite; the checkpoint was not written"):
        guard.on_save_checkpoint(trainer, None, {"state_dict": {"w": torch.ones(2), "b": torch.tensor([float("nan")])}})


class NaNReward:
    """A reward plugin whose third call returns NaN scores (a bug in a user's scorer)."""

    def __init__(self) -> None:
        self.calls = 0

    @staticmethod
    def factory():
        return NaNReward()

    def __call__(self, prompts, completions):
        self.calls += 1
        scores = torch.ones(len(completions))
        return scores * float("nan") if self.calls >= 3 else scores


class NaNRewardPlugin:
    from rlhfkit import hookimpl

    @hookimpl
    def rlhfkit_reward_functions(self):
        return {"nan_after_two": NaNReward.factory}


def test_a_reward_plugin_returning_nan_stops_ppo_naming_the_plugin(tmp_path):
    from hydra import compose, initialize_config_dir

    from rlhfkit.config_dir import config_dir
    from rlhfkit.plugins import get_plugin_manager
    from rlhfkit.stages.ppo.builder import run_ppo

    rng = random.Random(0)
    prompts = write_jsonl(tmp_path / "prompts.jsonl",
                          [{"prompt": " ".join(rng.choice(WORDS[2:]) for _ in range(3))} for _ in range(16)])
    run = tmp_path / "run"
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "stage=ppo", f"data.prompts.train.path={prompts}", "model.size=nano", "stage.max_new_tokens=4",
            "stage.total_steps=4", "stage.rollout_batch_size=4", "stage.minibatch_size=4", "stage.ppo_epochs=1",
            "stage.last_checkpoint_every=1", "reward=custom", "reward.name=nan_after_two", *QUIET,
            f"paths.output_dir={run}"])
    plugins = get_plugin_manager()
    plugins.register(NaNRewardPlugin(), name="nan-reward-test")
    with pytest.raises(NonFiniteError) as caught:
        run_ppo(cfg, plugins, run)
    message = str(caught.value)
    assert "stage ppo: step 3: reward plugin 'nan_after_two' returned 4 non-finite scores of 4 (first: nan)" in message
    assert "last.ckpt" in message and "\n" not in message
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["ppo"]["iteration"] == 2 and first_non_finite(state["state_dict"].items()) is None
    assert not (run / "final").exists()
