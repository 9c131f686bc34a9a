"""What the RM stage reports besides its metrics: the data (pairs, ties, truncation, labelers),
the summary of ``rm_report.json`` and its log lines."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from rlhfkit.data.examples import group_of
from rlhfkit.stages.rm.metrics import tie_counts

log = logging.getLogger(__name__)


def data_report(train: list, valid: list, n_all_tied: dict[str, int],
                 group: Callable[[Any], str | None] = group_of) -> dict[str, Any]:
    ties = {"train": tie_counts(train), "valid": tie_counts(valid)}
    groups = {"train": sorted({g for e in train if (g := group(e)) is not None}),
              "valid": sorted({g for e in valid if (g := group(e)) is not None})}
    return {"train_rankings": len(train), "valid_rankings": len(valid),
            "train_pairs": ties["train"]["pairs"], "valid_pairs": ties["valid"]["pairs"],
            "tied_pairs_dropped": {s: ties[s]["tied_pairs"] for s in ties},
            "all_tied_rankings_dropped": n_all_tied,
            "labelers": {"train": len({e.labeler_id for e in train if e.labeler_id is not None}),
                         "valid": len({e.labeler_id for e in valid if e.labeler_id is not None})},
            "groups": groups}


def drop_all_tied(examples: list, where: str) -> tuple[list, int]:
    kept = [e for e in examples if e.pairs()]
    if len(kept) < len(examples):
        log.warning("data.preference (%s): %d of %d rankings are all ties (no pair, item 7) and are "
                    "dropped", where, len(examples) - len(kept), len(examples))
    return kept, len(examples) - len(kept)


def flat(report: dict[str, Any], prefix: str) -> dict[str, float]:
    out = {}
    for key, value in report.items():
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}/")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and not (isinstance(value, float) and math.isnan(value)):
            out[f"{prefix}{key}"] = float(value)
    return out


def no_nan(node: Any) -> Any:
    """NaN (a rate over zero comparisons) as JSON null."""
    if isinstance(node, dict):
        return {k: no_nan(v) for k, v in node.items()}
    if isinstance(node, list):
        return [no_nan(v) for v in node]
    return None if isinstance(node, float) and math.isnan(node) else node


def summary(valid: dict[str, Any], agreement: dict[str, Any], data: dict[str, Any],
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


def log_summary(report: dict[str, Any]) -> None:
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
