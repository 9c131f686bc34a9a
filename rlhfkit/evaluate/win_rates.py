"""The world's judges applied to models' completions (RLHF_DETAILS items 25-27, 31).

Thin wrappers over :mod:`rlhfkit.world.metrics` that fix how the pipeline compares models:

* :func:`win_rate`: completion i of model A against completion i of model B (same prompt, same
  sample index), judged by the held-out labelers round-robin; ties (identical texts) count half.
* :func:`win_rate_by_group`: the same comparisons judged once by every held-out group.
* :func:`gold_rates`: hallucination, truthfulness, toxicity with and without "respectfully",
  helpfulness, the gold score; every rate in [0, 1] (NaN over an empty subset).
* :func:`pool_agreement`: mean pairwise agreement of a labeler pool on completion sets.

Every judge draws from its own ``random.Random(seed)``, so a report is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from rlhfkit.world import (LabelerPool, Prompt, agreement, gold_score, hallucination_rate, helpfulness,
                           toxicity_rate, truthfulness_rate)
from rlhfkit.world import win_rate as _win_rate
from rlhfkit.world import win_rate_by_group as _win_rate_by_group


def win_rate(pool: LabelerPool, prompts: Sequence[Prompt], a: Sequence[str], b: Sequence[str],
             seed: int = 0) -> float:
    """Share of comparisons the held-out labelers of ``pool`` decide for ``a`` (ties half)."""
    return _win_rate(pool, prompts, a, b, random.Random(seed))


def win_rate_by_group(pool: LabelerPool, prompts: Sequence[Prompt], a: Sequence[str], b: Sequence[str],
                      seed: int = 0) -> dict[str, float]:
    """:func:`win_rate` per held-out labeler group (every comparison judged by each group)."""
    return _win_rate_by_group(pool, prompts, a, b, random.Random(seed))


def gold_rates(prompts: Sequence[Prompt], completions: Sequence[str], pool: LabelerPool | None = None) -> dict[str, float]:
    """Gold-judge rates of one model's completions (and its gold score when ``pool`` is given)."""
    out = {
        "hallucination_rate": hallucination_rate(prompts, completions),
        "truthfulness": truthfulness_rate(prompts, completions),
        "truthful_informative": truthfulness_rate(prompts, completions, informative=True),
        "truthfulness_knowledge": truthfulness_rate(prompts, completions, family="knowledge"),
        "toxicity_rate_plain": toxicity_rate(prompts, completions, respectful=False),
        "toxicity_rate_respectful": toxicity_rate(prompts, completions, respectful=True),
        "toxicity_rate": toxicity_rate(prompts, completions),
        "helpfulness": helpfulness(prompts, completions),
        "helpfulness_instruction": helpfulness(prompts, completions, "instruction"),
        "helpfulness_qa": helpfulness(prompts, completions, "qa"),
        "helpfulness_toxicity": helpfulness(prompts, completions, "toxicity"),
        "helpfulness_knowledge": helpfulness(prompts, completions, "knowledge"),
    }
    if pool is not None:
        out["gold_score"] = gold_score(pool, prompts, completions)
    return out


def pool_agreement(labelers, prompts: Sequence[Prompt], completion_sets: Sequence[Sequence[str]],
                      seed: int = 0) -> float:
    """Mean pairwise agreement of ``labelers`` (a list, or a pool = its training labelers) on every
    pair of distinct texts of each completion set (:func:`rlhfkit.world.agreement`)."""
    return agreement(labelers, prompts, completion_sets, random.Random(seed))
