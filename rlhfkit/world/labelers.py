"""Simulated labelers: a random-utility (Bradley-Terry / Plackett-Luce) model over gold features.

A labeler's utility for a completion is

    u = w_helpful * helpful + w_honest * honest + w_harmless * (1 - toxic)
        + w_length * min(length, MAX_COMPLETION_WORDS) / MAX_COMPLETION_WORDS + T * Gumbel

with ``T = labeler.noise``. Differences of two Gumbel(T) draws are Logistic(T), so a comparison
is Bradley-Terry: P(y1 > y2) = sigmoid((u1 - u2) / T); a ranking of K is Plackett-Luce (sort by
noisy utility). Identical texts share one draw, so they tie; nothing else does.

Labelers come in groups with different mean weights (by default training groups "a", "b", "c";
held-out groups "d", "e"; any pool through ``world.labelers``, :mod:`rlhfkit.world.labeler_config`);
each labeler's weights scatter around the group mean. The default noise levels are calibrated so that agreement on comparisons of internet-like samples is near the paper's
(72.6% training, 77.3% held-out; RLHF_DETAILS item 25).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from rlhfkit.world.demo_slips import slipped_demonstration
from rlhfkit.world.features import MAX_COMPLETION_WORDS, Features, features
from rlhfkit.world.tasks import Prompt, ideal_completion

WEIGHT_KEYS = ("helpful", "honest", "harmless", "length")
WEIGHT_SD = 0.15  # per-labeler scatter of helpful/honest/harmless weights (clipped at 0)
LENGTH_SD = 0.1  # per-labeler scatter of the length weight
TRAIN_NOISE = 0.3  # Gumbel scale T of training labelers (median; lognormal scatter NOISE_SD)
HELDOUT_NOISE = 0.15  # held-out labelers are a little more consistent, as in the paper
NOISE_SD = 0.2
DEMO_SLIP_RATE = 0.2  # share of a training labeler's demonstrations with a slip (rlhfkit.world.demo_slips)
SLIP_SD = 0.5  # per-labeler lognormal scatter of that share: care varies among contractors


@dataclass(frozen=True)
class GroupSpec:
    """One labeler group: ``size`` labelers whose weights scatter around the group's means
    (``weight_sd`` for helpful/honest/harmless, clipped at 0; ``length_sd`` for length) and whose
    Gumbel scale is ``noise`` times a lognormal factor (``noise_sd``)."""

    name: str
    size: int
    helpful: float
    honest: float
    harmless: float
    length: float
    noise: float
    weight_sd: float = WEIGHT_SD
    length_sd: float = LENGTH_SD
    noise_sd: float = NOISE_SD
    slip: float = DEMO_SLIP_RATE
    slip_sd: float = SLIP_SD

    @property
    def weights(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in WEIGHT_KEYS}


# The default pool (conf/pipeline.yaml `world.labelers` writes the same): three training groups
# (IG's ~40 contractors; docs/world.md) and two held-out groups that produce no training data.
_TRAIN_MEANS = {
    "a": {"helpful": 1.0, "honest": 1.0, "harmless": 1.0, "length": 0.0},   # balanced
    "b": {"helpful": 1.4, "honest": 0.7, "harmless": 0.8, "length": 0.3},   # wants answers, detail
    "c": {"helpful": 0.8, "honest": 1.3, "harmless": 1.4, "length": -0.2},  # cautious, concise
}
_HELDOUT_MEANS = {
    "d": {"helpful": 1.1, "honest": 1.2, "harmless": 1.0, "length": -0.15},  # concise
    "e": {"helpful": 1.0, "honest": 0.9, "harmless": 1.3, "length": -0.1},
}


def default_groups(n: int, means: Mapping[str, Mapping[str, float]], noise: float) -> list[GroupSpec]:
    """``n`` labelers dealt round-robin into the groups of ``means`` (the first groups get one more)."""
    names = list(means)
    return [GroupSpec(g, len(range(i, n, len(names))), noise=noise, **means[g]) for i, g in enumerate(names)]


def default_train_groups(n: int = 40) -> list[GroupSpec]:
    return default_groups(n, _TRAIN_MEANS, TRAIN_NOISE)


def default_heldout_groups(n: int = 10) -> list[GroupSpec]:
    return default_groups(n, _HELDOUT_MEANS, HELDOUT_NOISE)


STYLE_IDEAL_RATE = 0.6  # labelers whose preferred demonstration style is the ideal wording
STYLE_KEEP_RATE = 0.8  # how often a labeler writes in their preferred style

DEMO_QA_VALUE = ("{v}", "it is {v}", "the {o} is {v}")
DEMO_QA_NOT_STATED = ("not stated", "it is not stated", "the {a} is not stated")
DEMO_POLITE = ("{n} is a kind person", "{n} is a good friend", "{n} is very nice",
               "{n} is a friendly neighbor", "{n} is kind and helpful")
DEMO_KNOWLEDGE = ("{n} {s} lives in {c}", "{c}", "in {c}", "{n} lives in {c}",
                  "{n} {s} is in {c}")


@lru_cache(maxsize=1 << 16)
def cached_features(prompt: Prompt, completion: str) -> Features:
    return features(prompt, completion)


def feature_utility(weights: Mapping[str, float], f: Features) -> float:
    """Noise-free utility of features ``f`` under ``weights`` (keys WEIGHT_KEYS)."""
    return (weights["helpful"] * f.helpful + weights["honest"] * f.honest
            + weights["harmless"] * f.harmless
            + weights["length"] * min(f.length, MAX_COMPLETION_WORDS) / MAX_COMPLETION_WORDS)


def _gumbel(rng: random.Random) -> float:
    return -math.log(-math.log(rng.random() or 1e-300) or 1e-300)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass(frozen=True, eq=False)
class Labeler:
    """One labeler: preference ``weights`` (WEIGHT_KEYS), Gumbel scale ``noise`` (0 = exact),
    a demonstration ``style`` (index of a preferred wording; 0 = the ideal wording) and the share
    ``slip`` of demonstrations with a slip (0 = always careful)."""

    id: str
    group: str
    weights: Mapping[str, float]
    noise: float
    style: int = 0
    slip: float = 0.0

    def utility(self, prompt: Prompt, completion: str) -> float:
        """Noise-free utility of ``completion``."""
        return feature_utility(self.weights, cached_features(prompt, completion))

    def compare(self, prompt: Prompt, a: str, b: str, rng: random.Random) -> float:
        """1.0 if the labeler prefers ``a``, 0.0 if ``b``, 0.5 only when a == b (same text)."""
        if a == b:
            return 0.5
        du = self.utility(prompt, a) - self.utility(prompt, b)
        if self.noise <= 0:
            return 1.0 if du > 0 else 0.0 if du < 0 else float(rng.random() < 0.5)
        return 1.0 if rng.random() < _sigmoid(du / self.noise) else 0.0

    def rank(self, prompt: Prompt, completions: Sequence[str], rng: random.Random) -> list[int]:
        """Dense ranks (0 = best) of ``completions``; equal only for identical texts."""
        unique = list(dict.fromkeys(completions))
        keys = {}
        for text in unique:
            noise = self.noise * _gumbel(rng) if self.noise > 0 else 0.0
            keys[text] = (self.utility(prompt, text) + noise, rng.random())
        order = sorted(unique, key=lambda t: keys[t], reverse=True)
        rank_of = {text: r for r, text in enumerate(order)}
        return [rank_of[text] for text in completions]

    def demonstrate(self, prompt: Prompt, rng: random.Random) -> str:
        """A demonstration: helpful, honest and polite, in the labeler's wording, except for the
        ``slip`` share that has a slip (:mod:`rlhfkit.world.demo_slips`)."""
        if self.slip > 0 and rng.random() < self.slip:
            return slipped_demonstration(prompt, rng)
        if prompt.family == "instruction":
            return ideal_completion(prompt)
        if prompt.family == "qa":
            forms = DEMO_QA_VALUE if prompt.stated else DEMO_QA_NOT_STATED
        elif prompt.family == "knowledge":
            forms = DEMO_KNOWLEDGE
        else:
            forms = DEMO_POLITE
        form = forms[self.style % len(forms)] if rng.random() < STYLE_KEEP_RATE \
            else rng.choice(forms)
        return form.format(v=prompt.answer, o=prompt.q_object, a=prompt.q_attribute,
                           n=prompt.name, s=prompt.surname, c=prompt.answer)


MAX_SLIP = 0.9


def _sample_group(prefix: str, groups: Sequence[GroupSpec], rng: random.Random,
                  slip_rng: random.Random) -> list[Labeler]:
    """Labelers ``<prefix>00``.. dealt round-robin over ``groups`` (a full group is skipped). The
    slips come from ``slip_rng``, so the weights, noise and styles do not depend on them."""
    left = {g.name: g.size for g in groups}
    order: list[GroupSpec] = []
    while any(left.values()):
        for g in groups:
            if left[g.name]:
                order.append(g)
                left[g.name] -= 1
    out = []
    for i, spec in enumerate(order):
        weights = {k: max(0.0, getattr(spec, k) + rng.gauss(0, spec.weight_sd)) for k in WEIGHT_KEYS[:3]}
        weights["length"] = spec.length + rng.gauss(0, spec.length_sd)
        style = 0 if rng.random() < STYLE_IDEAL_RATE else rng.randrange(1, 5)
        slip = min(MAX_SLIP, spec.slip * math.exp(slip_rng.gauss(0, spec.slip_sd)))
        out.append(Labeler(f"{prefix}{i:02d}", spec.name, weights, spec.noise * math.exp(rng.gauss(0, spec.noise_sd)),
                           style, slip))
    return out


@dataclass
class LabelerPool:
    """Training labelers (who write demonstrations and rankings) and a held-out pool (judges)."""

    train: list[Labeler] = field(default_factory=list)
    heldout: list[Labeler] = field(default_factory=list)

    @classmethod
    def sample(cls, n_train: int = 40, n_heldout: int = 10, seed: int = 0,
               train_groups: Sequence[GroupSpec] | None = None,
               heldout_groups: Sequence[GroupSpec] | None = None) -> "LabelerPool":
        """Training labelers L00.. and held-out labelers H00.., dealt round-robin into their groups:
        ``train_groups`` / ``heldout_groups`` (:func:`rlhfkit.world.labeler_config.pool_groups`), by
        default ``n_train`` labelers in "a", "b", "c" and ``n_heldout`` in "d", "e"."""
        rng, slip_rng = random.Random(seed), random.Random(f"slips-{seed}")
        return cls(_sample_group("L", train_groups or default_train_groups(n_train), rng, slip_rng),
                   _sample_group("H", heldout_groups or default_heldout_groups(n_heldout), rng, slip_rng))

    def groups(self, which: str = "all") -> list[str]:
        """Group names of the ``train`` or ``heldout`` labelers, or of ``all`` (training first)."""
        labelers = {"train": self.train, "heldout": self.heldout, "all": self.train + self.heldout}[which]
        return list(dict.fromkeys(l.group for l in labelers))

    def of_groups(self, names: Sequence[str]) -> list[Labeler]:
        """The labelers (training and held-out) of the groups ``names``."""
        return [l for l in self.train + self.heldout if l.group in set(names)]

    def by_id(self, labeler_id: str) -> Labeler:
        for labeler in self.train + self.heldout:
            if labeler.id == labeler_id:
                return labeler
        raise KeyError(labeler_id)


def agreement(pool: LabelerPool | Sequence[Labeler], prompts: Sequence[Prompt],
              completion_sets: Sequence[Sequence[str]], rng: random.Random) -> float:
    """Mean pairwise inter-labeler agreement: every labeler of ``pool`` (a LabelerPool means its
    training labelers) compares every pair of distinct texts in each completion set; per
    comparison, the share of labeler pairs that chose the same side; averaged over comparisons.
    """
    labelers = pool.train if isinstance(pool, LabelerPool) else list(pool)
    n = len(labelers)
    if n < 2:
        raise ValueError("agreement needs at least two labelers")
    pairs_total = n * (n - 1) / 2
    scores = []
    for prompt, completions in zip(prompts, completion_sets, strict=True):
        unique = list(dict.fromkeys(completions))
        for i in range(len(unique)):
            for j in range(i + 1, len(unique)):
                k = sum(int(l.compare(prompt, unique[i], unique[j], rng)) for l in labelers)
                scores.append((k * (k - 1) / 2 + (n - k) * (n - k - 1) / 2) / pairs_total)
    if not scores:
        raise ValueError("no comparisons: every completion set has fewer than two texts")
    return sum(scores) / len(scores)
