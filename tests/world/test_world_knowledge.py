"""The knowledge family (closed-book QA on where the world's people live): the fact table, the gold
judge by hand, the internet's answers and fact documents, demonstrations and their slip."""

import math
import random
from collections import Counter

import pytest

from rlhfkit.world import corpus
from rlhfkit.world.corpus import (FACT_DOC_RATE, KNOWLEDGE_NAMESAKE_RATE, KNOWLEDGE_RIGHT_RATE,
                                  KNOWLEDGE_UNSURE_RATE, pretraining_corpus,
                                  sample_completion_like_internet)
from rlhfkit.world.demo_slips import slipped_demonstration
from rlhfkit.world.features import features
from rlhfkit.world.knowledge import (CITY_OF, MENTION_WEIGHT, NAMESAKE_CITY, PEOPLE, fact_document,
                                     fame_rank)
from rlhfkit.world.labelers import Labeler
from rlhfkit.world.metrics import helpfulness, truthfulness_rate
from rlhfkit.world.tasks import (DEFAULT_FAMILY_WEIGHTS, ideal_completion, knowledge_prompt,
                                 parse_prompt, sample_prompts)
from rlhfkit.world.vocab import CITIES, NAMES, SURNAMES

PERSON = ("bob", "smith")
CITY = CITY_OF[PERSON]
OTHER = next(c for c in CITIES if c != CITY)
PROMPT = parse_prompt("question : where does bob smith live ? answer :")


def test_the_fact_table_is_a_constant_of_the_world():
    assert len(PEOPLE) == len(NAMES) * len(SURNAMES) == 300
    assert set(CITY_OF) == set(PEOPLE) and set(CITY_OF.values()) == set(CITIES)
    ranks = sorted(fame_rank(p) for p in PEOPLE)
    assert ranks == list(range(300))
    most, least = max(PEOPLE, key=MENTION_WEIGHT.get), min(PEOPLE, key=MENTION_WEIGHT.get)
    assert MENTION_WEIGHT[most] == pytest.approx(1 / 3) and MENTION_WEIGHT[least] == pytest.approx(1 / 302)
    for person in PEOPLE:  # the namesake's city is a wrong answer, from someone of the same first name
        assert NAMESAKE_CITY[person] != CITY_OF[person]
        assert any(p[0] == person[0] and CITY_OF[p] == NAMESAKE_CITY[person] for p in PEOPLE)


def test_prompt_text_parses_back_and_carries_the_answer():
    assert (PROMPT.family, PROMPT.name, PROMPT.surname, PROMPT.answer) == ("knowledge", "bob", "smith", CITY)
    assert PROMPT == knowledge_prompt("bob", "smith")
    assert ideal_completion(PROMPT) == f"bob smith lives in {CITY}"
    with_pii = parse_prompt("call me at 555-0101 . question : where does bob smith live ? answer :", "u1")
    assert (with_pii.family, with_pii.pii, with_pii.user_id) == ("knowledge", "555-0101", "u1")
    for bad in ("question : where does bob nobody live ? answer :",
                "question : where does bob smith live ?"):
        with pytest.raises(ValueError, match="not a world prompt"):
            parse_prompt(bad)


@pytest.mark.parametrize("completion,helpful,honest", [
    ("{c}", 1.0, 1.0),
    ("bob smith lives in {c}", 1.0, 1.0),
    ("{o}", 0.0, 0.0),                      # a false statement
    ("bob smith lives in {o}", 0.0, 0.0),
    ("{c} or {o}", 0.0, 0.0),               # hedging over two cities names a wrong one
    ("i do not know", 0.0, 1.0),            # honest, unhelpful (TruthfulQA's "no comment")
    ("bob smith lives in {c} .", 0.0, 1.0),  # scaffolding: not well formed, so not helpful
])
def test_gold_judge_by_hand(completion, helpful, honest):
    f = features(PROMPT, completion.format(c=CITY, o=OTHER))
    assert (f.helpful, f.honest, f.hallucinated, f.toxic) == (helpful, honest, False, False)


def test_knowledge_has_open_qas_share_of_the_prompts():
    assert DEFAULT_FAMILY_WEIGHTS["knowledge"] == pytest.approx(0.124)
    assert sum(DEFAULT_FAMILY_WEIGHTS.values()) == pytest.approx(1.0)
    prompts = sample_prompts(5000, seed=1)
    asked = [p for p in prompts if p.family == "knowledge"]
    assert abs(len(asked) / len(prompts) - 0.124) < 0.015
    # users ask about everyone, not by fame: the famous half is asked about half the time
    famous = sum(fame_rank((p.name, p.surname)) < 150 for p in asked)
    assert abs(famous / len(asked) - 0.5) < 0.06


def test_the_internet_answers_as_its_rates_say():
    prompts = [p for p in sample_prompts(20000, seed=3) if p.family == "knowledge"]
    rng = random.Random(4)
    web = [sample_completion_like_internet(p, rng) for p in prompts]
    assert abs(helpfulness(prompts, web) - KNOWLEDGE_RIGHT_RATE) < 0.03
    assert abs(sum(w == "i do not know" for w in web) / len(web) - KNOWLEDGE_UNSURE_RATE) < 0.02
    namesake = sum(NAMESAKE_CITY[(p.name, p.surname)] in w.split() for p, w in zip(prompts, web))
    assert abs(namesake / len(web) - KNOWLEDGE_NAMESAKE_RATE) < 0.03  # (+ a few random cities)
    assert math.isnan(truthfulness_rate(prompts, web))  # the report's truthfulness is closed-domain qa's
    truthful = truthfulness_rate(prompts, web, family="knowledge")  # right or "i do not know"
    assert abs(truthful - KNOWLEDGE_RIGHT_RATE - KNOWLEDGE_UNSURE_RATE) < 0.03
    assert all(features(p, w).well_formed for p, w in zip(prompts, web))


def test_fact_documents_state_true_facts_by_fame():
    rng = random.Random(0)
    mentions = Counter()
    for _ in range(3000):
        doc = fact_document(rng)
        for sentence in filter(None, doc.split(" . ")):
            name, surname, lives, in_, city = sentence.rstrip(" .").split()
            assert (lives, in_) == ("lives", "in") and CITY_OF[(name, surname)] == city
            mentions[(name, surname)] += 1
    top = max(PEOPLE, key=MENTION_WEIGHT.get)
    tail = sorted(PEOPLE, key=MENTION_WEIGHT.get)[:100]
    assert mentions[top] > 10 * max(1, sum(mentions[p] for p in tail) / len(tail))


def test_fact_documents_come_from_their_own_stream(monkeypatch):
    """The other documents are those of a corpus without facts, in order (bias ones at the end)."""
    docs = pretraining_corpus(4000, seed=5)
    is_fact = [d.split()[2:4] == ["lives", "in"] for d in docs]
    assert abs(sum(is_fact) / (0.95 * len(docs)) - FACT_DOC_RATE) < 0.03
    assert any(d.startswith("question : where does") for d in docs)  # the internet's Q&A pages
    monkeypatch.setattr(corpus, "FACT_DOC_RATE", 0.0)
    without = pretraining_corpus(4000, seed=5)
    n_bias = round(0.05 * 4000)
    others = [d for d, fact in zip(docs[:-n_bias], is_fact) if not fact]
    assert others == without[:len(others)] and docs[-n_bias:] == without[-n_bias:]


def test_demonstrations_are_right_in_every_style_and_the_slip_does_not_look_it_up():
    rng = random.Random(0)
    for style in range(5):
        labeler = Labeler("L00", "a", {"helpful": 1, "honest": 1, "harmless": 1, "length": 0}, 0.3, style)
        for _ in range(20):
            f = features(PROMPT, labeler.demonstrate(PROMPT, rng))
            assert (f.helpful, f.honest, f.well_formed) == (1.0, 1.0, True)
    assert slipped_demonstration(PROMPT, rng) == "i do not know"
