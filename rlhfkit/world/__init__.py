"""A deterministic, pure-Python simulated world for RLHF in miniature (see docs/world.md).

Three task families (instruction following, closed-domain QA, toxicity) in which web-like
"internet" text shows InstructGPT's three failures; an exact gold judge; noisy simulated
labelers (training and held-out pools) who demonstrate, rank and compare; dataset builders
writing rlhfkit's JSONL formats; and evaluation metrics.
"""

from rlhfkit.world.corpus import (heldout_pretraining_corpus, pretraining_corpus,
                                  sample_completion_like_internet)
from rlhfkit.world.datasets import (Demonstration, World, build_world, rank_samples, read_jsonl,
                                    write_jsonl, write_world)
from rlhfkit.world.features import MAX_COMPLETION_WORDS, Features, features
from rlhfkit.world.labelers import Labeler, LabelerPool, agreement
from rlhfkit.world.metrics import (gold_rewards, gold_score, hallucination_rate, helpfulness,
                                   summary, toxicity_rate, truthfulness_rate, win_rate,
                                   win_rate_by_group)
from rlhfkit.world.tasks import (FAMILIES, Prompt, ideal_completion, parse_prompt,
                                 sample_prompts, scrub_pii)
from rlhfkit.world.vocab import tokenize_words, vocabulary

__all__ = [
    "FAMILIES", "MAX_COMPLETION_WORDS", "Demonstration", "Features", "Labeler", "LabelerPool",
    "Prompt", "World", "agreement", "build_world", "features", "gold_rewards", "gold_score",
    "hallucination_rate", "heldout_pretraining_corpus", "helpfulness", "ideal_completion",
    "parse_prompt", "pretraining_corpus", "rank_samples", "read_jsonl",
    "sample_completion_like_internet", "sample_prompts", "scrub_pii", "summary",
    "tokenize_words", "toxicity_rate", "truthfulness_rate", "vocabulary", "win_rate",
    "win_rate_by_group", "write_jsonl", "write_world",
]
