"""Bad records fail with file:line (or row index), field and reason."""

from __future__ import annotations

import json
import pickle
import re

import pytest

from rlhfkit.data import DataFormatError, load_examples, load_examples_with_report

GOOD_RANKING = {"prompt": "Pick one", "completions": ["a", "b", "c", "d"], "ranking": [0, 1, 2, 3]}


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def load_second_line(tmp_path, bad, kind="preference", first=GOOD_RANKING, name="train.jsonl"):
    """Write a good first record and ``bad`` on line 2; return the error of loading it."""
    path = write_jsonl(tmp_path / name, [first, bad])
    with pytest.raises(DataFormatError) as info:
        load_examples(path, kind=kind)
    assert info.value.origin == f"{path}:2"
    return info.value, path


def ranking(**overrides):
    return {**GOOD_RANKING, **overrides}


@pytest.mark.parametrize(("bad", "field", "reason"), [
    (ranking(completions=["only"], ranking=[0]), "completions", "K=1 completions; a ranking needs 2 to 9"),
    (ranking(completions=[f"c{i}" for i in range(10)], ranking=list(range(10))), "completions",
     "K=10 completions; a ranking needs 2 to 9"),
    (ranking(ranking=[0, 0, 5, 1]), "ranking",
     "not a permutation of 0..3 nor a dense ranking with ties"),
    (ranking(ranking=[0, 2, 2, 3]), "ranking", "(got [0, 2, 2, 3])"),  # gap: rank 1 missing
    (ranking(ranking=[1, 1, 2, 3]), "ranking", "(got [1, 1, 2, 3])"),  # no rank 0
    (ranking(ranking=[-1, 0, 1, 2]), "ranking", "not a permutation of 0..3"),
    (ranking(ranking=[0, 1, 2]), "ranking", "has 3 ranks for K=4 completions (got [0, 1, 2])"),
    (ranking(ranking=[0, 1, 2, 3, 4]), "ranking", "has 5 ranks for K=4"),
    (ranking(ranking=["0", "1", "2", "3"]), "ranking", "expected a list of 4 ints, got ['0', '1', '2', '3']"),
    (ranking(ranking=[True, False, 2, 3]), "ranking", "expected a list of 4 ints"),
    (ranking(ranking="0123"), "ranking", "expected a list of 4 ints, got str"),
    (ranking(completions=["a", "   ", "c", "d"]), "completions[1]", "empty text"),
    (ranking(prompt="\n \t"), "prompt", "empty text"),
    ({k: v for k, v in GOOD_RANKING.items() if k != "ranking"}, "ranking", "missing field"),
    ({k: v for k, v in GOOD_RANKING.items() if k != "prompt"}, "prompt", "missing field"),
    (ranking(completions="abcd"), "completions", "expected a list of strings, got str"),
    (ranking(completions=["a", 2, "c", "d"]), "completions[1]", "expected a string, got int"),
    (ranking(prompt=None), "prompt", "expected a string, got null"),
    (ranking(labeler_id=["L1"]), "labeler_id", "expected a string or int id, got list"),
    (ranking(labeler="group A"), "labeler", "expected an object of labeler metadata, got str"),
])
def test_bad_ranking_records(tmp_path, bad, field, reason):
    err, path = load_second_line(tmp_path, bad)
    assert err.field == field
    assert reason in err.reason
    assert str(err).startswith(f"{path}:2: field '{field}': ")


def test_message_format_from_the_brief(tmp_path):
    err, path = load_second_line(tmp_path, ranking(ranking=[0, 0, 5, 1]))
    assert str(err) == (
        f"{path}:2: field 'ranking': not a permutation of 0..3 nor a dense ranking with ties "
        "(non-negative ranks whose distinct values are exactly 0..m, 0 = best) (got [0, 0, 5, 1])"
    )


def test_malformed_json_line(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [GOOD_RANKING, '{"prompt": "x", "completions": [', GOOD_RANKING])
    with pytest.raises(DataFormatError, match=r"train\.jsonl:2: invalid JSON at column \d+"):
        load_examples(path, kind="preference", on_error="skip")  # unreadable lines always raise


@pytest.mark.parametrize(("first", "bad", "field", "reason"), [
    ({"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": "a", "rejected": ""}, "rejected", "empty text"),
    ({"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": "a"}, "rejected", "missing field"),
    ({"chosen": "\n\nHuman: q\n\nAssistant: a", "rejected": "\n\nHuman: q\n\nAssistant: b"},
     {"chosen": "\n\nHuman: q\n\nAssistant: a", "rejected": "Human: q Assistant: b"}, "rejected", "no '\\n\\nAssistant:' marker"),
    ({"chosen": "\n\nHuman: q\n\nAssistant: a", "rejected": "\n\nHuman: q\n\nAssistant: b"},
     {"chosen": "\n\nHuman: q\n\nAssistant: ", "rejected": "\n\nHuman: q\n\nAssistant: b"}, "chosen", "empty text"),
    ({"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
      "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]},
     {"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
      "rejected": [{"role": "human", "content": "q"}, {"role": "assistant", "content": "b"}]},
     "rejected[0].role", "unknown role 'human'"),
    ({"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
      "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]},
     {"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
      "rejected": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "b"}]},
     "chosen", "share no leading messages ending with a user turn"),
    # TRL's implicit prompt (plain strings): the prompt is the common prefix, so there must be one
    ({"chosen": "The sky is blue.", "rejected": "The sky is green."}, {"chosen": "Yes.", "rejected": "No."},
     "chosen", "share no leading text"),
    ({"chosen": "The sky is blue.", "rejected": "The sky is green."}, {"chosen": "The sky.", "rejected": "The sky."},
     "chosen", "nothing is left of this response"),
    ({"chosen": "The sky is blue.", "rejected": "The sky is green."}, {"chosen": "The sky is blue.", "rejected": 3},
     "rejected", "expected a string, got int"),
])
def test_bad_pairwise_records(tmp_path, first, bad, field, reason):
    err, path = load_second_line(tmp_path, bad, first=first)
    assert err.field == field and reason in err.reason


@pytest.mark.parametrize(("bad", "field", "reason"), [
    ({"messages": [{"role": "user", "content": "hi"}]}, "messages[0].role", "the last message must be from the assistant, got 'user'"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]}, "messages[1].content", "empty text"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}]}, "messages[1].content", "missing field"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": 5}]}, "messages[1].content", "expected a string, got int"),
    ({"messages": "hi"}, "messages", "expected a list of messages, got str"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "image": "cat.png"}]},
                   {"role": "assistant", "content": "a cat"}]}, "messages[0].content[0].type",
     "content part of type 'image' is not supported"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "b"}]}, "messages[1].role",
     "unknown role 'robot'; expected one of ['system', 'user', 'assistant', 'tool']"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "s"},
                   {"role": "assistant", "content": "b"}]}, "messages[1].role", "a system message may only come first"),
])
def test_bad_sft_messages(tmp_path, bad, field, reason):
    first = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    err, _ = load_second_line(tmp_path, bad, kind="sft", first=first)
    assert err.field == field and reason in err.reason


def test_unrecognised_record_names_keys_and_known_formats(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(DataFormatError) as info:
        load_examples(path, kind="sft")
    msg = str(info.value)
    assert msg.startswith(f"{path}:1: unrecognised record format: keys ['answer', 'question']")
    for name in ("prompt_completion (sft)", "messages (sft)", "hh (preference)", "ranking (preference)", "text (text)"):
        assert name in msg


def test_unknown_format_name_and_kind():
    with pytest.raises(ValueError, match=r"unknown data format 'alpaca'; known formats: prompt_completion, messages"):
        load_examples("whatever.jsonl", "alpaca", kind="sft")
    with pytest.raises(ValueError, match="unknown kind 'rm'"):
        load_examples("whatever.jsonl", kind="rm")


def test_preference_data_given_as_sft(tmp_path):
    path = write_jsonl(tmp_path / "prefs.jsonl", [{"chosen": "\n\nHuman: q\n\nAssistant: a", "rejected": "\n\nHuman: q\n\nAssistant: b"}])
    with pytest.raises(DataFormatError) as info:
        load_examples(path, kind="sft", on_error="skip")  # a kind mismatch is never skipped
    assert str(info.value) == (
        f"{path}:1: format 'hh' (detected from the keys ['chosen', 'rejected'] of the first record) "
        "holds preference data, but kind='sft' was asked for; formats of kind 'sft': prompt_completion, messages"
    )
    with pytest.raises(DataFormatError, match="format 'ranking' \\(as configured\\) holds preference data, but kind='text'"):
        load_examples(path, "ranking", kind="text")


def test_kto_style_rows_are_not_silently_sft(tmp_path):
    path = write_jsonl(tmp_path / "kto.jsonl", [{"prompt": "p", "completion": "c", "label": False}])
    with pytest.raises(DataFormatError, match="unpaired \\(KTO-style\\) preference data"):
        load_examples(path, kind="sft")


def test_parquet_error_names_row_index(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rank.parquet"
    pq.write_table(pa.Table.from_pylist([GOOD_RANKING, ranking(ranking=[0, 1, 1, 3])]), path)
    with pytest.raises(DataFormatError, match=rf"^{re.escape(str(path))}#1: field 'ranking': not a permutation of 0\.\.3"):
        load_examples(str(path), kind="preference")


def test_empty_source(tmp_path):
    path = write_jsonl(tmp_path / "empty.jsonl", [])
    with pytest.raises(DataFormatError, match="no records"):
        load_examples(path, kind="text")


def test_skip_mode_reports_by_field(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [GOOD_RANKING, ranking(ranking=[0, 0, 5, 1]), ranking(prompt=""), GOOD_RANKING])
    examples, report = load_examples_with_report(path, kind="preference", on_error="skip")
    assert len(examples) == 2
    assert dict(report.skipped) == {"ranking": 1, "prompt": 1}
    assert report.as_dict()["data/skipped"] == 2


def test_error_pickles_and_is_a_value_error():
    err = DataFormatError("train.jsonl:17", "ranking", "not a permutation of 0..3 (got [0, 0, 5, 1])")
    assert isinstance(err, ValueError)
    assert str(err) == "train.jsonl:17: field 'ranking': not a permutation of 0..3 (got [0, 0, 5, 1])"
    again = pickle.loads(pickle.dumps(err))
    assert (again.origin, again.field, again.reason, str(again)) == (err.origin, err.field, err.reason, str(err))
    assert str(DataFormatError("x.jsonl:3", None, "invalid JSON")) == "x.jsonl:3: invalid JSON"
