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
