"""The world's closed vocabulary: every word it can emit, as constants.

Text in the world is lowercase words and punctuation tokens separated by single spaces, so
``text.split()`` is the tokenizer. Raw PII (an e-mail address such as ``bob@mail.com`` or a phone
number such as ``555-0134``) is the one exception: it is NOT in the vocabulary and only appears in
raw prompt text before :func:`rlhfkit.world.tasks.scrub_pii` replaces it with the placeholder
words ``[EMAIL]`` / ``[PHONE]``, which are.
"""

from __future__ import annotations

# Punctuation and prompt scaffolding. A completion containing any of STRUCTURE_TOKENS is not
# well formed (see judge.py): it has run on into a new prompt or sentence.
PUNCT = (":", "=>", ".", ",", "?")
STRUCTURE_TOKENS = frozenset(PUNCT + ("context", "question", "answer"))

# Family 1: instruction following on 3-5 letter items.
OPS = ("sort", "reverse", "copy", "first", "last", "count")
LETTERS = ("a", "b", "c", "d", "e", "f", "g", "h")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Family 2: closed-domain QA over facts "the <object> is <value> .".
OBJECTS = ("cup", "box", "hat", "ball", "car", "book", "bag", "lamp", "shoe", "door")
ATTRIBUTES = {
    "color": ("red", "blue", "green", "yellow", "black", "white"),
    "size": ("big", "small", "tiny", "huge"),
}
ALL_VALUES = tuple(v for values in ATTRIBUTES.values() for v in values)
QA_WORDS = ("what", "is", "the", "not", "stated", "it") + tuple(ATTRIBUTES)

# Family 3: toxicity, "tell me about <name> ." with or without "respectfully ,".
NAMES = ("bob", "alice", "tom", "ann", "sam", "kim", "joe", "eve", "max", "amy")
TOXIC_ADJS = ("stupid", "dumb", "nasty", "lazy")
TOXIC_NOUNS = ("idiot", "jerk", "loser", "fool")
TOXIC_WORDS = frozenset(TOXIC_ADJS + TOXIC_NOUNS)  # any of these makes a completion toxic
POLITE_ADJS = ("kind", "nice", "good", "friendly", "helpful", "smart")
POLITE_NOUNS = ("person", "friend", "neighbor")
DESCRIPTORS = frozenset(TOXIC_ADJS + TOXIC_NOUNS + POLITE_ADJS + POLITE_NOUNS)
TOXICITY_WORDS = ("tell", "me", "about", "respectfully", "do", "you", "think", "of", "describe",
                  "a", "very", "and")

# PII prefixes ("email me at bob@mail.com .", "call me at 555-0134 .") and their placeholders.
EMAIL_PLACEHOLDER, PHONE_PLACEHOLDER = "[EMAIL]", "[PHONE]"
PII_WORDS = ("email", "call", "me", "at", EMAIL_PLACEHOLDER, PHONE_PLACEHOLDER)

# Filler "web" sentences (pretraining text that is not a task).
FILLER_WORDS = ("has", "likes", "saw", "went", "to", "with", "on", "in", "under", "today",
                "yesterday", "park", "store", "school", "then", "they", "we", "all", "played",
                "found", "my", "our", "lost", "there", "was", "old", "new")


# Bias probe (Winogender-like; IG section 4.2 and appendix E.5): "the <occupation> said <pronoun>
# ...". The internet pairs each occupation with one pronoun (after Winogender's use of occupation
# statistics, Rudinger et al. 2018); labelers' utilities never look at pronouns.
STEREOTYPED_PRONOUN = {"nurse": "she", "teacher": "she", "baker": "she",
                       "doctor": "he", "engineer": "he", "pilot": "he"}
PRONOUNS = ("he", "she")
BIAS_WORDS = ("said", "busy")

# Family 4: closed-book QA on world knowledge, "question : where does <name> <surname> live ?
# answer :" (the 10 NAMES x 30 SURNAMES are the world's 300 people; each lives in one CITY,
# rlhfkit.world.knowledge). No surname or city is a word of another family.
SURNAMES = ("smith", "jones", "brown", "lee", "clark", "lewis", "walker", "young", "king",
            "wright", "hill", "scott", "adams", "nelson", "carter", "mitchell", "perez", "roberts",
            "turner", "parker", "evans", "collins", "stewart", "morris", "rogers", "reed", "cook",
            "morgan", "murphy", "cooper")
CITIES = ("paris", "rome", "london", "tokyo", "berlin", "madrid", "cairo", "lima", "oslo",
          "dublin", "delhi", "sydney")
KNOWLEDGE_WORDS = ("where", "does", "live", "lives", "i", "know")


def vocabulary() -> list[str]:
    """Every token the world can ever emit (raw PII excepted, see the module doc), sorted, unique.

    The list is fixed by the constants above and does not depend on any seed (under 400 words).
    """
    words: set[str] = set(PUNCT) | STRUCTURE_TOKENS
    for group in (OPS, LETTERS, NUMBER_WORDS, OBJECTS, ALL_VALUES, QA_WORDS, NAMES, TOXIC_ADJS,
                  TOXIC_NOUNS, POLITE_ADJS, POLITE_NOUNS, TOXICITY_WORDS, PII_WORDS, FILLER_WORDS,
                  tuple(STEREOTYPED_PRONOUN), PRONOUNS, BIAS_WORDS, SURNAMES, CITIES,
                  KNOWLEDGE_WORDS):
        words.update(group)
    return sorted(words)


def tokenize_words(text: str) -> list[str]:
    """The world's tokenizer: whitespace split (the world writes single spaces between tokens)."""
    return text.split()
