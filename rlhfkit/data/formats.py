"""Row dicts -> examples: one parser per dataset format, format detection, and :func:`load_examples`.

Formats (name: keys -> example):

SFT (kind ``"sft"``, :class:`SFTExample`), the TRL standard formats:
  ``prompt_completion``: ``prompt`` + ``completion``, both strings or both message lists.
  ``messages``: a conversation; the final assistant turn is the completion, the rest the prompt
  (system, user, tool and earlier assistant turns: context, never trained on).
Text (kind ``"text"``, :class:`TextExample`):
  ``text``: pretraining text.
Prompts (kind ``"prompt"``, :class:`PromptExample`):
  ``prompt``: ``prompt`` alone (string or message list). ``load_examples(kind="prompt")`` also
  takes the prompts of any SFT or preference format.
Preferences (kind ``"preference"``, :class:`RankingExample`):
  ``pairwise``: TRL ``prompt`` / ``chosen`` / ``rejected`` strings -> K=2, ranks [0, 1].
  ``pairwise_conversational``: ``chosen`` / ``rejected`` message lists, with ``prompt`` a message
  list or implicit (the shared leading messages of chosen and rejected, up to the last shared
  user or tool turn).
  ``pairwise_implicit``: TRL's implicit-prompt preference strings, ``chosen`` / ``rejected``
  without ``prompt`` and without HH markers: the prompt is their common prefix (see
  :func:`split_common_prefix`).
  ``hh``: Anthropic HH ``chosen`` / ``rejected`` full dialogues (see :func:`split_hh`); detected
  when either string holds a ``"\\n\\nAssistant:"`` marker.
  ``ranking``: ``prompt``, ``completions`` (K = 2..9 strings), ``ranking`` (the rank of each
  completion, a dense ranking: see :mod:`rlhfkit.data.examples`).
  All preference formats take optional ``labeler_id``, ``user_id`` (string or int) and a
  ``labeler`` or ``labeler_meta`` object (e.g. ``{"group": "held-out", "region": "EU"}``; an
  ``"id"`` key in it stands for ``labeler_id``) kept as ``labeler_meta``.
SFT formats take an optional ``user_id`` as well. Other keys are ignored.

Conversational data is rendered to text with :mod:`rlhfkit.data.chat` (the tokenizer's chat
template if given, else the HH-style fallback); message contents may be strings or lists of
typed text parts, and roles system/user/assistant/tool. Each rendered record is counted in the
report's notes as ``rendered_chat_template`` or ``rendered_hh_fallback`` (so a stage knows which
format its model was trained in, and ``metrics.json`` says it).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rlhfkit.data.chat import (
    ASSISTANT,
    PROMPT_END_ROLES,
    has_chat_template,
    render_messages,
    render_prompt_completion,
    split_final_assistant,
    validate_messages,
)
from rlhfkit.data.errors import DataFormatError
from rlhfkit.data.examples import (
    PromptExample,
    RankingExample,
    SFTExample,
    TextExample,
    is_dense_ranking,
)
from rlhfkit.data.readers import read_records

logger = logging.getLogger(__name__)

MIN_K, MAX_K = 2, 9  # completions per ranking (IG: K = 4..9, item 6; pairwise is K = 2)
KINDS = ("sft", "text", "preference", "prompt")

Example = SFTExample | TextExample | PromptExample | RankingExample
Parser = Callable[..., Example]  # parser(row, origin, tokenizer=None, notes=None) -> example


# --------------------------------------------------------------------------- field helpers


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _get(row: dict, key: str, origin: str) -> Any:
    if key not in row:
        raise DataFormatError(origin, key, f"missing field (record has keys {sorted(row)})")
    return row[key]


def _text(value: Any, origin: str, field: str) -> str:
    if not isinstance(value, str):
        raise DataFormatError(origin, field, f"expected a string, got {_type(value)}")
    if not value.strip():
        raise DataFormatError(origin, field, "empty text (blank after stripping whitespace)")
    return value


def _optional_id(row: dict, key: str, origin: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataFormatError(origin, key, f"expected a string or int id, got {_type(value)}")
    return str(value)


def _preference_meta(row: dict, origin: str) -> dict[str, Any]:
    """``labeler_id``, ``labeler_meta`` and ``user_id`` keyword arguments of RankingExample."""
    labeler_id = _optional_id(row, "labeler_id", origin)
    present = [k for k in ("labeler", "labeler_meta") if row.get(k) is not None]
    if len(present) == 2:
        raise DataFormatError(origin, "labeler_meta", "give labeler metadata under 'labeler' or 'labeler_meta', not both")
    meta: dict[str, Any] = {}
    if present:
        raw = row[present[0]]
        if not isinstance(raw, dict):
            raise DataFormatError(origin, present[0], f"expected an object of labeler metadata, got {_type(raw)}")
        meta = dict(raw)
        if "id" in meta:
            inner = _optional_id(meta, "id", origin)
            meta.pop("id")
            if labeler_id is not None and inner is not None and inner != labeler_id:
                raise DataFormatError(origin, f"{present[0]}.id", f"{inner!r} disagrees with labeler_id {labeler_id!r}")
            labeler_id = labeler_id or inner
    return {"labeler_id": labeler_id, "labeler_meta": meta, "user_id": _optional_id(row, "user_id", origin)}


def _note(notes: Counter | None, key: str) -> None:
    if notes is not None:
        notes[key] += 1


RENDERED_TEMPLATE = "rendered_chat_template"  # notes: records rendered with the tokenizer's template
RENDERED_FALLBACK = "rendered_hh_fallback"  # notes: records rendered with the HH fallback


def _note_rendered(notes: Counter | None, tokenizer: Any) -> None:
    _note(notes, RENDERED_TEMPLATE if has_chat_template(tokenizer) else RENDERED_FALLBACK)


# --------------------------------------------------------------------------- SFT / text / prompt


def parse_prompt_completion(row: dict, origin: str, tokenizer: Any = None, notes: Counter | None = None) -> SFTExample:
    prompt, completion = _get(row, "prompt", origin), _get(row, "completion", origin)
    user_id = _optional_id(row, "user_id", origin)
    if isinstance(prompt, list) or isinstance(completion, list):
        for key, value in (("prompt", prompt), ("completion", completion)):
            if not isinstance(value, list):
                raise DataFormatError(origin, key, f"expected a list of messages (conversational prompt/completion), got {_type(value)}")
        p_msgs = validate_messages(prompt, origin, "prompt", require_last=PROMPT_END_ROLES)
        c_msgs = _assistant_messages(completion, origin, "completion")
        p_text, c_text = render_prompt_completion(p_msgs, c_msgs, tokenizer, origin, "completion")
        _note_rendered(notes, tokenizer)
        return SFTExample(p_text, c_text, origin, user_id)
    return SFTExample(_text(prompt, origin, "prompt"), _text(completion, origin, "completion"), origin, user_id)


def parse_messages(row: dict, origin: str, tokenizer: Any = None, notes: Counter | None = None) -> SFTExample:
    p_msgs, final = split_final_assistant(_get(row, "messages", origin), origin, "messages")
    p_text, c_text = render_prompt_completion(p_msgs, [final], tokenizer, origin, "messages")
    _note_rendered(notes, tokenizer)
    return SFTExample(p_text, c_text, origin, _optional_id(row, "user_id", origin))


def parse_text(row: dict, origin: str, tokenizer: Any = None, notes: Counter | None = None) -> TextExample:
    return TextExample(_text(_get(row, "text", origin), origin, "text"), origin)


def parse_prompt(row: dict, origin: str, tokenizer: Any = None, notes: Counter | None = None) -> PromptExample:
    prompt = _get(row, "prompt", origin)
    if isinstance(prompt, list):
        msgs = validate_messages(prompt, origin, "prompt", require_last=PROMPT_END_ROLES)
        if not any(m["role"] == "user" for m in msgs):
            raise DataFormatError(origin, "prompt", "no user message in the prompt")
        prompt = render_messages(msgs, tokenizer, add_generation_prompt=True, origin=origin, field="prompt")
        _note_rendered(notes, tokenizer)
    else:
        prompt = _text(prompt, origin, "prompt")
    return PromptExample(prompt, origin, _optional_id(row, "user_id", origin))


# --------------------------------------------------------------------------- preferences


def parse_pairwise(row: dict, origin: str, tokenizer: Any = None, notes: Counter | None = None) -> RankingExample:
    prompt = _text(_get(row, "prompt", origin), origin, "prompt")
    chosen = _text(_get(row, "chosen", origin), origin, "chosen")
    rejected = _text(_get(row, "rejected", origin), origin, "rejected")
    return RankingExample.pairwise(prompt, chosen, rejected, origin, **_preference_meta(row, origin))


def _assistant_messages(value: Any, origin: str, field: str, offset: int = 0) -> list[dict[str, Any]]:
    """The messages of a completion: assistant turns only (tool results belong in the prompt,
    which is never trained on). ``offset``: index of ``value[0]`` in the record's field."""
    msgs = validate_messages(value, origin, field)
    for i, msg in enumerate(msgs):
        if msg["role"] != "assistant":
            raise DataFormatError(
                origin, f"{field}[{i + offset}].role",
                f"a completion may only hold assistant messages, got {msg['role']!r}"
                + ("; tool results are context: put them in the prompt" if msg["role"] == "tool" else ""),
            )
    return msgs


def split_common_prefix(chosen: str, rejected: str, origin: str = "<pair>") -> tuple[str, str, str]:
    """``(prompt, chosen completion, rejected completion)`` of an implicit-prompt string pair.

    TRL's ``extract_prompt`` takes the longest common prefix of chosen and rejected as the prompt
    and, when the character before the first difference is a space, leaves that space to the
    completions. This does the same and, so that the prompt never ends inside a word, first cuts
    a common prefix that stops mid-word back to its last whitespace:

    1. ``common`` = the longest common prefix of the two strings.
    2. The cut is a word boundary when ``common`` ends with whitespace, or each string ends or
       continues with whitespace right after ``common``; otherwise ``common`` is cut back to just
       after its last whitespace character ("The ca|t" / "The ca|r" -> "The |").
    3. A prompt ending with a space ``" "`` gives that last space to the completions (TRL, and HH's
       ``"Assistant:" + " answer"``): "The sky is blue." / "The sky is green." ->
       ``("The sky is", " blue.", " green.")``.

    So ``prompt + completion`` restores each string exactly. No shared prompt (blank) or a blank
    completion (one string is the other, or a prefix of it) raises :class:`DataFormatError`.
    """
    common = os.path.commonprefix([chosen, rejected])
    n = len(common)

    def boundary_after(text: str) -> bool:
        return len(text) == n or text[n].isspace()

    if common and not common[-1].isspace() and not (boundary_after(chosen) and boundary_after(rejected)):
        n = max((i + 1 for i, ch in enumerate(common) if ch.isspace()), default=0)
    if n > 0 and common[n - 1] == " ":
        n -= 1
    prompt = chosen[:n]
    if not prompt.strip():
        raise DataFormatError(
            origin, "chosen",
            "implicit prompt: chosen and rejected share no leading text up to a word boundary, so no "
            "prompt can be taken from them; give it explicitly under 'prompt'",
        )
    c_text, r_text = chosen[n:], rejected[n:]
    for key, text in (("chosen", c_text), ("rejected", r_text)):
        if not text.strip():
            raise DataFormatError(
                origin, key,
                "implicit prompt: nothing is left of this response after the prompt shared with the other "
                "(identical, or one is a prefix of the other)",
            )
    return prompt, c_text, r_text


def parse_pairwise_implicit(row: dict, origin: str, tokenizer: Any = None,
                            notes: Counter | None = None) -> RankingExample:
    chosen = _text(_get(row, "chosen", origin), origin, "chosen")
    rejected = _text(_get(row, "rejected", origin), origin, "rejected")
    prompt, c_text, r_text = split_common_prefix(chosen, rejected, origin)
    return RankingExample.pairwise(prompt, c_text, r_text, origin, **_preference_meta(row, origin))


def parse_pairwise_conversational(row: dict, origin: str, tokenizer: Any = None,
                                  notes: Counter | None = None) -> RankingExample:
    chosen = validate_messages(_get(row, "chosen", origin), origin, "chosen")
    rejected = validate_messages(_get(row, "rejected", origin), origin, "rejected")
    if row.get("prompt") is not None:
        prompt = validate_messages(row["prompt"], origin, "prompt", require_last=PROMPT_END_ROLES)
        if not any(m["role"] == "user" for m in prompt):
            raise DataFormatError(origin, "prompt", "no user message in the prompt")
        start = 0
    else:
        # Implicit prompt (TRL's extract_prompt on messages): the shared leading messages, cut
        # back to the last shared user or tool turn (the assistant answers next).
        shared = 0
        while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
            shared += 1
        ends = [i for i in range(shared) if chosen[i]["role"] in PROMPT_END_ROLES]
        if not ends or not any(m["role"] == "user" for m in chosen[: ends[-1] + 1]):
            raise DataFormatError(
                origin, "chosen",
                "implicit prompt: chosen and rejected share no leading messages ending with a "
                "user turn (or a tool turn); give the prompt explicitly under 'prompt'",
            )
        prompt = chosen[: ends[-1] + 1]
        start = len(prompt)
    c_msgs = _assistant_messages(chosen[start:], origin, "chosen", start) if chosen[start:] else None
    r_msgs = _assistant_messages(rejected[start:], origin, "rejected", start) if rejected[start:] else None
    for key, msgs in (("chosen", c_msgs), ("rejected", r_msgs)):
        if msgs is None:
            raise DataFormatError(origin, key, "no assistant message after the prompt")
    p_text, c_text = render_prompt_completion(prompt, c_msgs, tokenizer, origin, "chosen")
    _, r_text = render_prompt_completion(prompt, r_msgs, tokenizer, origin, "rejected")
    _note_rendered(notes, tokenizer)
    return RankingExample.pairwise(p_text, c_text, r_text, origin, **_preference_meta(row, origin))


def split_hh(chosen: str, rejected: str, origin: str = "<hh>",
             notes: Counter | None = None) -> tuple[str, str, str]:
    """Split an Anthropic HH pair into ``(prompt, chosen completion, rejected completion)``.

    The prompt is everything up to and including the LAST ``"\\n\\nAssistant:"`` marker, so it
    ends with that marker and ``prompt + completion`` restores each dialogue exactly (the
    completion keeps its leading space). When chosen and rejected disagree on that prompt (in
    hh-rlhf this happens when a response itself contains a ``"\\n\\nAssistant:"`` marker), the
    prompt is their longest common prefix cut after its last marker (counted in ``notes`` as
    ``hh_prompt_from_common_prefix``); with no marker in the common prefix it fails.
    """
    for key, text in (("chosen", chosen), ("rejected", rejected)):
        if ASSISTANT not in text:
            raise DataFormatError(origin, key, "no '\\n\\nAssistant:' marker; not an HH dialogue")
    c_cut = chosen.rindex(ASSISTANT) + len(ASSISTANT)
    r_cut = rejected.rindex(ASSISTANT) + len(ASSISTANT)
    if chosen[:c_cut] == rejected[:r_cut]:
        prompt = chosen[:c_cut]
    else:
        common = os.path.commonprefix([chosen, rejected])
        if ASSISTANT not in common:
            raise DataFormatError(
                origin, "chosen",
                "chosen and rejected do not share a prompt: their common prefix has no "
                "'\\n\\nAssistant:' marker",
            )
        prompt = common[: common.rindex(ASSISTANT) + len(ASSISTANT)]
        _note(notes, "hh_prompt_from_common_prefix")
    return prompt, chosen[len(prompt):], rejected[len(prompt):]


def parse_hh(row: dict, origin: str, tokenizer: Any = None, notes: Counter | None = None) -> RankingExample:
    chosen = _text(_get(row, "chosen", origin), origin, "chosen")
    rejected = _text(_get(row, "rejected", origin), origin, "rejected")
    prompt, c_text, r_text = split_hh(chosen, rejected, origin, notes)
    for key, text in (("chosen", c_text), ("rejected", r_text)):
        if not text.strip():
            raise DataFormatError(origin, key, "empty text: the response after the last '\\n\\nAssistant:' is blank")
    if c_text == r_text:
        _note(notes, "identical_completions")
    return RankingExample.pairwise(prompt, c_text, r_text, origin, **_preference_meta(row, origin))


def parse_ranking(row: dict, origin: str, tokenizer: Any = None, notes: Counter | None = None) -> RankingExample:
    prompt = _text(_get(row, "prompt", origin), origin, "prompt")
    completions = _get(row, "completions", origin)
    if not isinstance(completions, list):
        raise DataFormatError(origin, "completions", f"expected a list of strings, got {_type(completions)}")
    k = len(completions)
    if not MIN_K <= k <= MAX_K:
        raise DataFormatError(origin, "completions", f"K={k} completions; a ranking needs {MIN_K} to {MAX_K}")
    completions = [_text(c, origin, f"completions[{i}]") for i, c in enumerate(completions)]
    ranking = _get(row, "ranking", origin)
    if not isinstance(ranking, list):
        raise DataFormatError(origin, "ranking", f"expected a list of {k} ints, got {_type(ranking)}")
    if len(ranking) != k:
        raise DataFormatError(origin, "ranking", f"has {len(ranking)} ranks for K={k} completions (got {ranking})")
    if not all(isinstance(r, int) and not isinstance(r, bool) for r in ranking):
        raise DataFormatError(origin, "ranking", f"expected a list of {k} ints, got {ranking}")
    if not is_dense_ranking(ranking):
        raise DataFormatError(
            origin, "ranking",
            f"not a permutation of 0..{k - 1} nor a dense ranking with ties "
            f"(non-negative ranks whose distinct values are exactly 0..m, 0 = best) (got {ranking})",
        )
    if len(set(ranking)) == 1:
        _note(notes, "all_tied")
    return RankingExample(prompt, completions, list(ranking), origin, **_preference_meta(row, origin))


# --------------------------------------------------------------------------- registry, detection


class FormatSpec(NamedTuple):
    kind: str
    parser: Parser


FORMATS: dict[str, FormatSpec] = {
    "prompt_completion": FormatSpec("sft", parse_prompt_completion),
    "messages": FormatSpec("sft", parse_messages),
    "text": FormatSpec("text", parse_text),
    "prompt": FormatSpec("prompt", parse_prompt),
    "pairwise": FormatSpec("preference", parse_pairwise),
    "pairwise_conversational": FormatSpec("preference", parse_pairwise_conversational),
    "pairwise_implicit": FormatSpec("preference", parse_pairwise_implicit),
    "hh": FormatSpec("preference", parse_hh),
    "ranking": FormatSpec("preference", parse_ranking),
}


def detect_format(row: dict, origin: str = "<row>") -> str:
    """The format name of ``row``, from its keys (and for preferences, string vs message list)."""
    keys = set(row)
    if keys & {"completions", "ranking"}:
        return "ranking"
    if keys & {"chosen", "rejected"}:
        conversational = any(isinstance(row.get(k), list) for k in ("prompt", "chosen", "rejected"))
        if conversational:
            return "pairwise_conversational"
        if "prompt" in keys:
            return "pairwise"
        texts = [row.get(k) for k in ("chosen", "rejected")]
        if all(isinstance(t, str) for t in texts) and not any(ASSISTANT in t for t in texts):
            return "pairwise_implicit"  # TRL's implicit prompt: plain strings, no HH markers
        return "hh"
    if "messages" in keys:
        return "messages"
    if {"prompt", "completion"} <= keys:
        if "label" in keys:
            raise DataFormatError(
                origin, None,
                "prompt/completion/label looks like unpaired (KTO-style) preference data, which "
                f"is not supported; force format='prompt_completion' to train on it as SFT (keys: {sorted(keys)})",
            )
        return "prompt_completion"
    if "text" in keys:
        return "text"
    if "prompt" in keys:
        return "prompt"
    known = ", ".join(f"{name} ({spec.kind})" for name, spec in FORMATS.items())
    raise DataFormatError(origin, None, f"unrecognised record format: keys {sorted(keys)}; known formats: {known}")


def _check_format_name(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown data format {fmt!r}; known formats: {', '.join(FORMATS)} (or 'auto')")


def _formats_of(kind: str) -> list[str]:
    if kind == "prompt":
        return [n for n, s in FORMATS.items() if s.kind != "text"]
    return [n for n, s in FORMATS.items() if s.kind == kind]


def _to_kind(example: Example, kind: str) -> Example:
    if kind == "prompt" and not isinstance(example, PromptExample):
        return PromptExample(example.prompt, example.origin, example.user_id)
    return example


# --------------------------------------------------------------------------- loading


@dataclass
class LoadReport:
    """What :func:`load_examples_with_report` read, kept and skipped (log ``as_dict()`` to W&B)."""

    source: str
    kind: str
    format: str | None = None
    n_records: int = 0
    n_examples: int = 0
    skipped: Counter = field(default_factory=Counter)  # field name (or "record") -> records skipped
    notes: Counter = field(default_factory=Counter)  # kept-but-noteworthy, e.g. hh_prompt_from_common_prefix
    errors: list[DataFormatError] = field(default_factory=list)  # every skipped record's error

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def as_dict(self, prefix: str = "data/") -> dict[str, int]:
        out = {f"{prefix}records": self.n_records, f"{prefix}examples": self.n_examples,
               f"{prefix}skipped": self.n_skipped}
        out |= {f"{prefix}skipped/{k}": v for k, v in sorted(self.skipped.items())}
        out |= {f"{prefix}notes/{k}": v for k, v in sorted(self.notes.items())}
        return out


class LoadedExamples(list):
    """The examples a dataset plugin read, with the :class:`LoadReport` of what it kept and skipped.

    A ``list`` so every caller that wants a list gets one; the stages read ``.report`` to put the
    skip counts into ``metrics.json`` (nothing dropped silently). Plugins that return a plain list
    keep working: the report is optional (``getattr(examples, "report", None)``).
    """

    def __init__(self, examples=(), report: LoadReport | None = None) -> None:
        super().__init__(examples)
        self.report = report


def load_examples_with_report(
    source: str, format: str | None = "auto", *, kind: str, split: str = "train",
    limit: int | None = None, tokenizer: Any = None, on_error: str = "raise", **hub_kwargs: Any,
) -> tuple[list[Example], LoadReport]:
    """Read ``source`` (see :func:`rlhfkit.data.readers.read_records`) and parse every record.

    ``format``: a name of :data:`FORMATS`, or ``"auto"``/``None`` to detect it from the keys of the
    first record; all records are then parsed with that one format (a record of another shape
    fails with the field it lacks). ``kind`` ("sft", "text", "preference", "prompt") must match
    the format's kind; "prompt" also accepts every SFT and preference format and keeps their
    prompts. ``limit`` caps the number of records read. ``on_error="raise"`` (default) stops at
    the first bad record; ``"skip"`` skips records that fail validation, counting them by field
    in the report and logging a warning (unreadable files or JSON lines always raise).
    ``tokenizer`` renders conversational records with its chat template.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {list(KINDS)}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    fmt = None if format in (None, "auto") else format
    if fmt is not None:
        _check_format_name(fmt)
    report = LoadReport(source=str(source), kind=kind, format=fmt)
    examples: list[Example] = []
    parser: Parser | None = None
    for record in read_records(source, split=split, **hub_kwargs):
        if limit is not None and report.n_records >= limit:
            break
        report.n_records += 1
        try:
            if parser is None:
                detected = fmt is None
                if detected:
                    fmt = detect_format(record.row, record.origin)
                    report.format = fmt
                parser = _parser_for(fmt, kind, record, detected)
            example = parser(record.row, record.origin, tokenizer=tokenizer, notes=report.notes)
        except DataFormatError as exc:
            if on_error == "raise" or parser is None:  # a format/kind mismatch is never skipped
                raise
            report.skipped[exc.field or "record"] += 1
            report.errors.append(exc)
            continue
        examples.append(_to_kind(example, kind))
    if report.n_records == 0 and limit != 0:
        raise DataFormatError(str(source), None, f"no records (split {split!r})")
    report.n_examples = len(examples)
    if report.n_skipped:
        shown = "; ".join(str(e) for e in report.errors[:5])
        logger.warning("%s: skipped %d of %d records (by field: %s). First: %s", source,
                       report.n_skipped, report.n_records, dict(report.skipped), shown)
    if report.notes:
        logger.info("%s: notes %s", source, dict(report.notes))
    logger.info("%s: loaded %d %s examples (format %s) from %d records", source,
                report.n_examples, kind, report.format, report.n_records)
    return examples, report


def _parser_for(fmt: str, kind: str, record: Any, detected: bool) -> Parser:
    spec = FORMATS[fmt]
    if fmt not in _formats_of(kind):
        how = f"detected from the keys {sorted(record.row)} of the first record" if detected else "as configured"
        raise DataFormatError(
            record.origin, None,
            f"format '{fmt}' ({how}) holds {spec.kind} data, but kind='{kind}' was asked for; "
            f"formats of kind '{kind}': {', '.join(_formats_of(kind))}",
        )
    return spec.parser


def load_examples(
    source: str, format: str | None = "auto", *, kind: str, split: str = "train",
    limit: int | None = None, tokenizer: Any = None, on_error: str = "raise", **hub_kwargs: Any,
) -> list[Example]:
    """:func:`load_examples_with_report` without the report (skips, if any, are logged)."""
    examples, _ = load_examples_with_report(
        source, format, kind=kind, split=split, limit=limit, tokenizer=tokenizer,
        on_error=on_error, **hub_kwargs,
    )
    return examples


__all__ = [
    "FORMATS", "KINDS", "MAX_K", "MIN_K", "Example", "FormatSpec", "LoadReport", "LoadedExamples", "detect_format",
    "RENDERED_FALLBACK", "RENDERED_TEMPLATE",
    "load_examples", "load_examples_with_report", "parse_hh", "parse_messages", "parse_pairwise",
    "parse_pairwise_conversational", "parse_pairwise_implicit", "parse_prompt", "parse_prompt_completion",
    "parse_ranking", "parse_text", "split_common_prefix", "split_hh",
]
