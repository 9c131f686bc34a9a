"""`stage=rm`: train a reward model on rankings, normalise it, export ``final/`` and a report.

After the fit (rank 0): the bias normalisation (item 9, :mod:`rlhfkit.stages.rm.normalisation`)
is fitted on demonstrations, folded into the RM and checked by reloading it the way PPO will.
``final/`` is a standard Hugging Face ``AutoModelForSequenceClassification`` checkpoint (num_labels=1)
whose logits are the normalised reward (:mod:`rlhfkit.models.seq_cls`), its tokenizer and chat
template beside it; ``rm_report.json`` says where the normalisation went. The run directory gets
``metrics.json`` and ``rm_report.json``: held-out accuracy overall, per labeler and per labeler
group, inter-labeler agreement (train and valid pools, overall and within each group), pairs and
ties counted.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlhfkit.data.examples import group_of
from rlhfkit.errors import ConfigError
from rlhfkit.models.lora import base_model_of, log_parameter_counts
from rlhfkit.models.scalar_head import ScalarHeadModel
from rlhfkit.plugins import PluginManager
from rlhfkit.stages.data_sources import chat_template_choice, filter_hook, filter_keys, load_split, train_valid
from rlhfkit.stages.examples_preview import ranking_preview, write_preview
from rlhfkit.stages.lifecycle import StageRun, fit_on_examples, log_to_trainer, trainer_metrics
from rlhfkit.stages.rm.batching import RankingCollator, ranking_truncation_counts
from rlhfkit.stages.rm.config import RMConfig
from rlhfkit.stages.rm.metrics import agreement_report
from rlhfkit.stages.rm.module import RewardModelModule
from rlhfkit.stages.rm.normalisation import normalise_and_export
from rlhfkit.stages.rm.report import data_report, drop_all_tied, flat, log_summary, no_nan, summary
from rlhfkit.stages.typed_config import from_node


def run_rm(cfg: DictConfig, plugins: PluginManager, run_dir: Path) -> dict[str, Any]:
    stage = from_node(RMConfig, cfg.stage)
    parts = [("model", "model"), ("dataset", "data.preference.train"), ("dataset", "data.preference.valid"),
             ("optimizer", "optim"), ("lr_scheduler", "stage.lr_scheduler"), *filter_keys(cfg, "preference")]
    if stage.normalisation.mode != "none" and stage.normalisation.source == "data.sft.train":
        parts.append(("dataset", "data.sft.train"))
    run = StageRun.start(cfg, plugins, run_dir, parts)
    chat_template_choice(cfg)  # data.chat_template refused before the model loads

    bundle = run.build("model", "model")
    # head init item 10; with model.lora the body keeps the adapter layers (frozen base), the head trains in full
    model = ScalarHeadModel.from_causal_lm(base_model_of(bundle.model), role="reward")
    log_parameter_counts(model, "reward model (body + scalar head)")
    tokenizer = bundle.tokenizer
    del bundle  # the RM holds a copy of the body; the LM head is not needed

    hygiene: dict[str, float] = {}  # load, filter and truncation counts: logged, metrics.json, rm_report.json
    train, valid = train_valid(cfg, plugins, "preference", "preference", stage.valid_fraction,  # in the model's chat format
                               prepare=filter_hook(cfg, plugins, "preference", hygiene), counts=hygiene,
                               tokenizer=tokenizer)
    group = functools.partial(group_of, key=stage.group_key)
    agreement = {"train": agreement_report(train, group), "valid": agreement_report(valid, group)}
    train, n_tied_train = drop_all_tied(train, "train")
    valid, n_tied_valid = drop_all_tied(valid, "valid")
    if not train or not valid:
        raise ConfigError("data.preference: no ranking with a comparable pair is left in "
                          f"{'train' if not train else 'valid'} (all ties?)")
    hygiene |= ranking_truncation_counts(tokenizer, {"train": train, "valid": valid}, stage.max_length)
    data = data_report(train, valid, {"train": n_tied_train, "valid": n_tied_valid}, group)

    labelers = sorted({e.labeler_id for e in valid if e.labeler_id is not None})
    groups = sorted({g for e in valid if (g := group(e)) is not None})
    collate = RankingCollator(tokenizer, stage.max_length, {n: i for i, n in enumerate(labelers)},
                              {g: i for i, g in enumerate(groups)}, group_key=stage.group_key)
    module = RewardModelModule(model, tokenizer, stage, *run.optimizers(), labeler_names=labelers,
                               group_names=groups, samples_dir=str(run.run_dir))
    trainer = run.trainer(max_epochs=stage.max_epochs, max_steps=stage.max_steps, shard=[model],
                          limit_train_batches=stage.limit_train_batches)
    data_counts = hygiene | flat(data, "data/preference/")  # skips, ties dropped, truncation: into metrics.json
    log_to_trainer(trainer, data_counts | flat(agreement, "agreement/"))
    write_preview(run.run_dir, ranking_preview(tokenizer, train, collate), "rm", trainer.logger)
    fit_on_examples(run, trainer, module, train, valid, collate, stage)
    metrics = trainer_metrics(trainer) | data_counts

    def export(final_dir: Path) -> None:
        sft_data = lambda: load_split(cfg, plugins, "data.sft.train", "sft", metrics, tokenizer=tokenizer)  # noqa: E731
        normalisation = normalise_and_export(stage, module.model, tokenizer, train, sft_data, final_dir)
        metrics["rm/demo_score_mean_after_norm"] = normalisation["demo_after_norm"]["mean"]
        metrics["rm/demo_score_mean_raw"] = normalisation["demo_raw"]["mean"]
        metrics["rm/gain"], metrics["rm/offset"] = normalisation["gain"], normalisation["offset"]
        for split in ("train", "valid"):
            rate = agreement[split]["all"]["rate"]
            if not math.isnan(rate):
                metrics[f"agreement/{split}"] = rate
        log_to_trainer(trainer, {k: v for k, v in metrics.items() if k.startswith(("rm/", "agreement/"))},
                       step=trainer.global_step)
        report = {"summary": summary(module.val_report, agreement, data, normalisation),
                  "valid": module.val_report, "agreement": agreement, "data": data,
                  "hygiene": hygiene, "normalisation": normalisation, "final_dir": str(final_dir)}
        (run.run_dir / "rm_report.json").write_text(json.dumps(no_nan(report), indent=2, default=float) + "\n")
        log_summary(report)

    return run.finish(trainer, metrics, export, [module.model])
