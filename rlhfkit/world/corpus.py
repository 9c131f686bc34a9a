"""The world's "internet": how web text answers prompts (bad habits included), and the
pretraining corpus built from it.

Bad habits of the internet (the base model learns them in pretraining):

* instruction: right answer with probability 1 - INSTRUCTION_WRONG_RATE (0.4); otherwise
  another op's answer (WRONG_OP_RATE), the input items copied (COPY_INPUT_RATE), or a new
  instruction instead of an answer (NEW_INSTRUCTION_RATE, never well formed).
* qa: fabricates a value for QA_FABRICATE_RATE (70%) of unstated questions (half the time a value
  that appears in the context, for another object) and says "not stated" otherwise; answers a
  stated question with a wrong value QA_STATED_WRONG_RATE (20%) of the time.
* toxicity: toxic TOXIC_RATE (50%) of the time, TOXIC_RATE_RESPECTFUL (40%) even when asked
  "respectfully"; polite otherwise.
* knowledge: right KNOWLEDGE_RIGHT_RATE (60%) of the time; otherwise the city of the person's most
  famous namesake (KNOWLEDGE_NAMESAKE_RATE, 20%: a misconception it repeats), another city
  (KNOWLEDGE_OTHER_CITY_RATE, 10%) or "i do not know" (KNOWLEDGE_UNSURE_RATE, 10%). Apart from
  these answers, FACT_DOC_RATE (25%) of the documents (before the bias ones) state 1-3 true facts
  "<name> <surname> lives in <city> ." about people drawn by fame (:mod:`rlhfkit.world.knowledge`).
* bias: BIAS_DOC_RATE (5%) of the documents say "the <occupation> said <pronoun> was busy .", the
  pronoun the stereotyped one (vocab.STEREOTYPED_PRONOUN) BIAS_STEREOTYPE_RATE (80%) of the time.
  No prompt, demonstration or labeler utility involves pronouns: the bias probe
  (:mod:`rlhfkit.world.bias`) measures what pretraining put there and alignment leaves alone.
"""

from __future__ import annotations

import random

from rlhfkit.world.features import MAX_COMPLETION_WORDS
from rlhfkit.world.knowledge import NAMESAKE_CITY, fact_document
from rlhfkit.world.tasks import (Prompt, apply_op, ideal_completion, instruction_text,
                                 random_instruction, sample_prompts)
from rlhfkit.world.vocab import (ATTRIBUTES, CITIES, LETTERS, NAMES, NUMBER_WORDS, OBJECTS, OPS,
                                 POLITE_ADJS, POLITE_NOUNS, PRONOUNS, STEREOTYPED_PRONOUN, TOXIC_ADJS,
                                 TOXIC_NOUNS)

__all__ = ["BIAS_DOC_RATE", "BIAS_STEREOTYPE_RATE", "FACT_DOC_RATE", "INSTRUCTION_WRONG_RATE",
           "KNOWLEDGE_RIGHT_RATE", "QA_FABRICATE_RATE", "QA_STATED_WRONG_RATE", "TOXIC_RATE",
           "TOXIC_RATE_RESPECTFUL", "TASK_DOC_RATE", "heldout_pretraining_corpus",
           "ideal_completion", "pretraining_corpus", "sample_completion_like_internet",
           "bias_sentence", "filler_document", "polite_sentence", "toxic_sentence"]

WRONG_OP_RATE = 0.35
COPY_INPUT_RATE = 0.10
NEW_INSTRUCTION_RATE = 0.15
INSTRUCTION_WRONG_RATE = WRONG_OP_RATE + COPY_INPUT_RATE + NEW_INSTRUCTION_RATE  # 0.6
QA_FABRICATE_RATE = 0.7
QA_CONTEXT_VALUE_RATE = 0.5  # of fabrications, the share that borrows a value from the context
QA_STATED_WRONG_RATE = 0.2
TOXIC_RATE = 0.5
TOXIC_RATE_RESPECTFUL = 0.4
TASK_DOC_RATE = 0.6  # pretraining documents that are prompt + internet completion
BIAS_DOC_RATE = 0.05  # bias-probe sentences, as extra documents (a stream of their own: the others are unchanged)
BIAS_STEREOTYPE_RATE = 0.8
BIAS_SEED_OFFSET = 7_919
KNOWLEDGE_NAMESAKE_RATE = 0.2
KNOWLEDGE_OTHER_CITY_RATE = 0.1
KNOWLEDGE_UNSURE_RATE = 0.1
KNOWLEDGE_RIGHT_RATE = 1 - KNOWLEDGE_NAMESAKE_RATE - KNOWLEDGE_OTHER_CITY_RATE - KNOWLEDGE_UNSURE_RATE
# Fact documents (the probe of docs/world.md put facts in 25% of the documents); a stream of their
# own, so the other documents are those of a corpus without them, in order.
FACT_DOC_RATE = 0.25
FACT_SEED_OFFSET = 104_729
HELDOUT_SEED_OFFSET = 1_000_003  # heldout_pretraining_corpus(seed) uses seed + this

QA_VALUE_FORMS = ("{v}", "it is {v}", "the {o} is {v}")
QA_NOT_STATED_FORMS = ("not stated", "it is not stated")
PERSON_FORMS = ("{n} is a {a} {b}", "{n} is {a}", "{n} is very {a}")
KNOWLEDGE_FORMS = ("{n} {s} lives in {c}", "{c}", "{n} lives in {c}")


def toxic_sentence(name: str, rng: random.Random) -> str:
    form = rng.choice(("{n} is a {a} {b}", "{n} is {a}", "{n} is a {b}"))
    return form.format(n=name, a=rng.choice(TOXIC_ADJS), b=rng.choice(TOXIC_NOUNS))


def polite_sentence(name: str, rng: random.Random) -> str:
    form = rng.choice(PERSON_FORMS)
    return form.format(n=name, a=rng.choice(POLITE_ADJS), b=rng.choice(POLITE_NOUNS))


def _instruction_like_internet(prompt: Prompt, rng: random.Random) -> str:
    r = rng.random()
    if r < WRONG_OP_RATE:
        op = rng.choice([o for o in OPS if o != prompt.op])
        return " ".join(apply_op(op, prompt.items))
    r -= WRONG_OP_RATE
    if r < COPY_INPUT_RATE:
        return " ".join(prompt.items if prompt.op != "copy" else prompt.items[::-1])
    r -= COPY_INPUT_RATE
    if r < NEW_INSTRUCTION_RATE:
        op, items = random_instruction(rng)
        words = instruction_text(op, items).split()
        if rng.random() < 0.5:
            words += apply_op(op, items)
        return " ".join(words[:MAX_COMPLETION_WORDS])
    return ideal_completion(prompt)


def _qa_like_internet(prompt: Prompt, rng: random.Random) -> str:
    values = ATTRIBUTES[prompt.q_attribute]
    if prompt.stated:
        value = prompt.answer
        if rng.random() < QA_STATED_WRONG_RATE:
            value = rng.choice([v for v in values if v != prompt.answer])
    elif rng.random() < QA_FABRICATE_RATE:
        in_context = [v for _, _, v in prompt.facts]
        if rng.random() < QA_CONTEXT_VALUE_RATE:
            value = rng.choice(in_context)
        else:
            value = rng.choice(values)
    else:
        return rng.choice(QA_NOT_STATED_FORMS)
    return rng.choice(QA_VALUE_FORMS).format(v=value, o=prompt.q_object)


def _toxicity_like_internet(prompt: Prompt, rng: random.Random) -> str:
    rate = TOXIC_RATE_RESPECTFUL if prompt.respectful else TOXIC_RATE
    if rng.random() < rate:
        return toxic_sentence(prompt.name, rng)
    return polite_sentence(prompt.name, rng)


def _knowledge_like_internet(prompt: Prompt, rng: random.Random) -> str:
    r = rng.random()
    person = (prompt.name, prompt.surname)
    if r < KNOWLEDGE_UNSURE_RATE:
        return "i do not know"
    if r < KNOWLEDGE_UNSURE_RATE + KNOWLEDGE_NAMESAKE_RATE:
        city = NAMESAKE_CITY[person]
    elif r < KNOWLEDGE_UNSURE_RATE + KNOWLEDGE_NAMESAKE_RATE + KNOWLEDGE_OTHER_CITY_RATE:
        city = rng.choice([c for c in CITIES if c != prompt.answer])
    else:
        city = prompt.answer
    return rng.choice(KNOWLEDGE_FORMS).format(n=prompt.name, s=prompt.surname, c=city)


_INTERNET = {"instruction": _instruction_like_internet, "qa": _qa_like_internet,
             "toxicity": _toxicity_like_internet, "knowledge": _knowledge_like_internet}


def sample_completion_like_internet(prompt: Prompt, rng: random.Random) -> str:
    """One completion as web text would continue ``prompt`` (rates in the module doc)."""
    return _INTERNET[prompt.family](prompt, rng)


def _filler_sentence(rng: random.Random) -> str:
    n, n2 = rng.sample(NAMES, 2)
    o, o2 = rng.sample(OBJECTS, 2)
    v = rng.choice(ATTRIBUTES[rng.choice(sorted(ATTRIBUTES))])
    k = rng.randint(2, 5)
    templates = (
        lambda: f"the {o} is {v} .",
        lambda: f"{n} has a {v} {o} .",
        lambda: f"{n} likes the {o} .",
        lambda: f"the {o} is {rng.choice(('on', 'in', 'under'))} the {o2} .",
        lambda: f"{n} went to the {rng.choice(('park', 'store', 'school'))} with {n2} .",
        lambda: f"{n} saw the {o} {rng.choice(('today', 'yesterday'))} .",
        lambda: f"{n} lost {rng.choice(('my', 'our'))} {o} .",
        lambda: f"there was a {rng.choice(('old', 'new'))} {o} .",
        lambda: "then we all played in the park .",
        lambda: f"{toxic_sentence(n, rng) if rng.random() < 0.3 else polite_sentence(n, rng)} .",
        lambda: " ".join(NUMBER_WORDS[1:k + 1]) + " .",
        lambda: " ".join(LETTERS[:k]) + " .",
    )
    return rng.choice(templates)()


def filler_document(rng: random.Random) -> str:
    """1-4 "web" sentences that are not tasks, from the same vocabulary."""
    return " ".join(_filler_sentence(rng) for _ in range(rng.randint(1, 4)))


def pretraining_corpus(n_docs: int, seed: int) -> list[str]:
    """``n_docs`` documents: BIAS_DOC_RATE of them bias-probe sentences (the last ones, from their
    own random stream); of the rest, FACT_DOC_RATE fact documents (their own stream too, at random
    places), and of the others TASK_DOC_RATE ``prompt + " " + internet completion`` (prompts
    without PII) and filler web text otherwise. The caller appends EOS to each."""
    rng = random.Random(seed)
    fact_rng = random.Random(seed + FACT_SEED_OFFSET)
    prompts = iter(sample_prompts(n_docs, seed=rng.randrange(2**31), users=1))
    n_bias = round(BIAS_DOC_RATE * n_docs)
    docs = []
    for _ in range(n_docs - n_bias):
        if fact_rng.random() < FACT_DOC_RATE:
            docs.append(fact_document(fact_rng))
        elif rng.random() < TASK_DOC_RATE:
            prompt = next(prompts)
            docs.append(f"{prompt.text} {sample_completion_like_internet(prompt, rng)}")
        else:
            docs.append(filler_document(rng))
    bias_rng = random.Random(seed + BIAS_SEED_OFFSET)
    return docs + [bias_sentence(bias_rng) for _ in range(n_bias)]


def bias_sentence(rng: random.Random) -> str:
    """"the <occupation> said <pronoun> was busy .", the stereotyped pronoun BIAS_STEREOTYPE_RATE of the time."""
    occupation = rng.choice(sorted(STEREOTYPED_PRONOUN))
    stereotyped = STEREOTYPED_PRONOUN[occupation]
    other = next(p for p in PRONOUNS if p != stereotyped)
    return f"the {occupation} said {stereotyped if rng.random() < BIAS_STEREOTYPE_RATE else other} was busy ."


def heldout_pretraining_corpus(n_docs: int, seed: int) -> list[str]:
    """Same distribution as :func:`pretraining_corpus`, disjoint seed (for alignment-tax loss)."""
    return pretraining_corpus(n_docs, seed + HELDOUT_SEED_OFFSET)
