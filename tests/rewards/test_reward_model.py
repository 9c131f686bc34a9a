"""`reward=reward_model` with a third party's HF sequence-classification RM (TRL / OpenRLHF style:
a plain ``AutoModelForSequenceClassification`` with num_labels=1 and its own tokenizer): scored as
HF's own forward scores it, its chat template used for conversational prompts, a PPO run against
it with the value model starting from the policy (items 24, 38)."""

from __future__ import annotations

import json
import logging
import random
import re
from pathlib import Path

import pytest
import torch
from _helpers import run_stage_in_process, write_jsonl
from _hf_models import ARCHITECTURES, bpe_tokenizer, save_tiny_hf
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from rlhfkit.errors import ConfigError
from rlhfkit.models import load_hf
from rlhfkit.rewards.reward_model import ConversationParser, RewardModelFn, hh_parser, template_parser
from rlhfkit.stages.ppo.builder import build_value_model, check_reward_tokenizers

WORDS = "please thanks hello world the a cat dog say tell me you".split()


def third_party_rm(path: Path, model_type: str = "llama", vocab_size: int = 200, pad_is_eos: bool = False,
                   seed: int = 3) -> Path:
    """What TRL's RewardTrainer saves: a seq-cls model (num_labels=1) and its own tokenizer."""
    tokenizer = bpe_tokenizer(vocab_size=vocab_size)  # a different vocabulary from the fixture's default
    if pad_is_eos:
        tokenizer.pad_token = tokenizer.eos_token
    config = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), num_labels=1,
                                  pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                                  eos_token_id=tokenizer.eos_token_id, **ARCHITECTURES[model_type])
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    with torch.no_grad():
        model.score.weight.normal_(std=1.0)  # scores that differ visibly between texts
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def hf_scores(path: Path, texts: list[list[int]]) -> torch.Tensor:
    """``model(**batch).logits[:, 0]`` on right-padded rows, as an HF user computes it."""
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    pad = model.config.pad_token_id
    width = max(len(t) for t in texts)
    ids = torch.tensor([t + [pad] * (width - len(t)) for t in texts])
    mask = torch.tensor([[1] * len(t) + [0] * (width - len(t)) for t in texts])
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits[:, 0]


def test_plain_text_prompts_score_as_hf_scores_them(tmp_path):
    rm = third_party_rm(tmp_path / "rm")
    tok = AutoTokenizer.from_pretrained(rm)
    prompts, completions = ["please say", "what is two plus two"], [" hello world", " four"]
    fn = RewardModelFn(str(rm), max_length=64)
    assert fn.third_party and fn.add_eos and float(fn.model.gain) == 1.0 and float(fn.model.offset) == 0.0
    scores = fn(prompts, completions)
    # BOS as its tokenizer puts it, then prompt, completion and EOS
    rows = [tok(p)["input_ids"] + tok(c, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            for p, c in zip(prompts, completions)]
    torch.testing.assert_close(scores, hf_scores(rm, rows), atol=1e-5, rtol=0)
    assert fn.rendered == {"chat_template": 0, "text": 2}
    assert scores[0] != scores[1]


def test_pad_equal_to_eos_reads_where_hf_reads(tmp_path):
    rm = third_party_rm(tmp_path / "rm", pad_is_eos=True)
    tok = AutoTokenizer.from_pretrained(rm)
    fn = RewardModelFn(str(rm), max_length=64)
    assert not fn.add_eos  # HF would read the token before a trailing EOS anyway
    prompts, completions = ["please say", "tell me"], [" hello world", " a story about the cat"]
    rows = [tok(p)["input_ids"] + tok(c, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            for p, c in zip(prompts, completions)]
    torch.testing.assert_close(fn(prompts, completions), hf_scores(rm, rows), atol=1e-5, rtol=0)


def test_conversational_prompts_get_the_rms_chat_template(tmp_path):
    rm = third_party_rm(tmp_path / "rm")
    tok = AutoTokenizer.from_pretrained(rm)
    fn = RewardModelFn(str(rm), max_length=96)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hello"}]
    head = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(messages + [{"role": "assistant", "content": "hello world"}], tokenize=False)
    assert full.startswith(head)
    # as encode_pairs builds it: the tokenizer's BOS, the templated prompt, the templated response, EOS
    expected = hf_scores(rm, [tok(head)["input_ids"] + tok(full[len(head):], add_special_tokens=False)["input_ids"]
                              + [tok.eos_token_id]])

    hh = "System: be brief\n\nHuman: say hello\n\nAssistant:"  # rlhfkit's rendering without a template
    torch.testing.assert_close(fn([hh], [" hello world"]), expected, atol=1e-5, rtol=0)
    assert fn.rendered["chat_template"] == 1

    # a policy with its own (here: a differently worded) template: its rendering is turned back too
    policy_tok = bpe_tokenizer()
    policy_tok.chat_template = ("{% for m in messages %}[{{ m['role'] }}]: {{ m['content'] }}\n{% endfor %}"
                                "{% if add_generation_prompt %}[assistant]: {% endif %}")
    fn.set_policy_tokenizer(policy_tok)
    rendered = policy_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    torch.testing.assert_close(fn([rendered], ["hello world"]), expected, atol=1e-5, rtol=0)
    assert fn.rendered["chat_template"] == 2
    fn(["please say"], [" hello"])  # plain text stays plain text
    assert fn.rendered["text"] == 1


def test_the_conversation_parser_inverts_a_rendering_or_declines():
    chatml = template_parser(bpe_tokenizer())
    hh = hh_parser()
    conversation = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"}, {"role": "user", "content": "say it again"}]
    for parser in (chatml, hh):
        assert isinstance(parser, ConversationParser)
        for messages in (conversation, conversation[1:], conversation[1:2]):
            assert parser(parser.render(messages, True)) == messages
        assert parser("please say hello") is None
    assert hh("\n\nHuman: hi\n\nAssistant: hello") is None  # no generation prompt: not a prompt
    plain = bpe_tokenizer()
    plain.chat_template = None
    assert template_parser(plain) is None


def test_value_init_follows_the_tokenizers(tmp_path, caplog):
    policy = load_hf(str(save_tiny_hf(tmp_path / "policy", "llama")))
    foreign = third_party_rm(tmp_path / "foreign")  # its own tokenizer
    shared = third_party_rm(tmp_path / "shared", vocab_size=300)  # the same BPE as the policy's
    assert AutoTokenizer.from_pretrained(shared).get_vocab() == policy.tokenizer.get_vocab()
    spec = lambda path: {"name": "reward_model", "path": str(path)}  # noqa: E731

    with caplog.at_level(logging.INFO, logger="rlhfkit"):
        critic = build_value_model("auto", False, policy, spec(foreign))
    assert torch.all(critic.head.weight == 0)  # a zero head on a copy of the policy's body
    assert "value model starts from the policy" in caplog.text and "different tokenizer" in caplog.text
    with pytest.raises(ConfigError, match="item 38"):
        build_value_model("reward", False, policy, spec(foreign))  # the critic reads the policy's ids

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rlhfkit"):
        critic = build_value_model("auto", False, policy, spec(shared))
    assert "value model starts from the reward model" in caplog.text
    rm = AutoModelForSequenceClassification.from_pretrained(shared)
    torch.testing.assert_close(critic.head.weight, rm.score.weight.float())  # item 24: the RM's score
    assert all(torch.equal(a, b) for a, b in zip(critic.backbone.parameters(), rm.base_model.parameters()))

    fn = RewardModelFn(str(foreign))
    assert check_reward_tokenizers(fn, policy.tokenizer) == {str(foreign): False}  # a reward may differ
    assert len(fn.parsers) == 2  # told the policy's tokenizer: its template's renderings are parsed too


def test_ppo_against_a_third_party_rm_with_another_tokenizer(tmp_path, caplog):
    policy = save_tiny_hf(tmp_path / "policy", "gpt2")
    rm = third_party_rm(tmp_path / "rm", model_type="llama")
    rng = random.Random(0)
    rows = [{"prompt": " ".join(rng.choice(WORDS) for _ in range(3))} for _ in range(16)]
    rows += [{"prompt": [{"role": "user", "content": " ".join(rng.choice(WORDS) for _ in range(3))}]}
             for _ in range(16)]  # conversational: rendered with the policy's template, re-rendered with the RM's
    prompts = write_jsonl(tmp_path / "prompts.jsonl", rows)
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="rlhfkit"):
        metrics = run_stage_in_process(run, "stage=ppo", "model=hf", f"model.path={policy}", "reward=reward_model",
                                       f"reward.path={rm}", f"data.prompts.train.path={prompts}", "debug=fast")
    assert metrics["ppo/iteration"] == 2
    assert "value model starts from the policy" in caplog.text and "has its own tokenizer" in caplog.text
    assert re.search(r"[1-9]\d* pair\(s\) rendered with its chat template, [1-9]\d* as prompt \+ response", caplog.text)
    history = [json.loads(line) for line in (run / "ppo_history.jsonl").read_text().splitlines()]
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(r["objective/score"])) for r in history)
    assert (run / "final" / "model.safetensors").exists() and (run / "final_value" / "scalar_head.safetensors").exists()


def test_device_auto_follows_the_policy_and_an_explicit_device_stays(tmp_path):
    """reward.device=auto: the RM starts on the CPU and `place` (PPO's on_fit_start, with the policy's
    device) moves it; a set device is left alone. The meta device stands in for a GPU here."""
    from rlhfkit.rewards.base import place_rewards

    rm = third_party_rm(tmp_path / "rm")
    follows = RewardModelFn(str(rm), max_length=64)
    assert follows.device == torch.device("cpu") and next(follows.model.parameters()).device.type == "cpu"
    assert not follows.place("cpu")  # already there
    assert place_rewards(follows, torch.device("meta")) == ["RewardModelFn"]
    assert follows.device.type == "meta" and {p.device.type for p in follows.model.parameters()} == {"meta"}

    pinned = RewardModelFn(str(rm), max_length=64, device="cpu")
    assert not pinned.place(torch.device("meta")) and next(pinned.model.parameters()).device.type == "cpu"


def test_place_reaches_every_part_of_a_weighted_sum():
    from rlhfkit.rewards.base import place_rewards

    class Part:
        def __init__(self):
            self.placed = []

        def place(self, device):
            self.placed.append(device)
            return True

    class Plain:  # a rule reward: no hook, nothing to move
        pass

    inner, outer = Part(), Part()
    nested = type("Sum", (), {"parts": [("inner", 1.0, inner), ("rule", 0.5, Plain())]})()
    top = type("Sum", (), {"parts": [("nested", 1.0, nested), ("outer", 1.0, outer)]})()
    assert place_rewards(top, torch.device("cpu")) == ["Part", "Part"]
    assert inner.placed == outer.placed == [torch.device("cpu")]
