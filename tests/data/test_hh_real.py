"""The real Anthropic HH harmless-base test split (2,312 pairs), if present beside the repo."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlhfkit.data import DataFormatError, load_examples, load_examples_with_report

HH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"
# Lines whose chosen response is blank ("...\n\nAssistant: " and nothing after): they cannot be
# used as a comparison with an empty completion, so they fail loudly or are skipped with a report.
BLANK_CHOSEN = [87, 517, 926, 1104]
# Lines where a response itself contains "\n\nAssistant:", so chosen and rejected disagree on the
# last-marker prompt: the prompt is their common prefix cut after its last marker.
COMMON_PREFIX = [1255, 1689, 1951, 1953, 2037]

pytestmark = pytest.mark.skipif(not HH.exists(), reason=f"{HH} not present")


@pytest.fixture(scope="module")
def loaded():
    return load_examples_with_report(str(HH), kind="preference", on_error="skip")


def test_every_record_is_parsed_or_reported(loaded):
    examples, report = loaded
    assert report.format == "hh"
    assert report.n_records == 2312
    assert report.n_examples + report.n_skipped == 2312
    assert [int(e.origin.rsplit(":", 1)[1]) for e in report.errors] == BLANK_CHOSEN
    assert all(e.field == "chosen" and "empty text" in e.reason for e in report.errors)
    assert len(examples) == 2312 - len(BLANK_CHOSEN)
    assert report.notes["hh_prompt_from_common_prefix"] == len(COMMON_PREFIX)


def test_default_mode_fails_loudly_at_the_first_blank_response():
    with pytest.raises(DataFormatError, match=rf":{BLANK_CHOSEN[0]}: field 'chosen': empty text"):
        load_examples(str(HH), kind="preference")


def test_prompts_and_completions(loaded):
    import gzip
    import json

    examples, _ = loaded
    with gzip.open(HH, "rt", encoding="utf-8") as fh:
        rows = {i: json.loads(line) for i, line in enumerate(fh, start=1)}
    for ex in examples:
        row = rows[int(ex.origin.rsplit(":", 1)[1])]
        assert ex.prompt.startswith("\n\nHuman:") and ex.prompt.endswith("\n\nAssistant:")
        assert ex.prompt + ex.completions[0] == row["chosen"]
        assert ex.prompt + ex.completions[1] == row["rejected"]
        assert ex.ranks == [0, 1] and ex.labeler_id is None and ex.labeler_meta == {}
    different = sum(ex.completions[0] != ex.completions[1] for ex in examples)
    assert different >= 0.95 * len(examples)
    by_line = {int(ex.origin.rsplit(":", 1)[1]): ex for ex in examples}
    assert by_line[1255].completions[0].startswith(" No. Men who impersonate")
    assert "\n\nAssistant:" in by_line[1255].completions[0]
