"""Rendering conversations: the HH-style fallback and a tokenizer's chat template."""

from __future__ import annotations

import pytest

from rlhfkit.data import DataFormatError, render_messages, render_prompt_completion, split_prompt_completion

CONV = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "Bye"},
    {"role": "assistant", "content": "Goodbye"},
]


class FakeTemplateTokenizer:
    chat_template = "fake"

    def apply_chat_template(self, messages, tokenize=True, add_generation_prompt=False):
        assert tokenize is False
        text = "".join(f"[{m['role']}]{m['content']}[/]" for m in messages)
        return text + ("[assistant]" if add_generation_prompt else "")


def test_fallback_is_hh_style():
    assert render_messages(CONV) == "System: Be brief.\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Bye\n\nAssistant: Goodbye"
    assert render_messages(CONV[:2], add_generation_prompt=True) == "System: Be brief.\n\nHuman: Hi\n\nAssistant:"


def test_tokenizer_without_template_uses_fallback():
    class NoTemplate:
        chat_template = None

    assert render_messages(CONV[1:3], NoTemplate()) == "\n\nHuman: Hi\n\nAssistant: Hello"


def test_chat_template_is_used():
    tok = FakeTemplateTokenizer()
    assert render_messages(CONV[1:3], tok) == "[user]Hi[/][assistant]Hello[/]"
    assert render_prompt_completion(CONV[1:2], CONV[2:3], tok) == ("[user]Hi[/][assistant]", "Hello[/]")


def test_split_prompt_completion():
    prompt, completion = split_prompt_completion(CONV)
    assert prompt == CONV[:4] and completion == "Goodbye"
    p, c = render_prompt_completion(prompt, CONV[4:])
    assert p.endswith("\n\nHuman: Bye\n\nAssistant:") and c == " Goodbye"
    assert p + c == render_messages(CONV)


@pytest.mark.parametrize(("messages", "field", "reason"), [
    ([{"role": "user", "content": "a"}], "messages[0].role", "last message must be from the assistant"),
    ([{"role": "assistant", "content": "a"}], "messages", "no user message before"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "assistant", "content": "c"}],
     "messages[1].role", "must be from the user"),
    ([{"role": "bot", "content": "a"}], "messages[0].role", "unknown role 'bot'"),
    ([], "messages", "empty list of messages"),
])
def test_validation(messages, field, reason):
    with pytest.raises(DataFormatError) as info:
        split_prompt_completion(messages, origin="chat.jsonl:4")
    assert info.value.origin == "chat.jsonl:4" and info.value.field == field and reason in info.value.reason


# --------------------------------------------------------------------------- TRL message shapes


def test_typed_content_lists_are_joined_text():
    from rlhfkit.data import validate_messages

    msgs = validate_messages([
        {"role": "system", "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": "Hello", "extra": 1},
    ])
    assert msgs == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"}]


@pytest.mark.parametrize(("content", "field", "reason"), [
    ([{"type": "image", "url": "x.png"}], "messages[0].content[0].type", "content part of type 'image' is not supported"),
    ([{"type": "text", "text": "a"}, {"type": "image"}], "messages[0].content[1].type", "only 'text' parts"),
    (["plain"], "messages[0].content[0]", "expected a content part object"),
    ([{"text": "a"}], "messages[0].content[0].type", "missing field"),
    ([{"type": "text"}], "messages[0].content[0].text", "missing field"),
    ([{"type": "text", "text": 3}], "messages[0].content[0].text", "expected a string, got int"),
    ([{"type": "text", "text": "  "}], "messages[0].content", "empty text"),
    ({"type": "text", "text": "a"}, "messages[0].content", "expected a string, got dict"),
])
def test_bad_content_parts_name_the_part(content, field, reason):
    from rlhfkit.data import validate_messages

    with pytest.raises(DataFormatError) as info:
        validate_messages([{"role": "user", "content": content}], "chat.jsonl:3")
    assert str(info.value).startswith(f"chat.jsonl:3: field '{field}': ")
    assert reason in info.value.reason


TOOL_CONV = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "name": "weather", "content": "22°C, sunny"},
    {"role": "assistant", "content": "It is 22°C and sunny."},
]


def test_tool_turns_are_context_and_render_in_the_fallback():
    prompt, completion = split_prompt_completion(TOOL_CONV)
    assert completion == "It is 22°C and sunny." and [m["role"] for m in prompt] == ["user", "assistant", "tool"]
    assert prompt[1]["tool_calls"][0]["function"]["name"] == "weather" and prompt[2]["name"] == "weather"
    p, c = render_prompt_completion(prompt, TOOL_CONV[3:])
    assert p == ('\n\nHuman: Weather in Paris?\n\nAssistant: <tool_call>{"type": "function", "function": '
                 '{"name": "weather", "arguments": {"city": "Paris"}}}</tool_call>\n\nTool: 22°C, sunny\n\nAssistant:')
    assert c == " It is 22°C and sunny."
    # a tool result right after the user turn (no recorded call) is context too
    prompt, _ = split_prompt_completion([TOOL_CONV[0], TOOL_CONV[2], TOOL_CONV[3]])
    assert [m["role"] for m in prompt] == ["user", "tool"]


@pytest.mark.parametrize(("messages", "field", "reason"), [
    ([{"role": "tool", "content": "r"}, {"role": "assistant", "content": "a"}], "messages", "no user message before"),
    ([{"role": "user", "content": "q", "tool_calls": []}, {"role": "assistant", "content": "a"}],
     "messages[0].tool_calls", "only an assistant message may call tools"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": "x"}], "messages[1].tool_calls",
     "expected a list of tool calls"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}], "messages[1].content", "empty text"),
    ([{"role": "user", "content": "q"}, {"role": "tool", "content": "r", "name": 5}, {"role": "assistant", "content": "a"}],
     "messages[1].name", "expected a string, got int"),
])
def test_tool_validation(messages, field, reason):
    with pytest.raises(DataFormatError) as info:
        split_prompt_completion(messages, origin="chat.jsonl:9")
    assert info.value.field == field and reason in info.value.reason


def test_hh_chat_template_renders_exactly_the_fallback():
    """HH_CHAT_TEMPLATE is what a stage exports after training on the fallback: the exported
    tokenizer's apply_chat_template must give the same text, and rlhfkit renders it as the fallback."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from rlhfkit.data.chat import HH_CHAT_TEMPLATE, has_chat_template, validate_messages

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    tok.chat_template = HH_CHAT_TEMPLATE
    assert not has_chat_template(tok)  # the fallback in template form
    for conv in (CONV, CONV[1:3], validate_messages(TOOL_CONV)):
        for gen in (False, True):
            msgs = conv[:-1] if gen else conv
            expected = render_messages(msgs, add_generation_prompt=gen)
            assert tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen) == expected
            assert render_messages(msgs, tok, add_generation_prompt=gen) == expected


def test_a_template_that_refuses_a_conversation_names_the_record(tmp_path):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from rlhfkit.data import load_examples

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    tok.chat_template = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system "
                         "messages') }}{% endif %}{{ m['content'] }}{% endfor %}")
    path = tmp_path / "sft.jsonl"
    path.write_text('{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}, '
                    '{"role": "assistant", "content": "a"}]}\n')
    with pytest.raises(DataFormatError) as info:
        load_examples(str(path), kind="sft", tokenizer=tok)
    assert str(info.value).startswith(f"{path}:1: field 'messages': the tokenizer's chat template refused")
    assert "no system messages" in str(info.value)
