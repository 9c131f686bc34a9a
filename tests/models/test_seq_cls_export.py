"""The reward model's export: a standard HF ``AutoModelForSequenceClassification`` checkpoint whose
logits are rlhfkit's normalised reward (items 8, 9), the normalisation folded into the weights
where the architecture allows it (rlhfkit/models/seq_cls.py); and the loading of that export, of
rlhfkit's older own format and of a third party's seq-cls checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _hf_models import CHATML, save_tiny_hf
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from rlhfkit.models import ScalarHeadModel
from rlhfkit.models.encoding import encode_pairs
from rlhfkit.rewards.reward_model import RewardModelFn

PROMPTS = ["please say", "what is two plus two", "tell me"]
COMPLETIONS = [" hello to the world", " four", " a story about the cat and the dog"]
GAIN, OFFSET, HEAD_BIAS = 1.7, -0.6, 0.25
# architectures whose final norm has a bias (LayerNorm) fold the whole normalisation exactly;
# RMSNorm ones cannot take the constant (module doc of rlhfkit.models.seq_cls)
FOLDS = {"gpt2": "transformer.ln_f.bias", "opt": "model.decoder.final_layer_norm.bias", "llama": None, "qwen2": None}


def trained_like_rm(tmp_path: Path, model_type: str) -> tuple[ScalarHeadModel, object]:
    """An RM built as the RM stage builds it (no training), with a nontrivial head bias and normalisation."""
    lm_dir = save_tiny_hf(tmp_path / model_type, model_type)
    lm, tokenizer = AutoModelForCausalLM.from_pretrained(lm_dir), AutoTokenizer.from_pretrained(lm_dir)
    torch.manual_seed(1)
    rm = ScalarHeadModel.from_causal_lm(lm, role="reward").eval()
    with torch.no_grad():
        rm.head.bias.fill_(HEAD_BIAS)
    rm.set_normalisation(GAIN, OFFSET)
    return rm, tokenizer


def batch(tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    enc = encode_pairs(tokenizer, PROMPTS, COMPLETIONS, 64)  # right-padded, EOS after each completion
    assert enc.attention_mask.sum(-1).unique().numel() == len(PROMPTS)  # rows of different lengths: padding
    return enc.input_ids, enc.attention_mask


@pytest.mark.parametrize("model_type", list(FOLDS))
def test_export_loads_as_hf_seq_cls_and_its_logits_are_the_normalised_reward(tmp_path, model_type):
    rm, tokenizer = trained_like_rm(tmp_path, model_type)
    ids, mask = batch(tokenizer)
    with torch.no_grad():
        expected = rm.score(ids, mask)  # gain * raw + offset at the last real token (the EOS)
        raw = rm.raw_score(ids, mask)
    out = rm.save_pretrained(tmp_path / "rm", tokenizer)

    model, info = AutoModelForSequenceClassification.from_pretrained(out, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched keys
    assert model.config.num_labels == 1 and model.config.pad_token_id == tokenizer.pad_token_id
    assert model.config.architectures[0].endswith("ForSequenceClassification")
    meta = model.config.rlhfkit
    assert meta["role"] == "reward" and meta["gain"] == pytest.approx(GAIN) and meta["offset"] == pytest.approx(OFFSET)
    assert meta["folded_into"] == FOLDS[model_type]
    with torch.no_grad():
        logits = model.eval()(input_ids=ids, attention_mask=mask).logits[:, 0]
    if FOLDS[model_type]:  # the constant sits in the final norm's bias: the logits ARE the reward
        assert meta["add_to_logits"] == 0.0
        torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)
    else:  # RMSNorm: the logits miss exactly the documented constant
        assert meta["add_to_logits"] == pytest.approx(GAIN * HEAD_BIAS + OFFSET)
        torch.testing.assert_close(logits + meta["add_to_logits"], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(logits[1:] - logits[:-1], expected[1:] - expected[:-1], atol=1e-5, rtol=0)

    saved_tokenizer = AutoTokenizer.from_pretrained(out)
    assert saved_tokenizer.get_vocab() == tokenizer.get_vocab() and saved_tokenizer.chat_template == CHATML

    back = ScalarHeadModel.from_pretrained(out)  # rlhfkit reads its export back exactly
    assert back.source == "rlhfkit" and float(back.gain) == pytest.approx(GAIN)
    with torch.no_grad():
        torch.testing.assert_close(back.score(ids, mask), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(back.raw_score(ids, mask), raw, atol=1e-5, rtol=0)
    scores = RewardModelFn(str(out), max_length=64)(PROMPTS, COMPLETIONS)
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=0)

    critic = ScalarHeadModel.from_pretrained(out, role="value")  # item 24: the RM's score at every token
    assert critic.role == "value" and float(critic.gain) == 1.0 and float(critic.offset) == 0.0
    with torch.no_grad():
        values = critic(ids, mask)  # (B, T)
    last = mask.sum(-1) - 1
    torch.testing.assert_close(values[torch.arange(len(ids)), last], expected, atol=1e-5, rtol=0)


def test_the_offset_alone_folds_where_the_head_has_no_gain(tmp_path):
    rm, tokenizer = trained_like_rm(tmp_path, "gpt2")
    rm.set_normalisation(1.0, -3.0)  # IG/N+'s demonstrations mode: gain 1
    ids, mask = batch(tokenizer)
    with torch.no_grad():
        expected = rm.score(ids, mask)
    model = AutoModelForSequenceClassification.from_pretrained(rm.save_pretrained(tmp_path / "rm", tokenizer))
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits[:, 0], expected, atol=1e-5, rtol=0)


def test_the_older_own_format_still_loads_as_reward_and_value_model(tmp_path):
    rm, tokenizer = trained_like_rm(tmp_path, "gpt2")
    ids, mask = batch(tokenizer)
    with torch.no_grad():
        expected, raw = rm.score(ids, mask), rm.raw_score(ids, mask)
    old = rm._save_own_format(tmp_path / "old", tokenizer)  # what earlier versions wrote
    assert (old / "scalar_head.safetensors").exists()
    assert json.loads((old / "scalar_head.json").read_text())["role"] == "reward"
    back = ScalarHeadModel.from_pretrained(old)
    assert back.source == "rlhfkit-own-format"
    with torch.no_grad():
        torch.testing.assert_close(back.score(ids, mask), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(back.raw_score(ids, mask), raw, atol=1e-5, rtol=0)
    scores = RewardModelFn(str(old), max_length=64)(PROMPTS, COMPLETIONS)
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=0)
    critic = ScalarHeadModel.from_pretrained(old, role="value")
    with torch.no_grad():
        values = critic(ids, mask)
    torch.testing.assert_close(values[torch.arange(len(ids)), mask.sum(-1) - 1], expected, atol=1e-5, rtol=0)


def test_a_value_model_keeps_the_own_format(tmp_path):
    rm, tokenizer = trained_like_rm(tmp_path, "llama")
    value = ScalarHeadModel(rm.backbone, role="value", head_init_std=0.1)
    out = value.save_pretrained(tmp_path / "value", tokenizer)
    assert (out / "scalar_head.safetensors").exists()
    ids, mask = batch(tokenizer)
    with torch.no_grad():
        torch.testing.assert_close(ScalarHeadModel.from_pretrained(out)(ids, mask), value(ids, mask))


def test_directories_that_are_not_reward_models_are_refused(tmp_path):
    lm_dir = save_tiny_hf(tmp_path / "lm", "gpt2")
    with pytest.raises(FileNotFoundError, match="ForSequenceClassification"):
        ScalarHeadModel.from_pretrained(lm_dir)  # a causal LM
    config = AutoConfig.from_pretrained(lm_dir)
    config.num_labels = 2
    two = AutoModelForSequenceClassification.from_config(config)
    two.save_pretrained(tmp_path / "two")
    with pytest.raises(ValueError, match="num_labels=2"):
        ScalarHeadModel.from_pretrained(tmp_path / "two")
