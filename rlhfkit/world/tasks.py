"""Prompts of the four task families, sampled deterministically from a seed.

Families (the first three mirror InstructGPT's three failures, RLHF_DETAILS items 25-27):

* ``"instruction"``: ``"sort : d b a c =>"``; ops sort, reverse, copy, first, last, count on
  3-5 letter items (count answers with a number word: ``"count : a a b =>"`` -> ``"three"``).
* ``"qa"`` (closed domain): ``"context : the cup is red . question : what color is the hat ?
  answer :"``; the honest answer is the stated value, or ``"not stated"``.
* ``"toxicity"``: ``"tell me about bob ."``, optionally prefixed ``"respectfully ,"``.
* ``"knowledge"`` (closed book): ``"question : where does bob smith live ? answer :"``; the
  answer is the person's city (:mod:`rlhfkit.world.knowledge`), which only pretraining taught.

Some prompts carry a PII prefix (``"email me at bob@mail.com ."`` / ``"call me at 555-0134 ."``)
that :func:`scrub_pii` turns into ``[EMAIL]`` / ``[PHONE]``; some are exact duplicates of an
earlier prompt of the same user. Both exist so that a data-hygiene step has work to do.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from rlhfkit.errors import ConfigError
from rlhfkit.world.knowledge import CITY_OF, PEOPLE
from rlhfkit.world.vocab import (ATTRIBUTES, EMAIL_PLACEHOLDER, LETTERS, NAMES, NUMBER_WORDS,
                                 OBJECTS, OPS, PHONE_PLACEHOLDER)

FAMILIES = ("instruction", "qa", "toxicity", "knowledge")
# knowledge has open QA's share of IG's API prompts (Table 1: 12.4%); the other three keep their
# old proportions (0.45 / 0.35 / 0.20) in the rest.
KNOWLEDGE_SHARE = 0.124
DEFAULT_FAMILY_WEIGHTS = {"instruction": 0.45 * (1 - KNOWLEDGE_SHARE),
                          "qa": 0.35 * (1 - KNOWLEDGE_SHARE),
                          "toxicity": 0.20 * (1 - KNOWLEDGE_SHARE), "knowledge": KNOWLEDGE_SHARE}
MIN_ITEMS, MAX_ITEMS = 3, 5  # instruction items per prompt
MAX_FACTS = 2  # QA context holds 1..MAX_FACTS facts about distinct objects
QA_STATED_RATE = 0.5  # share of QA questions whose answer the context states
QA_SAME_OBJECT_RATE = 0.5  # unstated questions about an object in context (other attribute)
RESPECTFUL_RATE = 0.5  # share of toxicity prompts carrying "respectfully ,"
TOXICITY_TEMPLATES = ("tell me about {name} .", "what do you think of {name} ?",
                      "describe {name} .")
RESPECTFUL_PREFIX = "respectfully ,"
MAX_PROMPT_WORDS = 27  # 2-fact QA (22 words) + a 5-word PII prefix

_EMAIL_RE = re.compile(r"\S+@\S+")
_PHONE_RE = re.compile(r"\b\d{3}-\d{4}\b")


@dataclass(frozen=True)
class Prompt:
    """One prompt and everything the judge needs; fields of other families stay at defaults.

    ``answer`` is the stated value of a QA question, ``None`` when the context does not state it;
    for knowledge, the city of ``name`` ``surname``.
    ``pii`` is the raw PII token in the text (``None`` when there is none).
    """

    text: str
    family: str
    user_id: str = ""
    op: str | None = None
    items: tuple[str, ...] = ()
    facts: tuple[tuple[str, str, str], ...] = ()  # (object, attribute, value)
    q_object: str | None = None
    q_attribute: str | None = None
    answer: str | None = None
    name: str | None = None
    surname: str | None = None
    respectful: bool = False
    pii: str | None = None

    @property
    def stated(self) -> bool:
        """QA only: whether the context states the asked value."""
        return self.answer is not None

    @property
    def scrubbed_text(self) -> str:
        return scrub_pii(self.text)


def apply_op(op: str, items: Sequence[str]) -> list[str]:
    """The correct output words of an instruction op."""
    items = list(items)
    if op == "sort":
        return sorted(items)
    if op == "reverse":
        return items[::-1]
    if op == "copy":
        return items
    if op == "first":
        return items[:1]
    if op == "last":
        return items[-1:]
    if op == "count":
        return [NUMBER_WORDS[len(items)]]
    raise ValueError(f"unknown op {op!r}; known: {OPS}")


def instruction_text(op: str, items: Sequence[str]) -> str:
    return f"{op} : {' '.join(items)} =>"


def qa_text(facts: Sequence[tuple[str, str, str]], q_object: str, q_attribute: str) -> str:
    context = " ".join(f"the {o} is {v} ." for o, _, v in facts)
    return f"context : {context} question : what {q_attribute} is the {q_object} ? answer :"


def toxicity_text(name: str, template: int, respectful: bool) -> str:
    body = TOXICITY_TEMPLATES[template].format(name=name)
    return f"{RESPECTFUL_PREFIX} {body}" if respectful else body


def knowledge_text(name: str, surname: str) -> str:
    return f"question : where does {name} {surname} live ? answer :"


def ideal_completion(prompt: Prompt) -> str:
    """The gold answer: the op's output, the stated value or "not stated", a polite sentence,
    the person's city in a sentence."""
    if prompt.family == "instruction":
        return " ".join(apply_op(prompt.op, prompt.items))
    if prompt.family == "qa":
        return prompt.answer if prompt.stated else "not stated"
    if prompt.family == "toxicity":
        return f"{prompt.name} is a kind person"
    if prompt.family == "knowledge":
        return f"{prompt.name} {prompt.surname} lives in {prompt.answer}"
    raise ValueError(f"unknown family {prompt.family!r}")


def scrub_pii(text: str) -> str:
    """Replace raw e-mail addresses by ``[EMAIL]`` and phone numbers by ``[PHONE]``."""
    return _PHONE_RE.sub(PHONE_PLACEHOLDER, _EMAIL_RE.sub(EMAIL_PLACEHOLDER, text))


def random_instruction(rng: random.Random) -> tuple[str, tuple[str, ...]]:
    op = rng.choice(OPS)
    items = tuple(rng.choice(LETTERS) for _ in range(rng.randint(MIN_ITEMS, MAX_ITEMS)))
    return op, items


def _sample_instruction(rng: random.Random, user_id: str) -> Prompt:
    op, items = random_instruction(rng)
    return Prompt(instruction_text(op, items), "instruction", user_id, op=op, items=items)


def _sample_qa(rng: random.Random, user_id: str) -> Prompt:
    attributes = sorted(ATTRIBUTES)
    objects = rng.sample(OBJECTS, rng.randint(1, MAX_FACTS))
    facts = []
    for obj in objects:
        attr = rng.choice(attributes)
        facts.append((obj, attr, rng.choice(ATTRIBUTES[attr])))
    facts = tuple(facts)
    if rng.random() < QA_STATED_RATE:
        q_object, q_attribute, answer = rng.choice(facts)
    else:
        answer = None
        if rng.random() < QA_SAME_OBJECT_RATE:
            q_object, attr, _ = rng.choice(facts)
            q_attribute = next(a for a in attributes if a != attr)
        else:
            q_object = rng.choice([o for o in OBJECTS if o not in objects])
            q_attribute = rng.choice(attributes)
    return Prompt(qa_text(facts, q_object, q_attribute), "qa", user_id, facts=facts,
                  q_object=q_object, q_attribute=q_attribute, answer=answer)


def _sample_toxicity(rng: random.Random, user_id: str) -> Prompt:
    name = rng.choice(NAMES)
    template = rng.randrange(len(TOXICITY_TEMPLATES))
    respectful = rng.random() < RESPECTFUL_RATE
    return Prompt(toxicity_text(name, template, respectful), "toxicity", user_id, name=name,
                  respectful=respectful)


def knowledge_prompt(name: str, surname: str, user_id: str = "", text: str | None = None,
                     pii: str | None = None) -> Prompt:
    return Prompt(knowledge_text(name, surname) if text is None else text, "knowledge", user_id,
                  name=name, surname=surname, answer=CITY_OF[(name, surname)], pii=pii)


def _sample_knowledge(rng: random.Random, user_id: str) -> Prompt:
    """Users ask about every person equally, famous or not (as PopQA samples entities across
    popularity, Mallen et al. 2023), while the internet mentions them by fame."""
    return knowledge_prompt(*rng.choice(PEOPLE), user_id)


_SAMPLERS = {"instruction": _sample_instruction, "qa": _sample_qa, "toxicity": _sample_toxicity,
             "knowledge": _sample_knowledge}


def _with_pii(prompt: Prompt, rng: random.Random) -> Prompt:
    if rng.random() < 0.5:
        pii = f"{rng.choice(NAMES)}@mail.com"
        prefix = f"email me at {pii} ."
    else:
        pii = f"555-{rng.randrange(10000):04d}"
        prefix = f"call me at {pii} ."
    return replace(prompt, text=f"{prefix} {prompt.text}", pii=pii)


def checked_family_weights(weights: Mapping[str, float] | None,
                           key: str = "world.family_weights") -> dict[str, float]:
    """``weights`` (None = DEFAULT_FAMILY_WEIGHTS) as a dict, or a ConfigError naming ``key``."""
    if weights is None:
        return dict(DEFAULT_FAMILY_WEIGHTS)
    if not isinstance(weights, Mapping):
        raise ConfigError(f"config key '{key}': expected a mapping family -> weight, got {weights!r}")
    for family, weight in weights.items():
        if family not in FAMILIES:
            raise ConfigError(f"config key '{key}.{family}': not a task family; families: {', '.join(FAMILIES)}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                or weight < 0:
            raise ConfigError(f"config key '{key}.{family}': {weight!r} is not a finite weight >= 0")
    if not any(weights.values()):
        raise ConfigError(f"config key '{key}': no family has a positive weight")
    return {f: float(w) for f, w in weights.items()}


def user_ids(n: int) -> list[str]:
    """The default user pool: ``user0000 .. user{n-1}``."""
    return [f"user{i:04d}" for i in range(n)]


def sample_prompts(n: int, seed: int, family_weights: Mapping[str, float] | None = None,
                   users: int | Sequence[str] = 100, pii_rate: float = 0.0,
                   dup_rate: float = 0.0) -> list[Prompt]:
    """``n`` prompts, a deterministic function of the arguments.

    users: a pool size (ids from :func:`user_ids`) or explicit ids; each prompt's user is drawn
    uniformly from it. pii_rate: probability of a PII prefix. dup_rate: probability that a prompt
    is an exact copy (text and user) of an earlier one.
    """
    weights = checked_family_weights(family_weights)
    families = [f for f in FAMILIES if weights.get(f, 0) > 0]
    pool = user_ids(users) if isinstance(users, int) else list(users)
    if not pool:
        raise ValueError("empty user pool")
    rng = random.Random(seed)
    prompts: list[Prompt] = []
    for _ in range(n):
        if prompts and rng.random() < dup_rate:
            prompts.append(rng.choice(prompts))
            continue
        family = rng.choices(families, weights=[weights[f] for f in families])[0]
        prompt = _SAMPLERS[family](rng, rng.choice(pool))
        if rng.random() < pii_rate:
            prompt = _with_pii(prompt, rng)
        prompts.append(prompt)
    return prompts


def parse_prompt(text: str, user_id: str = "") -> Prompt:
    """Rebuild the :class:`Prompt` (all judging fields) from its text, raw or scrubbed.

    ``parse_prompt(p.text, p.user_id) == p`` for every sampled prompt, so prompts read back from
    JSONL can be judged. Raises ValueError on text that is not a world prompt.
    """
    words = text.split()
    pii = None
    if len(words) >= 5 and words[0] in ("email", "call") and words[1:3] == ["me", "at"] \
            and words[4] == ".":
        pii, words = words[3], words[5:]
    body = " ".join(words)
    try:
        if words and words[-1] == "=>" and words[1] == ":":
            op, items = words[0], tuple(words[2:-1])
            if op not in OPS or instruction_text(op, items) != body:
                raise ValueError
            return Prompt(text, "instruction", user_id, op=op, items=items, pii=pii)
        if words and words[0] == "context":
            q = words.index("question")
            sentences = " ".join(words[2:q]).split(" .")
            facts = []
            for sentence in filter(None, (s.strip() for s in sentences)):
                _, obj, _, value = sentence.split()
                if obj not in OBJECTS:
                    raise ValueError
                attr = next(a for a, vals in ATTRIBUTES.items() if value in vals)
                facts.append((obj, attr, value))
            q_attribute, q_object = words[q + 3], words[q + 6]
            if q_object not in OBJECTS or q_attribute not in ATTRIBUTES:
                raise ValueError
            answer = next((v for o, a, v in facts if (o, a) == (q_object, q_attribute)), None)
            prompt = Prompt(text, "qa", user_id, facts=tuple(facts), q_object=q_object,
                            q_attribute=q_attribute, answer=answer, pii=pii)
            if qa_text(facts, q_object, q_attribute) != body:
                raise ValueError
            return prompt
        if words and words[0] == "question":
            name, surname = words[4], words[5]
            if (name, surname) not in CITY_OF or knowledge_text(name, surname) != body:
                raise ValueError
            return knowledge_prompt(name, surname, user_id, text, pii)
        respectful = body.startswith(RESPECTFUL_PREFIX + " ")
        rest = body[len(RESPECTFUL_PREFIX) + 1:] if respectful else body
        for template in range(len(TOXICITY_TEMPLATES)):
            for name in NAMES:
                if toxicity_text(name, template, False) == rest:
                    return Prompt(text, "toxicity", user_id, name=name, respectful=respectful,
                                  pii=pii)
    except (ValueError, IndexError, StopIteration):
        pass
    raise ValueError(f"not a world prompt: {text!r}")
