"""`stage=ppo` (and `stage=ppo_ptx`): build policy, reference, critic, reward and data from the
config, run PPO, export ``final/`` (policy) and ``final_value/`` (critic)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from transformers import AutoTokenizer

from rlhfkit.algos.kl import KL_ESTIMATORS
from rlhfkit.errors import ConfigError
from rlhfkit.models import ModelBundle, ScalarHeadModel, check_same_tokenizer, scalar_model_from
from rlhfkit.plugins import PluginManager
from rlhfkit.plugins.config_specs import as_spec
from rlhfkit.stages.data_sources import load_split
from rlhfkit.stages.lifecycle import StageRun, log_to_trainer, trainer_metrics
from rlhfkit.stages.ppo.config import PPOConfig, check_minibatch
from rlhfkit.stages.ppo.module import PPOModule
from rlhfkit.stages.ppo.streams import truncation_counts
from rlhfkit.stages.typed_config import from_node

log = logging.getLogger(__name__)

KL_ESTIMATOR_KEY = "estimator"  # kl.estimator: the per-token KL of the shaping, beside its controller (item 15)


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


def kl_parts(cfg: DictConfig) -> tuple[dict[str, Any], str]:
    """The ``kl`` group as (the controller plugin's spec, the KL estimator of the reward shaping)."""
    spec = as_spec(cfg, "kl")
    estimator = str(spec.pop(KL_ESTIMATOR_KEY, "k1"))
    if estimator not in KL_ESTIMATORS:
        raise ConfigError(f"config key 'kl.{KL_ESTIMATOR_KEY}': unknown KL estimator '{estimator}'; "
                          f"known: {', '.join(KL_ESTIMATORS)}")
    return spec, estimator


def run_ppo(cfg: DictConfig, plugins: PluginManager, run_dir: Path) -> dict[str, Any]:
    stage = from_node(PPOConfig, cfg.stage)
    ptx = stage.ptx_coef > 0
    run = StageRun.start(cfg, plugins, run_dir, [
        ("model", "model"), ("dataset", "data.prompts.train"), *([("dataset", "data.pretrain.train")] if ptx else []),
        ("reward", "reward"), ("kl_controller", "kl"), ("advantage", "advantage"),
        ("optimizer", "optim"), ("lr_scheduler", "stage.lr_scheduler"),
    ])
    # the cheap parts first, so that their options are refused before a model loads
    estimator = run.build("advantage", "advantage")
    needs_critic = getattr(estimator, "needs_critic", True)
    group_size = 1 if needs_critic else int(getattr(estimator, "group_size", 1))
    check_minibatch(stage, group_size)
    kl_spec, kl_estimator = kl_parts(cfg)
    kl_controller = plugins.build("kl_controller", kl_spec, "kl")
    bundle = run.build("model", "model")
    counts: dict[str, float] = {}  # load and truncation counts: logged and in metrics.json
    prompts = [e.prompt for e in load_split(cfg, plugins, "data.prompts.train", "prompt", counts)]
    pretrain = [e.text for e in load_split(cfg, plugins, "data.pretrain.train", "text", counts)] if ptx else None
    counts |= truncation_counts(bundle.tokenizer, prompts, pretrain, stage)
    reward_spec = as_spec(cfg, "reward")
    reward_fn = plugins.build("reward", reward_spec, "reward")
    check_reward_tokenizers(reward_fn, bundle.tokenizer)
    value_model = build_value_model(stage.value_init, stage.shared_value_head, bundle, reward_spec) if needs_critic else None
    # One Lightning "batch" is one PPO iteration; the module stops after stage.total_steps of them.
    trainer = run.trainer(reseed_batches=False, max_epochs=-1, max_steps=-1)  # PPO's streams are its own
    module = PPOModule(
        bundle.model, bundle.tokenizer, reward_fn, kl_controller, estimator,
        *run.optimizers(), prompts, stage, value_model=value_model, pretrain_texts=pretrain,
        kl_estimator=kl_estimator, group_size=group_size,
        seed=cfg.seed, run_dir=str(run.run_dir), device_type=trainer.strategy.root_device.type,
        reward_name=str(reward_spec.get("name")),
    )
    log_to_trainer(trainer, counts)
    # the frozen reference is in eval mode on purpose (item 23), not by mistake
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training.*")
    trainer.fit(module, ckpt_path=run.ckpt_path)

    metrics = trainer_metrics(trainer) | counts
    scores = module.score_history
    if scores:
        k = max(1, len(scores) // 4)
        metrics |= {"objective/score_first": scores[0], "objective/score_last": scores[-1],
                    "objective/score_first_quarter": sum(scores[:k]) / k,
                    "objective/score_last_quarter": sum(scores[-k:]) / k}

    def export(final_dir: Path) -> None:
        ModelBundle(module.policy, bundle.tokenizer).save_pretrained(final_dir)
        if module.value_model is not None:
            module.value_model.save_pretrained(run.run_dir / "final_value", bundle.tokenizer)

    return run.finish(trainer, metrics, export, [m for m in (module.policy, module.value_model) if m is not None])
