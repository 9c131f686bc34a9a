"""The data layer: read records, parse them into examples, and clean them (no tokenization here).

- :mod:`~rlhfkit.data.readers`: :func:`read_records` from JSONL(.gz), JSON, Parquet,
  ``save_to_disk`` directories or the hub, each record with its origin ("file:line").
- :mod:`~rlhfkit.data.formats`: :func:`load_examples` (readers + parsers), :func:`detect_format`,
  the :data:`FORMATS` registry (SFT, text, prompt, pairwise, HH, K-way rankings).
- :mod:`~rlhfkit.data.examples`: :class:`SFTExample`, :class:`TextExample`,
  :class:`PromptExample`, :class:`RankingExample` (ranks: 0 = best, ties equal, dense).
- :mod:`~rlhfkit.data.chat`: conversations to text (chat template or HH-style fallback).
- :mod:`~rlhfkit.data.hygiene`: PII scrubbing, prefix dedupe, per-user cap, split by user.
- :class:`DataFormatError`: bad input, with origin, field and reason.
"""

from rlhfkit.data.chat import (
    render_messages,
    render_prompt_completion,
    split_prompt_completion,
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
from rlhfkit.data.formats import (
    FORMATS,
    KINDS,
    MAX_K,
    MIN_K,
    Example,
    FormatSpec,
    LoadedExamples,
    LoadReport,
    detect_format,
    load_examples,
    load_examples_with_report,
    split_hh,
)
from rlhfkit.data.hygiene import (
    STEPS as HYGIENE_STEPS,
    HygieneReport,
    cap_per_user,
    dedupe_by_prefix,
    luhn_valid,
    normalise_prompt,
    run_hygiene,
    scrub_examples,
    scrub_pii,
    split_by_user,
)
from rlhfkit.data.readers import Record, looks_like_path, read_records

__all__ = [
    "FORMATS", "HYGIENE_STEPS", "KINDS", "MAX_K", "MIN_K",
    "DataFormatError", "Example", "FormatSpec", "HygieneReport", "LoadedExamples", "LoadReport", "PromptExample",
    "RankingExample", "Record", "SFTExample", "TextExample",
    "cap_per_user", "dedupe_by_prefix", "detect_format", "is_dense_ranking", "load_examples",
    "load_examples_with_report", "looks_like_path", "luhn_valid", "normalise_prompt",
    "read_records", "render_messages", "render_prompt_completion", "run_hygiene",
    "scrub_examples", "scrub_pii", "split_by_user", "split_hh", "split_prompt_completion",
    "validate_messages",
]
