"""The one rule for which config keys hold secrets, and the masking every written file goes through.

A key is secret when its LAST word (words split on ``_ - . / @`` and camelCase) names a secret:
``token``, ``secret(s)``, ``password``, ``passwd``, ``credential(s)``, ``apikey``, or its last two
words are ``api key``, ``access key``, ``secret key``, ``private key`` or ``auth key``. So
``hf_token``, ``WANDB_API_KEY``, ``client_secret``, ``db_password`` are secret, while
``tokenizer``, ``max_new_tokens``, ``token_counter``, ``group_key`` or ``kl_key`` are not: a word
that only *contains* "token", or a key that is merely called "key", says nothing about secrecy.
A tokenizer's special tokens (``pad_token``, ``eos_token`` ...) are spelled out, not secret.

Values are hidden three ways (all as ``***``): the value of a secret key in a config
(:func:`mask_config`), the value of a secret key in a Hydra override or a command line
(:func:`mask_override`), and any string that contains the value of a secret-named environment
variable or of a secret key seen elsewhere in the same config (at least
:data:`MIN_SCRUB_LENGTH` characters, so short common strings are never rewritten).

This module is named ``secret_masking``, not ``secrets``: a script run from inside ``rlhfkit/``
would otherwise shadow the standard library's ``secrets`` for every dependency.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

MASK = "***"
MIN_SCRUB_LENGTH = 8  # shorter values are masked where their key says so, never searched for in text
SECRET_LAST_WORDS = frozenset({"token", "secret", "secrets", "password", "passwd", "credential", "credentials",
                               "apikey"})
SECRET_LAST_PAIRS = frozenset({("api", "key"), ("access", "key"), ("secret", "key"), ("private", "key"),
                               ("auth", "key")})
SPECIAL_TOKENS = frozenset({"pad", "eos", "bos", "unk", "sep", "cls", "mask"})  # tokenizer options, not secrets

_CAMEL = (re.compile(r"([A-Z]+)([A-Z][a-z])"), re.compile(r"([a-z0-9])([A-Z])"))
_SEPARATORS = re.compile(r"[_\-./@\s\[\]]+")
_OVERRIDE_START = re.compile(r"(?:^|(?<=[,\s]))(~|\+\+|\+)?([A-Za-z_][\w.\-/@]*)=")


def key_words(name: str) -> list[str]:
    """``"WANDB_API_KEY"`` -> ``["wandb", "api", "key"]``; ``"clientSecret"`` -> ``["client", "secret"]``."""
    text = str(name)
    for pattern in _CAMEL:
        text = pattern.sub(r"\1 \2", text)
    return [w.lower() for w in _SEPARATORS.split(text) if w]


def is_secret_key(name: Any) -> bool:
    """Whether a config key, override key or environment variable name holds a secret (module docstring)."""
    words = key_words(str(name))
    if not words:
        return False
    if words[-1] in SECRET_LAST_WORDS:
        return not (words[-1] == "token" and len(words) > 1 and words[-2] in SPECIAL_TOKENS)
    return len(words) > 1 and (words[-2], words[-1]) in SECRET_LAST_PAIRS


def _hideable(value: Any) -> bool:
    """A value worth hiding: not unset, not empty, not a bool (a flag such as ``use_auth_token: true``)."""
    return value is not None and value != "" and not isinstance(value, bool)


def env_secret_values(environ: Mapping[str, str] | None = None) -> set[str]:
    """Values of the environment's secret-named variables (``HF_TOKEN``, ``WANDB_API_KEY`` ...), long
    enough to search for: they reach configs through ``${oc.env:...}``."""
    env = os.environ if environ is None else environ
    return {v for k, v in env.items() if is_secret_key(k) and len(v) >= MIN_SCRUB_LENGTH}


def _value_end(text: str, start: int) -> int:
    """End of an override value beginning at ``start``: the next ``,`` or blank outside quotes and brackets."""
    depth, quote, i = 0, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth = max(0, depth - 1)
        elif depth == 0 and (ch == "," or ch.isspace()):
            break
        i += 1
    return i


def _override_values(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of the value of every secret-keyed ``key=value`` in ``text`` (one override, a
    command line, or Hydra's comma-joined ``override_dirname``)."""
    pos = 0
    while (match := _OVERRIDE_START.search(text, pos)) is not None:
        end = _value_end(text, match.end())
        if is_secret_key(match.group(2)):
            yield match.end(), end
        pos = max(end, match.end())


def mask_override(text: str) -> str:
    """``+hf_token=xyz`` -> ``+hf_token=***`` (also ``++``, ``~``, plain ``a.b.api_key=...``, and each
    such override inside a command line or a comma-joined list); anything else is returned as is."""
    out, last = [], 0
    for start, end in _override_values(text):
        if end > start:
            out += [text[last:start], MASK]
            last = end
    return "".join(out) + text[last:] if out else text


def override_secret_values(text: str) -> set[str]:
    """The raw values of the secret overrides in ``text`` (quotes stripped), to find them elsewhere."""
    return {text[s:e].strip("'\"") for s, e in _override_values(text) if e > s}


def secret_values(node: Any, environ: Mapping[str, str] | None = None) -> set[str]:
    """Every secret value ``node`` (a plain config container) holds, under a secret key or in a
    secret override string, plus the environment's: the strings to search other text for."""
    found = set(env_secret_values(environ))

    def walk(item: Any) -> None:
        if isinstance(item, Mapping):
            for k, v in item.items():
                if is_secret_key(k) and _hideable(v) and not isinstance(v, (Mapping, list, tuple)):
                    found.add(str(v))
                walk(v)
        elif isinstance(item, (list, tuple)):
            for v in item:
                walk(v)
        elif isinstance(item, str):
            found.update(override_secret_values(item))

    walk(node)
    return {v for v in found if len(v) >= MIN_SCRUB_LENGTH}


def mask_text(text: str, values: Iterable[str]) -> str:
    """``text`` with every occurrence of each of ``values`` replaced by ``***`` (longest first, so a
    value that contains another is hidden whole) and every secret override masked."""
    for value in sorted(values, key=len, reverse=True):
        if value and value in text:
            text = text.replace(value, MASK)
    return mask_override(text)


def mask_config(node: Any, values: Iterable[str] | None = None) -> Any:
    """A copy of ``node`` (plain dicts, lists, scalars) with the value of every secret key replaced
    by ``***`` (a whole subtree too) and every string scrubbed by :func:`mask_text`. ``values``:
    the strings to scrub; default: :func:`secret_values` of ``node`` itself."""
    scrub = secret_values(node) if values is None else set(values)

    def walk(item: Any) -> Any:
        if isinstance(item, Mapping):
            return {k: (MASK if is_secret_key(k) and _hideable(v) else walk(v)) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(v) for v in item]
        if isinstance(item, str):
            return mask_text(item, scrub)
        return item

    return walk(node)


def mask_argv(argv: Iterable[str], values: Iterable[str] = ()) -> list[str]:
    """A command line's arguments, each masked (secret overrides, secret values, the environment's)."""
    scrub = env_secret_values() | set(values)
    return [mask_text(str(arg), scrub) for arg in argv]


@contextmanager
def masked_argv() -> Iterator[None]:
    """``sys.argv`` masked for the duration: W&B records the command line in its run metadata when
    a run starts. Restored after, since Lightning's DDP launcher re-runs the real command line."""
    original = sys.argv
    sys.argv = mask_argv(original)
    try:
        yield
    finally:
        sys.argv = original
