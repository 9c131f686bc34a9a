"""Every option of ``stage=rm``: the reward model on K-way rankings or pairwise preferences
(RLHF_DETAILS items 6-10). The RM starts from the ``model`` group: IG initialises it from the SFT
model (``model=hf model.path=<sft run>/final``); the head is new, N(0, 1/sqrt(d+1)), bias 0 (item 10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

from rlhfkit.stages.option_rules import (BATCH_LIMIT, COUNT, EPOCHS, FRACTION, LEARNING_RATE, MAX_STEPS,
                                          NONNEGATIVE_COUNT, above, at_least, bounded_schedule, one_of, optional)
from rlhfkit.stages.sft.config import cosine_to_10_percent

NORMALISATION_MODES = ("demonstrations", "gain_bias", "none")
DEMO_SOURCES = ("chosen", "data.sft.train")


@dataclass(frozen=True)
class NormalisationConfig:
    """Computed after training, saved with the RM, applied whenever it scores (item 9)."""

    mode: str = "demonstrations"  # demonstrations: subtract the demonstrations' mean score (IG, N+); gain_bias: LHP's gain and bias to (target_mean, target_std); none: raw head output
    source: str = "chosen"        # chosen: the best-ranked completion(s) of each training ranking; data.sft.train: the SFT demonstrations (N+)
    limit: Optional[int] = None   # score at most this many demonstrations (null = all)
    target_mean: float = 0.0      # demonstrations score mean 0 after normalisation (item 9)
    target_std: float = 1.0       # gain_bias only: LHP's N(0, 1) target (item 9)
    batch_size: int = 64          # pairs per forward pass while scoring demonstrations

    RULES: ClassVar = {
        "mode": one_of(*NORMALISATION_MODES), "source": one_of(*DEMO_SOURCES), "limit": optional(COUNT),
        "target_std": above(0), "batch_size": COUNT,
    }


@dataclass(frozen=True)
class RMConfig:
    name: str = "rm"
    lr: float = 1.0e-3            # peak LR; tiny-model value, IG 9e-6 (item 7)
    lr_scheduler: Optional[dict[str, Any]] = field(default_factory=cosine_to_10_percent)  # IG: cosine to 10% (item 7); stepped per batch
    max_length: int = 256         # tokens per (prompt, completion); longer rows lose the prompt's start, counted
    batch_size: int = 64          # PROMPTS per batch, each with all its K completions in one element (items 6, 7: IG 64)
    max_epochs: int = 1           # IG: one epoch; the RM overfits after (item 7)
    max_steps: int = -1           # -1 = no step limit
    limit_train_batches: Any = None  # a fraction (float <= 1.0) or a count (int) of batches per epoch (null = all)
    margin: float = 0.0           # m in -log sigmoid(r_w - r_l - m): 0 = IG's loss (item 6); > 0 = Llama 2's margin loss
    valid_fraction: float = 0.1   # when data.preference.valid is null: hold out this fraction of users (item 5)
    num_workers: int = 0          # DataLoader worker processes
    group_key: str = "group"      # the labeler_meta key whose values are the labeler groups reported (item 25)
    n_table_pairs: int = 16       # example (chosen, rejected) pairs and their scores logged as a table
    normalisation: NormalisationConfig = field(default_factory=NormalisationConfig)  # item 9

    RULES: ClassVar = {
        "lr": LEARNING_RATE, "max_length": at_least(2), "batch_size": COUNT, "max_epochs": EPOCHS,
        "max_steps": MAX_STEPS, "limit_train_batches": BATCH_LIMIT, "margin": at_least(0),
        "valid_fraction": FRACTION, "num_workers": NONNEGATIVE_COUNT, "n_table_pairs": NONNEGATIVE_COUNT,
    }
    cross_checks = bounded_schedule
