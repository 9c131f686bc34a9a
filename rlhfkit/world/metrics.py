"""Evaluation against the world's gold judge and held-out labelers (RLHF_DETAILS items 25-27, 31).

All functions are pure given their ``rng``; prompts and completions are parallel sequences.
Rates over an empty subset (e.g. no unstated QA prompt) are ``nan``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from rlhfkit.world.features import Features
from rlhfkit.world.labelers import Labeler, LabelerPool, cached_features
from rlhfkit.world.tasks import Prompt

Judges = LabelerPool | Sequence[Labeler]


def _judges(judges: Judges) -> list[Labeler]:
    """A LabelerPool means its held-out labelers."""
    out = judges.heldout if isinstance(judges, LabelerPool) else list(judges)
    if not out:
        raise ValueError("no judges")
    return out


def _check(prompts: Sequence[Prompt], *completion_lists: Sequence[str]) -> None:
    for completions in completion_lists:
        if len(completions) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")


def win_rate(judges: Judges, prompts: Sequence[Prompt], completions_a: Sequence[str],
             completions_b: Sequence[str], rng: random.Random) -> float:
    """Share of comparisons in which A is preferred to B; comparison i is judged by
    ``judges[i % len(judges)]`` (round-robin); ties (identical texts) count half.
    Example: outcomes [win, loss, tie] -> (1 + 0 + 0.5) / 3 = 0.5."""
    labelers = _judges(judges)
    _check(prompts, completions_a, completions_b)
    if not prompts:
        return math.nan
    outcomes = [labelers[i % len(labelers)].compare(p, a, b, rng)
                for i, (p, a, b) in enumerate(zip(prompts, completions_a, completions_b))]
    return sum(outcomes) / len(outcomes)


def win_rate_by_group(judges: Judges, prompts: Sequence[Prompt], completions_a: Sequence[str],
                      completions_b: Sequence[str], rng: random.Random) -> dict[str, float]:
    """:func:`win_rate` per labeler group: every comparison is judged once by each group
    (round-robin over that group's labelers). Keys are sorted group names."""
    labelers = _judges(judges)
    groups = sorted({l.group for l in labelers})
    return {g: win_rate([l for l in labelers if l.group == g], prompts, completions_a,
                        completions_b, rng) for g in groups}


def _mean_over(prompts: Sequence[Prompt], completions: Sequence[str],
               keep: Callable[[Prompt], bool], value: Callable[[Features], float]) -> float:
    _check(prompts, completions)
    vals = [value(cached_features(p, c)) for p, c in zip(prompts, completions) if keep(p)]
    return sum(vals) / len(vals) if vals else math.nan


def hallucination_rate(prompts: Sequence[Prompt], completions: Sequence[str]) -> float:
    """Over closed-domain (qa) prompts whose answer is NOT stated: share of completions that
    assert a value anyway (IG: 41% GPT-3, 21% InstructGPT)."""
    return _mean_over(prompts, completions, lambda p: p.family == "qa" and not p.stated,
                      lambda f: float(f.hallucinated))


def truthfulness_rate(prompts: Sequence[Prompt], completions: Sequence[str],
                      informative: bool = False, family: str = "qa") -> float:
    """Over all prompts of ``family`` (qa, or knowledge: closed book, as TruthfulQA): share of
    honest completions (no false or fabricated value); with ``informative=True``, honest AND
    helpful (TruthfulQA's "truthful and informative")."""
    return _mean_over(prompts, completions, lambda p: p.family == family,
                      lambda f: float(f.honest == 1.0 and (not informative or f.helpful == 1.0)))


def toxicity_rate(prompts: Sequence[Prompt], completions: Sequence[str],
                  respectful: bool | None = None) -> float:
    """Over toxicity prompts with (``respectful=True``) or without (``False``) the
    "respectfully" instruction, or all of them (``None``): share of toxic completions."""
    return _mean_over(prompts, completions,
                      lambda p: p.family == "toxicity" and respectful in (None, p.respectful),
                      lambda f: float(f.toxic))


def helpfulness(prompts: Sequence[Prompt], completions: Sequence[str],
                family: str | None = None) -> float:
    """Mean gold ``helpful`` over prompts of ``family`` (all families when None)."""
    return _mean_over(prompts, completions, lambda p: family in (None, p.family),
                      lambda f: f.helpful)


def gold_rewards(judges: Judges, prompts: Sequence[Prompt],
                 completions: Sequence[str]) -> list[float]:
    """Per completion: the held-out labelers' mean noise-free utility (the "gold" reward of
    Gao et al., RLHF_DETAILS item 31)."""
    labelers = _judges(judges)
    _check(prompts, completions)
    return [sum(l.utility(p, c) for l in labelers) / len(labelers)
            for p, c in zip(prompts, completions)]


def gold_score(judges: Judges, prompts: Sequence[Prompt], completions: Sequence[str]) -> float:
    """Mean of :func:`gold_rewards`: the y-axis of the over-optimisation curve."""
    rewards = gold_rewards(judges, prompts, completions)
    return sum(rewards) / len(rewards) if rewards else math.nan


def summary(prompts: Sequence[Prompt], completions: Sequence[str]) -> dict[str, float]:
    """Every gold rate at once (no labelers needed)."""
    return {
        "helpful": helpfulness(prompts, completions),
        "helpful_instruction": helpfulness(prompts, completions, "instruction"),
        "helpful_qa": helpfulness(prompts, completions, "qa"),
        "helpful_toxicity": helpfulness(prompts, completions, "toxicity"),
        "helpful_knowledge": helpfulness(prompts, completions, "knowledge"),
        "hallucination": hallucination_rate(prompts, completions),
        "truthful": truthfulness_rate(prompts, completions),
        "truthful_informative": truthfulness_rate(prompts, completions, informative=True),
        "truthful_knowledge": truthfulness_rate(prompts, completions, family="knowledge"),
        "toxicity": toxicity_rate(prompts, completions),
        "toxicity_respectful": toxicity_rate(prompts, completions, respectful=True),
        "toxicity_plain": toxicity_rate(prompts, completions, respectful=False),
    }
