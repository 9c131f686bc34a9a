"""`stage=rm`: train a reward model on rankings, normalise it, export ``final/`` and a report.

After the fit (rank 0): the bias normalisation (item 9) is computed on demonstrations, saved with
the RM (``ScalarHeadModel.save_pretrained``) and checked by reloading the RM the way PPO will
(:class:`rlhfkit.rewards.reward_model.RewardModelFn`). The run directory gets ``metrics.json`` and
``rm_report.json``: held-out accuracy overall, per labeler and per labeler group, inter-labeler
agreement (train and valid pools, overall and within each group), pairs and ties counted.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from rlhfkit.algos import gain_and_bias, reward_bias
from rlhfkit.evaluate.rm_metrics import agreement_report, group_of, tie_counts
from rlhfkit.models.scalar_head import ScalarHeadModel
from rlhfkit.plugins import PluginManager
from rlhfkit.stages.reward_model import RewardModelModule, score_texts
from rlhfkit.stages.sft_run import optimizer_factories
from rlhfkit.training.collate import make_loader
from rlhfkit.training.common import build_trainer, final_dir, finish_loggers, load_split, train_valid
from rlhfkit.training.hygiene_step import filter_hook, filter_keys
from rlhfkit.training.ranking_collate import RankingCollator, count_too_long_rankings
from rlhfkit.training.resolve import as_spec, check_names
from rlhfkit.training.run_dir import save_metrics, save_resolved_config, save_versions
from rlhfkit.errors import ConfigError

log = logging.getLogger(__name__)

NORMALISATION_MODES = ("demonstrations", "gain_bias", "none")
DEMO_SOURCES = ("chosen", "data.sft.train")


def _check_normalisation(norm: DictConfig) -> None:
    if norm.mode not in NORMALISATION_MODES:
        raise ConfigError(f"stage.normalisation.mode: unknown '{norm.mode}'; known: {', '.join(NORMALISATION_MODES)}")
    if norm.source not in DEMO_SOURCES:
        raise ConfigError(f"stage.normalisation.source: unknown '{norm.source}'; known: {', '.join(DEMO_SOURCES)}")


def demonstrations(cfg: DictConfig, plugins: PluginManager, train: list) -> tuple[list[str], list[str]]:
    """(prompts, completions) the normalisation is fitted on (item 9), per ``stage.normalisation.source``.

    "chosen": every best-ranked (rank 0) completion of the training rankings, ties included;
    "data.sft.train": the SFT demonstrations (N+).
    """
    norm = cfg.stage.normalisation
    if norm.source == "data.sft.train":
        pairs = [(e.prompt, e.completion) for e in load_split(cfg, plugins, "data.sft.train", "sft")]
    else:
        pairs = [(e.prompt, c) for e in train for c, r in zip(e.completions, e.ranks) if r == 0]
    if norm.limit is not None:
        pairs = pairs[: int(norm.limit)]
    if not pairs:
        raise ConfigError(f"stage.normalisation.source={norm.source}: no demonstrations to normalise on")
    return [p for p, _ in pairs], [c for _, c in pairs]


def fit_normalisation(raw: torch.Tensor, mode: str, target_mean: float, target_std: float) -> tuple[float, float]:
    """``(gain, offset)`` with ``normalised = gain * raw + offset`` (item 9)."""
    if mode == "demonstrations":
        return 1.0, float(target_mean - reward_bias(raw))  # IG / N+: subtract the demonstrations' mean
    if mode == "gain_bias":
        gain, bias = gain_and_bias(raw, target_mean, target_std)  # LHP: mean target_mean, std target_std
        return float(gain), float(bias)
    return 1.0, 0.0


def _stats(x: torch.Tensor) -> dict[str, float]:
    return {"mean": float(x.mean()), "std": float(x.std(correction=0)), "n": int(x.numel())}


def normalise_and_export(cfg: DictConfig, plugins: PluginManager, model: ScalarHeadModel, tokenizer,
                         train: list, out_dir: Path) -> dict[str, Any]:
    """Fit the normalisation on demonstrations, save the RM, reload it as PPO will and check it."""
    from rlhfkit.rewards.reward_model import RewardModelFn

    stage, norm = cfg.stage, cfg.stage.normalisation
    prompts, completions = demonstrations(cfg, plugins, train)
    raw = score_texts(model, tokenizer, prompts, completions, stage.max_length, norm.batch_size)  # (N,)
    gain, offset = fit_normalisation(raw, norm.mode, norm.target_mean, norm.target_std)
    model.set_normalisation(gain, offset)
    model.save_pretrained(out_dir, tokenizer)
    reloaded = RewardModelFn(str(out_dir), max_length=stage.max_length, batch_size=norm.batch_size,
                             device=str(next(model.parameters()).device))
    after = reloaded(prompts, completions)  # (N,) normalised, as every user of the RM sees it
    del reloaded
    report = {"mode": norm.mode, "source": norm.source, "gain": gain, "offset": offset,
              "demo_raw": _stats(raw), "demo_after_norm": _stats(after)}
    log.info("rm: normalisation %s on %d demonstrations (%s): gain %.4g, offset %.4g; demonstrations "
             "score mean %.4g (std %.4g) after normalisation", norm.mode, len(prompts), norm.source,
             gain, offset, report["demo_after_norm"]["mean"], report["demo_after_norm"]["std"])
    return report


def _data_report(train: list, valid: list, n_all_tied: dict[str, int], too_long: int,
                 group: Callable[[Any], str | None] = group_of) -> dict[str, Any]:
    ties = {"train": tie_counts(train), "valid": tie_counts(valid)}
    groups = {"train": sorted({g for e in train if (g := group(e)) is not None}),
              "valid": sorted({g for e in valid if (g := group(e)) is not None})}
    return {"train_rankings": len(train), "valid_rankings": len(valid),
            "train_pairs": ties["train"]["pairs"], "valid_pairs": ties["valid"]["pairs"],
            "tied_pairs_dropped": {s: ties[s]["tied_pairs"] for s in ties},
            "all_tied_rankings_dropped": n_all_tied, "train_rows_truncated": too_long,
            "labelers": {"train": len({e.labeler_id for e in train if e.labeler_id is not None}),
                         "valid": len({e.labeler_id for e in valid if e.labeler_id is not None})},
            "groups": groups}


def _drop_all_tied(examples: list, where: str) -> tuple[list, int]:
    kept = [e for e in examples if e.pairs()]
    if len(kept) < len(examples):
        log.warning("data.preference (%s): %d of %d rankings are all ties (no pair, item 7) and are "
                    "dropped", where, len(examples) - len(kept), len(examples))
    return kept, len(examples) - len(kept)


def _flat(report: dict[str, Any], prefix: str) -> dict[str, float]:
    out = {}
    for key, value in report.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}/")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and not (isinstance(value, float) and math.isnan(value)):
            out[f"{prefix}{key}"] = float(value)
    return out


def run_rm(cfg: DictConfig, plugins: PluginManager, run_dir: Path) -> dict[str, Any]:
    stage = cfg.stage
    _check_normalisation(stage.normalisation)
    wanted = [("model", "model"), ("dataset", "data.preference.train"), ("dataset", "data.preference.valid"),
              ("optimizer", "optim"), ("lr_scheduler", "optim.scheduler"), *filter_keys(cfg, "preference")]
    if stage.normalisation.mode != "none" and stage.normalisation.source == "data.sft.train":
        wanted.append(("dataset", "data.sft.train"))
    used = check_names(cfg, plugins, wanted)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_resolved_config(cfg, run_dir)
    save_versions(used, run_dir)
    pl.seed_everything(cfg.seed, workers=True)

    bundle = plugins.build("model", as_spec(cfg, "model"), "model")
    model = ScalarHeadModel.from_causal_lm(bundle.model, role="reward")  # head init item 10
    tokenizer = bundle.tokenizer
    del bundle  # the RM holds a copy of the body; the LM head is not needed

    hygiene: dict[str, float] = {}
    train, valid = train_valid(cfg, plugins, "preference", "preference", stage.valid_fraction,
                               prepare=filter_hook(cfg, plugins, "preference", hygiene))
    group = lambda e: group_of(e, stage.group_key)  # noqa: E731
    agreement = {"train": agreement_report(train, group), "valid": agreement_report(valid, group)}
    train, n_tied_train = _drop_all_tied(train, "train")
    valid, n_tied_valid = _drop_all_tied(valid, "valid")
    if not train or not valid:
        raise ConfigError("data.preference: no ranking with a comparable pair is left in "
                         f"{'train' if not train else 'valid'} (all ties?)")
    too_long = count_too_long_rankings(tokenizer, train, stage.max_length, "data.preference.train")
    data_report = _data_report(train, valid, {"train": n_tied_train, "valid": n_tied_valid}, too_long, group)

    labelers = sorted({e.labeler_id for e in valid if e.labeler_id is not None})
    groups = sorted({g for e in valid if (g := group(e)) is not None})
    collate = RankingCollator(tokenizer, stage.max_length, {n: i for i, n in enumerate(labelers)},
                              {g: i for i, g in enumerate(groups)}, group_key=stage.group_key)
    overrides = {"lr": stage.lr} if stage.get("lr") is not None else {}
    make_optimizer, make_scheduler = optimizer_factories(cfg, plugins, **overrides)
    module = RewardModelModule(model, tokenizer, make_optimizer, make_scheduler, margin=stage.margin,
                               labeler_names=labelers, group_names=groups,
                               n_table_pairs=stage.n_table_pairs, samples_dir=str(run_dir))
    trainer = build_trainer(cfg, max_epochs=stage.max_epochs, max_steps=stage.max_steps,
                            limit_train_batches=stage.limit_train_batches)
    pre_fit = hygiene | _flat(data_report, "data/preference/") | _flat(agreement, "agreement/")
    for logger in trainer.loggers:
        logger.log_metrics(pre_fit, step=0)
    trainer.fit(
        module,
        train_dataloaders=make_loader(train, collate, stage.batch_size, shuffle=True, num_workers=stage.num_workers),
        val_dataloaders=make_loader(valid, collate, stage.batch_size, shuffle=False, num_workers=stage.num_workers),
        ckpt_path=cfg.ckpt_path,
    )
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if trainer.is_global_zero:
        normalisation = normalise_and_export(cfg, plugins, module.model, tokenizer, train, final_dir(run_dir))
        metrics["rm/demo_score_mean_after_norm"] = normalisation["demo_after_norm"]["mean"]
        metrics["rm/demo_score_mean_raw"] = normalisation["demo_raw"]["mean"]
        metrics["rm/gain"], metrics["rm/offset"] = normalisation["gain"], normalisation["offset"]
        for split in ("train", "valid"):
            rate = agreement[split]["all"]["rate"]
            if not math.isnan(rate):
                metrics[f"agreement/{split}"] = rate
        for logger in trainer.loggers:
            logger.log_metrics({k: v for k, v in metrics.items() if k.startswith(("rm/", "agreement/"))},
                               step=trainer.global_step)
        report = {"summary": _summary(module.val_report, agreement, data_report, normalisation),
                  "valid": module.val_report, "agreement": agreement, "data": data_report,
                  "hygiene": hygiene, "normalisation": normalisation, "final_dir": str(final_dir(run_dir))}
        (run_dir / "rm_report.json").write_text(json.dumps(_no_nan(report), indent=2, default=float) + "\n")
        save_metrics(metrics, run_dir)
        _log_summary(report)
    finish_loggers(trainer)
    return metrics


def _no_nan(node: Any) -> Any:
    """NaN (a rate over zero comparisons) as JSON null."""
    if isinstance(node, dict):
        return {k: _no_nan(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_no_nan(v) for v in node]
    return None if isinstance(node, float) and math.isnan(node) else node


def _summary(valid: dict[str, Any], agreement: dict[str, Any], data: dict[str, Any],
             normalisation: dict[str, Any]) -> dict[str, Any]:
    """The figures of the run in one place: held-out accuracy overall and per labeler group,
    inter-labeler agreement overall and per group, pairs and ties, the normalisation check."""
    return {
        "valid_accuracy": valid.get("accuracy"), "valid_pairs": valid.get("n_pairs"),
        "valid_accuracy_per_group": {g: r["accuracy"] for g, r in valid.get("per_group", {}).items()},
        "agreement": {split: agreement[split]["all"]["rate"] for split in agreement},
        "agreement_per_group": {split: {g: r["rate"] for g, r in agreement[split]["per_group"].items()}
                                for split in agreement},
        "train_pairs": data["train_pairs"], "tied_pairs_dropped": data["tied_pairs_dropped"],
        "all_tied_rankings_dropped": data["all_tied_rankings_dropped"],
        "demo_score_mean_after_norm": normalisation["demo_after_norm"]["mean"],
    }


def _log_summary(report: dict[str, Any]) -> None:
    valid = report["valid"]
    if valid:
        log.info("rm: valid accuracy %.3f on %d pairs (loss %.4f, margin %.4f)", valid["accuracy"],
                 valid["n_pairs"], valid["loss"], valid["margin"])
        for name, row in valid["per_group"].items():
            log.info("rm: valid accuracy, labeler group %s: %.3f on %d pairs", name, row["accuracy"], row["n_pairs"])
    for split in ("train", "valid"):
        a = report["agreement"][split]["all"]
        if a["total"]:
            log.info("rm: inter-labeler agreement (%s): %.3f on %d comparisons over %d prompts; per group %s",
                     split, a["rate"], a["total"], a["n_prompts"],
                     {g: round(r["rate"], 3) for g, r in report["agreement"][split]["per_group"].items()})
