"""Bias normalisation of a trained reward model (RLHF_DETAILS item 9): fitted on demonstrations,
folded into the RM's export (``ScalarHeadModel.save_pretrained``: a standard HF
``AutoModelForSequenceClassification`` checkpoint whose logits are the normalised reward,
:mod:`rlhfkit.models.seq_cls`) and checked by reloading the RM the way PPO will
(:class:`rlhfkit.rewards.reward_model.RewardModelFn`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rlhfkit.algos import gain_and_bias, reward_bias
from rlhfkit.errors import ConfigError
from rlhfkit.models.scalar_head import ScalarHeadModel
from rlhfkit.models.seq_cls import META_KEY
from rlhfkit.stages.rm.config import DEMO_SOURCES, NORMALISATION_MODES, NormalisationConfig, RMConfig
from rlhfkit.stages.rm.module import score_texts

log = logging.getLogger(__name__)


def demonstrations(norm: NormalisationConfig, train: list, sft_data: Callable[[], list]) -> tuple[list[str], list[str]]:
    """(prompts, completions) the normalisation is fitted on (item 9), per ``stage.normalisation.source``.

    "chosen": every best-ranked (rank 0) completion of the training rankings, ties included;
    "data.sft.train": the SFT demonstrations (N+), loaded by ``sft_data()``.
    """
    if norm.source == "data.sft.train":
        pairs = [(e.prompt, e.completion) for e in sft_data()]
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


def export_info(out_dir: Path) -> dict[str, Any]:
    """How ``final/`` holds the normalisation: its HF architecture and rlhfkit's config entry
    (``folded_into``: the bias that carries the constant; ``add_to_logits``: what HF's logits miss,
    0 unless the final norm has no bias; :mod:`rlhfkit.models.seq_cls`)."""
    config = json.loads((Path(out_dir) / "config.json").read_text())
    meta = config.get(META_KEY) or {}
    return {"architecture": (config.get("architectures") or [None])[0], "folded_into": meta.get("folded_into"),
            "add_to_logits": meta.get("add_to_logits", 0.0)}


def _stats(x: torch.Tensor) -> dict[str, float]:
    return {"mean": float(x.mean()), "std": float(x.std(correction=0)), "n": int(x.numel())}


def normalise_and_export(stage: RMConfig, model: ScalarHeadModel, tokenizer, train: list,
                         sft_data: Callable[[], list], out_dir: Path) -> dict[str, Any]:
    """Fit the normalisation on demonstrations, save the RM, reload it as PPO will and check it."""
    from rlhfkit.rewards.reward_model import RewardModelFn

    norm = stage.normalisation
    prompts, completions = demonstrations(norm, train, sft_data)
    raw = score_texts(model, tokenizer, prompts, completions, stage.max_length, norm.batch_size)  # (N,)
    gain, offset = fit_normalisation(raw, norm.mode, norm.target_mean, norm.target_std)
    model.set_normalisation(gain, offset)
    model.save_pretrained(out_dir, tokenizer)  # an HF seq-cls checkpoint, the normalisation folded in
    reloaded = RewardModelFn(str(out_dir), max_length=stage.max_length, batch_size=norm.batch_size,
                             device=str(next(model.parameters()).device))
    after = reloaded(prompts, completions)  # (N,) normalised, as every user of the RM sees it
    del reloaded
    expected = gain * raw + offset
    reload_diff = float((after - expected).abs().max())
    if reload_diff > 1e-3 * max(1.0, float(expected.abs().max())):
        log.warning("rm: the exported reward model scores the demonstrations up to %.3g away from the trained "
                    "model's normalised scores", reload_diff)
    report = {"mode": norm.mode, "source": norm.source, "gain": gain, "offset": offset,
              "demo_raw": _stats(raw), "demo_after_norm": _stats(after), "reload_max_abs_diff": reload_diff,
              "export": export_info(out_dir)}
    log.info("rm: normalisation %s on %d demonstrations (%s): gain %.4g, offset %.4g; demonstrations "
             "score mean %.4g (std %.4g) after normalisation", norm.mode, len(prompts), norm.source,
             gain, offset, report["demo_after_norm"]["mean"], report["demo_after_norm"]["std"])
    return report
