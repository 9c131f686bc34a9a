"""A deterministic, pure-Python simulated world for RLHF in miniature (see docs/world.md).

Four task families (instruction following, closed-domain QA, toxicity, closed-book knowledge) in
which web-like "internet" text shows InstructGPT's failures and from which a larger model learns
more facts; an exact gold judge; noisy simulated labelers (training and held-out pools) who
demonstrate, rank and compare; dataset builders writing rlhfkit's JSONL formats; and evaluation
metrics.
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

# Bumped whenever the world's code changes what it generates (its prompts, corpus, labelers or
# judge), so that cached pipeline stages built on an older world are recomputed
# (rlhfkit/pipeline/cache.py keys see config, not code). 2: the knowledge family.
WORLD_VERSION = 2

__all__ = [
    "FAMILIES", "MAX_COMPLETION_WORDS", "WORLD_VERSION", "Demonstration", "Features", "Labeler",
    "LabelerPool", "Prompt", "World", "agreement", "build_world", "features", "gold_rewards", "gold_score",
    "hallucination_rate", "heldout_pretraining_corpus", "helpfulness", "ideal_completion",
    "parse_prompt", "pretraining_corpus", "rank_samples", "read_jsonl",
    "sample_completion_like_internet", "sample_prompts", "scrub_pii", "summary",
    "tokenize_words", "toxicity_rate", "truthfulness_rate", "vocabulary", "win_rate",
    "win_rate_by_group", "write_jsonl", "write_world",
]
