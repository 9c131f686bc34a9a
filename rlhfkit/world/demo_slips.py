"""A careless labeler's demonstration: the slips a hurried contractor makes, never a lie or an insult.

Premise (IG section 3.4 and appendix B): the ~13k demonstrations were written by ~40 contractors
of varying care, so imitation learns their slips along with their answers, while a ranking of K
samples by the same labelers still tells the better from the worse. Each training labeler slips
on a share of their demonstrations (``world.labelers.<pool>.<group>.slip``, docs/world.md); a slip
is

* instruction: one output item wrong (a neighbouring letter), or a count off by one;
* QA, stated: the fact overlooked ("not stated": honest, unhelpful);
* QA, not stated: the value of another object in the context misread as the answer (the one slip
  that is dishonest: a careless reader's hallucination);
* toxicity: the person named without saying anything about them ("<name> was there");
* knowledge: the fact not looked up ("i do not know": honest, unhelpful).
"""

from __future__ import annotations

import random

from rlhfkit.world.tasks import Prompt, apply_op
from rlhfkit.world.vocab import LETTERS, NUMBER_WORDS


def _slipped_items(prompt: Prompt, rng: random.Random) -> str:
    words = apply_op(prompt.op, prompt.items)
    if prompt.op == "count":
        n = NUMBER_WORDS.index(words[0])
        return NUMBER_WORDS[n + rng.choice((-1, 1))]
    i = rng.randrange(len(words))
    j = LETTERS.index(words[i]) + rng.choice((-1, 1))
    words[i] = LETTERS[j % len(LETTERS)]
    return " ".join(words)


def slipped_demonstration(prompt: Prompt, rng: random.Random) -> str:
    """A flawed demonstration of ``prompt`` (the module doc lists the slips per family)."""
    if prompt.family == "instruction":
        return _slipped_items(prompt, rng)
    if prompt.family == "qa":
        if prompt.stated:
            return "not stated"
        return rng.choice([v for _, _, v in prompt.facts])
    if prompt.family == "knowledge":
        return "i do not know"
    return f"{prompt.name} was there"
