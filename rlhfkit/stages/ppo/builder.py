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
from rlhfkit.models import ModelBundle, ScalarHeadModel, scalar_model_from
from rlhfkit.models.lora import LoraOptions, apply_lora_to_body, lora_options, plain_body
from rlhfkit.plugins import PluginManager
from rlhfkit.plugins.config_specs import as_spec
from rlhfkit.rewards.base import reward_parts
from rlhfkit.stages.data_sources import chat_template_choice, load_split
from rlhfkit.stages.examples_preview import prompt_preview, write_preview
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


def _same_vocabulary(a, b) -> bool:
    return a.get_vocab() == b.get_vocab()


def build_value_model(value_init: str, shared: bool, bundle: ModelBundle, reward_spec: dict[str, Any],
                      lora: LoraOptions | None = None) -> ScalarHeadModel:
    """The critic (item 24); one log line says where it starts.

    ``lora`` (``model.lora`` when ``stage.value_lora``): a separate critic gets a fresh LoRA adapter
    on its body, whichever it starts from (a policy copy's body is merged first), and its head
    trains in full; without it the critic trains in full.

    ``shared``: a zero-initialised head on the policy's own body (LHP). Otherwise a separate
    model. The critic reads the policy's token ids, so it can start from a reward model only when
    that RM shares the policy's tokenizer (item 38). ``value_init``:

    * "auto": "reward" when the reward is (or contains) a reward model with the policy's tokenizer
      (IG, N+), else "policy" (no RM, or an RM with its own tokenizer);
    * "reward": the RM's body with its score as the value head (:meth:`ScalarHeadModel.from_pretrained`
      with role "value": rlhfkit's RMs and any HF seq-cls RM); refused when the tokenizers differ;
    * "policy": a zero head on a copy of the policy's body;
    * anything else: a saved reward/value model directory (same tokenizer required).
    """
    if shared:
        log.info("ppo: the value model is a zero-initialised head on the policy's own body (stage.shared_value_head)")
        return ScalarHeadModel(bundle.model.base_model, role="value")  # shares the policy's body
    rm_path = reward_model_path(reward_spec)
    source, why = value_init, ""
    if source == "auto":
        if not rm_path:
            source, why = "policy", "the reward has no reward model"
        elif Path(rm_path).exists() and not _same_vocabulary(bundle.tokenizer, AutoTokenizer.from_pretrained(rm_path)):
            source, why = "policy", f"the reward model at {rm_path} has a different tokenizer (item 38)"
        else:
            source = "reward"
    if source == "policy":
        log.info("ppo: the value model starts from the policy (a zero head on a copy of its body)%s",
                 f": {why}" if why else " (stage.value_init=policy)")
        return _adapted(scalar_model_from(bundle, "value"), lora, "value model's body (a policy copy)")
    what = "reward model"
    if source == "reward":
        source = rm_path
        if not source:
            raise ConfigError("stage.value_init=reward needs a reward_model reward (reward=reward_model reward.path=...)")
    else:
        what = "saved reward/value model"
    if not Path(source).exists():
        raise FileNotFoundError(f"stage.value_init: no reward/value model at '{source}'")
    other = AutoTokenizer.from_pretrained(source)
    if not _same_vocabulary(bundle.tokenizer, other):
        raise ConfigError(
            f"stage.value_init={value_init}: the {what} at '{source}' has a different tokenizer from the policy's "
            f"(vocabulary sizes {len(other)} and {len(bundle.tokenizer)}); the value model reads the policy's token "
            "ids, so it cannot start from it (RLHF_DETAILS item 38); use stage.value_init=policy (or auto)")
    critic = ScalarHeadModel.from_pretrained(source, role="value")  # item 24: critic initialised from the RM
    log.info("ppo: the value model starts from the %s at %s (its body, its score as the value head; same "
             "tokenizer as the policy)", what, source)
    return _adapted(critic, lora, f"value model's body (the {what}'s)")


def _adapted(critic: ScalarHeadModel, lora: LoraOptions | None, what: str) -> ScalarHeadModel:
    """The critic with its body plain (a LoRA policy's copy merged) and, with ``lora``, a fresh adapter on it."""
    critic.backbone = plain_body(critic.backbone)
    if lora is not None:
        critic.backbone = apply_lora_to_body(critic.backbone, lora, what)
    return critic


def check_reward_tokenizers(reward_fn: Any, tokenizer) -> dict[str, bool]:
    """Item 38 for the reward: whether each reward model plugin (weighted sums included) shares the
    policy's tokenizer, logged; ``{RM path: same tokenizer}``.

    A different tokenizer is fine for a reward: reward functions get text (responses are decoded),
    which the RM re-encodes with its own tokenizer (and, for a third party's RM, its own chat
    template: each RM is told the policy's tokenizer, whose template rendered the prompts). What
    reads the policy's token ids must share its tokenizer, i.e. the value model:
    :func:`build_value_model` refuses an RM with another one.
    """
    shares: dict[str, bool] = {}
    for part in reward_parts(reward_fn):
        other = getattr(part, "tokenizer", None)
        if other is None:
            continue
        if callable(getattr(part, "set_policy_tokenizer", None)):
            part.set_policy_tokenizer(tokenizer)
        name = str(getattr(part, "path", type(part).__name__))
        shares[name] = same = _same_vocabulary(tokenizer, other)
        if same:
            log.info("reward: the reward model %s shares the policy's tokenizer", name)
        else:
            log.info("reward: the reward model %s has its own tokenizer (%d tokens; the policy's has %d): "
                     "responses are decoded to text and re-encoded with the RM's tokenizer", name, len(other),
                     len(tokenizer))
    return shares


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
        ("optimizer", "optim"), ("lr_scheduler", "stage.lr_scheduler"), ("sampler", "generation"),
    ])
    # the cheap parts first, so that their options are refused before a model loads
    estimator = run.build("advantage", "advantage")
    needs_critic = getattr(estimator, "needs_critic", True)
    group_size = 1 if needs_critic else int(getattr(estimator, "group_size", 1))
    check_minibatch(stage, group_size)
    kl_spec, kl_estimator = kl_parts(cfg)
    kl_controller = plugins.build("kl_controller", kl_spec, "kl")
    sampler = run.build("sampler", "generation")
    chat_template_choice(cfg)  # data.chat_template refused before the model loads
    bundle = run.build("model", "model")
    counts: dict[str, float] = {}  # load and truncation counts: logged and in metrics.json
    # message-list prompts rendered in the policy's chat format, with its generation prompt
    prompt_examples = load_split(cfg, plugins, "data.prompts.train", "prompt", counts, tokenizer=bundle.tokenizer)
    prompts = [e.prompt for e in prompt_examples]
    pretrain = [e.text for e in load_split(cfg, plugins, "data.pretrain.train", "text", counts)] if ptx else None
    counts |= truncation_counts(bundle.tokenizer, prompts, pretrain, stage)
    reward_spec = as_spec(cfg, "reward")
    reward_fn = plugins.build("reward", reward_spec, "reward")
    check_reward_tokenizers(reward_fn, bundle.tokenizer)
    value_lora = lora_options(as_spec(cfg, "model").get("lora")) if stage.value_lora else None
    value_model = build_value_model(stage.value_init, stage.shared_value_head, bundle, reward_spec,
                                    value_lora) if needs_critic else None
    # One Lightning "batch" is one PPO iteration; the module stops after stage.total_steps of them.
    trainer = run.trainer(reseed_batches=False, max_epochs=-1, max_steps=-1,  # PPO's streams are its own
                          shard=[bundle.model, *([value_model] if value_model is not None else [])])
    module = PPOModule(
        bundle.model, bundle.tokenizer, reward_fn, kl_controller, estimator,
        *run.optimizers(), prompts, stage, value_model=value_model, pretrain_texts=pretrain,
        kl_estimator=kl_estimator, group_size=group_size,
        seed=cfg.seed, run_dir=str(run.run_dir), device_type=trainer.strategy.root_device.type,
        reward_name=str(reward_spec.get("name")), sampler=sampler,
    )
    log_to_trainer(trainer, counts)
    write_preview(run.run_dir, prompt_preview(bundle.tokenizer, prompts, stage.max_prompt_length,
                                              [getattr(e, "origin", None) for e in prompt_examples[:5]]),
                  "ppo", trainer.logger)
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
