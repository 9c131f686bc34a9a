"""Conversations (``[{"role": ..., "content": ...}, ...]``) rendered to plain text.

With a tokenizer that has a ``chat_template``, rendering is
``tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...)``. Such text
may already contain the template's BOS/EOS strings; stages should tokenize it with
``add_special_tokens=False``.

Without one (``tokenizer=None`` or no template) the fallback is the Anthropic HH style, so
conversational data and the HH dataset look alike::

    System: {system}                      (only if a system message comes first)
    \\n\\nHuman: {user}
    \\n\\nAssistant: {assistant}

i.e. ``"System: be brief\\n\\nHuman: hi\\n\\nAssistant: hello"``. With
``add_generation_prompt=True`` the text ends with ``"\\n\\nAssistant:"`` (no trailing space):
the space belongs to the completion, as in HH, so ``prompt + completion`` is the full text.
"""

from __future__ import annotations

from typing import Any

from rlhfkit.data.errors import DataFormatError

ROLES = ("system", "user", "assistant")
HUMAN = "\n\nHuman:"
ASSISTANT = "\n\nAssistant:"
_FALLBACK_PREFIX = {"user": HUMAN, "assistant": ASSISTANT}


def validate_messages(
    messages: Any, origin: str = "<messages>", field: str = "messages", *,
    require_last: str | None = None,
) -> list[dict[str, str]]:
    """Check a message list and return it as plain ``{"role", "content"}`` dicts.

    Rules: a non-empty list of dicts; ``role`` in system/user/assistant; ``content`` a string,
    non-empty after strip; ``system`` only as the first message; ``require_last`` (e.g.
    ``"assistant"`` for SFT) fixes the role of the last message. Extra keys are dropped.
    """
    if not isinstance(messages, list):
        raise DataFormatError(origin, field, f"expected a list of messages, got {_type(messages)}")
    if not messages:
        raise DataFormatError(origin, field, "empty list of messages")
    out = []
    for i, msg in enumerate(messages):
        where = f"{field}[{i}]"
        if not isinstance(msg, dict):
            raise DataFormatError(origin, where, f"expected a message object, got {_type(msg)}")
        if "role" not in msg:
            raise DataFormatError(origin, f"{where}.role", "missing field")
        if "content" not in msg:
            raise DataFormatError(origin, f"{where}.content", "missing field")
        role, content = msg["role"], msg["content"]
        if role not in ROLES:
            raise DataFormatError(origin, f"{where}.role", f"unknown role {role!r}; expected one of {list(ROLES)}")
        if not isinstance(content, str):
            raise DataFormatError(origin, f"{where}.content", f"expected a string, got {_type(content)}")
        if not content.strip():
            raise DataFormatError(origin, f"{where}.content", "empty text")
        if role == "system" and i != 0:
            raise DataFormatError(origin, f"{where}.role", "a system message may only come first")
        out.append({"role": role, "content": content})
    if require_last is not None and out[-1]["role"] != require_last:
        raise DataFormatError(
            origin, f"{field}[{len(out) - 1}].role",
            f"the last message must be from the {require_last}, got {out[-1]['role']!r}",
        )
    return out


def has_chat_template(tokenizer: Any) -> bool:
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))


def render_messages(messages: list[dict[str, str]], tokenizer: Any = None, *,
                    add_generation_prompt: bool = False) -> str:
    """Render ``messages`` with the tokenizer's chat template, or the HH fallback (module doc)."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    parts = []
    for msg in messages:
        if msg["role"] == "system":
            parts.append(f"System: {msg['content']}")
        else:
            parts.append(f"{_FALLBACK_PREFIX[msg['role']]} {msg['content']}")
    if add_generation_prompt:
        parts.append(ASSISTANT)
    return "".join(parts)


def render_prompt_completion(
    prompt_messages: list[dict[str, str]], completion_messages: list[dict[str, str]],
    tokenizer: Any = None, origin: str = "<messages>", field: str = "completion",
) -> tuple[str, str]:
    """Texts ``(prompt, completion)`` with ``prompt + completion == render(prompt + completion msgs)``.

    The prompt is rendered with the generation prompt (ends with ``"\\n\\nAssistant:"`` in the
    fallback). A chat template whose full rendering does not start with the rendered prompt
    (some templates rewrite earlier turns) cannot be split and raises :class:`DataFormatError`.
    """
    prompt = render_messages(prompt_messages, tokenizer, add_generation_prompt=True)
    full = render_messages(prompt_messages + completion_messages, tokenizer)
    if not full.startswith(prompt):
        raise DataFormatError(
            origin, field,
            "the chat template renders the conversation so that it does not start with the "
            "rendered prompt; cannot split prompt and completion",
        )
    return prompt, full[len(prompt):]


def split_prompt_completion(messages: list[dict[str, str]], origin: str = "<messages>",
                            field: str = "messages") -> tuple[list[dict[str, str]], str]:
    """``(prompt messages, final assistant content)``: the prompt is every message before the
    final assistant turn (so it ends with the last user turn); validates for SFT."""
    messages = validate_messages(messages, origin, field, require_last="assistant")
    prompt = messages[:-1]
    if not any(m["role"] == "user" for m in prompt):
        raise DataFormatError(origin, field, "no user message before the final assistant message")
    if prompt[-1]["role"] != "user":
        raise DataFormatError(
            origin, f"{field}[{len(messages) - 2}].role",
            f"the message before the final assistant turn must be from the user, got {prompt[-1]['role']!r}",
        )
    return prompt, messages[-1]["content"]


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


__all__ = [
    "ASSISTANT", "HUMAN", "ROLES", "has_chat_template", "render_messages",
    "render_prompt_completion", "split_prompt_completion", "validate_messages",
]
