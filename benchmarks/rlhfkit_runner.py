"""Runs rlhfkit's own PPO stage (``PPOModule.training_step`` under a Lightning ``Trainer.fit``) for
a few steps and records the time of every step and of each phase inside it."""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pytorch_lightning as pl
import torch

from common import BenchConfig, Weights, policy_copy
from rlhfkit.models import ScalarHeadModel
from rlhfkit.plugins import get_plugin_manager
from rlhfkit.stages.ppo.config import FastKernelsConfig, PPOConfig
from rlhfkit.stages.ppo.module import PPOModule

PHASES = ("generate", "policy_forward", "ref_forward", "value_forward", "reward", "advantages", "ppo_epochs")


class PhaseTimer:
    """``phase(name)`` contexts, summed per step (the object ``PPOModule.timer`` takes)."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self.sync = sync
        self.current: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str):
        self.sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.sync()
            self.current[name] = self.current.get(name, 0.0) + time.perf_counter() - start


class StepTimer(pl.Callback):
    """A step is the time from the end of one PPO iteration to the end of the next (the whole loop,
    Lightning's own overhead included), so the first recorded step needs one step before it."""

    def __init__(self, timer: PhaseTimer) -> None:
        self.timer = timer
        self.last: float | None = None
        self.last_cpu = 0.0
        self.steps: list[dict] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.timer.current = {}

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.timer.sync()
        now, cpu = time.perf_counter(), time.process_time()
        if self.last is not None:
            self.steps.append({"step_s": now - self.last, "cpu_s": cpu - self.last_cpu, "phases": dict(self.timer.current)})
        self.last, self.last_cpu = now, cpu


def save_reward_model(weights: Weights, tokenizer, path: Path) -> Path:
    """The reward model as the RM stage writes it, so the stage loads it through its ``reward_model`` plugin."""
    rm = ScalarHeadModel(copy.deepcopy(weights.reward_backbone), role="reward")
    rm.head.load_state_dict(weights.reward_head.state_dict())
    return rm.save_pretrained(path, tokenizer)


def build_module(cfg: BenchConfig, weights: Weights, tokenizer, prompts: list[str], rm_path: Path,
                 total_steps: int, seed: int = 0, fast_kernels: dict[str, bool] | None = None,
                 device: str = "cpu", old_logprobs: str = "forward") -> PPOModule:
    plugins = get_plugin_manager()
    value = ScalarHeadModel(copy.deepcopy(weights.value_backbone), role="value")  # its own backbone
    value.head.load_state_dict(weights.value_head.state_dict())
    reward_fn = plugins.build("reward", {"name": "reward_model", "path": str(rm_path),
                                         "max_length": cfg.prompt + cfg.response + 1, "batch_size": cfg.batch,
                                         "device": device}, "reward")
    optim_spec = {"name": "adamw", "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0}  # TRL's AdamW defaults

    def make_optimizer(params, lr):
        return plugins.build("optimizer", {**optim_spec, "lr": lr}, "optim", params=params)

    def make_scheduler(optimizer, steps):  # TRL: linear decay over the run
        return plugins.build("lr_scheduler", {"name": "linear", "warmup_steps": 0}, "stage.lr_scheduler",
                             optimizer=optimizer, total_steps=steps)

    stage = PPOConfig(
        total_steps=total_steps, rollout_batch_size=cfg.batch, minibatch_size=cfg.batch // cfg.minibatches,
        ppo_epochs=cfg.ppo_epochs, clip_range=cfg.clip_range, value_clip_range=cfg.value_clip_range,
        vf_coef=cfg.vf_coef, temperature=cfg.temperature, max_new_tokens=cfg.response, max_prompt_length=cfg.prompt,
        missing_eos_penalty=None, whiten_rewards=False, whiten_advantages=True, ptx_coef=0.0,
        grad_clip=1.0,  # the stage's default; TRL's PPO loop does not clip (rlhfkit does a little more work)
        lr=cfg.lr, value_lr=cfg.lr, sample_table_every=0, checkpoint_every=0, last_checkpoint_every=0,
        fast_kernels=FastKernelsConfig(**(fast_kernels or {})), old_logprobs=old_logprobs,
    )
    return PPOModule(
        policy_copy(weights, tokenizer), tokenizer, reward_fn,
        plugins.build("kl_controller", {"name": "fixed", "kl_coef": cfg.kl_coef}, "kl"),
        plugins.build("advantage", {"name": "gae", "gamma": cfg.gamma, "lam": cfg.lam}, "advantage"),
        make_optimizer, make_scheduler, prompts, stage, value_model=value, kl_estimator="k1", seed=seed,
        run_dir=None, device_type=device,
    )


class Profile(pl.Callback):
    """torch.profiler over the steps after the burn-in; ``table`` holds the top operators."""

    def __init__(self, burn_in: int, rows: int = 30) -> None:
        self.burn_in, self.rows, self.prof, self.table = burn_in, rows, None, ""

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if batch_idx == self.burn_in:
            self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True)
            self.prof.__enter__()

    def on_train_end(self, trainer, module) -> None:
        if self.prof is not None:
            self.prof.__exit__(None, None, None)
            averages = self.prof.key_averages()
            self.table = averages.table(sort_by="self_cpu_time_total", row_limit=self.rows, max_name_column_width=48)
            self.table_by_shape = self.prof.key_averages(group_by_input_shape=True).table(
                sort_by="self_cpu_time_total", row_limit=self.rows, max_name_column_width=48, max_shapes_column_width=60)


def run(cfg: BenchConfig, weights: Weights, tokenizer, prompts: list[str], rm_path: Path, burn_in: int, steps: int,
        precision: str, seed: int = 0, profile: Profile | None = None,
        fast_kernels: dict[str, bool] | None = None, device: str = "cpu", old_logprobs: str = "forward") -> list[dict]:
    """``burn_in`` + ``steps`` PPO iterations of a fresh module; the records of the last ``steps``.
    ``fast_kernels``: switches of ``stage.fast_kernels`` to force (the others stay ``auto``);
    ``old_logprobs``: ``stage.old_logprobs`` (forward | sampler)."""
    module = build_module(cfg, weights, tokenizer, prompts, rm_path, burn_in + steps, seed, fast_kernels, device,
                          old_logprobs)
    timer = PhaseTimer(torch.cuda.synchronize if device == "cuda" else (lambda: None))
    module.timer = timer
    callback = StepTimer(timer)
    trainer = pl.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu", devices=1,
        precision="bf16-mixed" if precision == "bf16" else "32-true",
        max_epochs=-1, max_steps=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[callback] + ([profile] if profile else []), deterministic=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl.seed_everything(seed, verbose=False)
        trainer.fit(module)
    return callback.steps[-steps:]
