"""Each format parsed from files written here (JSONL, JSONL.gz, Parquet, a saved dataset)."""

from __future__ import annotations

import gzip
import json
import logging

import pytest

from rlhfkit.data import (
    FORMATS,
    PromptExample,
    RankingExample,
    SFTExample,
    TextExample,
    detect_format,
    load_examples,
    load_examples_with_report,
    render_messages,
    split_hh,
)


def write_jsonl(path, rows, opener=open):
    with opener(path, "wt", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return str(path)


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def tiny_chat_tokenizer():
    """A real transformers tokenizer with a chat template, built locally."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    tok.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    return tok


# --------------------------------------------------------------------------- SFT


def test_prompt_completion_strings_jsonl_gz(tmp_path):
    rows = [{"prompt": "Say hi.", "completion": " Hi!", "user_id": 7, "extra": "ignored"}]
    path = write_jsonl(tmp_path / "sft.jsonl.gz", rows, opener=gzip.open)
    assert load_examples(path, kind="sft") == [SFTExample("Say hi.", " Hi!", f"{path}:1", user_id="7")]


def test_prompt_completion_conversational_fallback_and_template(tmp_path):
    rows = [{"prompt": [{"role": "system", "content": "Be brief."}, user("Hi?")], "completion": [assistant("Hello.")]}]
    path = write_jsonl(tmp_path / "sft.jsonl", rows)
    (ex,) = load_examples(path, kind="sft")
    assert ex.prompt == "System: Be brief.\n\nHuman: Hi?\n\nAssistant:"
    assert ex.completion == " Hello."

    (ex,) = load_examples(path, kind="sft", tokenizer=tiny_chat_tokenizer())
    assert ex.prompt == "<|system|>Be brief.<|end|><|user|>Hi?<|end|><|assistant|>"
    assert ex.completion == "Hello.<|end|>"


def test_messages_format_last_assistant_turn_is_the_completion(tmp_path):
    rows = [{"messages": [user("2+2?"), assistant("4"), user("and 3+3?"), assistant("6")]}]
    path = write_jsonl(tmp_path / "sft.jsonl", rows)
    (ex,) = load_examples(path, kind="sft")
    assert ex.prompt == "\n\nHuman: 2+2?\n\nAssistant: 4\n\nHuman: and 3+3?\n\nAssistant:"
    assert ex.completion == " 6"
    assert ex.prompt + ex.completion == render_messages(rows[0]["messages"])
    assert detect_format(rows[0]) == "messages"


def test_text_format_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "pretrain.parquet"
    pq.write_table(pa.Table.from_pylist([{"text": "Once upon a time."}, {"text": "The end."}]), path)
    examples = load_examples(str(path), kind="text")
    assert examples == [TextExample("Once upon a time.", f"{path}#0"), TextExample("The end.", f"{path}#1")]


def test_prompt_kind_from_prompt_only_and_from_preference_data(tmp_path):
    path = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "Write a haiku."}, {"prompt": [user("Hi")]}])
    assert load_examples(path, kind="prompt") == [
        PromptExample("Write a haiku.", f"{path}:1"), PromptExample("\n\nHuman: Hi\n\nAssistant:", f"{path}:2"),
    ]
    hh = write_jsonl(tmp_path / "hh.jsonl", [{"chosen": "\n\nHuman: Q\n\nAssistant: A", "rejected": "\n\nHuman: Q\n\nAssistant: B"}])
    assert load_examples(hh, kind="prompt") == [PromptExample("\n\nHuman: Q\n\nAssistant:", f"{hh}:1")]


# --------------------------------------------------------------------------- preferences


def test_pairwise_strings_with_labeler_metadata(tmp_path):
    rows = [
        {"prompt": "Q?", "chosen": " good", "rejected": " bad", "labeler_id": "L1", "user_id": "u1",
         "labeler_meta": {"group": "held-out", "region": "EU"}},
        {"prompt": "Q2?", "chosen": " good", "rejected": " bad", "labeler": {"id": "L2", "group": "train"}},
    ]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    a, b = load_examples(path, kind="preference")
    assert a == RankingExample("Q?", [" good", " bad"], [0, 1], f"{path}:1", "L1", {"group": "held-out", "region": "EU"}, "u1")
    assert a.is_pairwise and a.pairs() == [(0, 1)]
    assert (b.labeler_id, b.labeler_meta, b.user_id) == ("L2", {"group": "train"}, None)


def test_pairwise_conversational_explicit_and_implicit_prompt(tmp_path):
    explicit = {"prompt": [user("Capital of France?")], "chosen": [assistant("Paris.")], "rejected": [assistant("Rome.")]}
    implicit = {"chosen": [user("Capital of France?"), assistant("Paris.")],
                "rejected": [user("Capital of France?"), assistant("Rome.")]}
    assert detect_format(explicit) == detect_format(implicit) == "pairwise_conversational"
    for i, row in enumerate([explicit, implicit]):
        path = write_jsonl(tmp_path / f"conv{i}.jsonl", [row])
        (ex,) = load_examples(path, kind="preference")
        assert ex.prompt == "\n\nHuman: Capital of France?\n\nAssistant:"
        assert ex.completions == [" Paris.", " Rome."] and ex.ranks == [0, 1]
        assert ex.labeler_id is None and ex.labeler_meta == {}


def test_pairwise_conversational_implicit_multi_turn_and_template(tmp_path):
    shared = [user("a"), assistant("b"), user("c")]
    row = {"chosen": shared + [assistant("yes")], "rejected": shared + [assistant("no")]}
    path = write_jsonl(tmp_path / "conv.jsonl", [row])
    (ex,) = load_examples(path, kind="preference", tokenizer=tiny_chat_tokenizer())
    assert ex.prompt == "<|user|>a<|end|><|assistant|>b<|end|><|user|>c<|end|><|assistant|>"
    assert ex.completions == ["yes<|end|>", "no<|end|>"]


def test_hh_split_and_common_prefix_fallback(tmp_path):
    rows = [
        {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Joke?\n\nAssistant: Knock knock.",
         "rejected": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Joke?\n\nAssistant: No."},
        # A response that itself contains a marker: the last-marker prompts differ, so the
        # prompt is the common prefix cut after its last marker (as in hh-rlhf).
        {"chosen": "\n\nHuman: Q\n\nAssistant: A1\n\nAssistant: A2",
         "rejected": "\n\nHuman: Q\n\nAssistant: B"},
    ]
    path = write_jsonl(tmp_path / "hh.jsonl", rows)
    (a, b), report = load_examples_with_report(path, kind="preference")
    assert report.format == "hh"
    assert a.prompt == "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Joke?\n\nAssistant:"
    assert a.completions == [" Knock knock.", " No."]
    assert b.prompt == "\n\nHuman: Q\n\nAssistant:"
    assert b.completions == [" A1\n\nAssistant: A2", " B"]
    assert report.notes["hh_prompt_from_common_prefix"] == 1
    assert report.as_dict()["data/notes/hh_prompt_from_common_prefix"] == 1
    for ex, row in zip((a, b), rows):
        assert ex.prompt + ex.completions[0] == row["chosen"]
        assert ex.prompt + ex.completions[1] == row["rejected"]


def test_split_hh_without_shared_prompt_fails():
    from rlhfkit.data import DataFormatError

    with pytest.raises(DataFormatError, match="do not share a prompt"):
        split_hh("\n\nHuman: A\n\nAssistant: x", "\n\nHuman: B\n\nAssistant: y", "hh.jsonl:3")


def test_ranking_keeps_ties_and_absent_metadata(tmp_path):
    rows = [{"prompt": "Pick", "completions": ["a", "b", "c", "d"], "ranking": [1, 0, 1, 2]}]
    path = write_jsonl(tmp_path / "rank.jsonl", rows)
    (ex,) = load_examples(path, kind="preference")
    assert ex.ranks == [1, 0, 1, 2] and ex.k == 4
    assert ex.labeler_id is None and ex.labeler_meta == {} and ex.user_id is None
    # (winner, loser) over all pairs; the tie between completions 0 and 2 gives no pair
    assert sorted(ex.pairs()) == sorted([(1, 0), (0, 3), (1, 2), (1, 3), (2, 3)])


def test_ranking_from_parquet_and_saved_dataset(tmp_path):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"prompt": "P", "completions": ["x", "y", "z"], "ranking": [2, 0, 1], "labeler_id": "L9"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "rank.parquet")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "rank_ds"))
    for source in (tmp_path / "rank.parquet", tmp_path / "rank_ds"):
        (ex,) = load_examples(str(source), kind="preference")
        assert (ex.completions, ex.ranks, ex.labeler_id, ex.origin) == (["x", "y", "z"], [2, 0, 1], "L9", f"{source}#0")


def test_hub_style_load_dataset_json(tmp_path):
    rows = [{"prompt": "Q", "chosen": "a", "rejected": "b"}] * 3
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    examples = load_examples("json", kind="preference", data_files=path, cache_dir=str(tmp_path / "c"), limit=2)
    assert [e.origin for e in examples] == ["json[train]#0", "json[train]#1"]


def test_forced_format_and_limit(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"prompt": "p", "completion": "c", "label": True}] * 5)
    examples, report = load_examples_with_report(path, "prompt_completion", kind="sft", limit=3)
    assert len(examples) == 3 and report.n_records == 3 and report.format == "prompt_completion"


@pytest.mark.parametrize(("row", "name"), [
    ({"prompt": "p", "completion": "c"}, "prompt_completion"),
    ({"messages": []}, "messages"),
    ({"text": "t"}, "text"),
    ({"prompt": "p"}, "prompt"),
    ({"prompt": "p", "chosen": "a", "rejected": "b"}, "pairwise"),
    ({"chosen": [], "rejected": []}, "pairwise_conversational"),
    ({"chosen": "a", "rejected": "b"}, "pairwise_implicit"),  # TRL's implicit prompt (no HH markers)
    ({"chosen": "\n\nHuman: q\n\nAssistant: a", "rejected": "\n\nHuman: q\n\nAssistant: b"}, "hh"),
    ({"chosen": "\n\nHuman: q\n\nAssistant: a", "rejected": "b"}, "hh"),  # a marker in either: HH (and its error)
    ({"prompt": "p", "completions": [], "ranking": []}, "ranking"),
])
def test_detect_format(row, name):
    assert detect_format(row) == name
    assert name in FORMATS


def test_skip_mode_counts_and_logs_every_skipped_record(tmp_path, caplog):
    rows = [{"text": "ok"}, {"text": "  "}, {"text": 3}, {"text": "fine"}]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    with caplog.at_level(logging.WARNING, logger="rlhfkit.data.formats"):
        examples, report = load_examples_with_report(path, kind="text", on_error="skip")
    assert [e.text for e in examples] == ["ok", "fine"]
    assert (report.n_records, report.n_examples, report.n_skipped, dict(report.skipped)) == (4, 2, 2, {"text": 2})
    assert [e.origin for e in report.errors] == [f"{path}:2", f"{path}:3"]
    assert "skipped 2 of 4 records" in caplog.text


# --------------------------------------------------------------------------- TRL formats in full


@pytest.mark.parametrize(("chosen", "rejected", "expected"), [
    # TRL's own example: the space before the first difference goes to the completions
    ("The sky is blue.", "The sky is green.", ("The sky is", " blue.", " green.")),
    # a common prefix that stops inside a word is cut back to the word boundary
    ("The cat sat.", "The car sat.", ("The", " cat sat.", " car sat.")),
    ("Q: 2+2?\nA: 4", "Q: 2+2?\nA: 5", ("Q: 2+2?\nA:", " 4", " 5")),
    # a newline boundary stays with the prompt (as TRL does: only a space moves)
    ("Answer:\nyes", "Answer:\nno", ("Answer:\n", "yes", "no")),
    # the common prefix ends right before whitespace in both: already a boundary
    ("I agree fully.", "I agree\nnot.", ("I agree", " fully.", "\nnot.")),
])
def test_split_common_prefix(chosen, rejected, expected):
    from rlhfkit.data.formats import split_common_prefix

    prompt, c, r = split_common_prefix(chosen, rejected)
    assert (prompt, c, r) == expected
    assert prompt + c == chosen and prompt + r == rejected


@pytest.mark.parametrize(("chosen", "rejected", "field", "reason"), [
    ("Yes.", "No.", "chosen", "share no leading text"),
    ("abc", "abd", "chosen", "share no leading text"),  # no word boundary in the common prefix
    ("Same answer.", "Same answer.", "chosen", "nothing is left of this response"),
    ("Hi there.", "Hi there. More", "chosen", "nothing is left of this response"),
])
def test_split_common_prefix_refusals(chosen, rejected, field, reason):
    from rlhfkit.data import DataFormatError
    from rlhfkit.data.formats import split_common_prefix

    with pytest.raises(DataFormatError) as info:
        split_common_prefix(chosen, rejected, "pairs.jsonl:4")
    assert str(info.value).startswith(f"pairs.jsonl:4: field '{field}': ") and reason in info.value.reason


def test_implicit_prompt_strings_load_as_pairs(tmp_path):
    rows = [{"chosen": "The sky is blue.", "rejected": "The sky is green.", "labeler_id": "L1"}]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    (ex,), report = load_examples_with_report(path, kind="preference")
    assert report.format == "pairwise_implicit"
    assert ex == RankingExample("The sky is", [" blue.", " green."], [0, 1], f"{path}:1", "L1", {}, None)
    assert load_examples(path, kind="prompt") == [PromptExample("The sky is", f"{path}:1")]


def test_content_lists_system_and_tool_turns_through_the_loader(tmp_path):
    text = lambda t: [{"type": "text", "text": t}]  # noqa: E731
    rows = [{"messages": [
        {"role": "system", "content": text("Use tools.")},
        {"role": "user", "content": text("Weather?")},
        {"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": {"name": "w", "arguments": {}}}]},
        {"role": "tool", "content": text("sunny")},
        {"role": "assistant", "content": text("It is sunny.")},
    ]}]
    path = write_jsonl(tmp_path / "sft.jsonl", rows)
    (ex,), report = load_examples_with_report(path, kind="sft")
    assert ex.prompt == ('System: Use tools.\n\nHuman: Weather?\n\nAssistant: <tool_call>{"type": "function", '
                         '"function": {"name": "w", "arguments": {}}}</tool_call>\n\nTool: sunny\n\nAssistant:')
    assert ex.completion == " It is sunny."  # only the final assistant turn is trained on
    assert report.notes == {"rendered_hh_fallback": 1}

    (ex,), report = load_examples_with_report(path, kind="sft", tokenizer=tiny_chat_tokenizer())
    assert ex.prompt == ("<|system|>Use tools.<|end|><|user|>Weather?<|end|><|assistant|><|end|><|tool|>sunny<|end|>"
                         "<|assistant|>")
    assert ex.completion == "It is sunny.<|end|>"
    assert report.notes == {"rendered_chat_template": 1}


def test_conversational_prompt_completion_and_prompts_may_end_with_a_tool_turn(tmp_path):
    prompt = [user("Look it up."), {"role": "tool", "content": "found: 42"}]
    path = write_jsonl(tmp_path / "pc.jsonl", [{"prompt": prompt, "completion": [assistant("42.")]}])
    (ex,) = load_examples(path, kind="sft")
    assert ex.prompt == "\n\nHuman: Look it up.\n\nTool: found: 42\n\nAssistant:" and ex.completion == " 42."
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": prompt}])
    assert load_examples(prompts, kind="prompt")[0].prompt == ex.prompt


def test_pairwise_conversational_implicit_prompt_keeps_shared_tool_turns(tmp_path):
    shared = [user("Weather?"), {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "w"}}]},
              {"role": "tool", "content": "rain"}]
    row = {"chosen": shared + [assistant("Take an umbrella.")], "rejected": shared + [assistant("It is sunny.")]}
    path = write_jsonl(tmp_path / "conv.jsonl", [row])
    (ex,) = load_examples(path, kind="preference", tokenizer=tiny_chat_tokenizer())
    assert ex.prompt.endswith("<|tool|>rain<|end|><|assistant|>")
    assert ex.completions == ["Take an umbrella.<|end|>", "It is sunny.<|end|>"]


def test_a_tool_turn_in_a_completion_is_refused(tmp_path):
    from rlhfkit.data import DataFormatError

    row = {"prompt": [user("q")], "chosen": [assistant("a"), {"role": "tool", "content": "r"}], "rejected": [assistant("b")]}
    path = write_jsonl(tmp_path / "conv.jsonl", [row])
    with pytest.raises(DataFormatError) as info:
        load_examples(path, kind="preference")
    assert str(info.value).startswith(f"{path}:1: field 'chosen[1].role': a completion may only hold assistant messages")
    assert "put them in the prompt" in info.value.reason


def test_messages_rendered_with_a_bos_template_and_the_fixture_tokenizer(tmp_path):
    from _hf_models import bpe_tokenizer

    tok = bpe_tokenizer()
    path = write_jsonl(tmp_path / "sft.jsonl", [{"messages": [user("hi"), assistant("hello")]}])
    (ex,) = load_examples(path, kind="sft", tokenizer=tok)
    assert ex.prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert ex.completion == "hello<|im_end|>\n"
