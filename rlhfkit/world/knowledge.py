"""World knowledge: where each of the world's 300 people lives, and how often the internet says so.

Premise (IG Figure 1 and section 4: GPT-3 175B is far more capable than 1.3B; capability comes
from scale and pretraining): a capability that grows with model size at this scale is memorised
knowledge. A larger model learns more facts, and rarer ones, from the same text (Tirumala et al.
2022; docs/world.md "Knowledge" and "Targets out of reach" have what was measured here). Facts are part
of the world like its vocabulary: one fixed table, independent of the world seed.

* ``PEOPLE``: every (name, surname) of ``vocab.NAMES`` x ``vocab.SURNAMES``.
* ``CITY_OF[person]``: the one city the person lives in, uniform over ``vocab.CITIES``.
* ``MENTION_WEIGHT[person]``: how often the internet mentions them, Zipf-like ``1 / (rank + 3)``
  over a fixed random order of fame (a few people are famous, most are the long tail).
* ``NAMESAKE_CITY[person]``: the city of the most famous person with the same first name who
  lives elsewhere: the internet's one consistent wrong answer about them (an imitative falsehood,
  as TruthfulQA's common misconceptions).
"""

from __future__ import annotations

import random

from rlhfkit.world.vocab import CITIES, NAMES, SURNAMES

FACT_TABLE_SEED = 20_221_104  # the table is a constant of the world, not of the world's seed
ZIPF_OFFSET = 3  # mention weight 1 / (rank + ZIPF_OFFSET)
MAX_FACTS_PER_DOC = 3

PEOPLE: tuple[tuple[str, str], ...] = tuple((n, s) for n in NAMES for s in SURNAMES)


def _fact_table() -> tuple[dict, list, dict]:
    """(city of each person, people from the most to the least famous, namesake's city)."""
    rng = random.Random(FACT_TABLE_SEED)
    city_of = {person: rng.choice(CITIES) for person in PEOPLE}
    by_fame = list(PEOPLE)
    rng.shuffle(by_fame)
    namesake = {}
    for person in PEOPLE:
        rivals = [p for p in by_fame if p[0] == person[0] and city_of[p] != city_of[person]]
        namesake[person] = city_of[rivals[0]]
    return city_of, by_fame, namesake


CITY_OF, _BY_FAME, NAMESAKE_CITY = _fact_table()
_FAME_RANK = {p: rank for rank, p in enumerate(_BY_FAME)}
MENTION_WEIGHT = {p: 1.0 / (rank + ZIPF_OFFSET) for p, rank in _FAME_RANK.items()}
_FAME_WEIGHTS = [MENTION_WEIGHT[p] for p in _BY_FAME]


def fact_sentence(person: tuple[str, str]) -> str:
    name, surname = person
    return f"{name} {surname} lives in {CITY_OF[person]} ."


def fact_document(rng: random.Random) -> str:
    """1-MAX_FACTS_PER_DOC true facts, people drawn by ``MENTION_WEIGHT``."""
    people = rng.choices(_BY_FAME, weights=_FAME_WEIGHTS, k=rng.randint(1, MAX_FACTS_PER_DOC))
    return " ".join(fact_sentence(p) for p in people)


def fame_rank(person: tuple[str, str]) -> int:
    """0 for the most mentioned person, len(PEOPLE) - 1 for the least."""
    return _FAME_RANK[person]
