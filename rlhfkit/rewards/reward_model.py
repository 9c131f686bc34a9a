"""A reward model as a reward function: rlhfkit's own (from the RM stage, its normalisation applied)
or any Hugging Face sequence-classification checkpoint with ``num_labels=1`` (TRL's RewardTrainer,
OpenRLHF, ...).

Tokenizers. Reward functions get text (PPO decodes its responses, special tokens skipped), so the
RM needs no tokenizer in common with the policy: every pair is re-encoded with the RM's own
tokenizer (:func:`rlhfkit.models.encoding.encode_pairs`: its BOS where it puts one, an EOS after the
completion) and the score is read at the last real token (item 8), where HF's own forward reads it.

Chat templates. A prompt reaches a reward function only as text: a conversational prompt has
already been rendered for the policy, with the policy's chat template or, without one, in rlhfkit's
HH style (``"\\n\\nHuman: ...\\n\\nAssistant:"``, :mod:`rlhfkit.data.chat`). A third party's RM that
has a chat template (``chat_template: auto``) gets such a prompt turned back into its messages
(:class:`ConversationParser`: system/user/assistant turns, accepted only when rendering the
messages again gives back exactly the prompt's text) and, with the response as the assistant turn,
rendered with the RM's own template, as it was trained. A prompt that cannot be turned back (plain
text, a tool turn, a template the parser cannot invert) is scored as ``prompt + response`` text, as
the policy saw it. rlhfkit's own RMs are scored on the text they were trained on, ``prompt +
response`` (``chat_template: true`` re-renders for them too; ``false`` never re-renders).

EOS. rlhfkit's RMs read at the EOS rlhfkit appends. A third party's RM gets its tokenizer's EOS
appended only when its pad token differs from EOS; where they are the same, HF's forward reads the
token before a trailing EOS, so none is added and the score is read at the response's last token,
exactly as ``model(**batch).logits`` would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rlhfkit.data.chat import render_messages
from rlhfkit.models.encoding import encode_pairs
from rlhfkit.models.scalar_head import load_scalar_bundle

log = logging.getLogger(__name__)

CHAT_TEMPLATE_MODES = ("auto", "true", "false")
MAX_USER_TURNS = 8  # conversations with more user turns than this are scored as plain text
_CACHE_SIZE = 65536  # prompts whose parse is remembered (PPO scores the same prompts again and again)

Render = Callable[[list[dict[str, str]], bool], str]  # (messages, add_generation_prompt) -> text


def _sentinel(i: int) -> str:
    return f"\ue000{i}\ue001"  # private-use characters: no template or tokenizer rewrites them


class ConversationParser:
    """Text rendered by ``render`` (with the generation prompt) -> its messages, or None.

    Every role pattern ``[system?] user (assistant user)*`` up to :data:`MAX_USER_TURNS` is rendered
    once with placeholder contents, which gives the template's fixed text between the turns. A
    prompt is cut at those pieces (no content may contain one), and the result is accepted only if
    rendering it again reproduces the prompt exactly.
    """

    def __init__(self, render: Render, name: str) -> None:
        self.render, self.name = render, name
        self.patterns: list[tuple[list[str], list[str]]] = []  # (roles, fixed pieces around the contents)
        for system in (False, True):
            for n_user in range(1, MAX_USER_TURNS + 1):
                roles = (["system"] if system else []) + ["user", "assistant"] * (n_user - 1) + ["user"]
                pieces = self._pieces(roles)
                if pieces is not None:
                    self.patterns.append((roles, pieces))
        self._cache: dict[str, list[dict[str, str]] | None] = {}

    def _pieces(self, roles: list[str]) -> list[str] | None:
        try:
            text = self.render([{"role": r, "content": _sentinel(i)} for i, r in enumerate(roles)], True)
        except Exception:  # e.g. a template that refuses a system message
            return None
        if not isinstance(text, str):
            return None
        pieces = []
        for i in range(len(roles)):
            before, found, text = text.partition(_sentinel(i))
            if not found:
                return None  # the template drops or reorders a content
            pieces.append(before)
        pieces.append(text)
        if any(not p for p in pieces[1:-1]):
            return None  # two contents with nothing between them cannot be told apart
        return pieces

    def __call__(self, text: str) -> list[dict[str, str]] | None:
        if text in self._cache:
            return self._cache[text]
        found = None
        for roles, pieces in self.patterns:
            found = self._match(text, roles, pieces)
            if found is not None:
                break
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[text] = found
        return found

    def _match(self, text: str, roles: list[str], pieces: list[str]) -> list[dict[str, str]] | None:
        first, last = pieces[0], pieces[-1]
        if not text.startswith(first) or not text.endswith(last) or len(text) < len(first) + len(last):
            return None
        end, pos, contents = len(text) - len(last), len(first), []
        for piece in pieces[1:-1]:
            cut = text.find(piece, pos, end)
            if cut < 0:
                return None
            contents.append(text[pos:cut])
            pos = cut + len(piece)
        contents.append(text[pos:end])
        markers = [p for p in pieces if p.strip()]
        if any(not c.strip() or any(m in c for m in markers) for c in contents):
            return None
        messages = [{"role": r, "content": c} for r, c in zip(roles, contents)]
        try:
            again = self.render(messages, True)
        except Exception:
            return None
        return messages if again == text else None


def hh_parser() -> ConversationParser:
    """rlhfkit's HH-style rendering (no chat template), inverted."""
    return ConversationParser(lambda m, gen: render_messages(m, None, add_generation_prompt=gen), "HH style")


def template_parser(tokenizer: Any) -> ConversationParser | None:
    """``tokenizer``'s chat template, inverted; None without one."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    return ConversationParser(
        lambda m, gen: tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=gen),
        "the policy's chat template")


class RewardModelFn:
    """Scores text with a saved reward model.

    Args:
        path: a directory with a reward model: rlhfkit's RM stage ``final/``, rlhfkit's older own
            format, or any HF ``AutoModelForSequenceClassification`` checkpoint with ``num_labels=1``.
        max_length: tokens per (prompt, completion); longer pairs lose the start of the prompt.
        batch_size: pairs per forward pass.
        normalise: apply the saved gain/offset (item 9); off gives the raw head output (a third
            party's model has none: the same either way).
        device: where the RM runs: "auto" = on the CPU until :meth:`place` moves it to the policy's
            device (PPO does, once the strategy has placed the policy), or a torch device ("cuda:1").
        chat_template: "auto", "true" or "false": when conversational prompts are rendered with the
            RM's own chat template (module doc).
    """

    def __init__(self, path: str, max_length: int = 256, batch_size: int = 64, normalise: bool = True,
                 device: str = "auto", chat_template: str | bool = "auto") -> None:
        if not Path(path).exists():
            raise FileNotFoundError(f"reward.path: no reward model at '{path}'")
        mode = str(chat_template).lower()
        if mode not in CHAT_TEMPLATE_MODES:
            from rlhfkit.errors import ConfigError

            raise ConfigError(f"reward.chat_template: '{chat_template}' is not one of {', '.join(CHAT_TEMPLATE_MODES)}")
        self.path = str(path)
        self.model, self.tokenizer = load_scalar_bundle(path, role="reward")
        self.follows_policy = str(device) == "auto"
        device = torch.device("cpu") if self.follows_policy else torch.device(device)
        self.model.eval().to(device)  # item 23: dropout off while it judges
        self.max_length, self.batch_size, self.normalise, self.device = max_length, batch_size, normalise, device
        self.third_party = self.model.source == "hf"
        tok = self.tokenizer
        if tok.pad_token_id is None:  # only a third party's tokenizer lacks one; padding is masked anyway
            if tok.eos_token is None:
                raise ValueError(f"reward.path: the tokenizer of '{path}' has neither a pad nor an EOS token")
            tok.pad_token = tok.eos_token
        if self.third_party:
            config_pad = getattr(self.model.backbone.config, "pad_token_id", None)
            pad = tok.pad_token_id if config_pad is None else config_pad
            self.add_eos = tok.eos_token_id is not None and tok.eos_token_id != pad
        else:
            self.add_eos = True  # as the RM stage trained it
        has_template = bool(getattr(tok, "chat_template", None))
        self.use_chat_template = has_template and (mode == "true" or (mode == "auto" and self.third_party))
        self.parsers: list[ConversationParser] = [hh_parser()] if self.use_chat_template else []
        self.rendered = {"chat_template": 0, "text": 0}  # pairs encoded each way (logged once)
        self._logged = self._template_failed = False

    def place(self, device: torch.device | str) -> bool:
        """With ``device: auto``, move the RM to ``device`` (the policy's) and say so; an explicit device stays."""
        device = torch.device(device)
        if not self.follows_policy or device == self.device:
            return False
        self.model.to(device)
        self.device = device
        log.info("reward model %s: on %s, the policy's device (reward.device=auto)", self.path, device)
        return True

    def set_policy_tokenizer(self, tokenizer: Any) -> None:
        """The tokenizer whose chat template rendered the prompts (PPO's policy): its renderings
        can then be turned back into messages too."""
        parser = template_parser(tokenizer) if self.use_chat_template else None
        if parser is not None:
            self.parsers = [parser, hh_parser()]

    def _render(self, prompt: str, completion: str) -> tuple[str, str]:
        """(prompt, completion) text for the RM's tokenizer: its chat template where it applies."""
        for parser in self.parsers:
            messages = parser(prompt)
            if messages is None:
                continue
            content = completion[1:] if parser.name == "HH style" and completion.startswith(" ") else completion
            try:
                head = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                full = self.tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": content}],
                                                          tokenize=False)
            except Exception as err:  # a template that refuses these roles: plain text, said once
                if not self._template_failed:
                    self._template_failed = True
                    log.warning("reward model %s: its chat template failed (%s); scoring plain text", self.path, err)
                break
            if isinstance(head, str) and isinstance(full, str) and full.startswith(head):
                self.rendered["chat_template"] += 1
                return head, full[len(head):]
            break
        self.rendered["text"] += 1
        return prompt, completion

    @torch.no_grad()
    def __call__(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        scores = []
        for start in range(0, len(prompts), self.batch_size):
            pairs = [self._render(p, c) for p, c in zip(prompts[start:start + self.batch_size],
                                                        completions[start:start + self.batch_size])]
            enc = encode_pairs(self.tokenizer, [p for p, _ in pairs], [c for _, c in pairs], self.max_length,
                               add_eos=self.add_eos)
            ids, mask = enc.input_ids.to(self.device), enc.attention_mask.to(self.device)
            score = self.model.score(ids, mask) if self.normalise else self.model.raw_score(ids, mask)
            scores.append(score.float().cpu())
        if not self._logged and prompts:
            self._logged = True
            log.info("reward model %s (%s): %d pair(s) rendered with its chat template, %d as prompt + response "
                     "text; EOS %s", self.path, "third party" if self.third_party else "rlhfkit",
                     self.rendered["chat_template"], self.rendered["text"],
                     "appended" if self.add_eos else "not appended (its pad token is its EOS)")
        return torch.cat(scores) if scores else torch.zeros(0)
