"""Runs TRL's PPO trainer (``trl.experimental.ppo``, trl 1.12.0: ``pip install -e '.[trl]'``) on the
same config, models and prompts as the rlhfkit side, and records the time of every step.

Only the benchmark imports TRL; rlhfkit itself never does.

Same work: the same policy (no-specials head, so exactly T tokens, ``stop_token=None``), a frozen
reference copy, a value model and a reward model with their own GPT-2 backbones (TRL's
``AutoModelForSequenceClassification``: backbone + a d->1 score layer, the same weights as rlhfkit's),
B rollouts, T tokens, temperature 0.7, k1 KL with a fixed coefficient, GAE (gamma 1, lam 0.95),
whitened advantages, ``num_ppo_epochs`` epochs of ``num_mini_batches`` minibatches, AdamW.
TRL's PPOConfig turns gradient checkpointing ON by default (recomputation); it is switched off
here, so TRL is timed at its best.
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from pathlib import Path

import torch

from common import BenchConfig, Weights, model_config, policy_copy


def _value_like(cfg: BenchConfig, tokenizer, backbone, head) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_config(model_config(cfg, tokenizer, num_labels=1))
    model.base_model.load_state_dict(copy.deepcopy(backbone.state_dict()))
    with torch.no_grad():
        model.score.weight.copy_(head.weight)  # TRL's score layer has no bias (rlhfkit's is 0)
    return model.eval()


def run(cfg: BenchConfig, weights: Weights, tokenizer, prompts: list[str], out_dir: Path, burn_in: int, steps: int,
        precision: str, seed: int = 0, device: str = "cpu") -> list[dict]:
    """``burn_in`` + ``steps`` PPO updates of a fresh trainer; the step times of the last ``steps``."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # we know it is experimental
    from datasets import Dataset
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    class StepTimes(TrainerCallback):
        """Time between consecutive ends of PPO updates (the first from the start of training)."""

        def __init__(self) -> None:
            self.last, self.last_cpu, self.steps = None, 0.0, []

        def on_train_begin(self, args, state, control, **kwargs):
            self.last, self.last_cpu = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kwargs):
            if device == "cuda":
                torch.cuda.synchronize()
            now, cpu = time.perf_counter(), time.process_time()
            self.steps.append({"step_s": now - self.last, "cpu_s": cpu - self.last_cpu})
            self.last, self.last_cpu = now, cpu

    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    assert all(len(x) == cfg.prompt for x in ids)
    dataset = Dataset.from_dict({"input_ids": ids})
    args = PPOConfig(
        output_dir=str(out_dir), report_to="none", save_strategy="no", num_sample_generations=0,
        per_device_train_batch_size=cfg.batch, gradient_accumulation_steps=1, num_mini_batches=cfg.minibatches,
        local_rollout_forward_batch_size=cfg.batch, num_ppo_epochs=cfg.ppo_epochs, response_length=cfg.response,
        temperature=cfg.temperature, stop_token=None, missing_eos_penalty=None, kl_coef=cfg.kl_coef,
        kl_estimator="k1", whiten_rewards=False, vf_coef=cfg.vf_coef, cliprange=cfg.clip_range,
        cliprange_value=cfg.value_clip_range, gamma=cfg.gamma, lam=cfg.lam, learning_rate=cfg.lr,
        adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, weight_decay=0.0, lr_scheduler_type="linear",
        total_episodes=cfg.batch * (burn_in + steps), bf16=precision == "bf16", fp16=False,
        gradient_checkpointing=False, use_cpu=device == "cpu", seed=seed, disable_tqdm=True, logging_steps=10 ** 9,
        dataloader_num_workers=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = PPOTrainer(
            args=args, processing_class=tokenizer, model=policy_copy(weights, tokenizer),
            ref_model=policy_copy(weights, tokenizer),
            reward_model=_value_like(cfg, tokenizer, weights.reward_backbone, weights.reward_head),
            value_model=_value_like(cfg, tokenizer, weights.value_backbone, weights.value_head),
            train_dataset=dataset, eval_dataset=dataset,
        )
        for cb in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(cb)
        timer = StepTimes()
        trainer.add_callback(timer)
        trainer.train()
    return timer.steps[-steps:]
