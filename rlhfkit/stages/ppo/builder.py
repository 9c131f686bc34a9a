"""`stage=ppo` (and `stage=ppo_ptx`): build policy, reference, critic, reward and data from the
config, run PPO, export ``final/`` (policy) and ``final_value/`` (critic)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from transformers import AutoTokenizer

from rlhfkit.models import ModelBundle, ScalarHeadModel, check_same_tokenizer, scalar_model_from
from rlhfkit.plugins import PluginManager
from rlhfkit.stages.ppo import PPOModule
from rlhfkit.training.common import build_trainer, final_dir, finish_loggers, load_split
from rlhfkit.training.resolve import as_spec, check_names
from rlhfkit.training.run_dir import save_metrics, save_resolved_config, save_versions
from rlhfkit.errors import ConfigError

log = logging.getLogger(__name__)


def ppo_optimizer_factories(cfg: DictConfig, plugins: PluginManager):
    """``(params, lr) -> Optimizer`` from ``optim`` (its kind, betas, eps...) and
    ``(optimizer, total_steps) -> scheduler`` from ``stage.lr_scheduler``.

    PPO has two learning rates (policy, value) and IG's own schedule (constant after 10 warm-up
    iterations, item 14), so ``optim.lr`` and ``optim.scheduler`` are not used by this stage.
    """
    spec = as_spec(cfg, "optim")
    spec.pop("scheduler", None)
    spec.pop("lr", None)
    scheduler_spec = as_spec(cfg, "stage.lr_scheduler") if cfg.stage.get("lr_scheduler") else None

    def make_optimizer(params, lr: float):
        return plugins.build("optimizer", {**spec, "lr": lr}, "optim", params=params)

    def make_scheduler(optimizer, total_steps: int):
        return plugins.build("lr_scheduler", scheduler_spec, "stage.lr_scheduler", optimizer=optimizer, total_steps=total_steps)

    return make_optimizer, (make_scheduler if scheduler_spec else None)


def reward_model_path(reward_spec: dict[str, Any]) -> str | None:
    """The directory of the (first) reward model in a reward spec, weighted sums included."""
    if reward_spec.get("name") == "reward_model":
        return reward_spec.get("path")
    for part in reward_spec.get("components") or []:
        path = reward_model_path(part)
        if path:
            return path
    return None


def build_value_model(value_init: str, shared: bool, bundle: ModelBundle, reward_spec: dict[str, Any]) -> ScalarHeadModel:
    """The critic (item 24).

    ``shared``: a zero-initialised head on the policy's own body (LHP). Otherwise a separate
    model: ``value_init`` "auto" is "reward" when the reward is (or contains) a reward model
    (IG, N+), else "policy"; "reward" copies the RM (body and head); "policy" puts a fresh head on
    a copy of the policy's body; anything else is a saved reward/value model directory.
    """
    if shared:
        return ScalarHeadModel(bundle.model.base_model, role="value")  # shares the policy's body
    source = value_init
    if source == "auto":
        source = "reward" if reward_model_path(reward_spec) else "policy"
    if source == "policy":
        return scalar_model_from(bundle, "value")
    if source == "reward":
        source = reward_model_path(reward_spec)
        if not source:
            raise ConfigError("stage.value_init=reward needs a reward_model reward (reward=reward_model reward.path=...)")
    if not Path(source).exists():
        raise FileNotFoundError(f"stage.value_init: no reward/value model at '{source}'")
    check_same_tokenizer(bundle.tokenizer, AutoTokenizer.from_pretrained(source), "stage.value_init")  # item 38
    return ScalarHeadModel.from_pretrained(source, role="value")  # item 24: critic initialised from the RM


def check_reward_tokenizers(reward_fn: Any, tokenizer) -> None:
    """Item 38: a reward model plugin (even inside a weighted sum) must share the policy's vocabulary."""
    parts = [reward_fn] + [part for _, _, part in getattr(reward_fn, "parts", [])]
    for part in parts:
        other = getattr(part, "tokenizer", None)
        if other is not None:
            check_same_tokenizer(tokenizer, other, "reward")


def run_ppo(cfg: DictConfig, plugins: PluginManager, run_dir: Path) -> dict[str, Any]:
    stage = cfg.stage
    ptx = float(stage.ptx_coef) > 0
    used = check_names(cfg, plugins, [
        ("model", "model"), ("dataset", "data.prompts.train"), *([("dataset", "data.pretrain.train")] if ptx else []),
        ("reward", "reward"), ("kl_controller", "kl"), ("advantage", "advantage"),
        ("optimizer", "optim"), ("lr_scheduler", "stage.lr_scheduler"),
    ])
    save_resolved_config(cfg, run_dir)
    save_versions(used, run_dir)
    pl.seed_everything(cfg.seed, workers=True)

    bundle = plugins.build("model", as_spec(cfg, "model"), "model")
    prompts = [e.prompt for e in load_split(cfg, plugins, "data.prompts.train", "prompt")]
    pretrain = [e.text for e in load_split(cfg, plugins, "data.pretrain.train", "text")] if ptx else None
    reward_spec = as_spec(cfg, "reward")
    reward_fn = plugins.build("reward", reward_spec, "reward")
    check_reward_tokenizers(reward_fn, bundle.tokenizer)
    estimator = plugins.build("advantage", as_spec(cfg, "advantage"), "advantage")
    needs_critic = getattr(estimator, "needs_critic", True)
    value_model = build_value_model(stage.value_init, stage.shared_value_head, bundle, reward_spec) if needs_critic else None
    make_optimizer, make_scheduler = ppo_optimizer_factories(cfg, plugins)

    module = PPOModule(
        bundle.model, bundle.tokenizer, reward_fn, plugins.build("kl_controller", as_spec(cfg, "kl"), "kl"), estimator,
        make_optimizer, make_scheduler, prompts, value_model=value_model,
        shared_value_head=bool(stage.shared_value_head and needs_critic), pretrain_texts=pretrain,
        total_steps=stage.total_steps, rollout_batch_size=stage.rollout_batch_size,
        group_size=1 if needs_critic else int(getattr(estimator, "group_size", 1)),
        minibatch_size=stage.minibatch_size, ppo_epochs=stage.ppo_epochs, clip_range=stage.clip_range,
        value_clip_range=stage.value_clip_range, vf_coef=stage.vf_coef, kl_estimator=stage.kl_estimator,
        temperature=stage.temperature, top_k=stage.top_k, top_p=stage.top_p, max_new_tokens=stage.max_new_tokens,
        max_prompt_length=stage.max_prompt_length, missing_eos_penalty=stage.missing_eos_penalty,
        missing_eos_mode=stage.missing_eos_mode, whiten_rewards=stage.whiten_rewards,
        whiten_advantages=stage.whiten_advantages, ptx_coef=stage.ptx_coef, ptx_batch_size=stage.ptx_batch_size,
        ptx_max_length=stage.ptx_max_length, grad_clip=stage.grad_clip, policy_lr=stage.policy_lr,
        value_lr=stage.value_lr, seed=cfg.seed, sample_table_every=stage.sample_table_every,
        n_sample_rows=stage.n_sample_rows, checkpoint_every=stage.checkpoint_every,
        checkpoint_dir=str(run_dir / "checkpoints"), run_dir=str(run_dir),
    )
    # One Lightning "batch" is one PPO iteration; the module stops after stage.total_steps of them.
    trainer = build_trainer(cfg, max_epochs=-1, max_steps=-1)
    # the frozen reference is in eval mode on purpose (item 23), not by mistake
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training.*")
    trainer.fit(module, ckpt_path=cfg.ckpt_path)

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    scores = module.score_history
    if scores:
        k = max(1, len(scores) // 4)
        metrics |= {"objective/score_first": scores[0], "objective/score_last": scores[-1],
                    "objective/score_first_quarter": sum(scores[:k]) / k,
                    "objective/score_last_quarter": sum(scores[-k:]) / k}
    if trainer.is_global_zero:
        ModelBundle(module.policy, bundle.tokenizer).save_pretrained(final_dir(run_dir))
        if module.value_model is not None:
            module.value_model.save_pretrained(run_dir / "final_value", bundle.tokenizer)
        save_metrics(metrics, run_dir)
    finish_loggers(trainer)
    return metrics
