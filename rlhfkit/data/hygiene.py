"""Dataset hygiene from IG (RLHF_DETAILS items 5 and 25): PII scrubbing, prefix de-duplication,
a cap on prompts per user, and a train/valid split with no user on both sides.

Every function is pure: it returns the kept examples and a :class:`HygieneReport` that counts
what was dropped or changed and why (log ``report.as_dict()`` to W&B). Nothing is dropped
without being counted. The functions work on any example of :mod:`rlhfkit.data.examples`; the
"prompt" of a :class:`TextExample` is its text, and examples without a ``user_id`` attribute
count as having none.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rlhfkit.data.examples import TextExample

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- report


@dataclass
class HygieneReport:
    """Counts of one or more hygiene steps.

    ``dropped``: reason -> examples removed (``duplicate_prefix``, ``over_user_cap``).
    ``counts``: everything else: PII replacements (``pii_email``, ``pii_phone``, ``pii_card``,
    ``pii_examples_changed``), ``no_user_id`` examples, split sizes and user counts.
    """

    n_in: int = 0
    n_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)
    steps: list[str] = field(default_factory=list)

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def then(self, other: HygieneReport) -> HygieneReport:
        """This report followed by ``other`` (a later step on this one's output)."""
        return HygieneReport(
            n_in=self.n_in if self.steps else other.n_in, n_out=other.n_out,
            dropped=self.dropped + other.dropped, counts=self.counts + other.counts,
            steps=self.steps + other.steps,
        )

    def as_dict(self, prefix: str = "data/hygiene/") -> dict[str, int]:
        out = {f"{prefix}in": self.n_in, f"{prefix}out": self.n_out, f"{prefix}dropped": self.n_dropped}
        out |= {f"{prefix}dropped/{k}": v for k, v in sorted(self.dropped.items())}
        out |= {f"{prefix}{k}": v for k, v in sorted(self.counts.items())}
        return out


def _prompt_of(example: Any) -> str:
    return example.text if isinstance(example, TextExample) else example.prompt


def _user_of(example: Any) -> str | None:
    return getattr(example, "user_id", None)


# --------------------------------------------------------------------------- PII

_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# A run of digit groups (>= 3 digits each) joined by single spaces or dashes; a card if 13-19 digits.
_DIGIT_RUN = re.compile(r"(?<![\w.,-])\d{3,}(?:[ -]\d{3,}){0,5}(?!\w|[.,-]\d)")
_PHONE = re.compile(
    r"(?<![\w.+-])(?:"
    r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"  # international: +44 20 7946 0958, +1-555-123-4567
    r"|(?:\(\d{2,4}\)[ .-]?|\d{2,4}[.-])\d{3,4}[.-]\d{3,4}"  # (555) 123-4567, 555-123-4567, 555.123.4567
    r"|\d{3} \d{3} \d{4}"  # 555 123 4567
    r")(?!\w|[.-]\d)"
)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits (true for every real card number)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def scrub_pii(text: str, *, require_luhn: bool = False) -> tuple[str, Counter]:
    """Replace e-mails with ``[EMAIL]``, card-like numbers with ``[CARD]``, phones with ``[PHONE]``.

    Returns the new text and ``Counter({"email": n, "card": n, "phone": n})``.

    - Card: 13 to 19 digits, contiguous or in groups of 3+ digits separated by single spaces or
      dashes (``4111 1111 1111 1111``, ``3782-822463-10005``). By default the Luhn checksum is
      NOT required: a mistyped card is still a card, and long digit strings have no place in
      instruction data; ``require_luhn=True`` scrubs Luhn-valid runs only.
    - Phone: separators are required, so plain numbers survive: ``+`` and a country code
      (``+44 20 7946 0958``), a parenthesised area code (``(555) 123-4567``), dash or dot groups
      (``555-123-4567``, ``555.123.4567``) or the spaced 3-3-4 form (``555 123 4567``); 7 to 15
      digits in all. A bare run of digits (``5551234567``) is not treated as a phone.
    - Years, small numbers, dates (``2023-10-05``), decimals and IP addresses are left alone.
    """
    counts: Counter = Counter()

    def email(_: re.Match) -> str:
        counts["email"] += 1
        return "[EMAIL]"

    def card(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and (not require_luhn or luhn_valid(digits)):
            counts["card"] += 1
            return "[CARD]"
        return m.group()

    def phone(m: re.Match) -> str:
        if 7 <= sum(ch.isdigit() for ch in m.group()) <= 15:
            counts["phone"] += 1
            return "[PHONE]"
        return m.group()

    text = _EMAIL.sub(email, text)
    text = _DIGIT_RUN.sub(card, text)
    text = _PHONE.sub(phone, text)
    return text, counts


def scrub_examples(examples: Sequence[Any], *, require_luhn: bool = False) -> tuple[list[Any], HygieneReport]:
    """:func:`scrub_pii` on every prompt, completion and text; drops nothing."""
    report = HygieneReport(n_in=len(examples), steps=["scrub_pii"])
    out = []
    for ex in examples:
        changes: dict[str, Any] = {}
        for name in ("prompt", "completion", "text"):
            value = getattr(ex, name, None)
            if isinstance(value, str):
                new, c = scrub_pii(value, require_luhn=require_luhn)
                if c:
                    changes[name] = new
                    report.counts.update({f"pii_{k}": v for k, v in c.items()})
        if isinstance(getattr(ex, "completions", None), list):
            new_list = []
            for value in ex.completions:
                new, c = scrub_pii(value, require_luhn=require_luhn)
                new_list.append(new)
                report.counts.update({f"pii_{k}": v for k, v in c.items()})
            if new_list != ex.completions:
                changes["completions"] = new_list
        if changes:
            report.counts["pii_examples_changed"] += 1
            ex = replace(ex, **changes)
        out.append(ex)
    report.n_out = len(out)
    return out, report


# --------------------------------------------------------------------------- de-duplication


def normalise_prompt(text: str) -> str:
    """NFKC, lowercase, punctuation (Unicode category P*) removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(text.split())


def dedupe_by_prefix(examples: Sequence[Any], prefix_chars: int = 200) -> tuple[list[Any], HygieneReport]:
    """Keep the first example of each normalised prompt prefix (IG: "prompts that share a long
    common prefix"). The key is the first ``prefix_chars`` characters of
    :func:`normalise_prompt`; shorter prompts are compared whole. Note that for preference data
    this keeps one comparison per prompt (IG ranked all K completions of a prompt together).
    Dropped examples are counted as ``duplicate_prefix``."""
    if prefix_chars <= 0:
        raise ValueError(f"prefix_chars must be positive, got {prefix_chars}")
    report = HygieneReport(n_in=len(examples), steps=["dedupe"])
    seen: set[str] = set()
    out = []
    for ex in examples:
        key = normalise_prompt(_prompt_of(ex))[:prefix_chars]
        if key in seen:
            report.dropped["duplicate_prefix"] += 1
            continue
        seen.add(key)
        out.append(ex)
    report.n_out = len(out)
    return out, report


# --------------------------------------------------------------------------- users


def cap_per_user(examples: Sequence[Any], max_per_user: int = 200) -> tuple[list[Any], HygieneReport]:
    """Keep at most ``max_per_user`` examples per ``user_id`` (IG: 200 prompts per user), the
    first ones in input order (shuffle before if that matters). Examples whose ``user_id`` is
    ``None`` cannot be attributed to anyone and are left UNCAPPED (capping them as one
    pseudo-user would cut a public dataset without user ids to 200 examples); they are counted
    as ``no_user_id``. Dropped examples are counted as ``over_user_cap``; ``capped_users`` is
    the number of users that hit the cap."""
    if max_per_user < 1:
        raise ValueError(f"max_per_user must be >= 1, got {max_per_user}")
    report = HygieneReport(n_in=len(examples), steps=["cap_per_user"])
    per_user: Counter = Counter()
    out = []
    for ex in examples:
        user = _user_of(ex)
        if user is None:
            report.counts["no_user_id"] += 1
            out.append(ex)
            continue
        per_user[user] += 1
        if per_user[user] > max_per_user:
            report.dropped["over_user_cap"] += 1
            continue
        out.append(ex)
    report.counts["capped_users"] = sum(1 for n in per_user.values() if n > max_per_user)
    report.n_out = len(out)
    return out, report


def _unit_hash(*parts: str) -> float:
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_user(examples: Sequence[Any], valid_fraction: float, seed: int = 0) -> tuple[list[Any], list[Any], HygieneReport]:
    """Split into ``(train, valid, report)`` so that no user is on both sides (IG item 5, 25).

    A user goes to valid iff ``sha256(seed, user_id)`` mapped to [0, 1) is below
    ``valid_fraction``: deterministic for a seed, independent of input order, and stable when
    users are added. The valid share of *examples* is therefore only close to
    ``valid_fraction`` when there are many users. Examples without a ``user_id`` are split by a
    hash of their normalised prompt (so repeated prompts stay on one side) and counted as
    ``no_user_id_train`` / ``no_user_id_valid``. Order within each side is the input order.
    """
    if not 0.0 <= valid_fraction <= 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1], got {valid_fraction}")
    report = HygieneReport(n_in=len(examples), steps=["split_by_user"])
    train, valid = [], []
    users: dict[str, set] = defaultdict(set)
    for ex in examples:
        user = _user_of(ex)
        if user is None:
            to_valid = _unit_hash(str(seed), "prompt", normalise_prompt(_prompt_of(ex))) < valid_fraction
            report.counts["no_user_id_valid" if to_valid else "no_user_id_train"] += 1
        else:
            to_valid = _unit_hash(str(seed), "user", str(user)) < valid_fraction
            users["valid" if to_valid else "train"].add(user)
        (valid if to_valid else train).append(ex)
    report.counts.update({
        "train_examples": len(train), "valid_examples": len(valid),
        "train_users": len(users["train"]), "valid_users": len(users["valid"]),
    })
    report.n_out = len(train) + len(valid)
    return train, valid, report


# --------------------------------------------------------------------------- pipeline

STEPS: dict[str, Callable[..., tuple[list[Any], HygieneReport]]] = {
    "scrub_pii": scrub_examples,
    "dedupe": dedupe_by_prefix,
    "cap_per_user": cap_per_user,
}


def run_hygiene(examples: Sequence[Any], steps: Sequence[str], **options: Any) -> tuple[list[Any], HygieneReport]:
    """Apply the named ``steps`` (keys of :data:`STEPS`) in order and merge their reports.

    ``options`` go to every step that takes a parameter of that name (``prefix_chars`` to
    dedupe, ``max_per_user`` to cap_per_user, ``require_luhn`` to scrub_pii); an unknown step or
    an option no chosen step takes raises instead of being ignored.
    """
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown hygiene step(s) {unknown}; known steps: {list(STEPS)}")
    accepted = {s: set(inspect.signature(STEPS[s]).parameters) - {"examples"} for s in steps}
    unused = set(options) - set().union(*accepted.values())
    if unused:
        raise TypeError(
            f"hygiene option(s) {sorted(unused)} are taken by none of the steps {list(steps)} "
            f"(they take: { {s: sorted(p) for s, p in accepted.items()} })"
        )
    report = HygieneReport(n_in=len(examples), n_out=len(examples))
    out = list(examples)
    for step in steps:
        out, step_report = STEPS[step](out, **{k: v for k, v in options.items() if k in accepted[step]})
        logger.info("hygiene %s: %d -> %d examples; dropped %s; counts %s", step, step_report.n_in,
                    step_report.n_out, dict(step_report.dropped), dict(step_report.counts))
        report = report.then(step_report)
    return out, report


__all__ = [
    "STEPS", "HygieneReport", "cap_per_user", "dedupe_by_prefix", "luhn_valid",
    "normalise_prompt", "run_hygiene", "scrub_examples", "scrub_pii", "split_by_user",
]
