"""Conversations (``[{"role": ..., "content": ...}, ...]``) rendered to plain text.

Messages (TRL's conversational format): ``role`` is ``system`` (first message only), ``user``,
``assistant`` or ``tool``; ``content`` is a string or a list of typed parts
(``[{"type": "text", "text": "..."}, ...]``), whose text parts are concatenated in order with
nothing in between (what text-only chat templates do when they loop over parts). A non-text
part (an image, audio ...) is refused with the ``file:line`` and field of that part. An
assistant message may carry ``tool_calls`` (a list, handed to the template as given) and then
may have empty content; ``name`` and ``tool_call_id`` are kept for the template too. Other keys
are dropped. Tool turns are context: a tool message may sit anywhere after the first turn,
e.g. between a user turn and the assistant turn that answers it, and is never part of a
trained completion (:func:`split_prompt_completion`).

With a tokenizer that has a ``chat_template``, rendering is
``tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...)``. Such text
may already contain the template's BOS/EOS strings; :mod:`rlhfkit.models.encoding` adds no second
BOS to text that starts with one.

Without one (``tokenizer=None``, no template, or the template is :data:`HH_CHAT_TEMPLATE`) the
fallback is the Anthropic HH style, so conversational data and the HH dataset look alike::

    System: {system}                      (only if a system message comes first)
    \\n\\nHuman: {user}
    \\n\\nAssistant: {assistant}<tool_call>{json of each tool call}</tool_call>
    \\n\\nTool: {tool}

i.e. ``"System: be brief\\n\\nHuman: hi\\n\\nAssistant: hello"``. With
``add_generation_prompt=True`` the text ends with ``"\\n\\nAssistant:"`` (no trailing space):
the space belongs to the completion, as in HH, so ``prompt + completion`` is the full text.
:data:`HH_CHAT_TEMPLATE` is that fallback as a Jinja chat template: a stage that rendered its
data with the fallback sets it on the tokenizer it exports, so ``final/`` carries the format the
model was trained in (``apply_chat_template`` then renders exactly the fallback's text).
"""

from __future__ import annotations

import json
from typing import Any

from rlhfkit.data.errors import DataFormatError

ROLES = ("system", "user", "assistant", "tool")
HUMAN = "\n\nHuman:"
ASSISTANT = "\n\nAssistant:"
TOOL = "\n\nTool:"
SYSTEM = "System:"
_FALLBACK_PREFIX = {"system": SYSTEM, "user": HUMAN, "assistant": ASSISTANT, "tool": TOOL}
_KEPT_KEYS = ("name", "tool_call_id")  # optional string keys handed to the template

# The HH fallback of :func:`render_messages` as a Jinja chat template (``tojson`` is json.dumps
# with ensure_ascii=False in transformers, as :func:`_tool_calls_text` uses).
HH_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ 'System: ' + message['content'] }}"
    "{%- elif message['role'] == 'user' -%}{{ '\\n\\nHuman: ' + message['content'] }}"
    "{%- elif message['role'] == 'tool' -%}{{ '\\n\\nTool: ' + message['content'] }}"
    "{%- else -%}{{ '\\n\\nAssistant: ' + (message['content'] or '') }}"
    "{%- if message['tool_calls'] is defined and message['tool_calls'] -%}"
    "{%- for call in message['tool_calls'] -%}{{ '<tool_call>' + (call | tojson) + '</tool_call>' }}{%- endfor -%}"
    "{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '\\n\\nAssistant:' }}{%- endif -%}"
)


def content_text(content: Any, origin: str, field: str) -> str:
    """A message's ``content`` as one string: a string as is, a list of typed parts joined.

    Parts: ``{"type": "text", "text": str}`` (concatenated in order, no separator); any other
    ``type`` raises :class:`DataFormatError` naming ``<field>[j].type``.
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise DataFormatError(origin, field, f"expected a string, got {_type(content)} (or a list of typed "
                                            "content parts: [{\"type\": \"text\", \"text\": ...}])")
    texts = []
    for j, part in enumerate(content):
        where = f"{field}[{j}]"
        if not isinstance(part, dict):
            raise DataFormatError(origin, where, f"expected a content part object like {{\"type\": \"text\", "
                                                 f"\"text\": ...}}, got {_type(part)}")
        if "type" not in part:
            raise DataFormatError(origin, f"{where}.type", "missing field")
        if part["type"] != "text":
            raise DataFormatError(origin, f"{where}.type",
                                  f"content part of type {part['type']!r} is not supported: only 'text' "
                                  "parts can be rendered for a text-only causal LM")
        if "text" not in part:
            raise DataFormatError(origin, f"{where}.text", "missing field")
        if not isinstance(part["text"], str):
            raise DataFormatError(origin, f"{where}.text", f"expected a string, got {_type(part['text'])}")
        texts.append(part["text"])
    return "".join(texts)


def validate_messages(
    messages: Any, origin: str = "<messages>", field: str = "messages", *,
    require_last: str | tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """Check a message list and return it as plain ``{"role", "content"}`` dicts.

    Rules: a non-empty list of dicts; ``role`` in system/user/assistant/tool; ``content`` a string
    or a list of text parts (:func:`content_text`), non-empty after strip (an assistant message
    with ``tool_calls`` may have empty or null content); ``system`` only as the first message;
    ``tool_calls`` (a list) only on assistant messages; ``require_last`` (a role or a tuple of
    roles, e.g. ``"assistant"`` for SFT) fixes the role of the last message. ``tool_calls``,
    ``name`` and ``tool_call_id`` are kept; other keys are dropped.
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
        role = msg["role"]
        if role not in ROLES:
            raise DataFormatError(origin, f"{where}.role", f"unknown role {role!r}; expected one of {list(ROLES)}")
        calls = msg.get("tool_calls")
        if calls is not None:
            if role != "assistant":
                raise DataFormatError(origin, f"{where}.tool_calls", f"only an assistant message may call tools, not a {role!r} one")
            if not isinstance(calls, list):
                raise DataFormatError(origin, f"{where}.tool_calls", f"expected a list of tool calls, got {_type(calls)}")
            if not calls:
                calls = None
        if "content" not in msg and calls is None:
            raise DataFormatError(origin, f"{where}.content", "missing field")
        content = msg.get("content")
        content = "" if content is None and calls is not None else content_text(content, origin, f"{where}.content")
        if not content.strip() and calls is None:
            raise DataFormatError(origin, f"{where}.content", "empty text")
        if role == "system" and i != 0:
            raise DataFormatError(origin, f"{where}.role", "a system message may only come first")
        clean: dict[str, Any] = {"role": role, "content": content}
        for key in _KEPT_KEYS:
            if msg.get(key) is not None:
                if not isinstance(msg[key], str):
                    raise DataFormatError(origin, f"{where}.{key}", f"expected a string, got {_type(msg[key])}")
                clean[key] = msg[key]
        if calls is not None:
            clean["tool_calls"] = calls
        out.append(clean)
    if require_last is not None:
        wanted = (require_last,) if isinstance(require_last, str) else tuple(require_last)
        if out[-1]["role"] not in wanted:
            raise DataFormatError(
                origin, f"{field}[{len(out) - 1}].role",
                f"the last message must be from the {_roles(wanted)}, got {out[-1]['role']!r}",
            )
    return out


def has_chat_template(tokenizer: Any) -> bool:
    """True when ``tokenizer`` has a chat template of its own (not :data:`HH_CHAT_TEMPLATE`,
    which is the fallback and is rendered as such)."""
    if tokenizer is None:
        return False
    template = getattr(tokenizer, "chat_template", None)
    return bool(template) and template != HH_CHAT_TEMPLATE


def _tool_calls_text(msg: dict[str, Any]) -> str:
    return "".join(f"<tool_call>{json.dumps(call, ensure_ascii=False)}</tool_call>" for call in msg.get("tool_calls") or [])


def render_messages(messages: list[dict[str, Any]], tokenizer: Any = None, *,
                    add_generation_prompt: bool = False, origin: str = "<messages>", field: str = "messages") -> str:
    """Render ``messages`` with the tokenizer's chat template, or the HH fallback (module doc).

    A template that refuses the conversation (e.g. ``raise_exception('roles must alternate')``)
    raises :class:`DataFormatError` at ``origin`` / ``field`` with the template's message.
    """
    if has_chat_template(tokenizer):
        try:
            return tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        except DataFormatError:
            raise
        except Exception as err:  # jinja2.TemplateError, or a template reading a key the message lacks
            raise DataFormatError(origin, field, f"the tokenizer's chat template refused this conversation: "
                                                 f"{type(err).__name__}: {err}") from err
    parts = []
    for msg in messages:
        role = msg["role"]
        if role == "system":
            parts.append(f"{SYSTEM} {msg['content']}")
        elif role == "assistant":
            parts.append(f"{ASSISTANT} {msg['content'] or ''}{_tool_calls_text(msg)}")
        else:
            parts.append(f"{_FALLBACK_PREFIX[role]} {msg['content']}")
    if add_generation_prompt:
        parts.append(ASSISTANT)
    return "".join(parts)


def render_prompt_completion(
    prompt_messages: list[dict[str, Any]], completion_messages: list[dict[str, Any]],
    tokenizer: Any = None, origin: str = "<messages>", field: str = "completion",
) -> tuple[str, str]:
    """Texts ``(prompt, completion)`` with ``prompt + completion == render(prompt + completion msgs)``.

    The prompt is rendered with the generation prompt (ends with ``"\\n\\nAssistant:"`` in the
    fallback). A chat template whose full rendering does not start with the rendered prompt
    (some templates rewrite earlier turns) cannot be split and raises :class:`DataFormatError`.
    """
    prompt = render_messages(prompt_messages, tokenizer, add_generation_prompt=True, origin=origin, field=field)
    full = render_messages(prompt_messages + completion_messages, tokenizer, origin=origin, field=field)
    if not full.startswith(prompt):
        raise DataFormatError(
            origin, field,
            "the chat template renders the conversation so that it does not start with the "
            "rendered prompt; cannot split prompt and completion",
        )
    return prompt, full[len(prompt):]


PROMPT_END_ROLES = ("user", "tool")  # the turn a prompt may end with (the assistant answers next)


def split_prompt_completion(messages: list[dict[str, Any]], origin: str = "<messages>",
                            field: str = "messages") -> tuple[list[dict[str, Any]], str]:
    """``(prompt messages, final assistant content)``: the prompt is every message before the
    final assistant turn (so it ends with the last user or tool turn); validates for SFT.

    Only the final assistant turn is trained on: system, user, tool and earlier assistant turns
    are context. The content returned is the final message's text; :func:`split_final_assistant`
    returns the whole message (with its tool calls).
    """
    prompt, final = split_final_assistant(messages, origin, field)
    return prompt, final["content"]


def split_final_assistant(messages: Any, origin: str = "<messages>",
                          field: str = "messages") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Like :func:`split_prompt_completion`, with the final assistant message as a whole."""
    messages = validate_messages(messages, origin, field, require_last="assistant")
    prompt = messages[:-1]
    if not any(m["role"] == "user" for m in prompt):
        raise DataFormatError(origin, field, "no user message before the final assistant message")
    if prompt[-1]["role"] not in PROMPT_END_ROLES:
        raise DataFormatError(
            origin, f"{field}[{len(messages) - 2}].role",
            f"the message before the final assistant turn must be from the user or a tool, got {prompt[-1]['role']!r}",
        )
    return prompt, messages[-1]


def _roles(roles: tuple[str, ...]) -> str:
    return " or ".join(roles)


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


__all__ = [
    "ASSISTANT", "HH_CHAT_TEMPLATE", "HUMAN", "PROMPT_END_ROLES", "ROLES", "TOOL", "content_text",
    "has_chat_template", "render_messages", "render_prompt_completion", "split_final_assistant",
    "split_prompt_completion", "validate_messages",
]
