"""Every option of ``stage=pretrain``: the base model, a causal LM trained from scratch on plain
text (IG's GPT-3; item 29). Each text is trained on whole, EOS appended (no prompt)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

from rlhfkit.stages.option_rules import (BATCH_LIMIT, COUNT, EPOCHS, FRACTION, LEARNING_RATE, MAX_STEPS,
                                          NONNEGATIVE_COUNT, at_least, bounded_schedule, optional)
from rlhfkit.stages.sft.config import cosine_to_10_percent


@dataclass(frozen=True)
class PretrainConfig:
    name: str = "pretrain"
    lr: float = 1.0e-3            # peak LR (tiny models)
    lr_scheduler: Optional[dict[str, Any]] = field(default_factory=cosine_to_10_percent)  # stepped per batch; null = constant
    max_length: int = 64          # tokens per document (world documents are <= 32 words); longer ones are cut, counted
    batch_size: int = 64
    max_epochs: int = 1
    max_steps: int = -1           # -1 = no step limit
    limit_train_batches: Any = None  # a fraction (float <= 1.0) or a count (int) of batches per epoch (null = all)
    valid_fraction: float = 0.05  # when data.pretrain.valid is null: hold out this fraction of train (at random)
    valid_limit: Optional[int] = 1000  # validate on at most this many texts (null = all)
    num_workers: int = 0          # DataLoader worker processes
    sample_every_n_epochs: int = 1  # log a table of greedy continuations of validation documents
    n_samples: int = 4            # rows of that table
    sample_prefix_words: int = 4  # words of a validation document the model continues
    max_new_tokens: int = 16      # tokens per continuation
    bucket_by_length: bool = True  # batch texts of similar length together (less padding; not in the papers)

    RULES: ClassVar = {
        "lr": LEARNING_RATE, "max_length": at_least(2), "batch_size": COUNT, "max_epochs": EPOCHS,
        "max_steps": MAX_STEPS, "limit_train_batches": BATCH_LIMIT, "valid_fraction": FRACTION,
        "valid_limit": optional(COUNT), "num_workers": NONNEGATIVE_COUNT, "sample_every_n_epochs": NONNEGATIVE_COUNT,
        "n_samples": NONNEGATIVE_COUNT, "sample_prefix_words": COUNT, "max_new_tokens": COUNT,
    }
    cross_checks = bounded_schedule
