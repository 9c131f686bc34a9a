"""The accepted values of each stage option, checked when the typed config is built: before any
data or model loads, each failure one line naming the key and what it accepts.

A stage config lists its rules in ``RULES`` (option name -> :class:`Rule`) and may add
``cross_checks()`` (rules between options, yielding ``(option, message)``). Types are Hydra's job
(the schema refuses ``stage.batch_size=abc`` at composition); ranges and relations are these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rlhfkit.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    accepted: str                 # what the error says is accepted, e.g. "a number > 0"
    holds: Callable[[Any], bool]  # the check; only called on a value of the option's type

    def __call__(self, value: Any) -> bool:
        try:
            return bool(self.holds(value))
        except TypeError:
            return False


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def at_least(low: float) -> Rule:
    return Rule(f"a number >= {low}", lambda v: _number(v) and v >= low)


def above(low: float) -> Rule:
    return Rule(f"a number > {low}", lambda v: _number(v) and v > low)


def between(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Rule:
    brackets = ("(" if low_open else "[") + f"{low}, {high}" + (")" if high_open else "]")
    return Rule(f"a number in {brackets}", lambda v: _number(v) and (v > low if low_open else v >= low)
                and (v < high if high_open else v <= high))


def one_of(*names: str) -> Rule:
    return Rule(f"one of {', '.join(names)}", lambda v: v in names)


def optional(rule: Rule) -> Rule:
    return Rule(f"null or {rule.accepted}", lambda v: v is None or rule(v))


def either(first: Rule, second: Rule) -> Rule:
    return Rule(f"{first.accepted}, or {second.accepted}", lambda v: first(v) or second(v))


def exactly(value: Any, meaning: str) -> Rule:
    return Rule(f"{value} ({meaning})", lambda v: v == value and type(v) is type(value))


COUNT = at_least(1)               # sizes, lengths, steps
NONNEGATIVE_COUNT = at_least(0)   # intervals where 0 = never
LEARNING_RATE = above(0)
EPOCHS = either(COUNT, exactly(-1, "no epoch limit, with max_steps"))
MAX_STEPS = either(COUNT, exactly(-1, "no step limit"))
BATCH_LIMIT = optional(Rule("a fraction in (0, 1] or a count >= 1",
                            lambda v: _number(v) and (0 < v <= 1 if isinstance(v, float) else v >= 1)))
FRACTION = between(0, 1, high_open=True)  # valid_fraction: 0 only works with a validation source


def bounded_schedule(config: Any) -> Iterator[tuple[str, str]]:
    """A cross check of the stages trained by epochs: ``max_epochs=-1`` needs a step limit."""
    if config.max_epochs == -1 and config.max_steps == -1:
        yield "max_epochs", "-1 (no epoch limit) needs stage.max_steps >= 1, or the run never ends"


def check_options(config: Any, key: str) -> None:
    """Raise :class:`ConfigError` naming ``<key>.<option>`` for the first value its rules refuse."""
    for name, rule in getattr(config, "RULES", {}).items():
        value = getattr(config, name)
        if not rule(value):
            raise ConfigError(f"config key '{key}.{name}': {value!r} is not accepted; accepted: {rule.accepted}")
    cross: Callable[[], Iterator[tuple[str, str]]] | None = getattr(config, "cross_checks", None)
    for name, message in (cross() if cross else ()):
        raise ConfigError(f"config key '{key}.{name}': {message}")
