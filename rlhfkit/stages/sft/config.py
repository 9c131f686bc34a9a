"""Every option of ``stage=sft`` (RLHF_DETAILS items 1-5), with its default and its source.

``conf/stage/sft.yaml`` composes this as its schema; ``rlhfkit train stage=sft stage.lr=3e-4``
overrides one field. The module and the builder take the whole frozen :class:`SFTConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

from rlhfkit.stages.option_rules import (BATCH_LIMIT, COUNT, EPOCHS, FRACTION, LEARNING_RATE, MAX_STEPS,
                                          NONNEGATIVE_COUNT, at_least, bounded_schedule)


def cosine_to_10_percent() -> dict[str, Any]:
    """IG's SFT and RM schedule: cosine decay to 10% of the peak, no warm-up (items 1, 7)."""
    return {"name": "cosine", "warmup_steps": 0, "min_ratio": 0.1}


@dataclass(frozen=True)
class SFTConfig:
    name: str = "sft"
    lr: float = 1.0e-3            # peak LR; tiny-model value, IG 9.65e-6 at 1.3B/6B (item 2)
    lr_scheduler: Optional[dict[str, Any]] = field(default_factory=cosine_to_10_percent)  # an lr_scheduler plugin spec, stepped per batch; null = constant (item 1)
    mask_prompt: bool = True      # loss on completion tokens only; false = prompt + completion (N+), item 4
    max_length: int = 256         # tokens per (prompt, completion); longer pairs are cut and counted
    batch_size: int = 16          # IG: 32 at 1.3B (item 2); small for CPU
    max_epochs: int = 2           # IG: 16 epochs, but picks the checkpoint by RM score (item 1); RL starts from 2 (item 3)
    max_steps: int = -1           # -1 = no step limit
    limit_train_batches: Any = None  # a fraction (float <= 1.0) or a count (int) of batches per epoch (null = all)
    valid_fraction: float = 0.1   # when data.sft.valid is null: hold out this fraction of train, split by user (item 5)
    num_workers: int = 0          # DataLoader worker processes
    sample_every_n_epochs: int = 1  # log a table of greedy samples on validation prompts
    n_samples: int = 4            # rows of that table
    max_new_tokens: int = 32      # tokens per sample
    pretrain_mix: float = 0.0     # share of the training examples that are pretraining texts (data.pretrain.train),
                                  # trained on whole; IG mixes 10% into the SFT model that starts RL (item 3); 0 = off

    RULES: ClassVar = {
        "lr": LEARNING_RATE, "max_length": at_least(2), "batch_size": COUNT, "max_epochs": EPOCHS,
        "max_steps": MAX_STEPS, "limit_train_batches": BATCH_LIMIT, "valid_fraction": FRACTION,
        "num_workers": NONNEGATIVE_COUNT, "sample_every_n_epochs": NONNEGATIVE_COUNT, "n_samples": NONNEGATIVE_COUNT,
        "max_new_tokens": COUNT, "pretrain_mix": FRACTION,
    }

    cross_checks = bounded_schedule
